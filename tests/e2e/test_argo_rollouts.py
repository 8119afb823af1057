"""Argo Rollouts against the real controller (github.com/argoproj/argo-rollouts, built by
tests/harness/build.py, started by tests/harness/argo_rollouts.py for this module only): a Rollout's
pods in an Istio mesh namespace, restarted through spec.restartAt and replaced by the controller
itself, and a Rollout whose pod template is a Deployment's (spec.workloadRef)."""

import pytest

from tests.e2e.conftest import IN_CI, go_missing
from tests.harness import argo_rollouts, build, seed
from tests.harness.api import resource_path
from tests.harness.argo_rollouts import rollouts_path

NATIVE_KEY = "sidecar.istio.io/nativeSidecar"
TIMEOUT = 600  # seconds: the controller evicts one pod at a time and rechecks every 30 s


@pytest.fixture(scope="module")
def controller(control_plane, istio_mesh):
    if not build.go_available():
        go_missing("Go is not installed: the e2e tier builds Argo Rollouts with it")
    try:
        crds = argo_rollouts.start(control_plane)
    except build.GoMissing as error:
        go_missing(error)
    except Exception as error:  # noqa: BLE001 - whatever broke, fail with its own words
        message = f"the Argo Rollouts controller did not start: {error}"
        pytest.fail(message + (" (CI=true)" if IN_CI else ""), pytrace=False)
    try:
        yield control_plane
    finally:
        argo_rollouts.stop(control_plane, crds)


def rollout(admin, ns, name, replicas=2, strategy=None, workload_ref=None):
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": replicas, "strategy": strategy or {"canary": {}}},
    }
    if workload_ref:
        body["spec"]["workloadRef"] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": workload_ref,
        }
    else:
        body["spec"]["selector"] = {"matchLabels": {"app": name}}
        body["spec"]["template"] = seed._template(name)
    return admin.create(rollouts_path(ns), body)


def healthy(admin, ns, name):
    found = admin.get(rollouts_path(ns, name))
    status = found.get("status") or {}
    return status.get("phase") == "Healthy" and status.get("observedGeneration") == str(
        found["metadata"]["generation"]
    )


def wait_healthy(admin, ns, name):
    admin.wait_for(f"rollout {ns}/{name} Healthy", lambda: healthy(admin, ns, name), TIMEOUT)


@pytest.fixture
def shop(controller, istio_mesh, fresh_namespace):
    admin = istio_mesh
    seed.istio_mesh(admin, "false")
    rollout(admin, fresh_namespace, "web")
    # blueGreen needs its active Service first, or the controller marks the Rollout InvalidSpec.
    admin.create(
        resource_path("v1", "services", fresh_namespace),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "checkout"},
            "spec": {"selector": {"app": "checkout"}, "ports": [{"port": 80}]},
        },
    )
    rollout(
        admin,
        fresh_namespace,
        "checkout",
        strategy={
            "blueGreen": {"activeService": "checkout", "autoPromotionEnabled": True},
        },
    )
    seed.wait_for_pods(admin, fresh_namespace, 4, timeout=TIMEOUT)
    wait_healthy(admin, fresh_namespace, "web")
    wait_healthy(admin, fresh_namespace, "checkout")
    return fresh_namespace


def _rows(kubectl, ns):
    report = kubectl.sidecar_json("status", "-n", ns)
    return sorted(
        (i["workload"]["kind"], i["workload"]["name"], i["mode"], i["desiredMode"], i["action"])
        for i in report["items"]
    )


def test_status_shows_rollout_pods_under_their_rollout(kubectl, shop):
    assert _rows(kubectl, shop) == [
        ("Rollout", "checkout", "traditional", "traditional", "ok"),
        ("Rollout", "checkout", "traditional", "traditional", "ok"),
        ("Rollout", "web", "traditional", "traditional", "ok"),
        ("Rollout", "web", "traditional", "traditional", "ok"),
    ]
    table = kubectl.sidecar("status", "-n", shop)
    assert table.returncode == 0, table.stderr
    assert "Rollout/web" in table.stdout and "Rollout/checkout" in table.stdout


