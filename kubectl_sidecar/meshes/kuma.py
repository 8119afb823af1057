"""Kuma: the kuma-sidecar proxy, and its control plane's KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS
(kuma-cp's experimental.sidecarContainers), which a switch sets in the kuma-control-plane
Deployment's env.

What each release does, read in kumahq/kuma at its tags:
- before 2.7: no native mode; the setting doesn't exist (pkg/config/app/kuma-cp/config.go at
  2.6.0 has no SidecarContainers).
- 2.7 to 2.13: `SidecarContainers bool envconfig:"KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS"`,
  default false (config.go, kuma-cp.defaults.yaml at 2.7.0 ... v2.13.0); the Helm chart renders
  the env only when experimental.sidecarContainers is true (templates/_helpers.tpl
  `{{- if .Values.experimental.sidecarContainers }}`).
- 2.14: default true (config.go `SidecarContainers: true`, values.yaml `sidecarContainers: true`
  at v2.14.0, commit 2f9d353dd6 "enable sidecar containers by default"); the chart always renders
  the env with the value (`value: {{ .Values.experimental.sidecarContainers | quote }}`), and
  false still opts out (v2.14.3).
- after 2.14: removed (commit d18df677b7 "drop sidecarContainers opt-out", on master after
  v2.14.0, in no tag yet; UPGRADE.md heads the next release "3.0.0"): native always, the env does
  nothing.
In every release the injector is native only on an API server of 1.29 or later
(pkg/plugins/runtime/k8s/plugin.go `sidecarContainerVersion` 1.29.0, ANDed with the setting up
to v2.14.3; alone after d18df677b7). kuma-cp reads the setting at start (plugin.go addMutators
builds the injector once): the control plane must roll out before it injects the new mode.

Kuma has no per-pod annotation choosing the mode (pkg/plugins/runtime/k8s/metadata/annotations.go
at v2.13.0: only the control plane's setting, injector.go `i.sidecarContainersEnabled`): a
per-workload switch lists its workloads as manual.

Implements base.ProxyFamily and base.ControlPlane.
"""

from typing import NamedTuple

from kubectl_sidecar import owners, patches
from kubectl_sidecar.meshes import base, reading
from kubectl_sidecar.meshes.base import (
    Check,
    ConfigChange,
    MeshConfig,
    Setting,
    mode_value,
    parse_bool,
)

NAME = FAMILY = "kuma"
TITLE = "Kuma"

# --- its pods ------------------------------------------------------------------------------

PROXIES: dict[str, Check | None] = {"kuma-sidecar": None}
PROXY_PREFIXES: dict[str, Check] = {}
OVERRIDE_ANNOTATIONS: tuple[
    str, ...
] = ()  # none known: a per-workload switch lists its workloads as manual
COPIES_NAMESPACE_MODE = False
INJECTOR_WEBHOOKS: tuple[str, ...] = ("kuma-admission-mutating",)

is_gateway = base.not_a_gateway
revision = base.no_revision
lifecycle_settings = base.no_lifecycle_settings


def injector_hook(container, hook, command):
    # pkg/plugins/runtime/k8s: `kuma-dp wait` after start (waitForDataplaneReady), and in
    # native mode the injector's own preStop.
    if hook == "postStart":
        return command[:2] == ["kuma-dp", "wait"]
    return hook == "preStop" and command == ["killall", "-USR2", "kuma-dp"]


