"""Mesh configs and workloads for the e2e tests and the demo, created through the real API."""

import yaml

from tests.harness import webhooks
from tests.harness.api import ApiFailure, resource_path
from tests.harness.injectors import consul as consul_injector
from tests.harness.injectors import kuma as kuma_injector
from tests.harness.injectors import linkerd as linkerd_injector
from tests.harness.injectors.common import container_argv, go_bool_flag

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


def namespace(admin, name, injection=True, labels=None, annotations=None):
    """Create the namespace, or merge these labels and annotations into it (None removes a key).
    injection: Istio's istio-injection=enabled label."""
    all_labels = {"istio-injection": "enabled"} if injection else {}
    all_labels.update(labels or {})
    admin.apply(
        NAMESPACES,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _meta(name, labels=all_labels, annotations=annotations),
        },
    )


def delete_namespace(admin, name, wait=True):
    admin.delete(resource_path("v1", "namespaces", name=name))
    if wait:
        admin.wait_for(
            f"namespace {name} to go away",
            lambda: (
                admin.get(resource_path("v1", "namespaces", name=name), missing_ok=True) is None
            ),
            timeout=120,
        )


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
        replacement = dict(
            body,
            metadata=dict(body["metadata"], resourceVersion=current["metadata"]["resourceVersion"]),
        )
        try:
            return admin.request("PUT", f"{collection}/{name}", replacement)
        except ApiFailure as failure:
            if failure.status != 409 or attempt == attempts - 1:
                raise
    raise RuntimeError(f"could not create or replace {collection}/{name}")


def asm_mesh(admin, native):
    """ASMMeshConfig/default with spec.enableNativeSidecar (None: the field absent), and the
    istio-system namespace an ASM instance has (where a switch holds its Lease)."""
    namespace(admin, "istio-system", injection=False)
    spec = {"clusterDomain": "cluster.local", "enableTracing": False}
    if native is not None:
        spec["enableNativeSidecar"] = native
    body = {
        "apiVersion": "istio.alibabacloud.com/v1beta1",
        "kind": "ASMMeshConfig",
        "metadata": {"name": "default"},
        "spec": spec,
    }
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
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, labels=labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "istiod", "istio.io/rev": revision}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {
                    "containers": [
                        {
                            "name": "discovery",
                            "image": ISTIOD_IMAGE,
                            "env": env,
                            "ports": [{"containerPort": 15010}],
                        }
                    ]
                },
            },
        },
    }
    _create_or_replace(admin, deployments, body)


def remove_istio_mesh(admin):
    admin.delete(resource_path("apps/v1", "deployments", "istio-system", "istiod"))


# Linkerd: ConfigMap linkerd/linkerd-config, whose `values` key holds the chart's values, and
# namespace annotations (injectors/linkerd.py says how its injector reads them).

LINKERD_VERSION = linkerd_injector.VERSIONS["2.20"]
LINKERD_CONFIG = resource_path("v1", "configmaps", "linkerd")
LINKERD_NATIVE = linkerd_injector.NATIVE_KEYS[0]  # config.linkerd.io/proxy-enable-native-sidecar


def linkerd_mesh(admin, native, version=LINKERD_VERSION):
    """linkerd-config of release `version` (linkerdVersion, whose injector the harness's follows)
    with proxy.nativeSidecar (None: the key absent, which Linkerd reads as false), and Linkerd's
    injector webhook."""
    namespace(admin, "linkerd", injection=False)
    proxy = {
        "image": {"name": linkerd_injector.PROXY_IMAGE, "version": ""},
        "await": True,
        "ports": {"admin": 4191, "control": 4190, "inbound": 4143, "outbound": 4140},
    }
    if native is not None:
        proxy["nativeSidecar"] = native
    values = {
        "linkerdVersion": version,
        "cniEnabled": False,
        "clusterDomain": "cluster.local",
        "identityTrustAnchorsPEM": "-----BEGIN CERTIFICATE-----\nharness\n-----END CERTIFICATE-----\n",
        "proxy": proxy,
    }
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(
            "linkerd-config", "linkerd", {"linkerd.io/control-plane-component": "controller"}
        ),
        "data": {"values": yaml.safe_dump(values, sort_keys=True)},
    }
    _create_or_replace(admin, LINKERD_CONFIG, body)
    webhooks.install_mesh_webhook(admin, "linkerd")


def remove_linkerd_mesh(admin):
    webhooks.remove_mesh_webhook(admin, "linkerd")
    admin.delete(f"{LINKERD_CONFIG}/linkerd-config")


