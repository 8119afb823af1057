"""Checks before a switch: can the cluster run native sidecars, and what might break."""

from kubectl_sidecar import meshconfig
from kubectl_sidecar.classify import NATIVE
from kubectl_sidecar.meshconfig import version_tuple

NATIVE_MINIMUM = (1, 29)  # SidecarContainers beta and on by default
# Mutating webhooks of the meshes themselves: they are the injectors, not a risk to them.
# Matched as name prefixes: "logsidecar-injector" (the ASM page's example of a webhook that
# breaks native sidecars) must not pass for Istio's "istio-sidecar-injector".
MESH_INJECTOR_PREFIXES = (
    "istio-sidecar-injector",
    "istio-revision-tag",
    "linkerd-proxy-injector",
    "kuma-admission-mutating",
    "consul-connect-injector",
    "kubectl-sidecar",
)


def too_old_for_native(server_version, kubelets):
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
    if old:
        shown = ", ".join(f"{node} ({kubelets[node]})" for node in old[:10])
        more = f" and {len(old) - 10} more" if len(old) > 10 else ""
        problems.append(f"{len(old)} node(s) run a kubelet older than 1.29: {shown}{more}")
    return problems


def foreign_pod_webhooks(configurations):
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


def _mutates_pod_creation(rule):
    resources = rule.get("resources") or ()
    operations = rule.get("operations") or ()
    groups = rule.get("apiGroups") or ()
    return (
        ("pods" in resources or "*" in resources or "*/*" in resources)
        and ("CREATE" in operations or "*" in operations)
        and ("" in groups or "*" in groups)
    )


def warnings_for(target, rows, webhooks):
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


def control_plane_problems(mesh, target):
    """What stops the mesh's control plane from injecting `target` once switched:
    [(problem, forceable)]. Not forceable: --force can't help, because there is nothing to
    change or the change itself would stop the control plane."""
    if mesh.family != "consul":
        return []
    deployment = mesh.injector_deployment
    if deployment is None or meshconfig.consul_injector_container(deployment) is None:
        return [(f"{mesh.mesh_wide.source}: nothing to switch", False)]
    if target != NATIVE or mesh.native_supported is True:
        return []
    where = f"{mesh.injector[0]}/{mesh.injector[1]}"
    version = meshconfig.consul_k8s_version(deployment)
    has_flag = meshconfig.consul_flag_text(deployment) is not None
    if mesh.native_supported is False:
        problem = (
            f"the connect-injector {where} runs consul-k8s "
            f"{meshconfig.release_text(version)}, which can't inject native sidecars; "
            f"that needs {meshconfig.CONSUL_NATIVE_RELEASES}"
        )
        if has_flag:
            # Rewriting a flag it already starts with is harmless, only useless.
            return [(problem, True)]
        return [
            (
                problem + f", and an injector that old exits when started with "
                f"-{meshconfig.CONSUL_FLAG}: upgrade consul-k8s first",
                False,
            )
        ]
    if has_flag:
        return []  # it starts with the flag today, so it knows the flag
    image = meshconfig.consul_injector_container(deployment).get("image") or "no image"
    return [
        (
            f"the connect-injector {where}'s image ({image}) doesn't tell its consul-k8s "
            f"version, and one older than -{meshconfig.CONSUL_FLAG} (consul-k8s 1.9.0, "
            "backported to 1.6.9, 1.7.5, 1.8.2) exits when started with it: check the "
            f"version, then set {meshconfig.CONSUL_HELM_VALUE}=true with helm",
            False,
        )
    ]


def override_ignored(mesh, target):
    """Why the mesh would ignore a pod-template annotation asking for `target`, or None: a
    consul-k8s that can't inject native ignores its pods' annotation too."""
    if mesh.family != "consul" or target != NATIVE or mesh.native_supported is not False:
        return None
    version = meshconfig.consul_k8s_version(mesh.injector_deployment)
    return (
        f"the connect-injector {mesh.injector[0]}/{mesh.injector[1]} runs consul-k8s "
        f"{meshconfig.release_text(version)}, which can't inject native sidecars and "
        f"ignores the pods' annotation; that needs {meshconfig.CONSUL_NATIVE_RELEASES}"
    )
