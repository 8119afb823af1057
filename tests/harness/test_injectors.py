"""The stand-in injectors' decisions, table by table: they are what the e2e tier holds the plugin
to, so they are checked against the meshes' own rules here (no cluster needed)."""

import pytest

from tests.harness import seed
from tests.harness.injectors import consul, kuma, linkerd
from tests.harness.injectors.common import (
    BadFlag,
    Refused,
    container_argv,
    go_bool_flag,
    parse_bool,
)

STABLE, BETA, ALPHA = linkerd.NATIVE_KEYS


@pytest.mark.parametrize(
    "text,expected",
    [
        *[(word, True) for word in ("1", "t", "T", "TRUE", "true", "True")],
        *[(word, False) for word in ("0", "f", "F", "FALSE", "false", "False")],
        *[(word, None) for word in ("yes", "on", "no", "off", "tRUE", " true", "true ", "", "2")],
    ],
)
def test_parse_bool_is_gos_strconv_parsebool(text, expected):
    assert parse_bool(text) is expected


@pytest.mark.parametrize(
    "argv,expected",
    [
        ([], None),
        (["-x"], True),
        (["--x"], True),
        (["-x=false"], False),
        (["-x=true", "-x=0"], False),  # the last one wins
        (["-xy=true"], None),
        (["x=true"], None),
    ],
)
def test_go_bool_flag(argv, expected):
    assert go_bool_flag(argv, "x") is expected


def test_go_bool_flag_refuses_what_go_refuses():
    with pytest.raises(BadFlag):
        go_bool_flag(["-x=yes"], "x")


def test_flags_come_out_of_the_charts_shell_script():
    script = 'exec consul-k8s-control-plane inject-connect \\\n  -default-inject=false \\\n  -release-name="consul"\n'
    container = {"command": ["/bin/sh", "-ec", script]}
    assert container_argv(container) == [
        "exec",
        "consul-k8s-control-plane",
        "inject-connect",
        "-default-inject=false",
        "-release-name=consul",
    ]


# --- Linkerd ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pod,namespace,expected",
    [
        ({}, {}, False),
        ({}, {"linkerd.io/inject": "enabled"}, True),
        ({}, {"linkerd.io/inject": "ingress"}, True),
        ({"linkerd.io/inject": "disabled"}, {"linkerd.io/inject": "enabled"}, False),
        ({"linkerd.io/inject": "enabled"}, {}, True),
        ({"linkerd.io/inject": "enabled"}, {"linkerd.io/inject": "disabled"}, True),
        ({"linkerd.io/inject": "yes"}, {"linkerd.io/inject": "enabled"}, False),  # invalid value
    ],
)
def test_linkerd_opt_in(pod, namespace, expected):
    assert linkerd.wants_injection(pod, namespace) is expected


@pytest.mark.parametrize(
    "config,namespace,pod,expected",
    [
        (False, {}, {}, False),
        (True, {}, {}, True),
        (None, {}, {}, False),  # absent from the values: Go's zero value
        (False, {STABLE: "true"}, {}, True),
        (False, {ALPHA: "true"}, {}, True),
        (False, {BETA: "true"}, {}, False),  # not copied from namespaces since 2.20
        (True, {STABLE: "false"}, {STABLE: "true"}, True),  # the pod's own key wins
        (
            False,
            {STABLE: "true"},
            {ALPHA: "false"},
            True,
        ),  # the copied stable key outranks the pod's alpha
        (False, {}, {BETA: "true"}, True),
        (False, {}, {ALPHA: "true"}, True),
        (False, {}, {STABLE: "false", BETA: "true"}, False),  # stable first
        (
            True,
            {},
            {STABLE: "yes", ALPHA: "false"},
            True,
        ),  # invalid first key: default, later keys ignored
    ],
)
def test_linkerd_mode(config, namespace, pod, expected):
    values = {"proxy": {} if config is None else {"nativeSidecar": config}}
    assert linkerd.native_sidecar(values, linkerd.effective_annotations(pod, namespace)) is expected


