"""Who owns a mesh object, from its metadata alone (owners.py), and the change in its terms."""

import pytest

from kubectl_sidecar import owners
from kubectl_sidecar.meshes import consul, istio, kuma, linkerd
from kubectl_sidecar.owners import Kind, Owner, Treatment

HELM_ISTIOD = {
    "name": "istiod",
    "namespace": "istio-system",
    "labels": {
        "app": "istiod",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/instance": "istiod",
        "helm.sh/chart": "istiod-1.24.0",
    },
    "annotations": {
        "meta.helm.sh/release-name": "istiod",
        "meta.helm.sh/release-namespace": "istio-system",
    },
}


def test_a_helm_release_is_named_with_its_namespace_and_chart():
    owner = owners.detect(HELM_ISTIOD)
    assert owner == Owner(Kind.HELM, "istio-system/istiod", "istiod", "1.24.0")
    assert str(owner) == "Helm release istio-system/istiod"
    assert owner.treatment is Treatment.PATCH


def test_helm_needs_both_its_label_and_its_release_annotation():
    # Argo CD renders charts with `helm template`: the chart's managed-by label, no release.
    labels_only = {"labels": {"app.kubernetes.io/managed-by": "Helm"}}
    assert owners.detect(labels_only) is None
    annotation_only = {"annotations": {"meta.helm.sh/release-name": "istiod"}}
    assert owners.detect(annotation_only) is None


def test_nothing_marks_a_hand_made_object():
    assert owners.detect({"name": "istiod", "labels": {"app": "istiod"}}) is None
    assert owners.detect({}) is None


@pytest.mark.parametrize(
    ("label", "chart", "version"),
    [
        ("istiod-1.24.0", "istiod", "1.24.0"),
        ("linkerd-control-plane-2026.5.2", "linkerd-control-plane", "2026.5.2"),
        ("consul-helm", "consul-helm", None),
        ("kuma-2.13.0-rc-1", "kuma", "2.13.0-rc-1"),
        (None, None, None),
    ],
)
def test_the_chart_label_splits_at_the_version(label, chart, version):
    assert owners.split_chart(label) == (chart, version)


def test_istioctl_labels_name_the_owning_resource():
    metadata = {
        "labels": {
            "operator.istio.io/component": "Pilot",
            "install.operator.istio.io/owning-resource": "installed-state",
        }
    }
    assert owners.detect(metadata) == Owner(Kind.ISTIOCTL, "installed-state")


def test_the_sail_operator_owns_istiod_through_its_istio_revision():
    metadata = {
        **HELM_ISTIOD,  # Sail renders the istiod chart: its labels come along
        "ownerReferences": [
            {"apiVersion": "sailoperator.io/v1", "kind": "IstioRevision", "name": "default"}
        ],
    }
    owner = owners.detect(metadata)
    assert owner == Owner(Kind.SAIL, "default")
    assert owner.treatment is Treatment.OPERATOR


def test_an_istio_revision_of_another_group_is_not_sails():
    metadata = {"ownerReferences": [{"apiVersion": "example.com/v1", "kind": "IstioRevision"}]}
    assert owners.detect(metadata) is None


def test_kyma_and_aks_decide_the_mode_themselves():
    kyma = owners.detect({"labels": {"kyma-project.io/module": "istio"}})
    aks = owners.detect({"name": "istiod-asm-1-24"}, namespace="aks-istio-system")
    assert (kyma.kind, aks.kind) == (Kind.KYMA, Kind.AKS)
    assert kyma.treatment is aks.treatment is Treatment.REFUSE
    assert owners.detect({"labels": {"kyma-project.io/module": "api-gateway"}}) is None


def test_argocd_3_tracking_id_names_the_application():
    metadata = {
        **HELM_ISTIOD,
        "annotations": {
            "argocd.argoproj.io/tracking-id": "mesh:apps/Deployment:istio-system/istiod"
        },
    }
    assert owners.detect(metadata) == Owner(Kind.ARGOCD, "mesh")
    other_namespace = "team-a_mesh:apps/Deployment:istio-system/istiod"
    assert owners.argocd_application(other_namespace) == "team-a/mesh"


