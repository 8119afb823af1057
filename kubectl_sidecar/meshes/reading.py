"""Reads that several mesh modules share: the nodes' kubelet versions, and a control plane's
Deployments found by label. Through the cluster object handed in, never the API directly."""

import functools

from kubectl_sidecar import resources
from kubectl_sidecar.errors import ApiError, unless_forbidden


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


def labelled_deployments(cluster, selector, usual_namespaces):
    """Deployments matching `selector` in every namespace, in the API's order; for users
    without cluster-wide read, those in the control plane's usual namespaces."""
    everywhere = unless_forbidden(
        lambda: cluster.list_all(resources.DEPLOYMENTS, None, selector=selector)
    )
    if everywhere is not None:
        return everywhere
    found: list[dict] = []
    for namespace in usual_namespaces:
        found += unless_forbidden(
            functools.partial(
                cluster.list_all, resources.DEPLOYMENTS, namespace, selector=selector
            ),
            fallback=[],
        )
    return found


def deployment_name(deployment):
    metadata = deployment.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def containers(deployment):
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return template.get("containers") or ()


def argocd_applications(cluster):
    """Names of the Argo CD Applications on the cluster (a set, empty where Argo CD isn't
    installed or they can't be listed), for owners.detect."""
    try:
        listed = unless_forbidden(
            lambda: cluster.list_all(resources.ARGOCD_APPLICATIONS, None, metadata_only=True),
            fallback=[],
        )
    except ApiError as error:
        if error.not_found:  # no Application CRD: no Argo CD
            return frozenset()
        raise
    return frozenset((item.get("metadata") or {}).get("name") for item in listed)


def get_or_none(cluster, resource, name, namespace=None):
    """The object, or None where it (or its kind) doesn't exist or may not be read."""
    try:
        return unless_forbidden(lambda: cluster.get(resource, name, namespace))
    except ApiError as error:
        if error.not_found:
            return None
        raise
