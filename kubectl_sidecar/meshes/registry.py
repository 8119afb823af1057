"""Every mesh kubectl-sidecar knows, in one place: the one module that names them.

The rest of the package asks here: classify for whose proxy a container is, meshread for the
detection order, plan and preflight for a control plane's switch, cli for --mesh's choices.
Adding a mesh is one module in this package and one line below (README: "Adding a mesh").
"""

from collections import Counter

from kubectl_sidecar.meshes import appmesh, asm, base, consul, istio, kuma, linkerd
from kubectl_sidecar.meshes.base import NO_MESH, ControlPlane, ProxyFamily, Unsupported

# The meshes whose config kubectl-sidecar reads and switches, in auto-detection order: ASM
# before Istio, whose proxies it runs (an ASM data plane may keep an istiod too); Kuma last,
# so that a cluster whose pods show no mesh reads the others as it always has (detection_order
# puts Kuma first where most pods run its proxy).
CONTROL_PLANES: tuple[ControlPlane, ...] = (asm, istio, linkerd, consul, kuma)
# The meshes whose proxies kubectl-sidecar tells apart in a pod. Their order is the order
# of OVERRIDE_ANNOTATIONS below, which status and switch keep.
FAMILIES: tuple[ProxyFamily, ...] = (istio, linkerd, kuma, consul, appmesh)

CHOICES = tuple(plane.NAME for plane in CONTROL_PLANES)  # --mesh, besides "auto"
_CONTROL_PLANES = {plane.NAME: plane for plane in CONTROL_PLANES}
_FAMILIES = {family.FAMILY: family for family in FAMILIES}
# A mesh the tool classifies but can't switch: why, said where a switch would need it.
_CANT_SWITCH = {
    # Only a family without a ControlPlane has CANT_SWITCH: the Protocols can't say "either".
    family.FAMILY: f"{family.TITLE}: {family.CANT_SWITCH}"  # type: ignore[attr-defined]
    for family in FAMILIES
    if family.FAMILY not in {plane.FAMILY for plane in CONTROL_PLANES}
}


def _proxy_names():
    names = {}
    for family in FAMILIES:
        for name, check in family.PROXIES.items():
            if name in names:
                raise ValueError(f"{name} is the proxy of two meshes")
            names[name] = (family.FAMILY, check)
    return names


# Container name -> (family, None or a Check on the pod): one dict lookup settles the common
# case, a container that is no proxy.
PROXIES = _proxy_names()
PROXY_PREFIXES = tuple(
    (prefix, family.FAMILY, check)
    for family in FAMILIES
    for prefix, check in family.PROXY_PREFIXES.items()
)
PREFIXES = tuple(prefix for prefix, _, _ in PROXY_PREFIXES)
# family -> its per-pod mode annotations, in the order it reads them.
OVERRIDE_ANNOTATIONS = {
    family.FAMILY: family.OVERRIDE_ANNOTATIONS for family in FAMILIES if family.OVERRIDE_ANNOTATIONS
}
COPIES_NAMESPACE_MODE = frozenset(f.FAMILY for f in FAMILIES if f.COPIES_NAMESPACE_MODE)
INJECTOR_WEBHOOKS = tuple(prefix for f in FAMILIES for prefix in f.INJECTOR_WEBHOOKS)


def control_plane(name):
    """The control plane named `name` (a --mesh value, a MeshConfig's or ConfigChange's
    name); Unsupported for a mesh it can't switch or doesn't know."""
    plane = _CONTROL_PLANES.get(name)
    if plane is not None:
        return plane
    if name in _CANT_SWITCH:
        raise Unsupported(_CANT_SWITCH[name])
    if name == NO_MESH:
        raise Unsupported("no mesh configuration was read: name the mesh with --mesh")
    raise Unsupported(f'unknown mesh "{name}": one of {", ".join(CHOICES)}')


def family(name):
    """The ProxyFamily of `name`, or None for one it doesn't know (a --proxy-name's)."""
    return _FAMILIES.get(name)


