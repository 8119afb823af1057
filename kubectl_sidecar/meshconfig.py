"""What mode each mesh would inject now, from its configuration objects: pure functions.

Fetching the objects is cluster.py's job; this module only reads plain dicts.
"""
import re
from dataclasses import dataclass, field

from kubectl_sidecar.classify import NATIVE, TRADITIONAL, parse_bool

ASM_GROUP, ASM_VERSION, ASM_PLURAL, ASM_NAME = (
    "istio.alibabacloud.com", "v1beta1", "asmmeshconfigs", "default")
ISTIO_ENV = "ENABLE_NATIVE_SIDECARS"
NATIVE_GA_KUBELET = (1, 33)  # Istio's "auto" wants every kubelet at least here
MESH_FAMILIES = {"asm": "istio", "istio": "istio", "linkerd": "linkerd"}


@dataclass(frozen=True, slots=True)
class Setting:
    """A configured choice: native (True), traditional (False) or unknown (None), and why."""

    native: bool
    source: str

    @property
    def mode(self):
        if self.native is None:
            return None
        return NATIVE if self.native else TRADITIONAL


@dataclass
class MeshConfig:
    """The mesh whose config we read, and the settings that decide each pod's mode."""

    name: str  # asm | istio | linkerd | none
    mesh_wide: Setting = None  # ASM, Linkerd: one setting for all pods
    revisions: dict = field(default_factory=dict)  # Istio: revision -> Setting
    istiods: dict = field(default_factory=dict)  # Istio: revision -> (namespace, name, container, env value)
    namespaces: dict = field(default_factory=dict)  # Linkerd: namespace -> Setting
    context: str = None  # the kubeconfig context the config was read from
    warnings: list = field(default_factory=list)

    @property
    def family(self):
        return MESH_FAMILIES.get(self.name)

    def describe(self):
        """One phrase for the summary line: the mesh, its configured mode and where it came from."""
        if self.name == "none":
            return self.mesh_wide.source if self.mesh_wide else "no mesh configuration found"
        if self.mesh_wide is not None:
            mode = self.mesh_wide.mode or "unknown"
            return f"{self.name}: {mode} ({self.mesh_wide.source})"
        parts = [
            f"{rev}={setting.mode or 'unknown'} ({setting.source})"
            for rev, setting in sorted(self.revisions.items())
        ]
        return f"{self.name}: " + ("; ".join(parts) if parts else "no istiod found")


def no_mesh(reason):
    return MeshConfig(name="none", mesh_wide=Setting(None, reason))


