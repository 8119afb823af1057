"""Fleets (two or more --context): status and switch over several FakeClusters, and the pure
pieces of fleet.py and render.py they are made of."""

import json
import threading
import time
from collections import Counter

import pytest
import yaml

from kubectl_sidecar import fleet, render, status
from kubectl_sidecar.connection import context_names
from kubectl_sidecar.errors import ApiError, InputError, Unreachable
from kubectl_sidecar.meshes.asm import MeshConfigChange
from kubectl_sidecar.meshes.base import MeshConfig, Setting
from kubectl_sidecar.meshes.istio import IstiodChange
from kubectl_sidecar.plan import Plan, Restart
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.status import Tally
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import asm_mesh_config, deployment, replicaset


def data_plane(context, mode="native", apps=("cart",)):
    """A data plane of one ASM instance: Deployments of two pods each, injected `mode`."""
    objects = {"Deployment": [], "ReplicaSet": [], "Pod": []}
    for app in apps:
        objects["Deployment"].append(deployment(app))
        objects["ReplicaSet"].append(replicaset(f"{app}-1", app))
        objects["Pod"] += [
            pods.istio(mode, name=f"{app}-1-{i}", owner=("ReplicaSet", f"{app}-1")) for i in "ab"
        ]
    return objects


def instance(native=True, **kwargs):
    """The ASM instance: only the ASMMeshConfig; patches to it take effect."""

    def on_patch(cluster, kind, namespace, name, body):
        cluster.objects["ASMMeshConfig"][0]["spec"].update(body["spec"])

    return FakeCluster(
        {"ASMMeshConfig": [asm_mesh_config(native)]},
        context="asm-instance",
        on_patch=on_patch,
        **kwargs,
    )


def rolled_by(mesh, fail=()):
    """on_patch for a data plane: a restarted Deployment gets new pods in the mode its
    template's override or else the instance's ASMMeshConfig says now; one named in fail
    can't create its pods, the first time it is restarted."""
    failing = set(fail)

    def on_patch(cluster, kind, namespace, name, body):
        if kind != "Deployment":
            return
        workload = next(d for d in cluster.objects["Deployment"] if d["metadata"]["name"] == name)
        workload["metadata"]["generation"] += 1
        workload["status"]["observedGeneration"] = workload["metadata"]["generation"]
        if name in failing:
            failing.discard(name)
            workload["status"]["conditions"] = [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": "spec.initContainers[1].restartPolicy: Forbidden",
                }
            ]
            return
        annotations = body["spec"]["template"]["metadata"]["annotations"]
        workload["spec"]["template"]["metadata"].setdefault("annotations", {}).update(annotations)
        override = workload["spec"]["template"]["metadata"]["annotations"].get(
            "sidecar.istio.io/nativeSidecar"
        )
        native = (
            (override == "true")
            if override
            else mesh.objects["ASMMeshConfig"][0]["spec"]["enableNativeSidecar"]
        )
        cluster.objects["ReplicaSet"].append(replicaset(f"{name}-2", name))
        cluster.objects["Pod"] = [
            p for p in cluster.objects["Pod"] if not p["metadata"]["name"].startswith(f"{name}-")
        ] + [
            pods.istio(
                "native" if native else "traditional",
                name=f"{name}-2-{i}",
                owner=("ReplicaSet", f"{name}-2"),
            )
            for i in "ab"
        ]

    return on_patch


@pytest.fixture
def asm_fleet(connect_to):
    """Two data planes (hz: cart, sh: cart and web), native like their instance."""
    mesh = instance(native=True)
    hz = FakeCluster(data_plane("hz"), context="hz", namespace="shop", on_patch=rolled_by(mesh))
    sh = FakeCluster(
        data_plane("sh", apps=("cart", "web")),
        context="sh",
        namespace="shop",
        on_patch=rolled_by(mesh),
    )
    connect_to(hz, sh, mesh)
    return hz, sh, mesh


FLEET = ("--context", "hz", "--context", "sh", "--mesh-context", "asm-instance")


# --- --context -------------------------------------------------------------------------------


def test_contexts_repeat_and_split_on_commas_each_once():
    assert context_names(None, None, ("a", "b,c", "a")) == ("a", "b", "c")
    assert context_names(None, None, ()) == ()
    with pytest.raises(InputError, match="a context name is empty"):
        context_names(None, None, ("a,",))


