"""`switch` and `restart`: read, preflight, plan, confirm, apply, wait, verify, in one context
or several (a single context is a fleet of one; fleet.py holds what only several need).

This module is the commands' flow; the steps are their own modules': a mesh-wide switch's
checks and plan (meshwide.py) and a per-workload switch's (perworkload.py); the plan shown,
access checked, the canary tried and the run confirmed before any write (review.py, with
canaryrun.py); the writes and rollouts (execute.py); the verification after (verify.py).

The plan is always recomputed from the live cluster, so running the same command again after
an interruption or a failure picks up where it stopped, and after success changes nothing.
"""

import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from kubectl_sidecar import access, fleet, render, status
from kubectl_sidecar import plan as planning
from kubectl_sidecar.canaryrun import pin_first, until_injected
from kubectl_sidecar.errors import InputError, SidecarError, Terminated
from kubectl_sidecar.execute import Executor
from kubectl_sidecar.fleet import Member, at_once
from kubectl_sidecar.lease import MeshLease
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import Mode, Unsupported
from kubectl_sidecar.meshwide import mesh_wide_steps
from kubectl_sidecar.perworkload import workload_steps
from kubectl_sidecar.review import review
from kubectl_sidecar.status import Scope
from kubectl_sidecar.verify import lost_proxies, verify

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

    target: Mode | None = None  # None for `restart`: each pod's configured mode
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
    mesh_wide: bool = False  # a mesh-wide switch (not a restart, not named workloads)
    canary: bool = True  # try each planned workload's pod through admission first (canary.py)

    @classmethod
    def from_flags(
        cls,
        connection,
        flags,
        target=None,
        workloads=(),
        force=False,
        no_restart=False,
        pin_failed=False,
    ):
        """switch's and restart's flags (connection: connection.ConnectionFlags) as one
        validated Options; InputError on a combination that can't run, before anything
        connects."""
        refs = [parse_workload(text) for text in workloads]
        if refs and connection.selector:
            raise InputError("name workloads or use -l, not both")
        if no_restart and (refs or connection.selector):
            raise InputError("--no-restart applies to a mesh-wide switch only")
        if pin_failed and (refs or connection.selector):
            raise InputError("--pin-failed applies to a mesh-wide switch only")
        mesh_wide = target is not None and not refs and not connection.selector
        return cls(
            target=Mode(target) if target is not None else None,
            workloads=refs,
            mesh=connection.mesh,
            proxy_names=connection.proxy_names,
            dry_run=None if flags["dry_run"] == "none" else flags["dry_run"],
            yes=flags["yes"],
            force=force,
            no_restart=no_restart,
            concurrency=flags["concurrency"],
            timeout=flags["timeout"],
            keep_going=flags["keep_going"],
            pin_failed=pin_failed,
            skip_unhealthy=flags["skip_unhealthy"],
            output=flags["output"],
            canary=not flags.get("no_canary"),
            mesh_wide=mesh_wide,
            restart_namespace=(
                connection.namespace if mesh_wide and not connection.all_namespaces else None
            ),
        )


@dataclass
class Console:
    """Where a run talks: results (plan, verdict) to out, progress and prompts to err."""

    out: Callable[[str], None]
    err: Callable[[str], None]
    confirm: Callable[[], bool]
    board: object = None  # progress.Board on a terminal, else None

    def in_context(self, name):
        """This console for one of several contexts: what it says names the context, and no
        live board is drawn (several contexts' lines are plain, prefixed)."""
        return Console(
            out=self.out,
            err=lambda text: self.err(fleet.in_context(name, text)),
            confirm=self.confirm,
        )


def parse_workload(text):
    """("Deployment", "cart") from "deployment/cart" (kubectl's kind/name form)."""
    kind, _, name = text.partition("/")
    if not name or "/" in name or kind.lower() not in KIND_ALIASES:
        raise InputError(
            f'"{text}" is not a workload: use KIND/NAME with KIND one of deployment, '
            "statefulset, daemonset, rollout (e.g. deployment/cart)"
        )
    return KIND_ALIASES[kind.lower()], name


def switch_mesh(members, options, console):
    """Mesh-wide switch in every context (fleet.Members): the config change, then every
    workload in the other mode. Exit code."""
    return run(
        members,
        options,
        console,
        lambda member, said: mesh_wide_steps(member.cluster, options, said),
    )


def restart(members, scopes, options, console):
    """Restart workloads whose pods differ from the configured mode, in every context
    (scopes: one per member). Exit code."""
    by_name = {member.name: scope for member, scope in zip(members, scopes, strict=True)}
    return run(
        members, options, console, lambda member, said: restart_steps(by_name[member.name], said)
    )


def restart_steps(scope, console):
    """(scope, make_plan, check) of a restart."""

    def check(report):
        if not report.rows:
            console.err(f"Warning: no pods found in {scope.describe()}")

    return scope, lambda report, facts: planning.plan_restart(report.rows, facts), check


