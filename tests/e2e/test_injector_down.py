"""The mesh's injector is down and its webhook fails open (failurePolicy: Ignore): restarted
pods come back without a proxy. That is a failure, never a success."""

import copy
import signal
import socket
import subprocess
from types import SimpleNamespace

import pytest

from tests.e2e.test_kubectl_conventions import Lines
from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.webhooks import CONFIGS, _dry_run_probe


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _injected(admin, namespace, proxy="istio-proxy", annotations=None):
    probe = _dry_run_probe(admin, namespace, {}, annotations)
    return any(
        c["name"] == proxy
        for c in probe["spec"].get("initContainers", []) + probe["spec"]["containers"]
    )


def fail_open(
    admin, namespace, configuration="istio-sidecar-injector", proxy="istio-proxy", annotations=None
):
    """The mesh's webhooks (Istio's unless `configuration` names another) pointed at nothing,
    with failurePolicy: Ignore, as an injector that is down behind a chart that fails open:
    gone once a probe pod in `namespace` (with `annotations`) comes back without `proxy`.
    Returns what puts it back (and waits for it)."""
    path = f"{CONFIGS}/{configuration}"
    original = admin.get(path)["webhooks"]
    broken = copy.deepcopy(original)
    for hook in broken:
        hook["failurePolicy"] = "Ignore"
        hook["timeoutSeconds"] = 2
        hook["clientConfig"]["url"] = f"https://127.0.0.1:{_closed_port()}/inject"
    admin.patch(path, {"webhooks": broken})
    admin.wait_for(
        "the injector to be gone", lambda: not _injected(admin, namespace, proxy, annotations)
    )
    restored = []

    def restore():
        if not restored:
            restored.append(True)
            admin.patch(path, {"webhooks": original})
            admin.wait_for(
                "the injector to be back", lambda: _injected(admin, namespace, proxy, annotations)
            )

    return restore


@pytest.fixture
def injector_failing_open(admin, fresh_namespace):
    """fail_open() for the test; put back afterwards."""
    restore = fail_open(admin, fresh_namespace)
    yield restore
    restore()


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


# --- pods that lost the mesh: status flags them, restart restores them --------------------------


@pytest.fixture
def unmeshed_namespace(admin, fresh_namespace):
    """A namespace Istio's webhook doesn't select (no istio-injection label)."""
    name = (fresh_namespace[:44] + "-plain").strip("-")
    seed.namespace(admin, name, injection=False)
    yield name
    seed.delete_namespace(admin, name, wait=False)


WEBHOOK_BLIND = "webhook-blind"


