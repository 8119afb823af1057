"""Linkerd: the linkerd-proxy sidecar, linkerd-config's proxy.nativeSidecar, and the
namespace and pod annotations its injector reads over it (a switch annotates namespaces).

Implements base.ProxyFamily and base.ControlPlane.
"""

import re
from typing import NamedTuple

from kubectl_sidecar import owners, resources
from kubectl_sidecar.errors import unless_forbidden
from kubectl_sidecar.meshes import base
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

NAME = FAMILY = "linkerd"
TITLE = "Linkerd"

# --- its pods ------------------------------------------------------------------------------

PROXIES: dict[str, Check | None] = {"linkerd-proxy": None}
PROXY_PREFIXES: dict[str, Check] = {}
# Every mode key any release reads on a pod, in the order the newest reads them (2.20:
# config.linkerd.io, then config.beta, then config.alpha). Which of them a given release reads,
# and which it copies from a namespace, is in RELEASE_LINES below.
OVERRIDE_ANNOTATIONS: tuple[str, ...] = (
    "config.linkerd.io/proxy-enable-native-sidecar",
    "config.beta.linkerd.io/proxy-enable-native-sidecar",
    "config.alpha.linkerd.io/proxy-enable-native-sidecar",
)
STABLE_KEY, BETA_KEY, ALPHA_KEY = OVERRIDE_ANNOTATIONS
# Its injector copies the namespace's mode annotation onto every pod it injects
# (AppendNamespaceAnnotations): on its pods that copy is not the workload's own.
COPIES_NAMESPACE_MODE = True
INJECTOR_WEBHOOKS: tuple[str, ...] = ("linkerd-proxy-injector",)

is_gateway = base.not_a_gateway
lifecycle_settings = base.no_lifecycle_settings


# Linkerd's injector is called for every pod its webhook selects and decides itself
# (pkg/inject report.disabledByAnnotation, injectable): `linkerd.io/inject: enabled|ingress`
# on the pod, or on its namespace unless the pod says `disabled`; a value it doesn't know on
# either is no injection; never a hostNetwork pod.
INJECT_KEY = "linkerd.io/inject"
_INJECT_ON = ("enabled", "ingress")
_INJECT_VALUES = ("enabled", "ingress", "disabled")


def injects(labels, annotations, host_network, namespace_name, namespace):
    """Whether Linkerd's injector, once called, gives this pod a proxy."""
    if host_network:
        return False
    own = annotations.get(INJECT_KEY, "")
    inherited = namespace.annotations.get(INJECT_KEY, "")
    if (own and own not in _INJECT_VALUES) or (inherited and inherited not in _INJECT_VALUES):
        return False
    if inherited in _INJECT_ON:
        return own != "disabled"
    return own in _INJECT_ON


def revision(metadata):
    return (metadata.get("annotations") or {}).get("linkerd.io/proxy-version")


def injector_hook(container, hook, command):
    # charts/partials/templates/_proxy.tpl: with proxy.await (the default) and only in
    # traditional mode. Its other hook, preStop `/bin/sleep N`, renders a setting the user
    # chose (proxy.waitBeforeExitSeconds) that native mode drops: that one still counts.
    return hook == "postStart" and command[0] == "/usr/lib/linkerd/linkerd-await"


# --- its releases: which keys each reads, which a namespace passes on, its default ----------
#
# From Linkerd's source (github.com/linkerd/linkerd2):
# - pkg/k8s/labels.go names the keys: only config.alpha from edge-23.11.4 (none before it, nor
#   in stable-2.14.10); config.beta added, alpha deprecated, in edge-25.10.2; config.linkerd.io
#   added, beta deprecated, in edge-26.5.2. (Tags version-2.18 = edge-25.4.4, version-2.19 =
#   edge-25.10.7, version-2.20 after edge-26.6.3.)
# - pkg/inject/inject.go applyAnnotationOverrides reads on the pod, first present wins: alpha
#   (version-2.18); beta, alpha (version-2.19); config.linkerd.io, beta, alpha (version-2.20).
#   A value strconv.ParseBool refuses leaves proxy.nativeSidecar and still hides later keys.
# - pkg/inject/inject.go AppendNamespaceAnnotations copies from the namespace only the keys in
#   ProxyAnnotations + ProxyAlphaConfigAnnotations: alpha (version-2.18); beta (in
#   ProxyAnnotations) and alpha (version-2.19); config.linkerd.io and alpha, not beta
#   (version-2.20).
# - charts/linkerd-control-plane/values.yaml proxy.nativeSidecar: false from edge-23.11.4
#   (version-2.18, version-2.19: "experimental", then "beta"), true from edge-26.5.2
#   (version-2.20). The chart writes its values, this one included, into linkerd-config's
#   `values`, with the release as `linkerdVersion` (templates/config.yaml; bin/helm-build
#   sets it). The injector unmarshals that file into a zeroed Values (pkg/config Values), so
#   where the key is absent it is false on every release.
# Checked unchanged through edge-26.8.3.


