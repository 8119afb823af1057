"""Istio: the istio-proxy sidecar, and istiod's ENABLE_NATIVE_SIDECARS (one istiod per
revision). ASM (asm.py) runs the same proxy with its config elsewhere.

Implements base.ProxyFamily and base.ControlPlane.
"""

import functools
import json
from typing import NamedTuple

from kubectl_sidecar import injection, owners, patches, resources
from kubectl_sidecar.meshes import base, reading
from kubectl_sidecar.meshes.base import (
    Check,
    ConfigChange,
    MeshConfig,
    Setting,
    mode_value,
    parse_bool,
)
from kubectl_sidecar.patches import Patch
from kubectl_sidecar.resources import JSON_MERGE_PATCH

NAME = FAMILY = "istio"
TITLE = "Istio"

# --- its pods ------------------------------------------------------------------------------

PROXIES: dict[str, Check | None] = {"istio-proxy": None}
PROXY_PREFIXES: dict[str, Check] = {}
OVERRIDE_ANNOTATIONS: tuple[str, ...] = ("sidecar.istio.io/nativeSidecar",)
COPIES_NAMESPACE_MODE = False
INJECTOR_WEBHOOKS: tuple[str, ...] = ("istio-sidecar-injector", "istio-revision-tag")

GATEWAY_LABELS = {"ingressgateway", "egressgateway", "eastwestgateway"}


def is_gateway(metadata, proxies):
    labels = metadata.get("labels") or {}
    if labels.get("istio") in GATEWAY_LABELS or "gateway.istio.io/managed" in labels:
        return True
    # Istio starts a gateway's proxy as `pilot-agent proxy router`, a sidecar as `proxy sidecar`.
    return any("router" in (proxy.get("args") or ()) for proxy in proxies)


def revision(metadata):
    labels = metadata.get("labels") or {}
    if labels.get("istio.io/rev"):
        return labels["istio.io/rev"]
    status = (metadata.get("annotations") or {}).get("sidecar.istio.io/status")
    return _status_revision(status) if status else None


@functools.lru_cache(maxsize=1024)
def _status_revision(status):
    """The revision in Istio's status annotation; pods of one template share the same text."""
    try:
        return json.loads(status).get("revision") or None
    except (ValueError, AttributeError):
        return None


def injector_hook(container, hook, command):
    # `pilot-agent wait` after start when holding the app, `pilot-agent request POST drain`
    # before stop.
    return command[0] == "pilot-agent"


# Settings that do nothing once the proxy is a native sidecar (Kubernetes orders start/stop).
LIFECYCLE_SETTINGS = (
    "holdApplicationUntilProxyStarts",
    "terminationDrainDuration",
    "EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
    "MINIMUM_DRAIN_DURATION",
)


TEMPLATES_ANNOTATION = "inject.istio.io/templates"
# The istiod chart's injection templates that have a native form: files/injection-template.yaml
# (`sidecar`) puts istio-proxy in initContainers with restartPolicy: Always when
# .Values.global.nativeSidecar / ENABLE_NATIVE_SIDECARS says so, and `gateway` has no sidecar
# to place. files/grpc-agent.yaml (and grpc-simple.yaml) always put it in `containers`
# (istio.io/istio manifests/charts/istio-control/istio-discovery/files, main 2026-08); a custom
# template is the user's and has no native form we know of.
NATIVE_FORM_TEMPLATES = frozenset({"sidecar", "gateway"})


def fixed_setting(metadata):
    """Traditional whatever ENABLE_NATIVE_SIDECARS says, for a pod injected from a template
    without a native form; None for the default template (most pods)."""
    value = ((metadata.get("annotations") or {}).get(TEMPLATES_ANNOTATION) or "").strip()
    if not value:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    other = [name for name in names if name not in NATIVE_FORM_TEMPLATES]
    if not other:
        return None
    return Setting(
        False,
        f"pod annotation {TEMPLATES_ANNOTATION}={value}: injection template "
        f"{', '.join(other)} has no native form",
    )


