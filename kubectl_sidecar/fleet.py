"""A fleet: one mesh over several clusters (kubeconfig contexts), seen and switched as one.

Everything here composes the one-context pieces (status.stream) per context, or is
what switch.run, the one routine for one context or several, needs only for several; nothing
about a single cluster is decided twice. The pure parts (which config writes are the same
write, whether contexts sharing a mesh agree, totals) are functions of plain data, tested
without a cluster.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass, field

from kubectl_sidecar import status
from kubectl_sidecar.errors import InputError, SidecarError, Terminated

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
        pipe: queue.Queue = queue.Queue(maxsize=read_ahead)
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


def total(tallies):
    """One Tally over several contexts' ({name: Tally}): a workload is counted per context."""
    whole = status.Tally()
    for name, tally in tallies.items():
        whole.pods += tally.pods
        whole.modes.update(tally.modes)
        whole.needs_action += tally.needs_action
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
