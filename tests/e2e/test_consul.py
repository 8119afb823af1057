"""Consul through kubectl: consul-dataplane pods as consul-k8s injects them, in both modes.

The harness injector follows consul-k8s's (tests/harness/injectors/consul.py): the mode comes from
the pod's consul.hashicorp.com/enable-consul-dataplane-as-sidecar, else the injector Deployment's
-default-enable-consul-dataplane-as-sidecar flag. kubectl-sidecar does not read Consul's config
yet, so these tests assert MODE and PROXY only; DESIRED tests belong beside them once it does
(seed.consul_mesh(admin, native=...) flips the flag, seed.injected_mode says what Consul would
inject now, seed.consul_injector_flag reads back what a switch wrote).
"""
import pytest

from tests.harness import seed

NS = "consul-shop"
OPT_IN = {seed.CONSUL_INJECT: "true"}


def _spec_names(pod):
    spec = pod["spec"]
    return ([(c["name"], c.get("restartPolicy")) for c in spec.get("initContainers") or []],
            [c["name"] for c in spec["containers"]])


@pytest.fixture(scope="module")
def consul_pods(consul_mesh):
    """Injected while the flag said traditional: `web` (proxy lifecycle on: dataplane first),
    `legacy` (lifecycle off by annotation: dataplane last), `api` (native by annotation, after
    its own init container). Then the flag says native: `fresh`. `plain` never opted in."""
    admin = consul_mesh
    seed.namespace(admin, NS, injection=False)
    seed.deployment(admin, NS, "web", annotations=OPT_IN)
    seed.deployment(admin, NS, "legacy", replicas=1,
                    annotations={**OPT_IN, "consul.hashicorp.com/enable-sidecar-proxy-lifecycle": "false"})
    seed.deployment(admin, NS, "api", replicas=1, init_containers=["migrate"],
                    annotations={**OPT_IN, seed.CONSUL_AS_SIDECAR: "true"})
    seed.deployment(admin, NS, "plain", replicas=1)
    seed.wait_for_pods(admin, NS, 5)
    seed.consul_mesh(admin, native=True)
    assert seed.consul_injector_flag(admin) is True
    seed.deployment(admin, NS, "fresh", replicas=1, annotations=OPT_IN)
    seed.wait_for_pods(admin, NS, 6)
    yield {pod["metadata"]["labels"]["app"]: pod for pod in seed.pods(admin, NS)}
    seed.delete_namespace(admin, NS, wait=False)


def test_pods_have_consul_k8s_shapes(consul_pods):
    """The stand-in injects what consul-k8s does (so the classification below means something)."""
    assert _spec_names(consul_pods["web"]) == ([("consul-connect-inject-init", None)], ["consul-dataplane", "web"])
    assert _spec_names(consul_pods["legacy"]) == ([("consul-connect-inject-init", None)],
                                                  ["legacy", "consul-dataplane"])
    assert _spec_names(consul_pods["api"]) == (
        [("migrate", None), ("consul-connect-inject-init", None), ("consul-dataplane", "Always")], ["api"])
    assert _spec_names(consul_pods["fresh"]) == (
        [("consul-connect-inject-init", None), ("consul-dataplane", "Always")], ["fresh"])
    assert consul_pods["web"]["metadata"]["annotations"]["consul.hashicorp.com/connect-inject-status"] == "injected"
    assert _spec_names(consul_pods["plain"]) == ([], ["plain"])


def test_status_classifies_native_and_traditional_consul_dataplane(kubectl, consul_pods):
    report = kubectl.sidecar_json("status", "-n", NS)
    found = {}
    for item in report["items"]:
        found.setdefault(item["workload"]["name"], set()).add((item["proxy"], item["mode"]))
    assert found == {
        "web": {("consul-dataplane", "traditional")},
        "legacy": {("consul-dataplane", "traditional")},
        "api": {("consul-dataplane", "native")},
        "fresh": {("consul-dataplane", "native")},
        "plain": {(None, "none")},
    }
    assert report["summary"]["modes"]["native"] == 2
    assert report["summary"]["modes"]["traditional"] == 3
