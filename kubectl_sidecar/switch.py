"""`switch` and `restart`: read, preflight, plan, confirm, apply, wait, verify, in one context
or several (a single context is a fleet of one; fleet.py holds what only several need).

The plan is always recomputed from the live cluster, so running the same command again after
an interruption or a failure picks up where it stopped, and after success changes nothing.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

from kubectl_sidecar import (
    access,
    canary,
    fleet,
    meshread,
    owners,
    preflight,
    render,
    resources,
    status,
)
from kubectl_sidecar import plan as planning
from kubectl_sidecar.classify import NATIVE
from kubectl_sidecar.errors import InputError, SidecarError, Terminated, unless_forbidden
from kubectl_sidecar.execute import Executor
from kubectl_sidecar.fleet import Member
from kubectl_sidecar.lease import MeshLease
from kubectl_sidecar.meshes import reading, registry
from kubectl_sidecar.meshes.base import Mode, Unsupported
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.status import Scope
from kubectl_sidecar.workloads import RESTARTABLE

# How long a switch without --timeout waits for the mesh to inject the new mode.
DEFAULT_SETTLE_SECONDS = 600.0

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
        if not report.mesh.found:
            # Its settings would be guesses: a switch would restart everything for nothing.
            raise SidecarError(
                f"--mesh {report.mesh.name}: its configuration is not on this cluster "
                f"({report.mesh.describe()}); nothing was changed"
            )
        if (
            options.restart_namespace
            and not options.no_restart
            and not any(row.namespace == options.restart_namespace for row in report.rows)
        ):
            # A mistyped -n would change the mesh for every namespace and restart nothing.
            raise SidecarError(
                f"no pods in namespace {options.restart_namespace}: the mesh config change "
                "applies to every namespace, and nothing here would be restarted; check the "
                "namespace, or change only the config with --no-restart"
            )

    def make_plan(report, facts):
        plan = planning.plan_switch(report.rows, report.mesh, options.target, facts)
        plan.config_changes = [
            _through_operator(change, cluster)
            for change in owners.attach(
                plan.config_changes, lambda: _argocd_applications(report.mesh, cluster)
            )
        ]
        _check_owners(plan.config_changes, options, console)
        if options.restart_namespace:
            plan.limit_to(options.restart_namespace)
        return plan

    return Scope(namespace=None), make_plan, check


def _argocd_applications(mesh, cluster):
    """The Argo CD Applications' names, as status's read of the mesh config listed them (its
    owners come from the same list), else listed now."""
    if mesh.argocd_applications is not None:
        return mesh.argocd_applications
    return reading.argocd_applications(cluster)


def _through_operator(change, cluster):
    """The change in its operator's own resource where an operator renders the object (the
    mesh module's optional `operator_change`); else the change itself, which _check_owners
    then refuses."""
    if change.owner is None or change.owner.treatment is not owners.Treatment.OPERATOR:
        return change
    operator_change = getattr(registry.control_plane(change.mesh), "operator_change", None)
    found = operator_change(change, cluster) if operator_change else None
    return found or change


def _check_owners(changes, options, console):
    """Refuse, before any write, a change its object's owner would undo or decides itself
    (owners.refusal); a dry run only says so, for it writes nothing and its plan names the
    change in the owner's terms (what a pull request needs)."""
    for change in changes:
        found = owners.refusal(change)
        if found is None:
            continue
        problem, forceable = found
        if options.dry_run:
            console.err(f"Warning: a switch would be refused: {problem}")
        elif not forceable:
            raise SidecarError(f"refusing to switch to {options.target} sidecars: {problem}")
        elif not options.force:
            raise SidecarError(
                f"refusing to switch to {options.target} sidecars: {problem} "
                "(--force to patch it anyway; nothing was changed)"
            )
        else:
            console.err(f"Warning: {problem} (continuing: --force)")


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


def workload_steps(cluster, scope, options, console):
    """(scope, make_plan, check) of a per-workload switch."""

    def make_plan(report, facts):
        workloads = _target_workloads(cluster, scope, options.workloads, report)
        if not workloads:
            raise InputError(
                f'no meshed workload has pods matching "{scope.selector}" in {scope.describe()}'
            )
        return planning.plan_override(report.rows, workloads, options.target, facts, report.mesh)

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

    return _at_once(one, parts)


def _at_once(function, parts):
    """[function(part)] for every part, each context in its own thread (one in this thread)."""
    if len(parts) == 1:
        return [function(parts[0])]
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return list(pool.map(function, parts))


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


