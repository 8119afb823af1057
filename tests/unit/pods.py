"""Pod JSON shaped like real mesh injections, for the pure tests.

Shapes follow what each injector writes: Istio's istio-init / istio-validation helpers and its
sidecar.istio.io/status annotation, Linkerd putting linkerd-proxy first, Kuma's kuma-init,
Consul's consul-connect-inject-init. Only the fields the code reads vary; the rest is there so
a test pod looks like the real thing.
"""
import copy
import json


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


def pod(name="app-7d9c-abcde", namespace="shop", containers=None, init_containers=None,
        owner=None, labels=None, annotations=None, node="node-1", statuses=None):
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
        metadata["ownerReferences"] = [{
            "apiVersion": "apps/v1" if kind in ("ReplicaSet", "StatefulSet", "DaemonSet") else "v1",
            "kind": kind, "name": owner_name, "uid": f"uid-{owner_name}", "controller": True,
            "blockOwnerDeletion": True,
        }]
    spec = {"containers": containers or [_app()], "nodeName": node}
    if init_containers:
        spec["initContainers"] = init_containers
    status = {"phase": "Running"}
    if statuses:
        status["containerStatuses"] = statuses
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec,
            "status": status}


def istio(mode, revision="default", cni=False, **kwargs):
    """An Istio/ASM-injected pod, native or traditional."""
    helper = {"name": "istio-validation" if cni else "istio-init",
              "image": "registry.example/proxyv2:1.22.2", "args": ["istio-iptables", "-p", "15001"]}
    proxy = _proxy("istio-proxy", ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc"],
                   native=mode == "native")
    status = {"initContainers": [helper["name"]], "containers": ["istio-proxy"],
              "volumes": ["workload-socket", "istio-envoy", "istio-data"],
              "imagePullSecrets": None, "revision": revision}
    if mode == "native":
        init = [helper, proxy]
        containers = [_app()]
        status["initContainers"].append("istio-proxy")
        status["containers"] = None
    else:
        init = [helper]
        containers = [_app(), proxy]
    labels = {"app": "cart", "security.istio.io/tlsMode": "istio",
              "service.istio.io/canonical-name": "cart"}
    labels.update(kwargs.pop("labels", {}))
    annotations = {"sidecar.istio.io/status": json.dumps(status),
                   "kubectl.kubernetes.io/default-container": "app"}
    annotations.update(kwargs.pop("annotations", {}))
    return pod(containers=containers, init_containers=init, labels=labels,
               annotations=annotations, **kwargs)


def linkerd(mode, **kwargs):
    helper = {"name": "linkerd-init", "image": "cr.l5d.io/linkerd/proxy-init:v2.4.1",
              "args": ["--incoming-proxy-port", "4143"]}
    proxy = _proxy("linkerd-proxy", native=mode == "native")
    annotations = {"linkerd.io/proxy-version": "stable-2.16.0", "linkerd.io/inject": "enabled"}
    annotations.update(kwargs.pop("annotations", {}))
    if mode == "native":
        return pod(init_containers=[helper, proxy], containers=[_app()],
                   annotations=annotations, **kwargs)
    # Linkerd puts its proxy first so it starts before the app.
    return pod(init_containers=[helper], containers=[proxy, _app()], annotations=annotations,
               **kwargs)


def kuma(mode, **kwargs):
    helper = {"name": "kuma-init", "image": "kumahq/kuma-init:2.7.0"}
    proxy = _proxy("kuma-sidecar", ["run", "--log-level=info"], native=mode == "native")
    if mode == "native":
        return pod(init_containers=[helper, proxy], containers=[_app()], **kwargs)
    return pod(init_containers=[helper], containers=[_app(), proxy], **kwargs)


def consul(mode, **kwargs):
    helper = {"name": "consul-connect-inject-init", "image": "hashicorp/consul-k8s-control-plane:1.4"}
    proxy = _proxy("consul-dataplane", native=mode == "native")
    if mode == "native":
        return pod(init_containers=[helper, proxy], containers=[_app()], **kwargs)
    return pod(init_containers=[helper], containers=[_app(), proxy], **kwargs)


def istio_gateway(labels=None, **kwargs):
    proxy = _proxy("istio-proxy", ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc"])
    return pod(name="istio-ingressgateway-5f7b-xyz", namespace="istio-system",
               containers=[proxy], labels={"istio": "ingressgateway"} if labels is None else labels,
               **kwargs)


def with_init_restart_policy_stripped(injected):
    """What a webhook built on old client libraries leaves of a native injection."""
    broken = copy.deepcopy(injected)
    for container in broken["spec"].get("initContainers", []):
        container.pop("restartPolicy", None)
    return broken


def running(name):
    return {"name": name, "ready": True, "state": {"running": {"startedAt": "2026-11-20T10:00:05Z"}}}


def terminated(name, code=0):
    return {"name": name, "ready": False,
            "state": {"terminated": {"exitCode": code, "reason": "Completed"}}}