@pytest.mark.parametrize(
    "release,config,namespace,pod,expected",
    [
        # 2.18 and older read only the alpha key, on pods and from namespaces.
        ("2.18", False, {STABLE: "true"}, {}, False),
        ("2.18", False, {BETA: "true"}, {}, False),
        ("2.18", False, {ALPHA: "true"}, {}, True),
        ("2.18", False, {}, {STABLE: "true", BETA: "true"}, False),
        ("2.18", False, {}, {ALPHA: "true"}, True),
        ("2.18", True, {ALPHA: "true"}, {ALPHA: "false"}, False),  # the pod's own key wins
        # 2.19 reads beta, then alpha, and copies both from a namespace.
        ("2.19", False, {STABLE: "true"}, {}, False),
        ("2.19", False, {BETA: "true"}, {}, True),
        ("2.19", False, {ALPHA: "true"}, {}, True),
        ("2.19", False, {}, {STABLE: "true"}, False),
        ("2.19", False, {BETA: "true"}, {ALPHA: "false"}, True),  # the copied beta comes first
        ("2.19", True, {ALPHA: "true"}, {BETA: "false"}, False),
        ("2.19", True, {}, {BETA: "yes", ALPHA: "false"}, True),  # invalid beta hides alpha
        # 2.20 reads stable, beta, alpha; copies stable and alpha.
        ("2.20", False, {BETA: "true"}, {}, False),
        ("2.20", False, {STABLE: "true"}, {BETA: "false"}, True),
    ],
)
def test_linkerd_mode_by_release(release, config, namespace, pod, expected):
    values = {"linkerdVersion": linkerd.VERSIONS[release], "proxy": {"nativeSidecar": config}}
    line = linkerd.release_of(values)
    assert line.name == release
    merged = linkerd.effective_annotations(pod, namespace, line)
    assert linkerd.native_sidecar(values, merged, line) is expected


@pytest.mark.parametrize(
    "version,release",
    [
        (None, "2.20"),  # without linkerdVersion: the 2.20 injector
        ("edge-23.11.4", "2.18"),
        ("edge-25.4.4", "2.18"),
        ("edge-25.10.1", "2.18"),
        ("edge-25.10.2", "2.19"),
        ("edge-26.5.1", "2.19"),
        ("edge-26.5.2", "2.20"),
        ("stable-2.15.1", "2.18"),
        ("version-2.19", "2.19"),
        ("version-2.20.0", "2.20"),
    ],
)
def test_linkerd_release_from_linkerd_version(version, release):
    values = {"linkerdVersion": version} if version else {}
    assert linkerd.release_of(values).name == release


@pytest.mark.parametrize("version", ["edge-23.11.3", "stable-2.14.10", "enterprise-2.18.0"])
def test_linkerd_releases_the_harness_does_not_model_are_refused(version):
    with pytest.raises(ValueError):
        linkerd.release_of({"linkerdVersion": version})


def test_linkerd_injects_by_the_release_in_linkerd_config():
    pod = _pod({"linkerd.io/inject": "enabled"})
    namespace = {STABLE: "true"}
    for release, native in (("2.18", False), ("2.19", False), ("2.20", True)):
        values = {"linkerdVersion": linkerd.VERSIONS[release], "proxy": {"nativeSidecar": False}}
        injected = linkerd.inject(pod, "ns", values, namespace)
        restart_policies = [c.get("restartPolicy") for c in injected["spec"]["initContainers"]]
        assert ("Always" in restart_policies) is native, release
        assert (
            injected["metadata"]["annotations"]["linkerd.io/proxy-version"]
            == (linkerd.VERSIONS[release])
        )


def _pod(annotations=None, init=()):
    return {
        "metadata": {"name": "p", "annotations": dict(annotations or {}), "labels": {"app": "p"}},
        "spec": {
            "initContainers": [{"name": n, "image": "i"} for n in init],
            "containers": [{"name": "app", "image": "i"}],
        },
    }


