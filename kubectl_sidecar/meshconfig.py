"""What mode the mesh would inject into each pod now, from its MeshConfig: a pure function.

Reading the config is meshread.py's job and each mesh module's (meshes/); this module only
decides, per pod, which setting applies.
"""

from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import Setting


def desired_setting(row, mesh):
    """The Setting that decides what the mesh would inject into this pod now."""
    if row.proxy is None and not row.lost:
        return Setting(None, "no mesh proxy")
    if row.fixed is not None:
        return row.fixed  # what the injector gives it whatever the config says
    if mesh.family == row.family:
        if mesh.native_supported is False:
            return mesh.mesh_wide  # a control plane without native mode ignores the annotation
        return registry.control_plane(mesh.name).setting_for(row, mesh)
    if row.override is not None:
        return Setting(row.override, f"pod annotation {row.override_annotation}")
    return Setting(None, f"no {row.family} mesh configuration read")
