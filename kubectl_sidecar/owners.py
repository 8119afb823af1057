"""Who owns an object a switch would change, read from its metadata alone, and the change in
that owner's terms: the `helm upgrade` that keeps it, the IstioOperator or Istio CR values, the
line to change in Git. Pure functions of plain dicts; meshwide.py decides what a switch does
with them.

The markers are each tool's own (shared/reference/DOMAIN.md "Who owns the mesh setting"):

- Helm writes the label `app.kubernetes.io/managed-by: Helm` and the annotations
  `meta.helm.sh/release-name` / `meta.helm.sh/release-namespace` on every object it installs
  (helm pkg/action/validate.go, which adopts only objects carrying them); charts conventionally
  label `helm.sh/chart: <name>-<version>` (the `helm create` scaffold's `<chart>.labels`).
- `istioctl install` labels what it renders `install.operator.istio.io/owning-resource` with its
  IstioOperator's name (istio operator/pkg/render); the istiod chart renders that label as
  `unknown` (and `operator.istio.io/component`) in a Helm install too, so those prove nothing.
- The Sail operator sets istiod's ownerReference to its `IstioRevision` (`sailoperator.io/v1`),
  which an `Istio` CR owns; it re-renders whatever is not marked `sailoperator.io/ignore`.
- Kyma's Istio module labels its resources `kyma-project.io/module: istio`.
- The AKS Istio add-on runs its control plane in the namespace `aks-istio-system`.
- Argo CD 3.x tracks resources with the annotation `argocd.argoproj.io/tracking-id`
  (`<app>:<group>/<kind>:<namespace>/<name>`); 2.x by the label `app.kubernetes.io/instance`,
  which many charts (the istiod chart among them) set themselves: only an Argo CD Application
  of that name makes it Argo CD's.
- Flux's controllers label what they apply `helm.toolkit.fluxcd.io/name` / `-namespace`
  (helm-controller) and `kustomize.toolkit.fluxcd.io/name` / `-namespace` (kustomize-controller).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection
from typing import NamedTuple

HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
HELM_MANAGED_BY = "app.kubernetes.io/managed-by"
HELM_CHART = "helm.sh/chart"
ISTIOCTL_OWNING_RESOURCE = "install.operator.istio.io/owning-resource"
# The istiod chart itself labels istiod `operator.istio.io/component: Pilot` and
# `install.operator.istio.io/owning-resource: unknown` (its templates' default for
# .Values.ownerName, rendered with helm 4.3.2 from istio.io/istio's manifests at the build.py
# snapshot): only an owning resource istioctl named is istioctl's.
ISTIOCTL_NO_OWNER = "unknown"
SAIL_GROUP = "sailoperator.io"
SAIL_REVISION_KIND = "IstioRevision"
KYMA_MODULE = "kyma-project.io/module"
AKS_NAMESPACE = "aks-istio-system"
ARGOCD_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGOCD_INSTANCE = "app.kubernetes.io/instance"
FLUX_HELM_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
FLUX_KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"


class Kind(str, enum.Enum):
    """Who owns an object; its value is how a message names it."""

    SAIL = "Sail operator IstioRevision"
    KYMA = "Kyma Istio module"
    AKS = "AKS Istio add-on"
    ARGOCD = "Argo CD Application"
    FLUX_HELM = "Flux HelmRelease"
    FLUX_KUSTOMIZE = "Flux Kustomization"
    ISTIOCTL = "istioctl install"
    HELM = "Helm release"

    def __str__(self) -> str:
        return self.value


class Treatment(str, enum.Enum):
    """What a switch does with an object of this owner (README "Who owns the mesh setting")."""

    PATCH = "patch"  # patch it, and say what keeps the change (Helm, istioctl)
    OPERATOR = "operator"  # the operator's own resource is the one to change (Sail)
    GITOPS = "gitops"  # refuse before any write unless --force; say what to change in Git
    REFUSE = "refuse"  # the platform decides the mesh-wide mode: per-workload switches only


TREATMENTS = {
    Kind.SAIL: Treatment.OPERATOR,
    Kind.KYMA: Treatment.REFUSE,
    Kind.AKS: Treatment.REFUSE,
    Kind.ARGOCD: Treatment.GITOPS,
    Kind.FLUX_HELM: Treatment.GITOPS,
    Kind.FLUX_KUSTOMIZE: Treatment.GITOPS,
    Kind.ISTIOCTL: Treatment.PATCH,
    Kind.HELM: Treatment.PATCH,
}


class Owner(NamedTuple):
    """Who owns an object: its kind, its name in the owner's terms (a release's
    `namespace/name`, an Application's name, an IstioRevision's name), and for Helm the chart."""

    kind: Kind
    name: str
    chart: str | None = None  # Helm: the chart's name, from helm.sh/chart
    chart_version: str | None = None

    @property
    def treatment(self) -> Treatment:
        return TREATMENTS[self.kind]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" if self.name else str(self.kind)


def detect(
    metadata: dict, namespace: str | None = None, argocd_applications: Collection[str] = ()
) -> Owner | None:
    """The owner of an object with this metadata (labels, annotations, ownerReferences), or
    None for one nothing manages (a hand-made or hand-edited object). namespace: the object's,
    where metadata lacks it. argocd_applications: names of the Argo CD Applications on the
    cluster, which alone make `app.kubernetes.io/instance` Argo CD's.

    The first marker that decides wins, the closest owner first: an operator or platform that
    reconciles the object beats the GitOps tool that applied it, which beats the Helm release
    it may have installed with (Flux's helm-controller leaves Helm's markers too); Helm's
    release annotations beat the istioctl labels the istiod chart sets whoever installs it."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    namespace = metadata.get("namespace") or namespace
    for reference in metadata.get("ownerReferences") or ():
        group = (reference.get("apiVersion") or "").split("/")[0]
        if reference.get("kind") == SAIL_REVISION_KIND and group == SAIL_GROUP:
            return Owner(Kind.SAIL, reference.get("name") or "")
    if labels.get(KYMA_MODULE) == "istio":
        return Owner(Kind.KYMA, "")
    if namespace == AKS_NAMESPACE:
        return Owner(Kind.AKS, "")
    tracking = annotations.get(ARGOCD_TRACKING_ID)
    if tracking:
        return Owner(Kind.ARGOCD, argocd_application(tracking))
    if labels.get(FLUX_HELM_NAME):
        return Owner(Kind.FLUX_HELM, _qualified(labels, FLUX_HELM_NAMESPACE, FLUX_HELM_NAME))
    if labels.get(FLUX_KUSTOMIZE_NAME):
        return Owner(
            Kind.FLUX_KUSTOMIZE, _qualified(labels, FLUX_KUSTOMIZE_NAMESPACE, FLUX_KUSTOMIZE_NAME)
        )
    instance = labels.get(ARGOCD_INSTANCE)
    if instance and instance in argocd_applications:
        return Owner(Kind.ARGOCD, instance)
    release = annotations.get(HELM_RELEASE_NAME)
    if release and labels.get(HELM_MANAGED_BY) == "Helm":
        chart, version = split_chart(labels.get(HELM_CHART))
        if chart is None and (labels.get("chart") or "").endswith("-helm"):
            # consul-k8s's chart labels `chart: consul-helm` (its _helpers.tpl "consul.chart"
            # prints "<chart name>-helm"), and no helm.sh/chart.
            chart = labels["chart"].removesuffix("-helm")
        where = annotations.get(HELM_RELEASE_NAMESPACE) or namespace
        return Owner(Kind.HELM, f"{where}/{release}" if where else release, chart, version)
    owning = labels.get(ISTIOCTL_OWNING_RESOURCE)
    if owning and owning != ISTIOCTL_NO_OWNER:
        return Owner(Kind.ISTIOCTL, owning)
    return None