def test_an_empty_context_name_is_one_error_line(run):
    result = run("status", "--context", "a,,b")
    assert result.exit_code == 2
    assert (
        result.stderr.strip().splitlines()[0] == 'error: --context "a,,b": a context name is empty'
    )


# --- status ----------------------------------------------------------------------------------


def test_status_over_a_fleet_has_context_first_and_counts_per_context_and_in_total(asm_fleet, run):
    result = run("status", "-A", *FLEET)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "CONTEXT",
        "NAMESPACE",
        "POD",
        "WORKLOAD",
        "PROXY",
        "MODE",
        "DESIRED",
        "ACTION",
    ]
    assert [line.split()[:3] for line in lines[1:7]] == [
        ["hz", "shop", "cart-1-a"],
        ["hz", "shop", "cart-1-b"],
        ["sh", "shop", "cart-1-a"],
        ["sh", "shop", "cart-1-b"],
        ["sh", "shop", "web-1-a"],
        ["sh", "shop", "web-1-b"],
    ]
    assert lines[-3].startswith(
        "Context hz: Mesh asm: native (ASMMeshConfig/default on context asm-instance"
    )
    assert lines[-3].endswith("Pods: 2 native. 0 pod(s) need action, 0 workload(s) to restart.")
    assert lines[-2].startswith("Context sh: Mesh asm: native")
    assert lines[-1] == (
        "Total over 2 context(s): Pods: 6 native. 0 pod(s) need action, 0 workload(s) to restart."
    )


def test_status_summary_is_one_line_per_context_and_namespace(asm_fleet, run):
    result = run("status", "-A", "--summary", *FLEET)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["CONTEXT", "NAMESPACE", "NATIVE"]
    assert [line.split()[:3] for line in lines[1:3]] == [["hz", "shop", "2"], ["sh", "shop", "4"]]


def test_status_reads_each_contexts_own_namespace(asm_fleet, run):
    hz, sh, _ = asm_fleet
    result = run("status", *FLEET)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split()[:2] == ["CONTEXT", "POD"]
    assert ("list", "Pod", "shop", None) in hz.reads and ("list", "Pod", "shop", None) in sh.reads


def test_contexts_with_different_namespaces_show_the_namespace(run, connect_to):
    mesh = instance()
    hz = FakeCluster(data_plane("hz"), context="hz", namespace="shop")
    sh = FakeCluster(data_plane("sh"), context="sh", namespace="default")
    connect_to(hz, sh, mesh)
    result = run("status", *FLEET)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split()[:3] == ["CONTEXT", "NAMESPACE", "POD"]
    assert [line.split()[:2] for line in result.stdout.splitlines()[1:3]] == [
        ["hz", "shop"],
        ["hz", "shop"],
    ]
    assert "Context sh: Mesh asm: native" in result.stdout  # nothing in sh's default namespace
    assert "Pods: none." in result.stdout.splitlines()[-2]


def test_an_unreachable_context_is_one_line_and_the_others_are_shown(run, connect_to):
    class Down(FakeCluster):
        def list_items(self, *args, **kwargs):
            raise Unreachable("can't reach the API server of context down: connection refused")

    mesh = instance()
    connect_to(FakeCluster(data_plane("hz"), context="hz"), Down(context="down"), mesh)
    result = run("status", "-A", "--context", "hz,down", "--mesh-context", "asm-instance")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: context down: can't reach the API server of context down: connection refused"
    ]
    assert [line.split()[0] for line in result.stdout.splitlines()[1:3]] == ["hz", "hz"]
    assert result.stdout.splitlines()[-1].startswith(
        "Total over 1 context(s) (1 more not read: down): Pods: 2 native."
    )


def test_a_forbidden_context_is_one_line_in_json_too(run, connect_to):
    mesh = instance()
    hz = FakeCluster(data_plane("hz"), context="hz")
    sh = FakeCluster(data_plane("sh"), context="sh", refuse={"Pod"})
    connect_to(hz, sh, mesh)
    result = run("status", "-A", "-o", "json", *FLEET)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        'error: context sh: pods is forbidden: User "viewer" cannot list resource "pods" in '
        'API group ""'
    ]
    doc = json.loads(result.stdout)
    assert doc["errors"] == [
        {
            "context": "sh",
            "message": 'pods is forbidden: User "viewer" '
            'cannot list resource "pods" in API group ""',
        }
    ]
    assert {item["context"] for item in doc["items"]} == {"hz"}
    assert list(doc["mesh"]["contexts"]) == ["hz"]