def _target_workloads(cluster, scope, refs, report):
    """[(workload, family, template annotations)] named by refs or by -l."""
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
    for ref in wanted:
        kind, ns, name = ref
        resource = resources.BY_KIND[kind]
        obj = cluster.get(resource, name, ns)
        if obj is None:
            raise InputError(f'{resource.qualified} "{name}" not found in namespace {ns}')
        annotations = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "annotations"
        ) or {}
        family = families.get(ref) or report.mesh.family
        if family is None:
            raise SidecarError(
                f"can't tell which mesh {kind}/{name} in namespace {ns} is in: none of its "
                "pods runs a known proxy and no mesh configuration was found; name the mesh "
                "with --mesh"
            )
        targets.append((ref, family, annotations))
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


def _carry_out(parts, options, console, problems):
    """One plan, one access check and one confirmation for every context; the config writes
    first, then every context's restarts at once (one Executor each, --concurrency each),
    then one verification across all. problems: why contexts sharing a mesh config disagree."""
    several = len(parts) > 1
    report_to = console.err if options.output == "json" else console.out
    stopped = _review(parts, options, console, problems, report_to)
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
                _pin_first(current.executor, current.plan.pins, options)
        for current in parts:
            for change in current.plan.config_changes:
                # Logged as from the API server the write goes to: the ASM instance's
                # config is not hz's, though hz's part of the plan holds it.
                current.executor.say = voice(change.context or current.member.name)
                current.executor.apply_config(change)
            current.executor.say = voice(current.member.name)
        if options.canary and not options.dry_run and not options.no_restart:
            _until_injected(parts, options)
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


def _until_injected(parts, options):
    """After the mesh-wide change, before any restart: try one workload per namespace and
    revision again, without the per-pod annotation, until the mesh injects the target (its
    control plane rolls out, or pushes the config in its own time), within --timeout. If it
    still injects the old mode, put the config back and stop: restarting would switch
    nothing. SidecarError saying so."""
    probes = [
        canary.settle_probes(part.plan, part.canary_refused) if part.plan.config_changes else []
        for part in parts
    ]
    if not any(probes):
        return
    target = parts[0].plan.target
    deadline = time.monotonic() + (options.timeout or DEFAULT_SETTLE_SECONDS)
    for part, tried in zip(parts, probes, strict=True):
        if tried:
            part.executor.say(
                f"Canary: until the mesh injects {target} sidecars: {len(tried)} pod(s) "
                "tried through admission (one per namespace and revision)"
            )

    def one(pair):
        part, tried = pair
        if not tried:
            return {}
        with part.blamed():
            return canary.until_injected(
                part.member.cluster,
                tried,
                deadline,
                time.monotonic,
                time.sleep,
                options.proxy_names,
            )

    wrong = _at_once(one, list(zip(parts, probes, strict=True)))
    if not any(wrong):
        for part, tried in zip(parts, probes, strict=True):
            if tried:
                part.executor.say(f"Canary: the mesh injects {target} sidecars now")
        return
    why = "; ".join(f"{ref}: {reason}" for found in wrong for ref, reason in found.items())
    stopped = (
        f"the mesh still does not inject {target} sidecars after its config change "
        f"({why}); restarting would switch nothing"
    )
    for part in reversed(parts):
        for change in reversed(part.plan.config_changes):
            try:
                part.executor.put_back(change)
            except SidecarError as error:
                raise SidecarError(
                    f"{stopped}, and putting {change.describe()} back failed: "
                    f"{error.format_message()}; put it back by hand"
                ) from None
    raise SidecarError(f"{stopped}: the config was put back and nothing was restarted")


def _pin_first(executor, pins, options):
    """Pin the workloads the canary found can't be switched to the old mode, before the mesh
    changes: a pod of theirs recreated after the change (a node drained) keeps the old mode."""
    if options.dry_run == "server":
        executor.run(pins)  # sent with dryRun=All: no rollout to wait for
        sent = {pin.ref for pin in pins} - {ref for ref, _ in executor.outcome.failed}
        outcome = executor.outcome
        outcome.succeeded = [ref for ref in outcome.succeeded if ref not in sent]
        outcome.pinned += sorted(sent)
        return
    executor.pin(pins)


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


