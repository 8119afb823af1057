"""Linkerd's proxy injector (linkerd/linkerd2 controller/proxy-injector and pkg/inject) of the
release linkerd-config's `linkerdVersion` names, as the real injector is the release it was
built as: lines 2.15 to 2.18 (from edge-23.11.4), 2.19 (from edge-25.10.2) and 2.20 (from
edge-26.5.2, where native sidecars went GA); without a linkerdVersion, 2.20.

Which pods: `linkerd.io/inject: enabled|ingress` on the pod, or on the namespace unless the pod says
`disabled`; never a pod that already has a mesh proxy.

Which mode, per pod, from the live config (the real injector reads its values file on every
request):
1. `proxy.nativeSidecar` from the `values` key of ConfigMap linkerd/linkerd-config (absent: false,
   Go's zero value; the chart always renders it).
2. The namespace's annotations are copied onto the pod where the pod lacks that key, but only
   keys on the release's list (pkg/inject ProxyAnnotations + ProxyAlphaConfigAnnotations):
   2.20 `config.linkerd.io/proxy-enable-native-sidecar` and the alpha
   `config.alpha.linkerd.io/...` (the deprecated beta key is not on it, so on a namespace it
   does nothing); 2.19 beta and alpha; 2.18 and older alpha only.
3. Of the pod's resulting annotations the first present of the keys the release reads decides
   (2.20: config.linkerd.io, config.beta, config.alpha; 2.19: config.beta, config.alpha; 2.18:
   config.alpha); a value strconv.ParseBool refuses leaves the default (and still hides the
   later keys). (pkg/k8s/labels.go and pkg/inject/inject.go at tags version-2.18, -2.19, -2.20.)

Injected: `linkerd-init` (or `linkerd-network-validator` with the CNI plugin) and `linkerd-proxy`.
Native: the init container at index 0 and the proxy right after it, both before the user's init
containers, the proxy with `restartPolicy: Always` and a startup probe. Traditional: the init
container after the user's, the proxy first in `containers` when `proxy.await` (the default,
with its linkerd-await postStart hook), else last. The pod keeps the copied namespace
annotations and gains `linkerd.io/proxy-version`.
"""

import copy
import hashlib
import re
from dataclasses import dataclass

import yaml

from tests.harness.api import resource_path
from tests.harness.injectors.common import annotations, container_names, parse_bool

CONFIG_MAP = resource_path("v1", "configmaps", "linkerd", "linkerd-config")
INJECT = "linkerd.io/inject"
NATIVE_KEYS = (
    "config.linkerd.io/proxy-enable-native-sidecar",  # the one to use (2.20+)
    "config.beta.linkerd.io/proxy-enable-native-sidecar",  # deprecated
    "config.alpha.linkerd.io/proxy-enable-native-sidecar",
)  # deprecated
STABLE, BETA, ALPHA = NATIVE_KEYS


@dataclass(frozen=True)
class Release:
    """What the injector of one release line reads."""

    name: str
    first_edge: tuple[int, ...]
    first_minor: int  # as stable-2.X / version-2.X
    pod_keys: tuple[str, ...]  # applyAnnotationOverrides: the first present decides
    namespace_keys: tuple[
        str, ...
    ]  # the mode keys in ProxyAnnotations + ProxyAlphaConfigAnnotations


RELEASES = (
    Release("2.18", (23, 11, 4), 15, (ALPHA,), (ALPHA,)),
    Release("2.19", (25, 10, 2), 19, (BETA, ALPHA), (BETA, ALPHA)),
    Release("2.20", (26, 5, 2), 20, (STABLE, BETA, ALPHA), (STABLE, ALPHA)),
)
LATEST = RELEASES[-1]
# One linkerdVersion of each line, for seed.linkerd_mesh (version-2.18 and version-2.19 are
# edge-25.4.4 and edge-25.10.7).
VERSIONS = {"2.18": "edge-25.4.4", "2.19": "edge-25.10.7", "2.20": "edge-26.5.2"}
# The other keys of those lists the harness models, and the opt-in.
OTHER_INHERITED = ("config.linkerd.io/proxy-await", INJECT)


def release_of(values):
    """The release line of linkerd-config's linkerdVersion (absent: 2.20). Raises ValueError
    for one the harness doesn't model."""
    text = values.get("linkerdVersion") if isinstance(values, dict) else None
    if not text:
        return LATEST
    edge = re.fullmatch(r"edge-(\d+)\.(\d+)\.(\d+)", text)
    numbered = re.fullmatch(r"(?:stable|version)-2\.(\d+)(?:\.\d+)?", text)
    if edge:
        release = tuple(int(part) for part in edge.groups())
        lines = [line for line in RELEASES if line.first_edge <= release]
    elif numbered:
        minor = int(numbered.group(1))
        lines = [line for line in RELEASES if line.first_minor <= minor]
    else:
        lines = []
    if not lines:
        raise ValueError(f"the harness's Linkerd injector doesn't model {text!r}")
    return lines[-1]


