"""What every mesh module builds on: the two Protocols a mesh implements, and the plain values
they pass around (Setting, MeshConfig, ConfigChange).

A mesh module (istio.py, linkerd.py, ...) implements the Protocols with module-level names;
registry.py is the one place that lists the modules. Nothing here knows any mesh.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

from kubectl_sidecar import owners
from kubectl_sidecar.errors import SidecarError

if TYPE_CHECKING:
    from kubectl_sidecar.patches import Patch


class Mode(str, enum.Enum):
    """How a pod runs its proxy, as status shows it: the two a switch moves between, and the
    four it never does. A str, so it compares, hashes, formats and writes to JSON as its
    name; yaml.safe_dump can't write it, so documents hold str(mode)."""

    NATIVE = "native"  # a restartable init container (Kubernetes native sidecars)
    TRADITIONAL = "traditional"  # a regular container beside the app
    INVALID = "invalid"  # an init container that never exits: the pod can't start
    GATEWAY = "gateway"  # the proxy is the workload itself
    # In the mesh without a sidecar: its traffic redirected to a node's proxy (Istio ambient).
    AMBIENT = "ambient"
    NONE = "none"  # no mesh proxy

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def of(cls, native: bool | None) -> Mode | None:
        """The switchable mode a setting's True/False means; None for unknown."""
        if native is None:
            return None
        return cls.NATIVE if native else cls.TRADITIONAL

    @property
    def opposite(self) -> Mode:
        """The other mode a switch moves between."""
        if self not in (Mode.NATIVE, Mode.TRADITIONAL):
            raise ValueError(f"{self} is not a mode a switch moves between")
        return Mode.TRADITIONAL if self is Mode.NATIVE else Mode.NATIVE

    @property
    def annotation(self) -> str:
        """The annotation, flag or env value every mesh here spells this mode with."""
        return "true" if self is Mode.NATIVE else "false"


NATIVE = Mode.NATIVE
TRADITIONAL = Mode.TRADITIONAL

