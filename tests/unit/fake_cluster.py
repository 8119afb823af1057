"""A stand-in for cluster.Cluster in CLI tests: the same interface, objects held in memory.

It replaces only the network edge; everything above it (status, classify, render, cli) runs
for real. The real Cluster is tested against a real API server in tests/e2e. It satisfies
cluster.ClusterApi (test_fake_cluster.py holds it to the same signatures) and honours every
argument: a selector it can't evaluate is an error, never ignored.
"""

import re
import time

from kubectl_sidecar import resources
from kubectl_sidecar.cluster import Listing
from kubectl_sidecar.errors import ApiError

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _terms(selector):
    """Split a selector on the commas that are not inside `in (a,b)` sets."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [term.strip() for term in terms + [current] if term.strip()]


def label_matcher(selector):
    """A predicate over a labels dict for a Kubernetes label selector."""
    checks = []
    for term in _terms(selector or ""):
        found = _SET_TERM.match(term)
        if found:
            key, operator, values = found.groups()
            allowed = {value.strip() for value in values.split(",")}
            if operator == "in":
                checks.append(lambda labels, k=key, a=allowed: labels.get(k) in a)
            else:
                checks.append(lambda labels, k=key, a=allowed: labels.get(k) not in a)
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif term.startswith("!"):
            key = term[1:].strip()
            checks.append(lambda labels, k=key: k not in labels)
        elif re.fullmatch(r"[\w./-]+", term):
            checks.append(lambda labels, k=term: k in labels)
        else:
            raise ValueError(f"the fake cluster can't evaluate the label selector term {term!r}")
    return lambda labels: all(check(labels) for check in checks)


def field_matcher(selector):
    """A predicate over an object for a field selector (`a.b=v`, `a.b!=v`, comma-separated)."""
    checks = []
    for term in _terms(selector or ""):
        negate = "!=" in term
        path, value = (
            part.strip() for part in term.replace("==", "=").split("!=" if negate else "=", 1)
        )
        if not path or value is None:
            raise ValueError(f"the fake cluster can't evaluate the field selector term {term!r}")

        checks.append(_field_check(path.split("."), value, negate))
    return lambda obj: all(check(obj) for check in checks)


def _field_check(keys, want, negate):
    def check(obj):
        for key in keys:
            obj = obj.get(key) if isinstance(obj, dict) else None
        return (str(obj) != want) if negate else (str(obj) == want)

    return check


class FakeCluster:
    def __init__(
        self,
        objects=None,
        context="test",
        namespace="default",
        refuse=(),
        refuse_writes=(),
        version="v1.33.1",
        on_patch=None,
        on_get=None,
        admission=None,
    ):
        self.objects = objects or {}  # kind -> [object]
        self.context = context
        self.namespace = namespace
        self.refuse = set(refuse)  # kinds whose reads answer 403
        self.refuse_writes = set(refuse_writes)  # kinds whose patches answer 403
        self.version = version
        self.on_patch = on_patch  # called as on_patch(cluster, kind, namespace, name, body)
        self.on_get = on_get  # called with each object a get returns, before it is returned
        # The admission chain of dry-run pod creates (the canary's): admission(cluster,
        # namespace, pod) -> the pod as admitted, or raises ApiError. None: the fake has no
        # injection model, and a canary asking it is a test error (the unit tier runs switch
        # with the canary off unless a test gives one; conftest.py).
        self.admission = admission
        self.dry_run_creates = []  # (namespace, pod) of each dry-run pod create
        # kind -> [session]: each watch call plays the next session, a list of (type, object)
        # events, exceptions to raise, or callables(cluster) returning one of those. With none left, a watch replays the objects as they
        # now are (MODIFIED) every 10 ms, the way a controller's updates would arrive.
        self.watch_script = {}
        self.resource_version = 1
        self.reads = []
        self.patches = []
        self.watches = []
        self.reviews = []
        self.lease_writes = []  # (namespace, name, spec after the write)

    def _check(self, resource, verb):
        if resource.kind in self.refuse:
            raise ApiError(
                403,
                "Forbidden",
                f'{resource.plural} is forbidden: User "viewer" cannot {verb} resource '
                f'"{resource.plural}" in API group "{resource.group}"',
                verb=verb,
                resource=resource.plural,
            )

    def list_items(
        self, resource, namespace=None, selector=None, metadata_only=False, field_selector=None
    ):
        self.reads.append(("list", resource.kind, namespace, selector))
        self._check(resource, "list")
        matching = self._matching(resource, namespace, selector, field_selector)
        items = [{"metadata": obj["metadata"]} if metadata_only else obj for obj in matching]
        version = str(self.resource_version)

        def pages(listing):
            listing.resource_version = version
            yield list(items)

        return Listing(pages)

    def _matching(self, resource, namespace, selector, field_selector):
        labels_match = label_matcher(selector)
        fields_match = field_matcher(field_selector)
        for obj in self.objects.get(resource.kind, []):
            metadata = obj["metadata"]
            if namespace is not None and metadata.get("namespace") != namespace:
                continue
            if labels_match(metadata.get("labels") or {}) and fields_match(obj):
                yield obj

    def watch(
        self,
        resource,
        namespace=None,
        selector=None,
        field_selector=None,
        resource_version=None,
        timeout_seconds=300,
    ):
        self.watches.append((resource.kind, namespace, selector, field_selector, resource_version))
        self._check(resource, "watch")
        sessions = self.watch_script.get(resource.kind)
        if sessions:
            for event in sessions.pop(0):
                if callable(event):  # a change to the cluster at this point of the session
                    event = event(self)
                if isinstance(event, BaseException):
                    raise event
                yield event
            return
        time.sleep(0.01)
        for obj in list(self._matching(resource, namespace, selector, field_selector)):
            if self.on_get:
                self.on_get(obj)
            yield "MODIFIED", obj

    def list_all(
        self, resource, namespace=None, selector=None, metadata_only=False, field_selector=None
    ):
        return list(self.list_items(resource, namespace, selector, metadata_only, field_selector))

    def server_version(self):
        return self.version

    def patch(
        self,
        resource,
        name,
        body,
        content_type,
        namespace=None,
        dry_run=False,
        field_manager="kubectl-sidecar",
        timeout=None,
    ):
        if resource.kind in self.refuse_writes:
            raise ApiError(
                403,
                "Forbidden",
                f'{resource.plural}.{resource.group} "{name}" is forbidden: User "viewer" '
                f'cannot patch resource "{resource.plural}" in API group "{resource.group}"',
                verb="patch",
                resource=resource.plural,
            )
        if resource.kind == "Lease":
            return self._patch_lease(name, namespace, body)
        self.patches.append((resource.kind, namespace, name, body, content_type, dry_run))
        if self.on_patch and not dry_run:
            self.on_patch(self, resource.kind, namespace, name, body)
        return {}

    def _patch_lease(self, name, namespace, body):
        """A run's Lease (lease.py), kept apart from `patches`: those are the plan's writes.
        As the API server does: a write at another resourceVersion is a 409 Conflict."""
        lease = self.get(resources.LEASES, name, namespace)
        if lease is None:
            raise ApiError(404, "NotFound", f'leases "{name}" not found', verb="patch")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != lease["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified", verb="patch")
        for key, value in (body.get("spec") or {}).items():
            if value is None:
                lease["spec"].pop(key, None)
            else:
                lease["spec"][key] = value
        self._bump(lease)
        self.lease_writes.append((namespace, name, dict(lease["spec"])))
        return lease

    def _bump(self, obj):
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)

    def create(self, resource, body, namespace=None):
        """Answers SelfSubjectAccessReviews: a patch of a kind in refuse_writes is refused.
        Keeps a run's Lease."""
        if resource.kind == "Lease":
            if self.get(resource, body["metadata"]["name"], namespace) is not None:
                raise ApiError(409, "AlreadyExists", "leases already exists", verb="create")
            lease = {
                "metadata": dict(body["metadata"], namespace=namespace),
                "spec": dict(body["spec"]),
            }
            self._bump(lease)
            self.objects.setdefault("Lease", []).append(lease)
            self.lease_writes.append((namespace, lease["metadata"]["name"], dict(lease["spec"])))
            return lease
        if resource.kind != "SelfSubjectAccessReview":
            raise ValueError(f"the fake cluster can't create {resource.kind}")
        self.reviews.append(body["spec"]["resourceAttributes"])
        attributes = body["spec"]["resourceAttributes"]
        refused = any(
            r.plural == attributes["resource"] and r.group == attributes["group"]
            for r in resources.BY_KIND.values()
            if r.kind in self.refuse_writes
        )
        return {
            "status": {
                "allowed": not refused,
                "reason": "" if not refused else "no RBAC policy matched",
            }
        }

    def create_pod_dry_run(self, namespace, pod, timeout=None):
        if self.admission is None:
            raise ValueError("the fake cluster has no admission model for a dry-run pod create")
        self.dry_run_creates.append((namespace, pod))
        if "Pod" in self.refuse_writes:
            raise ApiError(
                403,
                "Forbidden",
                f'pods is forbidden: User "viewer" cannot create resource "pods" in API group "" '
                f'in the namespace "{namespace}"',
                verb="create",
                resource="pods",
            )
        return self.admission(self, namespace, pod)

    def get(self, resource, name, namespace=None):
        self.reads.append(("get", resource.kind, namespace, name))
        self._check(resource, "get")
        for obj in self.objects.get(resource.kind, []):
            if obj["metadata"]["name"] == name and obj["metadata"].get("namespace") == namespace:
                if self.on_get:
                    self.on_get(obj)
                return obj
        return None