# Which pods Kuma's injector gives a proxy once its webhook calls it, read in kumahq/kuma
# pkg/plugins/runtime/k8s/webhooks/injector/precheck.go needToInject (the same from 2.0.0
# through v2.14.3 and master): not a pod with one of the exception labels (kuma-cp's
# runtime.kubernetes.injector.exceptions.labels, pkg/config/plugins/runtime/k8s/config.go;
# "*" matches any value); the pod's own kuma.io/sidecar-injection label, else its namespace's;
# neither: no proxy. Values are read by metadata/annotations.go GetEnabled: enabled, true, yes
# or disabled, false, no; any other fails the admission request (the pod isn't created while
# the injector is up): uncertain. Its own namespace, kube-system and the namespaces outside a
# namespaceAllowList are left out by the chart's webhook selectors
# (deployments/charts/kuma/templates/cp-webhooks-and-secrets.yaml), which injection.py reads
# from the cluster; builtin gateway pods carry the label disabled
# (controllers/gateway_instance_controller.go); hostNetwork is no exception. Not seen from here:
# exception labels set in kuma-cp's own config (the defaults below are taken), and a pod naming
# a Mesh that doesn't exist (the injector refuses it).
INJECTION_LABEL = "kuma.io/sidecar-injection"
_ENABLED = ("enabled", "true", "yes")
_DISABLED = ("disabled", "false", "no")
INJECTION_EXCEPTIONS = {"openshift.io/build.name": "*", "openshift.io/deployer-pod-for.name": "*"}


def injects(labels, annotations, host_network, namespace_name, namespace):
    """Whether Kuma's injector, once called, gives this pod a proxy (None: can't tell)."""
    for key, value in INJECTION_EXCEPTIONS.items():
        if key in labels and value in ("*", labels[key]):
            return False
    for found in (labels, namespace.labels):
        if INJECTION_LABEL in found:
            value = found[INJECTION_LABEL]
            if value in _ENABLED:
                return True
            if value in _DISABLED:
                return False
            return None
    return False


# --- its config: kuma-cp's env ---------------------------------------------------------------

KUMA_ENV = "KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS"
HELM_VALUE: str | None = "experimental.sidecarContainers"
# The chart (templates/cp-deployment.yaml, _helpers.tpl "kuma.cpLabels" at v2.13.0) names the
# Deployment `<name>-control-plane` (kuma-control-plane), labels it app=kuma-control-plane, runs
# kuma-cp in container `control-plane` from image kuma-cp:<appVersion>, and Helm adds
# app.kubernetes.io/version and helm.sh/chart kuma-<version> (kumactl install leaves those out).
KUMA_SELECTOR = "app=kuma-control-plane"
KUMA_NAMESPACES = ("kuma-system",)
KUMA_CONTAINER = "control-plane"
CONFIG_OBJECTS = f"Kuma's control plane {KUMA_SELECTOR}"
CONFIG_ON_MESH_INSTANCE = False

NATIVE_SINCE = (2, 7)
DEFAULT_NATIVE_SINCE = (2, 14)
LAST_WITH_SETTING = (2, 14)
NATIVE_API_SERVER = (1, 29)


def release_text(version):
    return f"{version[0]}.{version[1]}"


def kuma_version(deployment):
    """Kuma (major, minor) of the control plane Deployment, from Helm's labels or kuma-cp's
    image tag; None when neither says."""
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    for key in ("app.kubernetes.io/version", "helm.sh/chart"):
        found = base.version_tuple(labels.get(key))
        if found:
            return found
    container = kuma_cp_container(deployment) or {}
    image = (container.get("image") or "").split("@", 1)[0]
    tail = image.rsplit("/", 1)[-1]
    if ":" in tail:
        return base.version_tuple(tail.rsplit(":", 1)[-1])
    return None


def kuma_cp_container(deployment):
    """The container running kuma-cp: `control-plane`, else the first."""
    containers = list(reading.containers(deployment))
    named = [c for c in containers if c.get("name") == KUMA_CONTAINER]
    return (named or containers or [None])[0]


def kuma_env(deployment):
    """(present, value) of KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS on kuma-cp's container; value
    None when it comes from a reference (valueFrom). The last entry wins, as in a Pod."""
    found = (False, None)
    for env in (kuma_cp_container(deployment) or {}).get("env") or ():
        if env.get("name") == KUMA_ENV:
            found = (
                (True, None)
                if "value" not in env and "valueFrom" in env
                else (True, env.get("value", ""))
            )
    return found


