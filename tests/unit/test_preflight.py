import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshes.asm import asm_config
from kubectl_sidecar.meshes.consul import consul_config
from kubectl_sidecar.preflight import (
    control_plane_problems,
    foreign_pod_webhooks,
    override_ignored,
    too_old_for_native,
    warnings_for,
)
from tests.unit import pods
from tests.unit.test_meshes_consul import FLAG, argv_injector, consul_injector, helm_injector


def test_old_api_server_and_kubelets_are_named():
    problems = too_old_for_native("v1.28.9", {"a": "v1.30.1", "b": "v1.28.3", "c": "v1.27.0"})
    assert "API server is v1.28.9" in problems[0]
    assert problems[1] == "2 node(s) run a kubelet older than 1.29: b (v1.28.3), c (v1.27.0)"
    assert too_old_for_native("v1.33.0", {"a": "v1.29.0"}) == []


def test_only_foreign_webhooks_on_pod_creation_are_reported():
    def config(name, resources=("pods",), operations=("CREATE",), groups=("",)):
        return {
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": f"{name}.example.com",
                    "rules": [
                        {
                            "apiGroups": list(groups),
                            "resources": list(resources),
                            "operations": list(operations),
                        }
                    ],
                }
            ],
        }

    found = foreign_pod_webhooks(
        [
            config("istio-sidecar-injector"),
            config("logsidecar-injector-admission"),
            config("deploy-mutator", resources=("deployments",), groups=("apps",)),
            config("update-only", operations=("UPDATE",)),
            config("catch-all", resources=("*",)),
        ]
    )
    assert found == [
        "logsidecar-injector-admission/logsidecar-injector-admission.example.com",
        "catch-all/catch-all.example.com",
    ]


