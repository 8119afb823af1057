"""Owner resolution and what a workload's controller will do on a restart: pure functions."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from kubectl_sidecar.classify import OVERRIDE_ANNOTATIONS
from kubectl_sidecar.patches import RESTARTED_AT
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.rollout import progress, unhealthy

# Kinds whose pod template `kubectl rollout restart` can bump.
ROLLOUT_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
# Kinds a restart re-injects: those, and Argo Rollouts (through spec.restartAt).
RESTARTABLE = ROLLOUT_KINDS + ("Rollout",)
# Every mesh's per-workload mode annotations: the ones kept of a pod template.
_MODE_KEYS = tuple(key for keys in OVERRIDE_ANNOTATIONS.values() for key in keys)


class WorkloadFacts(NamedTuple):
    """What matters about a workload object for restarting it."""

    kind: str
    namespace: str
    name: str
    paused: bool = False
    on_delete: bool = False  # updateStrategy OnDelete: a template change moves no pod
    unhealthy: str | None = None  # why it was failing before we touched it (rollout.unhealthy)
    template_modes: tuple = ()  # ((key, value), ...) of mesh mode annotations on its pod template
    # A restart of it (restartedAt on its template) is rolling out, healthy: a run stopped
    # midway left it so. Its new pods get the mode the mesh injects now: plan.py waits for
    # it rather than restart it again, where the mesh's config already says the target.
    in_flight: bool = False

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef(self.kind, self.namespace, self.name)


def facts_index(objects: Iterable[dict], kind: str) -> dict[tuple[str, str], WorkloadFacts]:
    """{(namespace, name): WorkloadFacts} from the raw objects of one workload kind."""
    index = {}
    for obj in objects:
        metadata: Any = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        template = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
        failing = unhealthy(kind, obj)
        state = progress(kind, obj)
        index[(metadata.get("namespace"), metadata.get("name"))] = WorkloadFacts(
            kind=kind,
            namespace=metadata.get("namespace"),
            name=metadata.get("name"),
            paused=bool(spec.get("paused")),
            on_delete=strategy.get("type") == "OnDelete",
            unhealthy=failing,
            # An Argo Rollout's restart is its spec.restartAt, not a template annotation.
            in_flight=(
                RESTARTED_AT in template or bool(kind == "Rollout" and spec.get("restartAt"))
            )
            and not (state.done or state.failed or failing or spec.get("paused")),
            template_modes=tuple((key, template[key]) for key in _MODE_KEYS if key in template),
        )
    return index


def template_reference(obj: dict) -> tuple[str, str] | None:
    """(kind, name) of the object whose pod template this workload runs, when it isn't its own:
    an Argo Rollout with spec.workloadRef (a Deployment, say) and no spec.template."""
    spec = obj.get("spec") or {}
    ref = spec.get("workloadRef") or {}
    if spec.get("template") or not ref.get("kind") or not ref.get("name"):
        return None
    return ref["kind"], ref["name"]


def controllers(objects: Iterable[dict], kind: str) -> dict[WorkloadRef, WorkloadRef]:
    """{object: its controller} for the objects of one kind (raw, possibly metadata-only) that
    have a controller.

    Clusters keep old ReplicaSets around (ten per Deployment by default), so this index can
    be far longer than the pod list: entries hold interned strings and nothing else.
    """
    intern = sys.intern
    kind = intern(kind)
    index = {}
    for obj in objects:
        metadata: Any = obj.get("metadata") or {}
        for ref in metadata.get("ownerReferences") or ():
            if ref.get("controller"):
                namespace = intern(metadata.get("namespace") or "")
                key = WorkloadRef(kind, namespace, metadata.get("name"))
                index[key] = WorkloadRef(intern(ref.get("kind") or ""), namespace, ref.get("name"))
                break
    return index


def resolve_workload(
    owner: WorkloadRef | None, parents: Mapping[WorkloadRef, WorkloadRef]
) -> WorkloadRef | None:
    """The workload a pod belongs to: through its ReplicaSet to a Deployment or Argo Rollout,
    through its Job to a CronJob; other owners as they are; None for a bare pod.

    parents is the controllers() index of the intermediate owners we read.
    """
    if owner is None:
        return None
    if owner.kind in ("ReplicaSet", "Job"):
        return parents.get(owner, owner)
    return owner
