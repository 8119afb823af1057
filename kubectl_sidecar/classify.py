"""Which mesh proxy a pod runs, and how: pure functions over the pod's JSON.

A pod dict goes in, a compact PodRow comes out; rows are what every other step works on,
so a 50,000-pod listing never keeps the pods themselves.
"""

import functools
import json
import re
from dataclasses import dataclass, field

NATIVE = "native"
TRADITIONAL = "traditional"
NONE = "none"
GATEWAY = "gateway"
INVALID = "invalid"
MODES = (NATIVE, TRADITIONAL, INVALID, GATEWAY, NONE)

# Proxy container name -> mesh family. Helper init containers (istio-init, linkerd-init,
# kuma-init, consul-connect-inject-init, ...) and helper sidecars (Consul's consul-sidecar,
# App Mesh's xray-daemon) are deliberately absent: they are not the proxy.
KNOWN_PROXIES = {
    "istio-proxy": "istio",
    "linkerd-proxy": "linkerd",
    "kuma-sidecar": "kuma",
    "consul-dataplane": "consul",
    "envoy": "envoy",
    # consul-k8s before 1.0 (0.24-0.49) and before 0.24: Envoy ran beside a consul-sidecar
    # (consul-connect-lifecycle-sidecar), which never counts.
    "envoy-sidecar": "consul",
    "consul-connect-envoy-sidecar": "consul",
}

# Names too generic to trust alone: they count only where the mesh left its mark. The rest of
# KNOWN_PROXIES are distinctive enough to count wherever they appear.
_NAMES_NEEDING_CONSUL_MARK = frozenset({"envoy-sidecar", "consul-connect-envoy-sidecar"})

# consul-k8s marks every pod it injects (annotation and label alike) with this; pre-1.0 too.
CONSUL_INJECT_STATUS = "consul.hashicorp.com/connect-inject-status"
# consul-k8s multi-port pods get one proxy per service, named `<proxy>-<service>`.
_CONSUL_MULTIPORT_PREFIXES = ("consul-dataplane-", "envoy-sidecar-")

# Per-pod annotations a mesh reads to choose the mode for that pod, by family.
OVERRIDE_ANNOTATIONS = {
    "istio": ("sidecar.istio.io/nativeSidecar",),
    "linkerd": (
        "config.linkerd.io/proxy-enable-native-sidecar",
        "config.beta.linkerd.io/proxy-enable-native-sidecar",
        "config.alpha.linkerd.io/proxy-enable-native-sidecar",
    ),
    "consul": ("consul.hashicorp.com/enable-consul-dataplane-as-sidecar",),
}

# "envoy" is also the main container of Contour, Envoy Gateway and others; it is a mesh
# sidecar only where a mesh left its mark: App Mesh's APPMESH_* environment on the container
# itself, or one of these on the pod.
_APPMESH_ENV_PREFIX = "APPMESH_"
# App Mesh names the Envoy's resource here: mesh/<mesh>/virtualNode/<node> for a sidecar,
# mesh/<mesh>/virtualGateway/<gateway> where Envoy is the gateway itself.
_APPMESH_RESOURCE_ENV = ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME")
_ENVOY_MESH_INIT_CONTAINERS = {"osm-init", "proxyinit"}
_ENVOY_MESH_LABELS = ("osm-proxy-uuid",)
_ENVOY_MESH_ANNOTATION_PREFIXES = ("appmesh.k8s.aws/", "openservicemesh.io/")
# The controller's preStop script, `sleep %s` of its --prestop-delay flag (default "20").
_APPMESH_PRESTOP = re.compile(r"sleep [0-9.]+[smhd]?")

ISTIO_GATEWAY_LABELS = {"ingressgateway", "egressgateway", "eastwestgateway"}


