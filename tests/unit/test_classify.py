import pytest

from kubectl_sidecar.classify import classify_pod, find_proxy, parse_bool
from tests.unit import pods


@pytest.mark.parametrize("make, proxy, family", [
    (pods.istio, "istio-proxy", "istio"),
    (pods.linkerd, "linkerd-proxy", "linkerd"),
    (pods.kuma, "kuma-sidecar", "kuma"),
    (pods.consul, "consul-dataplane", "consul"),
])
@pytest.mark.parametrize("mode", ["native", "traditional"])
def test_each_mesh_injection_is_classified_by_where_its_proxy_runs(make, proxy, family, mode):
    assert find_proxy(make(mode)) == (proxy, family, mode)


def test_istio_cni_validation_helper_is_not_mistaken_for_the_proxy():
    assert find_proxy(pods.istio("traditional", cni=True))[2] == "traditional"
    assert find_proxy(pods.istio("native", cni=True))[2] == "native"


def test_pod_without_a_proxy_is_none_even_with_mesh_helper_init_containers():
    pod = pods.pod(init_containers=[{"name": "istio-init"}, {"name": "linkerd-init"}])
    assert find_proxy(pod) == (None, None, "none")


def test_names_that_only_look_like_a_proxy_are_not_one():
    pod = pods.pod(containers=[{"name": "app"}, {"name": "istio-proxy-exporter"},
                               {"name": "my-envoy"}, {"name": "linkerd-proxy-metrics"}])
    assert find_proxy(pod)[2] == "none"


def test_proxy_init_container_without_restart_policy_always_is_invalid_not_native():
    broken = pods.with_init_restart_policy_stripped(pods.istio("native"))
    row = classify_pod(broken)
    assert row.mode == "invalid"
    assert "restartPolicy: Always" in row.problems[0]


def test_proxy_listed_in_both_places_counts_as_native_when_the_init_entry_is_restartable():
    pod = pods.istio("native")
    pod["spec"]["containers"].append({"name": "istio-proxy", "image": "proxyv2"})
    assert find_proxy(pod)[2] == "native"


def test_proxy_listed_in_both_places_with_a_plain_init_entry_is_invalid():
    pod = pods.istio("traditional")
    pod["spec"]["initContainers"].append({"name": "istio-proxy", "image": "proxyv2"})
    assert find_proxy(pod)[2] == "invalid"


def test_gateway_pod_whose_only_container_is_the_proxy_is_a_gateway():
    assert find_proxy(pods.istio_gateway())[2] == "gateway"


def test_gateway_detected_by_router_args_even_with_a_second_container():
    gateway = pods.istio_gateway(labels={})
    gateway["spec"]["containers"].append({"name": "config-reloader"})
    assert find_proxy(gateway)[2] == "gateway"


def test_plain_envoy_is_a_proxy_only_with_a_mesh_mark():
    contour = pods.pod(containers=[{"name": "shutdown-manager"}, {"name": "envoy"}])
    assert find_proxy(contour)[2] == "none"
    osm = pods.pod(containers=[{"name": "app"}, {"name": "envoy"}],
                   init_containers=[{"name": "osm-init"}])
    assert find_proxy(osm) == ("envoy", "envoy", "traditional")


def test_extra_proxy_name_from_the_command_line():
    pod = pods.pod(containers=[{"name": "app"}, {"name": "mesh-agent"}])
    assert find_proxy(pod)[2] == "none"
    assert find_proxy(pod, {"mesh-agent": "custom"}) == ("mesh-agent", "custom", "traditional")


def test_row_keeps_owner_node_revision_and_override():
    pod = pods.istio("traditional", revision="canary", owner=("ReplicaSet", "cart-7d9c"),
                     annotations={"sidecar.istio.io/nativeSidecar": "false"})
    row = classify_pod(pod)
    assert (row.namespace, row.name, row.node) == ("shop", "app-7d9c-abcde", "node-1")
    assert row.owner == ("ReplicaSet", "cart-7d9c")
    assert row.revision == "canary"
    assert (row.override, row.override_annotation) == (False, "sidecar.istio.io/nativeSidecar")


def test_istio_rev_label_wins_over_the_status_annotation():
    row = classify_pod(pods.istio("native", revision="default", labels={"istio.io/rev": "1-27"}))
    assert row.revision == "1-27"


def test_linkerd_override_annotation_variants_are_read():
    row = classify_pod(pods.linkerd(
        "traditional", annotations={"config.alpha.linkerd.io/proxy-enable-native-sidecar": "true"}))
    assert row.override is True


def test_job_pod_whose_app_exited_while_the_traditional_proxy_runs_is_flagged():
    stuck = pods.istio("traditional", owner=("Job", "migrate"),
                       statuses=[pods.terminated("app"), pods.running("istio-proxy")])
    row = classify_pod(stuck)
    assert row.stuck_job
    assert "proxy keeps the pod running" in row.problems[0]


@pytest.mark.parametrize("statuses, owner", [
    ([pods.running("app"), pods.running("istio-proxy")], ("Job", "migrate")),
    ([pods.terminated("app"), pods.running("istio-proxy")], ("ReplicaSet", "cart-1")),
    ([], ("Job", "migrate")),
])
def test_job_pods_still_working_or_not_jobs_are_not_flagged(statuses, owner):
    row = classify_pod(pods.istio("traditional", owner=owner, statuses=statuses))
    assert not row.stuck_job and row.problems == []


@pytest.mark.parametrize("text, value", [
    ("true", True), ("True", True), ("1", True), ("false", False), ("F", False),
    ("yes", None), ("", None),
])
def test_parse_bool_reads_annotation_values_like_go(text, value):
    assert parse_bool(text) is value
