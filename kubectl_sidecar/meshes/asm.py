"""Alibaba Cloud ASM: Istio's proxy (istio.py), with the mode in ASMMeshConfig/default's
spec.enableNativeSidecar on the ASM instance's API server (--mesh-context), not the data
plane's.

Implements base.ControlPlane; its pods are Istio's (base.ProxyFamily in istio.py).
"""

from kubectl_sidecar.meshes import base, istio
from kubectl_sidecar.meshes.base import ConfigChange, MeshConfig, Setting, mode_value
from kubectl_sidecar.patches import Patch
from kubectl_sidecar.resources import JSON_MERGE_PATCH, Resource

NAME = "asm"
TITLE = "ASM"
FAMILY = istio.FAMILY
CONFIG_OBJECTS = "ASMMeshConfig/default"
# ASMMeshConfig is the source of truth itself: ASM renders istiod from it, no chart we write to.
HELM_VALUE: str | None = None
CONFIG_ON_MESH_INSTANCE = True

MESH_CONFIGS = Resource(
    "istio.alibabacloud.com", "v1beta1", "asmmeshconfigs", "ASMMeshConfig", namespaced=False
)
MESH_CONFIG_NAME = "default"


def asm_config(mesh_config_object, context):
    """MeshConfig from ASMMeshConfig/default (None if it doesn't exist)."""
    where = f"ASMMeshConfig/default on context {context}" if context else "ASMMeshConfig/default"
    if mesh_config_object is None:
        return MeshConfig(
            name=NAME,
            family=FAMILY,
            context=context,
            mesh_wide=Setting(None, f"{where} not found (is this the ASM instance's API server?)"),
        )
    value = (mesh_config_object.get("spec") or {}).get("enableNativeSidecar")
    if isinstance(value, bool):
        setting = Setting(value, f"{where} spec.enableNativeSidecar={str(value).lower()}")
    else:
        setting = Setting(
            None,
            f"{where} does not set spec.enableNativeSidecar; ASM's default depends on its version",
        )
    # Its payload: the resourceVersion it was read at, which a switch's patch carries.
    version = (mesh_config_object.get("metadata") or {}).get("resourceVersion")
    return MeshConfig(name=NAME, family=FAMILY, context=context, mesh_wide=setting, payload=version)


def read(cluster, mesh_cluster, quiet=False):
    obj = mesh_cluster.get(MESH_CONFIGS, MESH_CONFIG_NAME)
    if obj is None and quiet:
        return None
    return asm_config(obj, mesh_cluster.context)


def setting_for(row, config):
    return base.override_or(row, config.mesh_wide)


class MeshConfigChange(ConfigChange):
    """ASMMeshConfig's spec.enableNativeSidecar, on the ASM instance's API server."""

    on_mesh_instance = True
    field_name = "spec.enableNativeSidecar"
    done_name = "enableNativeSidecar"

    def patch(self):
        return native_sidecar(self.name, self.new == "true", self.resource_version)

    def undo(self, current):
        previous = self.previous
        return native_sidecar(
            self.name, None if previous is None else previous == "true", base.version_of(current)
        )


def native_sidecar(name, native, resource_version=None):
    """ASMMeshConfig's spec.enableNativeSidecar; a custom resource takes only a JSON merge patch.
    With the resourceVersion it was read at: changed since (another switch, the console), the
    server answers 409 Conflict rather than overwrite it."""
    body: dict = {"spec": {"enableNativeSidecar": native}}  # None removes it
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return Patch(MESH_CONFIGS, None, name, body, JSON_MERGE_PATCH)


def config_changes(config, target, rows):
    current = config.mesh_wide.native if config.mesh_wide else None
    if current is not None and (current == (target == base.NATIVE)):
        return []
    old = "unset" if current is None else str(current).lower()
    return [
        MeshConfigChange(
            NAME,
            "ASMMeshConfig",
            None,
            MESH_CONFIG_NAME,
            old,
            mode_value(target),
            config.context,
            resource_version=config.payload,
        )
    ]


def lease_namespace(config):
    # ASMMeshConfig is cluster-scoped; every ASM instance's API server has istio-system.
    return "istio-system"


desired_after_switch = base.pinned_or_target
control_plane_problems = base.no_problems
override_ignored = base.never_ignored