# Go's strconv.ParseBool, which every mesh here reads its boolean annotations and flags with:
# exactly these spellings. It trims nothing, so " true" is an error to Go and None here.
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value: object) -> bool | None:
    """True/False the way Go's strconv.ParseBool reads `value`; None where Go returns an error."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return None


def version_tuple(text: str | None) -> tuple[int, int] | None:
    """(major, minor) from strings like 'v1.33.2-eks-1', '1.27.1', 'istiod-1.24.0'; None if absent."""
    match = re.search(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def mode_value(target: str | None) -> str:
    """Mode.annotation of a target that may be a plain string or None (traditional's)."""
    return "true" if target == NATIVE else "false"


class Unsupported(SidecarError):
    """Asked a mesh for something it can't do, or for a mesh kubectl-sidecar doesn't know."""


class Setting(NamedTuple):
    """A configured choice: native (True), traditional (False) or unknown (None), and why."""

    native: bool | None
    source: str

    @property
    def mode(self) -> Mode | None:
        return Mode.of(self.native)


NO_MESH = "none"
MESH_WIDE = ""  # MeshConfig.owners' key for the owner of the mesh-wide setting


class MeshConfig:
    """The mesh whose config we read, and the settings that decide each pod's mode."""

    # Written out, not a dataclass (as ConfigChange): never compared or printed.
    def __init__(
        self,
        name: str,
        mesh_wide: Setting | None = None,
        revisions: dict[str, Setting] | None = None,
        context: str | None = None,
        warnings: list[str] | None = None,
        native_supported: bool | None = None,
        family: str | None = None,
        payload: object = None,
        none_found: str = "no settings found",
        found: bool = True,
        override_key: str | None = None,
        owners: dict[str, owners.Owner] | None = None,
        owned: dict[str, dict] | None = None,
        argocd_applications: frozenset | None = None,
    ):
        self.name = name  # a control plane's NAME, or NO_MESH
        self.mesh_wide = mesh_wide  # one setting for all pods, where the mesh has one
        # revision -> Setting, where it has several
        self.revisions = {} if revisions is None else revisions
        self.context = context  # the kubeconfig context the config was read from
        self.warnings = [] if warnings is None else warnings
        # False when the running control plane can't inject native at all: then it ignores the
        # pods' override annotations too.
        self.native_supported = native_supported
        self.family = family  # the proxies its pods run (the control plane's FAMILY)
        # what only the mesh's own module reads (e.g. the objects to patch)
        self.payload = payload
        self.none_found = none_found  # the description without any revision read
        # False when --mesh named a mesh whose config isn't on the cluster: its settings are
        # guesses, and a switch must not act on them.
        self.found = found
        # The per-pod mode annotation a switch writes where the running release reads another
        # than its family's first OVERRIDE_ANNOTATIONS (Linkerd before 2.20); None: that one.
        self.override_key = override_key
        # Who owns the object each setting is read from (owners.Owner): revision -> owner, or
        # MESH_WIDE -> owner of the mesh-wide setting's; absent where nobody we know does.
        self.owners = {} if owners is None else owners
        # The metadata of those objects, by the same keys: what owners.detect read, kept so the
        # Argo CD 2.x check (meshread.py) can read it again against the Applications.
        self.owned = {} if owned is None else owned
        # The Argo CD Applications' names once listed for that check (None: not listed), so a
        # switch doesn't list them twice.
        self.argocd_applications = argocd_applications

    def describe(self) -> str:
        """One phrase for the summary line: the mesh, its configured mode and where it came from."""
        if self.name == NO_MESH:
            return self.mesh_wide.source if self.mesh_wide else "no mesh configuration found"
        if self.mesh_wide is not None:
            mode = self.mesh_wide.mode or "unknown"
            return f"{self.name}: {mode} ({self.mesh_wide.source}{self._owned(MESH_WIDE)})"
        parts = [
            f"{rev}={setting.mode or 'unknown'} ({setting.source}{self._owned(rev)})"
            for rev, setting in sorted(self.revisions.items())
        ]
        return f"{self.name}: " + ("; ".join(parts) if parts else self.none_found)

    def _owned(self, key: str) -> str:
        owner = self.owners.get(key)
        return f"; owned by {owner}" if owner is not None else ""


def version_of(obj: dict | None) -> str | None:
    """An object's resourceVersion, None without one."""
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


def no_mesh(reason: str) -> MeshConfig:
    return MeshConfig(name=NO_MESH, mesh_wide=Setting(None, reason))


class ConfigChange:
    """One write to a mesh's configuration. Each control plane subclasses it with its own
    patch and wording; this base knows none and says so."""

    # Written out, not a dataclass, whose generated methods are compiled at every start of every
    # command (BENCHMARKS.md, small cluster): changes are never compared or printed, only built,
    # copied with an owner or a resourceVersion (replaced), and sent.
    def __init__(
        self,
        mesh: str,
        kind: str,
        namespace: str | None,
        name: str,
        old: str,
        new: str,
        context: str | None = None,
        container: str | None = None,
        container_patch: dict | None = None,
        resource_version: str | None = None,
        metadata: dict | None = None,
        owner: owners.Owner | None = None,
    ):
        self.mesh = mesh  # the control plane's NAME
        self.kind = kind  # the object's kind: ASMMeshConfig, Deployment, Namespace, ...
        self.namespace = namespace
        self.name = name
        self.old = old
        self.new = new
        self.context = context
        self.container = container  # the container to patch, where it is a Deployment's
        # A container entry rewritten whole, and the resourceVersion it was read at.
        self.container_patch = container_patch
        self.resource_version = resource_version
        # The object's metadata as read (labels, annotations, ownerReferences): who owns it.
        self.metadata = metadata
        # Who owns the object (owners.Owner), once the switch has looked; None: nobody we know.
        self.owner = owner

    # Where the config lives on another API server than the pods' (--mesh-context).
    on_mesh_instance: ClassVar[bool] = False
    # Whether the control plane reads the setting at start, so it must roll out before it
    # injects the new mode (wait for it before restarting workloads).
    rolls_out: ClassVar[bool] = False
    field_name: ClassVar[str | None] = None  # in the plan: "env ENABLE_NATIVE_SIDECARS"
    done_name: ClassVar[str | None] = None  # in the log once sent: "ENABLE_NATIVE_SIDECARS"
    # The control plane's Helm values key (ControlPlane.HELM_VALUE) where the object renders
    # the setting from it: istiod's env does, a namespace's annotation doesn't (None).
    helm_value: ClassVar[str | None] = None

    # Whether the write goes to the owner's own resource (Sail's Istio CR), which its
    # operator renders into the Deployment that rolls out (rolls_out_as).
    writes_owner: ClassVar[bool] = False

    def patch(self) -> Patch:
        raise Unsupported(f"no config change is known for mesh {self.mesh}")

    def at_version_of(self, current: dict | None) -> ConfigChange | None:
        """This change held to `current`'s resourceVersion, where `current` (the object read
        again after a 409 Conflict) differs from what the change was decided on only outside
        its spec: the same metadata.generation (a Deployment's status moving during a rollout
        or a scale, a label added). None where its spec changed, or there is no generation
        to tell by: the decision was made on what is no longer there."""
        read = (self.metadata or {}).get("generation")
        now = ((current or {}).get("metadata") or {}).get("generation")
        if read is None or read != now:
            return None
        return self.replaced(resource_version=version_of(current))

    def replaced(self, **values: object) -> ConfigChange:
        """A copy of this change (of its own class) with `values` for some of its attributes."""
        import copy  # a switch's alone

        changed = copy.copy(self)
        vars(changed).update(values)
        return changed

    def rolls_out_as(self) -> tuple[str, str]:
        """(namespace, name) of the Deployment that rolls out with the change (rolls_out)."""
        return self.namespace or "", self.name

    def rendered(self, deployment: dict) -> bool:
        """Whether that Deployment carries the change yet: at once for a Deployment we patch,
        once its operator has rendered it where writes_owner."""
        return True

    def undo(self, current: dict | None) -> Patch:
        """The patch that puts back what this change replaced (a switch whose mesh still
        injects the old mode stops so); current is the object as read just before, whose
        resourceVersion the patch is held to: changed since by anyone, the server answers
        409 Conflict."""
        raise Unsupported(f"putting back {self.describe()} by itself is not known")

    @property
    def previous(self) -> str | None:
        """The value this change replaced as it was written; None where it was unset. (old
        may say the mode it meant after it: "auto (native)".)"""
        value = self.old.split(" (", 1)[0]
        return None if value == "unset" else value

    def caveat(self) -> str | None:
        """What the user must also do for the change to last, or None: in its owner's terms
        where the object has one."""
        if self.owner is None:
            return None
        return owners.in_owner_terms(self.owner, self.helm_value, self.new, self.describe_field())

    def describe_field(self) -> str:
        """What the switch sets on the object: "env ENABLE_NATIVE_SIDECARS"."""
        return self._named(self.field_name)

    def describe_done(self) -> str:
        """The log line once the patch is sent."""
        change = f"{self._named(self.done_name)}: {self.old} -> {self.new}"
        caveat = self.caveat()
        if caveat:
            change += f"; {caveat}"
        return f"{self.patch().ref} patched ({change})"

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        on = f" on context {self.context}" if self.context else ""
        return f"{self.kind} {where}{on}: {self._named(self.field_name)} {self.old} -> {self.new}"

    def _named(self, name: str | None) -> str:
        if name is None:
            raise Unsupported(f"no config change is known for mesh {self.mesh}")
        return name


# A predicate on a candidate proxy container: (container, pod metadata, init containers) ->
# whether the mesh left its mark, for names too generic to trust alone.
Check = Callable[[dict, dict, list], bool]


class ProxyFamily(Protocol):
    """How to tell a mesh's proxy in a pod, and what its injector writes there. Implemented by
    a mesh module with these module-level names (istio.py, linkerd.py, kuma.py, ...)."""

    FAMILY: str  # e.g. "istio"; shown as the pod's family
    TITLE: str  # in messages: "Istio"
    # Proxy container name -> None when the name alone tells, else a Check. Helper init
    # containers and helper sidecars are absent: they are not the proxy.
    PROXIES: dict[str, Check | None]
    PROXY_PREFIXES: dict[str, Check]  # name prefixes that are a proxy where Check says so
    OVERRIDE_ANNOTATIONS: tuple[str, ...]  # per-pod mode annotations, in the order it reads them
    COPIES_NAMESPACE_MODE: bool  # the injector copies the namespace's mode annotation onto pods
    INJECTOR_WEBHOOKS: tuple[str, ...]  # name prefixes of its own mutating webhooks

    def is_gateway(self, metadata: dict, proxies: list) -> bool:
        """The pod is the proxy itself (an ingress/egress gateway), not a sidecar."""

    def revision(self, metadata: dict) -> str | None:
        """The control plane revision or proxy version that injected the pod."""

    def injector_hook(self, container: dict, hook: str, command: list) -> bool:
        """Whether `command` in the proxy's lifecycle `hook` is what the injector writes."""

    def lifecycle_settings(self, annotations: dict) -> bool:
        """The pod sets proxy startup/shutdown settings that native mode ignores."""

    # Optional, so not declared here: `fixed_setting(metadata) -> Setting | None`, the mode its
    # injector gives a pod whatever the config or the pod's override says (Istio's injection
    # templates without a native form). Where a module defines it, status and switch obey it.
    # Also optional: `AMBIENT_MARK = (annotation, value)`, the mark a pod in the mesh without a
    # sidecar carries (Istio ambient), and `AMBIENT_LABEL = (label, value)`, the pod's or its
    # namespace's label that asks for it, and `AMBIENT_AGENT`, what redirects such pods.
    # And `injects(labels, annotations, host_network, namespace_name, namespace) -> bool | None`
    # (injection.Injects): whether its injector, once its webhook calls it, gives a pod a proxy;
    # where a module defines it, status flags the pods without one as having lost the mesh.
    # A mesh whose injector reads per-pod rules from its own config also defines
    # `injector_config_map(revision, service_namespace) -> (namespace, name)` and
    # `injector_policy(config_map or None) -> rules | None`; status reads that ConfigMap once
    # per revision and hands the rules to `injects` as a sixth argument (Istio's policy,
    # neverInjectSelector, alwaysInjectSelector). One whose injector reads them from flags its
    # own read already holds instead defines `injector_rules(config, webhook) -> rules | None`
    # (config: its MeshConfig; no further read), handed to `injects` the same way (Consul's
    # -default-inject and -allow/-deny-k8s-namespace).


class ControlPlane(Protocol):
    """Reading a mesh's config and switching it. Implemented by a mesh module with these
    module-level names (asm.py, istio.py, ...); a mesh without one sets CANT_SWITCH instead."""

    NAME: str  # its --mesh value and MeshConfig.name
    TITLE: str  # in messages: "Istio"
    FAMILY: str  # the proxies its pods run; several control planes may share one
    CONFIG_OBJECTS: str  # what decides its mode, for "no mesh configuration found (...)"
    CONFIG_ON_MESH_INSTANCE: bool  # the config lives on another API server (--mesh-context)
    # The key in its Helm chart's values that sets the mode (istiod's
    # `pilot.env.ENABLE_NATIVE_SIDECARS`); None where no chart renders it. Also the key under
    # an IstioOperator's or Istio CR's spec.values, and in a GitOps tool's HelmRelease values.
    HELM_VALUE: str | None

    def read(self, cluster, mesh_cluster, quiet: bool = False) -> MeshConfig | None:
        """Its MeshConfig; None when quiet and it isn't installed. Raises ApiError."""

    def setting_for(self, row, config: MeshConfig) -> Setting:
        """What it injects into a pod of its own family now."""

    def config_changes(self, config: MeshConfig, target: str, rows: list) -> list[ConfigChange]:
        """The writes that make it inject `target` from now on (none if it already does)."""

    def desired_after_switch(self, config: MeshConfig, changes: list, target: str) -> Callable:
        """row -> the mode it will inject into that row's pod once `changes` are made."""

    def control_plane_problems(self, config: MeshConfig, target: str) -> list:
        """[(problem, forceable)] that stop it from injecting `target` once switched."""

    def override_ignored(self, config: MeshConfig, target: str) -> str | None:
        """Why it would ignore a pod-template annotation asking for `target`, or None."""

    def lease_namespace(self, config: MeshConfig) -> str:
        """Where a run's Lease lives (lease.py): beside its config, on the API server that
        holds it, in a namespace every install of it has."""

    # Optional, so not declared here: `operator_change(change, cluster) -> ConfigChange | None`,
    # the change in an operator's own resource where that operator renders the object (Sail's
    # Istio CR for istiod: owners.Treatment.OPERATOR), read through the cluster handed in;
    # without one, or where it returns None, the switch refuses such an object.


# --- defaults a mesh module may take for its own ---------------------------------------------


def override_or(row, setting):
    """The pod's own mode annotation where it has one (row.override), else `setting`."""
    if row.override is not None:
        return Setting(row.override, f"pod annotation {row.override_annotation}")
    return setting


def pinned_or_target(config, changes, target):
    """After a switch: a pod whose workload pins a mode keeps it; every other gets `target`."""

    def desired(row):
        return Mode.of(row.override) if row.override is not None else target

    return desired


def no_problems(config, target):
    return []


def never_ignored(config, target):
    return None


def not_a_gateway(metadata, proxies):
    return False


def no_revision(metadata):
    return None


def no_lifecycle_settings(annotations):
    return False
