"""The one loop that changes the cluster: send each write, wait for its rollout, record.

Every change is announced as it happens, so an interrupted or failed run always shows what was
and wasn't done; the Outcome records the same for the final report. Rollouts are followed
through a few watches (tracking.Tracker), and each one's wait is bounded by --timeout on its
own, as `kubectl rollout status --timeout` bounds one resource's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from threading import Event, Lock
from typing import TYPE_CHECKING, Union

from kubectl_sidecar import resources
from kubectl_sidecar.errors import ApiError, SidecarError, Terminated, Unreachable
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.signals import signals_held
from kubectl_sidecar.tracking import Tracker, Waited

if TYPE_CHECKING:
    from concurrent.futures import Future

    from kubectl_sidecar.cluster import ClusterApi
    from kubectl_sidecar.meshes.base import ConfigChange
    from kubectl_sidecar.patches import Patch
    from kubectl_sidecar.plan import Override, Restart
    from kubectl_sidecar.progress import Board

    Item = Union[Restart, Override]  # a workload write: a restart, or a pod-template annotation

RETRY_DELAYS = (0.5, 1, 2, 4, 8, 8)
DEFAULT_RETRY_SECONDS = 60.0
CONFLICT_RETRIES = 5  # re-reads after a 409 whose object changed only outside its spec  # how long a write is retried when no --timeout bounds it


@dataclass
class Outcome:
    """What a run did: the report that decides the exit code."""

    config_done: list[str] = field(default_factory=list)
    started: list[WorkloadRef] = field(default_factory=list)  # whose write was sent
    # Rolled out (or accepted, in a server dry run).
    succeeded: list[WorkloadRef] = field(default_factory=list)
    # (workload, why); a failed config write is ("mesh config", why).
    failed: list[tuple[WorkloadRef | str, str]] = field(default_factory=list)
    refused: list[WorkloadRef] = field(default_factory=list)  # writes refused for good
    refused_by: dict[WorkloadRef, str] = field(default_factory=dict)  # why: ApiError.refusal
    not_started: list[WorkloadRef] = field(default_factory=list)
    # (workload, why it was failing before): restarted, rollout not followed.
    not_waited: list[tuple[WorkloadRef, str | None]] = field(default_factory=list)
    pinned: list[WorkloadRef] = field(default_factory=list)  # pinned back to the old mode
    interrupted: bool = False
    terminated: bool = False

    def refuse(self, ref: WorkloadRef, error: SidecarError) -> None:
        """Count ref's failed write as refused for good, if the server's answer says so."""
        refusal = error.refusal if isinstance(error, ApiError) else None
        if refusal:
            self.refused.append(ref)
            self.refused_by[ref] = refusal


def now_rfc3339() -> str:
    """Local time with offset, as kubectl writes restartedAt."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


