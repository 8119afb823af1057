"""Pod JSON shaped like real mesh injections, for the pure tests.

Shapes follow what each injector writes: Istio's istio-init / istio-validation helpers and its
sidecar.istio.io/status annotation, Linkerd putting linkerd-proxy first, Kuma's kuma-init,
Consul's consul-connect-inject-init. Only the fields the code reads vary; the rest is there so
a test pod looks like the real thing.
"""

import copy
import json

from kubectl_sidecar.refs import WorkloadRef


def ref(kind, name, namespace="shop"):
    """A workload as rows, plans and outcomes name it (the fixtures' pods are in shop)."""
    return WorkloadRef(kind, namespace, name)


def _app(name="app", image="registry.example/app:1.0"):
    return {"name": name, "image": image, "ports": [{"containerPort": 8080, "protocol": "TCP"}]}


def _proxy(name, args=None, native=False):
    container = {
        "name": name,
        "image": f"registry.example/{name}:1.0",
        "args": args or [],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
    }
    if native:
        container["restartPolicy"] = "Always"
    return container


def pod(
    name="app-7d9c-abcde",
    namespace="shop",
    containers=None,
    init_containers=None,
    owner=None,
    labels=None,
    annotations=None,
    node="node-1",
    statuses=None,
):
    metadata = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "creationTimestamp": "2026-11-20T10:00:00Z",
        "labels": dict(labels or {}),
        "annotations": dict(annotations or {}),
    }
    if owner:
        kind, owner_name = owner
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1"
                if kind in ("ReplicaSet", "StatefulSet", "DaemonSet")
                else "v1",
                "kind": kind,
                "name": owner_name,
                "uid": f"uid-{owner_name}",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    spec = {"containers": containers or [_app()], "nodeName": node}
    if init_containers:
        spec["initContainers"] = init_containers
    status = {"phase": "Running"}
    if statuses:
        status["containerStatuses"] = statuses
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def istio(mode, revision="default", cni=False, **kwargs):
    """An Istio/ASM-injected pod, native or traditional."""
    helper = {
        "name": "istio-validation" if cni else "istio-init",
        "image": "registry.example/proxyv2:1.22.2",
        "args": ["istio-iptables", "-p", "15001"],
    }
    proxy = _proxy(
        "istio-proxy",
        ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc"],
        native=mode == "native",
    )
    status = {
        "initContainers": [helper["name"]],
        "containers": ["istio-proxy"],
        "volumes": ["workload-socket", "istio-envoy", "istio-data"],
        "imagePullSecrets": None,
        "revision": revision,
    }
    if mode == "native":
        init = [helper, proxy]
        containers = [_app()]
        status["initContainers"].append("istio-proxy")
        status["containers"] = None
    else:
        init = [helper]
        containers = [_app(), proxy]
    labels = {
        "app": "cart",
        "security.istio.io/tlsMode": "istio",
        "service.istio.io/canonical-name": "cart",
    }
    labels.update(kwargs.pop("labels", {}))
    annotations = {
        "sidecar.istio.io/status": json.dumps(status),
        "kubectl.kubernetes.io/default-container": "app",
    }
    annotations.update(kwargs.pop("annotations", {}))
    return pod(
        containers=containers,
        init_containers=init,
        labels=labels,
        annotations=annotations,
        **kwargs,
    )


LINKERD_AWAIT = {
    "postStart": {
        "exec": {"command": ["/usr/lib/linkerd/linkerd-await", "--timeout=2m", "--port=4191"]}
    }
}


def linkerd(mode, wait=True, **kwargs):
    """A Linkerd-injected pod. Traditional with proxy.await (`wait`, the default) carries the
    chart's linkerd-await postStart hook; native mode never does."""
    helper = {
        "name": "linkerd-init",
        "image": "cr.l5d.io/linkerd/proxy-init:v2.4.1",
        "args": ["--incoming-proxy-port", "4143"],
    }
    proxy = _proxy("linkerd-proxy", native=mode == "native")
    if mode != "native" and wait:
        proxy["lifecycle"] = copy.deepcopy(LINKERD_AWAIT)
    annotations = {"linkerd.io/proxy-version": "stable-2.16.0", "linkerd.io/inject": "enabled"}
    annotations.update(kwargs.pop("annotations", {}))
    if mode == "native":
        return pod(
            init_containers=[helper, proxy], containers=[_app()], annotations=annotations, **kwargs
        )
    # Linkerd puts its proxy first so it starts before the app.
    return pod(
        init_containers=[helper], containers=[proxy, _app()], annotations=annotations, **kwargs
    )