class ReleaseLine(NamedTuple):
    """What the releases of one Linkerd line read: a row of RELEASE_LINES."""

    name: str
    first_edge: tuple[int, ...]  # its first edge release, (year, month, n)
    first_minor: int  # its first stable-2.X / version-2.X
    pod_keys: tuple[str, ...]  # the mode keys it reads on a pod, first present wins
    namespace_keys: tuple[str, ...]  # those it copies from a namespace onto the pod
    chart_default: bool | None  # the chart's proxy.nativeSidecar; None: no such value

    @property
    def native_supported(self) -> bool:
        return bool(self.pod_keys)

    @property
    def key(self) -> str | None:
        """The key a switch writes: the one it reads first, on a namespace and on a pod."""
        return self.pod_keys[0] if self.pod_keys else None


RELEASE_LINES = (
    ReleaseLine("2.14 or older", (0, 0, 0), 0, (), (), None),
    ReleaseLine("2.15 to 2.18", (23, 11, 4), 15, (ALPHA_KEY,), (ALPHA_KEY,), False),
    ReleaseLine("2.19", (25, 10, 2), 19, (BETA_KEY, ALPHA_KEY), (BETA_KEY, ALPHA_KEY), False),
    ReleaseLine(
        "2.20", (26, 5, 2), 20, (STABLE_KEY, BETA_KEY, ALPHA_KEY), (STABLE_KEY, ALPHA_KEY), True
    ),
)
NATIVE_LINES = tuple(line for line in RELEASE_LINES if line.native_supported)
LATEST = RELEASE_LINES[-1]
# The key every release with native sidecars reads, on a pod and from a namespace: what a
# switch writes when it can't tell the release.
KEY_EVERY_RELEASE_READS = ALPHA_KEY
FIRST_NATIVE_RELEASE = "edge-23.11.4 (2.15)"

# Sources, compiled (and cached by re) at first use: only a switch reads a release.
_EDGE = r"edge-(\d+)\.(\d+)\.(\d+)"
_NUMBERED = r"(?:stable|version)-2\.(\d+)(?:\.\d+)?"


def release_line(version: str | None) -> ReleaseLine | None:
    """The line of `version` (linkerd-config's linkerdVersion: edge-25.10.2, stable-2.14.10,
    version-2.19), or None where it is no release spelling this knows."""
    text = (version or "").strip()
    edge = re.fullmatch(_EDGE, text)
    if edge:
        release = tuple(int(part) for part in edge.groups())
        return [line for line in RELEASE_LINES if line.first_edge <= release][-1]
    numbered = re.fullmatch(_NUMBERED, text)
    if numbered:
        minor = int(numbered.group(1))
        return [line for line in RELEASE_LINES if line.first_minor <= minor][-1]
    return None


# --- its config ----------------------------------------------------------------------------

CONFIG_OBJECTS = "linkerd-config"
CONFIG_ON_MESH_INSTANCE = False
# linkerd-control-plane's value that linkerd-config's `values` carries (DOMAIN.md "Linkerd");
# a switch annotates namespaces instead, which no chart renders.
HELM_VALUE: str | None = "proxy.nativeSidecar"


class Namespaces:
    """MeshConfig.payload of Linkerd: the release running, and what its namespaces say."""

    # Written out, not a dataclass (as base.MeshConfig): filled in as the namespaces are read.
    def __init__(self):
        self.settings: dict = {}  # namespace -> Setting
        # namespace -> {key: value} of the mode annotations it copies onto its pods
        self.annotations: dict = {}
        self.version: str | None = None  # linkerd-config's linkerdVersion
        self.line: ReleaseLine | None = None  # None: the release is unknown
        # namespace -> its metadata as listed: who owns it, for a switch that annotates it
        self.metadata: dict = {}


