"""cluster.Cluster's own contract against a real API server: a list's version, and a watch from it."""

import threading

from kubectl_sidecar import kubeconfig, resources
from tests.harness.api import resource_path


def config_map(name):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "data": {"a": "1"},
        "metadata": {"name": name, "labels": {"made-by": "test"}},
    }


def test_a_watch_from_a_lists_version_sees_exactly_what_came_after(
    control_plane, admin, fresh_namespace
):
    cluster = kubeconfig.connect(str(control_plane.kubeconfig), "admin")
    collection = resource_path("v1", "configmaps", namespace=fresh_namespace)
    admin.create(collection, config_map("before"))
    # The selector keeps out kube-root-ca.crt, which a controller adds to new namespaces.
    listing = cluster.list_items(resources.CONFIGMAPS, fresh_namespace, selector="made-by=test")
    assert [item["metadata"]["name"] for item in listing] == ["before"]
    assert listing.resource_version

    seen = []
    events = cluster.watch(
        resources.CONFIGMAPS,
        fresh_namespace,
        selector="made-by=test",
        resource_version=listing.resource_version,
        timeout_seconds=20,
    )
    threading.Timer(0.5, lambda: admin.create(collection, config_map("after"))).start()
    for kind, obj in events:
        if kind == "BOOKMARK":
            continue
        seen.append((kind, obj["metadata"]["name"]))
        if obj["metadata"]["name"] == "after":
            events.close()
    assert seen == [("ADDED", "after")]
