"""The Tracker's watch bookkeeping: resume from the last version, re-list on 410, fall back
to per-namespace watches, and give up only for good reasons."""

import threading

from kubectl_sidecar.errors import ApiError, Unreachable
from kubectl_sidecar.tracking import Tracker, Waited
from tests.unit.fake_cluster import FakeCluster

KEY = ("Deployment", "shop", "cart")


def deployment(version, done, namespace="shop", name="cart"):
    updated = 2 if done else 1
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": 2,
            "resourceVersion": str(version),
        },
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "updatedReplicas": updated,
            "availableReplicas": updated,
        },
    }


def tracker_for(cluster):
    return Tracker(cluster, sleep=lambda seconds: None)


def wait(tracker, key=KEY, **kwargs):
    try:
        return tracker.wait(key, **kwargs)
    finally:
        tracker.stop()


def test_a_dropped_watch_resumes_from_the_last_version_it_saw():
    cluster = FakeCluster({"Deployment": [deployment(1, done=False)]})
    cluster.watch_script["Deployment"] = [
        [("MODIFIED", deployment(5, done=False)), Unreachable("connection reset by peer")],
        [("BOOKMARK", {"metadata": {"resourceVersion": "6"}}), ("MODIFIED", deployment(7, True))],
    ]
    tracker = tracker_for(cluster)
    tracker.follow([KEY])
    assert wait(tracker) == Waited.DONE
    assert [w[4] for w in cluster.watches[:2]] == ["1", "5"]  # the list's version, then resumed


def test_a_forgotten_version_means_list_again_then_watch_from_the_new_list():
    def compacted(cluster):
        cluster.resource_version = 9
        cluster.objects["Deployment"][0] = deployment(9, done=True)
        return ApiError(410, "Expired", "too old resource version")

    cluster = FakeCluster({"Deployment": [deployment(1, done=False)]})
    cluster.watch_script["Deployment"] = [[compacted]]
    tracker = tracker_for(cluster)
    tracker.follow([KEY])
    assert wait(tracker) == Waited.DONE
    lists = [r for r in cluster.reads if r[0] == "list"]
    assert len(lists) == 2 and cluster.watches[1][4] == "9"


def test_no_right_to_watch_all_namespaces_falls_back_to_each_namespace():
    class NamespacedOnly(FakeCluster):
        def watch(self, resource, namespace=None, *args, **kwargs):
            if namespace is None:
                raise ApiError(403, "Forbidden", "cannot watch at the cluster scope")
            return super().watch(resource, namespace, *args, **kwargs)

    def finish(obj):  # only the namespaced watches (not the cluster-wide list) see it done
        obj["status"].update(updatedReplicas=2, availableReplicas=2)

    objects = {"Deployment": [deployment(1, False), deployment(1, False, "web", "w")]}
    cluster = NamespacedOnly(objects, on_get=finish)
    tracker = tracker_for(cluster)
    other = ("Deployment", "web", "w")
    tracker.follow([KEY, other])
    assert tracker.wait(KEY) == Waited.DONE
    assert wait(tracker, other) == Waited.DONE
    assert {w[1] for w in cluster.watches} == {"shop", "web"}


def test_a_kind_that_cant_be_watched_at_all_ends_the_wait_with_the_reason():
    cluster = FakeCluster({"Deployment": [deployment(1, done=False)]}, refuse={"Deployment"})
    tracker = tracker_for(cluster)
    tracker.follow([KEY])
    assert "can't watch deployments.apps" in wait(tracker)


def test_a_patch_answer_is_never_overwritten_by_an_older_state():
    old = deployment(1, done=True)
    cluster = FakeCluster({"Deployment": [old]})
    tracker = tracker_for(cluster)
    tracker.follow([KEY])
    patched = deployment(2, done=False)
    patched["metadata"]["generation"] = 3  # our change, not yet observed by the controller
    tracker.note(KEY, patched)
    give_up = threading.Event()
    threading.Timer(0.3, give_up.set).start()
    assert wait(tracker, give_up=give_up) == Waited.GAVE_UP  # never "done" from the old object


def test_a_deleted_workload_ends_the_wait():
    cluster = FakeCluster({"Deployment": [deployment(1, done=False)]})
    cluster.watch_script["Deployment"] = [[("DELETED", deployment(2, done=False))]]
    tracker = tracker_for(cluster)
    tracker.follow([KEY])
    assert wait(tracker) == "Deployment/cart was deleted while waiting"


def test_a_followed_workload_is_kept_without_its_pod_template():
    from kubectl_sidecar.rollout import progress
    from kubectl_sidecar.tracking import rollout_view

    obj = deployment(3, done=False)
    obj["spec"]["template"] = {"spec": {"containers": [{"name": "app", "image": "x" * 10000}]}}
    obj["spec"]["strategy"] = {"type": "RollingUpdate"}
    view = rollout_view(obj)
    assert "template" not in view["spec"] and view["spec"]["strategy"] == obj["spec"]["strategy"]
    assert progress("Deployment", view) == progress("Deployment", obj)


def test_a_followed_rollout_keeps_what_its_verdict_reads():
    from kubectl_sidecar.rollout import WORKLOAD_GENERATION, progress
    from kubectl_sidecar.tracking import rollout_view

    obj = {
        "metadata": {
            "name": "web",
            "generation": 2,
            "annotations": {WORKLOAD_GENERATION: "5", "big": "x" * 10000},
        },
        "spec": {"workloadRef": {"kind": "Deployment", "name": "web"}},
        "status": {
            "observedGeneration": "2",
            "phase": "Healthy",
            "workloadObservedGeneration": "4",
        },
    }
    view = rollout_view(obj)
    assert view["metadata"]["annotations"] == {WORKLOAD_GENERATION: "5"}
    assert progress("Rollout", view) == progress("Rollout", obj)
    assert not progress("Rollout", view).done


def test_watches_started_for_a_run_cover_its_namespaces_when_split():
    # watch_over starts one watch per kind for the whole run; when the cluster-wide watch is
    # refused, the fallback covers every namespace of the run, not only the followed ones.
    class NamespacedOnly(FakeCluster):
        def watch(self, resource, namespace=None, *args, **kwargs):
            if namespace is None:
                raise ApiError(403, "Forbidden", "cannot watch at the cluster scope")
            return super().watch(resource, namespace, *args, **kwargs)

    objects = {"Deployment": [deployment(1, True), deployment(1, True, "web", "w")]}
    cluster = NamespacedOnly(objects)
    tracker = tracker_for(cluster)
    other = ("Deployment", "web", "w")
    tracker.watch_over([KEY, other])
    tracker.follow([other])
    # The fallback starts the namespaces' watches in order; "web" is watched, so "shop" is too.
    assert wait(tracker, other) == Waited.DONE
    assert {("Deployment", "shop"), ("Deployment", "web")} <= tracker._following


def test_a_forgotten_workload_is_no_longer_kept():
    cluster = FakeCluster({"Deployment": [deployment(1, done=True)]})
    tracker = tracker_for(cluster)
    tracker.follow([KEY])
    assert tracker.wait(KEY) == Waited.DONE
    tracker.forget(KEY)
    tracker.note(("Deployment", "shop", "other"), deployment(2, True, name="other"))
    assert KEY not in tracker._objects
    tracker.stop()
