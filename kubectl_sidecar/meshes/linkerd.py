"""Linkerd: the linkerd-proxy sidecar, linkerd-config's proxy.nativeSidecar, and the
namespace and pod annotations its injector reads over it (a switch annotates namespaces).

Implements base.ProxyFamily and base.ControlPlane.
"""

from dataclasses import dataclass, field

from kubectl_sidecar import resources
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
# Linkerd's mode keys in the order it reads them: config.linkerd.io, config.beta, config.alpha.
OVERRIDE_ANNOTATIONS: tuple[str, ...] = (
    "config.linkerd.io/proxy-enable-native-sidecar",
    "config.beta.linkerd.io/proxy-enable-native-sidecar",
    "config.alpha.linkerd.io/proxy-enable-native-sidecar",
)
# The ones it copies from a namespace (pkg/inject ProxyAnnotations + ProxyAlphaConfigAnnotations):
# the deprecated beta key is on neither list, so on a namespace it does nothing.
NAMESPACE_KEYS = (OVERRIDE_ANNOTATIONS[0], OVERRIDE_ANNOTATIONS[2])
# Linkerd reads the same annotation on a namespace as on a pod template.
NAMESPACE_ANNOTATION = OVERRIDE_ANNOTATIONS[0]
# Its injector copies the namespace's mode annotation onto every pod it injects
# (AppendNamespaceAnnotations): on its pods that copy is not the workload's own.
COPIES_NAMESPACE_MODE = True
INJECTOR_WEBHOOKS: tuple[str, ...] = ("linkerd-proxy-injector",)

is_gateway = base.not_a_gateway
lifecycle_settings = base.no_lifecycle_settings


def revision(metadata):
    return (metadata.get("annotations") or {}).get("linkerd.io/proxy-version")


def injector_hook(container, hook, command):
    # charts/partials/templates/_proxy.tpl: with proxy.await (the default) and only in
    # traditional mode. Its other hook, preStop `/bin/sleep N`, renders a setting the user
    # chose (proxy.waitBeforeExitSeconds) that native mode drops: that one still counts.
    return hook == "postStart" and command[0] == "/usr/lib/linkerd/linkerd-await"


# --- its config ----------------------------------------------------------------------------

CONFIG_OBJECTS = "linkerd-config"
CONFIG_ON_MESH_INSTANCE = False


@dataclass
class Namespaces:
    """MeshConfig.payload of Linkerd: what its namespaces' annotations say."""

    settings: dict = field(default_factory=dict)  # namespace -> Setting
    # namespace -> {key: value} of the mode annotations it copies onto its pods
    annotations: dict = field(default_factory=dict)


def linkerd_config(config_map, namespaces, context=None):
    """MeshConfig from linkerd-config's values (proxy.nativeSidecar) and namespace annotations."""
    mesh_wide = Setting(None, "linkerd/linkerd-config not found")
    if config_map is not None:
        values_text = (config_map.get("data") or {}).get("values") or ""
        native = _native_value(values_text)
        if native is None:
            mesh_wide = Setting(False, "linkerd-config proxy.nativeSidecar unset (default false)")
        else:
            mesh_wide = Setting(native, f"linkerd-config proxy.nativeSidecar={str(native).lower()}")
    payload = Namespaces()
    for namespace in namespaces or ():
        metadata = namespace.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        inherited = {key: annotations[key] for key in NAMESPACE_KEYS if key in annotations}
        if inherited:
            payload.settings[metadata.get("name")] = linkerd_setting({}, inherited, mesh_wide)
            payload.annotations[metadata.get("name")] = inherited
    return MeshConfig(
        name=NAME, family=FAMILY, mesh_wide=mesh_wide, payload=payload, context=context
    )


def linkerd_setting(own, namespace_annotations, default):
    """What Linkerd injects into a pod whose own mode annotations are `own` ({key: value}) in a
    namespace with `namespace_annotations`, when linkerd-config says `default` (a Setting).

    As pkg/inject does it: AppendNamespaceAnnotations copies the namespace's stable and alpha
    keys onto the pod where the pod lacks that key; ApplyAnnotationOverrides then takes the
    first present of stable, beta, alpha. A value ParseBool refuses leaves linkerd-config's
    value, and still hides the keys after it.
    """
    for key in OVERRIDE_ANNOTATIONS:
        if key in own:
            value, where = own[key], f"pod annotation {key}"
        elif key in NAMESPACE_KEYS and key in namespace_annotations:
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


def _native_value(values_text):
    import yaml

    try:
        values = yaml.safe_load(values_text) or {}
    except yaml.YAMLError:
        return None
    proxy = values.get("proxy") if isinstance(values, dict) else None
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
    )


# --- switching it: annotate each namespace with Linkerd pods ---------------------------------


class NamespaceChange(ConfigChange):
    """The namespace-wide annotation Linkerd's injector reads."""

    field_name = "annotation " + NAMESPACE_ANNOTATION
    done_name = NAMESPACE_ANNOTATION

    def patch(self):
        return namespace_patch(self.name, self.new)


def namespace_patch(namespace, value):
    """The namespace-wide native-sidecar annotation Linkerd's injector reads."""
    return Patch(
        resources.NAMESPACES,
        None,
        namespace,
        {"metadata": {"annotations": {NAMESPACE_ANNOTATION: value}}},
        JSON_MERGE_PATCH,
    )


def config_changes(config, target, rows):
    namespaces = sorted({row.namespace for row in rows if row.family == FAMILY})
    changes = []
    for namespace in namespaces:
        setting = config.payload.settings.get(namespace)
        if setting is not None and setting.mode == target:
            continue
        old = "unset" if setting is None else mode_value(setting.mode)
        changes.append(
            NamespaceChange(
                NAME, "Namespace", None, namespace, old, mode_value(target), config.context
            )
        )
    return changes


def desired_after_switch(config, changes, target):
    """What Linkerd will inject once the namespaces are annotated: the stable key a template
    sets wins over it, a beta or alpha key on the template does not."""
    written = {change.name: change.new for change in changes if change.mesh == NAME}

    def desired(row):
        inherited = dict(config.payload.annotations.get(row.namespace) or {})
        if row.namespace in written:
            inherited[NAMESPACE_ANNOTATION] = written[row.namespace]
        return linkerd_setting(dict(row.mode_annotations or ()), inherited, config.mesh_wide).mode

    return desired


control_plane_problems = base.no_problems
override_ignored = base.never_ignored
