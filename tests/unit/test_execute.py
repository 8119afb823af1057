"""The executor: per-rollout deadlines, keep-going, pinning, with FakeCluster playing the
controllers (its watch replays objects as they now are) and a clock the tests control."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from kubectl_sidecar import execute
from kubectl_sidecar.errors import ApiError
from kubectl_sidecar.execute import Executor
from kubectl_sidecar.meshes import istio
from kubectl_sidecar.patches import RESTARTED_AT
from kubectl_sidecar.plan import Override, Restart
from kubectl_sidecar.signals import signals_held
from kubectl_sidecar.workloads import facts_index
from tests.unit.fake_cluster import FakeCluster


class TickingClock:
    """Every reading is ten seconds after the last."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 10
        return self.now


def deployment(name, replicas=1):
    return {
        "metadata": {"name": name, "namespace": "shop", "generation": 1},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


def controllers(reads_to_finish=3, failing=(), never=()):
    """on_patch starts a rollout; after `reads_to_finish` reads of a workload it completes,
    fails (ReplicaFailure) for names in failing, and never moves for names in never."""
    reads = {}

    def on_patch(cluster, kind, namespace, name, body):
        obj = next(o for o in cluster.objects[kind] if o["metadata"]["name"] == name)
        obj["metadata"]["generation"] += 1
        obj["status"].update(observedGeneration=obj["metadata"]["generation"], updatedReplicas=0)
        reads[name] = 0

    def on_get(obj):
        name = obj["metadata"]["name"]
        if name not in reads or name in never:
            return
        reads[name] += 1
        if reads[name] < reads_to_finish:
            return
        if name in failing:
            obj["status"]["conditions"] = [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": "webhook said no",
                }
            ]
        else:
            obj["status"].update(
                updatedReplicas=obj["spec"]["replicas"], availableReplicas=obj["spec"]["replicas"]
            )

    return on_patch, on_get


def fleet(*names, **behaviour):
    on_patch, on_get = controllers(**behaviour)
    return FakeCluster(
        {"Deployment": [deployment(name) for name in names]},
        namespace="shop",
        on_patch=on_patch,
        on_get=on_get,
    )


def executor(cluster, timeout=60, concurrency=1, keep_going=False):
    return Executor(
        cluster,
        say=lambda text: None,
        timeout=timeout,
        concurrency=concurrency,
        keep_going=keep_going,
        clock=TickingClock(),
        sleep=lambda seconds: None,
    )


def restarts(*names):
    return [Restart("Deployment", "shop", name, 1) for name in names]


def said(refs):
    """The outcome's workloads as the run's report spells them."""
    return [str(ref) for ref in refs]


def test_no_timeout_waits_as_long_as_the_rollout_takes():
    run = executor(fleet("cart", reads_to_finish=20), timeout=None)
    assert said(run.run(restarts("cart")).succeeded) == ["Deployment/cart -n shop"]


def test_a_timeout_ends_one_rollouts_wait_and_says_where_it_stood():
    outcome = executor(fleet("cart", never={"cart"}), timeout=60).run(restarts("cart"))
    [(ref, why)] = outcome.failed
    assert str(ref) == "Deployment/cart -n shop"
    assert why.startswith('timed out after 60s: Waiting for deployment "cart" rollout to finish')


def test_the_timeout_bounds_each_rollout_not_the_whole_run():
    # Each rollout takes ~30 "seconds" of the 60 allowed; the three take ~90 one after another.
    names = ("a", "b", "c")
    run = executor(fleet(*names, reads_to_finish=3), timeout=60, concurrency=1)
    outcome = run.run(restarts(*names))
    assert sorted(said(outcome.succeeded)) == [f"Deployment/{n} -n shop" for n in names]
    assert not outcome.failed and not outcome.not_started


