"""`switch` and `restart`: read, preflight, plan, confirm, apply, wait, verify.

The plan is always recomputed from the live cluster, so running the same command again after
an interruption or a failure picks up where it stopped, and after success changes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_sidecar import access, meshread, preflight, render, resources, status
from kubectl_sidecar import plan as planning
from kubectl_sidecar.classify import NATIVE, OVERRIDE_ANNOTATIONS, TRADITIONAL
from kubectl_sidecar.errors import ApiError, InputError, SidecarError, Terminated, unless_forbidden
from kubectl_sidecar.execute import Executor, ref_of
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.status import Scope
from kubectl_sidecar.workloads import RESTARTABLE

KIND_ALIASES = {
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deploy": "Deployment",
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "sts": "StatefulSet",
    "daemonset": "DaemonSet",
    "daemonsets": "DaemonSet",
    "ds": "DaemonSet",
    "rollout": "Rollout",
    "rollouts": "Rollout",
    "ro": "Rollout",
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
    timeout: float | None = 600.0  # seconds for each rollout; None = no limit
    keep_going: bool = False  # don't stop starting restarts after a failed rollout
    pin_failed: bool = False  # pin workloads whose rollout failed back to the old mode
    skip_unhealthy: bool = False  # don't restart workloads that were failing before
    restart_namespace: str | None = None  # mesh-wide switch: restart only in this namespace
    output: str = "text"  # text | json (the plan or the outcome as one document on stdout)


@dataclass
class Console:
    """Where a run talks: results (plan, verdict) to out, progress and prompts to err."""

    out: Callable[[str], None]
    err: Callable[[str], None]
    confirm: Callable[[], bool]
    board: object = None  # progress.Board on a terminal, else None


def parse_workload(text):
    """("Deployment", "cart") from "deployment/cart" (kubectl's kind/name form)."""
    kind, _, name = text.partition("/")
    if not name or "/" in name or kind.lower() not in KIND_ALIASES:
        raise InputError(
            f'"{text}" is not a workload: use KIND/NAME with KIND one of deployment, '
            "statefulset, daemonset, rollout (e.g. deployment/cart)"
        )
    return KIND_ALIASES[kind.lower()], name


def switch_mesh(cluster, mesh_cluster, options, console):
    """Mesh-wide switch: the config change, then every workload in the other mode. Exit code."""
    scope, make_plan, check = mesh_wide_steps(cluster, options, console)
    return _run(cluster, mesh_cluster, scope, options, console, make_plan, check)


def mesh_wide_steps(cluster, options, console):
    """(scope, make_plan, check) of a mesh-wide switch on one cluster.

    The config change reaches every namespace, so every namespace is read; with
    options.restart_namespace only that one's workloads are restarted, and the plan says how
    many elsewhere keep the old mode until they are.
    """

    def check(report):
        if report.mesh.name == "none":
            raise SidecarError(
                f"{report.mesh.mesh_wide.source}; name the mesh with --mesh "
                f"(and --mesh-context for {registry.on_mesh_instance_titles()})"
            )
        _preflight(cluster, report, options, console)
        if options.restart_namespace and not any(
            row.namespace == options.restart_namespace for row in report.rows
        ):
            console.err(
                f"Warning: no pods in namespace {options.restart_namespace}: the mesh "
                "config change still applies to every namespace"
            )

    def make_plan(report, facts):
        plan = planning.plan_switch(report.rows, report.mesh, options.target, facts)
        if options.restart_namespace:
            plan.limit_to(options.restart_namespace)
        return plan

    return Scope(namespace=None), make_plan, check


def restart(cluster, mesh_cluster, scope, options, console):
    """Restart workloads whose pods differ from the configured mode. Returns the exit code."""
    scope, make_plan, check = restart_steps(scope, console)
    return _run(cluster, mesh_cluster, scope, options, console, make_plan, check)


def restart_steps(scope, console):
    """(scope, make_plan, check) of a restart."""

    def check(report):
        if not report.rows:
            console.err(f"Warning: no pods found in {scope.describe()}")

    return scope, lambda report, facts: planning.plan_restart(report.rows, facts), check


def switch_workloads(cluster, mesh_cluster, scope, options, console):
    """Per-workload switch through the mesh's pod-template override annotation. Exit code."""
    scope, make_plan, check = workload_steps(cluster, scope, options, console)
    return _run(cluster, mesh_cluster, scope, options, console, make_plan, check)


def workload_steps(cluster, scope, options, console):
    """(scope, make_plan, check) of a per-workload switch."""

    def make_plan(report, facts):
        workloads = _target_workloads(cluster, scope, options.workloads, report)
        if not workloads:
            raise InputError(
                f'no meshed workload has pods matching "{scope.selector}" in {scope.describe()}'
            )
        return planning.plan_override(report.rows, workloads, options.target, facts)

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


def _run(cluster, mesh_cluster, scope, options, console, make_plan, check=None):
    """The one routine behind every command that changes the cluster: gather, check, plan,
    check access, confirm, carry out, verify against a fresh plan."""

    def gather():
        report = status.collect(cluster, scope, options.mesh, mesh_cluster, options.proxy_names)
        facts = report.assessor.workload_facts([row for row in report.rows if row.proxy])
        return report, facts

    def fresh_plan():
        plan = make_plan(*gather())
        if options.skip_unhealthy:
            plan.set_aside_unhealthy()
        return plan

    report, facts = gather()
    _warn(console, report.warnings)
    if check is not None:
        check(report)
    plan = make_plan(report, facts)
    if options.skip_unhealthy:
        plan.set_aside_unhealthy()
    # The plan holds all the run needs: every pod's row must not stay alive through the
    # rollouts and into verify's second gather.
    del report, facts
    return _carry_out(cluster, mesh_cluster, scope, plan, options, console, rerun=fresh_plan)


def _target_workloads(cluster, scope, refs, report):
    """[(kind, namespace, name, family, template annotations)] named by refs or by -l."""
    namespace = scope.namespace or cluster.namespace
    wanted = [(kind, namespace, name) for kind, name in refs]
    if not refs:
        wanted = sorted(
            {
                (row.workload[0], row.namespace, row.workload[1])
                for row in report.rows
                if row.proxy and row.workload and row.workload[0] in RESTARTABLE
            }
        )
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
        annotations = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "annotations"
        ) or {}
        family = families.get((kind, ns, name)) or report.mesh.family
        if family is None:
            raise SidecarError(
                f"can't tell which mesh {kind}/{name} in namespace {ns} is in: none of its "
                "pods runs a known proxy and no mesh configuration was found; name the mesh "
                "with --mesh"
            )
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
            raise SidecarError(
                "refusing to switch to native sidecars: "
                + "; ".join(problems)
                + " (--force to switch anyway)"
            )
        for problem in problems:
            console.err(f"Warning: {problem} (continuing: --force)")
    webhooks = preflight.foreign_pod_webhooks(
        unless_forbidden(
            lambda: cluster.list_all(resources.MUTATING_WEBHOOKS),
            fallback=[],
            warn=lambda _: console.err(
                "Warning: can't list mutating webhooks to check for ones that break native sidecars"
            ),
        )
    )
    for warning in preflight.warnings_for(options.target, report.rows, webhooks):
        console.err(f"Warning: {warning}")


