"""Owner resolution and what a workload's controller will do on a restart: pure functions."""
from dataclasses import dataclass

# Kinds whose pod template `kubectl rollout restart` can bump.
ROLLOUT_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    """What matters about a workload object for restarting it."""

    kind: str
    namespace: str
    name: str
    paused: bool = False
    on_delete: bool = False  # updateStrategy OnDelete: a template change moves no pod
    owner: tuple = None  # the workload's own controller (ReplicaSet -> Deployment, Job -> CronJob)


def owner_index(objects, kind):
    """{(namespace, name): WorkloadFacts} from raw (possibly metadata-only) objects of one kind."""
    index = {}
    for obj in objects:
        metadata = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        owner = None
        for ref in metadata.get("ownerReferences") or ():
            if ref.get("controller"):
                owner = (ref.get("kind"), ref.get("name"))
                break
        index[(metadata.get("namespace"), metadata.get("name"))] = WorkloadFacts(
            kind=kind,
            namespace=metadata.get("namespace"),
            name=metadata.get("name"),
            paused=bool(spec.get("paused")),
            on_delete=strategy.get("type") == "OnDelete",
            owner=owner,
        )
    return index


def resolve_workload(namespace, owner, parents):
    """The workload a pod belongs to: through its ReplicaSet to a Deployment or Argo Rollout,
    through its Job to a CronJob; other owners as they are; None for a bare pod.

    parents is {(kind, namespace, name): WorkloadFacts} for the intermediate owners we read.
    """
    if owner is None:
        return None
    facts = parents.get((owner[0], namespace, owner[1]))
    if facts is not None and facts.owner is not None and owner[0] in ("ReplicaSet", "Job"):
        return facts.owner
    return owner
