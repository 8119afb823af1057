"""A stand-in for cluster.Cluster in CLI tests: same methods, objects held in memory.

It replaces only the network edge; everything above it (status, classify, render, cli) runs
for real. The real Cluster is tested against a real API server in tests/e2e.
"""
from kubectl_sidecar.errors import ApiError


class FakeCluster:
    def __init__(self, objects=None, context="test", namespace="default", refuse=(),
                 refuse_writes=(), version="v1.33.1", on_patch=None):
        self.objects = objects or {}  # kind -> [object]
        self.context = context
        self.namespace = namespace
        self.refuse = set(refuse)  # kinds whose reads answer 403
        self.refuse_writes = set(refuse_writes)  # kinds whose patches answer 403
        self.version = version
        self.on_patch = on_patch  # called as on_patch(cluster, kind, namespace, name, body)
        self.reads = []
        self.patches = []

    def _check(self, resource, verb):
        if resource.kind in self.refuse:
            raise ApiError(403, "Forbidden",
                           f'{resource.plural} is forbidden: User "viewer" cannot {verb} resource '
                           f'"{resource.plural}" in API group "{resource.group}"',
                           verb=verb, resource=resource.plural)

    def list_items(self, resource, namespace=None, selector=None, metadata_only=False,
                   field_selector=None):
        self.reads.append(("list", resource.kind, namespace, selector))
        self._check(resource, "list")
        items = [o for o in self.objects.get(resource.kind, [])
                 if namespace is None or o["metadata"].get("namespace") == namespace]
        if selector:
            key, _, value = selector.partition("=")
            items = [o for o in items if (o["metadata"].get("labels") or {}).get(key) == value]
        yield from items

    def list_all(self, resource, namespace=None, selector=None, metadata_only=False,
                 field_selector=None):
        return list(self.list_items(resource, namespace, selector, metadata_only))

    def server_version(self):
        return self.version

    def patch(self, resource, name, body, patch_type, namespace=None, dry_run=False,
              field_manager="kubectl-sidecar"):
        if resource.kind in self.refuse_writes:
            raise ApiError(403, "Forbidden",
                           f'{resource.plural}.{resource.group} "{name}" is forbidden: User "viewer" '
                           f'cannot patch resource "{resource.plural}" in API group "{resource.group}"',
                           verb="patch", resource=resource.plural)
        self.patches.append((resource.kind, namespace, name, body, patch_type, dry_run))
        if self.on_patch and not dry_run:
            self.on_patch(self, resource.kind, namespace, name, body)
        return {}

    def get(self, resource, name, namespace=None):
        self.reads.append(("get", resource.kind, namespace, name))
        self._check(resource, "get")
        for obj in self.objects.get(resource.kind, []):
            if obj["metadata"]["name"] == name and obj["metadata"].get("namespace") == namespace:
                return obj
        return None
