"""Mesh configs and workloads for the e2e tests and the demo, created through the real API."""
from tests.harness.api import ApiFailure, resource_path

APP_IMAGE = "registry.example/app:1.0"
ISTIOD_IMAGE = "docker.io/istio/pilot:1.26.2"

NAMESPACES = resource_path("v1", "namespaces")
ASM = resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs")


def _meta(name, namespace=None, labels=None, annotations=None):
    meta = {"name": name, "labels": dict(labels or {})}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def namespace(admin, name, injection=True, labels=None):
    all_labels = {"istio-injection": "enabled"} if injection else {}
    all_labels.update(labels or {})
    admin.apply(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name, labels=all_labels)})


def delete_namespace(admin, name, wait=True):
    admin.delete(resource_path("v1", "namespaces", name=name))
    if wait:
        admin.wait_for(f"namespace {name} to go away",
                       lambda: admin.get(resource_path("v1", "namespaces", name=name), missing_ok=True) is None,
                       timeout=120)


# --- mesh configuration ----------------------------------------------------------------------

def _create_or_replace(admin, collection, body, attempts=5):
    """Create, or replace the whole object (retrying while controllers update it under us)."""
    name = body["metadata"]["name"]
    for attempt in range(attempts):
        try:
            return admin.create(collection, body)
        except ApiFailure as failure:
            if failure.status != 409:
                raise
        current = admin.get(f"{collection}/{name}", missing_ok=True)
        if current is None:
            continue
        replacement = dict(body, metadata=dict(body["metadata"],
                                               resourceVersion=current["metadata"]["resourceVersion"]))
        try:
            return admin.request("PUT", f"{collection}/{name}", replacement)
        except ApiFailure as failure:
            if failure.status != 409 or attempt == attempts - 1:
                raise
    raise RuntimeError(f"could not create or replace {collection}/{name}")


def asm_mesh(admin, native):
    """ASMMeshConfig/default with spec.enableNativeSidecar (None: the field absent)."""
    spec = {"clusterDomain": "cluster.local", "enableTracing": False}
    if native is not None:
        spec["enableNativeSidecar"] = native
    body = {"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMMeshConfig",
            "metadata": {"name": "default"}, "spec": spec}
    _create_or_replace(admin, ASM, body)


def remove_asm_mesh(admin):
    admin.delete(f"{ASM}/default")


def istio_mesh(admin, native_env, revision="default"):
    """An istiod Deployment in istio-system; native_env is ENABLE_NATIVE_SIDECARS' value or None."""
    namespace(admin, "istio-system", injection=False)
    env = [{"name": "PILOT_TRACE_SAMPLING", "value": "1"}]
    if native_env is not None:
        env.append({"name": "ENABLE_NATIVE_SIDECARS", "value": native_env})
    name = "istiod" if revision == "default" else f"istiod-{revision}"
    labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": revision}
    deployments = resource_path("apps/v1", "deployments", "istio-system")
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, labels=labels),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "istiod", "istio.io/rev": revision}},
                     "template": {"metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                                  "spec": {"containers": [{"name": "discovery", "image": ISTIOD_IMAGE, "env": env,
                                                           "ports": [{"containerPort": 15010}]}]}}}}
    _create_or_replace(admin, deployments, body)


def remove_istio_mesh(admin):
    admin.delete(resource_path("apps/v1", "deployments", "istio-system", "istiod"))


# --- workloads ----------------------------------------------------------------------------------

def _template(app, annotations=None, restart_policy=None, labels=None):
    spec = {"containers": [{"name": app, "image": APP_IMAGE, "ports": [{"containerPort": 8080}]}],
            "terminationGracePeriodSeconds": 5}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {"metadata": {"labels": {"app": app, **(labels or {})}, "annotations": dict(annotations or {})},
            "spec": spec}


def deployment(admin, ns, name, replicas=2, annotations=None, strategy=None, labels=None):
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns, {"app": name}),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": _template(name, annotations, labels=labels)}}
    if strategy:
        body["spec"]["strategy"] = strategy
    return admin.create(resource_path("apps/v1", "deployments", ns), body)


def statefulset(admin, ns, name, replicas=2, on_delete=False):
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(name, ns, {"app": name}),
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "updateStrategy": {"type": "OnDelete" if on_delete else "RollingUpdate"},
                     "template": _template(name)}}
    return admin.create(resource_path("apps/v1", "statefulsets", ns), body)


def daemonset(admin, ns, name):
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(name, ns, {"app": name}),
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": _template(name)}}
    return admin.create(resource_path("apps/v1", "daemonsets", ns), body)


def job(admin, ns, name, owner=None):
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name, ns, {"app": name}),
            "spec": {"backoffLimit": 0, "template": _template(name, restart_policy="Never")}}
    if owner:
        body["metadata"]["ownerReferences"] = [owner]
    return admin.create(resource_path("batch/v1", "jobs", ns), body)


def cronjob(admin, ns, name):
    """A suspended CronJob and one Job it 'ran' (as `kubectl create job --from=cronjob/...` makes)."""
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(name, ns, {"app": name}),
            "spec": {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": {
                "backoffLimit": 0, "template": _template(name, restart_policy="Never")}}}}
    created = admin.create(resource_path("batch/v1", "cronjobs", ns), body)
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": name,
             "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    return job(admin, ns, f"{name}-29000000", owner=owner)


def bare_pod(admin, ns, name):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, ns, {"app": name}),
            "spec": _template(name)["spec"]}
    return admin.create(resource_path("v1", "pods", ns), body)


def gateway(admin, ns, name="istio-ingressgateway"):
    """An ingress gateway: the proxy is the workload itself, never injected."""
    labels = {"app": name, "istio": "ingressgateway"}
    template = {"metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {"containers": [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.26.2",
                                         "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                                         "ports": [{"containerPort": 8080}]}]}}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns, labels),
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}}
    return admin.create(resource_path("apps/v1", "deployments", ns), body)


# --- waiting --------------------------------------------------------------------------------------

def pods(admin, ns, selector=None):
    params = {"labelSelector": selector} if selector else None
    return admin.items(resource_path("v1", "pods", ns), params)


def wait_for_pods(admin, ns, count, selector=None, timeout=90):
    """Until exactly `count` pods exist (none terminating) and each has a status from the kubelet."""
    def settled():
        found = pods(admin, ns, selector)
        return (len(found) == count
                and not any(p["metadata"].get("deletionTimestamp") for p in found)
                and all((p.get("status") or {}).get("startTime") for p in found))
    admin.wait_for(f"{count} settled pods in {ns}" + (f" ({selector})" if selector else ""), settled,
                   timeout=timeout)


def proxy_mode(pod):
    """native / traditional / none, read directly off a pod (independent of the code under test)."""
    spec = pod["spec"]
    for container in spec.get("initContainers") or []:
        if container["name"] == "istio-proxy":
            return "native" if container.get("restartPolicy") == "Always" else "invalid"
    if any(c["name"] == "istio-proxy" for c in spec["containers"]):
        return "traditional"
    return "none"


def modes(admin, ns, selector=None):
    return sorted(proxy_mode(p) for p in pods(admin, ns, selector)
                  if not p["metadata"].get("deletionTimestamp"))