def argocd_candidate(metadata: dict) -> str | None:
    """The Argo CD 2.x Application name an object may belong to (its
    `app.kubernetes.io/instance`), when that label is all that could make it Argo CD's: worth
    one list of Applications, which detect() then takes."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    instance = labels.get(ARGOCD_INSTANCE)
    if not instance or annotations.get(ARGOCD_TRACKING_ID):
        return None
    return instance


def with_argocd(
    owned: dict[str, dict], found: dict[str, Owner], names: Collection[str]
) -> dict[str, Owner]:
    """found ({key: Owner} detected without the Applications) with the objects in `owned`
    ({key: metadata}) whose `app.kubernetes.io/instance` names one of the Argo CD Applications
    `names` detected again: the same answer attach() gives a switch."""
    updated = dict(found)
    for key, metadata in owned.items():
        if argocd_candidate(metadata):
            owner = detect(metadata, None, names)
            if owner is None:
                updated.pop(key, None)
            else:
                updated[key] = owner
    return updated


def needs_argocd_applications(owned: Collection[dict]) -> bool:
    """Whether any of these objects' metadata may be Argo CD 2.x's: worth one list."""
    return any(argocd_candidate(metadata) for metadata in owned)


def argocd_application(tracking_id: str) -> str:
    """The Application in a tracking id `<app>:<group>/<kind>:<namespace>/<name>`; an app in
    another namespace than Argo CD's is written `<namespace>_<app>` (apps in any namespace)."""
    app = tracking_id.split(":", 1)[0]
    namespace, sep, name = app.partition("_")
    return f"{namespace}/{name}" if sep else app