def linkerd_namespace(admin, name, native=None, inject="enabled", key=LINKERD_NATIVE):
    """A namespace opted in with linkerd.io/inject (None: no opt-in) and, unless native is None, the
    mode annotation `key` set to "true"/"false". Re-applying merges, so it also flips a mode.
    Linkerd copies the namespace's mode annotation onto each pod it injects (unless the pod has
    its own), as it does with every config annotation."""
    annotations = {linkerd_injector.INJECT: inject} if inject else {}
    if native is not None:
        annotations[key] = str(native).lower()
    namespace(admin, name, injection=False, annotations=annotations)


def namespace_annotations(admin, name):
    return (
        admin.get(resource_path("v1", "namespaces", name=name))["metadata"].get("annotations") or {}
    )


# Consul: Deployment consul/consul-connect-injector, the chart's shape, its defaults as flags of
# the `/bin/sh -ec` script in `command` (injectors/consul.py reads them as the process would).

CONSUL_IMAGE = consul_injector.K8S_IMAGE
CONSUL_AS_SIDECAR = consul_injector.AS_SIDECAR  # the per-pod annotation
CONSUL_INJECT = consul_injector.INJECT


def consul_mesh(admin, native=False, lifecycle=True, allow=("*",), deny=()):
    """consul-connect-injector rendered as the chart renders it, and its webhook. native:
    -default-enable-consul-dataplane-as-sidecar=true|false (the chart's
    connectInject.dataplaneAsSidecarInitContainer.defaultEnabled), or None to leave the flag out
    (Go's default, false). lifecycle: -default-enable-sidecar-proxy-lifecycle (chart default true).
    allow, deny: one -allow-k8s-namespace / -deny-k8s-namespace each (the chart's
    connectInject.k8sAllowNamespaces, default ["*"], and k8sDenyNamespaces, default []).
    Always -default-inject=false, the chart's default: pods opt in with
    consul.hashicorp.com/connect-inject: "true"."""
    namespace(admin, consul_injector.NAMESPACE, injection=False)
    flags = [
        "-config-file=/consul/config/config.json",
        "-log-level=info",
        "-log-json=false",
        "-default-inject=false",
        f'-consul-dataplane-image="{consul_injector.DATAPLANE_IMAGE}"',
        f'-consul-k8s-image="{CONSUL_IMAGE}"',
        '-release-name="consul"',
        '-release-namespace="consul"',
        "-resource-prefix=consul",
        "-listen=:8080",
        *(f'-allow-k8s-namespace="{name}"' for name in allow),
        *(f'-deny-k8s-namespace="{name}"' for name in deny),
        f"-default-enable-sidecar-proxy-lifecycle={str(lifecycle).lower()}",
        "-default-sidecar-proxy-lifecycle-shutdown-grace-period-seconds=30",
        "-default-sidecar-proxy-lifecycle-graceful-port=20600",
    ]
    if native is not None:
        flags.append(f"-{consul_injector.AS_SIDECAR_FLAG}={str(native).lower()}")
    if native:
        flags += [
            "-default-sidecar-probe-check-initial-delay-seconds=1",
            "-default-sidecar-probe-period-seconds=10",
            '-default-sidecar-probe-failure-threshold="3"',
            '-default-sidecar-probe-check-timeout-seconds="5"',
        ]
    script = (
        "exec consul-k8s-control-plane inject-connect \\\n"
        + "".join(f"  {flag} \\\n" for flag in flags[:-1])
        + f"  {flags[-1]}\n"
    )
    labels = {
        "app": "consul",
        "chart": "consul-helm",
        "release": "consul",
        "component": "connect-injector",
    }
    container = {
        "name": "sidecar-injector",
        "image": CONSUL_IMAGE,
        "ports": [{"containerPort": 8080, "name": "webhook-server", "protocol": "TCP"}],
        "command": ["/bin/sh", "-ec", script],
    }
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(consul_injector.DEPLOYMENT, consul_injector.NAMESPACE, labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "consul-connect-injector",
                    "containers": [container],
                },
            },
        },
    }
    _create_or_replace(
        admin, resource_path("apps/v1", "deployments", consul_injector.NAMESPACE), body
    )
    webhooks.install_mesh_webhook(admin, "consul")


def remove_consul_mesh(admin):
    webhooks.remove_mesh_webhook(admin, "consul")
    admin.delete(consul_injector.INJECTOR)


def consul_injector_flag(admin, name=consul_injector.AS_SIDECAR_FLAG):
    """A boolean flag of the running consul-connect-injector as its process would read it: True,
    False, or None when absent (to assert on what `switch` wrote)."""
    deployment = admin.get(consul_injector.INJECTOR)
    argv = [
        word
        for c in deployment["spec"]["template"]["spec"]["containers"]
        for word in container_argv(c)
    ]
    return go_bool_flag(argv, name)


