"""Following many rollouts through a few watches: one per kind and scope, never a request per
workload per second.

Each watch runs in a thread that lists once, then watches from the list's version, resumes
from the last version it saw after a disconnect (with backoff while the API server is away)
and lists again when the server has forgotten that version (410 Gone). Waiters read the newest
object the watches delivered and decide with kubectl's rollout rules (rollout.progress), so a
rollout costs no requests of its own and is seen the moment its controller reports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kubectl_sidecar import resources
from kubectl_sidecar.errors import ApiError, Unreachable
from kubectl_sidecar.rollout import WORKLOAD_GENERATION, progress

if TYPE_CHECKING:
    from kubectl_sidecar.cluster import ClusterApi

# A workload followed: (kind, namespace, name), a refs.WorkloadRef or a plain tuple.
Key = tuple[str, str, str]

WATCH_SECONDS = 300  # the server ends each watch after about this long; we start the next
BACKOFF_SECONDS = (0.5, 1, 2, 4, 8)  # while the API server can't be reached
DELETED = object()  # the workload was deleted while we waited for it
# Kinds whose refusals to create pods show only as FailedCreate events (a Deployment's show
# as its ReplicaFailure condition).
EVENT_KINDS = ("StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class WatchProblem:
    """Why a watch isn't delivering: permanent (forbidden, no such kind) or a passing outage."""

    message: str
    permanent: bool


class Waited:
    """A wait's verdict: done, failed with why, or given up (interrupted) before it ended."""

    DONE = "done"
    GAVE_UP = "gave up"


