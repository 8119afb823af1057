import pytest

from kubectl_sidecar.rollout import progress


def obj(spec=None, status=None, generation=2, observed=2, name="cart"):
    status = dict(status or {})
    status.setdefault("observedGeneration", observed)
    return {"metadata": {"name": name, "generation": generation}, "spec": spec or {}, "status": status}


@pytest.mark.parametrize("status, done", [
    ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, True),
    ({"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}, False),  # old pod terminating
    ({"replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}, False),
    ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}, False),
])
def test_deployment_done_follows_kubectl(status, done):
    assert progress("Deployment", obj({"replicas": 3}, status)).done is done


def test_unobserved_generation_is_not_done():
    state = progress("Deployment", obj({"replicas": 1}, {"replicas": 1, "updatedReplicas": 1,
                                                        "availableReplicas": 1}, observed=1))
    assert not state.done and "spec update to be observed" in state.message


def test_progress_deadline_and_failed_create_fail_the_rollout():
    deadline = obj({"replicas": 1}, {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
    assert "ProgressDeadlineExceeded" in progress("Deployment", deadline).failed
    stripped = obj({"replicas": 1}, {"conditions": [{
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": 'pods "cart-1" is forbidden: spec.initContainers[1].restartPolicy: Forbidden: '
                   'may not be set for init containers without restartPolicy=Always'}]})
    failed = progress("Deployment", stripped).failed
    assert "FailedCreate" in failed and "restartPolicy" in failed


@pytest.mark.parametrize("spec, status, done", [
    ({}, {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}, True),
    ({}, {"desiredNumberScheduled": 2, "updatedNumberScheduled": 1, "numberAvailable": 2}, False),
    ({}, {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}, False),
    ({"updateStrategy": {"type": "OnDelete"}}, {}, True),
])
def test_daemonset(spec, status, done):
    assert progress("DaemonSet", obj(spec, status)).done is done


@pytest.mark.parametrize("spec, status, done", [
    ({"replicas": 2}, {"readyReplicas": 2, "updateRevision": "b", "currentRevision": "b"}, True),
    ({"replicas": 2}, {"readyReplicas": 2, "updateRevision": "b", "currentRevision": "a"}, False),
    ({"replicas": 2}, {"readyReplicas": 1, "updateRevision": "b", "currentRevision": "b"}, False),
    ({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
     {"readyReplicas": 3, "updatedReplicas": 1}, True),
])
def test_statefulset(spec, status, done):
    assert progress("StatefulSet", obj(spec, status)).done is done