# Ambient: istio-cni marks each pod whose traffic it redirected to the node's ztunnel with
# this annotation; the pod (or its namespace) asks for it with the label, and the pod's label
# decides over its namespace's (`none` opts one pod out). A pod with a sidecar is never redirected:
# istio-cni leaves it to its sidecar (istio.io/istio pkg/config/constants AmbientRedirection,
# label.IoIstioDataplaneMode; cni/pkg/util podHasSidecar, main 2026-08).
AMBIENT_MARK = ("ambient.istio.io/redirection", "enabled")
AMBIENT_LABEL = ("istio.io/dataplane-mode", "ambient")
AMBIENT_AGENT = "istio-cni"  # what redirects them, named where a pod wasn't


# istiod's injector, once its webhook calls it: injectRequired (istio.io/istio
# pkg/kube/inject/inject.go, main 2026-08; IgnoredNamespaces in initializer.go). Never a
# hostNetwork pod or one in these namespaces. The pod's label, else its annotation,
# `sidecar.istio.io/inject`: "true" or "false" decides. Without one, the injector's config
# (InjectorPolicy) decides: the first neverInjectSelector matching the pod's labels says no, else
# the first alwaysInjectSelector says yes, else `policy` (enabled: yes; disabled or anything
# else: no). An explicit "true"/"false" still obeys `policy`: any value but enabled/disabled
# turns injection off for every pod. Another value of the label or annotation is read
# differently by releases (1.2x took y/yes/on as true and anything else as false; main falls
# back to the defaults): can't tell.
INJECT_KEY = "sidecar.istio.io/inject"
INJECTOR_IGNORED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
)


class InjectorPolicy(NamedTuple):
    """The per-pod rules in istiod's injector config (its ConfigMap's `config` key)."""

    policy: str = "enabled"
    never: tuple = ()  # injection.Selector of each valid, non-empty neverInjectSelector
    always: tuple = ()  # and of each alwaysInjectSelector


# A cluster without the ConfigMap (a managed or external istiod keeps it elsewhere): what the
# istiod chart renders (values.sidecarInjectorWebhook: enableNamespacesByDefault false,
# neverInjectSelector [], alwaysInjectSelector []; policy enabled).
CHART_POLICY = InjectorPolicy()
INJECTOR_CONFIG_MAP = "istio-sidecar-injector"


def injector_config_map(revision, service_namespace):
    """(namespace, name) of the injector ConfigMap the webhook's revision reads: the chart
    names it istio-sidecar-injector, -<revision> for a revision, in istiod's namespace (the
    Service the webhook calls)."""
    name = INJECTOR_CONFIG_MAP
    if revision and revision != "default":
        name = f"{INJECTOR_CONFIG_MAP}-{revision}"
    return service_namespace or ISTIOD_NAMESPACES[0], name


def injector_policy(config_map):
    """InjectorPolicy from the injector ConfigMap; CHART_POLICY when there is none; None when
    its config is one istiod couldn't read either (UnmarshalConfig fails: it keeps a config
    we can't see)."""
    if config_map is None:
        return CHART_POLICY
    text = (config_map.get("data") or {}).get("config")
    if text is None:
        return None
    import yaml  # only here: status reads it once per revision, when pods lack a proxy

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        return None
    never = config.get("neverInjectSelector") or []
    always = config.get("alwaysInjectSelector") or []
    if not isinstance(never, list) or not isinstance(always, list):
        return None
    policy = config.get("policy")
    if policy is not None and not isinstance(policy, str):
        return None  # `policy: on` is YAML's true, which UnmarshalConfig refuses for a string
    return InjectorPolicy(
        policy or "",
        _usable_selectors(never),
        _usable_selectors(always),
    )


def _usable_selectors(selectors):
    """The selectors injectRequired matches: metav1.LabelSelectorAsSelector skips one it
    can't convert (a warning in istiod's log), and one that selects everything is Empty()."""
    found = []
    for selector in selectors:
        if not isinstance(selector, dict) or not injection.valid_label_selector(selector):
            continue
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            continue
        found.append(injection.Selector.of(selector))
    return tuple(found)