def _carry_out(cluster, mesh_cluster, scope, plan, options, console, rerun):
    report_to = console.err if options.output == "json" else console.out
    report_to(render.plan_text(plan, scope))
    findings = None
    if not plan.empty:
        findings = access.check(access.needed(plan), cluster, mesh_cluster)
        context = getattr(cluster, "context", None)
        mesh_context = getattr(mesh_cluster or cluster, "context", None)
        for line in findings.lines(context, mesh_context):
            console.err(f"Warning: {line}" if line.startswith("could not") else f"Refused: {line}")
    if options.output == "json" and (
        plan.empty or options.dry_run == "client" or (findings and findings.refused)
    ):
        console.out(render.plan_json(plan, findings))
    if plan.empty:
        report_to(
            "Nothing to change."
            + (" Everything is already in the target mode." if not plan.manual else "")
        )
        return 0
    if findings.refused:
        report_to(
            f"Nothing was changed: {len(findings.refused)} permission(s) the plan needs "
            "are missing (above). Ask for them, or narrow the run with -n or a workload."
        )
        return 1
    stopped = confirmed_or_exit_code(options, console, report_to)
    if stopped is not None:
        return stopped
    say = console.board.say if console.board else console.err
    executor = Executor(
        cluster,
        mesh_cluster,
        say=say,
        dry_run=options.dry_run,
        concurrency=options.concurrency,
        timeout=options.timeout,
        keep_going=options.keep_going,
        progress=console.board,
    )
    code = None
    try:
        for change in plan.config_changes:
            executor.apply_config(change)
        if options.no_restart:
            report_to(
                "Config changed; no workload was restarted (--no-restart). Restart "
                f"them later with: {restart_command(scope)}"
            )
            return 0
        executor.run(plan.overrides + plan.restarts, waited=lambda item: not item.unhealthy)
        if options.pin_failed and plan.target:
            executor.pin(pins_for(plan, executor.outcome))
    except Terminated:
        code = 143
        executor.outcome.interrupted = executor.outcome.terminated = True
    except KeyboardInterrupt:
        code = 130
        executor.outcome.interrupted = True
    except SidecarError as error:
        code = 1
        executor.outcome.failed.append(("mesh config", error.format_message()))
        if isinstance(error, ApiError) and 400 <= error.status < 500:
            executor.outcome.refused.append("mesh config")
    finally:
        executor.close()
        if console.board:
            console.board.finish()
    outcome = executor.outcome
    report_to(render.outcome_text(outcome, plan, server_dry_run=options.dry_run == "server"))
    if code is None and outcome.interrupted:
        code = 130
    if code is None:
        code = 1 if (outcome.failed or outcome.not_started) else 0
        if code == 0 and not options.dry_run:
            code = _verify(rerun, outcome, report_to)
    if options.output == "json":
        console.out(render.outcome_json(plan, outcome, code))
    return code


