"""Which mesh proxy a pod runs, and how: pure functions over the pod's JSON.

A pod dict goes in, a compact PodRow comes out; rows are what every other step works on,
so a 50,000-pod listing never keeps the pods themselves.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import Mode, Setting, parse_bool
from kubectl_sidecar.refs import WorkloadRef

NATIVE = Mode.NATIVE
TRADITIONAL = Mode.TRADITIONAL
NONE = Mode.NONE
GATEWAY = Mode.GATEWAY
INVALID = Mode.INVALID
AMBIENT = Mode.AMBIENT
MODES = tuple(Mode)  # in the order summaries count them

# Per-pod annotations a mesh reads to choose the mode for that pod, by family.
OVERRIDE_ANNOTATIONS = registry.OVERRIDE_ANNOTATIONS
# Looked up for every container of every pod: bound here once.
_PROXIES = registry.PROXIES
_PROXY_PREFIXES = registry.PROXY_PREFIXES
_PREFIXES = registry.PREFIXES
_family = registry.family
_AMBIENT_MARKS = registry.AMBIENT_MARKS
_AMBIENT_LABELS = registry.AMBIENT_LABELS
# Checked on every pod: one C-level set test settles the common pod, which has neither.
_AMBIENT_ANNOTATION_KEYS = frozenset(key for key, _, _ in _AMBIENT_MARKS)
_AMBIENT_LABEL_KEYS = frozenset(key for key, _, _ in _AMBIENT_LABELS)

# PodRow.ambient: how a pod stands with a mesh's sidecar-less data plane (Istio ambient).
REDIRECTED = "redirected"  # in it: mode ambient
SIDECAR_WINS = "sidecar wins"  # enrolled too, but its sidecar carries its traffic
NOT_REDIRECTED = "not redirected"  # asked for it (its or its namespace's label), not in it

if TYPE_CHECKING:
    from kubectl_sidecar.actions import Remedy  # actions imports this module


# Written out rather than a dataclass: a dataclass's generated methods are compiled at every
# start of every command (BENCHMARKS.md, small cluster), and rows are never compared or printed.
class PodRow:
    """What kubectl-sidecar keeps of one pod."""

    __slots__ = (
        "namespace",
        "name",
        "mode",
        "proxy",
        "family",
        "owner",
        "workload",
        "revision",
        "override",
        "override_annotation",
        "mode_annotations",
        "node",
        "created",
        "phase",
        "terminating",
        "lifecycle_settings",
        "fixed",
        "problems",
        "stuck_job",
        "ambient",
        "injection_facts",
        "lost",
        "model",
        "desired",
        "desired_reason",
        "remedy",
    )

    def __init__(
        self,
        namespace: str,
        name: str,
        mode: Mode,
        proxy: str | None = None,
        family: str | None = None,
        owner: WorkloadRef | None = None,
        workload: WorkloadRef | None = None,
        revision: str | None = None,
        override: bool | None = None,
        override_annotation: str | None = None,
        mode_annotations: tuple[tuple[str, str], ...] | None = None,
        node: str | None = None,
        created: str | None = None,
        phase: str | None = None,
        terminating: bool = False,
        lifecycle_settings: bool = False,
        fixed: Setting | None = None,
    ):
        self.namespace = namespace
        self.name = name
        self.mode = mode
        self.proxy = proxy
        self.family = family
        self.owner = owner  # the controlling owner, as named
        self.workload = workload  # the owner after resolving ReplicaSets and Jobs
        self.revision = revision
        # The workload's own native/traditional annotation, if any: the pod's as classified,
        # which the status Assessor replaces with the pod template's where the mesh copies
        # namespace annotations onto pods (Linkerd), so that a copy is not taken for the
        # workload's own.
        self.override = override
        self.override_annotation = override_annotation
        # ((key, value), ...) of the family's mode annotations, in order
        self.mode_annotations = mode_annotations
        self.node = node
        self.created = created
        self.phase = phase
        self.terminating = terminating  # being deleted: on its way out whatever its mode
        # proxy startup/shutdown settings native mode ignores
        self.lifecycle_settings = lifecycle_settings
        # The mode the mesh's injector gives this pod whatever its config says (an Istio
        # injection template without a native form), and why; None for most pods.
        self.fixed = fixed
        self.problems: list[str] = []
        self.stuck_job = False  # a Job pod kept alive by its proxy after the app finished
        self.ambient: str | None = None  # REDIRECTED, SIDECAR_WINS, NOT_REDIRECTED or None
        # A pod without a proxy: (labels, annotations, hostNetwork), what decides whether the
        # mesh's injector would give it one; dropped once the row is assessed.
        self.injection_facts: tuple[dict, dict, bool] | None = None
        # Why a pod without a proxy should have one (its injector's webhook selects it): it
        # lost the mesh, and a restart puts it back. Set by status.Assessor.
        self.lost: str | None = None
        # status --probe: the mesh config's Setting for this pod, where admission (a dry-run
        # create of its workload's pod) decided its desired mode instead; None for most rows.
        self.model: Setting | None = None
        # Filled in by actions.assess once the mesh config and owners are known.
        self.desired: Mode | None = None
        self.desired_reason: str | None = None
        self.remedy: Remedy | None = None

    @property
    def needs_restart(self):
        """Something must be done to this pod to bring it to its desired mode."""
        return self.remedy is not None and self.remedy.needs_action


def controller_of(metadata: dict) -> WorkloadRef | None:
    """The owner reference marked controller, or None."""
    for ref in metadata.get("ownerReferences") or ():
        if ref.get("controller"):
            # Interned: one copy of the namespace for its thousands of pods' owners.
            namespace = sys.intern(metadata.get("namespace") or "")
            return WorkloadRef(ref.get("kind"), namespace, ref.get("name"))
    return None


def find_proxy(pod, proxy_names=None):
    """(proxy container name, family, mode) for a pod; (None, None, "none") without a proxy.

    proxy_names maps extra container names (from --proxy-name) to a family.
    """
    proxy_names = proxy_names or {}
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    init_containers = spec.get("initContainers") or []
    containers = spec.get("containers") or ()

    def family_of(container):
        """The container's mesh family if it is a proxy, else None."""
        name = container.get("name")
        if name in proxy_names:
            return proxy_names[name]
        # Runs for every container of every pod of `status -A`: most are apps, settled by
        # this one dict lookup.
        known = _PROXIES.get(name)
        if known is None:
            if name and name.startswith(_PREFIXES):
                for prefix, family, check in _PROXY_PREFIXES:
                    if name.startswith(prefix) and check(container, metadata, init_containers):
                        return family
            return None
        family, check = known
        if check is None or check(container, metadata, init_containers):
            return family
        return None

    def proxies_among(candidates):
        found = []
        for container in candidates:
            family = family_of(container)
            if family:
                found.append((container, family))
        return found

    in_init = proxies_among(init_containers)
    in_main = proxies_among(containers)

    # A restartable init proxy is what runs first and for the pod's life; an init proxy
    # without restartPolicy: Always never exits, so the pod can't start: report that.
    for container, family in in_init:
        if container.get("restartPolicy") == "Always":
            return container["name"], family, NATIVE
    if in_init:
        container, family = in_init[0]
        return container["name"], family, INVALID
    if in_main:
        container, family = in_main[0]
        proxies = [c for c, _ in in_main]
        mode = GATEWAY if _is_gateway(metadata, containers, proxies) else TRADITIONAL
        return container["name"], family, mode
    return None, None, NONE