# Kuma: Deployment kuma-system/kuma-control-plane as the chart renders it, kuma-cp's setting in
# its env (injectors/kuma.py reads it and the image tag as kuma-cp would).

KUMA_VERSION = "2.13.0"
KUMA_ENV = kuma_injector.ENV
KUMA_INJECTION = kuma_injector.INJECTION
KUMA_PROBE_NAMESPACE = "kuma-injection-probe"


def kuma_mesh(admin, native=None, version=KUMA_VERSION):
    """kuma-control-plane running kuma-cp `version`, and Kuma's webhook. native: the env
    KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS "true"/"false", or None to leave it out (the release's
    default: false up to 2.13, true in 2.14). The chart renders the env only when true up to
    2.13, and always from 2.14; a user's controlPlane.envVars may set it either way."""
    namespace(admin, kuma_injector.NAMESPACE, injection=False)
    env = [
        {"name": "KUMA_ENVIRONMENT", "value": "kubernetes"},
        {"name": "KUMA_STORE_TYPE", "value": "kubernetes"},
    ]
    if native is not None:
        env.append({"name": KUMA_ENV, "value": str(native).lower()})
    selector = {
        "app": "kuma-control-plane",
        "app.kubernetes.io/name": "kuma",
        "app.kubernetes.io/instance": "kuma",
    }
    labels = {
        **selector,
        "helm.sh/chart": f"kuma-{version}",
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/managed-by": "Helm",
    }
    container = {
        "name": "control-plane",
        "image": f"docker.io/kumahq/kuma-cp:{version}",
        "args": [
            "run",
            "--log-level=info",
            "--config-file=/etc/kuma.io/kuma-control-plane/config.yaml",
        ],
        "env": env,
        "ports": [{"containerPort": 5681}, {"containerPort": 5443}],
    }
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(kuma_injector.DEPLOYMENT, kuma_injector.NAMESPACE, labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"serviceAccountName": "kuma-control-plane", "containers": [container]},
            },
        },
    }
    _create_or_replace(
        admin, resource_path("apps/v1", "deployments", kuma_injector.NAMESPACE), body
    )
    kuma_namespace(admin, KUMA_PROBE_NAMESPACE)
    webhooks.install_mesh_webhook(admin, "kuma", probe_namespace=KUMA_PROBE_NAMESPACE)


def remove_kuma_mesh(admin):
    webhooks.remove_mesh_webhook(admin, "kuma")
    admin.delete(kuma_injector.CONTROL_PLANE)
    delete_namespace(admin, KUMA_PROBE_NAMESPACE, wait=False)


def kuma_namespace(admin, name):
    """A namespace whose pods Kuma injects (kuma.io/sidecar-injection=enabled)."""
    namespace(admin, name, injection=False, labels={KUMA_INJECTION: "enabled"})


def kuma_env(admin):
    """KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS of the running kuma-control-plane: its value, or None
    when absent (to assert on what `switch` wrote)."""
    container = admin.get(kuma_injector.CONTROL_PLANE)["spec"]["template"]["spec"]["containers"][0]
    values = [e.get("value") for e in container.get("env") or () if e["name"] == KUMA_ENV]
    return values[-1] if values else None


# --- workloads ----------------------------------------------------------------------------------