def confirmed_or_exit_code(options, console, report_to):
    """None when the run may change the cluster; else the exit code of a client dry run (0)
    or of a plan the user declined (1), after saying that nothing was changed."""
    if options.dry_run == "client":
        report_to("Dry run: nothing was changed.")
        return 0
    if options.dry_run is None and not options.yes and not console.confirm():
        report_to("Nothing was changed.")
        return 1
    return None


def pins_for(plan, outcome):
    """Overrides pinning back to the old mode the workloads whose rollout failed after our
    restart (not those the server refused: nothing changed there)."""
    failed = {ref for ref, _ in outcome.failed} - set(outcome.refused)
    old = planning.mode_value(TRADITIONAL if plan.target == NATIVE else NATIVE)
    pins = []
    for restart in plan.restarts:
        keys = OVERRIDE_ANNOTATIONS.get(restart.family)
        if keys and ref_of(restart) in failed:
            pins.append(
                planning.Override(restart.kind, restart.namespace, restart.name, keys[0], old)
            )
    return pins


def _verify(rerun, outcome, report_to):
    remaining = rerun()
    unwaited = {ref for ref, _ in outcome.not_waited}
    pinned = set(outcome.pinned)
    remaining.restarts = [
        r for r in remaining.restarts if ref_of(r) not in unwaited and ref_of(r) not in pinned
    ]
    if remaining.config_changes or remaining.overrides or remaining.restarts:
        report_to("Verify: FAILED, still to do:\n" + render.plan_text(remaining, None, brief=True))
        return 1
    line = "Verify: every pod that a restart could switch is in its target mode"
    if unwaited:
        line += (
            f", except in {len(unwaited)} workload(s) that were failing before the switch "
            "(restarted, not waited for)"
        )
    report_to(line + ".")
    return 0


def restart_command(scope):
    where = "-A" if scope.all_namespaces else f"-n {scope.namespace}"
    selector = f" -l {scope.selector}" if scope.selector else ""
    return f"kubectl sidecar restart {where}{selector}"
