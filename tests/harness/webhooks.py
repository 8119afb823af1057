"""The MutatingWebhookConfigurations that point the API server at the harness's injector server:
one per mesh, named and selecting as the mesh's own chart does, and the optional stripper.

The API server calls webhook configurations in name order: consul-connect-injector,
istio-sidecar-injector, kuma-admission-mutating-webhook-configuration,
linkerd-proxy-injector-webhook-config, then zz-legacy-policy-agent (the stripper must come after
the injectors, as a late third-party webhook does).
"""

import base64
import copy

from tests.harness.api import ApiFailure, resource_path

CONFIGS = resource_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations")
STRIPPER_NAME = "zz-legacy-policy-agent"
STRIPPER_LABEL = "legacy-policy"
PROBE_NAMESPACE = "injection-probe"
# Every route of the injector server marks a pod carrying this label with
# PROBE_SEEN_PREFIX + route, and does nothing else to it: how `wait_for_route` knows the API
# server calls a webhook, whether or not its mesh would inject anything yet.
PROBE_LABEL = "harness.kubectl-sidecar.io/webhook-probe"
PROBE_SEEN_PREFIX = "harness.kubectl-sidecar.io/seen-by-"
HARNESS_SERVER_PORT = "harness.kubectl-sidecar.io/injector-server-port"


def _webhook(name, url, ca_pem, namespace_selector, object_selector=None):
    hook = {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": 10,
        # Fail, not the Ignore some charts default to: a broken stand-in must fail loudly, not
        # leave pods silently uninjected.
        "failurePolicy": "Fail",
        "reinvocationPolicy": "Never",
        "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }
        ],
        "namespaceSelector": namespace_selector,
    }
    if object_selector:
        hook["objectSelector"] = object_selector
    return hook


def _config(name, hook):
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook],
    }


def istio_webhook(port, ca_pem):
    # Istio's own selectors: namespaces labelled istio-injection=enabled, pods not opted out.
    config = _config(
        "istio-sidecar-injector",
        _webhook(
            "sidecar-injector.istio.io",
            f"https://127.0.0.1:{port}/inject",
            ca_pem,
            {
                "matchExpressions": [
                    {"key": "istio-injection", "operator": "In", "values": ["enabled"]}
                ]
            },
            {
                "matchExpressions": [
                    {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
                ]
            },
        ),
    )
    config["metadata"]["labels"] = {"app": "sidecar-injector"}
    return config


def linkerd_webhook(port, ca_pem):
    # linkerd-control-plane's proxyInjector.namespaceSelector/objectSelector defaults: every
    # namespace but kube-system and cert-manager; the opt-in (linkerd.io/inject) is an annotation
    # the injector itself reads, so the API server calls it for every pod.
    return _config(
        "linkerd-proxy-injector-webhook-config",
        _webhook(
            "linkerd-proxy-injector.linkerd.io",
            f"https://127.0.0.1:{port}/linkerd",
            ca_pem,
            {
                "matchExpressions": [
                    {
                        "key": "config.linkerd.io/admission-webhooks",
                        "operator": "NotIn",
                        "values": ["disabled"],
                    },
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kube-system", "cert-manager"],
                    },
                ]
            },
            {
                "matchExpressions": [
                    {"key": "linkerd.io/control-plane-component", "operator": "DoesNotExist"},
                    {"key": "linkerd.io/cni-resource", "operator": "DoesNotExist"},
                ]
            },
        ),
    )


def consul_webhook(port, ca_pem):
    # The consul chart (release and global.name "consul"): connectInject.namespaceSelector's
    # default and the objectSelector that spares Consul's own pods; the opt-in
    # (consul.hashicorp.com/connect-inject) is read by the injector.
    return _config(
        "consul-connect-injector",
        _webhook(
            "consul-connect-injector.consul.hashicorp.com",
            f"https://127.0.0.1:{port}/consul",
            ca_pem,
            {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": [
                            "kube-system",
                            "local-path-storage",
                            "openebs",
                            "gmp-system",
                            "gke-managed-cim",
                        ],
                    },
                    {"key": "openshift.io/cluster-monitoring", "operator": "DoesNotExist"},
                ]
            },
            {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["consul"]}]},
        ),
    )


