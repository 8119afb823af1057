"""Whether a mesh's injector would give a pod without a proxy one: the webhook selectors the API
server evaluates, and each mesh's own per-pod rules."""

import pytest

from kubectl_sidecar.injection import (
    InjectorWebhook,
    Namespace,
    Selector,
    applies_to_pod_creation,
    injector_webhooks,
    lost_proxy,
    selecting,
    selector_matches,
)
from kubectl_sidecar.meshes import consul, istio, kuma, linkerd
from kubectl_sidecar.meshes.base import MeshConfig

LABELS = {"app": "cart", "tier": "web"}


@pytest.mark.parametrize(
    "selector, matches",
    [
        (None, True),
        ({}, True),
        ({"matchLabels": {"app": "cart"}}, True),
        ({"matchLabels": {"app": "web"}}, False),
        ({"matchLabels": {"missing": "x"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "cart"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "gone", "operator": "In", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["cart"]}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}, True),
        # NotIn matches a missing key, as Kubernetes' selectors do
        ({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "gone", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "gone", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
        # every requirement must hold (AND), labels and expressions alike
        (
            {
                "matchLabels": {"app": "cart"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}],
            },
            False,
        ),
        # an operator it doesn't know: unknown, unless another requirement already fails
        ({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}, None),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}],
            },
            False,
        ),
    ],
)
def test_label_selectors_match_as_the_api_server_evaluates_them(selector, matches):
    assert selector_matches(selector, LABELS) is matches


POD_RULE = {
    "operations": ["CREATE"],
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "resources": ["pods"],
    "scope": "Namespaced",
}


@pytest.mark.parametrize(
    "rule, applies",
    [
        (POD_RULE, True),
        ({**POD_RULE, "operations": ["*"], "resources": ["*"]}, True),
        ({**POD_RULE, "scope": "*"}, True),
        ({k: v for k, v in POD_RULE.items() if k != "scope"}, True),
        ({**POD_RULE, "operations": ["UPDATE"]}, False),
        ({**POD_RULE, "resources": ["pods/ephemeralcontainers"]}, False),
        ({**POD_RULE, "apiGroups": ["apps"], "resources": ["deployments"]}, False),
    ],
)
def test_only_webhooks_for_pod_creation_count(rule, applies):
    assert applies_to_pod_creation({"rules": [rule]}) is applies


def istio_configuration(name="istio-sidecar-injector", revision=None, conditions=None):
    """Istio's chart's webhooks for one revision: namespaces labelled istio-injection=enabled
    (or istio.io/rev), and pods asking with sidecar.istio.io/inject=true elsewhere."""
    hooks = [
        {
            "name": "namespace.sidecar-injector.istio.io",
            "rules": [POD_RULE],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "istio-injection", "operator": "In", "values": ["enabled"]}
                ]
            },
            "objectSelector": {
                "matchExpressions": [
                    {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
                ]
            },
        },
        {
            "name": "object.sidecar-injector.istio.io",
            "rules": [POD_RULE],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "istio-injection", "operator": "DoesNotExist"},
                    {"key": "istio.io/rev", "operator": "DoesNotExist"},
                ]
            },
            "objectSelector": {
                "matchExpressions": [
                    {"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]},
                    {"key": "istio.io/rev", "operator": "DoesNotExist"},
                ]
            },
        },
    ]
    if conditions:
        hooks[0]["matchConditions"] = conditions
    labels = {"istio.io/rev": revision} if revision else {}
    return {"metadata": {"name": name, "labels": labels}, "webhooks": hooks}


OTHERS = {
    "metadata": {"name": "policy-webhook"},
    "webhooks": [{"name": "policy.example.com", "rules": [POD_RULE]}],
}
INJECTION_ON = Namespace({"istio-injection": "enabled"}, {})
PLAIN = Namespace({"kubernetes.io/metadata.name": "shop"}, {})


def istio_lost(labels=None, annotations=None, host_network=False, namespace=INJECTION_ON, **kw):
    webhooks = injector_webhooks([OTHERS, istio_configuration(**kw)], istio.INJECTOR_WEBHOOKS)
    found = lost_proxy(
        (labels or {}, annotations or {}, host_network),
        "shop",
        namespace,
        selecting(webhooks, namespace),
        istio.injects,
    )
    return found.configuration if found else None


