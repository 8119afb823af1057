"""`kubectl sidecar status` through kubectl, against workloads the real controllers created."""

import subprocess

import pytest

from tests.harness import seed
from tests.startup_imports import imported_modules, unneeded


@pytest.fixture(scope="module")
def drifted(asm_mesh):
    """A namespace injected while ASM said traditional, after which ASM was switched to native,
    plus one workload created after the switch and a gateway outside injection."""
    admin = asm_mesh
    ns = "drift"
    seed.namespace(admin, ns)
    seed.deployment(admin, ns, "cart")
    seed.statefulset(admin, ns, "db")
    seed.daemonset(admin, ns, "agent")
    seed.job(admin, ns, "migrate")
    seed.cronjob(admin, ns, "report")
    seed.bare_pod(admin, ns, "debug")
    seed.wait_for_pods(admin, ns, 2 + 2 + 3 + 1 + 1 + 1)
    seed.asm_mesh(admin, True)
    seed.deployment(admin, ns, "fresh", replicas=1)
    seed.wait_for_pods(admin, ns, 11)
    seed.namespace(admin, "drift-gateways", injection=False)
    seed.gateway(admin, "drift-gateways")
    seed.wait_for_pods(admin, "drift-gateways", 1)
    yield ns
    seed.delete_namespace(admin, ns, wait=False)
    seed.delete_namespace(admin, "drift-gateways", wait=False)


def _by_workload(items):
    grouped = {}
    for item in items:
        key = (
            f"{item['workload']['kind']}/{item['workload']['name']}"
            if item["workload"]
            else f"Pod/{item['pod']}"
        )
        grouped.setdefault(key, []).append(item)
    return grouped


def test_json_reports_mode_desired_mode_and_action_per_workload_kind(kubectl, drifted):
    report = kubectl.sidecar_json("status", "-n", drifted)
    assert report["apiVersion"] == "kubectl-sidecar/v1alpha1" and report["kind"] == "SidecarStatus"
    assert report["mesh"]["name"] == "asm" and report["mesh"]["configuredMode"] == "native"
    grouped = _by_workload(report["items"])
    expected = {
        "Deployment/cart": (2, "traditional", True, "restart Deployment/cart"),
        "StatefulSet/db": (2, "traditional", True, "restart StatefulSet/db"),
        "DaemonSet/agent": (3, "traditional", True, "restart DaemonSet/agent"),
        "Deployment/fresh": (1, "native", False, "ok"),
        "Pod/debug": (1, "traditional", True, "recreate"),
    }
    for workload, (count, mode, needs_restart, action) in expected.items():
        items = grouped[workload]
        assert len(items) == count, workload
        for item in items:
            assert (item["mode"], item["desiredMode"], item["needsRestart"], item["action"]) == (
                mode,
                "native",
                needs_restart,
                action,
            ), item
            assert item["proxy"] == "istio-proxy"
    # Job pods whose app finished while the traditional proxy runs on: flagged, not restarted.
    for workload in ("Job/migrate", "CronJob/report"):
        [item] = grouped[workload]
        assert item["mode"] == "traditional"
        assert "stuck" in item["action"]
    assert report["summary"]["modes"]["native"] == 1
    assert report["summary"]["modes"]["traditional"] == 10
    assert report["summary"]["workloadsToRestart"] == 3


def test_table_across_namespaces_with_summary_line(kubectl, drifted):
    done = kubectl.sidecar("status", "-A")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "POD",
        "WORKLOAD",
        "PROXY",
        "MODE",
        "DESIRED",
        "ACTION",
    ]
    gateway = [line for line in lines if line.startswith("drift-gateways ")]
    assert len(gateway) == 1 and " gateway " in gateway[0]
    assert lines[-1].startswith("Mesh asm: native (ASMMeshConfig/default")
    drift_rows = [line.split() for line in lines if line.startswith(f"{drifted} ")]
    assert len(drift_rows) == 11
    assert {row[2] for row in drift_rows if row[6] == "restart"} == {
        "Deployment/cart",
        "StatefulSet/db",
        "DaemonSet/agent",
    }