def split_chart(label: str | None) -> tuple[str | None, str | None]:
    """("istiod", "1.24.0") from helm.sh/chart "istiod-1.24.0": Helm chart versions are SemVer
    and chart names may hold dashes, so the version starts at the first dash followed by a
    MAJOR.MINOR.PATCH."""
    if not label:
        return None, None
    found = re.match(_CHART_LABEL, label)
    return (found[1], found[2]) if found else (label, None)


# A source, compiled (and cached by re) at first use: a pattern compiled at import costs every
# start, and most runs never read a chart label.
_CHART_LABEL = r"^(.+?)-(v?\d+\.\d+\.\d+.*)$"


def _qualified(labels: dict, namespace_key: str, name_key: str) -> str:
    namespace = labels.get(namespace_key)
    return f"{namespace}/{labels[name_key]}" if namespace else labels[name_key]


# --- the change in the owner's terms -------------------------------------------------------


def values_literal(key: str, value: str) -> str:
    """How the value is written in the owner's values: env entries are strings (the istiod
    chart's `pilot.env` renders them as they are; the Sail API types them map[string]string),
    every other switch value here is a chart boolean."""
    return f'"{value}"' if ".env." in f".{key}" else value


def helm_upgrade(owner: Owner, key: str, value: str) -> str:
    """The `helm upgrade` that keeps `key=value` in the release's values: --reuse-values keeps
    every other value as installed, and --version the chart version it runs, so the upgrade
    changes nothing else."""
    namespace, _, release = owner.name.rpartition("/")
    command = f"helm upgrade {release} {owner.chart or '<chart>'}"
    if owner.chart_version:
        command += f" --version {owner.chart_version}"
    if namespace:
        command += f" -n {namespace}"
    # --set gives a chart boolean; the istiod chart quotes its pilot.env entries as it renders
    # them, so the same true/false serves an env value too.
    return f"{command} --reuse-values --set {key}={value}"


