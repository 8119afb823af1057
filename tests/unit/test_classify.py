import pytest

from kubectl_sidecar.classify import classify_pod, find_proxy, parse_bool
from kubectl_sidecar.refs import WorkloadRef
from tests.unit import pods


@pytest.mark.parametrize(
    "make, proxy, family",
    [
        (pods.istio, "istio-proxy", "istio"),
        (pods.linkerd, "linkerd-proxy", "linkerd"),
        (pods.kuma, "kuma-sidecar", "kuma"),
        (pods.consul, "consul-dataplane", "consul"),
    ],
)
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
    pod = pods.pod(
        containers=[
            {"name": "app"},
            {"name": "istio-proxy-exporter"},
            {"name": "my-envoy"},
            {"name": "linkerd-proxy-metrics"},
        ]
    )
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
    osm = pods.pod(
        containers=[{"name": "app"}, {"name": "envoy"}], init_containers=[{"name": "osm-init"}]
    )
    assert find_proxy(osm) == ("envoy", "envoy", "traditional")


def test_extra_proxy_name_from_the_command_line():
    pod = pods.pod(containers=[{"name": "app"}, {"name": "mesh-agent"}])
    assert find_proxy(pod)[2] == "none"
    assert find_proxy(pod, {"mesh-agent": "custom"}) == ("mesh-agent", "custom", "traditional")


def test_row_keeps_owner_node_revision_and_override():
    pod = pods.istio(
        "traditional",
        revision="canary",
        owner=("ReplicaSet", "cart-7d9c"),
        annotations={"sidecar.istio.io/nativeSidecar": "false"},
    )
    row = classify_pod(pod)
    assert (row.namespace, row.name, row.node) == ("shop", "app-7d9c-abcde", "node-1")
    assert row.owner == WorkloadRef("ReplicaSet", "shop", "cart-7d9c")
    assert row.revision == "canary"
    assert (row.override, row.override_annotation) == (False, "sidecar.istio.io/nativeSidecar")


def test_istio_rev_label_wins_over_the_status_annotation():
    row = classify_pod(pods.istio("native", revision="default", labels={"istio.io/rev": "1-27"}))
    assert row.revision == "1-27"


def test_linkerd_override_annotation_variants_are_read():
    row = classify_pod(
        pods.linkerd(
            "traditional",
            annotations={"config.alpha.linkerd.io/proxy-enable-native-sidecar": "true"},
        )
    )
    assert row.override is True


def test_every_mode_annotation_of_the_pod_is_kept_in_the_meshs_reading_order():
    row = classify_pod(
        pods.linkerd(
            "traditional",
            annotations={
                "config.alpha.linkerd.io/proxy-enable-native-sidecar": "true",
                "config.linkerd.io/proxy-enable-native-sidecar": "yes",
            },
        )
    )
    assert row.mode_annotations == (
        ("config.linkerd.io/proxy-enable-native-sidecar", "yes"),
        ("config.alpha.linkerd.io/proxy-enable-native-sidecar", "true"),
    )
    # The first key present decides, even with a value Go refuses.
    assert (row.override, row.override_annotation) == (
        None,
        "config.linkerd.io/proxy-enable-native-sidecar",
    )
    assert classify_pod(pods.linkerd("traditional")).mode_annotations is None


def test_job_pod_whose_app_exited_while_the_traditional_proxy_runs_is_flagged():
    stuck = pods.istio(
        "traditional",
        owner=("Job", "migrate"),
        statuses=[pods.terminated("app"), pods.running("istio-proxy")],
    )
    row = classify_pod(stuck)
    assert row.stuck_job
    assert "proxy keeps the pod running" in row.problems[0]


@pytest.mark.parametrize(
    "statuses, owner",
    [
        ([pods.running("app"), pods.running("istio-proxy")], ("Job", "migrate")),
        ([pods.terminated("app"), pods.running("istio-proxy")], ("ReplicaSet", "cart-1")),
        ([], ("Job", "migrate")),
    ],
)
def test_job_pods_still_working_or_not_jobs_are_not_flagged(statuses, owner):
    row = classify_pod(pods.istio("traditional", owner=owner, statuses=statuses))
    assert not row.stuck_job and row.problems == []


@pytest.mark.parametrize(
    "text, value",
    [
        # Go's strconv.ParseBool accepts exactly these twelve spellings...
        ("1", True),
        ("t", True),
        ("T", True),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("0", False),
        ("f", False),
        ("F", False),
        ("false", False),
        ("FALSE", False),
        ("False", False),
        # ...and refuses everything else: other cases, yes/on, and any surrounding space.
        ("tRUE", None),
        ("yes", None),
        ("on", None),
        ("", None),
        (" true", None),
        ("true ", None),
        ("\tfalse", None),
        ("false\n", None),
        (" 1 ", None),
    ],
)
def test_parse_bool_reads_annotation_values_like_go(text, value):
    assert parse_bool(text) is value