def test_an_invalid_selector_is_bad_input_in_a_fleet_too(run, connect_to):
    class BadSelector(FakeCluster):
        def list_items(self, resource, *args, **kwargs):
            raise ApiError(400, "BadRequest", "unable to parse requirement")

    connect_to(BadSelector(context="hz"), BadSelector(context="sh"), instance())
    result = run("status", "-A", "-l", "app=(", *FLEET)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        'error: invalid selector "app=(": unable to parse requirement'
    ]


def test_exit_code_over_a_fleet(run, connect_to):
    mesh = instance(native=False)
    hz = FakeCluster(data_plane("hz", "traditional"), context="hz")
    sh = FakeCluster(data_plane("sh", "native"), context="sh")
    connect_to(hz, sh, mesh)
    assert run("status", "-A", "--exit-code", *FLEET).exit_code == 1  # sh needs restarts
    connect_to(hz, FakeCluster(data_plane("sh", "traditional"), context="sh"), mesh)
    assert run("status", "-A", "--exit-code", *FLEET).exit_code == 0
    connect_to(hz, FakeCluster(context="sh", refuse={"Pod"}), mesh)
    unread = run("status", "-A", "--exit-code", *FLEET)
    assert unread.exit_code == 3  # can't be told, as for one cluster
    assert unread.stderr.count("error:") == 1


def test_flags_for_one_context_are_refused_with_several(run):
    watch = run("status", "-w", "--context", "hz,sh")
    assert watch.exit_code == 2
    assert watch.stderr.splitlines()[0] == (
        "error: --watch follows one context: not with several --context"
    )
    server = run("status", "--server", "https://127.0.0.1:6443", "--context", "hz,sh")
    assert server.exit_code == 2
    assert server.stderr.splitlines()[0].startswith(
        "error: --cluster, --user, --server, --token and the TLS flags choose one API server"
    )


def test_status_json_adds_context_fields_only(asm_fleet, run):
    result = run("status", "-A", "-o", "json", *FLEET)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["apiVersion"] == "kubectl-sidecar/v1alpha1" and doc["kind"] == "SidecarStatus"
    assert doc["mesh"]["name"] == "asm" and doc["mesh"]["configuredMode"] == "native"
    assert set(doc["mesh"]["contexts"]) == {"hz", "sh"}
    assert doc["mesh"]["contexts"]["sh"]["context"] == "asm-instance"
    assert doc["summary"]["pods"] == 6
    assert doc["summary"]["contexts"]["hz"]["pods"] == 2
    # Contexts may interleave (as their pages come); each one's pods are in the API's order.
    assert [i["pod"] for i in doc["items"] if i["context"] == "hz"] == ["cart-1-a", "cart-1-b"]
    assert [i["pod"] for i in doc["items"] if i["context"] == "sh"][:2] == ["cart-1-a", "cart-1-b"]
    one_context_item = {
        "namespace",
        "pod",
        "workload",
        "proxy",
        "mode",
        "desiredMode",
        "desiredModeSource",
        "needsRestart",
        "action",
        "problems",
        "node",
        "revision",
        "creationTimestamp",
        "ambient",
    }
    assert set(doc["items"][0]) == one_context_item | {"context"}
    assert doc["errors"] == []


# --- reading several contexts at once: the order Batches come in, and how far ahead ----------


