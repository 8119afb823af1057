"""switch on a mesh bigger than one team's rights, with broken and slow workloads, and runs
that are stopped: through the real kubectl against the local control plane."""

import os
import signal
import subprocess
import time

import pytest

from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.kubelet_sim import HOLD_LABEL, READY_AFTER
from tests.harness.webhooks import STRIPPER_LABEL

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = f"{RBAC_GROUP}/v1"


def _asm_native(admin):
    return admin.get(
        resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
    )["spec"].get("enableNativeSidecar")


def _generations(admin, ns):
    return {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments", ns))
    }


@pytest.fixture
def two_teams(admin, asm_mesh):
    """Two namespaces with traditional workloads; the `viewer` user may patch the mesh config
    and the Deployments of the first namespace only, as a team lead in a shared cluster."""
    seed.asm_mesh(admin, False)
    spaces = ["team-a-scale", "team-b-scale"]
    for ns in spaces:
        seed.namespace(admin, ns)
        seed.deployment(admin, ns, "web", replicas=1)
    for ns in spaces:
        seed.wait_for_pods(admin, ns, 1)
    grants = [
        (
            resource_path(RBAC, "clusterroles"),
            {
                "apiVersion": RBAC,
                "kind": "ClusterRole",
                "metadata": {"name": "asm-config-editor"},
                "rules": [
                    {
                        "apiGroups": ["istio.alibabacloud.com"],
                        "resources": ["asmmeshconfigs"],
                        "verbs": ["get", "list", "patch"],
                    },
                    # A run over the mesh holds its Lease (lease.py).
                    {
                        "apiGroups": ["coordination.k8s.io"],
                        "resources": ["leases"],
                        "verbs": ["get", "create", "patch"],
                    },
                ],
            },
        ),
        (
            resource_path(RBAC, "clusterrolebindings"),
            {
                "apiVersion": RBAC,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "viewer-edits-asm"},
                "roleRef": {
                    "apiGroup": RBAC_GROUP,
                    "kind": "ClusterRole",
                    "name": "asm-config-editor",
                },
                "subjects": [{"kind": "User", "name": "viewer", "apiGroup": RBAC_GROUP}],
            },
        ),
        (
            resource_path(RBAC, "rolebindings", spaces[0]),
            {
                "apiVersion": RBAC,
                "kind": "RoleBinding",
                "metadata": {"name": "viewer-edits"},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "User", "name": "viewer", "apiGroup": RBAC_GROUP}],
            },
        ),
    ]
    for collection, body in grants:
        admin.apply(collection, body)
    yield spaces
    for collection, body in grants:
        admin.delete(f"{collection}/{body['metadata']['name']}")
    for ns in spaces:
        seed.delete_namespace(admin, ns, wait=False)


def test_a_team_without_rights_in_one_namespace_is_refused_before_any_write(
    kubectl, admin, two_teams
):
    before = {ns: _generations(admin, ns) for ns in two_teams}
    done = kubectl.sidecar("switch", "--native", "-A", "--context", "viewer", "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"Refused: may not patch deployments.apps in namespace {two_teams[1]} (context viewer)"
        in done.stderr
    )
    assert f"namespace {two_teams[0]}" not in done.stderr  # that one it may patch
    assert "asmmeshconfigs" not in done.stderr
    assert "Nothing was changed" in done.stdout
    assert _asm_native(admin) is False  # the mesh is not left half-migrated
    assert {ns: _generations(admin, ns) for ns in two_teams} == before
    dry = kubectl.sidecar("switch", "--native", "-A", "--context", "viewer", "--dry-run")
    assert dry.returncode == 1 and f"namespace {two_teams[1]}" in dry.stderr


@pytest.fixture
def stripped(control_plane):
    control_plane.register_stripper()
    yield
    control_plane.unregister_stripper()