def kuma_webhook(port, ca_pem):
    # The kuma chart's pod webhooks (templates/cp-webhooks-and-secrets.yaml, v2.13.0 to
    # v2.14.3), never kube-system nor the release's own namespace:
    # namespace-kuma-injector.kuma.io for namespaces labelled kuma.io/sidecar-injection enabled
    # or "true", and pods-kuma-injector.kuma.io for pods labelled enabled in a namespace that
    # carries the label at all (a pod's label decides over its namespace's).
    label = "kuma.io/sidecar-injection"
    not_system = {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", "kuma-system"],
    }
    url = f"https://127.0.0.1:{port}/kuma"
    config = _config(
        "kuma-admission-mutating-webhook-configuration",
        _webhook(
            "namespace-kuma-injector.kuma.io",
            url,
            ca_pem,
            {
                "matchExpressions": [
                    {"key": label, "operator": "In", "values": ["enabled", "true"]},
                    not_system,
                ]
            },
        ),
    )
    config["webhooks"].append(
        _webhook(
            "pods-kuma-injector.kuma.io",
            url,
            ca_pem,
            {"matchExpressions": [{"key": label, "operator": "Exists"}, not_system]},
            {"matchLabels": {label: "enabled"}},
        )
    )
    return config


def stripper_webhook(port, ca_pem):
    return _config(
        STRIPPER_NAME,
        _webhook(
            "legacy-policy-agent.example.com",
            f"https://127.0.0.1:{port}/strip",
            ca_pem,
            {},
            {"matchLabels": {STRIPPER_LABEL: "enforced"}},
        ),
    )


def register_injectors(admin, port, ca_pem, istio_port=None, timeout=300):
    """Istio's webhook, at start-up: the harness's default mesh. Linkerd's and Consul's come with
    their mesh (install_mesh_webhook), as a mesh's install brings its webhook; until then the API
    server spends no time calling them for every pod of the suite.

    istio_port: where Istio's own injector (istio_injector/) serves /inject, instead of the
    harness's server on `port`."""
    config = istio_webhook(istio_port or port, ca_pem)
    # The harness's server, for install_mesh_webhook, whichever server injects for Istio.
    config["metadata"]["annotations"] = {HARNESS_SERVER_PORT: str(port)}
    admin.apply(CONFIGS, config)
    admin.apply(
        resource_path("v1", "namespaces"),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": PROBE_NAMESPACE, "labels": {"istio-injection": "enabled"}},
        },
    )
    if istio_port is None:
        wait_for_route(admin, "inject", PROBE_NAMESPACE, timeout)
    else:
        wait_for_istio_injection(admin, PROBE_NAMESPACE, timeout)
    admin.delete(resource_path("v1", "namespaces", name=PROBE_NAMESPACE))


MESH_WEBHOOKS = {"linkerd": linkerd_webhook, "consul": consul_webhook, "kuma": kuma_webhook}


def install_mesh_webhook(admin, mesh, timeout=300, probe_namespace="default"):
    """Register Linkerd's, Consul's or Kuma's webhook, pointed at the harness's injector server
    (recorded on Istio's registration, made at start-up); returns once the API server calls it
    for a pod in `probe_namespace` (one its namespace selector picks). Does nothing on a control
    plane started without the injector."""
    istio = admin.get(f"{CONFIGS}/istio-sidecar-injector", missing_ok=True)
    if istio is None:
        return
    port = int(istio["metadata"]["annotations"][HARNESS_SERVER_PORT])
    ca_pem = base64.b64decode(istio["webhooks"][0]["clientConfig"]["caBundle"])
    admin.apply(CONFIGS, MESH_WEBHOOKS[mesh](port, ca_pem))
    wait_for_route(admin, mesh, probe_namespace, timeout)


def remove_mesh_webhook(admin, mesh):
    name = MESH_WEBHOOKS[mesh](0, b"")["metadata"][
        "name"
    ]  # the configuration's name, whatever it points at
    admin.delete(f"{CONFIGS}/{name}")