class Paced(FakeCluster):
    """A data plane of `count` pods of Deployment/cart, handed out one by one: before pod
    `wait_at` the list waits until `until()` is true, at pod `fail_at` the server is lost;
    `pulled` counts the pods handed out so far."""

    def __init__(self, context, count, wait_at=None, until=None, fail_at=None):
        objects = data_plane(context)
        objects["Pod"] = [
            pods.istio("native", name=f"cart-1-{i:05d}", owner=("ReplicaSet", "cart-1"))
            for i in range(count)
        ]
        super().__init__(objects, context=context, namespace="shop")
        self.wait_at, self.fail_at = wait_at, fail_at
        self.until = until or threading.Event().is_set
        self.go = threading.Event()
        self.pulled = 0

    def list_items(self, resource, *args, **kwargs):
        listing = super().list_items(resource, *args, **kwargs)
        return self._paced(listing) if resource.kind == "Pod" else listing

    def _paced(self, listing):
        for pod in listing:
            if self.pulled == self.wait_at:
                deadline = time.monotonic() + 300
                while not (self.go.is_set() or self.until()):
                    assert time.monotonic() < deadline, f"{self.context} waited 300s"
                    self.go.wait(0.01)
            if self.pulled == self.fail_at:
                raise Unreachable(f"can't reach the API server of context {self.context}")
            self.pulled += 1
            yield pod


def reading(*clusters, mesh=None):
    """fleet.Members and status.Assessors of these data planes, one ASM instance for all."""
    mesh = mesh or instance()
    members = [fleet.Member(c.context, c, mesh) for c in clusters]
    assessors = [status.Assessor(c, status.Scope(), "auto", mesh) for c in clusters]
    return members, assessors


def seen(batch):
    return (batch.member.name, "done" if batch.done else len(batch.rows))


def test_a_document_stream_goes_on_with_the_contexts_ready_while_one_waits():
    slow, ready = Paced("a", 1200, wait_at=500), Paced("b", 1200)
    got = []
    for batch in fleet.stream(*reading(slow, ready), in_order=False):
        got.append(seen(batch))
        if got[-1] == ("b", "done"):
            slow.go.set()  # a's second page is read only now: b never waited for it
    assert sorted(got[:2]) == [("a", 500), ("b", 500)]  # every context's first page first
    assert got[2:] == [("b", 500), ("b", 200), ("b", "done"), ("a", 500), ("a", 200), ("a", "done")]


def test_the_table_stream_keeps_the_contexts_in_the_order_given():
    got = [seen(b) for b in fleet.stream(*reading(Paced("a", 600), Paced("b", 600)))]
    assert got == [("a", 500), ("a", 100), ("a", "done"), ("b", 500), ("b", 100), ("b", "done")]


def test_while_a_context_has_sent_nothing_the_others_read_only_their_read_ahead():
    ahead = 2
    ready = Paced("b", 3000)
    # a's first page waits until b has read as far as it may: its read ahead, and one page
    # waiting for room. A stream that let b go on would read all six of b's pages here.
    slow = Paced("a", 600, wait_at=0, until=lambda: ready.pulled >= (ahead + 1) * 500)
    batches = fleet.stream(*reading(slow, ready), read_ahead=ahead, in_order=False)
    first = next(batches)
    assert ready.pulled <= (ahead + 1) * 500
    rows = Counter({first.member.name: len(first.rows)})
    for batch in batches:
        rows[batch.member.name] += len(batch.rows)
    assert rows == {"a": 600, "b": 3000}


def test_a_fleet_document_of_several_pages_holds_every_pod_of_every_context(run, connect_to):
    for output, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        connect_to(Paced("hz", 1100), Paced("sh", 600), instance())
        result = run("status", "-A", "-o", output, *FLEET)
        assert result.exit_code == 0, result.stderr
        doc = parse(result.stdout)
        assert list(doc) == ["apiVersion", "kind", "mesh", "items", "summary", "warnings", "errors"]
        names = {"hz": [], "sh": []}
        for item in doc["items"]:
            names[item["context"]].append(item["pod"])
        # Contexts may interleave; each one's pods come in the API's order, each once.
        assert names == {
            "hz": [f"cart-1-{i:05d}" for i in range(1100)],
            "sh": [f"cart-1-{i:05d}" for i in range(600)],
        }
        assert doc["summary"]["pods"] == 1700
        assert {c: s["pods"] for c, s in doc["summary"]["contexts"].items()} == {
            "hz": 1100,
            "sh": 600,
        }
        assert list(doc["mesh"]["contexts"]) == ["hz", "sh"] and doc["errors"] == []