def _layout(pod):
    return (
        [(c["name"], c.get("restartPolicy")) for c in pod["spec"].get("initContainers") or []],
        [c["name"] for c in pod["spec"]["containers"]],
    )


def test_linkerd_native_layout_puts_init_and_proxy_before_the_users_init_containers():
    injected = linkerd.inject(
        _pod({"linkerd.io/inject": "enabled"}, ["setup"]),
        "ns",
        {"proxy": {"nativeSidecar": True, "await": True}},
        {},
    )
    assert _layout(injected) == (
        [("linkerd-init", None), ("linkerd-proxy", "Always"), ("setup", None)],
        ["app"],
    )
    assert injected["metadata"]["annotations"]["linkerd.io/proxy-version"]


@pytest.mark.parametrize(
    "wait,containers", [(True, ["linkerd-proxy", "app"]), (False, ["app", "linkerd-proxy"])]
)
def test_linkerd_traditional_layout(wait, containers):
    injected = linkerd.inject(
        _pod({}, ["setup"]), "ns", {"proxy": {"await": wait}}, {"linkerd.io/inject": "enabled"}
    )
    assert _layout(injected) == ([("setup", None), ("linkerd-init", None)], containers)
    # The namespace's opt-in is copied onto the pod, as Linkerd copies its config annotations.
    assert injected["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"


def test_linkerd_with_cni_validates_the_network_instead():
    injected = linkerd.inject(
        _pod({"linkerd.io/inject": "enabled"}), "ns", {"cniEnabled": True}, {}
    )
    assert _layout(injected)[0] == [("linkerd-network-validator", None)]


def test_linkerd_leaves_pods_with_a_proxy_alone():
    assert (
        linkerd.inject(_pod({"linkerd.io/inject": "enabled"}, ["istio-init"]), "ns", {}, {}) is None
    )


# --- Consul -------------------------------------------------------------------------------------

FLAGS = {
    consul.INJECT_FLAG: False,
    consul.LIFECYCLE_FLAG: True,
    consul.AS_SIDECAR_FLAG: False,
    consul.ALLOW_FLAG: {"*"},
    consul.DENY_FLAG: set(),
}
OPT_IN = {consul.INJECT: "true"}


@pytest.mark.parametrize(
    "annotations,flags,layout",
    [
        (
            OPT_IN,
            FLAGS,
            ([("setup", None), ("consul-connect-inject-init", None)], ["consul-dataplane", "app"]),
        ),
        (
            {**OPT_IN, consul.LIFECYCLE: "false"},
            FLAGS,
            ([("setup", None), ("consul-connect-inject-init", None)], ["app", "consul-dataplane"]),
        ),
        (
            {**OPT_IN, consul.AS_SIDECAR: "true"},
            FLAGS,
            (
                [
                    ("setup", None),
                    ("consul-connect-inject-init", None),
                    ("consul-dataplane", "Always"),
                ],
                ["app"],
            ),
        ),
        (
            OPT_IN,
            {**FLAGS, consul.AS_SIDECAR_FLAG: True},
            (
                [
                    ("setup", None),
                    ("consul-connect-inject-init", None),
                    ("consul-dataplane", "Always"),
                ],
                ["app"],
            ),
        ),
        (
            {**OPT_IN, consul.AS_SIDECAR: "false"},
            {**FLAGS, consul.AS_SIDECAR_FLAG: True},
            ([("setup", None), ("consul-connect-inject-init", None)], ["consul-dataplane", "app"]),
        ),
        (
            {**OPT_IN, consul.AS_SIDECAR: ""},
            {**FLAGS, consul.AS_SIDECAR_FLAG: True},  # empty: the default
            (
                [
                    ("setup", None),
                    ("consul-connect-inject-init", None),
                    ("consul-dataplane", "Always"),
                ],
                ["app"],
            ),
        ),
    ],
)
def test_consul_layouts(annotations, flags, layout):
    injected = consul.inject(_pod(annotations, ["setup"]), "ns", flags)
    assert _layout(injected) == layout
    assert injected["metadata"]["annotations"][consul.INJECT_STATUS] == "injected"


@pytest.mark.parametrize(
    "annotations,namespace",
    [
        ({}, "ns"),
        ({consul.INJECT: "false"}, "ns"),
        (OPT_IN, "kube-system"),
        ({**OPT_IN, consul.INJECT_STATUS: "injected"}, "ns"),
    ],
)
def test_consul_leaves_alone(annotations, namespace):
    assert consul.inject(_pod(annotations), namespace, FLAGS) is None


@pytest.mark.parametrize(
    "allow,deny,injects",
    [
        ({"*"}, set(), True),
        ({"ns"}, set(), True),
        ({"other"}, set(), False),
        (set(), set(), False),  # no -allow-k8s-namespace: nowhere
        ({"*"}, {"ns"}, False),  # deny wins
    ],
)
def test_consul_injects_only_in_the_namespaces_its_flags_allow(allow, deny, injects):
    flags = {**FLAGS, consul.ALLOW_FLAG: allow, consul.DENY_FLAG: deny}
    assert (consul.inject(_pod(OPT_IN), "ns", flags) is not None) is injects


def test_consul_injects_unannotated_pods_where_default_inject_is_on():
    flags = {**FLAGS, consul.INJECT_FLAG: True}
    assert consul.inject(_pod(), "ns", flags) is not None
    assert consul.inject(_pod({consul.INJECT: "false"}), "ns", flags) is None


def test_consul_refuses_an_invalid_mode_annotation_as_its_webhook_does():
    with pytest.raises(Refused):
        consul.inject(_pod({**OPT_IN, consul.AS_SIDECAR: "yes"}), "ns", FLAGS)


class _Recorder:
    """Just enough of Api for seed helpers that only write."""

    def __init__(self):
        self.objects = {}

    def apply(self, path, body):
        self.objects[f"{path}/{body['metadata']['name']}"] = body

    create = apply

    def get(self, path, missing_ok=False):
        return self.objects.get(path)


@pytest.mark.parametrize("native,lifecycle", [(True, True), (False, True), (None, False)])
def test_seeded_consul_injector_carries_its_flags_as_the_chart_renders_them(native, lifecycle):
    admin = _Recorder()
    seed.consul_mesh(admin, native=native, lifecycle=lifecycle)
    deployment = admin.objects[consul.INJECTOR]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["command"][:2] == [
        "/bin/sh",
        "-ec",
    ]
    assert seed.consul_injector_flag(admin) is native
    assert consul.injector_flags(deployment) == {
        consul.INJECT_FLAG: False,
        consul.LIFECYCLE_FLAG: lifecycle,
        consul.AS_SIDECAR_FLAG: bool(native),
        consul.ALLOW_FLAG: {"*"},
        consul.DENY_FLAG: set(),
    }


# --- Kuma -------------------------------------------------------------------------------------


def _kuma_control_plane(version, env=None):
    admin = _Recorder()
    seed.kuma_mesh(admin, native=env, version=version)
    return admin.objects[kuma.CONTROL_PLANE]


@pytest.mark.parametrize(
    "version,env,native",
    [
        ("2.6.3", True, False),  # no native mode before 2.7: the env means nothing
        ("2.7.0", None, False),
        ("2.13.0", None, False),
        ("2.13.0", True, True),
        ("2.13.0", False, False),
        ("2.14.0", None, True),  # 2.14: native by default
        ("2.14.3", False, False),  # ...and false still opts out
        ("3.0.0", False, True),  # after 2.14 the setting is gone: native always
    ],
)
def test_kuma_mode_follows_kuma_cps_release_and_env(version, env, native):
    assert kuma.sidecar_containers_enabled(_kuma_control_plane(version, env)) is native


def test_kuma_refuses_what_kuma_cp_would_not_start_with():
    deployment = _kuma_control_plane("2.13.0")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": kuma.ENV, "value": "yes"})
    with pytest.raises(Refused):
        kuma.sidecar_containers_enabled(deployment)
    container["image"] = "docker.io/kumahq/kuma-cp:latest"
    with pytest.raises(Refused):
        kuma.sidecar_containers_enabled(deployment)


KUMA_NS = {kuma.INJECTION: "enabled"}


@pytest.mark.parametrize(
    "native,layout",
    [
        (
            True,
            ([("kuma-init", None), ("kuma-sidecar", "Always"), ("setup", None)], ["app"]),
        ),
        (
            False,
            ([("setup", None), ("kuma-init", None)], ["kuma-sidecar", "app"]),
        ),
    ],
)
def test_kuma_layouts(native, layout):
    injected = kuma.inject(_pod(init=["setup"]), KUMA_NS, native, "2.13.0")
    assert _layout(injected) == layout
    assert injected["metadata"]["annotations"]["kuma.io/sidecar-injected"] == "true"
    sidecar = next(
        c
        for c in injected["spec"]["initContainers"] + injected["spec"]["containers"]
        if c["name"] == "kuma-sidecar"
    )
    assert sidecar["image"] == "docker.io/kumahq/kuma-dp:2.13.0"
    if native:
        assert sidecar["lifecycle"] == {
            "preStop": {"exec": {"command": ["killall", "-USR2", "kuma-dp"]}}
        }
        assert sidecar["startupProbe"]["httpGet"]["path"] == "/ready"
    else:
        assert "lifecycle" not in sidecar and "startupProbe" not in sidecar


@pytest.mark.parametrize(
    "pod_labels,namespace_labels,injects",
    [
        ({}, KUMA_NS, True),
        ({}, {kuma.INJECTION: "true"}, True),
        ({}, {}, False),
        ({kuma.INJECTION: "disabled"}, KUMA_NS, False),
        ({kuma.INJECTION: "enabled"}, {}, True),
        ({kuma.INJECTION: "yes"}, {kuma.INJECTION: "no"}, True),
        ({kuma.INJECTION: "false"}, {kuma.INJECTION: "true"}, False),
        # kuma-cp's default exception labels: OpenShift's build and deployer pods
        ({"openshift.io/build.name": "web-1"}, KUMA_NS, False),
        ({"openshift.io/deployer-pod-for.name": "web-1"}, KUMA_NS, False),
    ],
)
def test_kuma_opt_in(pod_labels, namespace_labels, injects):
    pod = _pod()
    pod["metadata"]["labels"] = pod_labels
    assert (kuma.inject(pod, namespace_labels, True, "2.13.0") is not None) is injects


def test_kuma_leaves_a_pod_with_kuma_sidecar_alone_and_refuses_a_bad_label():
    injected = kuma.inject(_pod(), KUMA_NS, False, "2.13.0")
    assert kuma.inject(injected, KUMA_NS, True, "2.13.0") is None
    pod = _pod()
    pod["metadata"]["labels"] = {kuma.INJECTION: "maybe"}
    with pytest.raises(Refused):
        kuma.inject(pod, KUMA_NS, True, "2.13.0")


def test_seeded_kuma_control_plane_is_found_as_the_chart_names_it():
    deployment = _kuma_control_plane("2.14.0", env=False)
    labels = deployment["metadata"]["labels"]
    assert (deployment["metadata"]["namespace"], deployment["metadata"]["name"]) == (
        "kuma-system",
        "kuma-control-plane",
    )
    assert labels["app"] == "kuma-control-plane" and labels["app.kubernetes.io/version"] == "2.14.0"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["name"] == "control-plane"
    admin = _Recorder()
    admin.objects[kuma.CONTROL_PLANE] = deployment
    assert seed.kuma_env(admin) == "false"