def version_tuple(text):
    """(major, minor) from strings like 'v1.33.2-eks-1', '1.27.1', 'istiod-1.24.0'; None if absent."""
    match = re.search(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


# --- Alibaba Cloud ASM -------------------------------------------------------------------

def asm_config(mesh_config_object, context):
    """MeshConfig from ASMMeshConfig/default (None if it doesn't exist)."""
    where = f"ASMMeshConfig/default on context {context}" if context else "ASMMeshConfig/default"
    if mesh_config_object is None:
        return MeshConfig(
            name="asm", context=context,
            mesh_wide=Setting(None, f"{where} not found (is this the ASM instance's API server?)"))
    value = (mesh_config_object.get("spec") or {}).get("enableNativeSidecar")
    if isinstance(value, bool):
        setting = Setting(value, f"{where} spec.enableNativeSidecar={str(value).lower()}")
    else:
        setting = Setting(None, f"{where} does not set spec.enableNativeSidecar; "
                                "ASM's default depends on its version")
    return MeshConfig(name="asm", context=context, mesh_wide=setting)


# --- open-source Istio -------------------------------------------------------------------

def istiod_revision(deployment):
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    return labels.get("istio.io/rev") or "default"


def istiod_version(deployment):
    """Istio (major, minor) of an istiod Deployment, from its labels or its image tag."""
    metadata = deployment.get("metadata") or {}
    labels = metadata.get("labels") or {}
    for key in ("operator.istio.io/version", "app.kubernetes.io/version", "helm.sh/chart"):
        found = version_tuple(labels.get(key))
        if found:
            return found
    for container in _containers(deployment):
        image = container.get("image") or ""
        if ":" in image.rsplit("/", 1)[-1]:
            found = version_tuple(image.rsplit(":", 1)[-1])
            if found:
                return found
    return None


def _containers(deployment):
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return template.get("containers") or ()


def istiod_env_value(deployment):
    """(present, value) of ENABLE_NATIVE_SIDECARS on istiod's discovery container."""
    for container in _containers(deployment):
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
        return _auto_setting(where, f"{ISTIO_ENV} unset, Istio {release} default auto",
                             kubelet_versions)
    return Setting(False, f"{where} {ISTIO_ENV} unset, Istio {release} default false")


def _auto_setting(where, what, kubelet_versions):
    if kubelet_versions is None:
        return Setting(None, f"{where} {what}, but node kubelet versions can't be read")
    if not kubelet_versions:
        return Setting(None, f"{where} {what}, but the cluster has no nodes")
    old = sorted(node for node, version in kubelet_versions.items()
                 if (version_tuple(version) or (0, 0)) < NATIVE_GA_KUBELET)
    if old:
        return Setting(False, f"{where} {what}: {len(old)} node(s) with kubelet < 1.33")
    return Setting(True, f"{where} {what}: every kubelet >= 1.33")


def istio_config(deployments, kubelet_versions, context=None):
    """MeshConfig from the istiod Deployments (one per revision)."""
    revisions, istiods = {}, {}
    for deployment in deployments:
        revision = istiod_revision(deployment)
        revisions[revision] = istiod_setting(deployment, kubelet_versions)
        metadata = deployment.get("metadata") or {}
        containers = _containers(deployment)
        container = next((c.get("name") for c in containers if c.get("name") == "discovery"),
                         containers[0].get("name") if containers else "discovery")
        istiods[revision] = (metadata.get("namespace"), metadata.get("name"), container,
                             istiod_env_value(deployment)[1])
    config = MeshConfig(name="istio", revisions=revisions, istiods=istiods, context=context)
    if revisions:
        config.warnings.append(
            "istiod's env may be managed by an IstioOperator or Helm release; "
            "a hand edit can be reverted")
    return config


# --- Linkerd -----------------------------------------------------------------------------

def linkerd_config(config_map, namespaces, context=None):
    """MeshConfig from linkerd-config's values (proxy.nativeSidecar) and namespace annotations."""
    from kubectl_sidecar.classify import OVERRIDE_ANNOTATIONS

    mesh_wide = Setting(None, "linkerd/linkerd-config not found")
    if config_map is not None:
        values_text = (config_map.get("data") or {}).get("values") or ""
        native = _linkerd_native_value(values_text)
        if native is None:
            mesh_wide = Setting(False, "linkerd-config proxy.nativeSidecar unset (default false)")
        else:
            mesh_wide = Setting(native, f"linkerd-config proxy.nativeSidecar={str(native).lower()}")
    by_namespace = {}
    for namespace in namespaces or ():
        metadata = namespace.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        for key in OVERRIDE_ANNOTATIONS["linkerd"]:
            if key in annotations and parse_bool(annotations[key]) is not None:
                by_namespace[metadata.get("name")] = Setting(
                    parse_bool(annotations[key]), f"namespace annotation {key}")
                break
    return MeshConfig(name="linkerd", mesh_wide=mesh_wide, namespaces=by_namespace,
                      context=context)


def _linkerd_native_value(values_text):
    import yaml

    try:
        values = yaml.safe_load(values_text) or {}
    except yaml.YAMLError:
        return None
    proxy = values.get("proxy") if isinstance(values, dict) else None
    value = proxy.get("nativeSidecar") if isinstance(proxy, dict) else None
    return value if isinstance(value, bool) else None


# --- per pod -----------------------------------------------------------------------------

def desired_setting(row, mesh):
    """The Setting that decides what the mesh would inject into this pod now."""
    if row.proxy is None:
        return Setting(None, "no mesh proxy")
    if row.override is not None:
        return Setting(row.override, f"pod annotation {row.override_annotation}")
    if mesh.family != row.family:
        return Setting(None, f"no {row.family} mesh configuration read")
    if mesh.name == "linkerd" and row.namespace in mesh.namespaces:
        return mesh.namespaces[row.namespace]
    if mesh.mesh_wide is not None:
        return mesh.mesh_wide
    revision = row.revision or "default"
    if revision in mesh.revisions:
        return mesh.revisions[revision]
    return Setting(None, f"no istiod found for revision {revision}")