def test_argocd_2_instance_label_counts_only_with_an_application_of_that_name():
    # The istiod chart sets app.kubernetes.io/instance itself: alone it proves nothing.
    metadata = {"labels": {"app.kubernetes.io/instance": "istiod"}}
    assert owners.detect(metadata) is None
    assert owners.argocd_candidate(metadata) == "istiod"
    assert owners.detect(metadata, argocd_applications={"istiod"}) == Owner(Kind.ARGOCD, "istiod")
    # and beats the Helm release it was applied with
    assert owners.detect(HELM_ISTIOD, argocd_applications={"istiod"}).kind is Kind.ARGOCD


def test_flux_labels_name_the_helm_release_or_kustomization():
    helm = {
        **HELM_ISTIOD,
        "labels": {
            **HELM_ISTIOD["labels"],
            "helm.toolkit.fluxcd.io/name": "istiod",
            "helm.toolkit.fluxcd.io/namespace": "flux-system",
        },
    }
    assert owners.detect(helm) == Owner(Kind.FLUX_HELM, "flux-system/istiod")
    kustomized = {"labels": {"kustomize.toolkit.fluxcd.io/name": "mesh"}}
    assert owners.detect(kustomized) == Owner(Kind.FLUX_KUSTOMIZE, "mesh")
    assert owners.detect(kustomized).treatment is Treatment.GITOPS


def test_helm_upgrade_keeps_every_other_value_and_the_chart_version():
    owner = owners.detect(HELM_ISTIOD)
    assert owners.helm_upgrade(owner, istio.HELM_VALUE, "true") == (
        "helm upgrade istiod istiod --version 1.24.0 -n istio-system --reuse-values "
        "--set pilot.env.ENABLE_NATIVE_SIDECARS=true"
    )


def test_each_mesh_names_its_own_chart_value():
    assert istio.HELM_VALUE == "pilot.env.ENABLE_NATIVE_SIDECARS"
    assert linkerd.HELM_VALUE == "proxy.nativeSidecar"
    assert consul.HELM_VALUE == "connectInject.dataplaneAsSidecarInitContainer.defaultEnabled"
    assert kuma.HELM_VALUE == "experimental.sidecarContainers"


def test_values_yaml_nests_the_key_and_quotes_env_values():
    assert owners.values_yaml("spec.values", istio.HELM_VALUE, "true") == (
        'spec:\n  values:\n    pilot:\n      env:\n        ENABLE_NATIVE_SIDECARS: "true"'
    )
    assert owners.values_yaml("", linkerd.HELM_VALUE, "false") == "proxy:\n  nativeSidecar: false"


@pytest.mark.parametrize(
    ("owner", "key", "expected"),
    [
        (
            Owner(Kind.ISTIOCTL, "installed-state"),
            istio.HELM_VALUE,
            'IstioOperator spec.values.pilot.env.ENABLE_NATIVE_SIDECARS: "true"',
        ),
        (
            Owner(Kind.FLUX_HELM, "flux-system/istiod"),
            istio.HELM_VALUE,
            'Flux HelmRelease flux-system/istiod spec.values.pilot.env.ENABLE_NATIVE_SIDECARS: "true"',
        ),
        (
            Owner(Kind.ARGOCD, "mesh"),
            linkerd.HELM_VALUE,
            "in what Argo CD Application mesh deploys: the Helm value proxy.nativeSidecar: true",
        ),
        (
            Owner(Kind.FLUX_KUSTOMIZE, "mesh"),
            None,
            "annotation config.linkerd.io/proxy-enable-native-sidecar true",
        ),
        (Owner(Kind.KYMA, ""), istio.HELM_VALUE, "per-workload"),
    ],
)
def test_the_change_in_each_owners_terms(owner, key, expected):
    said = owners.in_owner_terms(
        owner, key, "true", "annotation config.linkerd.io/proxy-enable-native-sidecar"
    )
    assert expected in said


