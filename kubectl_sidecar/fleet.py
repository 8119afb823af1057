"""A fleet: one mesh over several clusters (kubeconfig contexts), seen and switched as one.

Everything here composes the one-context pieces (status.stream/collect, the plan functions,
access.check, execute.Executor, render) per context; nothing about a single cluster is
decided twice. The pure parts (which config writes are the same write, whether contexts
sharing a mesh agree, totals) are functions of plain data, tested without a cluster.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from kubectl_sidecar import status
from kubectl_sidecar.errors import InputError, SidecarError

# Pages of rows read ahead per context while an earlier context is printed: enough to keep
# every context's reads going, few enough that memory stays flat per context.
READ_AHEAD = 2


@dataclass
class Member:
    """One context of the fleet: its cluster, and where its mesh config lives (ASM)."""

    name: str
    cluster: object
    mesh_cluster: object = None


# --- status ----------------------------------------------------------------------------------


@dataclass
class Batch:
    """Assessed rows of one context, or the error that ended its reading."""

    member: Member
    rows: list = field(default_factory=list)
    error: Exception | None = None
    done: bool = False  # the member's last item: its mesh config has been read


def stream(members, assessors, proxy_names=None, read_ahead=READ_AHEAD):
    """Yield Batches of every member in turn (all of the first context, then the second...),
    while every context is read at once: each in its own thread, a few pages ahead.

    A context that can't be read (unreachable, forbidden: a SidecarError) yields one Batch
    with its error and the others go on. Threads are daemons: a reader blocked on a full queue when the consumer
    stops (`| head`) does not keep the process alive.
    """
    queues = []
    for member, assessor in zip(members, assessors, strict=True):
        pipe = queue.Queue(maxsize=read_ahead)
        queues.append(pipe)
        threading.Thread(
            target=_read,
            args=(member, assessor, proxy_names, pipe),
            daemon=True,
            name=f"read-{member.name}",
        ).start()
    for pipe in queues:
        while True:
            batch = pipe.get()
            if batch.error is not None and not isinstance(batch.error, SidecarError):
                # Bad input (an invalid selector) is bad in every context, and a bug is a
                # bug: end the command as one context would, not as one lost context.
                raise batch.error
            yield batch
            if batch.done or batch.error is not None:
                break


def _read(member, assessor, proxy_names, pipe):
    try:
        for rows in status.stream(assessor, proxy_names):
            pipe.put(Batch(member, rows))
        assessor.mesh_config()  # read here, in parallel, even when the context has no pods
    except Exception as error:  # noqa: BLE001 - handed to the consumer, which decides
        pipe.put(Batch(member, error=error))
        return
    pipe.put(Batch(member, done=True))


def collect(members, scopes, mesh="auto", proxy_names=None):
    """{member name: status.Report or the error that stopped it}, every context read at once."""

    def one(pair):
        member, scope = pair
        try:
            return status.collect(member.cluster, scope, mesh, member.mesh_cluster, proxy_names)
        except SidecarError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
        results = list(pool.map(one, zip(members, scopes, strict=True)))
    return {member.name: result for member, result in zip(members, results, strict=True)}


def total(tallies):
    """One Tally over several contexts' ({name: Tally}): a workload is counted per context."""
    whole = status.Tally()
    for name, tally in tallies.items():
        whole.pods += tally.pods
        whole.modes.update(tally.modes)
        whole.needs_action += tally.needs_action
        whole.workloads |= {(name,) + workload for workload in tally.workloads}
        for namespace, counts in tally.per_namespace.items():
            whole.per_namespace.setdefault(namespace, Counter()).update(counts)
    return whole


def error_message(error):
    message = error.format_message() if isinstance(error, SidecarError) else str(error)
    return " ".join(message.split())


def error_line(name, error):
    """The one stderr line for a context that could not be read."""
    return f"error: context {name}: {error_message(error)}"


# --- what contexts sharing a mesh must agree on -----------------------------------------------


def configured(mesh):
    """What a MeshConfig says the mesh injects, comparable across contexts."""
    if mesh.mesh_wide is not None:
        return (mesh.name, mesh.mesh_wide.mode)
    return (mesh.name, tuple(sorted((rev, s.mode) for rev, s in mesh.revisions.items())))