def injects(labels, annotations, host_network, namespace_name, namespace, policy=CHART_POLICY):
    """Whether istiod's injector, once called, gives this pod a proxy (None: can't tell).
    policy: the InjectorPolicy of the revision whose webhook called it."""
    if host_network or namespace_name in INJECTOR_IGNORED_NAMESPACES:
        return False
    value = labels[INJECT_KEY] if INJECT_KEY in labels else annotations.get(INJECT_KEY, "")
    if value == "true":
        inject = True
    elif value == "false":
        inject = False
    elif value == "":
        inject = None
    else:
        return None
    if inject is None:
        if any(selector.matches(labels) for selector in policy.never):
            inject = False
        elif any(selector.matches(labels) for selector in policy.always):
            inject = True
    if policy.policy == "enabled":
        return True if inject is None else inject
    if policy.policy == "disabled":
        return False if inject is None else inject
    return False


def lifecycle_settings(annotations):
    proxy_config = annotations.get("proxy.istio.io/config", "")
    return any(setting in proxy_config for setting in LIFECYCLE_SETTINGS)


# --- its config: istiod's env, one istiod per revision -------------------------------------

CONFIG_OBJECTS = "istiod"
CONFIG_ON_MESH_INSTANCE = False
ISTIO_ENV = "ENABLE_NATIVE_SIDECARS"
# The istiod chart copies `pilot.*` values to the top level and renders `pilot.env` entries
# into istiod's env (manifests/charts/istio-control/istio-discovery; DOMAIN.md "Who owns the
# mesh setting"); istioctl's IstioOperator and Sail's Istio CR take the same key under
# spec.values.
PILOT_ENV_VALUE = "pilot.env." + ISTIO_ENV
HELM_VALUE: str | None = PILOT_ENV_VALUE
NATIVE_GA_KUBELET = (1, 33)  # Istio's "auto" wants every kubelet at least here
ISTIOD_SELECTOR = "app=istiod"
# Where users without cluster-wide read may still find istiod.
ISTIOD_NAMESPACES = ("istio-system", "aks-istio-system")


def istiod_revision(deployment):
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    return labels.get("istio.io/rev") or "default"


def istiod_version(deployment):
    """Istio (major, minor) of an istiod Deployment, from its labels or its image tag."""
    metadata = deployment.get("metadata") or {}
    labels = metadata.get("labels") or {}
    for key in ("operator.istio.io/version", "app.kubernetes.io/version", "helm.sh/chart"):
        found = base.version_tuple(labels.get(key))
        if found:
            return found
    for container in reading.containers(deployment):
        image = container.get("image") or ""
        if ":" in image.rsplit("/", 1)[-1]:
            found = base.version_tuple(image.rsplit(":", 1)[-1])
            if found:
                return found
    return None


def istiod_env_value(deployment):
    """(present, value) of ENABLE_NATIVE_SIDECARS on istiod's discovery container."""
    for container in reading.containers(deployment):
        for env in container.get("env") or ():
            if env.get("name") == ISTIO_ENV:
                if "value" not in env and "valueFrom" in env:
                    return True, None
                return True, env.get("value", "")
    return False, None


def istiod_needs_kubelets(deployments):
    """Whether deciding any istiod's mode needs the nodes' kubelet versions ("auto")."""
    for deployment in deployments:
        present, value = istiod_env_value(deployment)
        if present and (value or "").strip().lower() == "auto":
            return True
        version = istiod_version(deployment)
        if not present and version and version >= (1, 27):
            return True
    return False


def istiod_setting(deployment, kubelet_versions):
    """Setting of one istiod. kubelet_versions: {node: version string}, or None if unreadable."""
    metadata = deployment.get("metadata") or {}
    where = f"{metadata.get('namespace')}/{metadata.get('name')}"
    present, value = istiod_env_value(deployment)
    version = istiod_version(deployment)
    if present and value is None:
        return Setting(None, f"{where} sets {ISTIO_ENV} from a reference we don't resolve")
    if present:
        text = value.strip()
        if text.lower() == "auto":
            return _auto_setting(where, f"{ISTIO_ENV}=auto", kubelet_versions)
        parsed = parse_bool(text)
        if parsed is None:
            return Setting(None, f"{where} has {ISTIO_ENV}={value!r}, not true/false/auto")
        return Setting(parsed, f"{where} {ISTIO_ENV}={text}")
    if version is None:
        return Setting(None, f"{where} has no {ISTIO_ENV} and its Istio version is unknown")
    release = f"{version[0]}.{version[1]}"
    if version >= (1, 27):
        return _auto_setting(
            where, f"{ISTIO_ENV} unset, Istio {release} default auto", kubelet_versions
        )
    return Setting(False, f"{where} {ISTIO_ENV} unset, Istio {release} default false")


