"""Whether a mesh's injector would give a pod its proxy: pure functions of plain data.

A pod without a proxy either never belonged to the mesh or lost it (created while the injector
was down behind a webhook that fails open). Which one is not guessed: the API server calls the
injector for a pod exactly when one of its MutatingWebhookConfiguration's webhooks applies to pod
creation and its namespaceSelector and objectSelector match the namespace's and the pod's labels;
the injector then applies its own per-pod rules (each mesh module's `injects`). Where either
can't be told for certain (a CEL matchCondition, a selector operator or an annotation value
this doesn't know), the pod is not flagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

UNKNOWN = None  # can't be told: never flagged


class Selector(NamedTuple):
    """A metav1.LabelSelector read once, to be matched against many pods' labels."""

    requirements: tuple[tuple[str, str, frozenset], ...] = ()  # (key, operator, values)
    unknown: bool = False  # it has an operator this doesn't know

    @classmethod
    def of(cls, selector: Mapping | None) -> Selector:
        """A missing or empty selector matches everything, as the API server reads it."""
        selector = selector or {}
        requirements = [
            (key, "In", frozenset((value,)))
            for key, value in (selector.get("matchLabels") or {}).items()
        ]
        unknown = False
        for requirement in selector.get("matchExpressions") or ():
            operator = requirement.get("operator")
            if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
                unknown = True
                continue
            values = frozenset(requirement.get("values") or ())
            requirements.append((requirement.get("key"), operator, values))
        return cls(tuple(requirements), unknown)

    def matches(self, labels: Mapping[str, str]) -> bool | None:
        """Every requirement holds: True; one fails: False; else None where an operator is
        one it doesn't know."""
        for key, operator, values in self.requirements:
            value = labels.get(key)  # a label's value is a string: None is its absence
            if operator == "In":
                if value is None or value not in values:
                    return False
            elif operator == "NotIn":
                if value is not None and value in values:
                    return False
            elif operator == "Exists":
                if value is None:
                    return False
            elif value is not None:  # DoesNotExist
                return False
        return UNKNOWN if self.unknown else True


# k8s.io/apimachinery util/validation: IsQualifiedName (a label key) and IsValidLabelValue.
_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\Z")
_VALUES_NEEDED = {"In": True, "NotIn": True, "Exists": False, "DoesNotExist": False}


def _label_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= 253 and _SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_NAME.match(name))


def _label_value(value: object) -> bool:
    return isinstance(value, str) and (
        value == "" or (len(value) <= 63 and bool(_NAME.match(value)))
    )


def valid_label_selector(selector: Mapping) -> bool:
    """metav1.LabelSelectorAsSelector converts it without an error (labels.NewRequirement's
    checks): keys and values a label may have, a known operator, values only with In/NotIn."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        return False
    if not all(_label_key(k) and _label_value(v) for k, v in match_labels.items()):
        return False
    for requirement in expressions:
        if not isinstance(requirement, Mapping):
            return False
        needed = _VALUES_NEEDED.get(str(requirement.get("operator")))
        values = requirement.get("values") or []
        if needed is None or not _label_key(requirement.get("key")) or not isinstance(values, list):
            return False
        if bool(values) != needed or not all(_label_value(value) for value in values):
            return False
    return True


def selector_matches(selector: Mapping | None, labels: Mapping[str, str]) -> bool | None:
    """metav1.LabelSelector against labels, as the API server reads a webhook's selectors."""
    return Selector.of(selector).matches(labels)


def _any(values: Iterable, *wanted: str) -> bool:
    return any(value in wanted for value in values or ())


def applies_to_pod_creation(webhook: Mapping) -> bool:
    """One of the webhook's rules covers CREATE of core/v1 pods."""
    for rule in webhook.get("rules") or ():
        if (
            _any(rule.get("operations"), "CREATE", "*")
            and _any(rule.get("apiGroups"), "", "*")
            and _any(rule.get("apiVersions"), "v1", "*")
            and _any(rule.get("resources"), "pods", "*", "*/*")
            and rule.get("scope", "*") in ("*", "Namespaced")
        ):
            return True
    return False


