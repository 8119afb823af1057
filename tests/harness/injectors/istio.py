"""Istio's injector (and ASM's, which is Istio's): istio-proxy with istio-init, probes, volumes
and sidecar.istio.io/status, native or traditional from the live config: the pod's
sidecar.istio.io/nativeSidecar, else ASMMeshConfig/default spec.enableNativeSidecar, else
ENABLE_NATIVE_SIDECARS on the istiod of the pod's revision (auto: all kubelets >= 1.33), else
traditional.

ASM pushes its config to the data plane in its own time: an ASMMeshConfig annotated with
PUSHED (a test's) says the value the data plane still has, which the injector uses instead of
the spec's, as ASM's would until the push arrives."""

import copy
import json
import re

from tests.harness.api import resource_path
from tests.harness.injectors.common import parse_bool

PROXY_IMAGE = "docker.io/istio/proxyv2:1.26.2"
PUSHED = "harness.kubectl-sidecar.io/pushed-enableNativeSidecar"
ISTIO_VOLUMES = [
    "workload-socket",
    "credential-socket",
    "workload-certs",
    "istio-envoy",
    "istio-data",
    "istio-podinfo",
    "istio-token",
    "istiod-ca-cert",
]


def _version(text):
    match = re.search(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def istiod_decision(istiod, kubelet_versions):
    """Native or not from one istiod Deployment and the nodes' kubelet versions."""
    containers = istiod["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for c in containers for e in c.get("env", [])}
    value = env.get("ENABLE_NATIVE_SIDECARS")
    if value is None:
        image = containers[0].get("image", "")
        version = _version(image.rsplit(":", 1)[-1]) or (0, 0)
        value = "auto" if version >= (1, 27) else "false"
    if value.strip().lower() == "auto":
        return bool(kubelet_versions) and all(
            (_version(v) or (0, 0)) >= (1, 33) for v in kubelet_versions
        )
    return bool(parse_bool(value))


class IstioInjector:
    """Reads the live mesh config for each admission request (tests change it between requests)."""

    def __init__(self, api, mesh_api=None):
        self.api = api
        # On ASM the ASMMeshConfig lives on the ASM instance's API server, not the data plane's.
        self.mesh_api = mesh_api or api

    def native_for(self, pod):
        override = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/nativeSidecar")
        if override is not None and parse_bool(override) is not None:
            return parse_bool(override)
        asm = self.mesh_api.get(
            resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default"),
            missing_ok=True,
        )
        pushed = ((asm or {}).get("metadata", {}).get("annotations") or {}).get(PUSHED)
        if pushed is not None:
            return parse_bool(pushed)
        if asm is not None and isinstance(asm.get("spec", {}).get("enableNativeSidecar"), bool):
            return asm["spec"]["enableNativeSidecar"]
        revision = (pod["metadata"].get("labels") or {}).get("istio.io/rev", "default")
        for istiod in self.api.items(
            resource_path("apps/v1", "deployments"), {"labelSelector": "app=istiod"}
        ):
            if (istiod["metadata"].get("labels") or {}).get("istio.io/rev", "default") == revision:
                nodes = self.api.items(resource_path("v1", "nodes"))
                kubelets = [
                    n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "") for n in nodes
                ]
                return istiod_decision(istiod, kubelets)
        return False

    def review(self, pod, namespace):
        """The injected pod."""
        return inject(pod, namespace, self.native_for(pod))


def proxy_container(native):
    container = {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "args": [
            "proxy",
            "sidecar",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error",
            "--log_output_level=default:info",
        ],
        "env": [
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
            {
                "name": "POD_NAME",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
            },
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
            },
            {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
            {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": 15021},
            "periodSeconds": 15,
            "timeoutSeconds": 3,
            "failureThreshold": 4,
        },
        "resources": {
            "limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
            "runAsUser": 1337,
        },
        "volumeMounts": [
            {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
            {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
            {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
            {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
            {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
            {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"},
        ],
    }
    if native:
        # Istio gives the native sidecar a startup probe so apps start after the proxy is ready.
        container["restartPolicy"] = "Always"
        container["startupProbe"] = {
            "httpGet": {"path": "/healthz/ready", "port": 15021},
            "periodSeconds": 1,
            "timeoutSeconds": 3,
            "failureThreshold": 600,
        }
    return container


def init_container():
    return {
        "name": "istio-init",
        "image": PROXY_IMAGE,
        "args": [
            "istio-iptables",
            "-p",
            "15001",
            "-z",
            "15006",
            "-u",
            "1337",
            "-m",
            "REDIRECT",
            "-i",
            "*",
            "-x",
            "",
            "-b",
            "*",
            "-d",
            "15090,15021,15020",
            "--log_output_level=default:info",
        ],
        "resources": {
            "limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": False,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "runAsUser": 0,
        },
    }


def volumes():
    return [
        {"name": "workload-socket", "emptyDir": {}},
        {"name": "credential-socket", "emptyDir": {}},
        {"name": "workload-certs", "emptyDir": {}},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {
            "name": "istio-podinfo",
            "downwardAPI": {
                "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
                ]
            },
        },
        {
            "name": "istio-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "istio-ca",
                            "expirationSeconds": 43200,
                            "path": "istio-token",
                        }
                    }
                ]
            },
        },
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
    ]


def inject(pod, namespace, native):
    """The injected pod (a new dict)."""
    pod = copy.deepcopy(pod)
    spec, metadata = pod["spec"], pod["metadata"]
    names = {c["name"] for c in spec.get("containers", []) + spec.get("initContainers", [])}
    if "istio-proxy" in names:
        return pod
    revision = (metadata.get("labels") or {}).get("istio.io/rev", "default")
    app_name = spec["containers"][0]["name"]
    init = list(spec.get("initContainers") or [])
    init.insert(0, init_container())
    proxy = proxy_container(native)
    if native:
        init.insert(1, proxy)
    else:
        spec["containers"] = spec["containers"] + [proxy]
    spec["initContainers"] = init
    spec["volumes"] = list(spec.get("volumes") or []) + volumes()
    # The istio-token volume needs a service account; on a real cluster the ServiceAccount
    # admission plugin (off in the harness, which has no token controller) has set it already.
    spec.setdefault("serviceAccountName", "default")
    status = {
        "initContainers": ["istio-init"] + (["istio-proxy"] if native else []),
        "containers": None if native else ["istio-proxy"],
        "volumes": ISTIO_VOLUMES,
        "imagePullSecrets": None,
        "revision": revision,
    }
    annotations = dict(metadata.get("annotations") or {})
    annotations.update(
        {
            "sidecar.istio.io/status": json.dumps(status, separators=(",", ":")),
            "kubectl.kubernetes.io/default-container": app_name,
            "kubectl.kubernetes.io/default-logs-container": app_name,
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
            "prometheus.io/scrape": "true",
            "istio.io/rev": revision,
        }
    )
    labels = dict(metadata.get("labels") or {})
    app = (
        labels.get("app")
        or labels.get("app.kubernetes.io/name")
        or metadata.get("generateName", "pod").rstrip("-")
    )
    labels.update(
        {
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": app,
            "service.istio.io/canonical-revision": labels.get("version", "latest"),
        }
    )
    metadata["annotations"], metadata["labels"] = annotations, labels
    return pod
