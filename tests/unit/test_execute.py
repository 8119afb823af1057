"""The executor's waiting rules, with the cluster replaced by FakeCluster and a fake clock."""
from kubectl_sidecar.execute import Executor
from kubectl_sidecar.plan import Restart
from tests.unit.fake_cluster import FakeCluster


def rolling_deployment(polls_until_done):
    """A Deployment whose rollout completes after `polls_until_done` reads."""
    deployment = {"metadata": {"name": "cart", "namespace": "shop", "generation": 2},
                  "spec": {"replicas": 1},
                  "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 0}}
    reads = []

    def on_read(obj):
        reads.append(obj)
        if len(reads) >= polls_until_done:
            obj["status"].update(updatedReplicas=1, availableReplicas=1)
    return deployment, on_read


class SlowClock:
    """Every wait between polls takes an hour."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += 3600


def executor_for(cluster, timeout):
    clock = SlowClock()
    return Executor(cluster, say=lambda text: None, timeout=timeout, clock=clock,
                    sleep=clock.sleep)


def cluster_with(deployment, on_read):
    return FakeCluster({"Deployment": [deployment]}, on_get=on_read)


def test_no_timeout_waits_as_long_as_the_rollout_takes():
    deployment, on_read = rolling_deployment(polls_until_done=5)
    executor = executor_for(cluster_with(deployment, on_read), timeout=None)
    outcome = executor.run([Restart("Deployment", "shop", "cart", 1)])
    assert outcome.succeeded == ["Deployment/cart -n shop"] and not outcome.failed


def test_a_timeout_ends_the_wait_and_says_where_the_rollout_stood():
    deployment, on_read = rolling_deployment(polls_until_done=5)
    executor = executor_for(cluster_with(deployment, on_read), timeout=60)
    outcome = executor.run([Restart("Deployment", "shop", "cart", 1)])
    [(ref, why)] = outcome.failed
    assert ref == "Deployment/cart -n shop"
    assert why.startswith('timed out after 60s: Waiting for deployment "cart" rollout')
