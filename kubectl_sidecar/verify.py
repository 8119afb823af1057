"""After a run: one verification across every context, against a fresh plan: nothing left to
do, and no workload the run rolled out left without its mesh proxy.
"""

from kubectl_sidecar import render
from kubectl_sidecar.meshes.base import Mode
from kubectl_sidecar.refs import WorkloadRef


def lost_proxies(outcome, rows):
    """{workload ref: pods} of the workloads this run rolled out whose pods came back without
    a mesh proxy. A mesh's injector that is down while its webhook fails open
    (failurePolicy: Ignore) lets pods be created without one; to the plan they are outside
    the mesh, so without this a run that took a workload out of the mesh would verify."""
    rolled_out = set(outcome.succeeded)
    lost: dict[WorkloadRef, int] = {}
    for row in rows:
        if row.proxy or not row.workload or row.terminating or row.phase in ("Succeeded", "Failed"):
            continue
        if row.mode is Mode.AMBIENT:  # in the mesh without a sidecar: nothing was lost
            continue
        if row.workload in rolled_out:
            lost[row.workload] = lost.get(row.workload, 0) + 1
    return lost


def verify(parts, fresh, report_to, lost=None):
    """One verification across every context: a fresh plan ([Plan], one per part) with
    nothing left to do, except restarting what was restarted but not waited for or was
    pinned, and no workload this run rolled out left without its mesh proxy (lost: one
    {ref: pods} per part). The exit code."""
    lost = lost or [{} for _ in parts]
    for part, missing in zip(parts, lost, strict=True):
        if missing:
            report_to(render.lost_proxies_text(part.label, missing))
    left, unwaited_total = [], 0
    for part, remaining in zip(parts, fresh, strict=True):
        outcome = part.executor.outcome
        unwaited = {ref for ref, _ in outcome.not_waited}
        unwaited_total += len(unwaited)
        skip = unwaited | set(outcome.pinned)
        remaining.restarts = [r for r in remaining.restarts if r.ref not in skip]
        if remaining.config_changes or remaining.overrides or remaining.restarts:
            left.append((part.member.name, remaining))
    if any(lost) and not left:
        report_to("Verify: FAILED, the pods above have no mesh proxy.")
        return 1
    report_to(render.verify_text(left, len(parts), unwaited_total))
    return 1 if left or any(lost) else 0