def test_the_summary_names_the_owner_of_the_configured_mode():
    deployment = {
        "metadata": {**HELM_ISTIOD, "resourceVersion": "7"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "discovery",
                            "image": "istio/pilot:1.24.0",
                            "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "true"}],
                        }
                    ]
                }
            }
        },
    }
    config = istio.istio_config([deployment], {})
    assert config.describe() == (
        "istio: default=native (istio-system/istiod ENABLE_NATIVE_SIDECARS=true; "
        "owned by Helm release istio-system/istiod)"
    )
    assert not config.warnings  # the vague "may be managed by" warning is gone
    [change] = istio.config_changes(config, "traditional", [])
    assert change.metadata["name"] == "istiod"


def _istiod_change(metadata):
    return istio.IstiodChange(
        "istio",
        "Deployment",
        "istio-system",
        "istiod",
        "false",
        "true",
        None,
        "discovery",
        metadata=metadata,
    )


def test_attach_asks_for_argocd_applications_only_when_a_label_may_be_theirs():
    asked = []

    def applications():
        asked.append(True)
        return {"istiod"}

    [hand_made] = owners.attach([_istiod_change({"name": "istiod"})], applications)
    assert hand_made.owner is None and not asked
    [argo] = owners.attach([_istiod_change(HELM_ISTIOD)], applications)
    assert argo.owner == Owner(Kind.ARGOCD, "istiod") and asked


@pytest.mark.parametrize(
    ("metadata", "refused"),
    [
        (HELM_ISTIOD, None),
        ({"labels": {"operator.istio.io/component": "Pilot"}}, None),
        ({"labels": {"kyma-project.io/module": "istio"}}, False),
        ({"namespace": "aks-istio-system"}, False),
        ({"annotations": {"argocd.argoproj.io/tracking-id": "mesh:apps/Deployment:x/y"}}, True),
        ({"labels": {"helm.toolkit.fluxcd.io/name": "istiod"}}, True),
        (
            {"ownerReferences": [{"apiVersion": "sailoperator.io/v1", "kind": "IstioRevision"}]},
            False,
        ),
    ],
)
def test_which_owners_a_switch_refuses_and_which_force_overrides(metadata, refused):
    [change] = owners.attach([_istiod_change(metadata)], frozenset)
    found = owners.refusal(change)
    assert (None if found is None else found[1]) is refused


def test_a_helm_owned_change_says_the_upgrade_once_patched():
    [change] = owners.attach([_istiod_change(HELM_ISTIOD)], frozenset)
    assert change.describe_done().endswith(
        "to keep it through the next helm upgrade, run: helm upgrade istiod istiod --version "
        "1.24.0 -n istio-system --reuse-values --set pilot.env.ENABLE_NATIVE_SIDECARS=true)"
    )


def test_consuls_chart_label_names_its_chart():
    metadata = {
        "labels": {"app.kubernetes.io/managed-by": "Helm", "chart": "consul-helm"},
        "annotations": {"meta.helm.sh/release-name": "consul"},
        "namespace": "consul",
    }
    assert owners.detect(metadata) == Owner(Kind.HELM, "consul/consul", "consul")