def disagreements(meshes, shared):
    """Lines saying how contexts that share one mesh config (shared: the name of the context
    holding it, e.g. the ASM instance; None when each context has its own) report different
    configured modes; [] when they agree. meshes: {context: MeshConfig}.

    Contexts of one ASM instance all inject what its ASMMeshConfig says; one reporting
    something else is not attached to that instance (or is a stale context): switching the
    fleet would leave it out.
    """
    if shared is None or not any(mesh.context == shared for mesh in meshes.values()):
        return []  # no context reads the shared config: each has its own (Istio primaries)
    if len({configured(mesh) for mesh in meshes.values()}) < 2:
        return []
    return [
        f"contexts sharing the mesh config on {shared} report different configured modes: "
        + "; ".join(f"{name}: {mesh.describe()}" for name, mesh in meshes.items())
    ]


def same_write(change):
    """Two ConfigChanges with this key are one write: the same object on the same API server
    (every context of one ASM instance plans the instance's one ASMMeshConfig)."""
    return (change.mesh, change.context, change.kind, change.namespace, change.name, change.new)


def dedupe_config_changes(plans):
    """Keep each config write in the first plan that holds it ({context: Plan}, in order);
    the plans are changed in place and returned."""
    seen = set()
    for plan in plans.values():
        kept = []
        for change in plan.config_changes:
            if same_write(change) not in seen:
                seen.add(same_write(change))
                kept.append(change)
        plan.config_changes = kept
    return plans


# --- switch and restart --------------------------------------------------------------------


@dataclass
class Part:
    """One context's share of a fleet run."""

    member: Member
    scope: object
    make_plan: object
    check: object = None
    console: object = None  # the fleet's Console, saying which context speaks
    plan: object = None
    findings: object = None
    executor: object = None


def switch_mesh(members, options, console):
    """A mesh-wide switch over the fleet. Exit code."""
    from kubectl_sidecar import switch

    return run(
        members,
        options,
        console,
        lambda member, say: switch.mesh_wide_steps(member.cluster, options, say),
    )


def restart(members, scopes, options, console):
    """restart over the fleet (scopes: one per member). Exit code."""
    from kubectl_sidecar import switch

    by_name = {member.name: scope for member, scope in zip(members, scopes, strict=True)}
    return run(
        members,
        options,
        console,
        lambda member, say: switch.restart_steps(by_name[member.name], say),
    )


def switch_workloads(members, scopes, options, console):
    """A per-workload switch in every context of the fleet. Exit code."""
    from kubectl_sidecar import switch

    by_name = {member.name: scope for member, scope in zip(members, scopes, strict=True)}
    return run(
        members,
        options,
        console,
        lambda member, say: switch.workload_steps(
            member.cluster, by_name[member.name], options, say
        ),
    )


def in_context(name, text):
    """`Warning: x` -> `Warning: context a: x`; other lines gain the prefix in front."""
    for lead in ("Warning: ", "Refused: "):
        if text.startswith(lead):
            return f"{lead}context {name}: {text[len(lead) :]}"
    return f"context {name}: {text}"


def _context_error(name, error):
    """The same error, saying in which context it happened."""
    message = f"context {name}: {error.format_message()}"
    return InputError(message) if isinstance(error, InputError) else SidecarError(message)


def _member_console(console, name):
    from kubectl_sidecar.switch import Console

    return Console(
        out=console.out,
        err=lambda text: console.err(in_context(name, text)),
        confirm=console.confirm,
        board=None,
    )


def run(members, options, console, steps_for):
    """The fleet's gather -> plan -> check access -> confirm -> carry out -> verify, with
    switch.py's routine for each context's part: steps_for(member, console) gives a context's
    (scope, make_plan, check)."""
    parts = []
    for member in members:
        said = _member_console(console, member.name)
        scope, make_plan, check = steps_for(member, said)
        parts.append(Part(member, scope, make_plan, check, said))
    reports = gather(parts, options)
    for part in parts:
        report, _ = reports[part.member.name]
        for warning in report.warnings:
            part.console.err(f"Warning: {warning}")
        if part.check is not None:
            with _said_in(part.member.name):
                part.check(report)
    plans = make_plans(parts, reports, options)
    for part in parts:
        part.plan = plans[part.member.name]
    shared = members[0].mesh_cluster
    problems = disagreements(
        {name: report.mesh for name, (report, _) in reports.items()},
        getattr(shared, "context", None) if shared is not None else None,
    )

    def rerun():
        return make_plans(parts, gather(parts, options), options)

    return carry_out(parts, options, console, problems, rerun)


