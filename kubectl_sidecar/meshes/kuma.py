"""Kuma: the kuma-sidecar proxy. kubectl-sidecar classifies its pods but doesn't read or
switch its control plane's config.

Implements base.ProxyFamily; CANT_SWITCH says why it is no base.ControlPlane.
"""

from kubectl_sidecar.meshes import base

FAMILY = "kuma"
TITLE = "Kuma"
CANT_SWITCH = "kubectl-sidecar doesn't read or switch Kuma's control plane config"

PROXIES: dict[str, base.Check | None] = {"kuma-sidecar": None}
PROXY_PREFIXES: dict[str, base.Check] = {}
OVERRIDE_ANNOTATIONS: tuple[
    str, ...
] = ()  # none known: a per-workload switch lists its workloads as manual
COPIES_NAMESPACE_MODE = False
INJECTOR_WEBHOOKS: tuple[str, ...] = ("kuma-admission-mutating",)

is_gateway = base.not_a_gateway
revision = base.no_revision
lifecycle_settings = base.no_lifecycle_settings


def injector_hook(container, hook, command):
    # pkg/plugins/runtime/k8s: `kuma-dp wait` after start (waitForDataplaneReady), and in
    # native mode the injector's own preStop.
    if hook == "postStart":
        return command[:2] == ["kuma-dp", "wait"]
    return hook == "preStop" and command == ["killall", "-USR2", "kuma-dp"]
