"""Checks before a switch: can the cluster run native sidecars, and what might break."""

from __future__ import annotations

from kubectl_sidecar.classify import NATIVE, PodRow
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import NO_MESH, MeshConfig, version_tuple

NATIVE_MINIMUM = (1, 29)  # SidecarContainers beta and on by default
# Mutating webhooks of the meshes themselves, and of this project's own test injectors: they
# are the injectors, not a risk to them. Matched as name prefixes: "logsidecar-injector" (the
# ASM page's example of a webhook that breaks native sidecars) must not pass for a mesh's
# "<mesh>-sidecar-injector".
MESH_INJECTOR_PREFIXES = registry.INJECTOR_WEBHOOKS + ("kubectl-sidecar",)


def too_old_for_native(server_version: str | None, kubelets: dict[str, str] | None) -> list[str]:
    """Problems that stop native sidecars from working: the API server, then each old node."""
    problems = []
    server = version_tuple(server_version)
    if server is not None and server < NATIVE_MINIMUM:
        problems.append(f"the API server is {server_version}; native sidecars need 1.29 or later")
    old = sorted(
        node
        for node, version in (kubelets or {}).items()
        if (version_tuple(version) or (0, 0)) < NATIVE_MINIMUM
    )
    if old and kubelets:
        shown = ", ".join(f"{node} ({kubelets[node]})" for node in old[:10])
        more = f" and {len(old) - 10} more" if len(old) > 10 else ""
        problems.append(f"{len(old)} node(s) run a kubelet older than 1.29: {shown}{more}")
    return problems


def foreign_pod_webhooks(configurations: list[dict]) -> list[str]:
    """Names of mutating webhooks on pod creation that are not a mesh's own injector."""
    found = []
    for configuration in configurations:
        config_name = (configuration.get("metadata") or {}).get("name", "")
        if config_name.startswith(MESH_INJECTOR_PREFIXES):
            continue
        for webhook in configuration.get("webhooks") or ():
            if any(_mutates_pod_creation(rule) for rule in webhook.get("rules") or ()):
                found.append(f"{config_name}/{webhook.get('name')}")
    return found


def _mutates_pod_creation(rule: dict) -> bool:
    resources = rule.get("resources") or ()
    operations = rule.get("operations") or ()
    groups = rule.get("apiGroups") or ()
    return (
        ("pods" in resources or "*" in resources or "*/*" in resources)
        and ("CREATE" in operations or "*" in operations)
        and ("" in groups or "*" in groups)
    )


def warnings_for(target: str, rows: list[PodRow], webhooks: list[str]) -> list[str]:
    """What the user should know before switching to `target`."""
    notes = []
    if target == NATIVE and webhooks:
        notes.append(
            "other mutating webhooks act on pod creation and may strip restartPolicy from init "
            "containers, which makes pod creation fail: " + ", ".join(webhooks)
        )
    pinned = sum(1 for row in rows if row.lifecycle_settings and row.mode != NATIVE)
    if target == NATIVE and pinned:
        notes.append(
            f"{pinned} pod(s) set proxy startup/shutdown settings that do nothing in native "
            "mode, where Kubernetes orders the proxy's start and stop itself: "
            "holdApplicationUntilProxyStarts, terminationDrainDuration, "
            "EXIT_ON_ZERO_ACTIVE_CONNECTIONS, MINIMUM_DRAIN_DURATION or their own proxy lifecycle"
        )
    return notes


def control_plane_problems(mesh: MeshConfig, target: str) -> list[tuple[str, bool]]:
    """What stops the mesh's control plane from injecting `target` once switched:
    [(problem, forceable)]. Not forceable: --force can't help, because there is nothing to
    change or the change itself would stop the control plane."""
    if mesh.name == NO_MESH:
        return []  # no control plane read: the switch refuses before this (meshwide's check)
    return registry.control_plane(mesh.name).control_plane_problems(mesh, target)


def override_ignored(mesh: MeshConfig, target: str) -> str | None:
    """Why the mesh would ignore a pod-template annotation asking for `target`, or None."""
    if mesh.name == NO_MESH:
        return None  # nothing read says the pods' annotations are ignored
    return registry.control_plane(mesh.name).override_ignored(mesh, target)