class _said_in:
    """Re-raise an error of one context's step saying which context it was."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, (SidecarError, InputError)):
            raise _context_error(self.name, error) from None
        return False


def gather(parts, options):
    """{context: (Report, workload facts)}, every context read at once."""

    def one(part):
        with _said_in(part.member.name):
            report = status.collect(
                part.member.cluster,
                part.scope,
                options.mesh,
                part.member.mesh_cluster,
                options.proxy_names,
            )
            facts = report.assessor.workload_facts([row for row in report.rows if row.proxy])
        return report, facts

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        results = list(pool.map(one, parts))
    return {part.member.name: result for part, result in zip(parts, results, strict=True)}


def make_plans(parts, reports, options):
    """{context: Plan}, each config write kept once: in the first context that plans it."""
    plans = {}
    for part in parts:
        with _said_in(part.member.name):
            plan = part.make_plan(*reports[part.member.name])
        if options.skip_unhealthy:
            plan.set_aside_unhealthy()
        plans[part.member.name] = plan
    return dedupe_config_changes(plans)


def check_access(parts):
    """Every context's access findings, asked at once, before any write anywhere."""
    from kubectl_sidecar import access

    def one(part):
        if part.plan.empty:
            return None
        return access.check(access.needed(part.plan), part.member.cluster, part.member.mesh_cluster)

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        for part, findings in zip(parts, pool.map(one, parts), strict=True):
            part.findings = findings


