"""Whether the caller may make every write a plan contains, asked before the first one.

A user who may patch the mesh config but not the Deployments of one namespace would otherwise
flip the mesh and then be refused the restarts, leaving it half-migrated until someone with the
rights finishes. So the plan's writes become the distinct (verb, resource, namespace) questions
`kubectl auth can-i` asks, one SelfSubjectAccessReview each (not one per workload).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubectl_sidecar import resources
from kubectl_sidecar.errors import ApiError

if TYPE_CHECKING:
    from kubectl_sidecar.cluster import ClusterApi
    from kubectl_sidecar.patches import Patch
    from kubectl_sidecar.plan import Plan

CONCURRENT_REVIEWS = 8


@dataclass(frozen=True, order=True)
class Permission:
    """One question: may I `verb` `resource` (group/plural) in `namespace`, on which API server."""

    on_mesh_instance: bool  # ASM's config lives on the ASM instance's API server
    verb: str
    group: str
    plural: str
    namespace: str | None

    def describe(self, context: str) -> str:
        what = f"{self.plural}.{self.group}" if self.group else self.plural
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.verb} {what}{where} (context {context})"


def needed(plan: Plan, timestamp: str = "now") -> list[Permission]:
    """The distinct permissions the plan's writes need, in a stable order."""
    wanted = set()
    for change in plan.config_changes:
        wanted.add(_permission(change.patch(), change.on_mesh_instance))
    for item in plan.pins + plan.overrides + plan.restarts:
        wanted.add(_permission(item.patch(timestamp), False))
    return sorted(wanted)


def canary_permissions(plan: Plan) -> list[Permission]:
    """What the canary (canary.py) takes: creating pods (dry run) where the plan writes a
    workload. Refused, the canary is skipped there; the plan itself doesn't need it."""
    namespaces = {item.namespace for item in plan.overrides + plan.restarts}
    return [Permission(False, "create", "", "pods", namespace) for namespace in sorted(namespaces)]


def lease_permissions(namespace: str, on_mesh_instance: bool) -> list[Permission]:
    """What holding a run's Lease takes (lease.py): making it the first time, then taking it
    over and renewing it."""
    group, plural = resources.LEASES.group, resources.LEASES.plural
    return [
        Permission(on_mesh_instance, verb, group, plural, namespace) for verb in ("create", "patch")
    ]


def _permission(patch: Patch, on_mesh_instance: bool) -> Permission:
    resource = patch.resource
    return Permission(
        on_mesh_instance,
        "patch",
        resource.group,
        resource.plural,
        patch.namespace if resource.namespaced else None,
    )


def review_body(permission: Permission) -> dict:
    attributes = {"verb": permission.verb, "group": permission.group, "resource": permission.plural}
    if permission.namespace:
        attributes["namespace"] = permission.namespace
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


@dataclass
class Findings:
    refused: list[tuple[Permission, str | None]]  # (Permission, reason)
    unchecked: list[
        tuple[Permission, str | None]
    ]  # (Permission, why the question couldn't be asked)

    def lines(self, context: str, mesh_context: str) -> list[str]:
        out = [
            f"may not {p.describe(mesh_context if p.on_mesh_instance else context)}"
            + (f": {reason}" if reason else "")
            for p, reason in self.refused
        ]
        out += [
            f"could not check {p.describe(mesh_context if p.on_mesh_instance else context)}: {why}"
            for p, why in self.unchecked
        ]
        return out


def check(
    permissions: Iterable[Permission], cluster: ClusterApi, mesh_cluster: ClusterApi | None = None
) -> Findings:
    """Ask the API server(s) each question; what was refused, and what couldn't be asked."""
    mesh_cluster = mesh_cluster or cluster

    def ask(permission: Permission) -> tuple[Permission, bool | None, str | None]:
        target = mesh_cluster if permission.on_mesh_instance else cluster
        try:
            answer = target.create(resources.SELF_SUBJECT_ACCESS_REVIEWS, review_body(permission))
        except ApiError as error:
            return permission, None, error.message
        status = answer.get("status") or {}
        if status.get("allowed"):
            return permission, True, None
        return permission, False, status.get("reason") or status.get("evaluationError") or ""

    findings = Findings(refused=[], unchecked=[])
    with ThreadPoolExecutor(max_workers=CONCURRENT_REVIEWS) as pool:
        for permission, allowed, detail in pool.map(ask, permissions):
            if allowed is None:
                findings.unchecked.append((permission, detail))
            elif not allowed:
                findings.refused.append((permission, detail))
    return findings
