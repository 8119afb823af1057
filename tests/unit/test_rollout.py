import pytest

from kubectl_sidecar.rollout import progress, unhealthy


def obj(spec=None, status=None, generation=2, observed=2, name="cart"):
    status = dict(status or {})
    status.setdefault("observedGeneration", observed)
    return {
        "metadata": {"name": name, "generation": generation},
        "spec": spec or {},
        "status": status,
    }


@pytest.mark.parametrize(
    "status, done",
    [
        ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, True),
        (
            {"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3},
            False,
        ),  # old pod terminating
        ({"replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}, False),
        ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}, False),
    ],
)
def test_deployment_done_follows_kubectl(status, done):
    assert progress("Deployment", obj({"replicas": 3}, status)).done is done


def test_unobserved_generation_is_not_done():
    state = progress(
        "Deployment",
        obj(
            {"replicas": 1},
            {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
            observed=1,
        ),
    )
    assert not state.done and "spec update to be observed" in state.message


def test_progress_deadline_and_failed_create_fail_the_rollout():
    deadline = obj(
        {"replicas": 1},
        {
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ]
        },
    )
    assert "ProgressDeadlineExceeded" in progress("Deployment", deadline).failed
    stripped = obj(
        {"replicas": 1},
        {
            "conditions": [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": 'pods "cart-1" is forbidden: spec.initContainers[1].restartPolicy: Forbidden: '
                    "may not be set for init containers without restartPolicy=Always",
                }
            ]
        },
    )
    failed = progress("Deployment", stripped).failed
    assert "FailedCreate" in failed and "restartPolicy" in failed


@pytest.mark.parametrize(
    "spec, status, done",
    [
        (
            {},
            {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2},
            True,
        ),
        (
            {},
            {"desiredNumberScheduled": 2, "updatedNumberScheduled": 1, "numberAvailable": 2},
            False,
        ),
        (
            {},
            {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1},
            False,
        ),
        ({"updateStrategy": {"type": "OnDelete"}}, {}, True),
    ],
)
def test_daemonset(spec, status, done):
    assert progress("DaemonSet", obj(spec, status)).done is done


@pytest.mark.parametrize(
    "spec, status, done",
    [
        (
            {"replicas": 2},
            {"readyReplicas": 2, "updateRevision": "b", "currentRevision": "b"},
            True,
        ),
        (
            {"replicas": 2},
            {"readyReplicas": 2, "updateRevision": "b", "currentRevision": "a"},
            False,
        ),
        (
            {"replicas": 2},
            {"readyReplicas": 1, "updateRevision": "b", "currentRevision": "b"},
            False,
        ),
        (
            {
                "replicas": 3,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            },
            {"readyReplicas": 3, "updatedReplicas": 1},
            True,
        ),
    ],
)
def test_statefulset(spec, status, done):
    assert progress("StatefulSet", obj(spec, status)).done is done


def deployment_status(available, progressing="NewReplicaSetAvailable", extra=()):
    conditions = [{"type": "Progressing", "status": "True", "reason": progressing}, *extra]
    return obj(
        {"replicas": 2},
        {
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": available,
            "conditions": conditions,
        },
    )


@pytest.mark.parametrize(
    "kind, workload, why",
    [
        ("Deployment", deployment_status(2), None),
        ("Deployment", deployment_status(1), "1 of 2 pods unavailable"),  # completed, then broke
        ("Deployment", deployment_status(0, "ReplicaSetUpdated"), None),  # still coming up
        (
            "Deployment",
            deployment_status(2, "ProgressDeadlineExceeded"),
            "exceeded its progress deadline",
        ),
        (
            "Deployment",
            deployment_status(
                2, extra=[{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]
            ),
            "can't create pods (FailedCreate)",
        ),
        (
            "Deployment",
            obj({"replicas": 2}, {"availableReplicas": 0}, generation=3, observed=2),
            None,
        ),
        (
            "StatefulSet",
            obj(
                {"replicas": 3}, {"readyReplicas": 1, "currentRevision": "a", "updateRevision": "a"}
            ),
            "2 of 3 pods not ready",
        ),
        (
            "StatefulSet",
            obj(
                {"replicas": 3}, {"readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"}
            ),
            None,
        ),  # mid-rollout
        (
            "DaemonSet",
            obj(
                {},
                {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberUnavailable": 1},
            ),
            "1 of 3 pods unavailable",
        ),
        ("Rollout", obj({}, {"phase": "Degraded"}), "Degraded"),
        ("Rollout", obj({}, {"phase": "Healthy"}), None),
    ],
)
def test_a_workload_failing_before_anyone_touched_it(kind, workload, why):
    assert unhealthy(kind, workload) == why


def argo(status, spec=None, generation=3, annotations=None):
    """A Rollout as Argo Rollouts' controller writes it: observedGeneration is a string."""
    status = {"observedGeneration": str(generation), **status}
    metadata = {"name": "web", "generation": generation, "annotations": annotations or {}}
    return {"metadata": metadata, "spec": spec or {}, "status": status}


@pytest.mark.parametrize(
    "rollout, done",
    [
        (argo({"phase": "Healthy"}), True),
        (argo({"phase": "Progressing"}), False),
        (argo({"phase": "Paused"}), False),
        # The generation the controller hasn't seen yet, written as Argo Rollouts writes it.
        (argo({"phase": "Healthy", "observedGeneration": "2"}), False),
        # Before v0.10 observedGeneration was a hash of the spec: taken as observed.
        (argo({"phase": "Healthy", "observedGeneration": "5c8f6b7d9"}), True),
    ],
)
def test_argo_rollout_done_follows_its_phase(rollout, done):
    assert progress("Rollout", rollout).done is done


def test_argo_rollout_restart_is_done_when_the_controller_copies_restart_at():
    """spec.restartAt evicts pods a few at a time while the phase stays Healthy: done only
    once status.restartedAt has caught up (in UTC, whole seconds, whatever zone we wrote)."""
    spec = {"restartAt": "2026-12-07T06:55:00.5+02:00"}
    waiting = progress("Rollout", argo({"phase": "Healthy"}, spec))
    assert not waiting.done and "restart" in waiting.message
    earlier = argo({"phase": "Healthy", "restartedAt": "2026-12-07T04:00:00Z"}, spec)
    assert not progress("Rollout", earlier).done
    caught_up = argo({"phase": "Healthy", "restartedAt": "2026-12-07T04:55:00Z"}, spec)
    assert progress("Rollout", caught_up).done


def test_argo_rollout_waits_for_its_referenced_workload_to_be_observed():
    generation = {"rollout.argoproj.io/workload-generation": "4"}
    behind = argo({"phase": "Healthy", "workloadObservedGeneration": "3"}, annotations=generation)
    assert not progress("Rollout", behind).done
    seen = argo({"phase": "Healthy", "workloadObservedGeneration": "4"}, annotations=generation)
    assert progress("Rollout", seen).done


def test_argo_rollout_degraded_fails_and_is_unhealthy():
    degraded = argo({"phase": "Degraded", "message": "InvalidSpec: template must be empty"})
    assert "InvalidSpec" in progress("Rollout", degraded).failed
    assert unhealthy("Rollout", degraded) == "Degraded"