def test_a_sail_switch_writes_the_istio_cr_and_follows_istiod():
    sail = Owner(Kind.SAIL, "default")
    change = istio.IstioCRChange(
        "istio",
        "Istio",
        None,
        "default",
        "false",
        "true",
        owner=sail,
        istiod=("istio-system", "istiod"),
    )
    patch = change.patch()
    assert (patch.resource.plural, patch.namespace, patch.name) == ("istios", None, "default")
    assert patch.body == {
        "spec": {"values": {"pilot": {"env": {"ENABLE_NATIVE_SIDECARS": "true"}}}}
    }
    assert change.rolls_out_as() == ("istio-system", "istiod")
    assert owners.refusal(change) is None  # it writes where the operator looks
    old = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "discovery",
                            "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "false"}],
                        }
                    ]
                }
            }
        }
    }
    assert not change.rendered(old)
    old["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "true"
    assert change.rendered(old)


# istiod's labels as the istiod chart renders them (helm template of istio.io/istio's
# manifests/charts/istio-control/istio-discovery at build.ISTIO_VERSION): istioctl's labels
# are there whoever installs it.
CHART_LABELS = {
    "app": "istiod",
    "istio.io/rev": "default",
    "install.operator.istio.io/owning-resource": "unknown",
    "operator.istio.io/component": "Pilot",
    "app.kubernetes.io/managed-by": "Helm",
    "app.kubernetes.io/instance": "istiod",
    "helm.sh/chart": "istiod-1.0.0",
}


def test_the_istiod_charts_own_istioctl_labels_prove_nothing():
    assert owners.detect({"labels": CHART_LABELS}) is None  # helm template | kubectl apply
    installed = {"labels": CHART_LABELS, "annotations": HELM_ISTIOD["annotations"]}
    assert owners.detect(installed) == Owner(Kind.HELM, "istio-system/istiod", "istiod", "1.0.0")
    by_istioctl = {"labels": dict(CHART_LABELS, **{owners.ISTIOCTL_OWNING_RESOURCE: "mesh"})}
    assert owners.detect(by_istioctl) == Owner(Kind.ISTIOCTL, "mesh")


def test_with_argocd_detects_again_only_what_an_application_claims():
    found = {"default": Owner(Kind.HELM, "istio-system/istiod", "istiod", "1.24.0")}
    owned = {"default": HELM_ISTIOD, "canary": {"name": "istiod-canary"}}
    assert owners.with_argocd(owned, found, {"istiod"}) == {"default": Owner(Kind.ARGOCD, "istiod")}
    assert owners.with_argocd(owned, found, {"other"}) == found
    assert owners.with_argocd(owned, found, ()) == found
    assert owners.needs_argocd_applications(owned.values())
    assert not owners.needs_argocd_applications([{"name": "istiod-canary"}])


def _helm_istiod_cluster(**kw):
    from tests.unit.fake_cluster import FakeCluster
    from tests.unit.test_meshes_istio import istiod

    deployment = istiod("true", image="istio/pilot:1.24.0")
    deployment["metadata"] = {**HELM_ISTIOD, "resourceVersion": "7"}
    return FakeCluster({"Deployment": [deployment], **kw.pop("objects", {})}, **kw)


def application(name):
    return {"metadata": {"name": name, "namespace": "argocd"}}


@pytest.mark.parametrize(
    ("objects", "refuse", "owner"),
    [
        ({"Application": [application("istiod")]}, (), "Argo CD Application istiod"),
        ({"Application": [application("other")]}, (), "Helm release istio-system/istiod"),
        ({}, (), "Helm release istio-system/istiod"),
        ({"Application": [application("istiod")]}, ("Application",), "Helm release istio-system/istiod"),
    ],
)  # fmt: skip
def test_status_names_the_owner_a_switch_would_name(objects, refuse, owner):
    from kubectl_sidecar.meshread import read_mesh_config

    cluster = _helm_istiod_cluster(objects=objects, refuse=refuse)
    config = read_mesh_config(cluster, cluster, "istio", [])
    assert config.describe().endswith(f"owned by {owner})")
    listed = [read for read in cluster.reads if read[:2] == ("list", "Application")]
    assert len(listed) == 1


def test_status_lists_no_applications_when_no_object_may_be_argo_cds():
    from kubectl_sidecar.meshread import read_mesh_config
    from tests.unit.fake_cluster import FakeCluster
    from tests.unit.test_meshes_istio import istiod

    cluster = FakeCluster({"Deployment": [istiod("true", image="istio/pilot:1.24.0")]})
    config = read_mesh_config(cluster, cluster, "istio", [])
    assert config.argocd_applications is None
    assert not any(read[1] == "Application" for read in cluster.reads)