def _review(parts, options, console, problems, report_to):
    """Show the plan, check access, confirm: None when the run may change the cluster, else
    the exit code of a run that stops here, having said why."""
    several = len(parts) > 1
    anywhere = " in any context" if several else ""
    report_to(render.plan_text([(p.member.name, p.plan, p.scope) for p in parts]))
    for line in problems:
        console.err(
            ("Warning: " if options.force else "Refused: ")
            + line
            + (" (continuing: --force)" if options.force else "")
        )
    empty = all(part.plan.empty for part in parts)
    if not empty:
        _check_access(parts, console, canary_on=options.canary)
    refused = sum(len(part.findings.refused) for part in parts if part.findings)
    blocked = bool(problems) and not options.force
    unswitchable = 0
    if options.canary and not (empty or refused or blocked):
        unswitchable = _canary(parts, options, report_to)
    if options.output == "json" and (
        empty or options.dry_run == "client" or refused or blocked or unswitchable
    ):
        console.out(
            render.plan_json(
                [(p.member.name, p.plan, p.findings) for p in parts], problems if blocked else ()
            )
        )
    if blocked:
        report_to(
            "Nothing was changed: contexts that share one mesh config must agree on what "
            "it injects (check each context's mesh, or --force to switch anyway)."
        )
        return 1
    if empty:
        report_to(
            f"Nothing to change{anywhere}."
            + (
                ""
                if any(part.plan.manual for part in parts)
                else " Everything is already in the target mode."
            )
        )
        return 0
    if refused:
        report_to(
            f"Nothing was changed{anywhere}: {refused} permission(s) the plan needs "
            "are missing (above). Ask for them, or narrow the run with -n or "
            + ("--context." if several else "a workload.")
        )
        return 1
    if unswitchable:
        report_to(
            f"Nothing was changed{anywhere}: {unswitchable} workload(s) can't be switched "
            "(above). "
            + (
                "Pin them to the old mode and switch the rest with --pin-failed, or switch "
                "the rest and leave them with --keep-going."
                if options.mesh_wide
                else "Switch the rest and leave them with --keep-going."
            )
        )
        return 1
    return confirmed_or_exit_code(options, console, report_to)


def _canary(parts, options, report_to):
    """Try every planned workload's next pod through the admission chain (canary.py), in every
    context at once, and say what it found; set aside the workloads that can't be switched as
    --pin-failed or --keep-going say. The number of such workloads left in the plan: with any,
    nothing may be written."""
    handling = "refuse"
    if options.pin_failed and options.mesh_wide:
        handling = "pin"
    elif options.keep_going:
        handling = "leave"

    def one(part):
        if part.plan.empty:
            return None
        probes = [
            probe
            for probe in canary.probes_for(part.plan)
            if probe.ref.namespace not in part.canary_refused
        ]
        if not probes and not part.canary_refused:
            return None  # only config to change: no workload's pod to try
        with part.blamed():
            result = canary.probe(part.member.cluster, probes, options.proxy_names)
        return result, len(probes)

    left = 0
    for part, done in zip(parts, _at_once(one, parts), strict=True):
        if done is None:
            continue
        found = canary.findings(*done)
        found.handling = handling
        found.skipped = [
            f"may not create pods in namespace {namespace}: {why}"
            for namespace, why in sorted(part.canary_refused.items())
        ] + found.skipped
        for why in found.skipped:
            part.console.err(
                f"Warning: canary skipped ({why}): those workloads are restarted without "
                "trying their pods through admission first"
            )
        part.plan.canary = found
        report_to(render.canary_text(part.label, found, part.plan.target))
        cant = dict(found.cant)
        if handling == "refuse":
            left += len(cant)
        else:
            part.plan.set_aside_unswitchable(cant, pin=handling == "pin")
    return left


def _check_access(parts, console, canary_on=False):
    """Every context's access findings, asked at once, before any write anywhere; with
    canary_on, the canary's too (a refusal of those skips the canary there: Part.canary_refused)."""

    def one(part):
        if part.plan.empty:
            return None
        needed = access.needed(part.plan) + (part.lease.permissions() if part.lease else [])
        if canary_on:
            needed += access.canary_permissions(part.plan)
        return access.check(sorted(set(needed)), part.member.cluster, part.member.mesh_cluster)

    for part, findings in zip(parts, _at_once(one, parts), strict=True):
        part.findings = findings
        if findings is None:
            continue
        if canary_on:
            # The canary is not a write the plan needs: without it the run goes on as before.
            probing = set(access.canary_permissions(part.plan))
            for permission, reason in findings.refused:
                if permission in probing:
                    part.canary_refused[permission.namespace or ""] = reason or "no reason given"
            findings.refused = [entry for entry in findings.refused if entry[0] not in probing]
        mesh = part.member.mesh_cluster or part.member.cluster
        for line in findings.lines(
            _judged(part.member.cluster, part.member.name), _judged(mesh, mesh.context)
        ):
            console.err(f"Warning: {line}" if line.startswith("could not") else f"Refused: {line}")


def _judged(cluster, context):
    """The context whose rights a refusal is about, and whom the server judged where that is
    not the context's own user: "admin, as bob" (--as), "admin, with --token"."""
    acting = getattr(cluster, "acting_as", None)
    return f"{context}, {acting}" if acting else context


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
    old = Mode(plan.target).opposite.annotation
    pins = []
    for restart in plan.restarts:
        key = plan.override_key(restart.family)
        if key and restart.ref in failed:
            pins.append(planning.Override(restart.kind, restart.namespace, restart.name, key, old))
    return pins


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
