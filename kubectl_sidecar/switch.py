"""`switch` and `restart`: read, preflight, plan, confirm, apply, wait, verify.

The plan is always recomputed from the live cluster, so running the same command again after
an interruption or a failure picks up where it stopped, and after success changes nothing.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_sidecar import meshread, preflight, render, resources, status
from kubectl_sidecar import plan as planning
from kubectl_sidecar.classify import NATIVE
from kubectl_sidecar.errors import InputError, SidecarError, unless_forbidden
from kubectl_sidecar.execute import Executor
from kubectl_sidecar.workloads import RESTARTABLE

KIND_ALIASES = {
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
    "rollout": "Rollout", "rollouts": "Rollout", "ro": "Rollout",
}


@dataclass
class Options:
    """How a switch or restart runs, complete and validated before anything connects."""

    target: str | None = None  # native | traditional; None for `restart` (the configured mode)
    workloads: list = field(default_factory=list)  # [(kind, name)] for a per-workload switch
    mesh: str = "auto"
    proxy_names: dict = field(default_factory=dict)
    dry_run: str | None = None  # None | client | server
    yes: bool = False
    force: bool = False
    no_restart: bool = False
    concurrency: int = 2
    timeout: float | None = 600.0  # seconds; None = no limit


@dataclass
class Console:
    """Where a run talks: results (plan, verdict) to out, progress and prompts to err."""

    out: Callable[[str], None]
    err: Callable[[str], None]
    confirm: Callable[[], bool]


def parse_workload(text):
    """("Deployment", "cart") from "deployment/cart" (kubectl's kind/name form)."""
    kind, _, name = text.partition("/")
    if not name or "/" in name or kind.lower() not in KIND_ALIASES:
        raise InputError(
            f'"{text}" is not a workload: use KIND/NAME with KIND one of deployment, '
            "statefulset, daemonset, rollout (e.g. deployment/cart)")
    return KIND_ALIASES[kind.lower()], name


def switch_mesh(cluster, mesh_cluster, scope, options, console):
    """Mesh-wide switch: the config change, then every workload in the other mode. Exit code."""

    def check(report):
        if report.mesh.name == "none":
            raise SidecarError(f"{report.mesh.mesh_wide.source}; name the mesh with --mesh "
                               "(and --mesh-context for ASM)")
        _preflight(cluster, report, options, console)

    def make_plan(report, facts):
        return planning.plan_switch(report.rows, report.mesh, options.target, facts)

    return _run(cluster, mesh_cluster, scope, options, console, make_plan, check)


def restart(cluster, mesh_cluster, scope, options, console):
    """Restart workloads whose pods differ from the configured mode. Returns the exit code."""
    return _run(cluster, mesh_cluster, scope, options, console,
                lambda report, facts: planning.plan_restart(report.rows, facts))


def switch_workloads(cluster, mesh_cluster, scope, options, console):
    """Per-workload switch through the mesh's pod-template override annotation. Exit code."""

    def make_plan(report, facts):
        workloads = _target_workloads(cluster, scope, options.workloads, report)
        if not workloads:
            raise InputError(f'no meshed workload has pods matching "{scope.selector}" in '
                             f"{scope.describe()}")
        return planning.plan_override(report.rows, workloads, options.target, facts)

    return _run(cluster, mesh_cluster, scope, options, console, make_plan)


def _run(cluster, mesh_cluster, scope, options, console, make_plan, check=None):
    """The one routine behind every command that changes the cluster: gather, check, plan,
    confirm, carry out, verify against a fresh plan."""

    def gather():
        report = status.collect(cluster, scope, options.mesh, mesh_cluster, options.proxy_names)
        facts = report.assessor.workload_facts([row for row in report.rows if row.proxy])
        return report, facts

    report, facts = gather()
    _warn(console, report.warnings)
    if check is not None:
        check(report)
    plan = make_plan(report, facts)
    return _carry_out(cluster, mesh_cluster, scope, plan, options, console,
                      rerun=lambda: make_plan(*gather()))


def _target_workloads(cluster, scope, refs, report):
    """[(kind, namespace, name, family, template annotations)] named by refs or by -l."""
    namespace = scope.namespace or cluster.namespace
    wanted = [(kind, namespace, name) for kind, name in refs]
    if not refs:
        wanted = sorted({(row.workload[0], row.namespace, row.workload[1]) for row in report.rows
                         if row.proxy and row.workload and row.workload[0] in RESTARTABLE})
    families = {}
    for row in report.rows:
        if row.workload and row.family:
            families[(row.workload[0], row.namespace, row.workload[1])] = row.family
    targets = []
    for kind, ns, name in wanted:
        resource = resources.BY_KIND[kind]
        obj = cluster.get(resource, name, ns)
        if obj is None:
            raise InputError(f'{resource.qualified} "{name}" not found in namespace {ns}')
        annotations = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
                       ).get("annotations") or {}
        family = families.get((kind, ns, name)) or report.mesh.family or "istio"
        targets.append((kind, ns, name, family, annotations))
    return targets