class Executor:
    def __init__(
        self,
        cluster: ClusterApi,
        mesh_cluster: ClusterApi | None = None,
        say: Callable[[str], None] = print,
        dry_run: str | None = None,
        concurrency: int = 2,
        timeout: float | None = 600.0,
        keep_going: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        tracker: Tracker | None = None,
        progress: Board | None = None,
        stop_starting: Event | None = None,
    ):
        self.cluster = cluster
        self.mesh_cluster = mesh_cluster or cluster
        self.say = say
        self.server_dry_run = dry_run == "server"
        self.concurrency = max(1, concurrency)
        self.timeout = timeout  # seconds for each rollout; None = no limit
        self.keep_going = keep_going or self.server_dry_run  # a dry run lists every refusal
        self.clock = clock
        self.sleep = sleep
        self.tracker = tracker or Tracker(cluster, clock=clock, say=lambda text: self.say(text))
        self.progress = progress  # progress.Board or None
        self.outcome = Outcome()
        # Shared by the Executors of a fleet: a failed rollout in one context stops new
        # restarts in every context, as it does in one.
        self._stop_starting = stop_starting or Event()
        self._give_up = Event()
        self._lock = Lock()
        self._total = 0

    @property
    def _suffix(self) -> str:
        return " (server dry run)" if self.server_dry_run else ""

    def _deadline(self) -> float | None:
        return None if self.timeout is None else self.clock() + self.timeout

    def _timeout_text(self) -> str:
        return "" if self.timeout is None else f" after {self.timeout:g}s"

    # --- the mesh config ---------------------------------------------------------------

    def apply_config(self, change: ConfigChange) -> None:
        """Write one ConfigChange; where the mesh's control plane must roll out first
        (istiod), wait for it before going on."""
        cluster = self.mesh_cluster if change.on_mesh_instance else self.cluster
        # Followed only when it rolls out, which only a namespaced Deployment does.
        key = WorkloadRef("Deployment", *change.rolls_out_as())
        follow = change.rolls_out and not self.server_dry_run
        if follow:
            self.tracker.follow([key])  # before the patch, as for a workload's restart
        try:
            answer = self._send_config(cluster, change)
            self.say(change.describe_done() + self._suffix)
            self.outcome.config_done.append(change.describe())
            if follow and change.writes_owner:
                answer = self._wait_rendered(cluster, change, key)
            if follow:
                self._wait_for_config(change, key, answer)
        finally:
            self.tracker.forget(key)

    def _send_config(self, cluster: ClusterApi, change: ConfigChange) -> dict | None:
        """PATCH a config change at the resourceVersion it was decided on. A 409 from what
        a busy cluster changes all the time (a control plane's status mid-rollout) is not
        someone else's decision: read again and send at the new version while the spec is
        still as read."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return self._send(cluster, change.patch(), self._deadline())
            except ApiError as error:
                if not (error.conflict and change.resource_version):
                    raise
                written = change.patch()
                current = cluster.get(written.resource, written.name, written.namespace)
                retried = change.at_version_of(current)
                if retried is None:
                    raise
                change = retried
        return self._send(cluster, change.patch(), self._deadline())

    def _wait_rendered(
        self, cluster: ClusterApi, change: ConfigChange, key: WorkloadRef, undone: bool = False
    ) -> dict:
        """The Deployment once its operator has rendered our change (undone: its undo) into
        it: until then it is rolled out, but in the old mode, and restarts would inject that."""
        deadline = self._deadline()
        while True:
            deployment = cluster.get(resources.DEPLOYMENTS, key.name, key.namespace)
            if deployment is not None and change.rendered(deployment) != undone:
                self.tracker.note(key, deployment)
                return deployment
            if self._give_up.is_set():
                raise KeyboardInterrupt
            if deadline is not None and self.clock() > deadline:
                raise SidecarError(
                    f"{change.kind} {change.name} was patched, but its operator did not render "
                    f"it into Deployment {key.namespace}/{key.name}{self._timeout_text()}"
                )
            self.sleep(1.0)

    def put_back(self, change: ConfigChange) -> None:
        """Undo one ConfigChange this run made (ConfigChange.undo), at the resourceVersion
        read just before; where the control plane reads it at start, wait for its rollout."""
        cluster = self.mesh_cluster if change.on_mesh_instance else self.cluster
        written = change.patch()
        patch = change.undo(cluster.get(written.resource, written.name, written.namespace))
        key = WorkloadRef("Deployment", *change.rolls_out_as())
        follow = change.rolls_out and not self.server_dry_run
        if follow:
            self.tracker.follow([key])
        try:
            answer = self._send(cluster, patch, self._deadline())
            self.say(f"{patch.ref} put back ({change.new} -> {change.old}){self._suffix}")
            if follow and change.writes_owner:
                answer = self._wait_rendered(cluster, change, key, undone=True)
            if follow:
                self._wait_for_config(change, key, answer)
        finally:
            self.tracker.forget(key)

    def _wait_for_config(self, change: ConfigChange, key: WorkloadRef, answer: dict | None) -> None:
        if key[0] == change.kind:
            self.tracker.note(key, answer)
        why = self.tracker.wait(
            key,
            deadline=self._deadline(),
            give_up=self._give_up,
            timeout_text=self._timeout_text(),
        )
        if why == Waited.GAVE_UP:
            raise KeyboardInterrupt
        if why != Waited.DONE:
            raise SidecarError(f"Deployment {key.namespace}/{key.name} did not roll out: {why}")
        self.say(f"deployment.apps/{key.name} -n {key.namespace} rolled out")

    def _send(self, cluster: ClusterApi, patch: Patch, deadline: float | None) -> dict | None:
        """PATCH, retrying transient failures with backoff until the deadline; the answer."""
        give_up_at = deadline if deadline is not None else self.clock() + DEFAULT_RETRY_SECONDS
        for delay in (*RETRY_DELAYS, None):
            try:
                return cluster.patch(
                    patch.resource,
                    patch.name,
                    patch.body,
                    patch.content_type,
                    namespace=patch.namespace,
                    dry_run=self.server_dry_run,
                    timeout=max(1.0, give_up_at - self.clock()),
                )
            except (ApiError, Unreachable) as error:
                transient = not isinstance(error, ApiError) or error.transient
                if not transient or delay is None or self.clock() + delay > give_up_at:
                    raise
                self.say(f"  {patch.ref}: {error.format_message()}; retrying in {delay:g}s")
                self.sleep(delay)
        raise AssertionError("unreachable")

    # --- workloads ---------------------------------------------------------------------

    def run(
        self, items: Sequence[Item], waited: Callable[[Item], bool] = lambda item: True
    ) -> Outcome:
        """Send each Restart or Override and wait for its rollout, `concurrency` at a time.

        After a failure no new workload is started (unless keep_going); those already started
        are still waited for, so nothing is left mid-rollout unreported. waited(item) False:
        restart it but don't follow its rollout (a workload that was failing before we came).
        The first Ctrl-C starts nothing new and waits for what is running; the second stops
        waiting; SIGTERM stops at once.
        """
        if not self.server_dry_run:
            self.tracker.watch_over([i.ref for i in items if waited(i)])
        pending = deque(items)
        running: dict[Future, Item] = {}
        self._total = len(items)
        if self.progress:
            self.progress.start(len(items))
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                self._drive(pool, waited, pending, running)
            except BaseException:
                # Whatever escapes (a second Ctrl-C mid-report), no worker may go on waiting:
                # leaving the pool joins them, and a wait without --timeout never ends.
                self._stop_starting.set()
                self._give_up.set()
                raise
        if self.outcome.terminated:
            raise Terminated
        return self.outcome

    def _drive(
        self,
        pool: ThreadPoolExecutor,
        waited: Callable[[Item], bool],
        pending: deque[Item],
        running: dict[Future, Item],
    ) -> None:
        """Keep `concurrency` workloads going until none is left or running."""
        while pending or running:
            try:
                while pending and len(running) < self.concurrency:
                    if self._stop_starting.is_set():
                        self._record_not_started(pending)
                        break
                    with signals_held():  # started means recorded as running
                        item = pending.popleft()
                        running[pool.submit(self._one, item, waited(item))] = item
                if not running:
                    break
                done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                    del running[future]  # after: interrupted between, it is seen done again
                self._show_progress(len(running), len(pending))
            except KeyboardInterrupt as interrupt:
                self._interrupted(interrupt, len(running), pending)

    def _interrupted(
        self, interrupt: KeyboardInterrupt, running: int, pending: deque[Item]
    ) -> None:
        self._stop_starting.set()
        self._record_not_started(pending)
        if isinstance(interrupt, Terminated) or self.outcome.interrupted:
            self.outcome.terminated |= isinstance(interrupt, Terminated)
            self.outcome.interrupted = True
            self._give_up.set()
            return
        self.outcome.interrupted = True
        if running:
            self.say(
                f"Interrupted: waiting for {running} rollout(s) in progress; starting no "
                "more. Ctrl-C again to stop waiting."
            )
        else:
            self._give_up.set()

    def stop(self, give_up: bool = False, terminated: bool = False) -> None:
        """Start no new restart, and with give_up stop waiting too: Ctrl-C and SIGTERM for a
        run in another thread (a fleet runs one Executor per context), which signals never
        reach."""
        self.outcome.interrupted = True
        self.outcome.terminated |= terminated
        self._stop_starting.set()
        if give_up or terminated:
            self._give_up.set()

    def _record_not_started(self, pending: deque[Item]) -> None:
        with self._lock:
            self.outcome.not_started += [item.ref for item in pending]
        pending.clear()

    def _show_progress(self, running: int, pending: int) -> None:
        if self.progress:
            with self._lock:
                self.progress.update(
                    done=len(self.outcome.succeeded) + len(self.outcome.not_waited),
                    running=running,
                    failed=len(self.outcome.failed),
                    left=pending,
                )

    def _one(self, item: Item, follow: bool) -> None:
        key = item.ref
        if follow and not self.server_dry_run:
            # Before the patch: the watch may report the rollout before the patch's answer.
            self.tracker.follow([key])
        try:
            self._restart(item, key, follow)
        finally:
            self.tracker.forget(key)

    def _restart(self, item: Item, ref: WorkloadRef, follow: bool) -> None:
        since = datetime.now().astimezone()
        deadline = self._deadline()
        in_flight = getattr(item, "in_flight", False) and not self.server_dry_run
        answer = None
        try:
            if in_flight:
                # No patch answer to start from, and the watch may have nothing new to say of
                # a rollout under way: start from the object as it is now.
                answer = self.cluster.get(resources.BY_KIND[item.kind], item.name, item.namespace)
            else:
                answer = self._send(self.cluster, item.patch(now_rfc3339()), deadline)
        except SidecarError as error:
            with self._lock:
                self.outcome.refuse(ref, error)
            self._fail(ref, error.format_message())
            return
        with self._lock:
            self.outcome.started.append(ref)
        if in_flight:
            self.say(f"{ref.kubectl}: its rollout in progress is waited for, not restarted again")
        else:
            self.say(f"{ref.kubectl} {item.verb}{self._suffix}")
        if self.server_dry_run:
            with self._lock:
                self.outcome.succeeded.append(ref)
            return
        if not follow:
            with self._lock:
                self.outcome.not_waited.append((ref, item.unhealthy))
            return
        self.tracker.note(ref, answer)
        why = self.tracker.wait(
            ref,
            since=since,
            deadline=deadline,
            give_up=self._give_up,
            on_progress=lambda message: self.say(f"  {message}"),
            timeout_text=self._timeout_text(),
        )
        if why == Waited.GAVE_UP:
            return  # started, rollout not confirmed: the report says so
        if why != Waited.DONE:
            self._fail(ref, why)
            return
        with self._lock:
            self.outcome.succeeded.append(ref)
            done = len(self.outcome.succeeded) + len(self.outcome.failed)
        self.say(f"{ref.kubectl} rolled out ({done} of {self._total} workloads done)")

    def _fail(self, ref: WorkloadRef, why: str) -> None:
        if not self.keep_going:
            self._stop_starting.set()
        with self._lock:
            self.outcome.failed.append((ref, why))
        self.say(f"FAILED {ref}: {why}")

    # --- after the run -----------------------------------------------------------------

    def pin(self, overrides: Sequence[Override]) -> None:
        """Pin failed workloads back to the old mode with the mesh's override annotation, and
        wait for that rollout: the fix the vendor documents for a webhook that breaks one."""
        for override in overrides:
            ref = key = override.ref
            self.tracker.follow([key])  # before the patch, as for a restart
            try:
                answer = self._send(self.cluster, override.patch(), self._deadline())
                self.say(f"{ref.kubectl} pinned ({override.annotation}={override.value})")
                self.tracker.note(key, answer)
                why = self.tracker.wait(
                    key,
                    deadline=self._deadline(),
                    give_up=self._give_up,
                    timeout_text=self._timeout_text(),
                )
            finally:
                self.tracker.forget(key)
            self.outcome.pinned.append(ref)
            if why != Waited.DONE:
                self.say(f"  {ref}: the rollout back to the old mode is not confirmed: {why}")

    def close(self) -> None:
        """Stop following rollouts; any wait still going ends."""
        self._stop_starting.set()
        self._give_up.set()
        self.tracker.stop()
