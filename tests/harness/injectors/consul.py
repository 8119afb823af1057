"""consul-k8s's connect injector (hashicorp/consul-k8s control-plane/connect-inject/webhook,
mesh_webhook.go Handle, consul_dataplane_sidecar.go; lifecycle/lifecycle_configuration.go).

Its defaults are flags of `consul-k8s-control-plane inject-connect`, which the chart writes into
the container's `command` as a `/bin/sh -ec` script. The real injector reads them when it starts;
this one reads them from Deployment consul/consul-connect-injector on every request, i.e. as they
are once that Deployment has rolled out.

Which pods (shouldInject): not in kube-system/kube-public; not in a namespace of
`-deny-k8s-namespace`; only in one of `-allow-k8s-namespace`, or any where it lists "*" (the
chart writes connectInject.k8sAllowNamespaces, ["*"]; none given: nowhere); not already
`consul.hashicorp.com/connect-inject-status`; `consul.hashicorp.com/connect-inject`
("true"/"false", ParseBool; an invalid value fails the request) on the pod, else `-default-inject`
(Go default true; the chart writes connectInject.default, false).

Which mode: the pod's `consul.hashicorp.com/enable-consul-dataplane-as-sidecar` when non-empty
(an invalid value fails the request), else `-default-enable-consul-dataplane-as-sidecar` (absent:
false). Native: `consul-dataplane` appended to the init containers, after the user's and after
`consul-connect-inject-init`, with `restartPolicy: Always` and an exec startup probe. Traditional:
first in `containers` when proxy lifecycle management is on (pod annotation
`consul.hashicorp.com/enable-sidecar-proxy-lifecycle`, else `-default-enable-sidecar-proxy-lifecycle`,
which the chart sets true), else last.
"""

import copy

from tests.harness.api import resource_path
from tests.harness.injectors.common import (
    BadFlag,
    Refused,
    annotations,
    container_argv,
    go_bool_flag,
    go_list_flag,
    parse_bool,
)

NAMESPACE, DEPLOYMENT = "consul", "consul-connect-injector"
INJECTOR = resource_path("apps/v1", "deployments", NAMESPACE, DEPLOYMENT)
INJECT = "consul.hashicorp.com/connect-inject"
INJECT_STATUS = "consul.hashicorp.com/connect-inject-status"
AS_SIDECAR = "consul.hashicorp.com/enable-consul-dataplane-as-sidecar"
LIFECYCLE = "consul.hashicorp.com/enable-sidecar-proxy-lifecycle"
AS_SIDECAR_FLAG = "default-enable-consul-dataplane-as-sidecar"
LIFECYCLE_FLAG = "default-enable-sidecar-proxy-lifecycle"
INJECT_FLAG = "default-inject"
ALLOW_FLAG, DENY_FLAG = "allow-k8s-namespace", "deny-k8s-namespace"
VERSION = "1.9.0"
DATAPLANE_IMAGE = "hashicorp/consul-dataplane:1.9.0"
K8S_IMAGE = f"hashicorp/consul-k8s-control-plane:{VERSION}"
SYSTEM_NAMESPACES = ("kube-system", "kube-public")
DATA_VOLUME = "consul-connect-inject-data"


def injector_flags(deployment):
    """{flag: value} as the injector process would parse them, Go's defaults where absent: the
    bool flags, and the lists of allowed and denied namespaces."""
    argv = [
        word
        for container in deployment["spec"]["template"]["spec"]["containers"]
        for word in container_argv(container)
    ]
    try:
        found = {
            name: go_bool_flag(argv, name)
            for name in (INJECT_FLAG, LIFECYCLE_FLAG, AS_SIDECAR_FLAG)
        }
    except BadFlag as error:
        raise Refused(f"consul-connect-injector would not start: {error}") from None
    defaults = {INJECT_FLAG: True, LIFECYCLE_FLAG: False, AS_SIDECAR_FLAG: False}
    flags = {name: defaults[name] if value is None else value for name, value in found.items()}
    for name in (ALLOW_FLAG, DENY_FLAG):
        flags[name] = set(go_list_flag(argv, name))
    return flags


def _pod_bool(pod_annotations, key, default):
    raw = pod_annotations.get(key, "")
    if raw == "":
        return default
    value = parse_bool(raw)
    if value is None:
        raise Refused(
            f'{key} annotation value of {raw} was invalid: strconv.ParseBool: parsing "{raw}": invalid syntax'
        )
    return value


