"""The mesh's injector is down and its webhook fails open (failurePolicy: Ignore): restarted
pods come back without a proxy. That is a failure, never a success."""

import copy
import socket

import pytest

from tests.harness import seed
from tests.harness.webhooks import CONFIGS, _dry_run_probe


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _injected(admin, namespace):
    probe = _dry_run_probe(admin, namespace, {})
    return any(
        c["name"] == "istio-proxy"
        for c in probe["spec"].get("initContainers", []) + probe["spec"]["containers"]
    )


@pytest.fixture
def injector_failing_open(admin, fresh_namespace):
    """Istio's webhook pointed at nothing, with failurePolicy: Ignore, as an injector that is
    down behind a chart that fails open; put back afterwards."""
    path = f"{CONFIGS}/istio-sidecar-injector"
    original = admin.get(path)["webhooks"]
    broken = copy.deepcopy(original)
    for hook in broken:
        hook["failurePolicy"] = "Ignore"
        hook["timeoutSeconds"] = 2
        hook["clientConfig"]["url"] = f"https://127.0.0.1:{_closed_port()}/inject"
    admin.patch(path, {"webhooks": broken})
    admin.wait_for("the injector to be gone", lambda: not _injected(admin, fresh_namespace))
    yield
    admin.patch(path, {"webhooks": original})
    admin.wait_for("the injector to be back", lambda: _injected(admin, fresh_namespace))


def test_pods_that_come_back_without_a_proxy_fail_the_switch(
    kubectl, admin, asm_mesh, fresh_namespace, request
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=2)
    seed.wait_for_pods(admin, ns, 2)
    request.getfixturevalue("injector_failing_open")
    # The canary sees it first: its pod comes back without a proxy, and nothing is written.
    refused = kubectl.sidecar("switch", "--native", "-n", ns, "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "admitted without a mesh proxy" in refused.stdout
    assert "Nothing was changed: 1 workload(s) can't be switched" in refused.stdout
    assert seed.modes(admin, ns) == ["traditional"] * 2
    # Without it (and for an injector that goes down mid-run), verify's check catches it.
    done = kubectl.sidecar("switch", "--native", "-n", ns, "--yes", "--no-canary")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "1 workload(s) came back WITHOUT their mesh proxy" in out
    assert f"kubectl rollout restart deployment/cart -n {ns}   # 2 pod(s)" in out
    assert "Verify: FAILED" in out
    assert "every pod that a restart could switch is in its target mode" not in out