def wait_for_route(admin, route, namespace, timeout=300):
    """A new webhook configuration takes a moment to apply: dry-run a probe pod in `namespace`
    until the injector's `route` has seen it."""

    def seen():
        created = _dry_run_probe(admin, namespace, {PROBE_LABEL: "true"})
        return PROBE_SEEN_PREFIX + route in _annotations(created)

    admin.wait_for(f"the {route} webhook to take effect", seen, timeout=timeout, interval=0.2)


def wait_for_istio_injection(admin, namespace, timeout=300):
    """Istio's own injector marks nothing for the harness: wait until a probe pod comes back with
    its sidecar.istio.io/status."""
    admin.wait_for(
        "Istio's injector to take effect",
        lambda: "sidecar.istio.io/status" in _annotations(_dry_run_probe(admin, namespace, {})),
        timeout=timeout,
        interval=0.2,
    )


def use_harness_istio_injector(admin, namespace, timeout=300):
    """Point Istio's webhook at the harness's model of it (injectors/istio.py, on the harness's
    server, which serves /inject whichever injector the control plane started with), for a test
    that needs a switch only the model has (injectors.istio.PUSHED: an ASM push that never
    arrives). `namespace` is one the webhook selects. Returns what puts it back (and waits)."""
    path = f"{CONFIGS}/istio-sidecar-injector"
    config = admin.get(path)
    original = config["webhooks"]
    port = config["metadata"]["annotations"][HARNESS_SERVER_PORT]
    model = copy.deepcopy(original)
    for hook in model:
        hook["clientConfig"]["url"] = f"https://127.0.0.1:{port}/inject"
    if model == original:
        return lambda: None
    admin.patch(path, {"webhooks": model})
    wait_for_route(admin, "inject", namespace, timeout)

    def restore():
        admin.patch(path, {"webhooks": original})

        def istio_injects():
            created = _dry_run_probe(admin, namespace, {PROBE_LABEL: "true"})
            annotations = _annotations(created)
            return (
                "sidecar.istio.io/status" in annotations
                and PROBE_SEEN_PREFIX + "inject" not in annotations
            )

        admin.wait_for("Istio's injector to be back", istio_injects, timeout=timeout, interval=0.2)

    return restore


def _dry_run_probe(admin, namespace, labels, annotations=None):
    """The probe pod as admission returns it from a dry-run create, or None if refused."""
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "labels": labels, "annotations": dict(annotations or {})},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]},
    }
    try:
        return admin.request(
            "POST", resource_path("v1", "pods", namespace), probe, params={"dryRun": "All"}
        )
    except ApiFailure:
        return None


def _annotations(pod):
    return ((pod or {}).get("metadata") or {}).get("annotations") or {}


def register_stripper(admin, port, ca_pem):
    """Drops restartPolicy from the init containers of pods labelled legacy-policy=enforced, as a
    webhook built against old client libraries does. Returns once the API server calls it."""
    admin.apply(CONFIGS, stripper_webhook(port, ca_pem))
    admin.wait_for(
        "the stripping webhook to take effect",
        lambda: not _native_probe_admitted(admin),
        timeout=300,
        interval=0.5,
    )


def unregister_stripper(admin):
    admin.delete(f"{CONFIGS}/{STRIPPER_NAME}")
    admin.wait_for(
        "the stripping webhook to be gone",
        lambda: _native_probe_admitted(admin),
        timeout=300,
        interval=0.5,
    )


def _native_probe_admitted(admin):
    """Whether a labelled pod with a probed native sidecar gets through admission (dry run)."""
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "strip-probe", "labels": {STRIPPER_LABEL: "enforced"}},
        "spec": {
            "initContainers": [
                {
                    "name": "proxy",
                    "image": "registry.example/proxy:1",
                    "restartPolicy": "Always",
                    "readinessProbe": {"tcpSocket": {"port": 15021}},
                }
            ],
            "containers": [{"name": "app", "image": "registry.example/app:1.0"}],
        },
    }
    try:
        admin.request(
            "POST", resource_path("v1", "pods", "default"), probe, params={"dryRun": "All"}
        )
        return True
    except ApiFailure:
        return False
