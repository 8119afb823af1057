"""meshread against a FakeCluster: which objects are read for each --mesh, and the fallbacks."""

from kubectl_sidecar import meshread
from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.errors import ApiError
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.test_meshes_consul import FLAG, argv_injector, helm_injector
from tests.unit.test_meshes_istio import istiod

WHERE = "Deployment consul/consul-connect-injector"


class NamespacedOnly(FakeCluster):
    """A user who may list Deployments in some namespaces but not cluster-wide."""

    def __init__(self, objects, readable):
        super().__init__(objects)
        self.readable = set(readable)

    def list_items(
        self, resource, namespace=None, selector=None, metadata_only=False, field_selector=None
    ):
        if resource.kind == "Deployment" and namespace not in self.readable:
            self.reads.append(("list", resource.kind, namespace, selector))
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            raise ApiError(
                403,
                "Forbidden",
                f'deployments.apps is forbidden: User "dev" cannot '
                f'list resource "deployments"{where}',
            )
        return super().list_items(resource, namespace, selector, metadata_only, field_selector)


def elsewhere(deployment, namespace):
    deployment["metadata"]["namespace"] = namespace
    return deployment


def consul_rows(count=2):
    return [classify_pod(pods.consul_k8s("traditional", name=f"web-{i}")) for i in range(count)]


def test_mesh_consul_reads_the_labelled_injector_in_any_namespace():
    injector = elsewhere(helm_injector(f"-{FLAG}=true \\\n"), "hashicorp")
    cluster = FakeCluster({"Deployment": [injector]}, context="prod")
    config = meshread.read_mesh_config(cluster, cluster, "consul", [])
    assert config.name == "consul" and config.context == "prod"
    assert config.mesh_wide.mode == "native"
    assert config.mesh_wide.source == (
        f"Deployment hashicorp/consul-connect-injector arg -{FLAG}=true"
    )
    assert config.payload.injector == ("hashicorp", "consul-connect-injector", "sidecar-injector")
    assert cluster.reads == [("list", "Deployment", None, "component=connect-injector")]


def test_mesh_consul_falls_back_to_the_consul_namespace_when_listing_everywhere_is_forbidden():
    cluster = NamespacedOnly(
        {"Deployment": [helm_injector(f"-{FLAG}=true \\\n")]}, readable={"consul"}
    )
    config = meshread.read_mesh_config(cluster, cluster, "consul", [])
    assert config.mesh_wide.mode == "native"
    assert [read[2] for read in cluster.reads] == [None, "consul"]


def test_mesh_consul_without_an_injector_says_what_it_looked_for():
    # Another chart's component with the same label: it runs no inject-connect.
    other = argv_injector()
    other["spec"]["template"]["spec"]["containers"][0]["args"] = ["serve"]
    for objects, source in [
        ({}, "no consul-k8s connect-injector Deployment (component=connect-injector) found"),
        ({"Deployment": [other]}, f"{WHERE} runs no `consul-k8s-control-plane inject-connect`"),
    ]:
        config = meshread.read_mesh_config(FakeCluster(objects), None, "consul", [])
        assert config.name == "consul" and config.mesh_wide.native is None
        assert config.mesh_wide.source == source


def test_more_than_one_injector_is_a_warning_naming_the_one_that_decides():
    cluster = FakeCluster({"Deployment": [helm_injector(), elsewhere(helm_injector(), "consul-b")]})
    config = meshread.read_mesh_config(cluster, cluster, "consul", [])
    assert (
        "more than one Consul connect-injector (consul/consul-connect-injector, "
        "consul-b/consul-connect-injector); consul/consul-connect-injector decides"
    ) in config.warnings


def test_auto_reads_consul_first_when_most_pods_are_consul():
    # A leftover istiod must not decide the mode of Consul pods.
    cluster = FakeCluster(
        {"Deployment": [istiod("true", image="pilot:1.24.0"), helm_injector(f"-{FLAG}=true \\\n")]}
    )
    config = meshread.read_mesh_config(cluster, cluster, "auto", consul_rows())
    assert config.name == "consul" and config.mesh_wide.mode == "native"
    assert cluster.reads[0] == ("list", "Deployment", None, "component=connect-injector")
    istio_first = meshread.read_mesh_config(
        cluster, cluster, "auto", [classify_pod(pods.istio("native"))]
    )
    assert istio_first.name == "istio"


def test_auto_finds_consul_after_the_others_and_ignores_a_look_alike():
    cluster = FakeCluster({"Deployment": [helm_injector()]})
    assert meshread.read_mesh_config(cluster, cluster, "auto", []).name == "consul"
    look_alike = argv_injector()
    look_alike["spec"]["template"]["spec"]["containers"][0]["args"] = ["serve"]
    nothing = FakeCluster({"Deployment": [look_alike]})
    config = meshread.read_mesh_config(nothing, nothing, "auto", consul_rows())
    assert config.name == "none"
    assert "Consul's connect-injector component=connect-injector" in config.mesh_wide.source


def test_auto_when_deployments_are_forbidden_everywhere_says_so():
    cluster = FakeCluster({}, refuse={"Deployment", "ASMMeshConfig", "ConfigMap"})
    config = meshread.read_mesh_config(cluster, cluster, "auto", consul_rows())
    assert config.name == "none"
    assert "could not read" in config.mesh_wide.source
    # Consul's first (the pods are Consul's), then istiod's, then Kuma's control plane's:
    # cluster-wide, then each usual namespace.
    assert [read[2] for read in cluster.reads if read[1] == "Deployment"] == [
        None,
        "consul",
        None,
        "istio-system",
        "aks-istio-system",
        None,
        "kuma-system",
    ]