def wants_injection(pod, namespace, flags):
    own = annotations(pod)
    if namespace in SYSTEM_NAMESPACES or namespace in flags[DENY_FLAG]:
        return False
    if "*" not in flags[ALLOW_FLAG] and namespace not in flags[ALLOW_FLAG]:
        return False
    if own.get(INJECT_STATUS):
        return False
    if INJECT in own:
        value = parse_bool(own[INJECT])
        if value is None:
            raise Refused(
                f"error checking if should inject: invalid {INJECT} value {own[INJECT]!r}"
            )
        return value
    return flags[INJECT_FLAG]


def native_sidecar(pod, flags):
    return _pod_bool(annotations(pod), AS_SIDECAR, flags[AS_SIDECAR_FLAG])


def lifecycle(pod, flags):
    try:
        return _pod_bool(annotations(pod), LIFECYCLE, flags[LIFECYCLE_FLAG])
    except Refused:
        return False  # mesh_webhook.go logs the error and goes on without lifecycle management


def dataplane_container(native):
    container = {
        "name": "consul-dataplane",
        "image": DATAPLANE_IMAGE,
        "args": [
            "-addresses",
            "consul-server.consul.svc",
            "-grpc-port=8502",
            "-proxy-service-id-path=/consul/connect-inject/proxyid",
            "-log-level=info",
            "-log-json=false",
            "-envoy-concurrency=2",
            "-tls-disabled",
            "-graceful-port=20600",
            "-telemetry-prom-scrape-path=/metrics",
        ],
        "env": [
            {"name": "TMPDIR", "value": "/consul/connect-inject"},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "DP_SERVICE_NODE_NAME", "value": "$(NODE_NAME)-virtual"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
        ],
        "readinessProbe": {"tcpSocket": {"port": 20000}, "initialDelaySeconds": 1},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsGroup": 5995,
            "runAsNonRoot": True,
            "runAsUser": 5995,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"mountPath": "/consul/connect-inject", "name": DATA_VOLUME}],
    }
    if native:
        container["restartPolicy"] = "Always"
        container["startupProbe"] = {
            "exec": {"command": ["/usr/local/bin/consul-dataplane", "-check-proxy-health"]},
            "initialDelaySeconds": 1,
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 5,
        }
    return container


def init_container():
    return {
        "name": "consul-connect-inject-init",
        "image": K8S_IMAGE,
        "command": [
            "/bin/sh",
            "-ec",
            (
                "consul-k8s-control-plane connect-init -pod-name=${POD_NAME} "
                "-pod-namespace=${POD_NAMESPACE} -log-level=info -log-json=false"
            ),
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "CONSUL_ADDRESSES", "value": "consul-server.consul.svc"},
            {"name": "CONSUL_GRPC_PORT", "value": "8502"},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsGroup": 5996,
            "runAsNonRoot": True,
            "runAsUser": 5996,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"mountPath": "/consul/connect-inject", "name": DATA_VOLUME}],
    }


def inject(pod, namespace, flags):
    """The pod as consul-k8s returns it, or None when it leaves the pod alone (single-port pods)."""
    if not wants_injection(pod, namespace, flags):
        return None
    native, managed = native_sidecar(pod, flags), lifecycle(pod, flags)
    pod = copy.deepcopy(pod)
    spec, metadata = pod["spec"], pod["metadata"]
    spec["volumes"] = list(spec.get("volumes") or []) + [
        {"name": DATA_VOLUME, "emptyDir": {"medium": "Memory"}}
    ]
    init = list(spec.get("initContainers") or []) + [init_container()]
    dataplane = dataplane_container(native)
    if managed and not native:
        spec["containers"] = [dataplane] + spec["containers"]
    elif native:
        init.append(dataplane)
    else:
        spec["containers"] = spec["containers"] + [dataplane]
    spec["initContainers"] = init
    metadata["annotations"] = dict(
        annotations(pod),
        **{INJECT_STATUS: "injected", "consul.hashicorp.com/consul-k8s-version": VERSION},
    )
    metadata["labels"] = dict(
        metadata.get("labels") or {},
        **{
            INJECT_STATUS: "injected",
            "consul.hashicorp.com/connect-inject-managed-by": "consul-k8s-endpoints-controller",
        },
    )
    return pod


class ConsulInjector:
    """Reads the injector Deployment's flags on every admission request."""

    def __init__(self, api):
        self.api = api

    def review(self, pod, namespace):
        deployment = self.api.get(INJECTOR, missing_ok=True)
        if deployment is None:
            return None  # Consul is not installed: its webhook would not be there either
        return inject(pod, namespace, injector_flags(deployment))