def _is_gateway(metadata, containers, proxies):
    """A pod whose workload is the proxy itself (ingress/egress gateways), not a sidecar."""
    if len(proxies) == len(containers):
        return True
    return registry.is_gateway(metadata, proxies)


def _revision(family, metadata):
    if family is None:
        return None
    known = _family(family)
    return known.revision(metadata) if known is not None else None


def mode_annotations_of(family, annotations):
    """((key, value), ...) of the family's mode annotations present, in OVERRIDE_ANNOTATIONS
    order; None when there are none (most pods: no tuple kept per row)."""
    found = tuple(
        (key, annotations[key])
        for key in OVERRIDE_ANNOTATIONS.get(family, ())
        if key in annotations
    )
    return found or None


def override_of(pairs):
    """(native or None, key) from mode_annotations_of(): the first key present decides, as every
    mesh here reads them; a value Go can't parse is None. (None, None) without one."""
    for key, value in pairs or ():
        return parse_bool(value), key
    return None, None


def _has_lifecycle_settings(pod, proxy, family):
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if registry.lifecycle_settings(annotations):
        return True
    spec = pod.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if container.get("name") == proxy and _custom_lifecycle(container, family):
            return True
    return False


def _custom_lifecycle(container, family):
    """A proxy lifecycle hook other than the mesh's own: those the injector writes follow the
    mode it chooses (it leaves them out, or writes the native ones, in native mode); a user's
    own hook does not. An empty or non-exec handler is the user's."""
    known = _family(family)
    for hook, handler in (container.get("lifecycle") or {}).items():
        command = ((handler or {}).get("exec") or {}).get("command") or []
        if not command or known is None or not known.injector_hook(container, hook, command):
            return True
    return False


