"""Rollout completion, decided the way `kubectl rollout status` decides it: pure functions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

# Argo Rollouts: the referenced workload's generation a workloadRef Rollout last saw.
WORKLOAD_GENERATION = "rollout.argoproj.io/workload-generation"


class Progress(NamedTuple):
    """Where a rollout stands: done, failed (with why), or still going (with a status line)."""

    done: bool
    failed: str | None = None
    message: str = ""


def progress(kind: str, obj: dict) -> Progress:
    """kubectl rollout status's verdict for a Deployment, DaemonSet, StatefulSet or Rollout."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = f'{kind.lower()} "{metadata.get("name")}"'
    if not _generation_observed(metadata, status):
        return Progress(False, message=f"Waiting for {name} spec update to be observed...")
    if kind == "Deployment":
        return _deployment(name, spec, status)
    if kind == "DaemonSet":
        return _daemonset(name, spec, status)
    if kind == "StatefulSet":
        return _statefulset(name, spec, status)
    if kind == "Rollout":
        return _argo_rollout(name, metadata, spec, status)
    return Progress(True, message=f"{name}: no rollout to wait for")


def _deployment(name, spec, status):
    for condition in status.get("conditions") or ():
        if (
            condition.get("type") == "Progressing"
            and condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return Progress(
                False, failed=f"{name} exceeded its progress deadline (ProgressDeadlineExceeded)"
            )
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return Progress(
                False,
                failed=f"{name} can't create pods ({condition.get('reason')}): "
                f"{condition.get('message', '').strip()}",
            )
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < replicas:
        return Progress(
            False,
            message=f"Waiting for {name} rollout to finish: "
            f"{updated} out of {replicas} new replicas have been updated...",
        )
    if total > updated:
        return Progress(
            False,
            message=f"Waiting for {name} rollout to finish: "
            f"{total - updated} old replicas are pending termination...",
        )
    if available < updated:
        return Progress(
            False,
            message=f"Waiting for {name} rollout to finish: "
            f"{available} of {updated} updated replicas are available...",
        )
    return Progress(True, message=f"{name} successfully rolled out")


def _daemonset(name, spec, status):
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return Progress(True, message=f"{name}: OnDelete strategy, nothing rolls out by itself")
    desired = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    available = status.get("numberAvailable", 0)
    if updated < desired:
        return Progress(
            False,
            message=f"Waiting for {name} rollout to finish: "
            f"{updated} out of {desired} new pods have been updated...",
        )
    if available < desired:
        return Progress(
            False,
            message=f"Waiting for {name} rollout to finish: "
            f"{available} of {desired} updated pods are available...",
        )
    return Progress(True, message=f"{name} successfully rolled out")


def _statefulset(name, spec, status):
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return Progress(True, message=f"{name}: OnDelete strategy, nothing rolls out by itself")
    replicas = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if ready < replicas:
        return Progress(False, message=f"Waiting for {replicas - ready} pods to be ready...")
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    if partition:
        if status.get("updatedReplicas", 0) < replicas - partition:
            return Progress(
                False,
                message=f"Waiting for partitioned roll out to finish: "
                f"{status.get('updatedReplicas', 0)} out of "
                f"{replicas - partition} new pods have been updated...",
            )
        return Progress(True, message=f"partitioned roll out complete for {name}")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Progress(
            False,
            message=f"Waiting for {name} rolling update to complete "
            f"{status.get('updatedReplicas', 0)} pods at revision "
            f"{status.get('updateRevision')}...",
        )
    return Progress(True, message=f"{name} successfully rolled out")


def _generation_observed(metadata: dict, status: dict) -> bool:
    """status.observedGeneration caught up with metadata.generation. Argo Rollouts writes it
    as a string ("3"), and before v0.10 as a hash of the spec, which tells nothing: observed,
    as the Argo Rollouts kubectl plugin takes it."""
    observed = status.get("observedGeneration", 0)
    if isinstance(observed, str):
        if not observed.isdigit():
            return True
        observed = int(observed)
    return metadata.get("generation", 0) <= observed


def _moment(text) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _argo_rollout(name, metadata, spec, status):
    """The verdict of the Argo Rollouts kubectl plugin (GetRolloutPhase), and a restart's own:
    spec.restartAt evicts the pods older than it, a few at a time, while the phase stays
    Healthy (the ReplicaSets don't change); the controller copies it to status.restartedAt
    once every pod is newer."""
    workload_generation = (metadata.get("annotations") or {}).get(WORKLOAD_GENERATION)
    observed_workload = str(status.get("workloadObservedGeneration", ""))
    if (
        workload_generation
        and observed_workload.isdigit()
        and workload_generation != observed_workload
    ):
        return Progress(
            False, message=f"Waiting for {name} to observe the update of its referenced workload..."
        )
    phase = status.get("phase")
    if phase == "Degraded":
        return Progress(False, failed=f"{name} is Degraded: {status.get('message', '')}".strip())
    restart_at = _moment(spec["restartAt"]) if spec.get("restartAt") else None
    if restart_at is not None:
        restarted_at = _moment(status["restartedAt"]) if status.get("restartedAt") else None
        # The controller keeps whole seconds.
        if restarted_at is None or restarted_at < restart_at.replace(microsecond=0):
            return Progress(
                False,
                message=f"Waiting for {name} restart: pods created before "
                f"{spec['restartAt']} are being replaced...",
            )
    if phase == "Healthy":
        return Progress(True, message=f"{name} is Healthy")
    return Progress(False, message=f"Waiting for {name}: {phase or 'progressing'}")


def unhealthy(kind: str, obj: dict) -> str | None:
    """Why a workload is failing before anyone restarts it (its last rollout finished, yet pods
    are missing or unavailable, or it can't progress), or None. A restart won't complete for it,
    so a switch must not wait on it or let it stop the others."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not _generation_observed(metadata, status):
        return None  # a change is on its way: judge it when it lands
    if kind == "Deployment":
        progressing = None
        for condition in status.get("conditions") or ():
            if condition.get("reason") == "ProgressDeadlineExceeded":
                return "exceeded its progress deadline"
            if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
                return f"can't create pods ({condition.get('reason')})"
            if condition.get("type") == "Progressing":
                progressing = condition.get("reason")
        replicas = spec.get("replicas", 1)
        # Unavailable pods count only once the last rollout has completed: a Deployment still
        # bringing up its first pods is on its way, not broken.
        settled = progressing in (None, "NewReplicaSetAvailable")
        if (
            settled
            and status.get("updatedReplicas", 0) >= replicas
            and status.get("availableReplicas", 0) < replicas
        ):
            return f"{replicas - status.get('availableReplicas', 0)} of {replicas} pods unavailable"
    elif kind == "StatefulSet":
        replicas = spec.get("replicas", 1)
        settled = status.get("updateRevision") == status.get("currentRevision")
        if settled and status.get("readyReplicas", 0) < replicas:
            return f"{replicas - status.get('readyReplicas', 0)} of {replicas} pods not ready"
    elif kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        if (
            status.get("updatedNumberScheduled", 0) >= desired
            and status.get("numberUnavailable", 0) > 0
        ):
            return f"{status['numberUnavailable']} of {desired} pods unavailable"
    elif kind == "Rollout" and status.get("phase") == "Degraded":
        return "Degraded"
    return None