def test_a_failed_rollout_stops_new_restarts_unless_keep_going():
    stopped = executor(fleet("a", "b", failing={"a"})).run(restarts("a", "b"))
    assert said(ref for ref, _ in stopped.failed) == ["Deployment/a -n shop"]
    assert "webhook said no" in stopped.failed[0][1]
    assert said(stopped.not_started) == ["Deployment/b -n shop"]
    going = executor(fleet("a", "b", failing={"a"}), keep_going=True).run(restarts("a", "b"))
    assert said(ref for ref, _ in going.failed) == ["Deployment/a -n shop"]
    assert said(going.succeeded) == ["Deployment/b -n shop"] and not going.not_started


def test_already_unhealthy_workloads_are_restarted_but_not_waited_for():
    broken = Restart("Deployment", "shop", "a", 1, unhealthy="1 of 1 pods unavailable")
    cluster = fleet("a", "b", never={"a"})
    outcome = executor(cluster).run(
        [broken] + restarts("b"), waited=lambda item: item.unhealthy is None
    )
    assert [p[2] for p in cluster.patches] == ["a", "b"]
    assert [(str(ref), why) for ref, why in outcome.not_waited] == [
        ("Deployment/a -n shop", "1 of 1 pods unavailable")
    ]
    assert said(outcome.succeeded) == ["Deployment/b -n shop"] and not outcome.failed


def test_pinning_sends_the_override_and_waits_for_its_rollout():
    cluster = fleet("a")
    run = executor(cluster)
    run.pin([Override("Deployment", "shop", "a", "sidecar.istio.io/nativeSidecar", "false")])
    assert cluster.patches[0][3] == {
        "spec": {
            "template": {"metadata": {"annotations": {"sidecar.istio.io/nativeSidecar": "false"}}}
        }
    }
    assert said(run.outcome.pinned) == ["Deployment/a -n shop"]


def test_a_write_the_server_briefly_refuses_is_retried_until_it_lands():
    from kubectl_sidecar.errors import ApiError, Unreachable

    class Flaky(FakeCluster):
        answers = [
            ApiError(503, "ServiceUnavailable", "etcd leader changed"),
            Unreachable("connection reset"),
        ]

        def patch(self, *args, **kwargs):
            if self.answers:
                raise self.answers.pop(0)
            return super().patch(*args, **kwargs)

    on_patch, on_get = controllers()
    cluster = Flaky({"Deployment": [deployment("a")]}, on_patch=on_patch, on_get=on_get)
    outcome = executor(cluster, timeout=600).run(restarts("a"))
    assert said(outcome.succeeded) == ["Deployment/a -n shop"] and not Flaky.answers


def test_a_write_refused_for_good_is_not_retried_and_is_recorded_as_refused():
    cluster = fleet("a")
    cluster.refuse_writes = {"Deployment"}
    outcome = executor(cluster).run(restarts("a"))
    assert said(outcome.refused) == ["Deployment/a -n shop"]
    assert "forbidden" in outcome.failed[0][1]


def test_a_run_holds_only_the_rollouts_in_flight():
    # Memory of a run over a big mesh: each workload's object is kept while its rollout is
    # waited for, then let go; what the watch reports of the others is not kept at all.
    names = [f"svc{n}" for n in range(6)]
    cluster = fleet(*names, reads_to_finish=2)
    run = executor(cluster, timeout=None, concurrency=2)
    held = []
    wait = run.tracker.wait

    def measured_wait(key, **kwargs):
        held.append(set(run.tracker._objects))
        return wait(key, **kwargs)

    run.tracker.wait = measured_wait
    outcome = run.run(restarts(*names))
    assert sorted(said(outcome.succeeded)) == sorted(f"Deployment/{n} -n shop" for n in names), (
        outcome
    )
    assert held and max(len(keys) for keys in held) <= 2
    assert run.tracker._objects == {}


