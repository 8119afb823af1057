"""One switch of a mesh at a time: a coordination.k8s.io/v1 Lease beside the mesh's config, held
for the run, as leader election holds one.

Two operators switching the same mesh at once (`--native`, then `--traditional` a moment later)
undo each other's work and each sees the other's pods as failures. The Lease names who runs,
since when, and is renewed while the run lasts; a run that dies without letting go (kill -9, a
closed laptop) holds the mesh only until its last renewal is LEASE_SECONDS old.

The decisions are pure functions of the Lease's JSON and the time; MeshLease makes the
requests (through cluster.py's interface) and renews in the background.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from kubectl_sidecar.errors import ApiError, SidecarError
from kubectl_sidecar.resources import JSON_MERGE_PATCH, LEASES

LEASE_NAME = "kubectl-sidecar-switch"
# A run renews every RENEW_SECONDS; a holder silent for LEASE_SECONDS has gone.
LEASE_SECONDS = 60
RENEW_SECONDS = 15
# Letting go is a courtesy (the Lease expires anyway): never hold a stopped run's exit for
# long on an API server that stopped answering.
RELEASE_SECONDS = 5
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubectl-sidecar"}
# Where the Lease goes when the mesh's own namespace doesn't exist on that API server (an ASM
# instance without istio-system): every cluster has it, and every run falls back alike.
FALLBACK_NAMESPACE = "default"


class MeshBusy(SidecarError):
    """Another run holds the mesh's Lease."""


def identity() -> str:
    """Who runs: enough for the other operator to find them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


_IDENTITY = re.compile(r"^(?P<who>.+) \(pid (?P<pid>\d+)\)$")


def gone_from_this_host(holder: str | None, me: str) -> bool:
    """The holder ran as this user on this host and its process is gone: a run killed while
    the API server was away (it couldn't let go), or kill -9. Its own user needn't wait out
    the Lease to run again; anyone else still does."""
    theirs, mine = _IDENTITY.match(holder or ""), _IDENTITY.match(me)
    if theirs is None or mine is None or theirs["who"] != mine["who"]:
        return False
    try:
        os.kill(int(theirs["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


def micro_time(moment: float) -> str:
    """Kubernetes' MicroTime: RFC 3339 with microseconds, in UTC."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Holding:
    """Who holds a Lease, as its spec says."""

    holder: str | None
    acquired: float | None
    renewed: float | None
    seconds: int

    @classmethod
    def of(cls, lease: dict) -> Holding:
        spec = lease.get("spec") or {}
        return cls(
            spec.get("holderIdentity") or None,
            parse_time(spec.get("acquireTime")),
            parse_time(spec.get("renewTime")),
            int(spec.get("leaseDurationSeconds") or LEASE_SECONDS),
        )

    def held_by_other(self, me: str, now: float) -> bool:
        """Someone else holds it and renewed it within its duration."""
        if not self.holder or self.holder == me:
            return False
        last = self.renewed or self.acquired
        return last is not None and now - last < self.seconds

    def describe(self, now: float) -> str:
        since = f" since {micro_time(self.acquired)[:19]}Z" if self.acquired else ""
        renewed = f", renewed {now - self.renewed:.0f}s ago" if self.renewed else ""
        return f"{self.holder}{since}{renewed}"


def holder_spec(me: str, now: float, transitions: int) -> dict:
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": LEASE_SECONDS,
        "acquireTime": micro_time(now),
        "renewTime": micro_time(now),
        "leaseTransitions": transitions,
    }


def new_lease(namespace: str, me: str, now: float) -> dict:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": holder_spec(me, now, 0),
    }


class MeshLease:
    """The Lease of one mesh's runs, in `namespace` on the API server that holds the mesh's
    config. acquire() or MeshBusy; then renewed in the background until release()."""

    def __init__(self, cluster, namespace: str, me: str | None = None, clock=time.time):
        self.cluster = cluster
        self.namespace = namespace
        self.me = me or identity()
        self.clock = clock
        self._version = None  # resourceVersion of our last write: what we may overwrite
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost: str | None = None  # why renewing failed, if it did

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{LEASE_NAME}"

    def acquire(self) -> None:
        now = self.clock()
        lease = self.cluster.get(LEASES, LEASE_NAME, self.namespace)
        if lease is None:
            try:
                created = self.cluster.create(
                    LEASES, new_lease(self.namespace, self.me, now), self.namespace
                )
            except ApiError as error:
                if error.not_found and self.namespace != FALLBACK_NAMESPACE:
                    self.namespace = FALLBACK_NAMESPACE  # the namespace itself isn't there
                    return self.acquire()
                if not error.conflict:
                    raise
                return self._busy(self.cluster.get(LEASES, LEASE_NAME, self.namespace), now)
            self._version = (created.get("metadata") or {}).get("resourceVersion")
            return None
        holding = Holding.of(lease)
        if holding.held_by_other(self.me, now) and not gone_from_this_host(holding.holder, self.me):
            return self._busy(lease, now)
        transitions = int((lease.get("spec") or {}).get("leaseTransitions") or 0)
        self._write(lease, holder_spec(self.me, now, transitions + 1), now)
        return None

    def start_renewing(self) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Let go, if it is still ours: the next run needn't wait for it to expire."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=RELEASE_SECONDS)
        if self._version is None:
            return
        body = {
            "metadata": {"resourceVersion": self._version},
            "spec": {"holderIdentity": None, "renewTime": micro_time(self.clock())},
        }
        try:
            self.cluster.patch(
                LEASES, LEASE_NAME, body, JSON_MERGE_PATCH, self.namespace, timeout=RELEASE_SECONDS
            )
        except SidecarError:
            pass  # it expires by itself; nothing the user must do about it
        self._version = None

    def _busy(self, lease: dict | None, now: float) -> None:
        """Raises MeshBusy: who holds the Lease, and until when."""
        holding = Holding.of(lease or {})
        raise MeshBusy(
            f"another run is switching this mesh: {holding.describe(now)} holds {self.where} "
            f"on context {self.cluster.context}; nothing was changed: wait for it to finish (a "
            f"run that died lets go {LEASE_SECONDS}s after its last renewal)"
        )

    def _write(self, lease: dict, spec: dict, now: float) -> None:
        body = {
            "metadata": {"resourceVersion": (lease.get("metadata") or {}).get("resourceVersion")},
            "spec": spec,
        }
        try:
            written = self.cluster.patch(LEASES, LEASE_NAME, body, JSON_MERGE_PATCH, self.namespace)
        except ApiError as error:
            if not error.conflict:
                raise
            # Someone wrote it since we read it: another run took it first.
            return self._busy(self.cluster.get(LEASES, LEASE_NAME, self.namespace), now)
        self._version = (written.get("metadata") or {}).get("resourceVersion")
        return None

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            body = {
                "metadata": {"resourceVersion": self._version},
                "spec": {"renewTime": micro_time(self.clock())},
            }
            try:
                written = self.cluster.patch(
                    LEASES,
                    LEASE_NAME,
                    body,
                    JSON_MERGE_PATCH,
                    self.namespace,
                    timeout=RENEW_SECONDS,
                )
            except SidecarError as error:
                # A missed renewal is retried; the Lease lasts four of them.
                self.lost = error.format_message()
                continue
            self._version = (written.get("metadata") or {}).get("resourceVersion")
            self.lost = None