def test_keep_going_finishes_the_rest_and_pin_failed_pins_exactly_the_broken_one(
    kubectl, admin, asm_mesh, fresh_namespace, stripped
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "aaa-legacy", replicas=1, labels={STRIPPER_LABEL: "enforced"})
    for name in ("cart", "web"):
        seed.deployment(admin, ns, name, replicas=1)
    seed.wait_for_pods(admin, ns, 3)
    done = kubectl.sidecar(
        "switch",
        "--native",
        "-n",
        ns,
        "--yes",
        "--concurrency",
        "1",
        "--keep-going",
        "--pin-failed",
        # The rollout failure path: the canary would pin it before any restart (test_canary.py).
        "--no-canary",
        "--timeout",
        "10m",
        "-o",
        "json",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    import json

    result = json.loads(done.stdout)["result"]
    assert [f["workload"] for f in result["failed"]] == [f"Deployment/aaa-legacy -n {ns}"]
    assert "FailedCreate" in result["failed"][0]["reason"]
    assert sorted(result["rolledOut"]) == [f"Deployment/cart -n {ns}", f"Deployment/web -n {ns}"]
    assert result["pinned"] == [f"Deployment/aaa-legacy -n {ns}"]
    legacy = admin.get(resource_path("apps/v1", "deployments", ns, "aaa-legacy"))
    assert (
        legacy["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"]
        == "false"
    )
    for name in ("cart", "web"):
        template = admin.get(resource_path("apps/v1", "deployments", ns, name))["spec"]["template"]
        assert "sidecar.istio.io/nativeSidecar" not in (
            template["metadata"].get("annotations") or {}
        )
    seed.wait_for_pods(admin, ns, 3)
    assert seed.modes(admin, ns, "app=aaa-legacy") == ["traditional"]
    assert seed.modes(admin, ns, "app=cart") == ["native"]


def _wait_for_rollouts(admin, ns):
    """Until every Deployment in ns reports its last rollout complete."""

    def complete():
        for deployment in admin.items(resource_path("apps/v1", "deployments", ns)):
            reasons = [
                c.get("reason")
                for c in deployment["status"].get("conditions", [])
                if c["type"] == "Progressing"
            ]
            if reasons != ["NewReplicaSetAvailable"]:
                return False
        return True

    admin.wait_for(f"the Deployments in {ns} to finish rolling out", complete, timeout=300)


def _start(kubectl, *args):
    return subprocess.Popen(
        ["kubectl", "sidecar", *args],
        env=kubectl.env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_line(process, text, timeout=300):
    """Read stderr until a line containing text; the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"never saw {text!r}; stderr so far: {''.join(lines)}")


@pytest.fixture
def stuck_rollout(admin, asm_mesh, fresh_namespace):
    """A namespace whose only Deployment is healthy, but whose new pods never become ready:
    a rollout that neither finishes nor fails."""
    seed.asm_mesh(admin, False)
    seed.deployment(admin, fresh_namespace, "legacy", replicas=1)
    seed.wait_for_pods(admin, fresh_namespace, 1)
    admin.patch(
        resource_path("v1", "namespaces", name=fresh_namespace),
        {"metadata": {"labels": {HOLD_LABEL: "true"}}},
    )
    return fresh_namespace


def test_sigterm_mid_wait_reports_what_was_done_and_exits_143(kubectl, stuck_rollout):
    ns = stuck_rollout
    run = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "0")
    _wait_for_line(run, f"deployment/legacy -n {ns} restarted")
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 143, out + err
    assert "Terminated." in out
    assert "Done: 1 of 1 config change(s), 0 of 1 workload(s) rolled out." in out
    assert f"restarted, rollout not confirmed: Deployment/legacy -n {ns}" in out
    assert "Run the same command again to continue" in out


def test_first_ctrl_c_waits_for_rollouts_in_flight_the_second_stops(kubectl, stuck_rollout):
    ns = stuck_rollout
    run = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "0")
    _wait_for_line(run, f"deployment/legacy -n {ns} restarted")
    run.send_signal(signal.SIGINT)
    _wait_for_line(run, "waiting for 1 rollout(s) in progress; starting no more. Ctrl-C again")
    assert run.poll() is None  # still waiting, as it said
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 130, out + err
    assert "Interrupted." in out and "rollout not confirmed: Deployment/legacy" in out


def test_a_frozen_api_server_ends_the_wait_by_the_deadline(
    kubectl, control_plane, admin, asm_mesh, fresh_namespace
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=1)
    seed.wait_for_pods(admin, ns, 1)
    apiserver = control_plane.state["pids"]["kube-apiserver"]
    run = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "5s")
    try:
        _wait_for_line(run, f"deployment/cart -n {ns} restarted")
        os.kill(apiserver, signal.SIGSTOP)
        frozen_at = time.monotonic()
        out, err = run.communicate(timeout=180)
        took = time.monotonic() - frozen_at
    finally:
        os.kill(apiserver, signal.SIGCONT)
    assert run.returncode == 1, out + err
    assert took < 90, f"the wait outlived its 5s deadline by far: {took:.0f}s"
    assert "timed out after 5s" in out or "did not answer" in out, out + err


def test_a_workload_failing_before_the_switch_is_restarted_but_never_stops_the_others(
    kubectl, admin, asm_mesh, fresh_namespace
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    for name in ("aaa-crashing", "cart", "web"):
        seed.deployment(admin, ns, name, replicas=1)
    seed.wait_for_pods(admin, ns, 3)
    _wait_for_rollouts(admin, ns)
    # Its pod stops being ready after its rollout completed: crash-looping, as far as its
    # Deployment can tell.
    [pod] = seed.pods(admin, ns, "app=aaa-crashing")
    admin.patch(
        resource_path("v1", "pods", ns, pod["metadata"]["name"], subresource="status"),
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False"},
                    {"type": "ContainersReady", "status": "False"},
                ]
            }
        },
        kind="strategic",
    )
    admin.wait_for(
        "the Deployment to notice",
        lambda: (
            admin.get(resource_path("apps/v1", "deployments", ns, "aaa-crashing"))["status"].get(
                "availableReplicas", 0
            )
            == 0
        ),
    )
    done = kubectl.sidecar(
        "switch", "--native", "-n", ns, "--yes", "--concurrency", "1", "--timeout", "10m"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Failing before the switch" in done.stdout and "1 of 1 pods unavailable" in done.stdout
    assert (
        f"restarted, not waited for (failing before: 1 of 1 pods unavailable): "
        f"Deployment/aaa-crashing -n {ns}"
    ) in done.stdout
    assert "2 of 3 workload(s) rolled out" in done.stdout
    assert "except in 1 workload(s) that were failing before the switch" in done.stdout


def test_a_run_far_longer_than_timeout_succeeds_when_each_rollout_is_within_it(
    kubectl, admin, asm_mesh, fresh_namespace
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    names = [f"svc{i}" for i in range(5)]
    for name in names:
        seed.deployment(admin, ns, name, replicas=1, annotations={READY_AFTER: "1.5"})
    seed.wait_for_pods(admin, ns, len(names))
    seed.wait_for_ready(admin, ns)
    started = time.monotonic()
    done = kubectl.sidecar(
        "switch", "--native", "-n", ns, "--yes", "--concurrency", "1", "--timeout", "6s"
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert took > 6, f"the run should outlast one --timeout ({took:.1f}s)"
    assert f"{len(names)} of {len(names)} workload(s) rolled out" in done.stdout


def test_an_api_server_restart_mid_wait_is_survived(
    kubectl, control_plane, admin, asm_mesh, fresh_namespace
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=1, annotations={READY_AFTER: "8"})
    seed.wait_for_pods(admin, ns, 1)
    seed.wait_for_ready(admin, ns)
    run = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "10m")
    _wait_for_line(run, f"deployment/cart -n {ns} restarted")
    control_plane.restart_apiserver(down_seconds=2)
    out, err = run.communicate(timeout=150)
    assert run.returncode == 0, out + err
    assert "1 of 1 workload(s) rolled out" in out
    assert "Verify: every pod" in out


def test_a_second_switch_while_one_runs_is_refused_with_who_holds_the_mesh(
    kubectl, admin, stuck_rollout
):
    ns = stuck_rollout
    first = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "0")
    try:
        _wait_for_line(first, f"deployment/legacy -n {ns} restarted")
        second = kubectl.sidecar("switch", "--traditional", "-n", ns, "--yes")
        assert second.returncode == 1, second.stdout + second.stderr
        [error] = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
        assert error.startswith("error: another run is switching this mesh: ")
        assert "holds Lease istio-system/kubectl-sidecar-switch on context admin" in error
        assert _asm_native(admin) is True  # the second run changed nothing
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=180)
    assert first.returncode == 143, out + err
    # A stopped run lets go: the next one needn't wait for the Lease to expire.
    lease = admin.get(
        resource_path("coordination.k8s.io/v1", "leases", "istio-system", "kubectl-sidecar-switch")
    )
    assert "holderIdentity" not in lease["spec"]


def test_a_lost_api_server_is_said_as_it_happens_and_named_at_the_deadline(
    kubectl, control_plane, stuck_rollout
):
    # The rollout can't finish (its new pod never becomes ready); the API server goes away
    # and stays away past the rollout's deadline: that is an outage, not a slow rollout.
    ns = stuck_rollout
    run = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "15s")
    try:
        _wait_for_line(run, f"deployment/legacy -n {ns} restarted")
        control_plane.stop_apiserver()
        said = _wait_for_line(run, "the API server is not answering (")
        assert "still waiting, each rollout within its --timeout" in said[-1]
        out, err = run.communicate(timeout=180)
    finally:
        control_plane.start_apiserver()
    assert run.returncode == 1, out + err
    assert (
        f"failed: Deployment/legacy -n {ns}: timed out after 15s: the API server is not "
        "answering (" in out
    ), out


def test_a_rerun_waits_for_the_rollout_a_stopped_run_left_in_flight(kubectl, admin, stuck_rollout):
    ns = stuck_rollout
    first = _start(kubectl, "switch", "--native", "-n", ns, "--yes", "--timeout", "0")
    _wait_for_line(first, f"deployment/legacy -n {ns} restarted")
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=180)
    assert first.returncode == 143, out + err
    restarted_at = seed.template_annotations(admin, ns, "legacy")[
        "kubectl.kubernetes.io/restartedAt"
    ]

    again = kubectl.sidecar("switch", "--native", "-n", ns, "--yes", "--timeout", "5s")
    said = again.stdout + again.stderr
    assert "Rolling out already (a run stopped midway?): waited for, not restarted again" in said
    assert f"deployment/legacy -n {ns}: its rollout in progress is waited for" in said
    after = seed.template_annotations(admin, ns, "legacy")["kubectl.kubernetes.io/restartedAt"]
    assert after == restarted_at  # not restarted a second time