def _stuck_job_problem(pod, proxy, mode, owner):
    """A Job pod whose app containers finished while a traditional proxy keeps it running."""
    if mode != TRADITIONAL or not owner or owner.kind != "Job":
        return None
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    apps = [s for s in statuses if s.get("name") != proxy]
    proxy_status = [s for s in statuses if s.get("name") == proxy]
    if not apps or not proxy_status:
        return None
    if all("terminated" in (s.get("state") or {}) for s in apps) and "running" in (
        proxy_status[0].get("state") or {}
    ):
        return "job app exited; traditional proxy keeps the pod running"
    return None


def ambient_label(labels, namespace_labels=None):
    """The family whose sidecar-less data plane the pod's labels, else its namespace's, ask
    for; None. The pod's own label decides over its namespace's, as istio-cni reads them."""
    for key, value, family in _AMBIENT_LABELS:
        own = labels.get(key)
        if own is not None:
            if own == value:
                return family
        elif namespace_labels and namespace_labels.get(key) == value:
            return family
    return None


def not_redirected(row, family):
    """Mark a pod without a proxy whose labels ask for `family`'s ambient data plane."""
    row.ambient = NOT_REDIRECTED
    row.family = family
    agent = getattr(_family(family), "AMBIENT_AGENT", "the mesh's CNI agent")
    row.problems.append(f"labelled for ambient but not redirected: is {agent} running?")


def _ambient(row, annotations, labels):
    """Ambient mode, or the pod's ambient state beside its sidecar (which wins)."""
    for key, value, family in _AMBIENT_MARKS:
        if annotations.get(key) == value:
            if row.mode is NONE:
                row.mode, row.family, row.ambient = AMBIENT, family, REDIRECTED
            else:
                row.ambient = SIDECAR_WINS
            return
    family = ambient_label(labels)
    if family is None:
        return
    if row.mode is NONE:
        not_redirected(row, family)
    else:
        row.ambient = SIDECAR_WINS


def classify_pod(pod: dict, proxy_names: dict[str, str] | None = None) -> PodRow:
    """Reduce one pod (its API JSON as a dict) to a PodRow."""
    metadata: Any = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    proxy, family, mode = find_proxy(pod, proxy_names)
    owner = controller_of(metadata)
    annotations = metadata.get("annotations") or {}
    own = mode_annotations_of(family, annotations)
    override, override_annotation = override_of(own)
    row = PodRow(
        namespace=metadata.get("namespace"),
        name=metadata.get("name"),
        mode=mode,
        proxy=proxy,
        family=family,
        owner=owner,
        workload=owner,
        revision=_revision(family, metadata),
        override=override,
        override_annotation=override_annotation,
        mode_annotations=own,
        node=spec.get("nodeName"),
        created=metadata.get("creationTimestamp"),
        phase=status.get("phase"),
        terminating=bool(metadata.get("deletionTimestamp")),
        lifecycle_settings=bool(proxy) and _has_lifecycle_settings(pod, proxy, family),
        fixed=registry.fixed_setting(family, metadata) if proxy else None,
    )
    if mode == INVALID:
        row.problems.append(
            f"{proxy} is an init container without restartPolicy: Always; the pod can't start"
        )
    stuck = _stuck_job_problem(pod, proxy, mode, owner)
    if stuck:
        row.stuck_job = True
        row.problems.append(stuck)
    labels = metadata.get("labels") or {}
    if not (
        _AMBIENT_ANNOTATION_KEYS.isdisjoint(annotations) and _AMBIENT_LABEL_KEYS.isdisjoint(labels)
    ):
        _ambient(row, annotations, labels)
    if row.mode is NONE:
        row.injection_facts = (
            labels,
            annotations,
            bool(spec.get("hostNetwork")),
        )
    return row
