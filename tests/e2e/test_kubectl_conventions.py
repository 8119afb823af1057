"""Feels like kubectl: completion through kubectl's plugin completion, kubectl's connection flags
as the API server sees them (its audit log), and status -w following a real rollout."""

import json
import queue
import signal
import subprocess
import threading
import time
import uuid

import pytest

from tests.harness import seed
from tests.harness.controlplane import ADMIN_TOKEN


def completions(done):
    """The values of a `kubectl __complete ...` answer, and its directive line."""
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return [line.split("\t")[0] for line in lines[:-1]], lines[-1]


# --- completion through kubectl ------------------------------------------------------------------


def test_kubectl_completes_subcommands_through_the_helper(kubectl):
    values, directive = completions(kubectl("__complete", "sidecar", ""))
    assert values == ["completion", "restart", "status", "switch", "version"]
    assert directive == ":4"
    values, _ = completions(kubectl("__complete", "sidecar", "status", "--all"))
    assert values == ["--all-namespaces"]


def test_kubectl_completes_namespaces_from_the_cluster(kubectl, fresh_namespace):
    values, directive = completions(kubectl("__complete", "sidecar", "status", "-n", ""))
    assert {"default", "kube-system", fresh_namespace} <= set(values)
    assert directive == ":4"
    values, _ = completions(kubectl("__complete", "sidecar", "status", "-n", fresh_namespace[:-1]))
    assert fresh_namespace in values and "kube-system" not in values


def test_kubectl_completes_contexts_from_the_kubeconfig(kubectl):
    values, directive = completions(kubectl("__complete", "sidecar", "switch", "--context", ""))
    assert values == ["admin", "viewer"] and directive == ":4"


def test_kubectl_completes_workloads_for_switch_in_the_namespace(kubectl, admin, fresh_namespace):
    seed.deployment(admin, fresh_namespace, "cart", replicas=1)
    seed.statefulset(admin, fresh_namespace, "db", replicas=1)
    values, _ = completions(
        kubectl("__complete", "sidecar", "switch", "--traditional", "-n", fresh_namespace, "")
    )
    assert values == ["deployment/cart", "statefulset/db"]
    values, _ = completions(
        kubectl("__complete", "sidecar", "switch", "-n", fresh_namespace, "statefulset/")
    )
    assert values == ["statefulset/db"]


# --- connection flags, as the API server sees them --------------------------------------------


def audit_events(control_plane, marker):
    """The audit log's events for requests whose URI carries `marker` (a label selector)."""
    events = []
    with open(control_plane.audit_log) as log:
        for line in log:
            if marker in line:
                events.append(json.loads(line))
    return events


def wait_for_audit(control_plane, marker, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = audit_events(control_plane, marker)
        if events:
            return events
        time.sleep(0.2)
    raise AssertionError(f"no audit events for {marker}")


def test_impersonation_is_what_the_api_server_sees(kubectl, control_plane):
    marker = f"probe-{uuid.uuid4().hex[:8]}"
    done = kubectl.sidecar(
        "status",
        "-A",
        "-l",
        f"run={marker}",
        "--as",
        "viewer",
        "--as-group",
        "team-a",
        "--as-group",
        "team-b",
    )
    assert done.returncode == 0, done.stderr
    [event, *_] = [e for e in wait_for_audit(control_plane, marker) if e["verb"] == "list"]
    assert event["user"]["username"] == "admin"  # who we are
    assert event["impersonatedUser"]["username"] == "viewer"  # who we act as
    assert {"team-a", "team-b"} <= set(event["impersonatedUser"]["groups"])
    assert event["userAgent"].startswith("kubectl-sidecar/")


def test_impersonation_is_refused_when_the_caller_may_not_impersonate(kubectl):
    done = kubectl.sidecar("status", "-A", "--context", "viewer", "--as", "admin")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and "viewer" in line and "impersonate" in line


def test_server_and_token_without_a_kubeconfig(kubectl, control_plane, tmp_path):
    env = dict(kubectl.env, KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    done = subprocess.run(
        [
            "kubectl",
            "sidecar",
            "status",
            "-n",
            "kube-system",
            "--server",
            control_plane.state["server"],
            "--token",
            ADMIN_TOKEN,
            "--certificate-authority",
            str(control_plane.certs / "ca.crt"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # Without --certificate-authority the generated CA isn't trusted: kubectl's refusal too.
    untrusted = subprocess.run(
        [
            "kubectl",
            "sidecar",
            "status",
            "--server",
            control_plane.state["server"],
            "--token",
            ADMIN_TOKEN,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert untrusted.returncode == 1 and "not trusted" in untrusted.stderr


# --- status -w through a real rollout -------------------------------------------------------------


class Lines:
    """A process's stdout lines as they come, read on a thread so a test can wait with a limit."""

    def __init__(self, process):
        self.queue = queue.Queue()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.queue.put(line.rstrip("\n"))

    def until(self, predicate, timeout=300):
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if predicate(seen):
                return seen
        raise AssertionError(f"gave up waiting; saw {seen}")


@pytest.mark.usefixtures("asm_mesh")
def test_status_watch_prints_a_rollout_as_it_happens(kubectl, admin, fresh_namespace):
    ns = fresh_namespace
    seed.deployment(admin, ns, "cart", replicas=2)
    seed.wait_for_pods(admin, ns, 2)
    seed.asm_mesh(admin, True)  # the mesh now says native: the traditional pods need a restart
    process = subprocess.Popen(
        ["kubectl", "sidecar", "status", "-n", ns, "-w"],
        env=kubectl.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(process)
        table = lines.until(lambda seen: len(seen) == 3)
        assert table[0].split()[0] == "POD"
        assert all(
            row.split()[3:] == ["traditional", "native", "restart", "Deployment/cart"]
            for row in table[1:]
        )
        done = kubectl("rollout", "restart", "deployment/cart", "-n", ns)
        assert done.returncode == 0, done.stderr
        # The new pods appear as the rollout makes them, already native and fine.
        rows = lines.until(lambda seen: sum(row.endswith(" ok") for row in seen) == 2)
        new = [row.split() for row in rows if row.endswith(" ok")]
        assert all(
            row[1:5] == ["Deployment/cart", "istio-proxy", "native", "native"] for row in new
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=180) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        seed.asm_mesh(admin, False)


def test_status_exit_code_on_the_real_cluster(kubectl):
    # kube-system has no mesh pods: nothing needs action.
    assert kubectl.sidecar("status", "-n", "kube-system", "--exit-code").returncode == 0


def test_a_kubeconfig_problem_exits_1_however_the_file_was_named(kubectl, tmp_path):
    missing = str(tmp_path / "nope")
    by_flag = kubectl.sidecar("status", "--kubeconfig", missing)
    by_env = subprocess.run(
        ["kubectl", "sidecar", "status"],
        env=dict(kubectl.env, KUBECONFIG=missing, KUBERNETES_SERVICE_HOST=""),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert (by_flag.returncode, by_env.returncode) == (1, 1), by_flag.stderr + by_env.stderr
    assert by_flag.stderr.startswith("error: kubeconfig ") and "does not exist" in by_flag.stderr
    assert by_env.stderr.startswith("error: no kubeconfig found")