def test_only_the_meshs_own_webhook_configurations_are_its_injectors():
    webhooks = injector_webhooks([OTHERS, istio_configuration()], istio.INJECTOR_WEBHOOKS)
    assert {hook.configuration for hook in webhooks} == {"istio-sidecar-injector"}
    assert len(webhooks) == 2


def test_an_istio_pod_without_a_proxy_in_an_injected_namespace_lost_it():
    assert istio_lost() == "istio-sidecar-injector"


def test_an_istio_pod_that_asked_for_a_proxy_in_a_plain_namespace_lost_it():
    assert istio_lost({"sidecar.istio.io/inject": "true"}, namespace=PLAIN)


@pytest.mark.parametrize(
    "labels, annotations, host_network, namespace",
    [
        ({}, {}, False, PLAIN),  # never meshed: no webhook selects it
        ({"sidecar.istio.io/inject": "false"}, {}, False, INJECTION_ON),  # the webhook spares it
        ({}, {"sidecar.istio.io/inject": "false"}, False, INJECTION_ON),  # the injector does
        ({}, {}, True, INJECTION_ON),  # hostNetwork
        # the label decides over the annotation, as the injector reads them
        ({"sidecar.istio.io/inject": "false"}, {"sidecar.istio.io/inject": "true"}, False, PLAIN),
        # a value releases read differently: not certain
        ({}, {"sidecar.istio.io/inject": "yes"}, False, INJECTION_ON),
        (None, None, False, None),  # its namespace wasn't read
    ],
)
def test_istio_pods_its_injector_would_leave_alone_are_not_lost(
    labels, annotations, host_network, namespace
):
    assert istio_lost(labels, annotations, host_network, namespace) is None


def test_istio_spares_the_kubernetes_system_namespaces_whatever_their_labels():
    webhooks = injector_webhooks([istio_configuration()], istio.INJECTOR_WEBHOOKS)
    facts = ({}, {}, False)
    hooks = selecting(webhooks, INJECTION_ON)
    assert lost_proxy(facts, "kube-system", INJECTION_ON, hooks, istio.injects) is None


def test_a_webhook_with_match_conditions_makes_it_uncertain():
    conditions = [{"name": "not-jobs", "expression": "true"}]
    assert istio_lost(conditions=conditions) is None


def test_the_revision_of_the_webhook_that_selects_the_pod_is_kept():
    webhooks = injector_webhooks(
        [istio_configuration("istio-sidecar-injector-canary", revision="canary")],
        istio.INJECTOR_WEBHOOKS,
    )
    hooks = selecting(webhooks, INJECTION_ON)
    found = lost_proxy(({}, {}, False), "shop", INJECTION_ON, hooks, istio.injects)
    assert (found.configuration, found.revision) == ("istio-sidecar-injector-canary", "canary")


LINKERD_HOOK = InjectorWebhook(
    "linkerd-proxy-injector-webhook-config",
    None,
    Selector.of(
        {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": ["kube-system"],
                }
            ]
        }
    ),
    Selector.of(
        {
            "matchExpressions": [
                {"key": "linkerd.io/control-plane-component", "operator": "DoesNotExist"}
            ]
        }
    ),
    False,
)


@pytest.mark.parametrize(
    "pod, namespace, lost",
    [
        ({}, {"linkerd.io/inject": "enabled"}, True),
        ({"linkerd.io/inject": "enabled"}, {}, True),
        ({"linkerd.io/inject": "ingress"}, {}, True),
        ({}, {}, False),  # the webhook calls it for every pod; it injects only those asking
        ({"linkerd.io/inject": "disabled"}, {"linkerd.io/inject": "enabled"}, False),
        ({"linkerd.io/inject": "bogus"}, {"linkerd.io/inject": "enabled"}, False),
    ],
)
def test_linkerd_injects_what_the_pod_or_its_namespace_asks_for(pod, namespace, lost):
    ns = Namespace({}, namespace)
    found = lost_proxy(({}, pod, False), "shop", ns, selecting([LINKERD_HOOK], ns), linkerd.injects)
    assert (found is not None) is lost