def test_a_context_lost_midway_keeps_its_items_and_is_named_after_them(run, connect_to):
    for output, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        connect_to(Paced("hz", 600), Paced("sh", 800, fail_at=700), instance())
        result = run("status", "-A", "-o", output, *FLEET)
        assert result.exit_code == 1  # as for a context that can't be read at all
        assert result.stderr.strip().splitlines() == [
            "error: context sh: can't reach the API server of context sh"
        ]
        doc = parse(result.stdout)
        items = Counter(item["context"] for item in doc["items"])
        assert items == {"hz": 600, "sh": 500}  # sh's first page was written before it failed
        assert doc["errors"] == [
            {"context": "sh", "message": "can't reach the API server of context sh"}
        ]
        # The summary counts the contexts read whole, as the table's does.
        assert doc["summary"]["pods"] == 600 and list(doc["summary"]["contexts"]) == ["hz"]
        assert list(doc["mesh"]["contexts"]) == ["hz", "sh"]  # sh's was read with its first page


# --- switch ----------------------------------------------------------------------------------


def test_switch_patches_the_instance_once_and_restarts_in_every_context(asm_fleet, run, connect_to):
    hz, sh, mesh = asm_fleet
    result = run("switch", "--traditional", "--yes", *FLEET)
    assert result.exit_code == 0, result.output
    assert [(p[0], p[2], p[3]) for p in mesh.patches] == [
        ("ASMMeshConfig", "default", {"spec": {"enableNativeSidecar": False}})
    ]
    assert [p[2] for p in hz.patches] == ["cart"]
    assert sorted(p[2] for p in sh.patches) == ["cart", "web"]
    out = result.stdout
    assert "Plan: switch to traditional sidecars across 2 contexts (hz, sh)." in out
    assert out.count("ASMMeshConfig default on context asm-instance") == 1
    assert (
        "Verify: in all 2 contexts every pod that a restart could switch is in its target mode."
    ) in out
    assert "[hz] deployment/cart -n shop restarted" in result.stderr
    assert "[asm-instance] asmmeshconfig.istio.alibabacloud.com/default patched" in result.stderr
    # Access was asked of each API server where a write goes, before the first write.
    # The run's one Lease goes beside ASM's config, on the instance shared by both contexts.
    assert {r["resource"] for r in mesh.reviews} == {"asmmeshconfigs", "leases"}
    assert {r["resource"] for r in sh.reviews} == {"deployments"}
    assert [(ns, spec.get("holderIdentity") is not None) for ns, _, spec in mesh.lease_writes][
        :1
    ] == [("istio-system", True)]
    assert mesh.lease_writes[-1][2].get("holderIdentity") is None  # let go at the end
    assert hz.lease_writes == [] and sh.lease_writes == []

    connect_to(hz, sh, mesh)  # a second command connects again
    again = run("switch", "--traditional", "--yes", *FLEET)
    assert again.exit_code == 0, again.output
    assert "Nothing to change in any context." in again.stdout
    assert len(mesh.patches) == 1 and len(hz.patches) == 1 and len(sh.patches) == 2


def test_a_rerun_after_a_failure_continues_in_every_context(run, connect_to):
    mesh = instance(native=True)
    hz = FakeCluster(data_plane("hz"), context="hz", on_patch=rolled_by(mesh, fail=("cart",)))
    sh = FakeCluster(data_plane("sh", apps=("cart", "web")), context="sh", on_patch=rolled_by(mesh))
    connect_to(hz, sh, mesh)
    first = run("switch", "--traditional", "--yes", "--concurrency", "1", *FLEET)
    assert first.exit_code == 1, first.output
    assert "[hz] FAILED Deployment/cart -n shop" in first.stderr
    assert "Run the same command again to continue" in first.stdout
    assert len(mesh.patches) == 1

    # The webhook is fixed; the rerun restarts what is still in the old mode, everywhere.
    hz.on_patch = rolled_by(mesh)
    hz.objects["Deployment"][0]["status"].pop("conditions")
    restarted_before = {(c.context, p[2]) for c in (hz, sh) for p in c.patches}
    connect_to(hz, sh, mesh)
    again = run("switch", "--traditional", "--yes", *FLEET)
    assert again.exit_code == 0, again.output
    assert len(mesh.patches) == 1  # the instance was already switched
    assert "Mesh config changes" not in again.stdout
    patched = Counter((c.context, p[2]) for c in (hz, sh) for p in c.patches)
    # Only the failed restart is made twice: what rolled out before is not restarted again.
    assert patched == {("hz", "cart"): 2, ("sh", "cart"): 1, ("sh", "web"): 1}
    assert ("hz", "cart") in restarted_before
    assert all("-2-" in p["metadata"]["name"] for c in (hz, sh) for p in c.objects["Pod"])
    assert "Verify: in all 2 contexts" in again.stdout


