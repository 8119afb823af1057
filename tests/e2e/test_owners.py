"""Who owns istiod decides what a mesh-wide switch does (issue 19): the owners' own markers set
on the harness's istiod, then the real plugin through the real kubectl."""

import json

import pytest

from tests.harness import bootstrap, sail, seed
from tests.harness.api import ApiFailure, resource_path

ISTIOD = resource_path("apps/v1", "deployments", "istio-system", "istiod")
HELM_VALUE = "pilot.env.ENABLE_NATIVE_SIDECARS"

HELM = {
    "labels": {"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "istiod-1.26.2"},
    "annotations": {
        "meta.helm.sh/release-name": "istiod",
        "meta.helm.sh/release-namespace": "istio-system",
    },
}


def _crd(group, version, kind, plural, scope="Namespaced"):
    """A CRD that keeps whatever it is given: the harness has none of these tools' controllers,
    only their objects."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def _install_crd(admin, crd):
    admin.apply(bootstrap.CRDS, crd)
    name = crd["metadata"]["name"]
    admin.wait_for(
        f"the {name} CRD to be established",
        lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (admin.get(f"{bootstrap.CRDS}/{name}").get("status") or {}).get("conditions")
            or []
        ),
    )
    group, version = crd["spec"]["group"], crd["spec"]["versions"][0]["name"]
    collection = resource_path(f"{group}/{version}", crd["spec"]["names"]["plural"])
    admin.wait_for(f"{name} to be served", lambda: _served(admin, collection))


def _served(admin, collection):
    """Whether the API server lists the new kind yet (404, then 429 while its storage starts)."""
    try:
        return admin.get(collection) is not None
    except ApiFailure:
        return False


def _istiod(admin):
    return admin.get(ISTIOD)


def _env(admin):
    container = _istiod(admin)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def _own(admin, labels=None, annotations=None, owner_references=None):
    """istiod as its owner leaves it: the owner's markers merged into its metadata."""
    metadata: dict = {"labels": labels or {}, "annotations": annotations or {}}
    if owner_references is not None:
        metadata["ownerReferences"] = owner_references
    admin.patch(ISTIOD, {"metadata": metadata})


@pytest.fixture
def shop(istio_mesh, fresh_namespace):
    """istiod as seeded (traditional, nobody's), and one workload in its mesh."""
    admin = istio_mesh
    seed.istio_mesh(admin, "false")  # a whole replacement: no owner's markers left over
    seed.deployment(admin, fresh_namespace, "cart", replicas=1)
    seed.wait_for_pods(admin, fresh_namespace, 1)
    return fresh_namespace


def _unchanged(admin, shop, before):
    """Nothing was written: istiod's and the workload's specs at the generations read before
    the run (their status moves on with their controllers; a spec write bumps these)."""
    return _versions(admin, shop) == before


def _versions(admin, shop):
    cart = admin.get(resource_path("apps/v1", "deployments", shop, "cart"))
    return _istiod(admin)["metadata"]["generation"], cart["metadata"]["generation"]


def test_a_hand_made_istiod_is_patched_without_owner_talk(kubectl, admin, shop):
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--no-restart")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"
    assert "owned by" not in done.stdout + done.stderr
    assert "revert" not in done.stdout + done.stderr  # the old vague warning is gone


def test_helm_istiod_is_patched_and_the_upgrade_that_keeps_it_printed(kubectl, admin, shop):
    _own(admin, **HELM)
    status = kubectl.sidecar("status", "-n", shop)
    assert "owned by Helm release istio-system/istiod" in status.stdout, status.stdout
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--no-restart")
    assert done.returncode == 0, done.stdout + done.stderr
    command = (
        "helm upgrade istiod istiod --version 1.26.2 -n istio-system --reuse-values "
        f"--set {HELM_VALUE}=true"
    )
    assert (
        f"owned by Helm release istio-system/istiod: to keep it through the next helm "
        f"upgrade, run: {command}" in done.stdout
    )
    assert command in done.stderr  # said again once the patch is sent
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"


def test_istioctl_istiod_is_patched_and_the_istio_operator_printed(kubectl, admin, shop):
    _own(
        admin,
        labels={
            "operator.istio.io/component": "Pilot",
            "install.operator.istio.io/owning-resource": "installed-state",
        },
    )
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--no-restart")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "owned by istioctl install installed-state" in done.stdout
    snippet = (
        "kind: IstioOperator\n"
        "      spec:\n        values:\n          pilot:\n            env:\n"
        '              ENABLE_NATIVE_SIDECARS: "true"'
    )
    assert snippet in done.stdout, done.stdout
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"


def test_argocd_istiod_is_refused_before_any_write_unless_forced(kubectl, admin, shop):
    _own(
        admin,
        annotations={"argocd.argoproj.io/tracking-id": "mesh:apps/Deployment:istio-system/istiod"},
    )
    before = _versions(admin, shop)
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--timeout", "10m")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Deployment istio-system/istiod is managed by Argo CD Application mesh" in done.stderr
    assert f'{HELM_VALUE}: "true"' in done.stderr  # the value to change in Git
    assert "--force" in done.stderr
    assert _unchanged(admin, shop, before)
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "false"

    forced = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--force", "--no-restart")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "continuing: --force" in forced.stderr
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"


@pytest.fixture
def argocd_application(admin):
    """Argo CD 2.x's Application CRD and an Application named istiod; removed afterwards."""
    crd = _crd("argoproj.io", "v1alpha1", "Application", "applications")
    _install_crd(admin, crd)
    seed.namespace(admin, "argocd", injection=False)
    admin.apply(
        resource_path("argoproj.io/v1alpha1", "applications", "argocd"),
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "istiod", "namespace": "argocd"},
            "spec": {"source": {"chart": "istiod"}},
        },
    )
    yield
    admin.delete(f"{bootstrap.CRDS}/{crd['metadata']['name']}")