def configured_setting(deployment):
    """What kuma-cp's setting makes it inject on an API server new enough for native (the
    setting alone, whatever the API server)."""
    where = reading.deployment_name(deployment)
    version = kuma_version(deployment)
    present, value = kuma_env(deployment)
    if version is None:
        return Setting(
            None, f"{where}: its Kuma version is unknown (no version label or image tag)"
        )
    release = release_text(version)
    if version < NATIVE_SINCE:
        return Setting(False, f"{where} runs Kuma {release}, which injects traditional only")
    if version > LAST_WITH_SETTING:
        return Setting(True, f"{where} runs Kuma {release}, which always injects native")
    if present and value is None:
        return Setting(None, f"{where} sets {KUMA_ENV} from a reference we don't resolve")
    if present:
        native = parse_bool(value)
        if native is None:
            # envconfig parses it with strconv.ParseBool: kuma-cp won't start.
            return Setting(None, f"{where} has {KUMA_ENV}={value!r}, not a Go bool")
        return Setting(native, f"{where} {KUMA_ENV}={value}")
    default = version >= DEFAULT_NATIVE_SINCE
    return Setting(
        default, f"{where} {KUMA_ENV} unset, Kuma {release} default {str(default).lower()}"
    )


def kuma_setting(deployment, server_version):
    """What the control plane injects: its setting, traditional below an API server 1.29."""
    setting = configured_setting(deployment)
    server = base.version_tuple(server_version)
    if setting.native and server is not None and server < NATIVE_API_SERVER:
        return Setting(False, f"{setting.source}, but the API server is {server_version} (< 1.29)")
    return setting


class ControlPlaneDeployment(NamedTuple):
    """MeshConfig.payload of Kuma: the kuma-control-plane Deployment as read."""

    namespace: str | None
    name: str | None
    container: str | None
    version: tuple[int, int] | None
    env_present: bool
    env_value: str | None  # None when absent or from a reference
    resource_version: str | None
    configured: Setting  # the setting alone, whatever the API server
    metadata: dict | None = None  # the Deployment's: who owns it


def kuma_config(deployment, server_version=None, context=None):
    """MeshConfig from the kuma-control-plane Deployment (None if there is none)."""
    if deployment is None:
        return MeshConfig(
            name=NAME,
            family=FAMILY,
            context=context,
            mesh_wide=Setting(None, f"no Kuma control plane Deployment ({KUMA_SELECTOR}) found"),
        )
    metadata = deployment.get("metadata") or {}
    version = kuma_version(deployment)
    present, value = kuma_env(deployment)
    container = kuma_cp_container(deployment) or {}
    config = MeshConfig(
        name=NAME,
        family=FAMILY,
        context=context,
        mesh_wide=kuma_setting(deployment, server_version),
        payload=ControlPlaneDeployment(
            metadata.get("namespace"),
            metadata.get("name"),
            container.get("name"),
            version,
            present,
            value,
            metadata.get("resourceVersion"),
            configured_setting(deployment),
            metadata,
        ),
        native_supported=None if version is None else version >= NATIVE_SINCE,
    )
    config.owned[base.MESH_WIDE] = metadata
    owner = owners.detect(metadata)
    if owner is not None:
        config.owners[base.MESH_WIDE] = owner
    if version is not None and NATIVE_SINCE <= version <= LAST_WITH_SETTING:
        config.warnings.append(
            f"kuma-cp's env is rendered by its Helm chart ({HELM_VALUE}); a hand edit can be "
            "reverted, and a kuma-cp config file may set it where the env doesn't"
        )
    return config


def lease_namespace(config):
    """The control plane's namespace (the chart's usual one when there is none)."""
    return config.payload.namespace if config.payload else KUMA_NAMESPACES[0]


def read(cluster, mesh_cluster, quiet=False):
    deployments = reading.labelled_deployments(cluster, KUMA_SELECTOR, KUMA_NAMESPACES)
    if not deployments and quiet:
        return None
    chosen = deployments[0] if deployments else None
    # Only a native setting depends on the API server's version: one request, then.
    server_version = None
    if chosen is not None and configured_setting(chosen).native:
        server_version = cluster.server_version()
    config = kuma_config(chosen, server_version, cluster.context)
    if len(deployments) > 1:
        names = ", ".join(reading.deployment_name(d) for d in deployments)
        config.warnings.append(
            f"more than one Kuma control plane ({names}); {reading.deployment_name(chosen)} decides"
        )
    return config


