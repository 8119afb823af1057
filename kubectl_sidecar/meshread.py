"""Reading what decides each pod's desired mode: the config of the mesh named by --mesh, or
of the first one found (meshes/registry.py's detection order), and the nodes' kubelet
versions.

A fixed handful of requests whatever the cluster's size; each mesh module reads and
interprets its own objects.
"""

from collections import Counter

from kubectl_sidecar.errors import ApiError
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import no_mesh
from kubectl_sidecar.meshes.reading import node_kubelet_versions

__all__ = ["node_kubelet_versions", "read_mesh_config"]


def read_mesh_config(cluster, mesh_cluster, mesh, rows):
    """The MeshConfig for --mesh (auto: the first control plane whose config exists, in
    registry.detection_order)."""
    if mesh != "auto":
        plane = registry.control_plane(mesh)
        config = plane.read(cluster, mesh_cluster, quiet=True)
        if config is None:  # not installed: read again for the words that say so
            config = plane.read(cluster, mesh_cluster)
            config.found = False
        return config
    families = Counter(row.family for row in rows if row.family)
    notes = []
    for plane in registry.detection_order(families):
        try:
            config = plane.read(cluster, mesh_cluster, quiet=True)
        except ApiError as error:
            if not error.denied:
                raise
            notes.append(error.message)
            continue
        if config is not None:
            return config
    reason = registry.not_found_reason()
    if notes:
        reason += "; could not read: " + "; ".join(notes)
    return no_mesh(reason)