@pytest.fixture
def istio_revision(admin):
    """Sail's IstioRevision CRD and the IstioRevision `default` (cluster-scoped, as Sail's is):
    a real owner, or the garbage collector would delete istiod for owning it to nothing."""
    crd = _crd("sailoperator.io", "v1", "IstioRevision", "istiorevisions", scope="Cluster")
    _install_crd(admin, crd)
    revision = admin.apply(
        resource_path("sailoperator.io/v1", "istiorevisions"),
        {
            "apiVersion": "sailoperator.io/v1",
            "kind": "IstioRevision",
            "metadata": {"name": "default"},
            "spec": {"namespace": "istio-system", "values": {}},
        },
    )
    yield revision
    # Without its owner the garbage collector would delete istiod under the next test.
    admin.patch(ISTIOD, {"metadata": {"ownerReferences": None}})
    admin.delete(f"{bootstrap.CRDS}/{crd['metadata']['name']}")


def test_argocd_2_instance_label_counts_with_its_application(
    kubectl, admin, shop, argocd_application
):
    # The istiod chart sets app.kubernetes.io/instance itself: the Application makes it Argo's.
    _own(admin, labels={"app.kubernetes.io/instance": "istiod"})
    before = _versions(admin, shop)
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "managed by Argo CD Application istiod" in done.stderr
    assert _unchanged(admin, shop, before)


def _helm_chart_with_instance_label(admin):
    """istiod as a Helm install leaves it, with the istiod chart's own instance label."""
    labels = {**HELM["labels"], "app.kubernetes.io/instance": "istiod"}
    _own(admin, labels=labels, annotations=HELM["annotations"])


def test_status_names_argo_cd_2_not_the_helm_release_under_it(
    kubectl, admin, shop, argocd_application
):
    _helm_chart_with_instance_label(admin)
    table = kubectl.sidecar("status", "-n", shop)
    assert table.returncode == 0, table.stderr
    assert "owned by Argo CD Application istiod)" in table.stdout, table.stdout
    assert "Helm release" not in table.stdout
    report = kubectl.sidecar_json("status", "-n", shop)
    assert report["mesh"]["revisions"]["default"]["owner"] == "Argo CD Application istiod"
    # the switch names the same owner, and refuses for it
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "managed by Argo CD Application istiod" in done.stderr


def test_status_keeps_the_helm_release_without_the_application_crd(kubectl, admin, shop):
    _helm_chart_with_instance_label(admin)
    table = kubectl.sidecar("status", "-n", shop)
    assert table.returncode == 0, table.stderr
    assert "owned by Helm release istio-system/istiod)" in table.stdout, table.stdout


def test_flux_dry_run_json_gives_the_values_a_pull_request_needs(kubectl, admin, shop):
    _own(
        admin,
        labels={
            **HELM["labels"],
            "helm.toolkit.fluxcd.io/name": "istiod",
            "helm.toolkit.fluxcd.io/namespace": "flux-system",
        },
        annotations=HELM["annotations"],
    )
    before = _versions(admin, shop)
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--dry-run=client", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    [change] = json.loads(done.stdout)["plan"]["configChanges"]
    assert change["owner"]["kind"] == "Flux HelmRelease"
    assert change["owner"]["name"] == "flux-system/istiod"
    assert change["owner"]["treatment"] == "gitops"
    assert change["owner"]["values"] == {HELM_VALUE: "true"}
    assert "a switch would be refused" in done.stderr
    assert _unchanged(admin, shop, before)

    refused = kubectl.sidecar("switch", "--native", "-n", shop, "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f'Flux HelmRelease flux-system/istiod spec.values.{HELM_VALUE}: "true"' in (
        refused.stderr
    )
    assert _unchanged(admin, shop, before)


def test_kyma_refuses_a_mesh_wide_switch_even_forced_but_switches_a_workload(kubectl, admin, shop):
    _own(admin, labels={"kyma-project.io/module": "istio"})
    before = _versions(admin, shop)
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--force")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "belongs to the Kyma Istio module" in done.stderr
    assert "per-workload switch" in done.stderr
    assert _unchanged(admin, shop, before)

    one = kubectl.sidecar(
        "switch", "--native", "deployment/cart", "-n", shop, "--yes", "--timeout", "5m"
    )
    assert one.returncode == 0, one.stdout + one.stderr
    assert seed.template_annotations(admin, shop, "cart")["sidecar.istio.io/nativeSidecar"] == (
        "true"
    )
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "false"