# --- each injector's exact output (consul-k8s, App Mesh controller, Kuma) -------------------

MIGRATE = {"name": "migrate", "image": "registry.example/migrate:1.0"}


@pytest.mark.parametrize(
    "pod, expected",
    [
        # consul-k8s 1.9+ (and 1.6.9/1.7.5/1.8.2): the user's init containers come first.
        (
            pods.consul_k8s("native", user_init_containers=[MIGRATE]),
            ("consul-dataplane", "consul", "native"),
        ),
        (pods.consul_k8s("traditional"), ("consul-dataplane", "consul", "traditional")),
        (
            pods.consul_k8s("traditional", lifecycle=False),
            ("consul-dataplane", "consul", "traditional"),
        ),
        # Multi-port: one consul-connect-inject-init-<svc> and consul-dataplane-<svc> per service.
        (
            pods.consul_k8s("native", services=["web", "admin"]),
            ("consul-dataplane-web", "consul", "native"),
        ),
        (
            pods.consul_k8s("traditional", services=["web", "admin"]),
            ("consul-dataplane-web", "consul", "traditional"),
        ),
        # Before 1.0 the proxy was envoy-sidecar (before 0.24 consul-connect-envoy-sidecar).
        (pods.consul_before_1_0(), ("envoy-sidecar", "consul", "traditional")),
        (pods.consul_before_1_0(metrics_merging=False), ("envoy-sidecar", "consul", "traditional")),
        (pods.consul_before_0_24(), ("consul-connect-envoy-sidecar", "consul", "traditional")),
        # App Mesh virtual node: proxyinit + envoy, or with the App Mesh CNI no init container.
        (pods.appmesh(), ("envoy", "envoy", "traditional")),
        (pods.appmesh(wait_until_proxy_ready=True, xray=True), ("envoy", "envoy", "traditional")),
        (pods.appmesh(cni=True, xray=True), ("envoy", "envoy", "traditional")),
        # App Mesh virtual gateway: envoy is the workload, also beside an xray-daemon.
        (pods.appmesh_virtual_gateway(), ("envoy", "envoy", "gateway")),
        (pods.appmesh_virtual_gateway(xray=True), ("envoy", "envoy", "gateway")),
        (pods.appmesh_virtual_gateway(xray=True, legacy_env=True), ("envoy", "envoy", "gateway")),
        # Kuma: native puts kuma-init and kuma-sidecar before the user's init containers.
        (
            pods.kuma_k8s("native", user_init_containers=[MIGRATE]),
            ("kuma-sidecar", "kuma", "native"),
        ),
        (
            pods.kuma_k8s("traditional", user_init_containers=[MIGRATE]),
            ("kuma-sidecar", "kuma", "traditional"),
        ),
    ],
    ids=lambda value: None if isinstance(value, dict) else "-".join(value),
)
def test_injections_shaped_like_each_injector_output(pod, expected):
    assert find_proxy(pod) == expected


def test_consul_native_needs_restart_policy_always_like_any_other_mesh():
    stripped = pods.with_init_restart_policy_stripped(
        pods.consul_k8s("native", user_init_containers=[MIGRATE])
    )
    assert find_proxy(stripped) == ("consul-dataplane", "consul", "invalid")


def test_consul_override_annotation_is_recorded():
    row = classify_pod(
        pods.consul_k8s(
            "native",
            annotations={"consul.hashicorp.com/enable-consul-dataplane-as-sidecar": "true"},
        )
    )
    assert (row.override, row.override_annotation) == (
        True,
        "consul.hashicorp.com/enable-consul-dataplane-as-sidecar",
    )


def without_consul_annotation(pod):
    pod["metadata"]["annotations"].pop("consul.hashicorp.com/connect-inject-status")
    return pod


@pytest.mark.parametrize(
    "pod",
    [
        # consul-k8s marks its pods with both; either one is enough.
        without_consul_annotation(pods.consul_before_1_0()),
        pods.consul_before_1_0(labels={}),
    ],
)
def test_either_consul_mark_is_enough(pod):
    assert find_proxy(pod)[:2] == ("envoy-sidecar", "consul")


def envoy_named(name, **container):
    return pods.pod(containers=[{"name": "app"}, {"name": name, **container}])