def test_the_table_imports_only_what_it_needs(kubectl, drifted):
    # Start-up is most of a small cluster's status: a whole run through kubectl, with the
    # interpreter reporting its imports (PYTHONPROFILEIMPORTTIME is -X importtime).
    env = {
        key: value
        for key, value in kubectl.env.items()
        if not key.lower().endswith("_proxy") or key.lower() == "no_proxy"
    }
    done = subprocess.run(
        ["kubectl", "sidecar", "status", "-A"],
        env=dict(env, PYTHONPROFILEIMPORTTIME="1"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith("Mesh asm: native")
    modules = imported_modules(done.stderr)
    assert {"kubectl_sidecar.render", "kubectl_sidecar.blockyaml", "kubectl_sidecar.transport"} <= (
        modules
    )
    assert unneeded(modules) == {}


def test_needs_restart_and_summary_views(kubectl, drifted):
    needing = kubectl.sidecar_json("status", "-n", drifted, "--needs-restart")
    assert {
        item["pod"].rsplit("-", 2)[0]
        if item["workload"] and item["workload"]["kind"] == "Deployment"
        else item["pod"]
        for item in needing["items"]
    } >= {"cart", "db-0", "db-1", "debug"}
    assert all(item["mode"] != item["desiredMode"] for item in needing["items"])
    summary = kubectl.sidecar("status", "-A", "--summary")
    assert summary.returncode == 0, summary.stderr
    drift_line = next(
        line for line in summary.stdout.splitlines() if line.startswith(f"{drifted} ")
    )
    assert summary.stdout.splitlines()[0].split()[:3] == ["NAMESPACE", "NATIVE", "TRADITIONAL"]
    assert drift_line.split()[1:3] == ["1", "10"], summary.stdout


def test_selector_limits_the_pods(kubectl, drifted):
    report = kubectl.sidecar_json("status", "-n", drifted, "-l", "app=cart")
    assert {item["workload"]["name"] for item in report["items"]} == {"cart"}


def test_read_only_user_can_see_status(kubectl, drifted):
    report = kubectl.sidecar_json("status", "-n", drifted, "--context", "viewer")
    assert len(report["items"]) == 11


def test_pod_with_a_proxy_init_container_that_never_exits_is_invalid(kubectl, admin, drifted):
    """What a webhook that strips restartPolicy leaves behind when the proxy has no probes: a pod
    that hangs in Init forever."""
    ns = "hung"
    seed.namespace(admin, ns, injection=False)
    try:
        proxy = {
            "name": "istio-proxy",
            "image": "docker.io/istio/proxyv2:1.26.2",
            "args": ["proxy", "sidecar"],
        }
        admin.create(
            f"/api/v1/namespaces/{ns}/pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "hung"},
                "spec": {
                    "initContainers": [proxy],
                    "containers": [{"name": "app", "image": seed.APP_IMAGE}],
                },
            },
        )
        seed.wait_for_pods(admin, ns, 1)
        [item] = kubectl.sidecar_json("status", "-n", ns)["items"]
        assert item["mode"] == "invalid"
        assert seed.pods(admin, ns)[0]["status"]["phase"] == "Pending"
    finally:
        seed.delete_namespace(admin, ns, wait=False)


def test_unknown_context_and_bad_selector_are_one_line_errors(kubectl, drifted):
    done = kubectl.sidecar("status", "--context", "nope")
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = kubectl.sidecar("status", "-n", drifted, "-l", "app in (")
    assert done.returncode != 0 and "Traceback" not in done.stderr


def test_every_pod_is_listed_across_pages(kubectl, admin, control_plane):
    """More pods than one page (500): the continue token is followed to the end, once."""
    ns = "paged"
    seed.namespace(admin, ns, injection=False)
    try:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: seed.bare_pod(admin, ns, f"p{i:04d}"), range(620)))
        report = kubectl.sidecar_json("status", "-n", ns)
        assert sorted(item["pod"] for item in report["items"]) == [f"p{i:04d}" for i in range(620)]
        assert report["summary"]["modes"]["none"] == 620
    finally:
        seed.delete_namespace(admin, ns, wait=False)
