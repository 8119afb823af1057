"""What it takes to bring a pod to the mode its mesh would inject now: pure functions."""
from kubectl_sidecar.classify import GATEWAY, INVALID, NONE
from kubectl_sidecar.workloads import ROLLOUT_KINDS

OK = "ok"
UNKNOWN = "unknown"
RECREATE = "recreate"
NEXT_RUN = "next run"
JOB_RUNS_OUT = "job: runs to completion in old mode"
DELETE_PODS = "delete pods"
STUCK_JOB = "stuck: app exited, proxy keeps the job pod alive"


def remedy(kind, name, facts):
    """(action, pod must be acted on) for a pod of workload kind/name in the wrong mode.

    facts is the WorkloadFacts of that workload, or None when it wasn't read.
    """
    if kind is None:
        return RECREATE, True
    if kind == "CronJob":
        return NEXT_RUN, False
    if kind == "Job":
        return JOB_RUNS_OUT, False
    if kind in ROLLOUT_KINDS:
        if facts is not None and facts.paused:
            return f"paused: resume {kind}/{name}, then restart", True
        if facts is not None and facts.on_delete:
            return DELETE_PODS, True
        return f"restart {kind}/{name}", True
    if kind == "Rollout":
        return f"restart Rollout/{name}", True
    if kind == "ReplicaSet":
        return DELETE_PODS, True
    return f"manual: {kind}/{name} manages its pods", True


def assess(row, setting, workload_facts):
    """Fill in row.desired, desired_reason, needs_restart and action.

    workload_facts is {(kind, namespace, name): WorkloadFacts} for the workloads read.
    needs_restart means something must be done to this pod; a Job or CronJob pod in the old
    mode is left to finish (its action says so) and does not count.
    """
    row.desired = setting.mode
    row.desired_reason = setting.source
    if row.mode in (NONE, GATEWAY):
        row.desired, row.needs_restart, row.action = None, False, "-"
        return row
    if row.stuck_job:
        row.needs_restart, row.action = False, STUCK_JOB
        return row
    if row.mode != INVALID and setting.mode is None:
        row.needs_restart, row.action = False, UNKNOWN
        return row
    if row.mode == setting.mode:
        row.needs_restart, row.action = False, OK
        return row
    kind, name = row.workload if row.workload else (None, None)
    row.action, row.needs_restart = remedy(kind, name, workload_facts.get((kind, row.namespace, name)))
    return row