INJECT_ENABLED = ("enabled", "ingress")
INJECT_VALID = ("enabled", "ingress", "disabled")
PROXY_IMAGE = "cr.l5d.io/linkerd/proxy"
# healthcheck.HasExistingSidecars
EXISTING_SIDECARS = {"linkerd-proxy", "istio-proxy", "linkerd-init", "istio-init"}


def wants_injection(pod_annotations, namespace_annotations):
    """pkg/inject report.disabledByAnnotation's truth table for the webhook."""
    pod, namespace = pod_annotations.get(INJECT, ""), namespace_annotations.get(INJECT, "")
    if (namespace and namespace not in INJECT_VALID) or (pod and pod not in INJECT_VALID):
        return False
    if namespace in INJECT_ENABLED:
        return pod != "disabled"
    return pod in INJECT_ENABLED


def effective_annotations(pod_annotations, namespace_annotations, release=LATEST):
    """The pod's annotations after AppendNamespaceAnnotations: what the injector reads and the pod keeps."""
    merged = dict(pod_annotations)
    for key in release.namespace_keys + OTHER_INHERITED:
        if key in namespace_annotations and key not in pod_annotations:
            merged[key] = namespace_annotations[key]
    return merged


def native_sidecar(values, merged_annotations, release=LATEST):
    """ApplyAnnotationOverrides for proxy.nativeSidecar."""
    native = _proxy_values(values).get("nativeSidecar") is True
    for key in release.pod_keys:
        if key in merged_annotations:
            chosen = parse_bool(merged_annotations[key])
            return native if chosen is None else chosen
    return native


def _await(values, merged_annotations):
    override = merged_annotations.get("config.linkerd.io/proxy-await")
    if override in ("enabled", "disabled"):
        return override == "enabled"
    return _proxy_values(values).get("await") is True


def _proxy_values(values):
    proxy = values.get("proxy") if isinstance(values, dict) else None
    return proxy if isinstance(proxy, dict) else {}


def version(values):
    image = _proxy_values(values).get("image") or {}
    return (
        (image.get("version") if isinstance(image, dict) else None)
        or values.get("linkerdVersion")
        or "unknown"
    )


def proxy_container(values, native, wait_for_proxy):
    ports = _proxy_values(values).get("ports") or {}
    admin, inbound = ports.get("admin", 4191), ports.get("inbound", 4143)
    container = {
        "name": "linkerd-proxy",
        "image": f"{PROXY_IMAGE}:{version(values)}",
        "env": [
            {"name": "_pod_name", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "_pod_ns", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "LINKERD2_PROXY_LOG", "value": "warn,linkerd=info,hickory=error"},
            {
                "name": "LINKERD2_PROXY_DESTINATION_SVC_ADDR",
                "value": "linkerd-dst-headless.linkerd.svc.cluster.local.:8086",
            },
            {"name": "LINKERD2_PROXY_ADMIN_LISTEN_ADDR", "value": f"0.0.0.0:{admin}"},
        ],
        "livenessProbe": {
            "httpGet": {"path": "/live", "port": admin},
            "initialDelaySeconds": 10,
            "timeoutSeconds": 1,
        },
        "ports": [
            {"containerPort": inbound, "name": "linkerd-proxy"},
            {"containerPort": admin, "name": "linkerd-admin"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": admin},
            "initialDelaySeconds": 2,
            "timeoutSeconds": 1,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 2102,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {
                "mountPath": "/var/run/linkerd/identity/end-entity",
                "name": "linkerd-identity-end-entity",
            },
            {"mountPath": "/var/run/secrets/tokens", "name": "linkerd-identity-token"},
        ],
    }
    if native:
        container["restartPolicy"] = "Always"
        if wait_for_proxy:
            container["startupProbe"] = {
                "httpGet": {"path": "/ready", "port": admin},
                "initialDelaySeconds": 0,
                "periodSeconds": 1,
                "failureThreshold": 120,
            }
    elif wait_for_proxy:
        # In native mode Kubernetes orders start-up itself and the chart leaves this hook out.
        container["lifecycle"] = {
            "postStart": {
                "exec": {
                    "command": ["/usr/lib/linkerd/linkerd-await", "--timeout=2m", f"--port={admin}"]
                }
            }
        }
    return container


def init_container(values):
    if values.get("cniEnabled") is True:
        return {
            "name": "linkerd-network-validator",
            "image": f"{PROXY_IMAGE}:{version(values)}",
            "command": ["/usr/lib/linkerd/linkerd-network-validator"],
            "args": [
                "--log-format",
                "plain",
                "--log-level",
                "info",
                "--connect-addr",
                "0.0.0.0:4140",
                "--listen-addr",
                "0.0.0.0:4140",
                "--timeout",
                "10s",
            ],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
    return {
        "name": "linkerd-init",
        "image": f"{PROXY_IMAGE}:{version(values)}",
        "command": ["/usr/lib/linkerd/linkerd2-proxy-init"],
        "args": [
            "--firewall-bin-path",
            "iptables-nft",
            "--firewall-save-bin-path",
            "iptables-nft-save",
            "--ipv6=false",
            "--incoming-proxy-port",
            "4143",
            "--outgoing-proxy-port",
            "4140",
            "--proxy-uid",
            "2102",
            "--inbound-ports-to-ignore",
            "4190,4191,4567,4568",
            "--outbound-ports-to-ignore",
            "4567,4568",
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": 65534,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"mountPath": "/run", "name": "linkerd-proxy-init-xtables-lock"}],
    }


def volumes(values):
    found = (
        []
        if values.get("cniEnabled") is True
        else [{"name": "linkerd-proxy-init-xtables-lock", "emptyDir": {}}]
    )
    return found + [
        {"name": "linkerd-identity-end-entity", "emptyDir": {"medium": "Memory"}},
        {
            "name": "linkerd-identity-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "identity.l5d.io",
                            "expirationSeconds": 86400,
                            "path": "linkerd-identity-token",
                        }
                    }
                ]
            },
        },
    ]