def _auto_setting(where, what, kubelet_versions):
    if kubelet_versions is None:
        return Setting(None, f"{where} {what}, but node kubelet versions can't be read")
    if not kubelet_versions:
        return Setting(None, f"{where} {what}, but the cluster has no nodes")
    old = sorted(
        node
        for node, version in kubelet_versions.items()
        if (base.version_tuple(version) or (0, 0)) < NATIVE_GA_KUBELET
    )
    if old:
        return Setting(False, f"{where} {what}: {len(old)} node(s) with kubelet < 1.33")
    return Setting(True, f"{where} {what}: every kubelet >= 1.33")


def istio_config(deployments, kubelet_versions, context=None):
    """MeshConfig from the istiod Deployments (one per revision). Its payload:
    {revision: (namespace, name, container, env value, resourceVersion, metadata)} of each
    istiod; its owners, who installed each istiod (owners.detect)."""
    revisions, istiods = {}, {}
    for deployment in deployments:
        revision_name = istiod_revision(deployment)
        revisions[revision_name] = istiod_setting(deployment, kubelet_versions)
        metadata = deployment.get("metadata") or {}
        containers = reading.containers(deployment)
        container = next(
            (c.get("name") for c in containers if c.get("name") == "discovery"),
            containers[0].get("name") if containers else "discovery",
        )
        istiods[revision_name] = (
            metadata.get("namespace"),
            metadata.get("name"),
            container,
            istiod_env_value(deployment)[1],
            metadata.get("resourceVersion"),
            metadata,
        )
    config = MeshConfig(
        name=NAME,
        family=FAMILY,
        revisions=revisions,
        payload=istiods,
        context=context,
        none_found="no istiod found",
    )
    for revision_name, istiod in istiods.items():
        config.owned[revision_name] = istiod[5]
        owner = owners.detect(istiod[5])
        if owner is not None:
            config.owners[revision_name] = owner
    return config


def lease_namespace(config):
    """The default revision's istiod's namespace (else the first revision's)."""
    istiods = config.payload or {}
    revision = "default" if "default" in istiods else next(iter(sorted(istiods)), None)
    return istiods[revision][0] if revision else ISTIOD_NAMESPACES[0]


def read(cluster, mesh_cluster, quiet=False):
    deployments = reading.labelled_deployments(cluster, ISTIOD_SELECTOR, ISTIOD_NAMESPACES)
    if not deployments and quiet:
        return None
    kubelets = None
    if istiod_needs_kubelets(deployments):
        kubelets = reading.node_kubelet_versions(cluster)
    config = istio_config(deployments, kubelets, cluster.context)
    if not deployments:
        config.warnings.append(f"no istiod Deployment (label {ISTIOD_SELECTOR}) found")
    return config


def setting_for(row, config):
    revision_name = row.revision or "default"
    setting = config.revisions.get(revision_name) or Setting(
        None, f"no istiod found for revision {revision_name}"
    )
    return base.override_or(row, setting)


# --- switching it --------------------------------------------------------------------------


class IstiodChange(ConfigChange):
    """istiod's ENABLE_NATIVE_SIDECARS. istiod reads it at start: it rolls out first."""

    rolls_out = True
    field_name = "env " + ISTIO_ENV
    done_name = ISTIO_ENV
    helm_value = HELM_VALUE

    def patch(self):
        return istiod_env(
            self.namespace, self.name, self.container, self.new, self.resource_version
        )

    def undo(self, current):
        return istiod_env(
            self.namespace, self.name, self.container, self.previous, base.version_of(current)
        )


