"""A per-workload switch's steps (switch.run's scope, make_plan, check): the workloads named
(KIND/NAME) or selected (-l), read for their pod templates' annotations, and the refusal of an
override the mesh would ignore.
"""

from kubectl_sidecar import plan as planning
from kubectl_sidecar import preflight, resources
from kubectl_sidecar.errors import InputError, SidecarError
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.workloads import RESTARTABLE, template_reference


def workload_steps(cluster, scope, options, console):
    """(scope, make_plan, check) of a per-workload switch."""

    def make_plan(report, facts):
        workloads, template_from = _target_workloads(cluster, scope, options.workloads, report)
        if not workloads:
            raise InputError(
                f'no meshed workload has pods matching "{scope.selector}" in {scope.describe()}'
            )
        return planning.plan_override(
            report.rows, workloads, options.target, facts, report.mesh, template_from
        )

    def check(report):
        # Restarting into the same old mode would fail verify, and every rerun would restart
        # the workloads again.
        problem = preflight.override_ignored(report.mesh, options.target)
        if problem and not options.force:
            raise SidecarError(
                f"refusing to switch to {options.target} sidecars: {problem} "
                "(--force to switch anyway)"
            )
        if problem:
            console.err(f"Warning: {problem} (continuing: --force)")

    return scope, make_plan, check


def _target_workloads(cluster, scope, refs, report):
    """([(workload, family, template annotations)] named by refs or by -l, and {workload: the
    object whose pod template it runs} for those whose template isn't their own)."""
    namespace = scope.namespace or cluster.namespace
    wanted = [WorkloadRef(kind, namespace, name) for kind, name in refs]
    if not refs:
        wanted = sorted(
            {
                row.workload
                for row in report.rows
                if row.proxy and row.workload and row.workload.kind in RESTARTABLE
            }
        )
    families = {}
    for row in report.rows:
        if row.workload and row.family:
            families[row.workload] = row.family
    targets = []
    template_from = {}
    for ref in wanted:
        kind, ns, name = ref
        resource = resources.BY_KIND[kind]
        obj = cluster.get(resource, name, ns)
        if obj is None:
            raise InputError(f'{resource.qualified} "{name}" not found in namespace {ns}')
        annotations = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "annotations"
        ) or {}
        elsewhere = template_reference(obj)
        if elsewhere is not None:
            template_from[ref] = f"{elsewhere[0].lower()}/{elsewhere[1]}"
        family = families.get(ref) or report.mesh.family
        if family is None:
            raise SidecarError(
                f"can't tell which mesh {kind}/{name} in namespace {ns} is in: none of its "
                "pods runs a known proxy and no mesh configuration was found; name the mesh "
                "with --mesh"
            )
        targets.append((ref, family, annotations))
    return targets, template_from
