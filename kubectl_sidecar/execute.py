"""The one loop that changes the cluster: config writes, restarts a few at a time, waiting.

Every change is announced on stderr as it happens, so an interrupted or failed run always
shows what was and wasn't done; the Outcome records the same for the final report.
"""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from kubectl_sidecar import resources
from kubectl_sidecar.errors import ApiError, SidecarError
from kubectl_sidecar.rollout import progress

POLL_SECONDS = 1.0


@dataclass
class Outcome:
    """What a run did: the report that decides the exit code."""

    config_done: list = field(default_factory=list)
    started: list = field(default_factory=list)  # refs whose restart patch was sent
    succeeded: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # (ref, why)
    not_started: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.failed and not self.not_started


def now_rfc3339():
    """Local time with offset, as kubectl writes restartedAt."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


class Executor:
    def __init__(self, cluster, mesh_cluster=None, say=print, dry_run=None, concurrency=2,
                 timeout=600.0, clock=time.monotonic, sleep=time.sleep):
        self.cluster = cluster
        self.mesh_cluster = mesh_cluster or cluster
        self.say = say
        self.server_dry_run = dry_run == "server"
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.sleep = sleep
        self.deadline = None
        self.timeout = timeout
        self.outcome = Outcome()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def _suffix(self):
        return " (server dry run)" if self.server_dry_run else ""

    def start_clock(self):
        if self.deadline is None and self.timeout is not None:
            self.deadline = self.clock() + self.timeout

    def _past_deadline(self):
        return self.deadline is not None and self.clock() > self.deadline

    # --- the mesh config ---------------------------------------------------------------

    def apply_config(self, change):
        """Write one ConfigChange; for istiod, wait for it to roll out before going on."""
        cluster = self.mesh_cluster if change.on_mesh_instance else self.cluster
        self._send(cluster, change.patch())
        self.say(change.describe_done() + self._suffix)
        self.outcome.config_done.append(change.describe())
        if change.rolls_out and not self.server_dry_run:
            self.start_clock()
            why = self._wait("Deployment", change.namespace, change.name)
            if why:
                raise SidecarError(f"istiod {change.namespace}/{change.name} did not roll out: {why}")
            self.say(f"deployment.apps/{change.name} -n {change.namespace} rolled out")

    def _send(self, cluster, patch):
        cluster.patch(patch.resource, patch.name, patch.body, patch.content_type,
                      namespace=patch.namespace, dry_run=self.server_dry_run)

    # --- workloads ---------------------------------------------------------------------

    def run(self, items):
        """Patch and wait for each Restart or Override, `concurrency` at a time.

        After the first failure no new workload is started; those already started are
        still waited for, so nothing is left mid-rollout unreported.
        """
        self.start_clock()
        total = len(items)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(lambda item: self._one(item, total), items))
        return self.outcome

    def _one(self, item, total):
        ref = f"{item.kind}/{item.name} -n {item.namespace}"
        if self._stop.is_set() or self._past_deadline():
            with self._lock:
                self.outcome.not_started.append(ref)
            return
        started_at = datetime.now().astimezone()
        try:
            self._send(self.cluster, item.patch(now_rfc3339()))
        except SidecarError as error:
            self._fail(ref, error.format_message())
            return
        with self._lock:
            self.outcome.started.append(ref)
        self.say(f"{item.kind.lower()}/{item.name} -n {item.namespace} {item.verb}{self._suffix}")
        if self.server_dry_run:
            with self._lock:
                self.outcome.succeeded.append(ref)
            return
        why = self._wait(item.kind, item.namespace, item.name, started_at)
        if why:
            self._fail(ref, why)
            return
        with self._lock:
            self.outcome.succeeded.append(ref)
            done = len(self.outcome.succeeded) + len(self.outcome.failed)
        self.say(f"{item.kind.lower()}/{item.name} -n {item.namespace} rolled out "
                 f"({done} of {total} workloads done)")

    def _fail(self, ref, why):
        self._stop.set()
        with self._lock:
            self.outcome.failed.append((ref, why))
        self.say(f"FAILED {ref}: {why}")

    def _wait(self, kind, namespace, name, started_at=None):
        """None once the rollout is done; otherwise why it failed or timed out."""
        resource = resources.BY_KIND[kind]
        last = None
        while True:
            obj = self.cluster.get(resource, name, namespace)
            if obj is None:
                return f"{kind}/{name} was deleted while waiting"
            state = progress(kind, obj)
            if state.failed:
                return state.failed
            if state.done:
                return None
            if kind in ("StatefulSet", "DaemonSet"):
                refused = self._failed_create(kind, namespace, name, started_at)
                if refused:
                    return refused
            if state.message != last:
                self.say(f"  {state.message}")
                last = state.message
            if self._past_deadline():
                return f"timed out after {self.timeout:g}s: {state.message}"
            self.sleep(POLL_SECONDS)

    def _failed_create(self, kind, namespace, name, since):
        """The newest FailedCreate event of a StatefulSet/DaemonSet since the restart, if any."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name},reason=FailedCreate"
        try:
            events = self.cluster.list_all(resources.EVENTS, namespace, field_selector=selector)
        except ApiError:
            return None
        for event in events:
            stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                continue
            if since is None or when >= since.replace(microsecond=0):
                return f"can't create pods (FailedCreate): {event.get('message', '').strip()}"
        return None
