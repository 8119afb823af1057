"""`kubectl sidecar status`: fetch what's needed, compute every pod's row, hand it to render.

Reads are a fixed handful whatever the cluster's size: one paginated list of pods, one of
ReplicaSets and one of Jobs (metadata only) to resolve owners, the workloads that would be
restarted, and the mesh's config objects. Never a request per pod or per namespace.

Rows come a page at a time (`stream`), so the table can be printed as the pods arrive and
memory stays flat however many pods there are; `collect` keeps them all for switch and json.
"""

from __future__ import annotations

import functools
import gc
import sys
import threading
from collections import Counter
from typing import NamedTuple

from kubectl_sidecar import meshconfig, resources
from kubectl_sidecar.actions import Step, assess
from kubectl_sidecar.classify import (
    MODES,
    NOT_REDIRECTED,
    ambient_label,
    classify_pod,
    mode_annotations_of,
    not_redirected,
    override_of,
)
from kubectl_sidecar.cluster import PAGE_SIZE
from kubectl_sidecar.errors import ApiError, InputError, unless_forbidden
from kubectl_sidecar.injection import (
    NO_RULES,
    Namespace,
    injector_webhooks,
    lost_proxy,
    selecting,
)
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import MeshConfig, Mode, Setting
from kubectl_sidecar.meshes.registry import COPIES_NAMESPACE_MODE
from kubectl_sidecar.meshread import read_mesh_config
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.workloads import ROLLOUT_KINDS, controllers, facts_index, resolve_workload


class Scope(NamedTuple):
    """Which pods: one namespace (None = all namespaces) and an optional label selector."""

    namespace: str | None = None
    selector: str | None = None

    @property
    def all_namespaces(self):
        return self.namespace is None

    def describe(self):
        return "all namespaces" if self.namespace is None else f"{self.namespace} namespace"


# Tally and Report are written out, not dataclasses, whose generated methods are compiled at
# every start of every command (BENCHMARKS.md, small cluster): neither is compared or printed.
class Tally:
    """Counts over the rows seen so far: what the summary line and --summary need, without
    keeping the rows themselves."""

    def __init__(self):
        self.pods = 0
        self.modes: Counter = Counter()
        self.needs_action = 0
        # The workloads to restart; a fleet's total holds (context, WorkloadRef).
        self.workloads: set[WorkloadRef | tuple[str, WorkloadRef]] = set()
        self.per_namespace: dict = {}  # namespace -> Counter of modes, "restart"
        self.not_redirected = 0  # pods labelled for ambient that aren't in it

    def add(self, rows):
        for row in rows:
            self.pods += 1
            if row.ambient is NOT_REDIRECTED:
                self.not_redirected += 1
            self.modes[row.mode] += 1
            namespace = self.per_namespace.get(row.namespace)
            if namespace is None:
                namespace = self.per_namespace[row.namespace] = Counter()
            namespace[row.mode] += 1
            if row.needs_restart:
                self.needs_action += 1
                namespace["restart"] += 1
                if row.remedy.step is Step.RESTART:
                    self.workloads.add(row.workload)
        return self

    def mode_counts(self):
        return {mode: self.modes.get(mode, 0) for mode in MODES}

    def summary(self):
        return {
            "pods": self.pods,
            "modes": {str(mode): count for mode, count in self.mode_counts().items()},
            "needsRestart": self.needs_action,
            "workloadsToRestart": len(self.workloads),
            "ambientNotRedirected": self.not_redirected,
        }


class Report:
    """Everything status knows with every row in memory: what switch and -o json/yaml use."""

    def __init__(
        self,
        scope: Scope,
        mesh: MeshConfig,
        rows: list,
        warnings: list | None = None,
        assessor: Assessor | None = None,
    ):
        self.scope = scope
        self.mesh = mesh
        self.rows = rows
        self.warnings = [] if warnings is None else warnings
        # what was read to assess the rows, to read more without repeats
        self.assessor = assessor

    def tally(self):
        return Tally().add(self.rows)


def collect(cluster, scope, mesh="auto", mesh_cluster=None, proxy_names=None):
    """Read the cluster and build the Report. mesh_cluster holds the mesh config (ASM)."""
    assessor = Assessor(cluster, scope, mesh, mesh_cluster)
    rows = [row for batch in stream(assessor, proxy_names) for row in batch]
    return Report(
        scope=scope,
        mesh=assessor.mesh_config(),
        rows=rows,
        warnings=assessor.warnings,
        assessor=assessor,
    )