def inject(pod, namespace, values, namespace_annotations):
    """The pod as Linkerd's injector returns it, or None when it leaves the pod alone."""
    own = annotations(pod)
    if not wants_injection(own, namespace_annotations) or container_names(pod) & EXISTING_SIDECARS:
        return None
    if pod["spec"].get("hostNetwork"):
        return None
    release = release_of(values)
    merged = effective_annotations(own, namespace_annotations, release)
    native, wait_for_proxy = native_sidecar(values, merged, release), _await(values, merged)
    pod = copy.deepcopy(pod)
    spec, metadata = pod["spec"], pod["metadata"]
    init, proxy = init_container(values), proxy_container(values, native, wait_for_proxy)
    user_init = list(spec.get("initContainers") or [])
    if native:
        spec["initContainers"] = [init, proxy] + user_init
    else:
        spec["initContainers"] = user_init + [init]
        spec["containers"] = (
            [proxy] + spec["containers"] if wait_for_proxy else spec["containers"] + [proxy]
        )
    spec["volumes"] = list(spec.get("volumes") or []) + volumes(values)
    # The linkerd-identity-token volume needs a service account; on a real cluster the
    # ServiceAccount admission plugin (off in the harness) has set it already.
    spec.setdefault("serviceAccountName", "default")
    trust_roots = values.get("identityTrustAnchorsPEM") or ""
    metadata["annotations"] = dict(
        merged,
        **{
            "linkerd.io/created-by": f"linkerd/proxy-injector {version(values)}",
            "linkerd.io/proxy-version": version(values),
            "linkerd.io/trust-root-sha256": hashlib.sha256(trust_roots.encode()).hexdigest(),
        },
    )
    labels = dict(metadata.get("labels") or {})
    # (Linkerd also labels linkerd.io/proxy-<owner kind>, resolving ReplicaSets to Deployments.)
    labels.update({"linkerd.io/control-plane-ns": "linkerd", "linkerd.io/workload-ns": namespace})
    metadata["labels"] = labels
    return pod


class LinkerdInjector:
    """Reads linkerd-config and the namespace on every admission request."""

    def __init__(self, api):
        self.api = api

    def review(self, pod, namespace):
        namespace_object = (
            self.api.get(resource_path("v1", "namespaces", name=namespace), missing_ok=True) or {}
        )
        namespace_annotations = (namespace_object.get("metadata") or {}).get("annotations") or {}
        if not wants_injection(annotations(pod), namespace_annotations):
            return None
        config = self.api.get(CONFIG_MAP, missing_ok=True)
        if config is None:
            return None  # Linkerd is not installed: its webhook would not be there either
        values = yaml.safe_load((config.get("data") or {}).get("values") or "") or {}
        return inject(pod, namespace, values, namespace_annotations)