def detection_order(families):
    """Control planes in the order auto-detection reads them. families: Counter of the pods'
    proxy families. The control plane of the family most pods run goes first, so that an
    ASMMeshConfig or istiod left over in a cluster whose pods run another mesh doesn't decide
    their mode; a family several control planes share (ASM's and Istio's) keeps the order."""
    order = list(CONTROL_PLANES)
    most = Counter(families).most_common(1)
    if most:
        owners = [plane for plane in order if plane.FAMILY == most[0][0]]
        if len(owners) == 1:
            order.remove(owners[0])
            order.insert(0, owners[0])
    return order


def on_mesh_instance_titles():
    """ "ASM": the meshes whose config lives on another API server (--mesh-context)."""
    return ", ".join(plane.TITLE for plane in CONTROL_PLANES if plane.CONFIG_ON_MESH_INSTANCE)


def not_found_reason():
    """Why auto-detection found no mesh, and where it looked."""
    where = ", ".join(plane.CONFIG_OBJECTS for plane in CONTROL_PLANES)
    elsewhere = "; ".join(
        f"on {plane.TITLE} it is on the {plane.TITLE} instance's API server: pass --mesh-context"
        for plane in CONTROL_PLANES
        if plane.CONFIG_ON_MESH_INSTANCE
    )
    return f"no mesh configuration found ({where}); {elsewhere}"


# Only the families that have the rule: these run for every pod with a proxy.
_GATEWAY_RULES = tuple(f.is_gateway for f in FAMILIES if f.is_gateway is not base.not_a_gateway)
_LIFECYCLE_RULES = tuple(
    f.lifecycle_settings for f in FAMILIES if f.lifecycle_settings is not base.no_lifecycle_settings
)


# Optional in a family's module (base.ProxyFamily says what it is): only those with the rule.
_FIXED_RULES = {f.FAMILY: f.fixed_setting for f in FAMILIES if hasattr(f, "fixed_setting")}


# (annotation, value, family): the mark of a pod in a family's mesh without a sidecar, and
# (label, value, family): the pod's or namespace's label asking for that (Istio ambient).
AMBIENT_MARKS = tuple((*f.AMBIENT_MARK, f.FAMILY) for f in FAMILIES if hasattr(f, "AMBIENT_MARK"))
AMBIENT_LABELS = tuple(
    (*f.AMBIENT_LABEL, f.FAMILY) for f in FAMILIES if hasattr(f, "AMBIENT_LABEL")
)


# family -> its injector's own per-pod rule (base.ProxyFamily says what it is): only those
# whose rule is certain enough to call a pod without a proxy one that lost it.
INJECTS = {f.FAMILY: f.injects for f in FAMILIES if hasattr(f, "injects")}
_INJECTOR_WEBHOOKS = {f.FAMILY: f.INJECTOR_WEBHOOKS for f in FAMILIES}
# family -> (where its injector's own config is: (revision, Service namespace) -> (namespace,
# ConfigMap name); the rules `injects` takes from that ConfigMap, or None if unreadable).
INJECTOR_CONFIGS = {
    f.FAMILY: (f.injector_config_map, f.injector_policy)
    for f in FAMILIES
    if hasattr(f, "injector_config_map") and hasattr(f, "injector_policy")
}
# family -> (MeshConfig, InjectorWebhook) -> the rules `injects` takes, from what the mesh's
# read already holds (consul-k8s's injector flags), or None where they can't be told.
INJECTOR_RULES = {f.FAMILY: f.injector_rules for f in FAMILIES if hasattr(f, "injector_rules")}


def injector_webhook_prefixes(family):
    """The name prefixes of `family`'s injector's MutatingWebhookConfigurations; () if none."""
    return _INJECTOR_WEBHOOKS.get(family, ())


def fixed_setting(family, metadata):
    """The Setting a family's injector gives this pod whatever its config says, or None."""
    rule = _FIXED_RULES.get(family)
    return rule(metadata) if rule is not None else None


def is_gateway(metadata, proxies):
    """A mesh says the pod is its gateway (the proxy is the workload)."""
    return any(rule(metadata, proxies) for rule in _GATEWAY_RULES)


def lifecycle_settings(annotations):
    """A mesh's proxy startup/shutdown settings, which native mode ignores, are on the pod."""
    return any(rule(annotations) for rule in _LIFECYCLE_RULES)