def test_native_warnings_mention_webhooks_and_lifecycle_settings():
    pinned = classify_pod(
        pods.istio(
            "traditional",
            annotations={"proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'},
        )
    )
    notes = warnings_for("native", [pinned], ["strip/it"])
    assert "strip/it" in notes[0]
    assert notes[1].startswith("1 pod(s) set proxy startup/shutdown settings")
    assert warnings_for("traditional", [pinned], ["strip/it"]) == []


def test_no_lifecycle_warning_when_no_pod_to_switch_sets_them():
    plain = classify_pod(pods.istio("traditional"))
    already_native = classify_pod(
        pods.istio(
            "native", annotations={"proxy.istio.io/config": '{"terminationDrainDuration": "30s"}'}
        )
    )
    assert already_native.lifecycle_settings
    assert warnings_for("native", [plain, already_native], []) == []


def with_proxy_lifecycle(pod, lifecycle):
    for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        if container["name"] == "istio-proxy":
            container["lifecycle"] = lifecycle
    return pod


def test_istios_own_proxy_hooks_are_not_settings_but_a_custom_hook_is():
    hold = {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    drain = {"preStop": {"exec": {"command": ["pilot-agent", "request", "POST", "drain"]}}}
    custom = {"preStop": {"exec": {"command": ["sh", "-c", "sleep 20"]}}}
    assert not classify_pod(
        with_proxy_lifecycle(pods.istio("traditional"), hold)
    ).lifecycle_settings
    assert not classify_pod(with_proxy_lifecycle(pods.istio("native"), drain)).lifecycle_settings
    assert classify_pod(with_proxy_lifecycle(pods.istio("traditional"), custom)).lifecycle_settings


def with_hook(pod, proxy, hook, command):
    """The pod with `command` as the proxy container's `hook`, beside any hook it has."""
    for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        if container["name"] == proxy:
            container.setdefault("lifecycle", {})[hook] = {"exec": {"command": command}}
    return pod


SLEEP = ["sh", "-c", "sleep 20"]


@pytest.mark.parametrize(
    "pod, custom",
    [
        # Each injector's own hooks, exactly as it writes them: not a user's setting.
        (pods.linkerd("traditional"), False),  # linkerd-await postStart (proxy.await, the default)
        (pods.linkerd("traditional", wait=False), False),
        (pods.appmesh(), False),  # preStop `sh -c "sleep 20s"` on every App Mesh envoy
        (pods.appmesh(wait_until_proxy_ready=True), False),  # and its envoyReadiness postStart
        (pods.kuma_k8s("native"), False),  # preStop `killall -USR2 kuma-dp`
        (pods.kuma_k8s("traditional", wait_for_dataplane=True), False),  # `kuma-dp wait`
        # A user's own hook on the proxy still counts, whichever mesh injected it.
        (with_hook(pods.linkerd("traditional"), "linkerd-proxy", "preStop", SLEEP), True),
        (
            with_hook(
                pods.linkerd("traditional", wait=False),
                "linkerd-proxy",
                "postStart",
                ["/bin/sh", "-c", "until curl -s localhost:4191/ready; do sleep 1; done"],
            ),
            True,
        ),
        # Linkerd renders proxy.waitBeforeExitSeconds as preStop /bin/sleep and drops it in native
        # mode: a shutdown setting of the user's that native mode ignores.
        (
            with_hook(
                pods.linkerd("traditional"), "linkerd-proxy", "preStop", ["/bin/sleep", "30"]
            ),
            True,
        ),
        (
            with_hook(
                pods.appmesh(),
                "envoy",
                "preStop",
                ["sh", "-c", "sleep 20; curl -X POST localhost:9901/healthcheck/fail"],
            ),
            True,
        ),
        (with_hook(pods.appmesh(), "envoy", "postStart", SLEEP), True),
        (
            with_hook(
                pods.kuma_k8s("traditional"),
                "kuma-sidecar",
                "preStop",
                ["killall", "-TERM", "kuma-dp"],
            ),
            True,
        ),
        # Another mesh's hook is not this mesh's: App Mesh's sleep on Istio, Kuma's on Linkerd...
        (with_hook(pods.istio("traditional"), "istio-proxy", "preStop", SLEEP), True),
        (
            with_hook(
                pods.linkerd("traditional"),
                "linkerd-proxy",
                "preStop",
                ["killall", "-USR2", "kuma-dp"],
            ),
            True,
        ),
        (
            with_hook(
                pods.kuma_k8s("traditional"),
                "kuma-sidecar",
                "postStart",
                ["/usr/lib/linkerd/linkerd-await", "--timeout=2m"],
            ),
            True,
        ),
        # ...and App Mesh's sleep counts as its own only on App Mesh's envoy, not OSM's.
        (
            with_hook(
                pods.pod(
                    containers=[{"name": "app"}, {"name": "envoy"}],
                    init_containers=[{"name": "osm-init"}],
                ),
                "envoy",
                "preStop",
                SLEEP,
            ),
            True,
        ),
    ],
    ids=lambda value: None,
)
def test_each_meshs_own_proxy_hooks_are_not_settings_but_a_users_are(pod, custom):
    assert classify_pod(pod).lifecycle_settings is custom


def test_switching_linkerd_to_native_warns_only_about_a_users_hook():
    own = classify_pod(pods.linkerd("traditional", name="web-a"))
    assert warnings_for("native", [own], []) == []
    users = classify_pod(
        with_hook(pods.linkerd("traditional", name="web-b"), "linkerd-proxy", "preStop", SLEEP)
    )
    [note] = warnings_for("native", [own, users], [])
    assert note.startswith("1 pod(s) set proxy startup/shutdown settings")


def image(tag):
    return {"image": f"hashicorp/consul-k8s-control-plane{tag}"}


@pytest.mark.parametrize(
    "injector, target, expected",
    [
        # New enough, or switching to traditional: nothing in the way.
        (helm_injector(), "native", []),
        (argv_injector(**image(":1.7.4")), "traditional", []),
        # Too old, flag already there: a rewrite is harmless but useless; --force may insist.
        (
            argv_injector(f"-{FLAG}=false", **image(":1.8.1")),
            "native",
            [
                (
                    "the connect-injector consul/consul-connect-injector runs consul-k8s 1.8.1, which "
                    "can't inject native sidecars; that needs consul-k8s 1.9.0 or later, or 1.6.9, 1.7.5, "
                    "1.8.2",
                    True,
                )
            ],
        ),
        # Too old, no flag: adding it would stop the injector. Never, even with --force.
        (
            argv_injector(**image(":1.5.3")),
            "native",
            [
                (
                    "the connect-injector consul/consul-connect-injector runs consul-k8s 1.5.3, which "
                    "can't inject native sidecars; that needs consul-k8s 1.9.0 or later, or 1.6.9, 1.7.5, "
                    f"1.8.2, and an injector that old exits when started with -{FLAG}: upgrade consul-k8s "
                    "first",
                    False,
                )
            ],
        ),
        # Unknown version: only a flag it already starts with is safe to rewrite.
        (argv_injector(f"-{FLAG}=false", **image("@sha256:0123abcd")), "native", []),
        (
            argv_injector(**image("@sha256:0123abcd")),
            "native",
            [
                (
                    "the connect-injector consul/consul-connect-injector's image "
                    "(hashicorp/consul-k8s-control-plane@sha256:0123abcd) doesn't tell its consul-k8s "
                    f"version, and one older than -{FLAG} (consul-k8s 1.9.0, backported to 1.6.9, 1.7.5, "
                    "1.8.2) exits when started with it: check the version, then set "
                    "connectInject.dataplaneAsSidecarInitContainer.defaultEnabled=true with helm",
                    False,
                )
            ],
        ),
        # No injector at all: nothing to switch, either way.
        (
            None,
            "traditional",
            [
                (
                    "no consul-k8s connect-injector Deployment (component=connect-injector) found: "
                    "nothing to switch",
                    False,
                )
            ],
        ),
        (
            consul_injector(command=["/bin/webhook"]),
            "native",
            [
                (
                    "Deployment consul/consul-connect-injector runs no `consul-k8s-control-plane "
                    "inject-connect`: nothing to switch",
                    False,
                )
            ],
        ),
    ],
)
def test_consul_control_plane_problems(injector, target, expected):
    assert control_plane_problems(consul_config(injector), target) == expected


def test_other_meshes_have_no_control_plane_problems_here():
    assert control_plane_problems(asm_config(None, "asm"), "native") == []


def test_only_a_consul_too_old_for_native_ignores_the_pod_annotation():
    old = consul_config(argv_injector(**image(":1.8.1")))
    assert "runs consul-k8s 1.8.1, which can't inject native sidecars and ignores" in (
        override_ignored(old, "native")
    )
    assert override_ignored(old, "traditional") is None
    assert (
        override_ignored(consul_config(argv_injector(**image("@sha256:0123abcd"))), "native")
        is None
    )  # unknown: the annotation may well work
    assert override_ignored(consul_config(helm_injector()), "native") is None
    assert override_ignored(asm_config(None, "asm"), "native") is None
