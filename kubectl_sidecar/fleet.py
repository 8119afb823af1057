"""A fleet: one mesh over several clusters (kubeconfig contexts), seen and switched as one.

Everything here composes the one-context pieces (status.stream) per context, or is what
switch.run, the one routine for one context or several, needs to run contexts side by side (a
single one runs in the calling thread); nothing about a single cluster is decided twice. The pure
parts (which config writes are the same write, whether contexts sharing a mesh agree, totals) are
functions of plain data, tested without a cluster.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter

from kubectl_sidecar import status
from kubectl_sidecar.errors import InputError, SidecarError, Terminated

# Pages of rows read ahead per context while others are printed: enough to keep every
# context's reads going, few enough that memory stays flat per context.
READ_AHEAD = 2


# Member and Batch are written out, not dataclasses, whose generated methods are compiled at
# every start of every command (BENCHMARKS.md, small cluster): neither is compared or printed.
class Member:
    """One context of the fleet: its cluster, and where its mesh config lives (ASM)."""

    def __init__(self, name: str, cluster: object, mesh_cluster: object = None):
        self.name = name
        self.cluster = cluster
        self.mesh_cluster = mesh_cluster


# --- status ----------------------------------------------------------------------------------


class Batch:
    """Assessed rows of one context, or the error that ended its reading."""

    def __init__(
        self,
        member: Member,
        rows: list | None = None,
        error: Exception | None = None,
        done: bool = False,
    ):
        self.member = member
        self.rows = [] if rows is None else rows
        self.error = error
        self.done = done  # the member's last item: its mesh config has been read


def stream(members, assessors, proxy_names=None, read_ahead=READ_AHEAD, in_order=True):
    """Yield Batches of every member while every context is read at once, each in its own
    thread, at most read_ahead Batches ahead of what has been yielded: memory is bounded by
    the pages in flight, never by the number of pods.

    in_order: all of the first context, then all of the second... (the table, which shows the
    contexts in the order given). Otherwise as they arrive (a document, whose items name their
    context), except that every context's first Batch comes before any context's second: a
    context's mesh config is read with its first page, and a document's head needs them all.
    Either way one context's Batches come in the order they were read.

    A context that can't be read (unreachable, forbidden: a SidecarError) yields one Batch
    with its error and the others go on. Threads are daemons: a reader blocked on its read
    ahead when the consumer stops (`| head`) does not keep the process alive.
    """
    arrivals: queue.Queue = queue.Queue()
    slots = {}
    for member, assessor in zip(members, assessors, strict=True):
        slots[member.name] = threading.BoundedSemaphore(read_ahead)
        threading.Thread(
            target=_read,
            args=(member, assessor, proxy_names, arrivals, slots[member.name]),
            daemon=True,
            name=f"read-{member.name}",
        ).start()
    names = [member.name for member in members]
    ended: set[str] = set()
    started: set[str] = set()
    held: list[Batch] = []  # arrived, not theirs to go yet

    def may_go(batch):
        name = batch.member.name
        if in_order:
            return name == next(n for n in names if n not in ended)
        return name not in started or len(started) == len(names)

    while len(ended) < len(names):
        batch = next((waiting for waiting in held if may_go(waiting)), None)
        if batch is not None:
            held.remove(batch)
        else:
            batch = arrivals.get()
            if not may_go(batch):
                held.append(batch)
                continue
        if batch.error is not None and not isinstance(batch.error, SidecarError):
            # Bad input (an invalid selector) is bad in every context, and a bug is a
            # bug: end the command as one context would, not as one lost context.
            raise batch.error
        name = batch.member.name
        started.add(name)
        if batch.done or batch.error is not None:
            ended.add(name)
        yield batch
        slots[name].release()


def _read(member, assessor, proxy_names, arrivals, slot):
    def hand_over(batch):
        slot.acquire()  # wait while read_ahead of this context's Batches are not consumed
        arrivals.put(batch)

    try:
        for rows in status.stream(assessor, proxy_names):
            hand_over(Batch(member, rows))
        assessor.mesh_config()  # read here, in parallel, even when the context has no pods
    except Exception as error:  # noqa: BLE001 - handed to the consumer, which decides
        hand_over(Batch(member, error=error))
        return
    hand_over(Batch(member, done=True))


def total(tallies):
    """One Tally over several contexts' ({name: Tally}): a workload is counted per context."""
    whole = status.Tally()
    for name, tally in tallies.items():
        whole.pods += tally.pods
        whole.modes.update(tally.modes)
        whole.needs_action += tally.needs_action
        whole.not_redirected += tally.not_redirected
        whole.workloads |= {(name, workload) for workload in tally.workloads}
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


# --- switch and restart: what only several contexts need -------------------------------------
#
# switch.run is the one routine for one context or several; these are the pieces it uses only
# when there are several.


def in_context(name, text):
    """`Warning: x` -> `Warning: context a: x`; other lines gain the prefix in front."""
    for lead in ("Warning: ", "Refused: "):
        if text.startswith(lead):
            return f"{lead}context {name}: {text[len(lead) :]}"
    return f"context {name}: {text}"


class said_in:
    """Re-raise an error of one context's step saying which context it was."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, (SidecarError, InputError)):
            message = f"context {self.name}: {error.format_message()}"
            named = InputError(message) if isinstance(error, InputError) else SidecarError(message)
            raise named from None
        return False


def at_once(function, parts):
    """[function(part)] for every part, each context in its own thread (one in this thread)."""
    if len(parts) == 1:
        return [function(parts[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return list(pool.map(function, parts))


def wait(futures, timeout, return_when):
    """concurrent.futures.wait. Imported here, not at the top, as ThreadPoolExecutor is below:
    only a fleet's switch or restart needs the module, whose import every small status would
    otherwise pay for."""
    import concurrent.futures

    return concurrent.futures.wait(futures, timeout=timeout, return_when=return_when)


def restart_everywhere(runs, console):
    """Every context's Executor.run at once (runs: [(Executor, items)]). Signals reach only
    this thread: the first Ctrl-C stops every context starting restarts, the second stops the
    waiting, SIGTERM both at once."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor

    executors = [executor for executor, _ in runs]
    terminated = False
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        running = {
            pool.submit(executor.run, items, lambda item: not item.unhealthy)
            for executor, items in runs
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
                again = any(executor.outcome.interrupted for executor in executors)
                terminated |= isinstance(interrupt, Terminated)
                for executor in executors:
                    executor.stop(give_up=again or terminated, terminated=terminated)
                if not again and not terminated:
                    console.err(
                        "Interrupted: waiting for the rollouts in progress in every "
                        "context; starting no more. Ctrl-C again to stop waiting."
                    )
    if terminated:
        raise Terminated