class Tracker:
    def __init__(
        self,
        cluster: ClusterApi,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        say: Callable[[str], None] | None = None,
    ):
        self.cluster = cluster
        self.clock = clock
        # Told when the API server stops answering the watches and when it answers again:
        # an outage is said as it happens, not only when a rollout's deadline passes.
        self.say = say
        self._changed = threading.Condition()
        self._wanted: set[Key] = set()  # (kind, namespace, name) whose newest object is kept
        self._namespaces: dict[str, set[str]] = {}  # kind -> namespaces its watches must cover
        self._objects: dict[Key, Any] = {}  # (kind, namespace, name) -> newest object, or DELETED
        self._failed_creates: dict[
            Key, tuple[datetime | None, str]
        ] = {}  # (kind, namespace, name) -> (when, message)
        self._problems: dict[
            tuple[str, str | None], WatchProblem
        ] = {}  # (kind, namespace or None) -> WatchProblem
        self._following: set[tuple[str, str | None]] = (
            set()
        )  # (kind, namespace or None) with a running watch
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait

    # --- what to follow ----------------------------------------------------------------

    def watch_over(self, keys: Iterable[Key]) -> None:
        """Start the watches that these (kind, namespace, name) need, keeping nothing of them
        yet: per kind, one watch over their namespace, or over all namespaces when they span
        several. Start them for a whole run at once, so a run over many namespaces has one
        watch per kind rather than one per namespace."""
        by_kind: dict[str, set[str]] = {}
        for kind, namespace, _ in keys:
            by_kind.setdefault(kind, set()).add(namespace)
        with self._changed:
            for kind, namespaces in by_kind.items():
                self._namespaces.setdefault(kind, set()).update(namespaces)
        for kind, namespaces in sorted(by_kind.items()):
            scope = next(iter(namespaces)) if len(namespaces) == 1 else None
            self._start(kind, scope)
            if kind in EVENT_KINDS:
                self._start("Event", scope)

    def follow(self, keys: Iterable[Key]) -> None:
        """Keep the newest object of these (kind, namespace, name) from now on, for wait();
        start their watches if watch_over hasn't."""
        keys = set(keys)
        with self._changed:
            self._wanted |= keys
        self.watch_over(keys)

    def forget(self, key: Key) -> None:
        """Stop keeping key's object: a run holds the objects of the rollouts in flight, not
        of every workload it has seen (a workload's status pinned ~10 KB of memory each, so a
        run's peak grew with the mesh)."""
        with self._changed:
            self._wanted.discard(key)
            self._objects.pop(key, None)
            self._failed_creates.pop(key, None)

    def note(self, key: Key, obj: dict | None) -> None:
        """An object we just wrote (the patch's answer): newer than what the watch may have
        delivered yet, so a rollout is never judged from the object before our change."""
        if not obj:
            return
        with self._changed:
            current = self._objects.get(key)
            if current is None or current is DELETED or _generation(obj) >= _generation(current):
                self._objects[key] = rollout_view(obj)
                self._changed.notify_all()

    def stop(self) -> None:
        self._stopped.set()
        with self._changed:
            self._changed.notify_all()

    # --- waiting -----------------------------------------------------------------------

    def wait(
        self,
        key: Key,
        since: datetime | None = None,
        deadline: float | None = None,
        give_up: threading.Event | None = None,
        on_progress: Callable[[str], None] | None = None,
        timeout_text: str = "",
    ) -> str:
        """Waited.DONE once the rollout of key is complete; Waited.GAVE_UP when give_up is
        set first; else why it failed (its rollout failed, it can't be watched, or the
        deadline, a clock() reading, passed)."""
        kind = key[0]
        last_message = None
        with self._changed:
            while True:
                obj = self._objects.get(key)
                state = None
                if obj is DELETED:
                    return f"{kind}/{key[2]} was deleted while waiting"
                if obj is not None:
                    state = progress(kind, obj)
                    if state.failed:
                        return state.failed
                    if state.done:
                        return Waited.DONE
                    refused = self._failed_create(key, since)
                    if refused:
                        return refused
                    if on_progress and state.message != last_message:
                        on_progress(state.message)
                        last_message = state.message
                problem = self._problem_for(key)
                if problem is not None and problem.permanent:
                    return problem.message
                if (give_up is not None and give_up.is_set()) or self._stopped.is_set():
                    return Waited.GAVE_UP
                left = None if deadline is None else deadline - self.clock()
                if left is not None and left <= 0:
                    # An outage, not a slow rollout: what was last seen of it is stale.
                    if problem is not None:
                        where = problem.message + (
                            f" (last seen: {state.message})" if state else ""
                        )
                    else:
                        where = state.message if state else "no status seen yet"
                    return f"timed out{timeout_text}: {where}"
                self._changed.wait(timeout=1.0 if left is None else min(left, 1.0))

    def _failed_create(self, key: Key, since: datetime | None) -> str | None:
        seen = self._failed_creates.get(key)
        if seen is None:
            return None
        when, message = seen
        if since is not None and when is not None and when < since.replace(microsecond=0):
            return None
        return f"can't create pods (FailedCreate): {message}"

    def _problem_for(self, key: Key) -> WatchProblem | None:
        kind, namespace, _ = key
        return self._problems.get((kind, namespace)) or self._problems.get((kind, None))

    # --- the watches -------------------------------------------------------------------

    def _start(self, kind: str, namespace: str | None) -> None:
        with self._changed:
            if (kind, namespace) in self._following or (kind, None) in self._following:
                return
            self._following.add((kind, namespace))
        thread = threading.Thread(
            target=self._watch,
            args=(kind, namespace),
            daemon=True,
            name=f"watch {kind} {namespace or '*'}",
        )
        thread.start()

    def _watch(self, kind: str, namespace: str | None) -> None:
        resource = resources.BY_KIND[kind]
        field_selector = "reason=FailedCreate" if kind == "Event" else None
        version = None
        failures = 0
        while not self._stopped.is_set():
            try:
                if version is None:
                    listing = self.cluster.list_items(
                        resource, namespace, field_selector=field_selector
                    )
                    for obj in listing:
                        self._deliver(kind, "ADDED", obj)
                    version = listing.resource_version
                    self._clear_problem(kind, namespace)
                for event, obj in self.cluster.watch(
                    resource,
                    namespace,
                    field_selector=field_selector,
                    resource_version=version,
                    timeout_seconds=WATCH_SECONDS,
                ):
                    if self._stopped.is_set():
                        return
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if event != "BOOKMARK":
                        self._deliver(kind, event, obj)
                    if failures:
                        failures = 0
                        self._clear_problem(kind, namespace)
            except ApiError as error:
                if error.gone:
                    version = None  # the server forgot our version: list again
                    continue
                if error.forbidden and namespace is None:
                    # May not watch all namespaces: watch each wanted one instead.
                    self._split_by_namespace(kind)
                    return
                if error.denied or error.not_found:
                    self._report(
                        kind,
                        namespace,
                        f"can't watch {resource.qualified}: {error.message}",
                        permanent=True,
                    )
                    return
                failures = self._back_off(kind, namespace, error.message, failures)
            except Unreachable as error:
                failures = self._back_off(kind, namespace, error.format_message(), failures)

    def _split_by_namespace(self, kind: str) -> None:
        with self._changed:
            self._following.discard((kind, None))
            namespaces = sorted(
                {
                    ns
                    for k, covered in self._namespaces.items()
                    if k == kind or (kind == "Event" and k in EVENT_KINDS)
                    for ns in covered
                }
            )
        for namespace in namespaces:
            self._start(kind, namespace)

    def _back_off(self, kind: str, namespace: str | None, message: str, failures: int) -> int:
        self._report(
            kind, namespace, f"the API server is not answering ({message})", permanent=False
        )
        self._sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
        return failures + 1

    def _report(self, kind: str, namespace: str | None, message: str, permanent: bool) -> None:
        with self._changed:
            outage_began = not permanent and not self._outage()
            self._problems[(kind, namespace)] = WatchProblem(message, permanent)
            self._changed.notify_all()
        if outage_began and self.say:
            self.say(f"{message}: still waiting, each rollout within its --timeout")

    def _clear_problem(self, kind: str, namespace: str | None) -> None:
        with self._changed:
            was_out = self._outage()
            self._problems.pop((kind, namespace), None)
            outage_ended = was_out and not self._outage()
        if outage_ended and self.say:
            self.say("the API server answers again")

    def _outage(self) -> bool:
        """Some watch can't reach the API server now (the lock held)."""
        return any(not problem.permanent for problem in self._problems.values())

    def _deliver(self, kind: str, event: str, obj: dict) -> None:
        if kind == "Event":
            self._deliver_event(obj)
            return
        metadata = obj.get("metadata") or {}
        key = (kind, metadata.get("namespace"), metadata.get("name"))
        with self._changed:
            if key not in self._wanted:
                return
            if event == "DELETED":
                self._objects[key] = DELETED
            else:
                current = self._objects.get(key)
                # A watch replaying an older state must not undo what a patch answer told us.
                if (
                    current is None
                    or current is DELETED
                    or _generation(obj) >= _generation(current)
                ):
                    self._objects[key] = rollout_view(obj)
            self._changed.notify_all()

    def _deliver_event(self, event: dict) -> None:
        involved = event.get("involvedObject") or {}
        key = (involved.get("kind"), involved.get("namespace"), involved.get("name"))
        stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            when = None
        with self._changed:
            if key not in self._wanted:
                return
            self._failed_creates[key] = (when, (event.get("message") or "").strip())
            self._changed.notify_all()


def rollout_view(obj: dict) -> dict:
    """What rollout.progress reads of a workload, without its pod template: a run over
    thousands of workloads keeps one small entry each, not each object whole."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return {
        "metadata": {
            key: metadata[key] for key in ("name", "namespace", "generation") if key in metadata
        }
        | _workload_generation(metadata),
        "spec": {key: value for key, value in spec.items() if key != "template"},
        "status": obj.get("status") or {},
    }


def _workload_generation(metadata: dict) -> dict:
    annotations = metadata.get("annotations") or {}
    if WORKLOAD_GENERATION in annotations:
        return {"annotations": {WORKLOAD_GENERATION: annotations[WORKLOAD_GENERATION]}}
    return {}


def _generation(obj: dict) -> int:
    return (obj.get("metadata") or {}).get("generation") or 0