def stream(assessor, proxy_names=None, batch_size=PAGE_SIZE):
    """Yield every pod in the assessor's scope as assessed PodRows, batch_size at a time, in
    the API's order (namespace, then name).

    Only one batch need be alive at a time: the table of 50,000 pods costs what 500 do, plus
    the owners and workloads the assessor has read.
    """
    batch = []
    for row in list_pod_rows(assessor.cluster, assessor.scope, proxy_names, assessor):
        batch.append(row)
        if len(batch) == batch_size:
            yield assessor.assess(batch)
            batch = []
    if batch:
        yield assessor.assess(batch)


def _namespace_of(namespace):
    metadata = namespace.get("metadata") or {}
    return Namespace(metadata.get("labels") or {}, metadata.get("annotations") or {})


class Assessor:
    """Fills in each row's workload, desired mode and action, reading what that takes the
    first time a batch needs it: the ReplicaSets and Jobs that own pods, the mesh config, the
    Deployments, StatefulSets and DaemonSets of pods in the wrong mode or whose mode annotation
    may be a copy of their namespace's. One list per kind whatever the number of pods, never a
    read per pod or per namespace.
    """

    def __init__(
        self,
        cluster,
        scope,
        mesh="auto",
        mesh_cluster=None,
        warn=None,
        probe=False,
        proxy_names=None,
    ):
        self.cluster = cluster
        # status --probe: each workload's desired mode from a dry-run create of its pod
        # (canary.py), once per workload, instead of from the mesh config.
        self.probe = probe
        self.proxy_names = proxy_names
        self._admitted = {}
        self._disagreed = set()
        self.probe_requests = 0
        self.mesh_cluster = mesh_cluster or cluster
        self.scope = scope
        self.mesh = mesh
        self._on_warning = warn
        self.warnings = []
        self._mesh_config = None
        self._parents = {}
        self._facts = {}
        self._kinds_read = set()
        self.pods_version = None  # the pod list's resourceVersion, once it has been read
        self._webhooks = None
        self._namespace_index = None
        self._by_namespace = {}
        self._ambient_by_namespace = {}
        self._injector_rules = {}  # (namespace, ConfigMap name) -> its injector's rules

    def mesh_config(self, rows=()):
        """The MeshConfig, read once; the first batch's rows guide --mesh auto."""
        if self._mesh_config is None:
            self._mesh_config = read_mesh_config(self.cluster, self.mesh_cluster, self.mesh, rows)
            for warning in self._mesh_config.warnings:
                self.warn(warning)
        return self._mesh_config

    def warn(self, message):
        self.warnings.append(message)
        if self._on_warning:
            self._on_warning(message)

    def workload_facts(self, rows):
        """{WorkloadRef: WorkloadFacts} covering the rollout-restartable workloads
        of these rows; each kind is listed once however often this is called."""
        kinds = workload_kinds(rows) - self._kinds_read
        self._kinds_read |= kinds
        return read_workload_facts(self.cluster, self.scope, kinds, self.warn, into=self._facts)

    def assess(self, rows):
        self._read_parents({row.owner.kind for row in rows if row.owner})
        for row in rows:
            row.workload = resolve_workload(row.owner, self._parents)
        mesh_config = self.mesh_config(rows)
        self._use_template_modes(rows)
        self._without_proxy(rows, mesh_config)
        settings = [meshconfig.desired_setting(row, mesh_config) for row in rows]
        if self.probe:
            settings = self._admission_settings(rows, settings)
        wrong = [
            row
            for row, setting in zip(rows, settings, strict=True)
            if (row.proxy and row.mode != setting.mode) or row.lost
        ]
        facts = self.workload_facts(wrong)
        for row, setting in zip(rows, settings, strict=True):
            assess(row, setting, facts)
        return rows

    def _admission_settings(self, rows, settings):
        """The settings of these rows, with the mode a dry-run create of their workload's pod
        comes back in where it comes back with a proxy that can start; where that differs from
        the mesh config's, the row says so (a problem) and keeps the config's as row.model."""
        from kubectl_sidecar import canary  # only with --probe

        wanted = sorted(
            {
                row.workload
                for row in rows
                if row.proxy
                and row.workload
                and row.workload.kind in resources.BY_KIND
                and row.workload not in self._admitted
            }
        )
        if wanted:
            result = canary.probe(
                self.cluster, [canary.Probe(ref, None, None) for ref in wanted], self.proxy_names
            )
            self.probe_requests += result.requests
            for ref in wanted:
                self._admitted[ref] = result.answers.get(ref)
            for why in result.skipped:
                self.warn(f"--probe: can't create pods (dry run) to ask admission: {why}")
        out = []
        for row, setting in zip(rows, settings, strict=True):
            answer = self._admitted.get(row.workload) if row.proxy and row.workload else None
            if answer is None or answer.skipped or answer.mode is Mode.GATEWAY:
                out.append(setting)
                continue
            if answer.why is not None:
                row.problems.append(f"admission: {answer.why}")
                out.append(setting)
                continue
            if setting.mode != answer.mode:
                disagreement = (
                    f"admission gives {answer.mode}; the mesh config says "
                    f"{setting.mode or 'unknown'} ({setting.source})"
                )
                row.problems.append(disagreement)
                if row.workload not in self._disagreed:
                    # The table has no room for a row's problems: once per workload, aside.
                    self._disagreed.add(row.workload)
                    self.warn(f"{row.workload}: {disagreement}")
            row.model = setting
            out.append(Setting(answer.mode is Mode.NATIVE, canary.SOURCE))
        return out

    def _use_template_modes(self, rows):
        """Linkerd copies its namespace's mode annotation onto every pod it injects, so the
        pod's copy is not its workload's own choice: that is on the pod template. For the
        Linkerd pods that carry such an annotation, take their Deployment's, StatefulSet's or
        DaemonSet's template's instead (listed once per kind, with the workload facts). A bare
        pod, or a workload of another kind, keeps the pod's own."""
        marked = [
            row for row in rows if row.family in COPIES_NAMESPACE_MODE and row.mode_annotations
        ]
        if not marked:
            return
        facts = self.workload_facts(marked)
        for row in marked:
            fact = row.workload and facts.get(row.workload)
            if fact:
                row.mode_annotations = mode_annotations_of(row.family, dict(fact.template_modes))
                row.override, row.override_annotation = override_of(row.mode_annotations)

    def _without_proxy(self, rows, mesh):
        """Of the pods without a proxy: those whose mesh's injector would give them one now
        (they lost the mesh: row.lost), and those whose namespace asks for ambient that
        istio-cni didn't redirect. Reads, the first time a batch has such pods and the mesh
        has such rules, its injector's webhooks and the namespaces: one list each."""
        candidates = [row for row in rows if row.injection_facts is not None]
        if not candidates or mesh.family is None:
            return
        injects = registry.INJECTS.get(mesh.family)
        ambient = any(family == mesh.family for _, _, family in registry.AMBIENT_LABELS)
        webhooks = self._injector_webhooks(mesh.family) if injects else None
        if not webhooks and not ambient:
            return
        namespaces = self._namespaces()
        if namespaces is None:
            return
        rules_of = functools.partial(self._rules_of, mesh)
        for row in candidates:
            namespace = self._namespace(row.namespace, namespaces)
            if ambient and row.ambient is None and namespace is not None:
                family = self._ambient_namespace(row.namespace, namespace)
                if family is not None:
                    # The pod's own label decides over its namespace's: read only here.
                    family = ambient_label(row.injection_facts[0], namespace.labels)
                if family is not None:
                    not_redirected(row, family)
            if (
                not webhooks
                or injects is None
                or row.terminating
                or row.phase in ("Succeeded", "Failed")
            ):
                continue
            hooks = self._webhooks_for(row.namespace, namespace, webhooks)
            if not hooks:
                continue
            webhook = lost_proxy(
                row.injection_facts, row.namespace, namespace, hooks, injects, rules_of
            )
            if webhook is not None:
                row.lost = f"no proxy: webhook {webhook.configuration} selects this pod"
                row.problems.append(row.lost)
                row.family = mesh.family
                row.revision = webhook.revision

    def _rules_of(self, mesh, webhook):
        """The rules of the injector `webhook` calls, from its own config (istiod's
        istio-sidecar-injector ConfigMap of that revision, read the first time a pod needs
        them, once per ConfigMap) or from what the mesh's read holds (consul-k8s's injector
        flags, worked out once per webhook); NO_RULES for a mesh without such a config; None
        when they can't be read (said once: nothing is flagged for that injector)."""
        family = mesh.family
        own_rules = registry.INJECTOR_RULES.get(family)
        if own_rules is not None:
            return self._own_rules(own_rules, mesh, webhook)
        config = registry.INJECTOR_CONFIGS.get(family)
        if config is None:
            return NO_RULES
        where_of, rules_from = config
        where = where_of(webhook.revision, webhook.service_namespace)
        if where in self._injector_rules:
            return self._injector_rules[where]
        namespace, name = where
        failed: list = []  # the fallback that tells "refused" from "absent" (None)
        found = unless_forbidden(
            lambda: self.cluster.get(resources.CONFIGMAPS, name, namespace),
            fallback=failed,
            warn=lambda error: self.warn(
                f"can't read configmap {namespace}/{name} ({error.message}); pods that lost "
                f"their proxy from webhook {webhook.configuration} are not flagged"
            ),
        )
        rules = None if found is failed else rules_from(found)
        if rules is None and found is not failed:
            self.warn(
                f"configmap {namespace}/{name} has an injector config that can't be read; pods "
                f"that lost their proxy from webhook {webhook.configuration} are not flagged"
            )
        self._injector_rules[where] = rules
        return rules

    def _own_rules(self, own_rules, mesh, webhook):
        """own_rules(mesh, webhook), worked out once per webhook; its failure said once."""
        key = (mesh.family, webhook.configuration, webhook.service_namespace)
        if key not in self._injector_rules:
            rules = self._injector_rules[key] = own_rules(mesh, webhook)
            if rules is None:
                self.warn(
                    f"can't read the flags of the injector that webhook {webhook.configuration} "
                    "calls; pods that lost their proxy from it are not flagged"
                )
        return self._injector_rules[key]

    def _ambient_namespace(self, name, namespace):
        """The family whose ambient data plane the namespace's labels ask for, once each."""
        if name not in self._ambient_by_namespace:
            self._ambient_by_namespace[name] = ambient_label({}, namespace.labels)
        return self._ambient_by_namespace[name]

    def _webhooks_for(self, name, namespace, webhooks):
        """injection.selecting() for this namespace, worked out once per namespace."""
        found = self._by_namespace.get(name)
        if found is None:
            found = self._by_namespace[name] = selecting(webhooks, namespace)
        return found

    def _injector_webhooks(self, family):
        """[injection.InjectorWebhook] of the mesh's injector, listed once; [] when they can't
        be read (said once)."""
        if self._webhooks is None:
            self._webhooks = unless_forbidden(
                lambda: injector_webhooks(
                    self.cluster.list_all(resources.MUTATING_WEBHOOKS),
                    registry.injector_webhook_prefixes(family),
                ),
                fallback=[],
                warn=lambda error: self.warn(
                    f"can't list {resources.MUTATING_WEBHOOKS.plural} ({error.message}); "
                    "pods that lost their mesh proxy are not flagged"
                ),
            )
        return self._webhooks

    def _namespaces(self):
        """{name: injection.Namespace} of the namespaces in scope, read once (a list, or a
        get of the one namespace); None when they can't be read (said once)."""
        if self._namespace_index is None:
            self._namespace_index = unless_forbidden(
                self._read_namespaces,
                fallback={},
                warn=lambda error: self.warn(
                    f"can't read namespaces ({error.message}); pods that lost their mesh "
                    "proxy are not flagged"
                ),
            )
        return self._namespace_index or None

    def _read_namespaces(self):
        if self.scope.namespace is None:
            found = self.cluster.list_items(resources.NAMESPACES, metadata_only=True)
        else:
            one = self.cluster.get(resources.NAMESPACES, self.scope.namespace)
            found = [one] if one else []
        index = {}
        for namespace in found:
            index[(namespace.get("metadata") or {}).get("name")] = _namespace_of(namespace)
        return index

    def _namespace(self, name, namespaces):
        """The injection.Namespace of a pod's namespace. One created after the namespaces were
        read (its pods seen by `status -w`, or listed just after) is read with one GET the
        first time a pod without a proxy shows up in it, and remembered, found or not: never
        a read per pod. Its labels are taken as they are then, as the API server took them
        when it admitted the pod (or close to it)."""
        if name in namespaces:
            return namespaces[name]
        found = unless_forbidden(functools.partial(self.cluster.get, resources.NAMESPACES, name))
        namespace = namespaces[name] = _namespace_of(found) if found else None
        return namespace

    def read_new_parents(self, rows):
        """The ReplicaSets and Jobs created since their kind was listed (a rollout's new
        ReplicaSet, seen by `status -w`): one GET each, remembered, so the pods resolve to their
        Deployment or CronJob rather than to the ReplicaSet or Job itself."""
        for row in rows:
            owner = row.owner
            if not owner or owner.kind not in ("ReplicaSet", "Job"):
                continue
            if owner.kind not in self._kinds_read or owner in self._parents:
                continue
            resource = resources.BY_KIND[owner.kind]
            found = unless_forbidden(
                functools.partial(self.cluster.get, resource, owner.name, owner.namespace)
            )
            # An owner without a controller (or gone) resolves to itself: remember that too.
            self._parents[owner] = controllers([found] if found else [], owner.kind).get(
                owner, owner
            )

    def _read_parents(self, owner_kinds):
        """The ReplicaSets and Jobs that own pods, and their controllers."""
        for kind in ("ReplicaSet", "Job"):
            if kind in owner_kinds and kind not in self._kinds_read:
                self._kinds_read.add(kind)
                self._parents.update(self._owner_index(kind))

    def _owner_index(self, kind):
        resource = resources.BY_KIND[kind]
        return unless_forbidden(
            lambda: controllers(
                self.cluster.list_items(resource, self.scope.namespace, metadata_only=True), kind
            ),
            fallback={},
            warn=lambda error: self.warn(
                f"can't list {resource.plural} ({error.message}); "
                f"pods are shown with their {kind} as the workload"
            ),
        )