def values_yaml(prefix: str, key: str, value: str) -> str:
    """`key: value` nested as YAML under `prefix` (dotted), for a snippet to paste."""
    path = [part for part in prefix.split(".") if part] + key.split(".")
    lines = [f"{'  ' * depth}{part}:" for depth, part in enumerate(path[:-1])]
    lines.append(f"{'  ' * (len(path) - 1)}{path[-1]}: {values_literal(key, value)}")
    return "\n".join(lines)


def in_owner_terms(owner: Owner, key: str | None, value: str, field: str) -> str:
    """One line: where the change must live for `owner` to keep it. key: the mesh's Helm
    values key when the object is rendered from it, else None (field: what the switch sets
    on the object itself, e.g. `annotation config.linkerd.io/...`)."""
    if owner.kind is Kind.HELM:
        if key is None:
            return f"{field} is not one of the chart's values: a helm upgrade leaves it"
        return "to keep it through the next helm upgrade, run: " + helm_upgrade(owner, key, value)
    if owner.kind is Kind.ISTIOCTL:
        if key is None:
            return f"{field} is not one of istioctl's values: istioctl install leaves it"
        return (
            "to keep it through the next istioctl install, set in your IstioOperator "
            f"spec.values.{key}: {values_literal(key, value)}"
        )
    if owner.kind is Kind.SAIL:
        return f"the Istio CR that owns it: spec.values.{key or field}: {values_literal(key or '', value)}"
    if owner.kind in (Kind.KYMA, Kind.AKS):
        return (
            f"the {owner.kind} decides the mesh-wide mode (by its version and settings): "
            "use a per-workload switch instead (kubectl sidecar switch KIND/NAME ...)"
        )
    if owner.kind is Kind.FLUX_HELM and key is not None:
        return f"change it in Git: {owner} spec.values.{key}: {values_literal(key, value)}"
    if owner.kind is Kind.ARGOCD and key is not None:
        # An Application deploys a chart or plain manifests: the one or the other holds it.
        return (
            f"change it in Git, in what {owner} deploys: the Helm value {key}: "
            f"{values_literal(key, value)} (or {field} {value} in a plain manifest)"
        )
    return f"change it in Git: {field} {value} in the manifest {owner} applies"


def istio_operator_snippet(key: str, value: str) -> str:
    """The IstioOperator to keep for the next `istioctl install`: its spec.values are the
    charts' values (istioctl renders the istiod chart from them)."""
    return "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n" + values_yaml(
        "spec.values", key, value
    )


# --- what a switch does with an owned object ------------------------------------------------


def attach(changes: list, applications: Callable[[], Collection[str]]) -> list:
    """The changes (base.ConfigChange) with their objects' owners; applications() lists the
    Argo CD Applications' names, asked only when an object's label may be Argo CD 2.x's."""
    if not any(c.metadata and argocd_candidate(c.metadata) for c in changes):
        names: Collection[str] = ()
    else:
        names = applications()
    return [
        c.replaced(owner=detect(c.metadata, c.namespace, names)) if c.metadata is not None else c
        for c in changes
    ]


def refusal(change) -> tuple[str, bool] | None:
    """Why a switch must not write `change` (a base.ConfigChange with its owner), and whether
    --force may override that; None when it may (no owner, or one that keeps a hand edit until
    its next install)."""
    owner = change.owner
    if owner is None or owner.treatment is Treatment.PATCH or change.writes_owner:
        return None
    where = (
        f"{change.kind} {change.namespace}/{change.name}"
        if change.namespace
        else (f"{change.kind} {change.name}")
    )
    terms = in_owner_terms(owner, change.helm_value, change.new, change.describe_field())
    if owner.treatment is Treatment.REFUSE:
        return f"{where} belongs to the {owner.kind}: {terms}", False
    if owner.treatment is Treatment.OPERATOR:
        return (
            f"{where} is rendered by the Sail operator (from {owner}), which puts a hand edit "
            f"back at once: set it in {terms}",
            False,
        )
    return (
        f"{where} is managed by {owner}, which would put the old value back: {terms}",
        True,
    )
