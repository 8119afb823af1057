"""`kubectl sidecar status`: fetch what's needed, compute every pod's row, hand it to render.

Reads are a fixed handful whatever the cluster's size: one paginated list of pods, one of
ReplicaSets and one of Jobs (metadata only) to resolve owners, the workloads that would be
restarted, and the mesh's config objects. Never a request per pod or per namespace.
"""
import gc
import sys
from collections import Counter
from dataclasses import dataclass, field

from kubectl_sidecar import cluster as api
from kubectl_sidecar import meshconfig
from kubectl_sidecar.actions import assess
from kubectl_sidecar.classify import MODES, classify_pod
from kubectl_sidecar.errors import ApiError
from kubectl_sidecar.workloads import ROLLOUT_KINDS, owner_index, resolve_workload

MESH_CHOICES = ("auto", "asm", "istio", "linkerd")


@dataclass
class Scope:
    """Which pods: one namespace (None = all namespaces) and an optional label selector."""

    namespace: str = None
    selector: str = None

    @property
    def all_namespaces(self):
        return self.namespace is None

    def describe(self):
        return "all namespaces" if self.namespace is None else f"{self.namespace} namespace"


@dataclass
class Report:
    """Everything status knows: the rows, the mesh config, and notes for the user."""

    scope: Scope
    mesh: meshconfig.MeshConfig
    rows: list
    warnings: list = field(default_factory=list)

    def mode_counts(self):
        counts = Counter(row.mode for row in self.rows)
        return {mode: counts.get(mode, 0) for mode in MODES}

    def workloads_to_restart(self):
        """Distinct workloads whose restart would bring pods to their desired mode."""
        seen = {}
        for row in self.rows:
            if row.needs_restart and row.action.startswith("restart ") and row.workload:
                seen[(row.namespace,) + tuple(row.workload)] = True
        return list(seen)

    def summary(self):
        return {
            "pods": len(self.rows),
            "modes": self.mode_counts(),
            "needsRestart": sum(1 for row in self.rows if row.needs_restart),
            "workloadsToRestart": len(self.workloads_to_restart()),
        }


def collect(cluster, scope, mesh="auto", mesh_cluster=None, proxy_names=None):
    """Read the cluster and build the Report. mesh_cluster holds the mesh config (ASM)."""
    rows = list_pod_rows(cluster, scope, proxy_names)
    warnings = []
    parents = _read_parents(cluster, scope, rows, warnings)
    for row in rows:
        row.workload = resolve_workload(row.namespace, row.owner, parents)
    mesh_config = read_mesh_config(cluster, mesh_cluster or cluster, mesh, rows)
    settings = [meshconfig.desired_setting(row, mesh_config) for row in rows]
    facts = _read_restart_facts(cluster, scope, rows, settings, warnings)
    for row, setting in zip(rows, settings):
        assess(row, setting, facts)
    return Report(scope=scope, mesh=mesh_config, rows=rows,
                  warnings=warnings + mesh_config.warnings)


def list_pod_rows(cluster, scope, proxy_names=None):
    """Every pod in scope as a PodRow, one page in memory at a time."""
    rows = []
    intern = sys.intern
    # Parsed JSON has no reference cycles, so the cyclic collector only costs time here: each
    # full collection walks every row kept so far, which made 50,000 pods 7x slower than 10,000.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for pod in cluster.list_items(api.PODS, scope.namespace, scope.selector):
            row = classify_pod(pod, proxy_names)
            # Thousands of rows share a few namespaces, nodes and owners: keep one copy.
            row.namespace = intern(row.namespace or "")
            if row.node:
                row.node = intern(row.node)
            rows.append(row)
    except ApiError as error:
        if error.status == 400 and scope.selector:
            from kubectl_sidecar.errors import InputError

            raise InputError(f'invalid selector "{scope.selector}": {error.message}') from None
        raise
    finally:
        if collecting:
            gc.enable()
    return rows


def _read_parents(cluster, scope, rows, warnings):
    """ReplicaSets and Jobs that own pods, keyed (kind, namespace, name)."""
    owner_kinds = {row.owner[0] for row in rows if row.owner}
    parents = {}
    for kind in ("ReplicaSet", "Job"):
        if kind not in owner_kinds:
            continue
        resource = api.BY_KIND[kind]
        try:
            objects = cluster.list_all(resource, scope.namespace, metadata_only=True)
        except ApiError as error:
            if error.status != 403:
                raise
            warnings.append(f"can't list {resource.plural} ({error.message}); "
                            f"pods are shown with their {kind} as the workload")
            continue
        for (namespace, name), facts in owner_index(objects, kind).items():
            parents[(kind, namespace, name)] = facts
    return parents