def setting_for(row, config):
    return config.mesh_wide  # no per-pod override: the control plane alone decides


# --- switching it --------------------------------------------------------------------------


class ControlPlaneChange(ConfigChange):
    """kuma-cp's KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS. kuma-cp reads it at start: it rolls out
    first."""

    rolls_out = True
    field_name = "env " + KUMA_ENV
    done_name = KUMA_ENV
    helm_value = HELM_VALUE

    def patch(self):
        return kuma_env_patch(
            self.namespace, self.name, self.container, self.new, self.resource_version
        )

    def undo(self, current):
        return kuma_env_patch(
            self.namespace, self.name, self.container, self.previous, base.version_of(current)
        )

    def caveat(self):
        return super().caveat() or (
            f"set {HELM_VALUE}={self.new} in the Helm release's values too, or the next "
            "`helm upgrade` reverts this"
        )


def kuma_env_patch(namespace, name, container, value, resource_version=None):
    """kuma-cp's KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS, its other env entries kept (merged by
    name), held to the resourceVersion it was read at: a Deployment changed since (a helm
    upgrade) answers 409 Conflict instead of taking a decision made on what it was."""
    return patches.deployment_env(namespace, name, container, KUMA_ENV, value, resource_version)


def config_changes(config, target, rows):
    """The env on a control plane whose setting decides (2.7 to 2.14) and says otherwise; none
    where nothing is to change or nothing would (control_plane_problems says which)."""
    plane = config.payload
    if plane is None or plane.version is None or control_plane_problems(config, target):
        return []
    if not NATIVE_SINCE <= plane.version <= LAST_WITH_SETTING:
        return []
    if plane.configured.mode == target:
        return []
    old = "unset" if not plane.env_present else plane.env_value
    if plane.configured.mode:
        old += f" ({plane.configured.mode})"
    return [
        ControlPlaneChange(
            NAME,
            "Deployment",
            plane.namespace,
            plane.name,
            old,
            mode_value(target),
            config.context,
            plane.container,
            resource_version=plane.resource_version,
            metadata=plane.metadata,
        )
    ]


desired_after_switch = base.pinned_or_target


def control_plane_problems(config, target):
    """What stops kuma-cp from injecting `target` once switched: [(problem, forceable)], none
    forceable: either there is nothing to change, or no change would do it."""
    plane = config.payload
    if plane is None:
        return [(f"{config.mesh_wide.source}: nothing to switch", False)]
    where = f"the Kuma control plane {plane.namespace}/{plane.name}"
    if plane.version is None:
        return [
            (
                f"{where} doesn't tell its Kuma version (no app.kubernetes.io/version label, "
                f"no version in kuma-cp's image tag), and whether {KUMA_ENV} decides depends on "
                "it (Kuma 2.7 to 2.14)",
                False,
            )
        ]
    release = release_text(plane.version)
    if target == base.NATIVE and plane.version < NATIVE_SINCE:
        return [
            (
                f"{where} runs Kuma {release}, which can't inject native sidecars; that needs Kuma 2.7 or later",
                False,
            )
        ]
    if target == base.TRADITIONAL and plane.version > LAST_WITH_SETTING:
        return [
            (
                f"{where} runs Kuma {release}, which always injects native sidecars on an API "
                f"server 1.29 or later ({KUMA_ENV} was removed after Kuma 2.14)",
                False,
            )
        ]
    if plane.env_present and plane.env_value is None and plane.configured.mode != target:
        return [
            (
                f"{where} sets {KUMA_ENV} from a reference (valueFrom): change it where it "
                "comes from",
                False,
            )
        ]
    return []


override_ignored = base.never_ignored