def _template(app, annotations=None, restart_policy=None, labels=None, init_containers=None):
    spec = {
        "containers": [{"name": app, "image": APP_IMAGE, "ports": [{"containerPort": 8080}]}],
        "terminationGracePeriodSeconds": 5,
    }
    if init_containers:
        spec["initContainers"] = [{"name": name, "image": APP_IMAGE} for name in init_containers]
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {
        "metadata": {
            "labels": {"app": app, **(labels or {})},
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
    }


def deployment(
    admin, ns, name, replicas=2, annotations=None, strategy=None, labels=None, init_containers=None
):
    """annotations and labels go on the pod template; init_containers: names of the app's own."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, ns, {"app": name}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _template(
                name, annotations, labels=labels, init_containers=init_containers
            ),
        },
    }
    if strategy:
        body["spec"]["strategy"] = strategy
    return admin.create(resource_path("apps/v1", "deployments", ns), body)


def statefulset(admin, ns, name, replicas=2, on_delete=False):
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, ns, {"app": name}),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "OnDelete" if on_delete else "RollingUpdate"},
            "template": _template(name),
        },
    }
    return admin.create(resource_path("apps/v1", "statefulsets", ns), body)


def daemonset(admin, ns, name):
    body = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(name, ns, {"app": name}),
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": _template(name)},
    }
    return admin.create(resource_path("apps/v1", "daemonsets", ns), body)


def job(admin, ns, name, owner=None):
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(name, ns, {"app": name}),
        "spec": {"backoffLimit": 0, "template": _template(name, restart_policy="Never")},
    }
    if owner:
        body["metadata"]["ownerReferences"] = [owner]
    return admin.create(resource_path("batch/v1", "jobs", ns), body)


def cronjob(admin, ns, name):
    """A suspended CronJob and one Job it 'ran' (as `kubectl create job --from=cronjob/...` makes)."""
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(name, ns, {"app": name}),
        "spec": {
            "schedule": "0 3 * * *",
            "suspend": True,
            "jobTemplate": {
                "spec": {"backoffLimit": 0, "template": _template(name, restart_policy="Never")}
            },
        },
    }
    created = admin.create(resource_path("batch/v1", "cronjobs", ns), body)
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": name,
        "uid": created["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return job(admin, ns, f"{name}-29000000", owner=owner)


def bare_pod(admin, ns, name):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, ns, {"app": name}),
        "spec": _template(name)["spec"],
    }
    return admin.create(resource_path("v1", "pods", ns), body)


def gateway(admin, ns, name="istio-ingressgateway"):
    """An ingress gateway: the proxy is the workload itself, never injected."""
    labels = {"app": name, "istio": "ingressgateway"}
    template = {
        "metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
        "spec": {
            "containers": [
                {
                    "name": "istio-proxy",
                    "image": "docker.io/istio/proxyv2:1.26.2",
                    "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                    "ports": [{"containerPort": 8080}],
                }
            ]
        },
    }
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, ns, labels),
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }
    return admin.create(resource_path("apps/v1", "deployments", ns), body)


# --- waiting --------------------------------------------------------------------------------------


def pods(admin, ns, selector=None):
    params = {"labelSelector": selector} if selector else None
    return admin.items(resource_path("v1", "pods", ns), params)


def wait_for_ready(admin, ns, timeout=300):
    """Until every pod in the namespace reports Ready (slow ones: kubelet-sim/ready-after)."""
    admin.wait_for(
        f"the pods in {ns} to be ready",
        lambda: all(
            c["status"] == "True"
            for p in pods(admin, ns)
            for c in (p.get("status") or {}).get("conditions") or []
            if c["type"] == "Ready"
        ),
        timeout=timeout,
    )


def wait_for_pods(admin, ns, count, selector=None, timeout=300):
    """Until exactly `count` pods exist (none terminating) and each has a status from the kubelet."""

    def settled():
        found = pods(admin, ns, selector)
        return (
            len(found) == count
            and not any(p["metadata"].get("deletionTimestamp") for p in found)
            and all((p.get("status") or {}).get("startTime") for p in found)
        )

    admin.wait_for(
        f"{count} settled pods in {ns}" + (f" ({selector})" if selector else ""),
        settled,
        timeout=timeout,
    )


PROXIES = ("istio-proxy", "linkerd-proxy", "consul-dataplane", "kuma-sidecar")


def proxy_mode(pod):
    """native / traditional / invalid / none, read directly off a pod (independent of the code
    under test)."""
    spec = pod["spec"]
    for container in spec.get("initContainers") or []:
        if container["name"] in PROXIES:
            return "native" if container.get("restartPolicy") == "Always" else "invalid"
    if any(c["name"] in PROXIES for c in spec["containers"]):
        return "traditional"
    return "none"


def injected_mode(admin, ns, workload, kind="deployments"):
    """The mode the injectors would give a new pod of this workload now (a dry-run create): the
    mesh's own answer, to hold what `kubectl sidecar` calls DESIRED against."""
    template = admin.get(resource_path("apps/v1", kind, ns, workload))["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": dict(template.get("metadata") or {}, generateName=f"{workload}-"),
        "spec": template["spec"],
    }
    created = admin.request("POST", resource_path("v1", "pods", ns), pod, params={"dryRun": "All"})
    return proxy_mode(created)


def template_annotations(admin, ns, workload, kind="deployments"):
    found = admin.get(resource_path("apps/v1", kind, ns, workload))
    return found["spec"]["template"]["metadata"].get("annotations") or {}


def modes(admin, ns, selector=None):
    return sorted(
        proxy_mode(p)
        for p in pods(admin, ns, selector)
        if not p["metadata"].get("deletionTimestamp")
    )