def linkerd_config(config_map, namespaces, context=None):
    """MeshConfig from linkerd-config's values (linkerdVersion, proxy.nativeSidecar) and
    namespace annotations."""
    mesh_wide = Setting(None, "linkerd/linkerd-config not found")
    payload = Namespaces()
    warnings = []
    native_supported = None
    if config_map is not None:
        values = _values(config_map)
        payload.version = _text(values.get("linkerdVersion"))
        payload.line = release_line(payload.version)
        native = _native_value(values)
        if payload.line is not None and not payload.line.native_supported:
            native_supported = False
            mesh_wide = Setting(False, f"Linkerd {payload.version} has no native sidecars")
        elif native is None:
            mesh_wide = Setting(False, "linkerd-config proxy.nativeSidecar unset (default false)")
        else:
            mesh_wide = Setting(native, f"linkerd-config proxy.nativeSidecar={str(native).lower()}")
        if payload.line is None:
            warnings.append(unknown_release_warning(payload.version))
    for namespace in namespaces or ():
        metadata = namespace.get("metadata") or {}
        payload.metadata[metadata.get("name")] = metadata
        annotations = metadata.get("annotations") or {}
        present = {key: annotations[key] for key in OVERRIDE_ANNOTATIONS if key in annotations}
        copied = _namespace_keys(payload.line)
        if any(key in copied for key in present):
            payload.settings[metadata.get("name")] = linkerd_setting(
                {}, present, mesh_wide, payload.line
            )
            payload.annotations[metadata.get("name")] = present
    owner = owners.detect((config_map or {}).get("metadata") or {})
    return MeshConfig(
        name=NAME,
        family=FAMILY,
        mesh_wide=mesh_wide,
        payload=payload,
        context=context,
        warnings=warnings,
        native_supported=native_supported,
        override_key=override_key(payload.line),
        owners={} if owner is None else {base.MESH_WIDE: owner},
        owned={base.MESH_WIDE: (config_map or {}).get("metadata") or {}},
    )


def unknown_release_warning(version):
    said = f"linkerdVersion {version!r}" if version else "no linkerdVersion"
    return (
        f"linkerd-config has {said}, no Linkerd release kubectl-sidecar knows: its releases "
        "read different native-sidecar annotations, so a switch writes "
        f"{KEY_EVERY_RELEASE_READS}, the one every release since {FIRST_NATIVE_RELEASE} reads, "
        "and DESIRED is unknown where they would disagree"
    )


def override_key(line):
    """The mode key a switch writes for the running release: on a namespace and on a pod
    template alike (every release copies the key it reads first from a namespace)."""
    return KEY_EVERY_RELEASE_READS if line is None else line.key


def _namespace_keys(line):
    if line is None:
        return frozenset(key for each in NATIVE_LINES for key in each.namespace_keys)
    return frozenset(line.namespace_keys)


def linkerd_setting(own, namespace_annotations, default, line=LATEST):
    """What Linkerd injects into a pod whose own mode annotations are `own` ({key: value}) in a
    namespace with `namespace_annotations`, when linkerd-config says `default` (a Setting),
    for a release of `line` (None: the release is unknown).

    As pkg/inject does it: AppendNamespaceAnnotations copies the namespace's keys on the
    line's list onto the pod where the pod lacks that key; applyAnnotationOverrides then takes
    the first present of the keys the line reads. A value ParseBool refuses leaves
    linkerd-config's value, and still hides the keys after it. An unknown release gives the
    mode every line would, or says the lines disagree.
    """
    if line is not None:
        return _line_setting(own, namespace_annotations, default, line)
    settings = [_line_setting(own, namespace_annotations, default, each) for each in NATIVE_LINES]
    if len({setting.native for setting in settings}) == 1:
        return settings[0]
    said = ", ".join(
        f"{each.name} {setting.mode or 'unknown'}"
        for each, setting in zip(NATIVE_LINES, settings, strict=True)
    )
    return Setting(None, f"Linkerd release unknown; by release line: {said}")


def _line_setting(own, namespace_annotations, default, line):
    for key in line.pod_keys:
        if key in own:
            value, where = own[key], f"pod annotation {key}"
        elif key in line.namespace_keys and key in namespace_annotations:
            value, where = namespace_annotations[key], f"namespace annotation {key}"
        else:
            continue
        native = parse_bool(value)
        if native is None:
            return Setting(
                default.native, f"{where}={value!r} is not a Go bool, so {default.source}"
            )
        return Setting(native, where)
    return default