def kuma(mode, **kwargs):
    helper = {"name": "kuma-init", "image": "kumahq/kuma-init:2.7.0"}
    proxy = _proxy("kuma-sidecar", ["run", "--log-level=info"], native=mode == "native")
    if mode == "native":
        return pod(init_containers=[helper, proxy], containers=[_app()], **kwargs)
    return pod(init_containers=[helper], containers=[_app(), proxy], **kwargs)


def consul(mode, **kwargs):
    helper = {
        "name": "consul-connect-inject-init",
        "image": "hashicorp/consul-k8s-control-plane:1.4",
    }
    proxy = _proxy("consul-dataplane", native=mode == "native")
    if mode == "native":
        return pod(init_containers=[helper, proxy], containers=[_app()], **kwargs)
    return pod(init_containers=[helper], containers=[_app(), proxy], **kwargs)


def istio_gateway(labels=None, **kwargs):
    proxy = _proxy("istio-proxy", ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc"])
    return pod(
        name="istio-ingressgateway-5f7b-xyz",
        namespace="istio-system",
        containers=[proxy],
        labels={"istio": "ingressgateway"} if labels is None else labels,
        **kwargs,
    )


def with_init_restart_policy_stripped(injected):
    """What a webhook built on old client libraries leaves of a native injection."""
    broken = copy.deepcopy(injected)
    for container in broken["spec"].get("initContainers", []):
        container.pop("restartPolicy", None)
    return broken


def running(name):
    return {
        "name": name,
        "ready": True,
        "state": {"running": {"startedAt": "2026-11-20T10:00:05Z"}},
    }


def terminated(name, code=0):
    return {
        "name": name,
        "ready": False,
        "state": {"terminated": {"exitCode": code, "reason": "Completed"}},
    }


# --- shaped exactly as consul-k8s, the App Mesh controller and Kuma inject (read 2026-11) ---

CONSUL_INJECTED = {"consul.hashicorp.com/connect-inject-status": "injected"}


def _consul_dataplane(name="consul-dataplane", native=False):
    """consul-k8s 1.x control-plane/connect-inject/webhook/consul_dataplane_sidecar.go."""
    container = {
        "name": name,
        "image": "hashicorp/consul-dataplane:1.9.0",
        "args": [
            "-addresses",
            "consul-server.consul.svc",
            "-grpc-port=8502",
            "-proxy-service-id-path=/consul/connect-inject/proxyid",
            "-log-level=info",
            "-log-json=false",
            "-envoy-concurrency=2",
            "-graceful-addr=127.0.0.1",
            "-graceful-port=20600",
        ],
        "env": [
            {"name": "TMPDIR", "value": "/consul/connect-inject"},
            {"name": "DP_SERVICE_NODE_NAME", "value": "$(NODE_NAME)-virtual"},
        ],
        "ports": [{"containerPort": 20000, "name": "proxy-health-0", "protocol": "TCP"}],
    }
    if native:
        container["restartPolicy"] = "Always"
        container["startupProbe"] = {
            "exec": {"command": ["/usr/local/bin/consul-dataplane", "-check-proxy-health"]}
        }
    return container


def _consul_inject_init(name="consul-connect-inject-init"):
    return {
        "name": name,
        "image": "hashicorp/consul-k8s-control-plane:1.9.0",
        "command": [
            "/bin/sh",
            "-ec",
            "consul-k8s-control-plane connect-init -pod-name=${POD_NAME} "
            "-pod-namespace=${POD_NAMESPACE}",
        ],
    }


def consul_k8s(mode, user_init_containers=(), lifecycle=True, services=(), **kwargs):
    """A consul-k8s 1.x injection (mesh_webhook.go), native or traditional.

    Native (PR #4678): the user's init containers, then consul-connect-inject-init, then
    consul-dataplane with restartPolicy: Always. Traditional: consul-dataplane first in
    containers with proxy lifecycle management on (the Helm default), last with it off.
    Two or more `services` make a multi-port pod: an init container and a proxy per service,
    each named with the service as suffix.
    """
    init = [dict(c) for c in user_init_containers]
    proxies = []
    for service in services or ("",):
        suffix = f"-{service}" if service else ""
        init.append(_consul_inject_init(f"consul-connect-inject-init{suffix}"))
        proxy = _consul_dataplane(f"consul-dataplane{suffix}", native=mode == "native")
        if mode == "native":
            init.append(proxy)
        else:
            proxies.append(proxy)
    containers = [_app()]
    containers = proxies + containers if lifecycle else containers + proxies
    annotations = dict(CONSUL_INJECTED)
    annotations["consul.hashicorp.com/connect-k8s-version"] = "1.9.0"
    if services:
        annotations["consul.hashicorp.com/connect-service"] = ",".join(services)
    annotations.update(kwargs.pop("annotations", {}))
    labels = dict(CONSUL_INJECTED)
    labels["consul.hashicorp.com/connect-inject-managed-by"] = "consul-k8s-endpoints-controller"
    labels.update(kwargs.pop("labels", {}))
    return pod(
        init_containers=init,
        containers=containers,
        annotations=annotations,
        labels=labels,
        **kwargs,
    )


def consul_before_1_0(metrics_merging=True, marked=True, **kwargs):
    """consul-k8s 0.24-0.49 (control-plane/connect-inject/mesh_webhook.go at v0.49.8):
    copy-consul-bin and consul-connect-inject-init, then envoy-sidecar appended to the app, and
    consul-sidecar (metrics merging only) after it."""
    init = [
        {
            "name": "copy-consul-bin",
            "image": "hashicorp/consul:1.13.3",
            "command": ["cp", "/bin/consul", "/consul/connect-inject/consul"],
        },
        _consul_inject_init(),
    ]
    containers = [
        _app(),
        {
            "name": "envoy-sidecar",
            "image": "envoyproxy/envoy:v1.23.1",
            "command": ["envoy", "--config-path", "/consul/connect-inject/envoy-bootstrap.yaml"],
            "env": [{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
        },
    ]
    if metrics_merging:
        containers.append(
            {
                "name": "consul-sidecar",
                "image": "hashicorp/consul-k8s-control-plane:0.49.8",
                "command": [
                    "consul-k8s-control-plane",
                    "consul-sidecar",
                    "-enable-service-registration=false",
                    "-enable-metrics-merging=true",
                    "-merged-metrics-port=20100",
                ],
            }
        )
    annotations = dict(CONSUL_INJECTED) if marked else {}
    annotations.update(kwargs.pop("annotations", {}))
    labels = kwargs.pop("labels", dict(CONSUL_INJECTED) if marked else {})
    return pod(
        init_containers=init,
        containers=containers,
        annotations=annotations,
        labels=labels,
        **kwargs,
    )


def consul_before_0_24(**kwargs):
    """consul-k8s up to 0.23 (connect-inject/handler.go at v0.23.0)."""
    containers = [
        _app(),
        {"name": "consul-connect-envoy-sidecar", "image": "envoyproxy/envoy-alpine:v1.14.2"},
        {"name": "consul-connect-lifecycle-sidecar", "image": "hashicorp/consul-k8s:0.23.0"},
    ]
    return pod(
        init_containers=[_consul_inject_init()],
        containers=containers,
        annotations=dict(CONSUL_INJECTED),
        labels=dict(CONSUL_INJECTED),
        **kwargs,
    )


def _appmesh_env(resource, legacy=False):
    """What pkg/inject/sidecar_builder.go sets; APPMESH_RESOURCE_ARN since controller v1.12.4."""
    env = [
        {"name": "APPMESH_VIRTUAL_NODE_NAME", "value": resource},
        {"name": "AWS_REGION", "value": "us-west-2"},
        {"name": "ENVOY_LOG_LEVEL", "value": "info"},
        {"name": "APPMESH_PLATFORM_K8S_VERSION", "value": "v1.30.4-eks-a737599"},
        {"name": "APPMESH_PLATFORM_APP_MESH_CONTROLLER_VERSION", "value": "v1.13.3"},
    ]
    if not legacy:
        env.insert(0, {"name": "APPMESH_RESOURCE_ARN", "value": resource})
    env.append(
        {
            "name": "APPMESH_PLATFORM_K8S_POD_UID",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}},
        }
    )
    return env


APPMESH_ECR = "840364872350.dkr.ecr.us-west-2.amazonaws.com"
# sidecar_builder.go's WaitUntilProxyReady hook with the default timeout and interval.
APPMESH_POST_START = (
    "if [[ $(/usr/bin/envoy --version) =~ ([0-9]+)\\.([0-9]+)\\.([0-9]+)-appmesh\\.([0-9]+) && "
    "${BASH_REMATCH[1]} -ge 2 || (${BASH_REMATCH[1]} -ge 1 && ${BASH_REMATCH[2]} -gt 22) || "
    "(${BASH_REMATCH[1]} -ge 1 && ${BASH_REMATCH[2]} -ge 22 && ${BASH_REMATCH[3]} -gt 2) || "
    "(${BASH_REMATCH[1]} -ge 1 && ${BASH_REMATCH[2]} -ge 22 && ${BASH_REMATCH[3]} -ge 2 && "
    "${BASH_REMATCH[4]} -gt 0) ]]; then APPNET_AGENT_POLL_ENVOY_READINESS_TIMEOUT_S=180 "
    "APPNET_AGENT_POLL_ENVOY_READINESS_INTERVAL_S=5 /usr/bin/agent -envoyReadiness; else echo "
    "'WaitUntilProxyReady is not supported in Envoy version < 1.22.2.1'; fi"
)


def _appmesh_envoy(resource, legacy=False):
    return {
        "name": "envoy",
        "image": f"{APPMESH_ECR}/aws-appmesh-envoy:v1.34.13.3-prod",
        "securityContext": {"runAsUser": 1337},
        "ports": [{"containerPort": 9901, "name": "stats", "protocol": "TCP"}],
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 20s"]}}},
        "env": _appmesh_env(resource, legacy),
    }


def _xray_daemon():
    return {
        "name": "xray-daemon",
        "image": "public.ecr.aws/xray/aws-xray-daemon:latest",
        "securityContext": {"runAsUser": 1337},
        "ports": [{"containerPort": 2000, "name": "xray", "protocol": "UDP"}],
        "env": [{"name": "AWS_REGION", "value": "us-west-2"}],
    }


def appmesh(wait_until_proxy_ready=False, xray=False, cni=False, **kwargs):
    """An App Mesh virtual-node pod (aws-app-mesh-controller-for-k8s pkg/inject/).

    proxyinit is appended to the init containers (with the App Mesh CNI, annotations instead);
    envoy is appended to the containers, or put first with waitUntilProxyReady; xray-daemon
    after them when X-Ray tracing is on.
    """
    envoy = _appmesh_envoy("mesh/shop-mesh/virtualNode/cart_shop")
    if wait_until_proxy_ready:
        envoy["lifecycle"]["postStart"] = {"exec": {"command": ["sh", "-c", APPMESH_POST_START]}}
    containers = [envoy, _app()] if wait_until_proxy_ready else [_app(), envoy]
    if xray:
        containers.append(_xray_daemon())
    annotations = dict(kwargs.pop("annotations", {}))
    init = None
    if cni:
        annotations.update(
            {
                "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled",
                "appmesh.k8s.aws/ports": "8080",
                "appmesh.k8s.aws/ignoredUID": "1337",
            }
        )
    else:
        init = [
            {
                "name": "proxyinit",
                "image": f"{APPMESH_ECR}/aws-appmesh-proxy-route-manager:v7-prod",
                "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
                "env": [
                    {"name": "APPMESH_START_ENABLED", "value": "1"},
                    {"name": "APPMESH_IGNORE_UID", "value": "1337"},
                    {"name": "APPMESH_APP_PORTS", "value": "8080"},
                ],
            }
        ]
    return pod(init_containers=init, containers=containers, annotations=annotations, **kwargs)


def appmesh_virtual_gateway(xray=False, legacy_env=False, **kwargs):
    """A virtual-gateway pod: the user's own `envoy` container is the workload; the controller
    only sets its environment (pkg/inject/virtualgateway_envoy.go). No proxyinit."""
    containers = [_appmesh_envoy("mesh/shop-mesh/virtualGateway/ingress-gw_shop", legacy_env)]
    containers[0]["ports"].append({"containerPort": 8088, "protocol": "TCP"})
    if xray:
        containers.append(_xray_daemon())
    return pod(name="ingress-gw-6d9f-abcde", containers=containers, **kwargs)


def contour_envoy(**kwargs):
    """Contour's envoy DaemonSet pod (examples/contour/03-envoy.yaml): envoy is the app."""
    init = [
        {
            "name": "envoy-initconfig",
            "image": "ghcr.io/projectcontour/contour:v1.30.0",
            "command": ["contour"],
            "args": ["bootstrap", "/config/envoy.json"],
            "env": [
                {
                    "name": "CONTOUR_NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                }
            ],
        }
    ]
    containers = [
        {
            "name": "shutdown-manager",
            "image": "ghcr.io/projectcontour/contour:v1.30.0",
            "command": ["/bin/contour"],
            "args": ["envoy", "shutdown-manager"],
        },
        {
            "name": "envoy",
            "image": "docker.io/envoyproxy/envoy:distroless-v1.35.8",
            "command": ["envoy"],
            "args": ["-c", "/config/envoy.json", "--log-level info"],
            "env": [
                {
                    "name": "CONTOUR_NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                {
                    "name": "ENVOY_POD_NAME",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                },
            ],
        },
    ]
    return pod(
        name="envoy-x7k2p",
        namespace="projectcontour",
        init_containers=init,
        containers=containers,
        labels={"app": "envoy"},
        owner=("DaemonSet", "envoy"),
        **kwargs,
    )


def envoy_gateway_proxy(**kwargs):
    """An Envoy Gateway data-plane pod: envoy (the app) and its shutdown-manager."""
    containers = [
        {
            "name": "envoy",
            "image": "docker.io/envoyproxy/envoy:distroless-v1.35.0",
            "command": ["envoy"],
            "args": ["--service-cluster", "default/eg"],
            "env": [
                {
                    "name": "ENVOY_GATEWAY_NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                {
                    "name": "ENVOY_POD_NAME",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                },
            ],
        },
        {
            "name": "shutdown-manager",
            "image": "docker.io/envoyproxy/gateway:v1.5.0",
            "command": ["envoy-gateway"],
            "args": ["envoy", "shutdown-manager"],
        },
    ]
    return pod(
        name="envoy-default-eg-e41e7b31-5d9f-abcde",
        namespace="envoy-gateway-system",
        containers=containers,
        labels={
            "app.kubernetes.io/name": "envoy",
            "app.kubernetes.io/component": "proxy",
            "app.kubernetes.io/managed-by": "envoy-gateway",
        },
        **kwargs,
    )


def kuma_k8s(mode, user_init_containers=(), wait_for_dataplane=False, **kwargs):
    """Kuma's injector (pkg/plugins/runtime/k8s/webhooks/injector/injector.go): native puts
    kuma-init and kuma-sidecar (restartPolicy: Always, preStop `killall -USR2 kuma-dp`) before
    the user's init containers; traditional puts kuma-sidecar first in containers and kuma-init
    after the user's init containers, with a `kuma-dp wait` postStart hook when the pod waits
    for the dataplane (containers/factory.go)."""
    helper = {
        "name": "kuma-init",
        "image": "docker.io/kumahq/kuma-init:2.14.3",
        "command": ["/usr/bin/kumactl", "install", "transparent-proxy"],
    }
    proxy = {
        "name": "kuma-sidecar",
        "image": "docker.io/kumahq/kuma-dp:2.14.3",
        "args": ["run", "--log-level=info", "--concurrency=2"],
        "env": [
            {
                "name": "KUMA_CONTROL_PLANE_URL",
                "value": "https://kuma-control-plane.kuma-system:5678",
            }
        ],
    }
    user_init = [dict(c) for c in user_init_containers]
    annotations = {"kuma.io/sidecar-injected": "true", "kuma.io/mesh": "default"}
    annotations.update(kwargs.pop("annotations", {}))
    if mode == "native":
        proxy["restartPolicy"] = "Always"
        proxy["lifecycle"] = {"preStop": {"exec": {"command": ["killall", "-USR2", "kuma-dp"]}}}
        return pod(
            init_containers=[helper, proxy] + user_init,
            containers=[_app()],
            annotations=annotations,
            **kwargs,
        )
    if wait_for_dataplane:
        proxy["lifecycle"] = {
            "postStart": {
                "exec": {"command": ["kuma-dp", "wait", "--url", "http://localhost:9902/ready"]}
            }
        }
    return pod(
        init_containers=user_init + [helper],
        containers=[proxy, _app()],
        annotations=annotations,
        **kwargs,
    )