def _read_restart_facts(cluster, scope, rows, settings, warnings):
    """Paused / OnDelete facts for the rollout-restartable workloads of pods in the wrong mode."""
    wrong = [row for row, setting in zip(rows, settings) if row.proxy and row.mode != setting.mode]
    return read_workload_facts(cluster, scope, wrong, warnings)


def read_workload_facts(cluster, scope, rows, warnings):
    """{(kind, namespace, name): WorkloadFacts} for the Deployments, StatefulSets and
    DaemonSets that own these rows: one list per kind, never one read per workload."""
    kinds = {row.workload[0] for row in rows if row.workload and row.workload[0] in ROLLOUT_KINDS}
    facts = {}
    for kind in sorted(kinds):
        resource = api.BY_KIND[kind]
        try:
            objects = cluster.list_all(resource, scope.namespace)
        except ApiError as error:
            if error.status != 403:
                raise
            warnings.append(f"can't list {resource.plural} ({error.message}); "
                            "paused or OnDelete workloads are not recognised")
            continue
        for (namespace, name), fact in owner_index(objects, kind).items():
            facts[(kind, namespace, name)] = fact
    return facts


# --- the mesh's configuration -------------------------------------------------------------

def read_mesh_config(cluster, mesh_cluster, mesh, rows):
    """The MeshConfig for --mesh (auto: the first of ASM, Istio, Linkerd whose config exists)."""
    if mesh == "asm":
        return _read_asm(mesh_cluster)
    if mesh == "istio":
        return _read_istio(cluster)
    if mesh == "linkerd":
        return _read_linkerd(cluster)
    families = Counter(row.family for row in rows if row.family)
    order = [_read_asm, _read_istio, _read_linkerd]
    if families and families.most_common(1)[0][0] == "linkerd":
        order = [_read_linkerd, _read_asm, _read_istio]
    notes = []
    for reader in order:
        target = mesh_cluster if reader is _read_asm else cluster
        try:
            config = reader(target, quiet=True)
        except ApiError as error:
            if error.status not in (401, 403):
                raise
            notes.append(error.message)
            continue
        if config is not None:
            return config
    reason = "no mesh configuration found (ASMMeshConfig/default, istiod, linkerd-config)"
    if notes:
        reason += "; could not read: " + "; ".join(notes)
    return meshconfig.no_mesh(reason)


def _read_asm(mesh_cluster, quiet=False):
    obj = mesh_cluster.get(api.ASM_MESH_CONFIGS, meshconfig.ASM_NAME)
    if obj is None and quiet:
        return None
    return meshconfig.asm_config(obj, mesh_cluster.context)


def _read_istio(cluster, quiet=False):
    deployments = _istiod_deployments(cluster)
    if not deployments and quiet:
        return None
    kubelets = None
    if meshconfig.istiod_needs_kubelets(deployments):
        kubelets = node_kubelet_versions(cluster)
    config = meshconfig.istio_config(deployments, kubelets, cluster.context)
    if not deployments:
        config.warnings.append("no istiod Deployment (label app=istiod) found")
    return config


def _istiod_deployments(cluster):
    try:
        return cluster.list_all(api.DEPLOYMENTS, None, selector="app=istiod")
    except ApiError as error:
        if error.status != 403:
            raise
    # Users without cluster-wide read may still read the usual control-plane namespaces.
    found = []
    for namespace in ("istio-system", "aks-istio-system"):
        try:
            found += cluster.list_all(api.DEPLOYMENTS, namespace, selector="app=istiod")
        except ApiError as error:
            if error.status != 403:
                raise
    return found


def node_kubelet_versions(cluster):
    """{node: kubelet version}, or None when nodes can't be listed."""
    try:
        nodes = cluster.list_all(api.NODES)
    except ApiError as error:
        if error.status != 403:
            raise
        return None
    return {
        (node.get("metadata") or {}).get("name"):
            ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
        for node in nodes
    }


def _read_linkerd(cluster, quiet=False):
    config_map = cluster.get(api.CONFIGMAPS, "linkerd-config", "linkerd")
    if config_map is None and quiet:
        return None
    try:
        namespaces = cluster.list_all(api.NAMESPACES, metadata_only=True)
    except ApiError as error:
        if error.status != 403:
            raise
        namespaces = []
    return meshconfig.linkerd_config(config_map, namespaces, cluster.context)