@pytest.fixture(scope="module")
def webhook_blind(admin, kubectl):
    """A user who may read everything status reads but the webhook configurations."""
    group = "rbac.authorization.k8s.io"
    rbac = f"{group}/v1"
    admin.apply(
        resource_path(rbac, "clusterroles"),
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": WEBHOOK_BLIND},
            "rules": [
                {
                    "apiGroups": ["", "apps", "batch", "istio.alibabacloud.com"],
                    "resources": ["*"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    )
    admin.apply(
        resource_path(rbac, "clusterrolebindings"),
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": WEBHOOK_BLIND},
            "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": WEBHOOK_BLIND},
            "subjects": [{"apiGroup": group, "kind": "User", "name": WEBHOOK_BLIND}],
        },
    )
    # RBAC reaches the authorizer through a watch: wait until it has
    admin.wait_for(
        "the webhook-blind user's role to take effect",
        lambda: (
            kubectl("auth", "can-i", "list", "pods", "-A", "--as", WEBHOOK_BLIND).returncode == 0
        ),
    )
    yield WEBHOOK_BLIND
    admin.delete(resource_path(rbac, "clusterrolebindings", name=WEBHOOK_BLIND))
    admin.delete(resource_path(rbac, "clusterroles", name=WEBHOOK_BLIND))


def _by_pod(report):
    return {item["pod"]: item for item in report["items"]}


def test_pods_created_while_the_injector_was_down_are_flagged_and_restart_restores_them(
    kubectl,
    admin,
    asm_mesh,
    fresh_namespace,
    unmeshed_namespace,
    injector_failing_open,
    webhook_blind,
):
    ns, plain = fresh_namespace, unmeshed_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=2)
    # opted out the way the webhook's objectSelector reads, and the way only the injector does
    seed.deployment(admin, ns, "batch", replicas=1, labels={"sidecar.istio.io/inject": "false"})
    seed.deployment(
        admin, ns, "legacy", replicas=1, annotations={"sidecar.istio.io/inject": "false"}
    )
    seed.deployment(admin, plain, "tools", replicas=1)
    seed.wait_for_pods(admin, ns, 4)
    seed.wait_for_pods(admin, plain, 1)
    assert seed.modes(admin, ns) == ["none"] * 4  # the injector was down: no proxy anywhere
    injector_failing_open()  # back: the pods it missed keep running without a proxy

    table = kubectl.sidecar("status", "-n", ns)
    assert table.returncode == 0, table.stderr
    cart = [line.split() for line in table.stdout.splitlines() if line.startswith("cart-")]
    assert len(cart) == 2
    for cells in cart:
        assert cells[1:] == [
            "Deployment/cart", "<none>", "none", "traditional", "restart", "Deployment/cart",
            "(no", "proxy)",
        ]  # fmt: skip
    assert "2 pod(s) need action, 1 workload(s) to restart." in table.stdout
    report = _by_pod(kubectl.sidecar_json("status", "-n", ns))
    for name, item in report.items():
        if name.startswith("cart-"):
            assert item["needsRestart"] is True
            assert item["problems"] == ["no proxy: webhook istio-sidecar-injector selects this pod"]
        else:
            assert item["needsRestart"] is False and item["problems"] == [], item
    assert kubectl.sidecar("status", "-n", ns, "--exit-code").returncode == 1
    # who may not read the webhooks is told once, and nothing is flagged on a guess
    blind = kubectl.sidecar("status", "-n", ns, "--exit-code", "--as", WEBHOOK_BLIND)
    assert blind.returncode == 0, blind.stdout + blind.stderr
    said = [line for line in blind.stderr.splitlines() if "mutatingwebhookconfigurations" in line]
    assert len(said) == 1 and said[0].startswith("Warning: can't list"), blind.stderr
    assert "pods that lost their mesh proxy are not flagged" in said[0]
    # a namespace the webhook doesn't select never had the mesh: nothing to flag
    elsewhere = kubectl.sidecar("status", "-n", plain, "--exit-code")
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert "0 pod(s) need action" in elsewhere.stdout

    done = kubectl.sidecar("restart", "-n", ns, "--yes", "--timeout", "5m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deployment/cart" in done.stdout.lower()
    assert "batch" not in done.stdout and "legacy" not in done.stdout
    seed.wait_for_pods(admin, ns, 4)
    assert sorted(seed.modes(admin, ns, "app=cart")) == ["traditional"] * 2
    assert seed.modes(admin, ns, "app=batch") == ["none"]
    assert seed.modes(admin, ns, "app=legacy") == ["none"]
    assert kubectl.sidecar("status", "-n", ns, "--exit-code").returncode == 0


def test_a_restart_while_the_injector_is_still_down_fails_its_verify(
    kubectl, admin, asm_mesh, fresh_namespace, injector_failing_open
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=1)
    seed.wait_for_pods(admin, ns, 1)
    # Flagged only where the webhook selects the pod and the injector would act: it does here.
    assert kubectl.sidecar("status", "-n", ns, "--exit-code").returncode == 1
    # restart runs the canary too (since the canary merge): its pod comes back without a proxy,
    # and nothing is restarted.
    refused = kubectl.sidecar("restart", "-n", ns, "--yes", "--timeout", "5m")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "admitted without a mesh proxy" in refused.stdout
    assert (
        "Nothing was changed: 1 workload(s) can't be restarted into their configured mode"
        in refused.stdout
    )
    assert "To restart the rest and leave them, add --keep-going." in refused.stdout
    assert "kubectl.kubernetes.io/restartedAt" not in str(
        admin.get(f"/apis/apps/v1/namespaces/{ns}/deployments/cart")["spec"]["template"]
    )
    # Without it (and for an injector that goes down mid-run), verify's check catches it.
    done = kubectl.sidecar("restart", "-n", ns, "--yes", "--timeout", "5m", "--no-canary")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 workload(s) came back WITHOUT their mesh proxy" in done.stdout
    assert "Verify: FAILED" in done.stdout


@pytest.fixture
def injection_policy_disabled(admin):
    """istiod's injector config with `policy: disabled`, as the istiod chart names it (in
    istio-system, where the harness's webhook, a URL, leaves status to look)."""
    path = resource_path("v1", "configmaps", "istio-system")
    seed.namespace(admin, "istio-system", injection=False)
    admin.apply(
        path,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
            "data": {"config": "policy: disabled\nalwaysInjectSelector: []\n"},
        },
    )
    yield
    admin.delete(resource_path("v1", "configmaps", "istio-system", "istio-sidecar-injector"))


