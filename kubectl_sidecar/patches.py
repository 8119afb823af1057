"""Every write this tool makes, as data: pure functions from a change to the Patch that makes it.

The executor only sends them; the writes to a mesh's config are built by its module
(meshes/), on the Patch defined here (a control plane's env setting, istiod's or kuma-cp's, on
deployment_env). Content types are what this tool must get right: built-in kinds
take a strategic merge patch (it matches containers and env entries by name, so a patch touches
only what it names), custom resources (ASMMeshConfig, Argo Rollouts) accept only a JSON merge
patch, and a namespace's annotation is a plain merge.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from kubectl_sidecar import resources
from kubectl_sidecar.resources import JSON_MERGE_PATCH, STRATEGIC_MERGE_PATCH, Resource

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class Patch(NamedTuple):
    """One PATCH request: which object, the body, and its content type."""

    resource: Resource
    namespace: str | None
    name: str
    body: dict
    content_type: str

    @property
    def ref(self) -> str:
        """kubectl's name for the object, e.g. `deployment.apps/cart -n shop`."""
        kind = self.resource.kind.lower()
        qualified = f"{kind}.{self.resource.group}" if self.resource.group else kind
        where = f" -n {self.namespace}" if self.namespace else ""
        return f"{qualified}/{self.name}{where}"


def _template_annotations(annotations: dict) -> dict:
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


def _workload_content_type(kind: str) -> str:
    return JSON_MERGE_PATCH if kind == "Rollout" else STRATEGIC_MERGE_PATCH


def restart(kind: str, namespace: str, name: str, timestamp: str) -> Patch:
    """What `kubectl rollout restart` sends: the pod template's restartedAt annotation.

    Argo Rollouts restart their pods themselves once spec.restartAt passes.
    """
    if kind == "Rollout":
        body = {"spec": {"restartAt": restart_at(timestamp)}}
    else:
        body = _template_annotations({RESTARTED_AT: timestamp})
    return Patch(resources.BY_KIND[kind], namespace, name, body, _workload_content_type(kind))


def restart_at(timestamp: str) -> str:
    """An Argo Rollout's spec.restartAt for a restart asked at timestamp: the next whole second.
    The controller replaces only the pods created before restartAt, in whole seconds, so a pod
    created in the second we asked (after the mesh's config changed) would keep its mode."""
    try:
        asked = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp  # a placeholder ("now", for an access review): no write is made of it
    return (asked.replace(microsecond=0) + timedelta(seconds=1)).isoformat()


def pod_template_annotation(kind: str, namespace: str, name: str, key: str, value: str) -> Patch:
    """Set one pod-template annotation (a per-workload override); it rolls the workload out."""
    return Patch(
        resources.BY_KIND[kind],
        namespace,
        name,
        _template_annotations({key: value}),
        _workload_content_type(kind),
    )


def deployment_env(
    namespace: str,
    name: str,
    container: str,
    env_name: str,
    value: str | None,
    resource_version: str | None = None,
) -> Patch:
    """One env entry of one container of a Deployment (a control plane's setting); the other
    entries and containers are kept, as strategic merge matches both by name. With the
    resourceVersion it was read at, a Deployment changed since (a helm upgrade, another switch)
    answers 409 Conflict instead of taking a decision made on what it was."""
    # value None: the entry removed (strategic merge's delete directive), as it was unset.
    entry = (
        {"name": env_name, "value": value}
        if value is not None
        else {
            "name": env_name,
            "$patch": "delete",
        }
    )
    body: dict = {
        "spec": {"template": {"spec": {"containers": [{"name": container, "env": [entry]}]}}}
    }
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return Patch(resources.DEPLOYMENTS, namespace, name, body, STRATEGIC_MERGE_PATCH)