def test_ctrl_c_stops_starting_in_every_context_and_a_rerun_finishes(
    asm_fleet, run, connect_to, mocker
):
    hz, sh, mesh = asm_fleet
    real_wait = fleet.wait
    calls = []
    # sh's first restart is held in flight until the Ctrl-C has been handled.
    gate = threading.Event()
    rollout = sh.on_patch

    def held(*args):
        gate.wait(5)
        rollout(*args)

    sh.on_patch = held

    def interrupted_once(*args, **kwargs):
        # Ctrl-C reaches the main thread while sh's first restart is in flight.
        calls.append(1)
        if len(calls) == 1:
            deadline = time.monotonic() + 5
            while not sh.patches and time.monotonic() < deadline:
                time.sleep(0.001)
            raise KeyboardInterrupt
        gate.set()
        return real_wait(*args, **kwargs)

    mocker.patch("kubectl_sidecar.fleet.wait", side_effect=interrupted_once)
    first = run("switch", "--traditional", "--yes", "--concurrency", "1", *FLEET)
    assert first.exit_code == 130, first.output
    assert (
        "Interrupted: waiting for the rollouts in progress in every context; starting no "
        "more. Ctrl-C again to stop waiting."
    ) in first.stderr
    assert "not started: Deployment/web -n shop" in first.stdout
    assert "Run the same command again to continue" in first.stdout
    assert [p[2] for p in sh.patches] == ["cart"]

    mocker.patch("kubectl_sidecar.fleet.wait", side_effect=real_wait)
    sh.on_patch = rollout
    connect_to(hz, sh, mesh)
    again = run("switch", "--traditional", "--yes", *FLEET)
    assert again.exit_code == 0, again.output
    assert [p[2] for p in sh.patches] == ["cart", "web"] and len(mesh.patches) == 1


def test_switch_json_is_the_outcome_per_context(asm_fleet, run):
    result = run("switch", "--traditional", "--yes", "-o", "json", *FLEET)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "SwitchResult" and doc["result"] == {"exitCode": 0}
    assert [(c["context"], c["result"]["rolledOut"]) for c in doc["contexts"]] == [
        ("hz", ["Deployment/cart -n shop"]),
        ("sh", ["Deployment/cart -n shop", "Deployment/web -n shop"]),
    ]
    assert len(doc["contexts"][0]["result"]["configChanged"]) == 1
    assert "Plan: switch to traditional" in result.stderr  # the human report


def test_pin_failed_pins_the_failed_workload_in_its_own_context(run, connect_to):
    mesh = instance(native=True)
    hz = FakeCluster(data_plane("hz"), context="hz", on_patch=rolled_by(mesh, fail=("cart",)))
    sh = FakeCluster(data_plane("sh", apps=("cart", "web")), context="sh", on_patch=rolled_by(mesh))
    connect_to(hz, sh, mesh)
    result = run("switch", "--traditional", "--yes", "--keep-going", "--pin-failed", *FLEET)
    assert result.exit_code == 1, result.output
    assert "pinned back to the old mode: Deployment/cart -n shop" in result.stdout
    assert (
        "[hz] deployment/cart -n shop pinned (sidecar.istio.io/nativeSidecar=true)" in result.stderr
    )
    pin = hz.patches[-1][3]["spec"]["template"]["metadata"]["annotations"]
    assert pin == {"sidecar.istio.io/nativeSidecar": "true"}
    # sh's workloads rolled out and were not pinned: their one patch each is the restart.
    assert [set(p[3]["spec"]["template"]["metadata"]["annotations"]) for p in sh.patches] == [
        {"kubectl.kubernetes.io/restartedAt"}
    ] * 2