def test_linkerd_never_injects_a_host_network_pod():
    ns = Namespace({}, {"linkerd.io/inject": "enabled"})
    hooks = selecting([LINKERD_HOOK], ns)
    assert lost_proxy(({}, {}, True), "shop", ns, hooks, linkerd.injects) is None


def test_a_webhook_is_called_only_where_both_its_selectors_match():
    (hook,) = injector_webhooks([istio_configuration()], istio.INJECTOR_WEBHOOKS)[:1]
    assert hook.called({"istio-injection": "enabled"}, {}) is True
    assert hook.called({}, {}) is False
    assert (
        hook.called({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}) is False
    )


# --- istiod's injector config: policy, neverInjectSelector, alwaysInjectSelector -------------


def injector_config(text):
    return {"data": {"config": text}}


NEVER_JOBS = "neverInjectSelector:\n- matchLabels: {kind: job}\n"
ALWAYS_TOOLS = "alwaysInjectSelector:\n- matchExpressions: [{key: tool, operator: Exists}]\n"


# injectRequired (istio.io/istio pkg/kube/inject/inject.go), row by row.
@pytest.mark.parametrize(
    "config, labels, annotations, expected",
    [
        ("policy: enabled", {}, {}, True),
        ("policy: disabled", {}, {}, False),
        ("policy: disabled", {}, {"sidecar.istio.io/inject": "true"}, True),
        ("policy: disabled", {"sidecar.istio.io/inject": "true"}, {}, True),
        ("policy: enabled", {}, {"sidecar.istio.io/inject": "false"}, False),
        # any policy but enabled/disabled (or none at all) turns injection off, even on request
        ("policy: bogus", {"sidecar.istio.io/inject": "true"}, {}, False),
        ("templates: {}", {"sidecar.istio.io/inject": "true"}, {}, False),
        # without an explicit value the never selector, then the always selector decide
        ("policy: enabled\n" + NEVER_JOBS, {"kind": "job"}, {}, False),
        ("policy: enabled\n" + NEVER_JOBS, {"kind": "web"}, {}, True),
        ("policy: disabled\n" + ALWAYS_TOOLS, {"tool": "x"}, {}, True),
        ("policy: disabled\n" + NEVER_JOBS + ALWAYS_TOOLS, {"kind": "job", "tool": "x"}, {}, False),
        # an explicit value wins over both
        ("policy: enabled\n" + NEVER_JOBS, {"kind": "job", "sidecar.istio.io/inject": "true"}, {},
         True),
        ("policy: disabled\n" + ALWAYS_TOOLS, {"tool": "x"}, {"sidecar.istio.io/inject": "false"},
         False),
        # selectors LabelSelectorAsSelector refuses, or that are empty, are skipped
        ("policy: enabled\nneverInjectSelector:\n- {}\n", {"kind": "job"}, {}, True),
        ("policy: enabled\nneverInjectSelector:\n- matchExpressions: [{key: kind, operator: In}]\n",
         {"kind": "job"}, {}, True),
        ("policy: enabled\nneverInjectSelector:\n- matchLabels: {kind: 'not valid'}\n"
         "- matchLabels: {kind: job}\n", {"kind": "job"}, {}, False),
        ("policy: disabled\nalwaysInjectSelector:\n- matchExpressions: [{key: k, operator: Gt, "
         "values: ['1']}]\n", {"k": "2"}, {}, False),
        # a value releases read differently: can't tell, whatever the config
        ("policy: disabled", {}, {"sidecar.istio.io/inject": "yes"}, None),
    ],
)  # fmt: skip
def test_istios_injector_config_decides_as_inject_required_does(
    config, labels, annotations, expected
):
    policy = istio.injector_policy(injector_config(config))
    assert istio.injects(labels, annotations, False, "shop", INJECTION_ON, policy) is expected


