"""Reading what decides each pod's desired mode: the config of the mesh named by --mesh, or
of the first one found (meshes/registry.py's detection order), and the nodes' kubelet
versions.

A fixed handful of requests whatever the cluster's size; each mesh module reads and
interprets its own objects.
"""

from collections import Counter

from kubectl_sidecar import owners
from kubectl_sidecar.errors import ApiError
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import no_mesh
from kubectl_sidecar.meshes.reading import argocd_applications, node_kubelet_versions

__all__ = ["node_kubelet_versions", "read_mesh_config"]


def read_mesh_config(cluster, mesh_cluster, mesh, rows):
    """The MeshConfig for --mesh (auto: the first control plane whose config exists, in
    registry.detection_order), its owners told as a switch tells them (with_argocd_owners)."""
    return with_argocd_owners(_read_mesh_config(cluster, mesh_cluster, mesh, rows), cluster)


def with_argocd_owners(config, cluster):
    """An object labelled `app.kubernetes.io/instance` is Argo CD 2.x's only when an
    Application of that name exists (owners.py): where one of the config's objects is
    labelled so, the Applications are listed (once, the list where switch lists them: none
    where the CRD is absent or they may not be read) and its owner detected again, so status's
    summary names the owner a switch would refuse for, not the Helm release under it."""
    if not owners.needs_argocd_applications(config.owned.values()):
        return config
    names = argocd_applications(cluster)
    config.argocd_applications = names
    config.owners = owners.with_argocd(config.owned, config.owners, names)
    return config


def _read_mesh_config(cluster, mesh_cluster, mesh, rows):
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
