"""Kuma's sidecar injector (kumahq/kuma pkg/plugins/runtime/k8s/webhooks/injector/injector.go
InjectKuma and precheck.go needToInject, containers/factory.go NewContainer; plugin.go
addMutators; read at v2.13.0 and v2.14.0).

kuma-cp decides the mode once, at start, from its config: `experimental.sidecarContainers`
(env KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS, read with strconv.ParseBool by envconfig; an invalid
value stops kuma-cp), ANDed with an API server of 1.29 or later. The setting exists from 2.7 to
2.14: default false up to 2.13, true in 2.14; before 2.7 there is no native mode, after 2.14
native is the only one (kumahq/kuma d18df677b7). This stand-in reads the env and kuma-cp's image
tag from Deployment kuma-system/kuma-control-plane on every request, i.e. as they are once that
Deployment has rolled out. (Not modelled: a kuma-cp config file setting it, the API server's
version, the Mesh the pod names having to exist, CNI mode, virtual probes.)

Which pods (precheck.go needToInject): not one with an exception label (kuma-cp's
runtime.kubernetes.injector.exceptions.labels, default openshift.io/build.name and
openshift.io/deployer-pod-for.name, any value), nor one that already has kuma-sidecar; the pod's
kuma.io/sidecar-injection label (enabled|true|yes, disabled|false|no, another value fails the
request), else its namespace's; neither: none. The chart's webhooks call it for namespaces
labelled enabled|true (namespace-kuma-injector) and for pods labelled enabled in namespaces
carrying the label at all (pods-kuma-injector), never kube-system nor kuma-system.

Native: kuma-init then kuma-sidecar (restartPolicy Always, startupProbe GET /ready on the admin
port, lifecycle only preStop `killall -USR2 kuma-dp`) before the user's init containers.
Traditional: kuma-sidecar first in containers (a postStart `kuma-dp wait` only with
waitForDataplaneReady, default false), kuma-init after the user's init containers.
"""

import copy
import re

from tests.harness.api import resource_path
from tests.harness.injectors.common import Refused, parse_bool

NAMESPACE, DEPLOYMENT = "kuma-system", "kuma-control-plane"
CONTROL_PLANE = resource_path("apps/v1", "deployments", NAMESPACE, DEPLOYMENT)
ENV = "KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS"
INJECTION = "kuma.io/sidecar-injection"
EXCEPTIONS = {"openshift.io/build.name": "*", "openshift.io/deployer-pod-for.name": "*"}
ADMIN_PORT = 9901
SIDECAR_UID = 5678

NATIVE_SINCE = (2, 7)
DEFAULT_NATIVE_SINCE = (2, 14)
LAST_WITH_SETTING = (2, 14)


