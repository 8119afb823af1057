"""The kinds of object this tool reads and writes, described by data: where each lives in the API."""

import urllib.parse
from typing import NamedTuple

JSON_MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class Resource(NamedTuple):
    """A kind of object, described by data: where it lives in the API."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def path(self, namespace=None, name=None):
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{urllib.parse.quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{urllib.parse.quote(name, safe='')}"
        return base

    @property
    def qualified(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = Resource("", "v1", "pods", "Pod")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
JOBS = Resource("batch", "v1", "jobs", "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")
ROLLOUTS = Resource("argoproj.io", "v1alpha1", "rollouts", "Rollout")
# The Sail operator's: an Istio CR owns an IstioRevision per revision, which owns its istiod;
# both cluster-scoped (sail-operator api/v1 istio_types.go, istiorevision_types.go).
SAIL_ISTIOS = Resource("sailoperator.io", "v1", "istios", "Istio", namespaced=False)
SAIL_ISTIO_REVISIONS = Resource(
    "sailoperator.io", "v1", "istiorevisions", "IstioRevision", namespaced=False
)
# Argo CD's Applications: only one of that name makes an `app.kubernetes.io/instance` label
# Argo CD 2.x's tracking (owners.py).
ARGOCD_APPLICATIONS = Resource("argoproj.io", "v1alpha1", "applications", "Application")
MUTATING_WEBHOOKS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    namespaced=False,
)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
SELF_SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io",
    "v1",
    "selfsubjectaccessreviews",
    "SelfSubjectAccessReview",
    namespaced=False,
)
BY_KIND = {
    r.kind: r
    for r in (
        PODS,
        NODES,
        NAMESPACES,
        CONFIGMAPS,
        EVENTS,
        DEPLOYMENTS,
        REPLICASETS,
        STATEFULSETS,
        DAEMONSETS,
        JOBS,
        CRONJOBS,
        ROLLOUTS,
    )
}
