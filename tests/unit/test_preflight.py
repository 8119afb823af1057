import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.preflight import foreign_pod_webhooks, too_old_for_native, warnings_for
from tests.unit import pods


def test_old_api_server_and_kubelets_are_named():
    problems = too_old_for_native("v1.28.9", {"a": "v1.30.1", "b": "v1.28.3", "c": "v1.27.0"})
    assert "API server is v1.28.9" in problems[0]
    assert problems[1] == "2 node(s) run a kubelet older than 1.29: b (v1.28.3), c (v1.27.0)"
    assert too_old_for_native("v1.33.0", {"a": "v1.29.0"}) == []


def test_only_foreign_webhooks_on_pod_creation_are_reported():
    def config(name, resources=("pods",), operations=("CREATE",), groups=("",)):
        return {"metadata": {"name": name}, "webhooks": [{"name": f"{name}.example.com", "rules": [
            {"apiGroups": list(groups), "resources": list(resources), "operations": list(operations)}]}]}
    found = foreign_pod_webhooks([
        config("istio-sidecar-injector"), config("logsidecar-injector-admission"),
        config("deploy-mutator", resources=("deployments",), groups=("apps",)),
        config("update-only", operations=("UPDATE",)), config("catch-all", resources=("*",))])
    assert found == ["logsidecar-injector-admission/logsidecar-injector-admission.example.com",
                     "catch-all/catch-all.example.com"]


def test_native_warnings_mention_webhooks_and_lifecycle_settings():
    pinned = classify_pod(pods.istio("traditional", annotations={
        "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'}))
    notes = warnings_for("native", [pinned], ["strip/it"])
    assert "strip/it" in notes[0]
    assert notes[1].startswith("1 pod(s) set proxy startup/shutdown settings")
    assert warnings_for("traditional", [pinned], ["strip/it"]) == []


def test_no_lifecycle_warning_when_no_pod_to_switch_sets_them():
    plain = classify_pod(pods.istio("traditional"))
    already_native = classify_pod(pods.istio("native", annotations={
        "proxy.istio.io/config": '{"terminationDrainDuration": "30s"}'}))
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
    assert not classify_pod(with_proxy_lifecycle(pods.istio("traditional"), hold)).lifecycle_settings
    assert not classify_pod(with_proxy_lifecycle(pods.istio("native"), drain)).lifecycle_settings
    assert classify_pod(with_proxy_lifecycle(pods.istio("traditional"), custom)).lifecycle_settings


def with_hook(pod, proxy, hook, command):
    """The pod with `command` as the proxy container's `hook`, beside any hook it has."""
    for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        if container["name"] == proxy:
            container.setdefault("lifecycle", {})[hook] = {"exec": {"command": command}}
    return pod


SLEEP = ["sh", "-c", "sleep 20"]


@pytest.mark.parametrize("pod, custom", [
    # Each injector's own hooks, exactly as it writes them: not a user's setting.
    (pods.linkerd("traditional"), False),  # linkerd-await postStart (proxy.await, the default)
    (pods.linkerd("traditional", wait=False), False),
    (pods.appmesh(), False),  # preStop `sh -c "sleep 20s"` on every App Mesh envoy
    (pods.appmesh(wait_until_proxy_ready=True), False),  # and its envoyReadiness postStart
    (pods.kuma_k8s("native"), False),  # preStop `killall -USR2 kuma-dp`
    (pods.kuma_k8s("traditional", wait_for_dataplane=True), False),  # `kuma-dp wait`
    # A user's own hook on the proxy still counts, whichever mesh injected it.
    (with_hook(pods.linkerd("traditional"), "linkerd-proxy", "preStop", SLEEP), True),
    (with_hook(pods.linkerd("traditional", wait=False), "linkerd-proxy", "postStart",
               ["/bin/sh", "-c", "until curl -s localhost:4191/ready; do sleep 1; done"]), True),
    # Linkerd renders proxy.waitBeforeExitSeconds as preStop /bin/sleep and drops it in native
    # mode: a shutdown setting of the user's that native mode ignores.
    (with_hook(pods.linkerd("traditional"), "linkerd-proxy", "preStop", ["/bin/sleep", "30"]),
     True),
    (with_hook(pods.appmesh(), "envoy", "preStop", ["sh", "-c", "sleep 20; curl -X POST "
                                                    "localhost:9901/healthcheck/fail"]), True),
    (with_hook(pods.appmesh(), "envoy", "postStart", SLEEP), True),
    (with_hook(pods.kuma_k8s("traditional"), "kuma-sidecar", "preStop",
               ["killall", "-TERM", "kuma-dp"]), True),
    # Another mesh's hook is not this mesh's: App Mesh's sleep on Istio, Kuma's on Linkerd...
    (with_hook(pods.istio("traditional"), "istio-proxy", "preStop", SLEEP), True),
    (with_hook(pods.linkerd("traditional"), "linkerd-proxy", "preStop",
               ["killall", "-USR2", "kuma-dp"]), True),
    (with_hook(pods.kuma_k8s("traditional"), "kuma-sidecar", "postStart",
               ["/usr/lib/linkerd/linkerd-await", "--timeout=2m"]), True),
    # ...and App Mesh's sleep counts as its own only on App Mesh's envoy, not OSM's.
    (with_hook(pods.pod(containers=[{"name": "app"}, {"name": "envoy"}],
                        init_containers=[{"name": "osm-init"}]), "envoy", "preStop", SLEEP), True),
], ids=lambda value: None)
def test_each_meshs_own_proxy_hooks_are_not_settings_but_a_users_are(pod, custom):
    assert classify_pod(pod).lifecycle_settings is custom


def test_switching_linkerd_to_native_warns_only_about_a_users_hook():
    own = classify_pod(pods.linkerd("traditional", name="web-a"))
    assert warnings_for("native", [own], []) == []
    users = classify_pod(with_hook(pods.linkerd("traditional", name="web-b"), "linkerd-proxy",
                                   "preStop", SLEEP))
    [note] = warnings_for("native", [own, users], [])
    assert note.startswith("1 pod(s) set proxy startup/shutdown settings")
