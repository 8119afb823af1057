"""AWS App Mesh and Open Service Mesh: an Envoy sidecar named "envoy" (the "envoy" family).
kubectl-sidecar classifies their pods but doesn't read or switch their config.

"envoy" is also the main container of Contour, Envoy Gateway and others; it is a mesh sidecar
only where a mesh left its mark: App Mesh's APPMESH_* environment on the container itself, or
one of these on the pod.

Implements base.ProxyFamily; CANT_SWITCH says why it is no base.ControlPlane.
"""

import re

from kubectl_sidecar.meshes import base

FAMILY = "envoy"
TITLE = "App Mesh / OSM"
CANT_SWITCH = "kubectl-sidecar doesn't read or switch App Mesh's or OSM's config"

_APPMESH_ENV_PREFIX = "APPMESH_"
# App Mesh names the Envoy's resource here: mesh/<mesh>/virtualNode/<node> for a sidecar,
# mesh/<mesh>/virtualGateway/<gateway> where Envoy is the gateway itself.
_APPMESH_RESOURCE_ENV = ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME")
_ENVOY_MESH_INIT_CONTAINERS = {"osm-init", "proxyinit"}
_ENVOY_MESH_LABELS = ("osm-proxy-uuid",)
_ENVOY_MESH_ANNOTATION_PREFIXES = ("appmesh.k8s.aws/", "openservicemesh.io/")
# The controller's preStop script, `sleep %s` of its --prestop-delay flag (default "20").
# Compiled (and cached by re) at first use, not at every start.
_APPMESH_PRESTOP = r"sleep [0-9.]+[smhd]?"


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


def has_mark(container, metadata, init_containers):
    """An App Mesh or OSM Envoy, not Contour's or Envoy Gateway's."""
    if _has_appmesh_env(container):
        return True
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    return (
        any(c.get("name") in _ENVOY_MESH_INIT_CONTAINERS for c in init_containers)
        or any(label in labels for label in _ENVOY_MESH_LABELS)
        or any(key.startswith(_ENVOY_MESH_ANNOTATION_PREFIXES) for key in annotations)
    )


PROXIES: dict[str, base.Check | None] = {"envoy": has_mark}
PROXY_PREFIXES: dict[str, base.Check] = {}
OVERRIDE_ANNOTATIONS: tuple[
    str, ...
] = ()  # none known: a per-workload switch lists its workloads as manual
COPIES_NAMESPACE_MODE = False
INJECTOR_WEBHOOKS: tuple[str, ...] = ()

revision = base.no_revision
lifecycle_settings = base.no_lifecycle_settings


def is_gateway(metadata, proxies):
    # App Mesh leaves a virtual gateway's own envoy container in place (an xray-daemon may
    # run beside it) and names the gateway in its environment.
    return any(
        proxy.get("name") == "envoy" and _is_appmesh_gateway_envoy(proxy) for proxy in proxies
    )


def injector_hook(container, hook, command):
    if not _has_appmesh_env(container):
        return False
    # aws-app-mesh-controller-for-k8s pkg/inject/sidecar_builder.go: preStop
    # `sh -c "sleep <prestop-delay>"` on every envoy, and with WaitUntilProxyReady a
    # postStart script that runs `/usr/bin/agent -envoyReadiness`.
    if command[:2] != ["sh", "-c"] or len(command) != 3:
        return False
    if hook == "preStop":
        return re.fullmatch(_APPMESH_PRESTOP, command[2]) is not None
    return hook == "postStart" and "/usr/bin/agent -envoyReadiness" in command[2]