class _CollectorPause:
    """The cyclic garbage collector off while any listing runs: a fleet lists its contexts in
    threads, and the collector is the process's, so the first listing to end must not turn it
    back on under the others; the last one puts back what it found."""

    def __init__(self):
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    def __enter__(self):
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1

    def __exit__(self, *exc):
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()


# Parsed JSON has no reference cycles, so the cyclic collector only costs time while pods are
# listed: when rows are kept (switch, -o json), each full collection walks all of them, which
# made 50,000 pods 7x slower than 10,000.
collector_paused = _CollectorPause()


def list_pod_rows(cluster, scope, proxy_names=None, assessor=None):
    """Yield every pod in scope as a PodRow; the pod's JSON is dropped as soon as it is read.
    The list's resourceVersion goes to assessor.pods_version: where `status -w` watches from."""
    intern = sys.intern
    with collector_paused:
        try:
            listing = cluster.list_items(resources.PODS, scope.namespace, scope.selector)
            for pod in listing:
                row = classify_pod(pod, proxy_names)
                # Thousands of rows share a few namespaces, nodes and owners: keep one copy.
                row.namespace = intern(row.namespace or "")
                if row.node:
                    row.node = intern(row.node)
                yield row
            if assessor is not None:  # a plain iterator (some test doubles) has no version
                assessor.pods_version = getattr(listing, "resource_version", None)
        except ApiError as error:
            if error.bad_request and scope.selector:
                raise InputError(f'invalid selector "{scope.selector}": {error.message}') from None
            raise


def read_workload_facts(cluster, scope, kinds, warn, into=None):
    """{WorkloadRef: WorkloadFacts} for every Deployment, StatefulSet or DaemonSet of these
    kinds in scope: one list per kind."""
    facts = {} if into is None else into
    for kind in sorted(kinds):
        for (namespace, name), fact in _facts_of_kind(cluster, scope, kind, warn).items():
            facts[WorkloadRef(kind, namespace, name)] = fact
    return facts


def _facts_of_kind(cluster, scope, kind, warn):
    resource = resources.BY_KIND[kind]
    return unless_forbidden(
        lambda: facts_index(cluster.list_items(resource, scope.namespace), kind),
        fallback={},
        warn=lambda error: warn(
            f"can't list {resource.plural} ({error.message}); "
            "paused or OnDelete workloads are not recognised"
        ),
    )


def workload_kinds(rows):
    """The rollout-restartable kinds among these rows' workloads."""
    return {
        row.workload.kind for row in rows if row.workload and row.workload.kind in ROLLOUT_KINDS
    }