class InjectorWebhook(NamedTuple):
    """One webhook of a mesh's injector that applies to pod creation."""

    configuration: str  # its MutatingWebhookConfiguration's name
    revision: str | None  # the control plane revision it calls (Istio's istio.io/rev label)
    namespace_selector: Selector
    object_selector: Selector
    conditional: bool  # it has matchConditions (CEL): whether it is called can't be told
    service_namespace: str | None = None  # of the Service it calls (None: a URL)

    def called(self, namespace_labels: Mapping, pod_labels: Mapping) -> bool | None:
        """Whether the API server calls it for a pod with these labels in that namespace."""
        return self.called_in(self.namespace_selector.matches(namespace_labels), pod_labels)

    def called_in(self, namespace_match: bool | None, pod_labels: Mapping) -> bool | None:
        """called(), its namespaceSelector's answer already known (selecting())."""
        if namespace_match is False:
            return False
        pod_match = self.object_selector.matches(pod_labels)
        if pod_match is False:
            return False
        if self.conditional or namespace_match is UNKNOWN or pod_match is UNKNOWN:
            return UNKNOWN
        return True


def injector_webhooks(configurations: Iterable[Mapping], prefixes: tuple[str, ...]):
    """[InjectorWebhook] of the MutatingWebhookConfigurations named with one of the mesh's
    prefixes (base.ProxyFamily.INJECTOR_WEBHOOKS), from a list of them."""
    found = []
    for configuration in configurations:
        metadata = configuration.get("metadata") or {}
        name = metadata.get("name") or ""
        if not name.startswith(prefixes):
            continue
        revision = (metadata.get("labels") or {}).get("istio.io/rev")
        for webhook in configuration.get("webhooks") or ():
            if applies_to_pod_creation(webhook):
                service = (webhook.get("clientConfig") or {}).get("service") or {}
                found.append(
                    InjectorWebhook(
                        name,
                        revision,
                        Selector.of(webhook.get("namespaceSelector")),
                        Selector.of(webhook.get("objectSelector")),
                        bool(webhook.get("matchConditions")),
                        service.get("namespace"),
                    )
                )
    return found


class Namespace(NamedTuple):
    """What a namespace tells the API server's selectors and a mesh's injector."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]


# (pod labels, pod annotations, hostNetwork, namespace name, Namespace[, rules]) -> whether
# the mesh's injector, once called, gives the pod a proxy; None where that can't be told. rules:
# what the calling webhook's injector read from its own config (rules_of), for a mesh that has
# such a config (Istio's InjectorPolicy).
Injects = Callable[..., "bool | None"]
NO_RULES = object()  # the mesh's injector has no config of its own to read
# InjectorWebhook -> its injector's rules; NO_RULES; or None where they can't be read.
RulesOf = Callable[[InjectorWebhook], object]


def no_rules(webhook: InjectorWebhook) -> object:
    return NO_RULES


def selecting(webhooks: list[InjectorWebhook], namespace: Namespace | None):
    """[(webhook, True or None)]: the webhooks whose namespaceSelector doesn't rule out this
    namespace, and whether it matches (None: can't tell). Once per namespace: most pods
    without a proxy are in namespaces no injector webhook selects."""
    if namespace is None:
        return []
    found = []
    for webhook in webhooks:
        match = webhook.namespace_selector.matches(namespace.labels)
        if match is not False:
            found.append((webhook, match))
    return found


def lost_proxy(
    facts: tuple[Mapping, Mapping, bool],
    namespace_name: str,
    namespace: Namespace | None,
    webhooks: list[tuple[InjectorWebhook, bool | None]],
    injects: Injects,
    rules_of: RulesOf = no_rules,
) -> InjectorWebhook | None:
    """The webhook whose injector would give this pod without a proxy one now, or None when
    none would, or it can't be told for certain. facts: PodRow.injection_facts; webhooks:
    selecting() for its namespace; rules_of: its injector's own config, read once each."""
    if namespace is None:
        return None
    labels, annotations, host_network = facts
    called = None
    for webhook, namespace_match in webhooks:
        answer = webhook.called_in(namespace_match, labels)
        if answer is UNKNOWN:
            return None  # it might be the one: nothing is certain
        if answer and called is None:
            called = webhook
    if called is None:
        return None
    rules = rules_of(called)
    if rules is None:
        return None  # its injector's config can't be read
    if rules is NO_RULES:
        answer = injects(labels, annotations, host_network, namespace_name, namespace)
    else:
        answer = injects(labels, annotations, host_network, namespace_name, namespace, rules)
    if answer is not True:
        return None
    return called