def switch_workloads(members, scopes, options, console):
    """Per-workload switch through the mesh's pod-template override annotation, in every
    context (scopes: one per member). Exit code."""
    by_name = {member.name: scope for member, scope in zip(members, scopes, strict=True)}
    return run(
        members,
        options,
        console,
        lambda member, said: workload_steps(member.cluster, by_name[member.name], options, said),
    )


@dataclass(frozen=True)
class LeasePlace:
    """Where a run over one mesh holds its Lease (lease.py)."""

    namespace: str
    on_mesh_instance: bool  # on the API server of the mesh's config (ASM's instance)

    @classmethod
    def of(cls, mesh):
        """Beside the mesh's config; None for a mesh kubectl-sidecar doesn't switch."""
        try:
            plane = registry.control_plane(mesh.name)
        except Unsupported:
            return None
        return cls(plane.lease_namespace(mesh), plane.CONFIG_ON_MESH_INSTANCE)

    def permissions(self):
        return access.lease_permissions(self.namespace, self.on_mesh_instance)


@dataclass
class Part:
    """One context's share of a run."""

    member: Member
    label: str | None  # the context's name in what is said; None when it is the only one
    console: Console  # says which context speaks, when there are several
    scope: Scope
    make_plan: Callable
    check: Callable | None = None
    plan: planning.Plan | None = None
    findings: access.Findings | None = None
    # Namespaces where the caller may not create pods: the canary is skipped there, and why.
    canary_refused: dict[str, str] = field(default_factory=dict)
    executor: Executor | None = None
    lease: LeasePlace | None = None

    def blamed(self):
        """Errors of this context's steps, saying which context it was when there are several."""
        return fleet.said_in(self.label) if self.label else nullcontext()


def run(members, options, console, steps_for):
    """The one routine behind every command that changes the cluster, in one context or
    several (a single context is a fleet of one): gather, check, plan, check access, confirm,
    carry out, verify against a fresh plan. steps_for(member, console) gives a context's
    (scope, make_plan, check)."""
    several = len(members) > 1
    parts = []
    for member in members:
        label = member.name if several else None
        said = console.in_context(label) if several else console
        parts.append(Part(member, label, said, *steps_for(member, said)))
    problems = _plan(parts, options)
    return _carry_out(parts, options, console, problems)


def _plan(parts, options):
    """Gather every context, say its warnings, check it and plan it (part.plan); the lines
    saying how contexts sharing one mesh config disagree.

    Only the plans outlive this call: every pod's row must not stay alive through the
    rollouts and into verify's second gather.
    """
    reports = gather(parts, options)
    for part, (report, _) in zip(parts, reports, strict=True):
        part.lease = LeasePlace.of(report.mesh)
        _warn(part.console, report.warnings)
        if part.check is not None:
            with part.blamed():
                part.check(report)
    for part, plan in zip(parts, make_plans(parts, reports, options), strict=True):
        part.plan = plan
    shared = parts[0].member.mesh_cluster
    return fleet.disagreements(
        {part.member.name: report.mesh for part, (report, _) in zip(parts, reports, strict=True)},
        getattr(shared, "context", None),
    )


def gather(parts, options):
    """[(status.Report, workload facts)] of every context, read at once."""

    def one(part):
        with part.blamed():
            report = status.collect(
                part.member.cluster,
                part.scope,
                options.mesh,
                part.member.mesh_cluster,
                options.proxy_names,
            )
            facts = report.assessor.workload_facts(
                [row for row in report.rows if row.proxy or row.lost]
            )
        return report, facts

    return at_once(one, parts)


def make_plans(parts, reports, options):
    """[Plan] of every context; a config write planned by several contexts (one ASM
    instance's) is kept once: in the first context that plans it."""
    plans = {}
    for part, report in zip(parts, reports, strict=True):
        with part.blamed():
            plan = part.make_plan(*report)
        if options.skip_unhealthy:
            plan.set_aside_unhealthy()
        plans[part.member.name] = plan
    if len(plans) > 1:
        fleet.dedupe_config_changes(plans)
    return list(plans.values())


def _warn(console, warnings):
    for warning in warnings:
        console.err(f"Warning: {warning}")


