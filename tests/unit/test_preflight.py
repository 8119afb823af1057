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