def _warn(console, warnings):
    for warning in warnings:
        console.err(f"Warning: {warning}")


def _preflight(cluster, report, options, console):
    for problem, forceable in preflight.control_plane_problems(report.mesh, options.target):
        refusal = f"refusing to switch to {options.target} sidecars: {problem}"
        if not forceable:
            raise SidecarError(refusal)
        if not options.force:
            raise SidecarError(refusal + " (--force to switch anyway)")
        console.err(f"Warning: {problem} (continuing: --force)")
    if options.target == NATIVE:
        kubelets = meshread.node_kubelet_versions(cluster)
        if kubelets is None:
            console.err("Warning: can't list nodes to check their kubelet versions")
        problems = preflight.too_old_for_native(cluster.server_version(), kubelets)
        if problems and not options.force:
            raise SidecarError("refusing to switch to native sidecars: " + "; ".join(problems)
                               + " (--force to switch anyway)")
        for problem in problems:
            console.err(f"Warning: {problem} (continuing: --force)")
    webhooks = preflight.foreign_pod_webhooks(unless_forbidden(
        lambda: cluster.list_all(resources.MUTATING_WEBHOOKS), fallback=[],
        warn=lambda _: console.err(
            "Warning: can't list mutating webhooks to check for ones that break native sidecars")))
    for warning in preflight.warnings_for(options.target, report.rows, webhooks):
        console.err(f"Warning: {warning}")


def _carry_out(cluster, mesh_cluster, scope, plan, options, console, rerun):
    console.out(render.plan_text(plan, scope))
    if plan.empty:
        console.out("Nothing to change." + (" Everything is already in the target mode."
                                           if not plan.manual else ""))
        return 0
    if options.dry_run == "client":
        console.out("Dry run: nothing was changed.")
        return 0
    if options.dry_run is None and not options.yes and not console.confirm():
        console.out("Nothing was changed.")
        return 1
    executor = Executor(cluster, mesh_cluster, say=console.err, dry_run=options.dry_run,
                        concurrency=options.concurrency, timeout=options.timeout)
    try:
        for change in plan.config_changes:
            executor.apply_config(change)
        if options.no_restart:
            console.out("Config changed; no workload was restarted (--no-restart). Restart "
                        f"them later with: {restart_command(scope)}")
            return 0
        executor.run(plan.overrides + plan.restarts)
    except KeyboardInterrupt:
        console.out(render.outcome_text(executor.outcome, plan, interrupted=True))
        return 130
    except SidecarError as error:
        console.out(render.outcome_text(executor.outcome, plan, error=error.format_message()))
        return 1
    console.out(render.outcome_text(executor.outcome, plan))
    if options.dry_run:
        return 0
    if not executor.outcome.ok:
        return 1
    return _verify(rerun, console)


def _verify(rerun, console):
    remaining = rerun()
    if remaining.config_changes or remaining.overrides or remaining.restarts:
        console.out("Verify: FAILED, still to do:\n" + render.plan_text(remaining, None, brief=True))
        return 1
    console.out("Verify: every pod that a restart could switch is in its target mode.")
    return 0


def restart_command(scope):
    where = "-A" if scope.all_namespaces else f"-n {scope.namespace}"
    selector = f" -l {scope.selector}" if scope.selector else ""
    return f"kubectl sidecar restart {where}{selector}"