def _carry_out(parts, options, console, problems):
    """One plan, one access check and one confirmation for every context; the config writes
    first, then every context's restarts at once (one Executor each, --concurrency each),
    then one verification across all. problems: why contexts sharing a mesh config disagree."""
    several = len(parts) > 1
    report_to = console.err if options.output == "json" else console.out
    stopped = review(parts, options, console, problems, report_to)
    if stopped is not None:
        return stopped

    def voice(name):
        """Where an Executor logs: above the live board or to stderr, or with several
        contexts a plain line naming the API server it speaks of."""
        if several:
            return lambda text: console.err(f"[{name}] {text}")
        return console.board.say if console.board else console.err

    leases = [] if options.dry_run else _take_leases(parts)
    # Shared: a failed rollout in one context stops new restarts in every context.
    stop_starting = threading.Event()
    for part in parts:
        part.executor = Executor(
            part.member.cluster,
            part.member.mesh_cluster,
            say=voice(part.member.name),
            dry_run=options.dry_run,
            concurrency=options.concurrency,
            timeout=options.timeout,
            keep_going=options.keep_going,
            progress=part.console.board,
            stop_starting=stop_starting,
        )
    code = None
    current = parts[0]
    try:
        for current in parts:
            if current.plan.pins:
                pin_first(current.executor, current.plan.pins, options)
        for current in parts:
            for change in current.plan.config_changes:
                # Logged as from the API server the write goes to: the ASM instance's
                # config is not hz's, though hz's part of the plan holds it.
                current.executor.say = voice(change.context or current.member.name)
                current.executor.apply_config(change)
            current.executor.say = voice(current.member.name)
        if options.canary and not options.dry_run and not options.no_restart:
            until_injected(parts, options)
        if options.no_restart:
            report_to(
                "Config changed; no workload was restarted (--no-restart). Restart them "
                + ("later in every context with: " if several else "later with: ")
                + restart_command(parts)
            )
            return 0
        runs = [(p.executor, p.plan.overrides + p.plan.restarts) for p in parts]
        if several:
            fleet.restart_everywhere(runs, console)
        else:
            [(executor, items)] = runs
            executor.run(items, waited=lambda item: not item.unhealthy)
        if options.pin_failed and parts[0].plan.target:
            for current in parts:
                current.executor.pin(pins_for(current.plan, current.executor.outcome))
    except Terminated:
        code = 143
        for part in parts:
            part.executor.outcome.interrupted = part.executor.outcome.terminated = True
    except KeyboardInterrupt:
        code = 130
        for part in parts:
            part.executor.outcome.interrupted = True
    except SidecarError as error:
        code = 1
        current.executor.outcome.failed.append(("mesh config", error.format_message()))
        current.executor.outcome.refuse("mesh config", error)
    finally:
        for part in parts:
            part.executor.close()
        for held in leases:
            held.release()
        if console.board:
            console.board.finish()
    outcomes = [part.executor.outcome for part in parts]
    report_to(
        render.outcome_text(
            [(p.member.name, p.executor.outcome, p.plan) for p in parts],
            server_dry_run=options.dry_run == "server",
        )
    )
    if code is None and any(outcome.interrupted for outcome in outcomes):
        code = 130
    if code is None:
        code = 1 if any(o.failed or o.not_started for o in outcomes) else 0
        if code == 0 and not options.dry_run:
            reports = gather(parts, options)
            lost = [
                lost_proxies(part.executor.outcome, report.rows)
                for part, (report, _) in zip(parts, reports, strict=True)
            ]
            code = verify(parts, make_plans(parts, reports, options), report_to, lost)
    if options.output == "json":
        console.out(
            render.outcome_json([(p.member.name, p.plan, p.executor.outcome) for p in parts], code)
        )
    return code


def _take_leases(parts):
    """Hold every mesh's Lease the run changes (once per API server and namespace), before
    the first write: a second run over the same mesh is refused with who runs it
    (MeshBusy), having changed nothing."""
    held, seen = [], set()
    try:
        for part in parts:
            if part.lease is None:
                continue
            member = part.member
            cluster = (
                member.mesh_cluster or member.cluster
                if part.lease.on_mesh_instance
                else member.cluster
            )
            where = (cluster.context, part.lease.namespace)
            if where in seen:
                continue
            seen.add(where)
            lease = MeshLease(cluster, part.lease.namespace)
            lease.acquire()
            held.append(lease)
    except BaseException:
        for lease in held:
            lease.release()
        raise
    for lease in held:
        lease.start_renewing()
    return held


def pins_for(plan, outcome):
    """Overrides pinning back to the old mode the workloads whose rollout failed after our
    restart (not those the server refused: nothing changed there)."""
    failed = {ref for ref, _ in outcome.failed} - set(outcome.refused)
    old = Mode(plan.target).opposite.annotation
    pins = []
    for restart in plan.restarts:
        key = plan.override_key(restart.family)
        if key and restart.ref in failed:
            pins.append(planning.Override(restart.kind, restart.namespace, restart.name, key, old))
    return pins


def restart_command(parts):
    """The restart that finishes a --no-restart switch, in the same contexts."""
    scope = parts[0].scope
    where = "-A" if scope.all_namespaces else f"-n {scope.namespace}"
    selector = f" -l {scope.selector}" if scope.selector else ""
    command = f"kubectl sidecar restart {where}{selector}"
    if len(parts) > 1:
        command += " --context " + ",".join(part.member.name for part in parts)
        mesh_cluster = parts[0].member.mesh_cluster
        if mesh_cluster is not None:
            command += f" --mesh-context {mesh_cluster.context}"
    return command