def test_without_the_injector_config_map_the_chart_defaults_hold():
    assert istio.injector_policy(None) == istio.CHART_POLICY
    assert istio.injects({}, {}, False, "shop", INJECTION_ON, istio.CHART_POLICY) is True


@pytest.mark.parametrize(
    "config_map",
    [
        {"data": {}},
        injector_config("policy: [unclosed"),
        injector_config("- a list"),
        injector_config("policy: on"),  # YAML's true, not a string
        injector_config("neverInjectSelector: {kind: job}"),
    ],
)
def test_an_injector_config_istiod_could_not_read_tells_nothing(config_map):
    assert istio.injector_policy(config_map) is None


@pytest.mark.parametrize(
    "revision, service_namespace, expected",
    [
        (None, "istio-system", ("istio-system", "istio-sidecar-injector")),
        ("default", "mesh", ("mesh", "istio-sidecar-injector")),
        ("canary", "istio-system", ("istio-system", "istio-sidecar-injector-canary")),
        ("canary", None, ("istio-system", "istio-sidecar-injector-canary")),
    ],
)
def test_each_revision_reads_its_own_injector_config_map(revision, service_namespace, expected):
    assert istio.injector_config_map(revision, service_namespace) == expected


def test_lost_proxy_asks_the_calling_webhooks_injector_for_its_rules():
    webhooks = injector_webhooks([istio_configuration()], istio.INJECTOR_WEBHOOKS)
    hooks = selecting(webhooks, INJECTION_ON)
    disabled = istio.injector_policy(injector_config("policy: disabled"))
    asked = []

    def rules_of(webhook):
        asked.append(webhook.configuration)
        return disabled

    facts = ({}, {}, False)
    assert lost_proxy(facts, "shop", INJECTION_ON, hooks, istio.injects, rules_of) is None
    opted_in = ({}, {"sidecar.istio.io/inject": "true"}, False)
    found = lost_proxy(opted_in, "shop", INJECTION_ON, hooks, istio.injects, rules_of)
    assert found is not None and asked == ["istio-sidecar-injector"] * 2
    # unreadable rules: nothing is flagged
    unread = lost_proxy(opted_in, "shop", INJECTION_ON, hooks, istio.injects, lambda hook: None)
    assert unread is None


def test_the_service_a_webhook_calls_names_istiods_namespace():
    configuration = istio_configuration()
    for hook in configuration["webhooks"]:
        hook["clientConfig"] = {"service": {"name": "istiod", "namespace": "mesh"}}
    webhooks = injector_webhooks([configuration], istio.INJECTOR_WEBHOOKS)
    assert {hook.service_namespace for hook in webhooks} == {"mesh"}


# --- Kuma: the pod's kuma.io/sidecar-injection label, else its namespace's --------------------


def kuma_configuration():
    """The kuma chart's two pod webhooks (templates/cp-webhooks-and-secrets.yaml): namespaces
    labelled enabled/"true", and pods labelled enabled in any namespace carrying the label;
    never kube-system nor the chart's own namespace."""
    not_system = {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", "kuma-system"],
    }
    label = "kuma.io/sidecar-injection"
    return {
        "metadata": {"name": "kuma-admission-mutating-webhook-configuration"},
        "webhooks": [
            {
                "name": "namespace-kuma-injector.kuma.io",
                "rules": [POD_RULE],
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": label, "operator": "In", "values": ["enabled", "true"]},
                        not_system,
                    ]
                },
            },
            {
                "name": "pods-kuma-injector.kuma.io",
                "rules": [POD_RULE],
                "namespaceSelector": {
                    "matchExpressions": [{"key": label, "operator": "Exists"}, not_system]
                },
                "objectSelector": {"matchLabels": {label: "enabled"}},
            },
        ],
    }


def kuma_lost(pod_labels, namespace_labels, namespace_name="shop", host_network=False):
    namespace = Namespace({"kubernetes.io/metadata.name": namespace_name, **namespace_labels}, {})
    webhooks = injector_webhooks([OTHERS, kuma_configuration()], kuma.INJECTOR_WEBHOOKS)
    found = lost_proxy(
        (pod_labels, {}, host_network),
        namespace_name,
        namespace,
        selecting(webhooks, namespace),
        kuma.injects,
    )
    return found is not None


