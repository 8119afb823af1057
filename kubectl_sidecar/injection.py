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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

UNKNOWN = None  # can't be told: never flagged


def selector_matches(selector: Mapping | None, labels: Mapping[str, str]) -> bool | None:
    """metav1.LabelSelector against labels, as the API server reads a webhook's selectors: a
    missing or empty selector matches everything. None when an operator is one it doesn't know
    and nothing else already rules the match out."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    unknown = False
    for requirement in selector.get("matchExpressions") or ():
        key = requirement.get("key")
        operator = requirement.get("operator")
        values = requirement.get("values") or ()
        if operator == "In":
            matched = key in labels and labels[key] in values
        elif operator == "NotIn":
            matched = key not in labels or labels[key] not in values
        elif operator == "Exists":
            matched = key in labels
        elif operator == "DoesNotExist":
            matched = key not in labels
        else:
            unknown = True
            continue
        if not matched:
            return False
    return UNKNOWN if unknown else True


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


@dataclass(frozen=True)
class InjectorWebhook:
    """One webhook of a mesh's injector that applies to pod creation."""

    configuration: str  # its MutatingWebhookConfiguration's name
    revision: str | None  # the control plane revision it calls (Istio's istio.io/rev label)
    namespace_selector: Mapping | None
    object_selector: Mapping | None
    conditional: bool  # it has matchConditions (CEL): whether it is called can't be told

    def called(self, namespace_labels: Mapping, pod_labels: Mapping) -> bool | None:
        """Whether the API server calls it for a pod with these labels in that namespace."""
        results = (
            selector_matches(self.namespace_selector, namespace_labels),
            selector_matches(self.object_selector, pod_labels),
        )
        if False in results:
            return False
        if self.conditional or UNKNOWN in results:
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
                found.append(
                    InjectorWebhook(
                        name,
                        revision,
                        webhook.get("namespaceSelector"),
                        webhook.get("objectSelector"),
                        bool(webhook.get("matchConditions")),
                    )
                )
    return found


@dataclass(frozen=True)
class Namespace:
    """What a namespace tells the API server's selectors and a mesh's injector."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]


# (pod labels, pod annotations, hostNetwork, namespace name, Namespace) -> whether the mesh's
# injector, once called, gives the pod a proxy; None where that can't be told.
Injects = Callable[[Mapping, Mapping, bool, str, Namespace], "bool | None"]


def lost_proxy(
    facts: tuple[Mapping, Mapping, bool],
    namespace_name: str,
    namespace: Namespace | None,
    webhooks: list[InjectorWebhook],
    injects: Injects,
) -> InjectorWebhook | None:
    """The webhook whose injector would give this pod without a proxy one now, or None when
    none would, or it can't be told for certain. facts: PodRow.injection_facts."""
    if namespace is None:
        return None
    labels, annotations, host_network = facts
    called = None
    for webhook in webhooks:
        answer = webhook.called(namespace.labels, labels)
        if answer is UNKNOWN:
            return None  # it might be the one: nothing is certain
        if answer and called is None:
            called = webhook
    if called is None:
        return None
    if injects(labels, annotations, host_network, namespace_name, namespace) is not True:
        return None
    return called
