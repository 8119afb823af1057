"""Open-source Istio: the mode lives in istiod's ENABLE_NATIVE_SIDECARS; per-workload overrides."""

import pytest

from tests.harness import seed
from tests.harness.api import resource_path


def _istiod_env(admin):
    istiod = admin.get(resource_path("apps/v1", "deployments", "istio-system", "istiod"))
    return {
        e["name"]: e.get("value")
        for e in istiod["spec"]["template"]["spec"]["containers"][0]["env"]
    }


@pytest.fixture
def shop(istio_mesh, fresh_namespace):
    admin = istio_mesh
    seed.istio_mesh(admin, "false")
    seed.deployment(admin, fresh_namespace, "cart")
    seed.deployment(admin, fresh_namespace, "reviews", replicas=1)
    seed.wait_for_pods(admin, fresh_namespace, 3)
    return fresh_namespace


def test_status_reads_istiod(kubectl, shop):
    report = kubectl.sidecar_json("status", "-n", shop)
    assert report["mesh"]["name"] == "istio"
    assert "istio-system/istiod ENABLE_NATIVE_SIDECARS=false" in report["mesh"]["description"]
    assert {(i["mode"], i["desiredMode"], i["action"]) for i in report["items"]} == {
        ("traditional", "traditional", "ok")
    }


def test_switch_sets_istiod_env_rolls_istiod_and_restarts_workloads(kubectl, admin, shop):
    done = kubectl.sidecar("switch", "--native", "-n", shop, "--yes", "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr
    env = _istiod_env(admin)
    assert env["ENABLE_NATIVE_SIDECARS"] == "true"
    assert env["PILOT_TRACE_SAMPLING"] == "1"  # other env untouched
    # Nobody's istiod (no Helm, istioctl or GitOps markers): no guess about who may revert it.
    assert "revert" not in done.stdout + done.stderr
    seed.wait_for_pods(admin, shop, 3)
    assert seed.modes(admin, shop) == ["native"] * 3


def test_per_workload_override_pins_one_deployment(kubectl, admin, shop):
    done = kubectl.sidecar(
        "switch", "--native", "deployment/cart", "-n", shop, "--yes", "--timeout", "10m"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    annotations = admin.get(resource_path("apps/v1", "deployments", shop, "cart"))["spec"][
        "template"
    ]["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/nativeSidecar"] == "true"
    assert _istiod_env(admin)["ENABLE_NATIVE_SIDECARS"] == "false"  # mesh-wide config left alone
    seed.wait_for_pods(admin, shop, 3)
    assert seed.modes(admin, shop, "app=cart") == ["native"] * 2
    assert seed.modes(admin, shop, "app=reviews") == ["traditional"]
    report = kubectl.sidecar_json("status", "-n", shop, "-l", "app=cart")
    assert {(i["mode"], i["desiredMode"], i["action"]) for i in report["items"]} == {
        ("native", "native", "ok")
    }