@dataclass(slots=True)
class PodRow:
    """What kubectl-sidecar keeps of one pod."""

    namespace: str
    name: str
    mode: str
    proxy: str = None
    family: str = None
    owner: tuple = None  # (kind, name) of the controlling owner, as the pod names it
    workload: tuple = None  # (kind, name) after resolving ReplicaSets and Jobs
    revision: str = None
    # The workload's own native/traditional annotation, if any: the pod's as classified, which
    # the status Assessor replaces with the pod template's where the mesh copies namespace
    # annotations onto pods (Linkerd), so that a copy is not taken for the workload's own.
    override: bool = None
    override_annotation: str = None
    mode_annotations: tuple = None  # ((key, value), ...) of the family's mode annotations, in order
    node: str = None
    created: str = None
    phase: str = None
    problems: list = field(default_factory=list)
    stuck_job: bool = False  # a Job pod kept alive by its proxy after the app finished
    terminating: bool = False  # being deleted: on its way out whatever its mode
    lifecycle_settings: bool = False  # proxy startup/shutdown settings native mode ignores
    # Filled in by actions.assess once the mesh config and owners are known.
    desired: str = None
    desired_reason: str = None
    remedy: "Remedy" = None  # noqa: F821 - actions.Remedy; actions imports this module

    @property
    def needs_restart(self):
        """Something must be done to this pod to bring it to its desired mode."""
        return self.remedy is not None and self.remedy.needs_action


# Go's strconv.ParseBool, which every mesh here reads its boolean annotations and flags with:
# exactly these spellings. It trims nothing, so " true" is an error to Go and None here.
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value):
    """True/False the way Go's strconv.ParseBool reads `value`; None where Go returns an error."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return None


def controller_of(metadata):
    """(kind, name) of the owner reference marked controller, or None."""
    for ref in metadata.get("ownerReferences") or ():
        if ref.get("controller"):
            return (ref.get("kind"), ref.get("name"))
    return None


def _has_appmesh_env(container):
    return any(
        (env.get("name") or "").startswith(_APPMESH_ENV_PREFIX)
        for env in container.get("env") or ()
    )


def _is_appmesh_gateway_envoy(container):
    for env in container.get("env") or ():
        name, value = env.get("name"), env.get("value") or ""
        if name in _APPMESH_RESOURCE_ENV and "/virtualGateway/" in value:
            return True
    return False


def _has_consul_mark(metadata):
    annotations = metadata.get("annotations") or {}
    if annotations.get(CONSUL_INJECT_STATUS) == "injected":
        return True
    return (metadata.get("labels") or {}).get(CONSUL_INJECT_STATUS) == "injected"


def _has_envoy_mesh_marks(metadata, init_containers):
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    return (
        any(c.get("name") in _ENVOY_MESH_INIT_CONTAINERS for c in init_containers)
        or any(label in labels for label in _ENVOY_MESH_LABELS)
        or any(key.startswith(_ENVOY_MESH_ANNOTATION_PREFIXES) for key in annotations)
    )


def find_proxy(pod, proxy_names=None):
    """(proxy container name, family, mode) for a pod; (None, None, "none") without a proxy.

    proxy_names maps extra container names (from --proxy-name) to a family.
    """
    proxy_names = proxy_names or {}
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    init_containers = spec.get("initContainers") or ()
    containers = spec.get("containers") or ()
    # Looked up at most once, and only for pods with a container name that needs it: this runs
    # for every pod of `status -A`, where most containers are apps settled by one dict lookup.
    consul_marked = None

    def has_consul_mark():
        nonlocal consul_marked
        if consul_marked is None:
            consul_marked = _has_consul_mark(metadata)
        return consul_marked

    def family_of(container):
        """The container's mesh family if it is a proxy, else None."""
        name = container.get("name")
        if name in proxy_names:
            return proxy_names[name]
        family = KNOWN_PROXIES.get(name)
        if family is None:
            if name and name.startswith(_CONSUL_MULTIPORT_PREFIXES) and has_consul_mark():
                return "consul"
            return None
        if family == "envoy":
            if _has_appmesh_env(container) or _has_envoy_mesh_marks(metadata, init_containers):
                return family
            return None
        if name in _NAMES_NEEDING_CONSUL_MARK and not has_consul_mark():
            return None
        return family

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
    labels = metadata.get("labels") or {}
    if labels.get("istio") in ISTIO_GATEWAY_LABELS or "gateway.istio.io/managed" in labels:
        return True
    # App Mesh leaves a virtual gateway's own envoy container in place (an xray-daemon may
    # run beside it) and names the gateway in its environment.
    if any(proxy.get("name") == "envoy" and _is_appmesh_gateway_envoy(proxy) for proxy in proxies):
        return True
    # Istio starts a gateway's proxy as `pilot-agent proxy router`, a sidecar as `proxy sidecar`.
    return any("router" in (proxy.get("args") or ()) for proxy in proxies)