def test_with_injection_disabled_by_policy_only_pods_that_ask_for_a_proxy_are_flagged(
    kubectl, admin, asm_mesh, fresh_namespace, injector_failing_open, injection_policy_disabled
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=1)
    seed.deployment(admin, ns, "asks", replicas=1, annotations={"sidecar.istio.io/inject": "true"})
    seed.wait_for_pods(admin, ns, 2)
    assert seed.modes(admin, ns) == ["none"] * 2
    report = _by_pod(kubectl.sidecar_json("status", "-n", ns))
    for name, item in report.items():
        if name.startswith("asks-"):
            assert item["needsRestart"] is True
            assert item["problems"] == ["no proxy: webhook istio-sidecar-injector selects this pod"]
        else:
            # istiod would not inject it either: a restart would change nothing
            assert item["needsRestart"] is False and item["problems"] == [], item
    table = kubectl.sidecar("status", "-n", ns, "--exit-code")
    assert table.returncode == 1, table.stdout + table.stderr
    assert "1 pod(s) need action, 1 workload(s) to restart." in table.stdout
    assert "Warning" not in table.stderr, table.stderr


def test_status_watch_flags_lost_pods_in_a_namespace_created_after_it_started(
    kubectl, admin, asm_mesh, fresh_namespace, injector_failing_open
):
    ns = fresh_namespace
    late = (ns[:45] + "-late").strip("-")
    tier = f"t{abs(hash(late)) % 10**6}"
    # a pod that lost its proxy at the start: status reads the namespaces for it, once
    seed.deployment(admin, ns, "cart", replicas=1, labels={"tier": tier})
    seed.wait_for_pods(admin, ns, 1)
    process = subprocess.Popen(
        ["kubectl", "sidecar", "status", "-A", "-w", "-l", f"tier={tier}"],
        env=kubectl.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(process)
        said = Lines(SimpleNamespace(stdout=process.stderr))
        table = lines.until(lambda seen: any(row.startswith(ns) for row in seen))
        assert [row for row in table if row.startswith(ns)][0].endswith("(no proxy)"), table
        # the table's pass is over (its summary goes to stderr under -w): this namespace, its
        # labels asking for injection, exists only after status read the namespaces
        said.until(lambda seen: any("need action" in line for line in seen))
        seed.namespace(admin, late)
        seed.deployment(admin, late, "cart", replicas=1, labels={"tier": tier})
        rows = lines.until(lambda seen: any(row.startswith(late) for row in seen))
        new = [row.split() for row in rows if row.startswith(late)]
        assert new[0][-4:] == ["restart", "Deployment/cart", "(no", "proxy)"], rows
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=180) == 0
        rest = [said.queue.get() for _ in range(said.queue.qsize())]
        assert not any("Traceback" in line for line in rest), rest
    finally:
        if process.poll() is None:
            process.kill()
        seed.delete_namespace(admin, late, wait=False)