def test_no_restart_changes_the_config_once_and_says_how_to_finish(asm_fleet, run):
    hz, sh, mesh = asm_fleet
    result = run("switch", "--traditional", "--yes", "--no-restart", *FLEET)
    assert result.exit_code == 0, result.output
    assert len(mesh.patches) == 1 and hz.patches == sh.patches == []
    assert (
        "Restart them later in every context with: kubectl sidecar restart -A --context "
        "hz,sh --mesh-context asm-instance"
    ) in result.stdout


def test_a_per_workload_switch_annotates_the_workload_in_every_context(asm_fleet, run):
    hz, sh, mesh = asm_fleet
    result = run("switch", "--traditional", "deployment/cart", "-n", "shop", "--yes", *FLEET)
    assert result.exit_code == 0, result.output
    assert mesh.patches == []  # the mesh-wide config stays as it is
    for cluster in (hz, sh):
        [(kind, _, name, body, _, _)] = cluster.patches
        assert (kind, name) == ("Deployment", "cart")
        assert body["spec"]["template"]["metadata"]["annotations"] == {
            "sidecar.istio.io/nativeSidecar": "false"
        }


def test_a_refusal_in_one_context_writes_nothing_anywhere(run, connect_to):
    mesh = instance()
    hz = FakeCluster(data_plane("hz"), context="hz", on_patch=rolled_by(mesh))
    sh = FakeCluster(data_plane("sh"), context="sh", refuse_writes={"Deployment"})
    connect_to(hz, sh, mesh)
    result = run("switch", "--traditional", "--yes", *FLEET)
    assert result.exit_code == 1
    assert "Refused: may not patch deployments.apps in namespace shop (context sh)" in result.stderr
    assert "Nothing was changed in any context: 1 permission(s)" in result.stdout
    assert mesh.patches == [] and hz.patches == [] and sh.patches == []


def test_dry_run_json_is_one_plan_per_context(asm_fleet, run):
    hz, sh, mesh = asm_fleet
    result = run("switch", "--traditional", "--dry-run", "-o", "json", *FLEET)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "SwitchPlan"
    assert [c["context"] for c in doc["contexts"]] == ["hz", "sh"]
    assert len(doc["contexts"][0]["plan"]["configChanges"]) == 1
    assert doc["contexts"][1]["plan"]["configChanges"] == []
    assert [r["name"] for r in doc["contexts"][1]["plan"]["restarts"]] == ["cart", "web"]
    assert mesh.patches == hz.patches == sh.patches == []


def test_restart_over_a_fleet_restarts_only_what_differs(run, connect_to):
    mesh = instance(native=False)
    hz = FakeCluster(
        data_plane("hz", "native"), context="hz", namespace="shop", on_patch=rolled_by(mesh)
    )
    sh = FakeCluster(
        data_plane("sh", "traditional"), context="sh", namespace="shop", on_patch=rolled_by(mesh)
    )
    connect_to(hz, sh, mesh)
    result = run("restart", "--yes", *FLEET)
    assert result.exit_code == 0, result.output
    assert [p[2] for p in hz.patches] == ["cart"] and sh.patches == [] and mesh.patches == []


def test_contexts_sharing_an_instance_that_disagree_are_refused_unless_forced(run, connect_to):
    # sh runs Linkerd with its own config: it is not a data plane of the ASM instance.
    mesh = instance()
    hz = FakeCluster(data_plane("hz"), context="hz", on_patch=rolled_by(mesh))
    linkerd_config = {
        "metadata": {"name": "linkerd-config", "namespace": "linkerd"},
        "data": {"values": "linkerdVersion: edge-26.5.2\nproxy:\n  nativeSidecar: true\n"},
    }
    sh = FakeCluster(
        {
            "Pod": [pods.linkerd("native", name="api-0")],
            "ConfigMap": [linkerd_config],
            "Namespace": [],
        },
        context="sh",
    )
    connect_to(hz, sh, mesh)
    result = run("switch", "--traditional", "--yes", *FLEET)
    assert result.exit_code == 1, result.output
    assert (
        "Refused: contexts sharing the mesh config on asm-instance report different "
        "configured modes: hz: asm: native" in result.stderr
    )
    assert "sh: linkerd: native" in result.stderr
    assert mesh.patches == hz.patches == sh.patches == []


# --- the pure pieces ---------------------------------------------------------------------------