def carry_out(parts, options, console, problems, rerun):
    """switch._carry_out for a fleet: one plan, one access check and one confirmation for
    every context, the config writes first, then every context's restarts at once (one
    Executor each, --concurrency each), then one verification across all."""
    from kubectl_sidecar import render
    from kubectl_sidecar.errors import ApiError, Terminated
    from kubectl_sidecar.execute import Executor

    report_to = console.err if options.output == "json" else console.out
    report_to(
        render.fleet_plan_text(
            [(p.member.name, p.plan, p.scope) for p in parts], parts[0].plan.target
        )
    )
    for line in problems:
        console.err(
            ("Warning: " if options.force else "Refused: ")
            + line
            + (" (continuing: --force)" if options.force else "")
        )
    empty = all(part.plan.empty for part in parts)
    if not empty:
        check_access(parts)
        for part in parts:
            if part.findings is None:
                continue
            mesh_context = getattr(part.member.mesh_cluster, "context", None) or part.member.name
            for line in part.findings.lines(part.member.name, mesh_context):
                console.err(
                    f"Warning: {line}" if line.startswith("could not") else f"Refused: {line}"
                )
    refused = sum(len(part.findings.refused) for part in parts if part.findings)
    blocked = bool(problems) and not options.force
    if options.output == "json" and (empty or options.dry_run == "client" or refused or blocked):
        console.out(
            render.fleet_plan_json(
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
            "Nothing to change in any context."
            + (
                ""
                if any(part.plan.manual for part in parts)
                else " Everything is already in the target mode."
            )
        )
        return 0
    if refused:
        report_to(
            f"Nothing was changed in any context: {refused} permission(s) the plan needs "
            "are missing (above). Ask for them, or narrow the run with -n or --context."
        )
        return 1
    from kubectl_sidecar.switch import confirmed_or_exit_code

    stopped = confirmed_or_exit_code(options, console, report_to)
    if stopped is not None:
        return stopped
    stop_starting = threading.Event()

    def said_in(name):
        return lambda text: console.err(f"[{name}] {text}")

    for part in parts:
        part.executor = Executor(
            part.member.cluster,
            part.member.mesh_cluster,
            say=said_in(part.member.name),
            dry_run=options.dry_run,
            concurrency=options.concurrency,
            timeout=options.timeout,
            keep_going=options.keep_going,
            stop_starting=stop_starting,
        )
    code = None
    current = parts[0]
    try:
        for current in parts:
            for change in current.plan.config_changes:
                # Logged as from the API server the write goes to: the ASM instance's
                # config is not hz's, though hz's part of the plan holds it.
                current.executor.say = said_in(change.context or current.member.name)
                current.executor.apply_config(change)
            current.executor.say = said_in(current.member.name)
        if options.no_restart:
            from kubectl_sidecar.switch import restart_command

            command = (
                restart_command(parts[0].scope)
                + " --context "
                + ",".join(p.member.name for p in parts)
            )
            mesh_cluster = parts[0].member.mesh_cluster
            if mesh_cluster is not None:
                command += f" --mesh-context {mesh_cluster.context}"
            report_to(
                "Config changed; no workload was restarted (--no-restart). Restart them "
                f"later in every context with: {command}"
            )
            return 0
        _restart_everywhere(parts, console)
        if options.pin_failed and parts[0].plan.target:
            from kubectl_sidecar.switch import pins_for

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
        if isinstance(error, ApiError) and 400 <= error.status < 500:
            current.executor.outcome.refused.append("mesh config")
    finally:
        for part in parts:
            part.executor.close()
    outcomes = [part.executor.outcome for part in parts]
    report_to(
        render.fleet_outcome_text(
            [(p.member.name, p.executor.outcome, p.plan) for p in parts],
            server_dry_run=options.dry_run == "server",
        )
    )
    if code is None and any(outcome.interrupted for outcome in outcomes):
        code = 130
    if code is None:
        code = 1 if any(o.failed or o.not_started for o in outcomes) else 0
        if code == 0 and not options.dry_run:
            code = verify(parts, rerun(), report_to)
    if options.output == "json":
        console.out(
            render.fleet_outcome_json(
                [(p.member.name, p.plan, p.executor.outcome) for p in parts], code
            )
        )
    return code


def _restart_everywhere(parts, console):
    """Every context's Executor.run at once. Signals reach only this thread: the first
    Ctrl-C stops every context starting restarts, the second stops the waiting, SIGTERM
    both at once."""
    from kubectl_sidecar.errors import Terminated

    terminated = False
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        running = {
            pool.submit(
                part.executor.run,
                part.plan.overrides + part.plan.restarts,
                lambda item: not item.unhealthy,
            )
            for part in parts
        }
        while running:
            try:
                done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        future.result()
                    except Terminated:
                        terminated = True
            except KeyboardInterrupt as interrupt:
                again = any(part.executor.outcome.interrupted for part in parts)
                terminated |= isinstance(interrupt, Terminated)
                for part in parts:
                    part.executor.stop(give_up=again or terminated, terminated=terminated)
                if not again and not terminated:
                    console.err(
                        "Interrupted: waiting for the rollouts in progress in every "
                        "context; starting no more. Ctrl-C again to stop waiting."
                    )
    if terminated:
        raise Terminated


def verify(parts, fresh, report_to):
    """One verification across every context: a fresh plan ({context: Plan}) with nothing
    left to restart, except what was restarted but not waited for or was pinned."""
    from kubectl_sidecar import render
    from kubectl_sidecar.execute import ref_of

    left, unwaited_total = [], 0
    for part in parts:
        remaining = fresh[part.member.name]
        outcome = part.executor.outcome
        unwaited = {ref for ref, _ in outcome.not_waited}
        unwaited_total += len(unwaited)
        skip = unwaited | set(outcome.pinned)
        remaining.restarts = [r for r in remaining.restarts if ref_of(r) not in skip]
        if remaining.config_changes or remaining.overrides or remaining.restarts:
            left.append(
                f"Context {part.member.name}:\n"
                + render.plan_text(remaining, None, brief=True).strip("\n")
            )
    if left:
        report_to("Verify: FAILED, still to do:\n" + "\n".join(left))
        return 1
    line = (
        f"Verify: in all {len(parts)} contexts every pod that a restart could switch is in "
        "its target mode"
    )
    if unwaited_total:
        line += (
            f", except in {unwaited_total} workload(s) that were failing before the switch "
            "(restarted, not waited for)"
        )
    report_to(line + ".")
    return 0