def test_switch_restarts_rollouts_through_restart_at_and_waits_for_the_controller(
    kubectl, admin, shop
):
    before = {p["metadata"]["name"] for p in seed.pods(admin, shop)}
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr
    # The plugin waited for the controller: by the time it returns every old pod is gone.
    after = seed.pods(admin, shop)
    live = [p for p in after if not p["metadata"].get("deletionTimestamp")]
    assert not before & {p["metadata"]["name"] for p in live}, done.stdout
    for name in ("web", "checkout"):
        assert admin.get(rollouts_path(shop, name))["status"]["restartedAt"]
        # Not asserted at once: the controller writes restartedAt with phase Healthy from its
        # ReplicaSets' counts before they show the last evicted pod's replacement (seen with
        # v1.10.1: Healthy, then Progressing "more replicas need to be updated", then Healthy).
        wait_healthy(admin, shop, name)
    seed.wait_for_pods(admin, shop, 4, timeout=TIMEOUT)
    assert seed.modes(admin, shop) == ["native"] * 4
    assert {row[2:] for row in _rows(kubectl, shop)} == {("native", "native", "ok")}


def test_restart_after_a_config_change_made_elsewhere_waits_for_the_controller(
    kubectl, admin, shop
):
    seed.istio_mesh(admin, "true")  # as GitOps would: the mesh says native, the pods don't
    before = {p["metadata"]["name"] for p in seed.pods(admin, shop, "app=web")}
    done = kubectl.sidecar("restart", "-n", shop, "-l", "app=web", "--yes", "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr
    live = [
        p for p in seed.pods(admin, shop, "app=web") if not p["metadata"].get("deletionTimestamp")
    ]
    assert not before & {p["metadata"]["name"] for p in live}, done.stdout
    assert admin.get(rollouts_path(shop, "web"))["status"]["restartedAt"]
    seed.wait_for_pods(admin, shop, 2, "app=web", timeout=TIMEOUT)
    assert seed.modes(admin, shop, "app=web") == ["native"] * 2


@pytest.fixture
def migrated(controller, istio_mesh, fresh_namespace):
    """A Rollout that takes its pod template from a Deployment scaled to 0 (spec.workloadRef),
    as Argo Rollouts' migration guide has it."""
    admin = istio_mesh
    seed.istio_mesh(admin, "false")
    seed.deployment(admin, fresh_namespace, "api", replicas=0)
    rollout(admin, fresh_namespace, "api", workload_ref="api")
    seed.wait_for_pods(admin, fresh_namespace, 2, timeout=TIMEOUT)
    wait_healthy(admin, fresh_namespace, "api")
    return fresh_namespace


def test_a_workload_ref_rollout_is_tried_by_the_canary_and_restarted(kubectl, admin, migrated):
    assert {row[:2] for row in _rows(kubectl, migrated)} == {("Rollout", "api")}
    done = kubectl.sidecar("switch", "--native", "-n", migrated, "--yes", "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr
    # Its template is the Deployment's: the canary reads it there rather than skip the Rollout.
    assert (
        "Canary: 1 workload(s) tried through admission (1 dry-run pod create(s)" in done.stdout
    ), done.stdout
    seed.wait_for_pods(admin, migrated, 2, timeout=TIMEOUT)
    assert seed.modes(admin, migrated) == ["native"] * 2
    assert "template" not in admin.get(rollouts_path(migrated, "api"))["spec"]


def test_a_per_workload_switch_never_writes_a_template_into_a_workload_ref_rollout(
    kubectl, admin, migrated
):
    done = kubectl.sidecar(
        "switch", "--native", "rollout/api", "-n", migrated, "--yes", "--timeout", "10m"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = admin.get(rollouts_path(migrated, "api"))
    assert "template" not in found["spec"], found["status"]
    assert found["status"]["phase"] == "Healthy"
    assert (
        "its pod template is deployment/api's (spec.workloadRef): set "
        'sidecar.istio.io/nativeSidecar: "true"' in done.stdout
    ), done.stdout
    # What it tells the user to do works: the controller rolls the Deployment's template out.
    admin.patch(
        resource_path("apps/v1", "deployments", migrated, "api"),
        {"spec": {"template": {"metadata": {"annotations": {NATIVE_KEY: "true"}}}}},
    )
    admin.wait_for(
        "the Rollout's pods to be native",
        lambda: (
            healthy(admin, migrated, "api")
            and seed.modes(admin, migrated, "app=api") == ["native"] * 2
        ),
        TIMEOUT,
    )