def asm(mode, context="asm-instance"):
    return MeshConfig(
        "asm",
        mesh_wide=Setting(mode == "native", f"ASMMeshConfig/default on context {context}"),
        context=context,
    )


def test_disagreements_only_between_contexts_sharing_one_config():
    assert fleet.disagreements({"a": asm("native"), "b": asm("native")}, "asm-instance") == []
    lines = fleet.disagreements({"a": asm("native"), "b": asm("traditional")}, "asm-instance")
    assert len(lines) == 1 and "a: asm: native" in lines[0] and "b: asm: traditional" in lines[0]
    # Istio primaries each have their own istiod: nothing shared, nothing to agree on.
    assert fleet.disagreements({"a": asm("native"), "b": asm("traditional")}, None) == []
    istio_a = MeshConfig("istio", revisions={"default": Setting(True, "istiod")}, context="a")
    istio_b = MeshConfig("istio", revisions={"default": Setting(False, "istiod")}, context="b")
    assert fleet.disagreements({"a": istio_a, "b": istio_b}, "asm-instance") == []
    # ... but one context not reading the instance its fleet shares is a disagreement.
    assert fleet.disagreements({"a": asm("native"), "b": istio_b}, "asm-instance") != []


def test_a_config_write_planned_by_several_contexts_is_kept_once():
    shared = MeshConfigChange(
        "asm", "ASMMeshConfig", None, "default", "true", "false", "asm-instance"
    )
    istiod_a = IstiodChange("istio", "Deployment", "istio-system", "istiod", "true", "false", "a")
    istiod_b = IstiodChange("istio", "Deployment", "istio-system", "istiod", "true", "false", "b")
    plans = {
        "a": Plan("traditional", config_changes=[shared, istiod_a]),
        "b": Plan("traditional", config_changes=[shared, istiod_b]),
    }
    fleet.dedupe_config_changes(plans)
    assert plans["a"].config_changes == [shared, istiod_a]
    assert plans["b"].config_changes == [istiod_b]


def test_total_counts_a_workload_per_context():
    class Row:
        def __init__(self, mode, needs):
            self.namespace, self.mode, self.needs_restart = "shop", mode, needs
            self.ambient = None
            self.workload = WorkloadRef("Deployment", "shop", "cart")
            from kubectl_sidecar.actions import Remedy, Step

            self.remedy = Remedy(Step.RESTART if needs else Step.OK, self.workload)

    a = Tally().add([Row("native", True), Row("native", True)])
    b = Tally().add([Row("native", True), Row("traditional", False)])
    whole = fleet.total({"a": a, "b": b})
    assert whole.pods == 4 and whole.needs_action == 3 and len(whole.workloads) == 2
    assert whole.per_namespace["shop"]["native"] == 3


def test_fleet_plan_text_is_per_context_and_says_where_nothing_changes():
    istiod = IstiodChange("istio", "Deployment", "istio-system", "istiod", "true", "false", "a")
    plan = Plan(
        "traditional", config_changes=[istiod], restarts=[Restart("Deployment", "shop", "cart", 2)]
    )
    text = render.plan_text([("a", plan, None), ("b", Plan("traditional"), None)])
    lines = text.splitlines()
    assert lines[0] == "Plan: switch to traditional sidecars across 2 contexts (a, b)."
    assert lines[1:4] == [
        "",
        "Mesh config changes:",
        "  Deployment istio-system/istiod on context a: env ENABLE_NATIVE_SIDECARS true -> false",
    ]
    assert "Context a:" in lines and "Context b:" in lines
    assert "    shop        Deployment/cart   2" in lines
    after_b = lines[lines.index("Context b:") + 1]
    assert after_b.startswith("  Nothing to restart here.")


def test_fleet_summary_lines():
    tally = Tally()
    lines = render.summary_lines([("a", asm("native"), tally)], tally, failed=["b"])
    assert lines.splitlines() == [
        "Context a: Mesh asm: native (ASMMeshConfig/default on context asm-instance). Pods: "
        "none. 0 pod(s) need action, 0 workload(s) to restart.",
        "Total over 1 context(s) (1 more not read: b): Pods: none. 0 pod(s) need action, "
        "0 workload(s) to restart.",
    ]
