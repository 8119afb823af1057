"""Reading what decides each pod's desired mode: the mesh's config objects (ASMMeshConfig,
istiod Deployments, linkerd-config and namespace annotations, Consul's connect-injector
Deployment) and the nodes' kubelet versions.

A fixed handful of requests whatever the cluster's size; meshconfig.py interprets the objects.
"""

from collections import Counter

from kubectl_sidecar import meshconfig, resources
from kubectl_sidecar.errors import ApiError, unless_forbidden


def read_mesh_config(cluster, mesh_cluster, mesh, rows):
    """The MeshConfig for --mesh (auto: the first of ASM, Istio, Linkerd, Consul whose config
    exists; the mesh most of the pods belong to first)."""
    if mesh == "asm":
        return _read_asm(mesh_cluster)
    if mesh == "istio":
        return _read_istio(cluster)
    if mesh == "linkerd":
        return _read_linkerd(cluster)
    if mesh == "consul":
        return _read_consul(cluster)
    families = Counter(row.family for row in rows if row.family)
    order = [_read_asm, _read_istio, _read_linkerd, _read_consul]
    # An ASMMeshConfig or istiod left over in a cluster whose pods run another mesh must not
    # decide their mode.
    first = {"linkerd": _read_linkerd, "consul": _read_consul}.get(
        families.most_common(1)[0][0] if families else None
    )
    if first is not None:
        order = [first] + [reader for reader in order if reader is not first]
    notes = []
    for reader in order:
        target = mesh_cluster if reader is _read_asm else cluster
        try:
            config = reader(target, quiet=True)
        except ApiError as error:
            if error.status not in (401, 403):
                raise
            notes.append(error.message)
            continue
        if config is not None:
            return config
    reason = (
        "no mesh configuration found (ASMMeshConfig/default, istiod, linkerd-config, "
        f"Consul's connect-injector {meshconfig.CONSUL_INJECTOR_SELECTOR}); "
        "on ASM it is on the ASM instance's API server: pass --mesh-context"
    )
    if notes:
        reason += "; could not read: " + "; ".join(notes)
    return meshconfig.no_mesh(reason)


def _read_asm(mesh_cluster, quiet=False):
    obj = mesh_cluster.get(resources.ASM_MESH_CONFIGS, meshconfig.ASM_NAME)
    if obj is None and quiet:
        return None
    return meshconfig.asm_config(obj, mesh_cluster.context)


def _read_istio(cluster, quiet=False):
    deployments = _istiod_deployments(cluster)
    if not deployments and quiet:
        return None
    kubelets = None
    if meshconfig.istiod_needs_kubelets(deployments):
        kubelets = node_kubelet_versions(cluster)
    config = meshconfig.istio_config(deployments, kubelets, cluster.context)
    if not deployments:
        config.warnings.append("no istiod Deployment (label app=istiod) found")
    return config


def _istiod_deployments(cluster):
    everywhere = unless_forbidden(
        lambda: cluster.list_all(resources.DEPLOYMENTS, None, selector="app=istiod")
    )
    if everywhere is not None:
        return everywhere
    # Users without cluster-wide read may still read the usual control-plane namespaces.
    found = []
    for namespace in ("istio-system", "aks-istio-system"):
        found += unless_forbidden(
            lambda ns=namespace: cluster.list_all(resources.DEPLOYMENTS, ns, selector="app=istiod"),
            fallback=[],
        )
    return found


def node_kubelet_versions(cluster):
    """{node: kubelet version}, or None when nodes can't be listed."""
    nodes = unless_forbidden(lambda: cluster.list_all(resources.NODES))
    if nodes is None:
        return None
    return {
        (node.get("metadata") or {}).get("name"): (
            (node.get("status") or {}).get("nodeInfo") or {}
        ).get("kubeletVersion", "")
        for node in nodes
    }


def _read_linkerd(cluster, quiet=False):
    config_map = cluster.get(resources.CONFIGMAPS, "linkerd-config", "linkerd")
    if config_map is None and quiet:
        return None
    namespaces = unless_forbidden(
        lambda: cluster.list_all(resources.NAMESPACES, metadata_only=True), fallback=[]
    )
    return meshconfig.linkerd_config(config_map, namespaces, cluster.context)


# The consul Helm chart's usual release namespace, read when Deployments can't be listed
# cluster-wide.
CONSUL_NAMESPACES = ("consul",)


def _read_consul(cluster, quiet=False):
    labelled = _consul_injector_deployments(cluster)
    # The label alone may match another chart's component: the injector is the one that
    # runs `inject-connect`. Without one, --mesh consul still names what it found.
    injectors = [d for d in labelled if meshconfig.consul_injector_container(d) is not None]
    if not injectors and quiet:
        return None
    chosen = (injectors or labelled or [None])[0]
    config = meshconfig.consul_config(chosen, cluster.context)
    if len(injectors) > 1:
        names = ", ".join(_deployment_name(d) for d in injectors)
        config.warnings.append(
            f"more than one Consul connect-injector ({names}); {_deployment_name(chosen)} decides"
        )
    return config


def _consul_injector_deployments(cluster):
    """Deployments labelled as Consul's connect-injector, in the API's order (namespace, then
    name)."""
    selector = meshconfig.CONSUL_INJECTOR_SELECTOR
    everywhere = unless_forbidden(
        lambda: cluster.list_all(resources.DEPLOYMENTS, None, selector=selector)
    )
    if everywhere is not None:
        return everywhere
    # Users without cluster-wide read may still read the chart's usual namespace.
    found = []
    for namespace in CONSUL_NAMESPACES:
        found += unless_forbidden(
            lambda ns=namespace: cluster.list_all(resources.DEPLOYMENTS, ns, selector=selector),
            fallback=[],
        )
    return found


def _deployment_name(deployment):
    metadata = deployment.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"