def _revision(family, metadata):
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if family == "istio":
        if labels.get("istio.io/rev"):
            return labels["istio.io/rev"]
        status = annotations.get("sidecar.istio.io/status")
        return _status_revision(status) if status else None
    if family == "linkerd":
        return annotations.get("linkerd.io/proxy-version")
    return None


@functools.lru_cache(maxsize=1024)
def _status_revision(status):
    """The revision in Istio's status annotation; pods of one template share the same text."""
    try:
        return json.loads(status).get("revision") or None
    except (ValueError, AttributeError):
        return None


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


# Settings that do nothing once the proxy is a native sidecar (Kubernetes orders start/stop).
LIFECYCLE_SETTINGS = (
    "holdApplicationUntilProxyStarts",
    "terminationDrainDuration",
    "EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
    "MINIMUM_DRAIN_DURATION",
)


def _has_lifecycle_settings(pod, proxy, family):
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    proxy_config = annotations.get("proxy.istio.io/config", "")
    if any(setting in proxy_config for setting in LIFECYCLE_SETTINGS):
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
    for hook, handler in (container.get("lifecycle") or {}).items():
        command = ((handler or {}).get("exec") or {}).get("command") or []
        if not command or not _mesh_hook(family, container, hook, command):
            return True
    return False


def _mesh_hook(family, container, hook, command):
    """Whether `command` in the proxy's `hook` is what the family's injector writes there."""
    if family == "istio":
        # `pilot-agent wait` after start when holding the app, `pilot-agent request POST
        # drain` before stop.
        return command[0] == "pilot-agent"
    if family == "linkerd":
        # charts/partials/templates/_proxy.tpl: with proxy.await (the default) and only in
        # traditional mode. Its other hook, preStop `/bin/sleep N`, renders a setting the user
        # chose (proxy.waitBeforeExitSeconds) that native mode drops: that one still counts.
        return hook == "postStart" and command[0] == "/usr/lib/linkerd/linkerd-await"
    if family == "kuma":
        # pkg/plugins/runtime/k8s: `kuma-dp wait` after start (waitForDataplaneReady), and in
        # native mode the injector's own preStop.
        if hook == "postStart":
            return command[:2] == ["kuma-dp", "wait"]
        return hook == "preStop" and command == ["killall", "-USR2", "kuma-dp"]
    if family == "envoy" and _has_appmesh_env(container):
        # aws-app-mesh-controller-for-k8s pkg/inject/sidecar_builder.go: preStop
        # `sh -c "sleep <prestop-delay>"` on every envoy, and with WaitUntilProxyReady a
        # postStart script that runs `/usr/bin/agent -envoyReadiness`.
        if command[:2] != ["sh", "-c"] or len(command) != 3:
            return False
        if hook == "preStop":
            return _APPMESH_PRESTOP.fullmatch(command[2]) is not None
        return hook == "postStart" and "/usr/bin/agent -envoyReadiness" in command[2]
    return False


def _stuck_job_problem(pod, proxy, mode, owner):
    """A Job pod whose app containers finished while a traditional proxy keeps it running."""
    if mode != TRADITIONAL or not owner or owner[0] != "Job":
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


def classify_pod(pod, proxy_names=None):
    """Reduce one pod (its API JSON as a dict) to a PodRow."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    proxy, family, mode = find_proxy(pod, proxy_names)
    owner = controller_of(metadata)
    own = mode_annotations_of(family, metadata.get("annotations") or {})
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
    )
    if mode == INVALID:
        row.problems.append(
            f"{proxy} is an init container without restartPolicy: Always; the pod can't start"
        )
    stuck = _stuck_job_problem(pod, proxy, mode, owner)
    if stuck:
        row.stuck_job = True
        row.problems.append(stuck)
    return row