def test_sail_istiod_without_its_istio_cr_is_refused_naming_the_value(
    kubectl, admin, shop, istio_revision
):
    # An IstioRevision that no Istio CR owns: nothing to patch, so nothing is.
    _own(
        admin,
        owner_references=[
            {
                "apiVersion": "sailoperator.io/v1",
                "kind": "IstioRevision",
                "name": "default",
                "uid": istio_revision["metadata"]["uid"],
            }
        ],
    )
    before = _versions(admin, shop)
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--force")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rendered by the Sail operator" in done.stderr
    assert f'spec.values.{HELM_VALUE}: "true"' in done.stderr
    assert _unchanged(admin, shop, before)


@pytest.fixture
def sail_istio(admin, shop):
    """istiod as the Sail operator leaves it: the Istio CR `default` (traditional) owns the
    IstioRevision `default`, which owns istiod; and the harness's reconciler re-rendering istiod
    from the CR while the test runs."""
    crds = [
        _crd("sailoperator.io", "v1", "Istio", "istios", scope="Cluster"),
        _crd("sailoperator.io", "v1", "IstioRevision", "istiorevisions", scope="Cluster"),
    ]
    for crd in crds:
        _install_crd(admin, crd)
    istio = admin.apply(
        sail.ISTIOS,
        {
            "apiVersion": "sailoperator.io/v1",
            "kind": "Istio",
            "metadata": {"name": "default"},
            "spec": {
                "namespace": "istio-system",
                "values": {"pilot": {"env": {"ENABLE_NATIVE_SIDECARS": "false"}}},
            },
        },
    )
    revision = admin.apply(
        sail.REVISIONS,
        {
            "apiVersion": "sailoperator.io/v1",
            "kind": "IstioRevision",
            "metadata": {
                "name": "default",
                "ownerReferences": [_reference(istio)],
            },
            "spec": {"namespace": "istio-system", "values": {}},
        },
    )
    _own(admin, owner_references=[_reference(revision)])
    with sail.Reconciler(admin):
        yield shop
    admin.patch(ISTIOD, {"metadata": {"ownerReferences": None}})
    for crd in crds:
        admin.delete(f"{bootstrap.CRDS}/{crd['metadata']['name']}")


def _reference(owner):
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }


def test_sail_switch_patches_the_istio_cr_and_waits_for_the_operators_istiod(
    kubectl, admin, sail_istio
):
    shop = sail_istio
    # The reconciler is the operator: a hand edit of istiod is put back.
    admin.patch(
        ISTIOD,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "discovery",
                                "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "true"}],
                            }
                        ]
                    }
                }
            }
        },
        kind="strategic",
    )
    admin.wait_for(
        "the operator to put istiod back",
        lambda: _env(admin)["ENABLE_NATIVE_SIDECARS"] == "false",
    )

    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--timeout", "5m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "Istio default on context admin: spec.values.pilot.env.ENABLE_NATIVE_SIDECARS "
        "false (traditional) -> true" in done.stdout
    )
    assert "owned by Sail operator IstioRevision default" in done.stdout
    istio = admin.get(f"{sail.ISTIOS}/default")
    assert istio["spec"]["values"]["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] == "true"
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"
    # istiod rolled out before the workload restarted, so its new pod is native.
    rolled_out = done.stderr.index("deployment.apps/istiod -n istio-system rolled out")
    assert rolled_out < done.stderr.index(" restarted")
    seed.wait_for_pods(admin, shop, 1)
    assert seed.modes(admin, shop) == ["native"]


@pytest.fixture
def aks_istiod(admin, shop):
    """istiod where the AKS Istio add-on runs it, in aks-istio-system, in place of istio-system's;
    istio-system's seeded back afterwards."""
    seed.remove_istio_mesh(admin)
    admin.wait_for("the seeded istiod to go", lambda: admin.get(ISTIOD, missing_ok=True) is None)
    seed.namespace(admin, "aks-istio-system", injection=False)
    deployments = resource_path("apps/v1", "deployments", "aks-istio-system")
    labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": "default"}
    admin.apply(
        deployments,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "istiod", "namespace": "aks-istio-system", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "discovery",
                                "image": seed.ISTIOD_IMAGE,
                                "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "false"}],
                            }
                        ]
                    },
                },
            },
        },
    )
    yield f"{deployments}/istiod"
    admin.delete(f"{deployments}/istiod")
    seed.istio_mesh(admin, "false")


def test_aks_refuses_a_mesh_wide_switch_even_forced(kubectl, admin, shop, aks_istiod):
    generation = admin.get(aks_istiod)["metadata"]["generation"]
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--force")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Deployment aks-istio-system/istiod belongs to the AKS Istio add-on" in done.stderr, (
        done.stderr
    )
    assert "per-workload switch" in done.stderr
    assert admin.get(aks_istiod)["metadata"]["generation"] == generation