def istio_admission(native, strip=(), refuse=None):
    """An admission chain of Istio's injector for FakeCluster(admission=): the pod's
    sidecar.istio.io/nativeSidecar, else `native` (the mesh's setting, or a callable(cluster)
    giving it), decides; pods generated from a name in `strip` then lose restartPolicy (a
    policy webhook after the injector); refuse(pod) -> a message refuses the pod."""
    import copy

    def admit(cluster, namespace, pod):
        message = refuse(pod) if refuse else None
        if message:
            raise ApiError(400, "BadRequest", message, verb="create", resource="pods")
        pod = copy.deepcopy(pod)
        metadata = pod["metadata"]
        mesh_native = native(cluster) if callable(native) else native
        asked = (metadata.get("annotations") or {}).get("sidecar.istio.io/nativeSidecar")
        as_native = mesh_native if asked is None else asked == "true"
        proxy = {"name": "istio-proxy", "image": "istio/proxyv2:1.24.0"}
        spec = pod.setdefault("spec", {})
        spec.setdefault("containers", [{"name": "app", "image": "registry.example/app:1.0"}])
        if as_native:
            if not any(metadata["generateName"].startswith(f"{name}-") for name in strip):
                proxy["restartPolicy"] = "Always"
            spec["initContainers"] = [proxy, *(spec.get("initContainers") or [])]
        else:
            spec["containers"] = [*(spec.get("containers") or []), proxy]
        metadata["name"] = metadata["generateName"] + "x1y2z"
        return pod

    return admit