def version_of(image):
    """(major, minor) of kuma-cp's image tag, or None."""
    tail = image.split("@", 1)[0].rsplit("/", 1)[-1]
    match = re.match(r"v?(\d+)\.(\d+)", tail.rsplit(":", 1)[-1]) if ":" in tail else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def sidecar_containers_enabled(deployment):
    """What kuma-cp, started from this Deployment, makes its injector do: True (native) or
    False. Refused where kuma-cp would not start, or its version can't be told."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    version = version_of(container.get("image") or "")
    if version is None:
        raise Refused(f"the harness can't tell kuma-cp's version from {container.get('image')}")
    if version < NATIVE_SINCE:
        return False
    if version > LAST_WITH_SETTING:
        return True
    value = None
    for env in container.get("env") or ():
        if env["name"] == ENV:
            value = env.get("value", "")
    if value is None:
        return version >= DEFAULT_NATIVE_SINCE
    parsed = parse_bool(value)
    if parsed is None:
        raise Refused(f'kuma-control-plane would not start: {ENV}: invalid syntax "{value}"')
    return parsed


def _enabled(labels):
    """GetEnabled on kuma.io/sidecar-injection: (value, present); an invalid value fails."""
    if INJECTION not in labels:
        return None
    value = labels[INJECTION]
    if value in ("enabled", "true", "yes"):
        return True
    if value in ("disabled", "false", "no"):
        return False
    raise Refused(f'annotation "{INJECTION}" has wrong value "{value}"')


def wants_injection(pod, namespace_labels):
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if any(key in labels and value in ("*", labels[key]) for key, value in EXCEPTIONS.items()):
        return False
    spec = pod["spec"]
    names = [c["name"] for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    if "kuma-sidecar" in names:
        return False
    own = _enabled((pod.get("metadata") or {}).get("labels") or {})
    if own is not None:
        return own
    return bool(_enabled(namespace_labels))


def sidecar_container(version, native, wait_for_dataplane=False):
    container = {
        "name": "kuma-sidecar",
        "image": f"docker.io/kumahq/kuma-dp:{version}",
        "imagePullPolicy": "IfNotPresent",
        "args": ["run", "--log-level=info", "--concurrency=2"],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {
                "name": "KUMA_CONTROL_PLANE_URL",
                "value": "https://kuma-control-plane.kuma-system:5678",
            },
            {"name": "KUMA_DATAPLANE_MESH", "value": "default"},
            {"name": "KUMA_DATAPLANE_DRAIN_TIME", "value": "30s"},
        ],
        "securityContext": {"runAsUser": SIDECAR_UID, "runAsGroup": SIDECAR_UID},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": ADMIN_PORT}},
        "volumeMounts": [{"name": "kuma-sidecar-tmp", "mountPath": "/tmp"}],
    }
    if native:
        container["restartPolicy"] = "Always"
        container["startupProbe"] = {
            "httpGet": {"path": "/ready", "port": ADMIN_PORT},
            "initialDelaySeconds": 1,
            "periodSeconds": 1,
            "failureThreshold": 600,
        }
        # injector.go replaces the whole lifecycle: no postStart wait in native mode.
        container["lifecycle"] = {"preStop": {"exec": {"command": ["killall", "-USR2", "kuma-dp"]}}}
    elif wait_for_dataplane:
        url = f"http://localhost:{ADMIN_PORT}/ready"
        container["lifecycle"] = {
            "postStart": {"exec": {"command": ["kuma-dp", "wait", "--url", url]}}
        }
    return container


def init_container(version):
    return {
        "name": "kuma-init",
        "image": f"docker.io/kumahq/kuma-init:{version}",
        "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/bin/kumactl", "install", "transparent-proxy"],
        "args": ["--redirect-inbound-port", "15006", "--redirect-outbound-port", "15001"],
        "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        "volumeMounts": [{"name": "kuma-init-tmp", "mountPath": "/tmp"}],
    }


def inject(pod, namespace_labels, native, version):
    """The pod as Kuma's injector returns it, or None when it leaves the pod alone."""
    if not wants_injection(pod, namespace_labels):
        return None
    pod = copy.deepcopy(pod)
    spec, metadata = pod["spec"], pod["metadata"]
    spec["volumes"] = list(spec.get("volumes") or []) + [
        {"name": "kuma-init-tmp", "emptyDir": {"sizeLimit": "10M"}},
        {"name": "kuma-sidecar-tmp", "emptyDir": {"sizeLimit": "10M"}},
    ]
    users = list(spec.get("initContainers") or [])
    sidecar, init = sidecar_container(version, native), init_container(version)
    if native:
        spec["initContainers"] = [init, sidecar] + users
    else:
        spec["containers"] = [sidecar] + spec["containers"]
        spec["initContainers"] = users + [init]
    metadata["annotations"] = dict(
        metadata.get("annotations") or {},
        **{
            "kuma.io/sidecar-injected": "true",
            "kuma.io/mesh": "default",
            "kuma.io/sidecar-uid": str(SIDECAR_UID),
            "kuma.io/envoy-admin-port": str(ADMIN_PORT),
            "kuma.io/transparent-proxying": "enabled",
        },
    )
    metadata["labels"] = dict(metadata.get("labels") or {}, **{"kuma.io/mesh": "default"})
    return pod


class KumaInjector:
    """Reads kuma-control-plane's env and image on every admission request (the webhook's
    namespace selector already chose kuma.io/sidecar-injection namespaces)."""

    def __init__(self, api):
        self.api = api

    def review(self, pod, namespace):
        deployment = self.api.get(CONTROL_PLANE, missing_ok=True)
        if deployment is None:
            return None  # Kuma is not installed: its webhook would not be there either
        found = self.api.get(resource_path("v1", "namespaces", name=namespace), missing_ok=True)
        labels = ((found or {}).get("metadata") or {}).get("labels") or {}
        image = deployment["spec"]["template"]["spec"]["containers"][0].get("image") or ""
        release = image.rsplit(":", 1)[-1]
        return inject(pod, labels, sidecar_containers_enabled(deployment), release)