def test_a_workload_already_rolling_out_is_waited_for_not_restarted_again():
    # A run stopped midway left cart's rollout under way: its new pods get the new mode.
    cluster = fleet("cart", reads_to_finish=3)
    cluster.on_patch(cluster, "Deployment", "shop", "cart", {})  # the rollout in flight
    said = []
    run = Executor(
        cluster, say=said.append, timeout=60, clock=TickingClock(), sleep=lambda seconds: None
    )
    outcome = run.run([Restart("Deployment", "shop", "cart", 1, in_flight=True)])
    assert [str(ref) for ref in outcome.succeeded] == ["Deployment/cart -n shop"]
    assert cluster.patches == []
    assert (
        "deployment/cart -n shop: its rollout in progress is waited for, not restarted again"
        in said
    )


def test_facts_say_a_healthy_rollout_under_way_is_in_flight():
    restarted = {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-12-06T22:00:00Z"}}}}
    rolling = deployment("cart", replicas=2)
    rolling["spec"].update(restarted)
    rolling["status"]["updatedReplicas"] = 1
    first = deployment("new", replicas=2)  # its first rollout: no restart in flight
    first["status"]["updatedReplicas"] = 1
    done = deployment("web")
    done["spec"].update(restarted)
    paused = deployment("db")
    paused["spec"].update(restarted, paused=True)
    paused["status"]["updatedReplicas"] = 0
    facts = facts_index([rolling, first, done, paused], "Deployment")
    assert [facts[("shop", name)].in_flight for name in ("cart", "new", "web", "db")] == [
        True,
        False,
        False,
        False,
    ]


def test_a_ctrl_c_as_a_restart_is_handed_to_the_pool_still_waits_for_its_rollout(monkeypatch):
    # The signal lands right after the pool accepted the restart, before the run recorded it
    # as running: the window a loaded machine opened in the e2e tier.
    class InterruptedAsItSubmits(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)
            return future

    monkeypatch.setattr(execute, "ThreadPoolExecutor", InterruptedAsItSubmits)
    lines = []
    run = executor(fleet("cart", reads_to_finish=3))
    run.say = lines.append
    outcome = run.run(restarts("cart"))
    assert outcome.interrupted
    assert "Interrupted: waiting for 1 rollout(s) in progress" in "\n".join(lines)
    assert said(outcome.succeeded) == ["Deployment/cart -n shop"]


def test_signals_held_delivers_a_ctrl_c_after_the_block_not_inside_it():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("the block")
    assert finished == ["the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class IstiodEnvChange(istio.IstiodChange):
    """Istio's own change, its rollout not waited for: the write is what is under test."""

    rolls_out = False


def istiod_moving(generation_after_read):
    """istiod read at resourceVersion 10 (generation 3); since then its rollout's status moved
    it to 11, and its spec is at generation_after_read. A write at another resourceVersion is
    a 409, as the API server answers."""
    istiod = {
        "metadata": {
            "name": "istiod",
            "namespace": "istio-system",
            "resourceVersion": "11",
            "generation": generation_after_read,
        }
    }

    def on_patch(cluster, kind, namespace, name, body):
        if body["metadata"]["resourceVersion"] != istiod["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on "istiod"')

    cluster = FakeCluster({"Deployment": [istiod]}, on_patch=on_patch)
    change = IstiodEnvChange(
        "istio",
        "Deployment",
        "istio-system",
        "istiod",
        "false",
        "true",
        container="discovery",
        resource_version="10",
        metadata={"name": "istiod", "resourceVersion": "10", "generation": 3},
    )
    return cluster, change


def test_a_config_patch_refused_for_a_status_change_is_sent_again_at_the_new_version():
    cluster, change = istiod_moving(generation_after_read=3)
    executor(cluster).apply_config(change)
    sent = [body["metadata"]["resourceVersion"] for _, _, _, body, _, _ in cluster.patches]
    assert sent == ["10", "11"]


def test_a_config_patch_refused_because_the_spec_changed_is_not_sent_again():
    cluster, change = istiod_moving(generation_after_read=4)
    with pytest.raises(ApiError) as refused:
        executor(cluster).apply_config(change)
    assert refused.value.conflict
    assert len(cluster.patches) == 1