KUMA = "kuma.io/sidecar-injection"


@pytest.mark.parametrize(
    "pod, namespace, lost",
    [
        ({}, {KUMA: "enabled"}, True),
        ({}, {KUMA: "true"}, True),
        ({}, {}, False),  # no webhook selects it
        # the pod's label decides over its namespace's, both ways
        ({KUMA: "disabled"}, {KUMA: "enabled"}, False),
        ({KUMA: "false"}, {KUMA: "true"}, False),
        ({KUMA: "enabled"}, {KUMA: "disabled"}, True),  # pods-kuma-injector calls it
        # the injector reads yes/no too; the webhook selects namespaces with enabled/true only
        ({KUMA: "no"}, {KUMA: "enabled"}, False),
        ({KUMA: "yes"}, {KUMA: "enabled"}, True),
        ({KUMA: "yes"}, {KUMA: "disabled"}, False),  # not called: objectSelector wants enabled
        # builtin gateway pods carry the label disabled
        ({KUMA: "disabled", "app": "edge-gateway"}, {KUMA: "enabled"}, False),
        # kuma-cp's default exception labels (OpenShift build and deployer pods)
        ({"openshift.io/build.name": "web-1"}, {KUMA: "enabled"}, False),
        ({"openshift.io/deployer-pod-for.name": "web-1"}, {KUMA: "enabled"}, False),
    ],
)
def test_kuma_injects_what_the_pods_label_or_else_its_namespaces_asks_for(pod, namespace, lost):
    assert kuma_lost(pod, namespace) is lost


def test_kuma_leaves_its_own_namespace_and_kube_system_to_the_webhook_selectors():
    assert kuma_lost({}, {KUMA: "enabled"}, namespace_name="kuma-system") is False
    assert kuma_lost({KUMA: "enabled"}, {KUMA: "enabled"}, namespace_name="kube-system") is False


def test_kuma_injects_host_network_pods_too():
    assert kuma_lost({}, {KUMA: "enabled"}, host_network=True) is True


@pytest.mark.parametrize(
    "pod, namespace",
    [
        # a value GetEnabled refuses fails the admission request: that pod was never injected
        ({KUMA: "on"}, {KUMA: "enabled"}),
        ({}, {KUMA: "Enabled"}),
    ],
)
def test_a_kuma_injection_label_the_injector_refuses_tells_nothing(pod, namespace):
    labels = Namespace(namespace, {})
    assert kuma.injects(pod, {}, False, "shop", labels) is None


# --- Consul: the injector's flags, then the pod's connect-inject annotation ------------------

CONSUL_INJECT = "consul.hashicorp.com/connect-inject"
CHART_RULES = consul.InjectorRules(False, frozenset({"*"}), frozenset(), "consul")


@pytest.mark.parametrize(
    "annotations, namespace, rules, injects",
    [
        ({CONSUL_INJECT: "true"}, "shop", CHART_RULES, True),
        ({CONSUL_INJECT: "1"}, "shop", CHART_RULES, True),  # strconv.ParseBool
        ({}, "shop", CHART_RULES, False),  # the chart's connectInject.default: false
        ({}, "shop", consul.InjectorRules(True, frozenset({"*"}), frozenset(), None), True),
        (
            {CONSUL_INJECT: "false"},
            "shop",
            consul.InjectorRules(True, frozenset({"*"}), frozenset(), None),
            False,
        ),
        # never the system namespaces, whatever the pod says or the flags allow
        ({CONSUL_INJECT: "true"}, "kube-system", CHART_RULES, False),
        ({CONSUL_INJECT: "true"}, "kube-public", CHART_RULES, False),
        # deny wins over allow; without "*" only the namespaces allowed; none allowed: none
        (
            {CONSUL_INJECT: "true"},
            "shop",
            consul.InjectorRules(False, frozenset({"*"}), frozenset({"shop"}), None),
            False,
        ),
        (
            {CONSUL_INJECT: "true"},
            "shop",
            consul.InjectorRules(False, frozenset({"shop"}), frozenset(), None),
            True,
        ),
        (
            {CONSUL_INJECT: "true"},
            "shop",
            consul.InjectorRules(False, frozenset({"other"}), frozenset(), None),
            False,
        ),
        (
            {CONSUL_INJECT: "true"},
            "shop",
            consul.InjectorRules(True, frozenset(), frozenset(), None),
            False,
        ),
        # already injected once (a copied pod): it isn't injected again
        (
            {CONSUL_INJECT: "true", "consul.hashicorp.com/connect-inject-status": "injected"},
            "shop",
            CHART_RULES,
            False,
        ),
        # a value ParseBool refuses fails the admission request: uncertain
        ({CONSUL_INJECT: "yes"}, "shop", CHART_RULES, None),
    ],
)
def test_consul_injects_as_should_inject_decides(annotations, namespace, rules, injects):
    found = consul.injects({}, annotations, False, namespace, Namespace({}, {}), rules)
    assert found is injects