def _values(config_map):
    import yaml

    try:
        values = yaml.safe_load((config_map.get("data") or {}).get("values") or "") or {}
    except yaml.YAMLError:
        return {}
    return values if isinstance(values, dict) else {}


def _text(value):
    return value if isinstance(value, str) else None


def _native_value(values):
    proxy = values.get("proxy")
    value = proxy.get("nativeSidecar") if isinstance(proxy, dict) else None
    return value if isinstance(value, bool) else None


def lease_namespace(config):
    return "linkerd"  # where linkerd-config lives


def read(cluster, mesh_cluster, quiet=False):
    config_map = cluster.get(resources.CONFIGMAPS, "linkerd-config", "linkerd")
    if config_map is None and quiet:
        return None
    namespaces = unless_forbidden(
        lambda: cluster.list_all(resources.NAMESPACES, metadata_only=True), fallback=[]
    )
    return linkerd_config(config_map, namespaces, cluster.context)


def setting_for(row, config):
    # row.mode_annotations are the workload's own (status.Assessor puts the pod template's in
    # place of a pod's copies of its namespace's); the namespace's as it is now.
    return linkerd_setting(
        dict(row.mode_annotations or ()),
        config.payload.annotations.get(row.namespace) or {},
        config.mesh_wide,
        config.payload.line,
    )


# --- switching it: annotate each namespace with Linkerd pods ---------------------------------


class NamespaceChange(ConfigChange):
    """The namespace-wide annotation the running release reads (`key`)."""

    def __init__(self, *args, key: str = LATEST.key or STABLE_KEY, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = key

    # The base names its field per class; this one's depends on the release it writes for.
    @property
    def field_name(self):  # type: ignore[override]
        return "annotation " + self.key

    @property
    def done_name(self):  # type: ignore[override]
        return self.key

    def patch(self):
        return namespace_patch(self.name, self.new, self.key)

    def undo(self, current):
        undone = namespace_patch(self.name, self.previous, self.key)  # None removes it
        undone.body["metadata"]["resourceVersion"] = base.version_of(current)
        return undone


def namespace_patch(namespace, value, key=STABLE_KEY):
    """The namespace-wide native-sidecar annotation `key` Linkerd's injector reads."""
    return Patch(
        resources.NAMESPACES,
        None,
        namespace,
        {"metadata": {"annotations": {key: value}}},
        JSON_MERGE_PATCH,
    )


def config_changes(config, target, rows):
    key = config.override_key
    if key is None:
        return []  # a release without native sidecars: control_plane_problems says so
    namespaces = sorted({row.namespace for row in rows if row.family == FAMILY})
    changes = []
    for namespace in namespaces:
        setting = config.payload.settings.get(namespace)
        if setting is not None and setting.mode == target:
            continue
        old = "unset" if setting is None else mode_value(setting.mode)
        changes.append(
            NamespaceChange(
                NAME,
                "Namespace",
                None,
                namespace,
                old,
                mode_value(target),
                config.context,
                metadata=config.payload.metadata.get(namespace),
                key=key,
            )
        )
    return changes


def desired_after_switch(config, changes, target):
    """What Linkerd will inject once the namespaces are annotated: a key the template sets
    that the release reads before the written one wins over it, a later one does not."""
    written = {change.name: change for change in changes if change.mesh == NAME}

    def desired(row):
        inherited = dict(config.payload.annotations.get(row.namespace) or {})
        change = written.get(row.namespace)
        if change is not None:
            inherited[change.key] = change.new
        return linkerd_setting(
            dict(row.mode_annotations or ()), inherited, config.mesh_wide, config.payload.line
        ).mode

    return desired


def control_plane_problems(config, target):
    problem = override_ignored(config, target)
    return [(problem, False)] if problem else []


def override_ignored(config, target):
    """Why the injector would not give `target`: a release from before native sidecars."""
    if target != base.NATIVE or config.native_supported is not False:
        return None
    return (
        f"Linkerd {config.payload.version} can't inject native sidecars: they came with "
        f"{FIRST_NATIVE_RELEASE}; upgrade Linkerd first"
    )
