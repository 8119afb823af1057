"""What it takes to bring a pod to the mode its mesh would inject now: one pure decision.

`remedy` is the only place that walks the tree of owners (bare pod, CronJob, Job, paused,
OnDelete, Argo Rollout, ReplicaSet without a Deployment, ...). status renders its answer,
plan turns it into restarts and manual steps, and the summary counts it: so the table, the
plan and the counts can't disagree about a pod.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import NamedTuple

from kubectl_sidecar.classify import AMBIENT, GATEWAY, INVALID, NONE, PodRow
from kubectl_sidecar.meshes.base import Setting
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.workloads import RESTARTABLE, ROLLOUT_KINDS, WorkloadFacts


class Step(enum.Enum):
    """The kind of remedy. `needs_action` says whether someone must do something to the pod."""

    NOT_MESHED = ("no mesh proxy, a gateway or ambient: never switched", False)
    OK = ("already in the desired mode", False)
    UNKNOWN = ("the desired mode can't be known", False)
    STUCK_JOB = ("a Job pod kept alive by its traditional proxy", False)
    NEXT_RUN = ("a CronJob's next run gets the new mode", False)
    JOB_RUNS_OUT = ("a running Job keeps its mode until it finishes", False)
    RESTART = ("restart the workload", True)
    RECREATE = ("a bare pod: recreate it", True)
    RESUME = ("a paused rollout: resume it, then restart", True)
    DELETE_PODS = ("OnDelete update strategy: delete the pods", True)
    DELETE_REPLICASET_PODS = ("a ReplicaSet without a Deployment: delete its pods", True)
    OTHER_CONTROLLER = ("another controller manages the pods", True)

    def __init__(self, meaning: str, needs_action: bool):
        self.meaning = meaning
        self.needs_action = needs_action


class Remedy(NamedTuple):
    """A Step and the workload it applies to, when it applies to one."""

    step: Step
    workload: WorkloadRef | None = None

    @property
    def needs_action(self) -> bool:
        return self.step.needs_action


NOT_MESHED = Remedy(Step.NOT_MESHED)
OK = Remedy(Step.OK)
UNKNOWN = Remedy(Step.UNKNOWN)
STUCK_JOB = Remedy(Step.STUCK_JOB)


def remedy(row: PodRow, desired: str | None, facts: Mapping) -> Remedy:
    """What brings this pod to `desired` (a mode, or None when it can't be known).

    facts is {WorkloadRef: WorkloadFacts} for the workloads that were read; a
    workload missing from it is taken to be neither paused nor OnDelete.
    """
    if row.lost:
        # Its injector would give it a proxy now: whatever mode, a restart brings one back.
        return _by_owner(row, facts)
    if row.mode in (NONE, GATEWAY, AMBIENT):
        return NOT_MESHED
    if row.stuck_job:
        return STUCK_JOB
    # An invalid pod can never start, whatever the mesh would inject: it always needs a fix.
    if desired is None and row.mode != INVALID:
        return UNKNOWN
    if row.mode == desired:
        return OK
    return _by_owner(row, facts)


def _by_owner(row: PodRow, facts: Mapping) -> Remedy:
    """Replace the pod the way its owner allows."""
    if row.workload is None:
        return Remedy(Step.RECREATE)
    return Remedy(_owner_step(row.workload.kind, facts.get(row.workload)), row.workload)


def _owner_step(kind: str, facts: WorkloadFacts | None) -> Step:
    if kind == "CronJob":
        return Step.NEXT_RUN
    if kind == "Job":
        return Step.JOB_RUNS_OUT
    if kind in ROLLOUT_KINDS and facts is not None:
        if facts.paused:
            return Step.RESUME
        if facts.on_delete:
            return Step.DELETE_PODS
    if kind in RESTARTABLE:
        return Step.RESTART
    if kind == "ReplicaSet":
        return Step.DELETE_REPLICASET_PODS
    return Step.OTHER_CONTROLLER


def assess(row: PodRow, setting: Setting, workload_facts: dict) -> PodRow:
    """Fill in the row's desired mode (from a meshconfig.Setting), its source and its remedy."""
    row.remedy = remedy(row, setting.mode, workload_facts)
    row.injection_facts = None  # what it took to tell a lost proxy: not kept per row
    if row.remedy is NOT_MESHED:
        row.desired, row.desired_reason = None, setting.source
    else:
        row.desired, row.desired_reason = setting.mode, setting.source
    return row