@pytest.mark.parametrize(
    "pod",
    [
        # Ingress controllers whose main container is plain envoy: the app, not a sidecar.
        pods.contour_envoy(),
        pods.envoy_gateway_proxy(),
        # A user container that happens to be called envoy-sidecar, without Consul's mark.
        pods.consul_before_1_0(marked=False),
        envoy_named("envoy-sidecar"),
        envoy_named("consul-connect-envoy-sidecar"),
        envoy_named("consul-dataplane-web"),
        envoy_named("envoy-sidecar-web"),
        pods.pod(
            containers=[{"name": "app"}, {"name": "envoy-sidecar"}],
            annotations={"consul.hashicorp.com/connect-inject-status": "pending"},
        ),
        # Consul's and App Mesh's helpers are never the proxy, whatever else the pod carries.
        pods.pod(
            containers=[{"name": "app"}, {"name": "consul-sidecar"}],
            init_containers=[{"name": "copy-consul-bin"}, {"name": "consul-connect-inject-init"}],
            annotations=pods.CONSUL_INJECTED,
        ),
        pods.pod(
            containers=[{"name": "app"}, {"name": "consul-connect-lifecycle-sidecar"}],
            annotations=pods.CONSUL_INJECTED,
        ),
        pods.pod(
            containers=[
                {"name": "app"},
                {"name": "xray-daemon", "env": [{"name": "AWS_REGION", "value": "us-west-2"}]},
            ],
            init_containers=[{"name": "proxyinit"}],
        ),
        # An envoy whose environment merely looks alike: App Mesh's mark is an APPMESH_ variable.
        envoy_named("envoy", env=[{"name": "ENVOY_APPMESH_MODE", "value": "1"}]),
    ],
    ids=[
        "contour",
        "envoy-gateway",
        "consul-0.49-unmarked",
        "envoy-sidecar",
        "consul-connect-envoy-sidecar",
        "consul-dataplane-web",
        "envoy-sidecar-web",
        "consul-mark-not-injected",
        "consul-sidecar",
        "consul-lifecycle-sidecar",
        "xray-daemon",
        "envoy-lookalike-env",
    ],
)
def test_what_must_not_count_as_a_proxy(pod):
    assert find_proxy(pod) == (None, None, "none")


def test_marked_consul_pod_with_only_helpers_left_is_none():
    # e.g. a pod whose envoy-sidecar a later webhook or a kubectl edit removed.
    pod = pods.consul_before_1_0()
    containers = pod["spec"]["containers"]
    pod["spec"]["containers"] = [c for c in containers if c["name"] != "envoy-sidecar"]
    assert find_proxy(pod) == (None, None, "none")


def test_appmesh_mark_on_the_container_alone_is_enough():
    # No proxyinit, no appmesh.k8s.aws/ annotation: only the container's own environment.
    pod = envoy_named(
        "envoy",
        env=[{"name": "APPMESH_VIRTUAL_NODE_NAME", "value": "mesh/m/virtualNode/cart_shop"}],
    )
    assert find_proxy(pod) == ("envoy", "envoy", "traditional")


# --- Istio ambient: in the mesh without a sidecar ----------------------------------------------

REDIRECTED = {"ambient.istio.io/redirection": "enabled"}
AMBIENT_LABEL = {"istio.io/dataplane-mode": "ambient"}


def test_a_pod_istio_cni_redirected_is_ambient_in_istios_mesh():
    row = classify_pod(pods.pod(annotations=REDIRECTED, labels=AMBIENT_LABEL))
    assert (row.mode, row.proxy, row.family, row.ambient) == (
        "ambient",
        None,
        "istio",
        "redirected",
    )
    assert row.problems == []


@pytest.mark.parametrize(
    "marks",
    [{"annotations": REDIRECTED}, {"labels": AMBIENT_LABEL}],
    ids=["redirected", "labelled"],
)
@pytest.mark.parametrize("mode", ["native", "traditional"])
def test_a_sidecar_wins_over_ambient_enrolment(mode, marks):
    row = classify_pod(pods.istio(mode, **marks))
    assert (row.mode, row.proxy, row.ambient) == (mode, "istio-proxy", "sidecar wins")


def test_a_pod_labelled_for_ambient_but_not_redirected_says_so_and_stays_none():
    row = classify_pod(pods.pod(labels=AMBIENT_LABEL))
    assert (row.mode, row.ambient) == ("none", "not redirected")
    assert row.problems == ["labelled for ambient but not redirected: is istio-cni running?"]


@pytest.mark.parametrize(
    "annotations, labels",
    [
        ({"ambient.istio.io/redirection": "disabled"}, {}),
        ({}, {"istio.io/dataplane-mode": "none"}),
        ({}, {}),
    ],
)
def test_a_pod_neither_redirected_nor_asking_for_ambient_is_none(annotations, labels):
    row = classify_pod(pods.pod(annotations=annotations, labels=labels))
    assert (row.mode, row.ambient, row.problems) == ("none", None, [])


def test_the_pods_own_dataplane_label_decides_over_its_namespaces():
    from kubectl_sidecar.classify import ambient_label

    assert ambient_label({}, AMBIENT_LABEL) == "istio"
    assert ambient_label({"istio.io/dataplane-mode": "none"}, AMBIENT_LABEL) is None
    assert ambient_label(AMBIENT_LABEL, {}) == "istio"
    assert ambient_label({}, {"istio.io/dataplane-mode": "none"}) is None
