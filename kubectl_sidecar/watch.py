"""`status -w`: after the table, follow the pods in scope and yield a row whenever a pod appears
or changes mode, desired mode or action, the way `kubectl get -w` prints rows.

One watch on pods (Cluster.watch) from the table's list version. The server ends a watch every
few minutes: it is resumed from the last version seen. A dropped connection or an API server
restart is retried with backoff, for as long as the user keeps watching. A version the server
no longer has (410 Gone) means events were missed: the pods are listed again and only those
that changed since are yielded, then the watch resumes from the new list.
"""

from __future__ import annotations

import time

from kubectl_sidecar import resources
from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.cluster import PAGE_SIZE
from kubectl_sidecar.errors import ApiError, Unreachable
from kubectl_sidecar.render import action_text
from kubectl_sidecar.status import list_pod_rows

BACKOFF = (0.5, 1, 2, 4, 8)  # seconds between attempts after a failure; the last repeats
WATCH_SECONDS = 300  # how long we ask the server to keep one watch open


def state(row):
    """What a row must change in to be printed again."""
    return (row.mode, row.desired, action_text(row.remedy))


class PodWatch:
    """Rows to print, from the assessor's pods after `known` (key -> state of each row already
    printed, from the table) and its pod list's version."""

    def __init__(
        self,
        assessor,
        proxy_names,
        known,
        warn=lambda text: None,
        sleep=time.sleep,
        only_needing_action=False,
    ):
        self.assessor = assessor
        self.proxy_names = proxy_names
        self.known = known  # (namespace, name) -> state
        self.version = assessor.pods_version
        self.warn = warn
        self.sleep = sleep
        self.only_needing_action = only_needing_action
        self._failures = 0

    def rows(self):
        """Yield rows until the caller stops (Ctrl-C); never returns by itself."""
        while True:
            try:
                if self.version is None:
                    yield from self._relist()
                yield from self._follow()
            except ApiError as error:
                if not error.gone:
                    raise
                self.version = None  # missed events: list again, then watch from there
            except Unreachable as error:
                self._failed(error)

    def _follow(self):
        scope = self.assessor.scope
        events = self.assessor.cluster.watch(
            resources.PODS,
            scope.namespace,
            scope.selector,
            resource_version=self.version,
            timeout_seconds=WATCH_SECONDS,
        )
        for kind, pod in events:
            self._recovered()
            self.version = (pod.get("metadata") or {}).get("resourceVersion") or self.version
            if kind == "BOOKMARK":
                continue
            key = _key(pod)
            if kind == "DELETED":
                self.known.pop(key, None)
                continue
            row = classify_pod(pod, self.proxy_names)
            self.assessor.read_new_parents([row])
            self.assessor.assess([row])
            if self._changed(key, row):
                yield row
        # The server closed the watch (its timeout): the loop above resumes it.

    def _relist(self):
        """After missed events: the pods as they are now; those that changed are yielded."""
        seen = set()
        for batch in _batches(
            list_pod_rows(
                self.assessor.cluster, self.assessor.scope, self.proxy_names, self.assessor
            )
        ):
            self.assessor.read_new_parents(batch)
            for row in self.assessor.assess(batch):
                key = (row.namespace, row.name)
                seen.add(key)
                if self._changed(key, row):
                    yield row
        for key in set(self.known) - seen:
            del self.known[key]
        self.version = self.assessor.pods_version

    def _changed(self, key, row):
        before = self.known.get(key)
        now = state(row) + (row.needs_restart,)
        if before == now:
            return False
        self.known[key] = now
        if not self.only_needing_action:
            return True
        # --needs-restart: the pods that need action, and those that just stopped needing it.
        return row.needs_restart or (before is not None and before[-1])

    def _failed(self, error):
        if self._failures == 0:
            self.warn(f"the watch was cut off ({error.message}); resuming")
        self.sleep(BACKOFF[min(self._failures, len(BACKOFF) - 1)])
        self._failures += 1

    def _recovered(self):
        if self._failures:
            self._failures = 0
            self.warn("watching again")


def _key(pod):
    metadata = pod.get("metadata") or {}
    return (metadata.get("namespace") or "", metadata.get("name"))


def _batches(rows, size=PAGE_SIZE):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def known_state(rows):
    """The `known` entries for rows already printed."""
    return {(row.namespace, row.name): state(row) + (row.needs_restart,) for row in rows}
