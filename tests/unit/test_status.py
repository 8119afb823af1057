"""status.stream and status.collect over an in-memory cluster: batching, and one read per kind."""
from kubectl_sidecar import status
from kubectl_sidecar.render import action_text
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import asm_mesh_config, deployment, replicaset


def big_mesh(pod_count):
    """pod_count native pods across namespaces ns-0..ns-9 under an ASM config asking for
    traditional; each namespace has one Deployment, the one in ns-9 paused."""
    objects = {"ASMMeshConfig": [asm_mesh_config(False)],
               "Pod": [], "ReplicaSet": [], "Deployment": []}
    for n in range(10):
        namespace = f"ns-{n}"
        objects["ReplicaSet"].append(replicaset("web-5f", "web", namespace))
        objects["Deployment"].append(deployment("web", namespace, paused=n == 9))
    for i in range(pod_count):
        namespace = f"ns-{i * 10 // pod_count}"
        objects["Pod"].append(pods.istio("native", name=f"web-5f-{i:05d}", namespace=namespace,
                                         owner=("ReplicaSet", "web-5f")))
    return objects


class CountingCluster(FakeCluster):
    """Counts how many pods the code has taken from the pod list so far."""

    pods_taken = 0

    def list_items(self, resource, *args, **kwargs):
        for item in super().list_items(resource, *args, **kwargs):
            if resource.kind == "Pod":
                self.pods_taken += 1
            yield item


def test_stream_hands_over_each_batch_before_reading_further_pods():
    cluster = CountingCluster(big_mesh(1200))
    scope = status.Scope()
    batches = status.stream(status.Assessor(cluster, scope), batch_size=500)
    first = next(batches)
    assert len(first) == 500 and cluster.pods_taken == 500
    assert action_text(first[0].remedy) == "restart Deployment/web"
    assert [len(batch) for batch in batches] == [500, 200]


def test_owners_workloads_and_mesh_config_are_read_once_whatever_the_batches():
    cluster = FakeCluster(big_mesh(1200))
    scope = status.Scope()
    batches = status.stream(status.Assessor(cluster, scope), batch_size=100)
    rows = [row for batch in batches for row in batch]
    reads = [read[:2] for read in cluster.reads]
    assert sorted(reads) == sorted([("list", "Pod"), ("list", "ReplicaSet"),
                                    ("list", "Deployment"), ("get", "ASMMeshConfig")])
    # Facts read for the first batch still decide the last one: ns-9's Deployment is paused.
    assert rows[-1].namespace == "ns-9" and action_text(rows[-1].remedy).startswith("paused: resume")


def test_a_tally_of_streamed_batches_equals_the_collected_report():
    cluster = FakeCluster(big_mesh(1200))
    scope = status.Scope()
    tally = status.Tally()
    for batch in status.stream(status.Assessor(cluster, scope), batch_size=500):
        tally.add(batch)
    report = status.collect(FakeCluster(big_mesh(1200)), scope)
    assert tally.summary() == report.tally().summary() == {
        "pods": 1200,
        "modes": {"native": 1200, "traditional": 0, "invalid": 0, "gateway": 0, "none": 0},
        "needsRestart": 1200,
        "workloadsToRestart": 9,  # ns-9's web is paused: it must be resumed, not restarted
    }
    assert tally.per_namespace["ns-0"]["restart"] == 120


def test_warnings_are_passed_on_as_they_arise():
    cluster = FakeCluster(big_mesh(10), refuse={"ReplicaSet"})
    scope = status.Scope()
    warnings = []
    rows = status.collect(cluster, scope).rows
    list(status.stream(status.Assessor(cluster, scope, warn=warnings.append)))
    assert len(warnings) == 1 and warnings[0].startswith("can't list replicasets")
    assert rows[0].workload == ("ReplicaSet", "web-5f")