def istiod_env(namespace, name, container, value, resource_version=None):
    """istiod's ENABLE_NATIVE_SIDECARS; its other env entries are kept (merged by name). With
    the resourceVersion it was read at, a Deployment changed since (a helm upgrade, another
    switch) answers 409 Conflict instead of taking a decision made on what it was."""
    return patches.deployment_env(namespace, name, container, ISTIO_ENV, value, resource_version)


def config_changes(config, target, rows):
    """Every istiod whose revision the pods use (every istiod when they use none)."""
    istiods = config.payload or {}
    used = {row.revision or "default" for row in rows if row.family == FAMILY}
    revisions = [rev for rev in sorted(istiods) if rev in used] or sorted(istiods)
    changes = []
    for revision_name in revisions:
        namespace, name, container, value, version, metadata = istiods[revision_name]
        setting = config.revisions[revision_name]
        if value is not None and value.strip().lower() == mode_value(target):
            continue
        old = "unset" if value is None else value
        if setting.mode:
            old += f" ({setting.mode})"
        changes.append(
            IstiodChange(
                NAME,
                "Deployment",
                namespace,
                name,
                old,
                mode_value(target),
                config.context,
                container,
                resource_version=version,
                metadata=metadata,
            )
        )
    return changes


class IstioCRChange(ConfigChange):
    """The Sail operator's Istio CR, spec.values.pilot.env.ENABLE_NATIVE_SIDECARS: the operator
    renders istiod from it (and would put a hand edit of istiod back at once), so the switch
    writes here and waits for the operator's istiod rollout (rolls_out_as)."""

    rolls_out = True
    writes_owner = True
    field_name = "spec.values." + PILOT_ENV_VALUE
    done_name = field_name
    helm_value = PILOT_ENV_VALUE

    def __init__(self, *args, istiod: tuple[str, str] = ("", ""), **kwargs):
        super().__init__(*args, **kwargs)
        self.istiod = istiod  # (namespace, name) of the istiod it renders into

    def patch(self):
        # The Sail API types spec.values.pilot.env as map[string]string: a string value.
        body = {"spec": {"values": {"pilot": {"env": {ISTIO_ENV: self.new}}}}}
        return Patch(resources.SAIL_ISTIOS, None, self.name, body, JSON_MERGE_PATCH)

    def undo(self, current):
        # null removes the key in a JSON merge patch: unset, as it was.
        body: dict = {"spec": {"values": {"pilot": {"env": {ISTIO_ENV: self.previous}}}}}
        version = base.version_of(current)
        if version:
            body["metadata"] = {"resourceVersion": version}
        return Patch(resources.SAIL_ISTIOS, None, self.name, body, JSON_MERGE_PATCH)

    def rolls_out_as(self):
        return self.istiod

    def rendered(self, deployment):
        value = istiod_env_value(deployment)[1]
        return (value or "").strip().lower() == self.new

    def caveat(self):
        namespace, name = self.rolls_out_as()
        return (
            f"the Sail operator renders Deployment {namespace}/{name} from it: the switch waits "
            "for that rollout"
        )


def operator_change(change, cluster):
    """The IstioCRChange that stands for `change` (istiod's env) where the Sail operator owns
    istiod: the Istio CR that owns its IstioRevision; None when that can't be read (the
    switch then refuses, naming the value to set)."""
    revision = reading.get_or_none(cluster, resources.SAIL_ISTIO_REVISIONS, change.owner.name)
    istio_cr = next(
        (
            reference.get("name")
            for reference in ((revision or {}).get("metadata") or {}).get("ownerReferences") or ()
            if reference.get("kind") == "Istio"
            and (reference.get("apiVersion") or "").startswith("sailoperator.io/")
        ),
        None,
    )
    if not istio_cr:
        return None
    return IstioCRChange(
        NAME,
        "Istio",
        None,
        istio_cr,
        change.old,
        change.new,
        change.context,
        owner=change.owner,
        istiod=(change.namespace, change.name),
    )


desired_after_switch = base.pinned_or_target
control_plane_problems = base.no_problems
override_ignored = base.never_ignored
