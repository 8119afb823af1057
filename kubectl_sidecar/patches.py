"""Every write this tool makes, as data: pure functions from a change to the Patch that makes it.

The executor only sends them. Content types are what this tool must get right: built-in kinds
take a strategic merge patch (it matches containers and env entries by name, so a patch touches
only what it names), custom resources (ASMMeshConfig, Argo Rollouts) accept only a JSON merge
patch, and a namespace's annotation is a plain merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_sidecar import resources
from kubectl_sidecar.classify import OVERRIDE_ANNOTATIONS
from kubectl_sidecar.meshconfig import ISTIO_ENV
from kubectl_sidecar.resources import JSON_MERGE_PATCH, STRATEGIC_MERGE_PATCH, Resource

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Linkerd reads the same annotation on a namespace as on a pod template.
LINKERD_NAMESPACE_ANNOTATION = OVERRIDE_ANNOTATIONS["linkerd"][0]


@dataclass(frozen=True)
class Patch:
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
        body = {"spec": {"restartAt": timestamp}}
    else:
        body = _template_annotations({RESTARTED_AT: timestamp})
    return Patch(resources.BY_KIND[kind], namespace, name, body, _workload_content_type(kind))


def pod_template_annotation(kind: str, namespace: str, name: str, key: str, value: str) -> Patch:
    """Set one pod-template annotation (a per-workload override); it rolls the workload out."""
    return Patch(
        resources.BY_KIND[kind],
        namespace,
        name,
        _template_annotations({key: value}),
        _workload_content_type(kind),
    )


def asm_native_sidecar(name: str, native: bool) -> Patch:
    """ASMMeshConfig's spec.enableNativeSidecar (on the ASM instance's API server)."""
    return Patch(
        resources.ASM_MESH_CONFIGS,
        None,
        name,
        {"spec": {"enableNativeSidecar": native}},
        JSON_MERGE_PATCH,
    )


def istiod_env(namespace: str, name: str, container: str, value: str) -> Patch:
    """istiod's ENABLE_NATIVE_SIDECARS; its other env entries are kept (merged by name)."""
    body = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": container, "env": [{"name": ISTIO_ENV, "value": value}]}
                    ]
                }
            }
        }
    }
    return Patch(resources.DEPLOYMENTS, namespace, name, body, STRATEGIC_MERGE_PATCH)


def linkerd_namespace(namespace: str, value: str) -> Patch:
    """The namespace-wide native-sidecar annotation Linkerd's injector reads."""
    return Patch(
        resources.NAMESPACES,
        None,
        namespace,
        {"metadata": {"annotations": {LINKERD_NAMESPACE_ANNOTATION: value}}},
        JSON_MERGE_PATCH,
    )


def consul_injector(
    namespace: str, name: str, container: dict, resource_version: str | None = None
) -> Patch:
    """Consul's connect-injector container with its command/args rewritten (container is
    meshconfig.consul_injector_patch's entry). Strategic merge matches the container by name
    and replaces command and args whole, so the patch carries the resourceVersion they were
    read at: if the Deployment changed since (a helm upgrade), the API server answers 409
    Conflict instead of letting stale flags overwrite the new ones."""
    body = {"spec": {"template": {"spec": {"containers": [container]}}}}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return Patch(resources.DEPLOYMENTS, namespace, name, body, STRATEGIC_MERGE_PATCH)