def consul_configuration(service_namespace=None):
    hook = {
        "name": "consul-connect-injector.consul.hashicorp.com",
        "rules": [POD_RULE],
        "objectSelector": {
            "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["consul"]}]
        },
    }
    if service_namespace:
        hook["clientConfig"] = {
            "service": {"name": "consul-connect-injector", "namespace": service_namespace}
        }
    return {"metadata": {"name": "consul-connect-injector"}, "webhooks": [hook]}


def consul_mesh(script):
    deployment = {
        "metadata": {"name": "consul-connect-injector", "namespace": "consul"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "sidecar-injector",
                            "image": "hashicorp/consul-k8s-control-plane:1.9.0",
                            "command": ["/bin/sh", "-ec", script],
                        }
                    ]
                }
            }
        },
    }
    return consul.consul_config(deployment)


CHART_SCRIPT = (
    "exec consul-k8s-control-plane inject-connect \\\n"
    "  -default-inject=false \\\n"
    '  -allow-k8s-namespace="*" \\\n'
    "  -listen=:8080\n"
)


def fields(rules):
    return (rules.default_inject, rules.allow, rules.deny, rules.namespace)


def test_consul_reads_its_rules_from_the_injector_the_mesh_read_found():
    mesh = consul_mesh(CHART_SCRIPT)
    (hook,) = injector_webhooks([OTHERS, consul_configuration()], consul.INJECTOR_WEBHOOKS)
    assert fields(consul.injector_rules(mesh, hook)) == fields(CHART_RULES)
    (same,) = injector_webhooks([consul_configuration("consul")], consul.INJECTOR_WEBHOOKS)
    assert fields(consul.injector_rules(mesh, same)) == fields(CHART_RULES)
    # a webhook calling an injector in another namespace: not the one read
    (other,) = injector_webhooks([consul_configuration("consul-b")], consul.INJECTOR_WEBHOOKS)
    assert consul.injector_rules(mesh, other) is None
    # no injector Deployment found
    assert consul.injector_rules(consul.consul_config(None), hook) is None
    assert consul.injector_rules(MeshConfig(name="consul"), hook) is None


def test_lost_proxy_hands_consuls_rules_to_its_injects():
    mesh = consul_mesh(CHART_SCRIPT)
    webhooks = injector_webhooks([consul_configuration()], consul.INJECTOR_WEBHOOKS)
    ns = Namespace({"kubernetes.io/metadata.name": "shop"}, {})
    hooks = selecting(webhooks, ns)

    def rules_of(webhook):
        return consul.injector_rules(mesh, webhook)

    def lost(labels, annotations):
        found = lost_proxy(
            (labels, annotations, False), "shop", ns, hooks, consul.injects, rules_of
        )
        return found is not None

    assert lost({}, {CONSUL_INJECT: "true"}) is True
    assert lost({}, {}) is False  # -default-inject=false
    assert lost({"app": "consul"}, {CONSUL_INJECT: "true"}) is False  # the objectSelector
    unread = lost_proxy(
        ({}, {CONSUL_INJECT: "true"}, False), "shop", ns, hooks, consul.injects, lambda hook: None
    )
    assert unread is None
