"""Kuma through kubectl: kuma-sidecar pods as Kuma injects them, in both modes; DESIRED from
kuma-cp's KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS and release; switch setting that env and waiting
for kuma-cp's rollout before restarting.

The harness injector follows Kuma's (tests/harness/injectors/kuma.py): the mode comes from the
kuma-control-plane Deployment's env and kuma-cp's release, never from the pod. Each DESIRED
asserted here is also checked against what that injector gives a new pod now
(seed.injected_mode), so the test holds the plugin to the mesh, not to itself.
"""

import pytest

from tests.e2e.reports import items_by_workload
from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.injectors import kuma as kuma_injector

NS = "kuma-shop"
ENV = seed.KUMA_ENV
CONTROL_PLANE = "kuma-system/kuma-control-plane"
HELM_VALUE = "experimental.sidecarContainers"


def _control_plane(admin):
    return admin.get(kuma_injector.CONTROL_PLANE)


def _rolled_out(admin):
    """Until kuma-control-plane's rollout is complete, so nothing changes it under a test."""

    def done():
        deployment = _control_plane(admin)
        status = deployment.get("status") or {}
        replicas = deployment["spec"].get("replicas", 1)
        return (
            status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and status.get("replicas") == replicas
        )

    admin.wait_for("kuma-control-plane rolled out", done, timeout=300)


def _set_control_plane(admin, native, version=seed.KUMA_VERSION):
    seed.kuma_mesh(admin, native=native, version=version)
    assert seed.kuma_env(admin) == (None if native is None else str(native).lower())
    _rolled_out(admin)


def _spec_names(pod):
    spec = pod["spec"]
    return (
        [(c["name"], c.get("restartPolicy")) for c in spec.get("initContainers") or []],
        [c["name"] for c in spec["containers"]],
    )


@pytest.fixture(scope="module")
def kuma_shop(kuma_mesh):
    """kuma-cp 2.13 without the env (traditional): `cart` (2 pods) and `checkout`, injected
    traditional; `plain` in a namespace Kuma doesn't inject."""
    admin = kuma_mesh
    _set_control_plane(admin, None)
    seed.kuma_namespace(admin, NS)
    seed.namespace(admin, "kuma-plain", injection=False)
    seed.deployment(admin, NS, "cart", init_containers=["migrate"])
    seed.deployment(admin, NS, "checkout", replicas=1)
    seed.deployment(admin, "kuma-plain", "plain", replicas=1)
    seed.wait_for_pods(admin, NS, 3)
    seed.wait_for_pods(admin, "kuma-plain", 1)
    assert seed.modes(admin, NS) == ["traditional"] * 3
    yield admin
    seed.delete_namespace(admin, NS, wait=False)
    seed.delete_namespace(admin, "kuma-plain", wait=False)


def test_pods_have_kumas_shapes_and_status_reads_kuma_cps_env(kubectl, kuma_shop):
    admin = kuma_shop
    [cart, _] = seed.pods(admin, NS, "app=cart")
    assert _spec_names(cart) == ([("migrate", None), ("kuma-init", None)], ["kuma-sidecar", "cart"])

    unset = f"{CONTROL_PLANE} {ENV} unset, Kuma 2.13 default false"
    report = kubectl.sidecar_json("status", "-n", NS)  # --mesh auto finds Kuma
    assert (report["mesh"]["name"], report["mesh"]["source"]) == ("kuma", unset)
    found = {
        name: {(i["proxy"], i["mode"], i["desiredMode"], i["desiredModeSource"]) for i in items}
        for name, items in items_by_workload(report).items()
    }
    assert found == {
        "cart": {("kuma-sidecar", "traditional", "traditional", unset)},
        "checkout": {("kuma-sidecar", "traditional", "traditional", unset)},
    }
    assert seed.injected_mode(admin, NS, "cart") == "traditional"

    # kuma-cp's env flipped behind the plugin's back (a helm upgrade): DESIRED follows it.
    _set_control_plane(admin, True)
    try:
        on = f"{CONTROL_PLANE} {ENV}=true"
        report = kubectl.sidecar_json("status", "-n", NS)
        assert {
            (i["desiredMode"], i["desiredModeSource"], i["needsRestart"]) for i in report["items"]
        } == {("native", on, True)}
        assert seed.injected_mode(admin, NS, "cart") == "native"
        seed.deployment(admin, NS, "fresh", replicas=1, init_containers=["migrate"])
        seed.wait_for_pods(admin, NS, 4)
        [fresh] = seed.pods(admin, NS, "app=fresh")
        assert _spec_names(fresh) == (
            [("kuma-init", None), ("kuma-sidecar", "Always"), ("migrate", None)],
            ["fresh"],
        )
        [item] = kubectl.sidecar_json("status", "-n", NS, "-l", "app=fresh")["items"]
        assert (item["mode"], item["desiredMode"], item["action"]) == ("native", "native", "ok")
    finally:
        admin.delete(resource_path("apps/v1", "deployments", NS, "fresh"))
        seed.wait_for_pods(admin, NS, 3, "app in (cart,checkout)")
        _set_control_plane(admin, None)


def test_switch_on_2_13_sets_the_env_waits_for_kuma_cp_and_switches_back(kubectl, kuma_shop):
    admin = kuma_shop
    _set_control_plane(admin, None)
    seed.wait_for_pods(admin, NS, 3)

    done = kubectl.sidecar("switch", "--native", "--mesh", "kuma", "--yes", "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verify: every pod that a restart could switch is in its target mode." in done.stdout
    assert seed.kuma_env(admin) == "true"
    assert f"set {HELM_VALUE}=true in the Helm release's values too" in done.stderr
    # ...and kuma-cp rolled out before any workload restarted, so new pods get the new mode.
    rolled_out = done.stderr.index("deployment.apps/kuma-control-plane -n kuma-system rolled out")
    assert rolled_out < done.stderr.index(" restarted")
    seed.wait_for_pods(admin, NS, 3)
    assert seed.modes(admin, NS) == ["native"] * 3
    assert seed.modes(admin, "kuma-plain") == ["none"]

    generation = _control_plane(admin)["metadata"]["generation"]
    again = kubectl.sidecar("switch", "--native", "--mesh", "kuma", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout
    assert _control_plane(admin)["metadata"]["generation"] == generation

    back = kubectl.sidecar("switch", "--traditional", "--mesh", "kuma", "--yes", "--timeout", "10m")
    assert back.returncode == 0, back.stdout + back.stderr
    assert seed.kuma_env(admin) == "false"
    seed.wait_for_pods(admin, NS, 3)
    assert seed.modes(admin, NS) == ["traditional"] * 3
    assert seed.injected_mode(admin, NS, "checkout") == "traditional"


def test_on_2_14_native_is_the_default_and_after_2_14_traditional_is_refused(kubectl, kuma_shop):
    admin = kuma_shop
    _set_control_plane(admin, None, version="2.14.0")
    try:
        seed.wait_for_pods(admin, NS, 3)
        default = f"{CONTROL_PLANE} {ENV} unset, Kuma 2.14 default true"
        report = kubectl.sidecar_json("status", "-n", NS)
        assert report["mesh"]["source"] == default
        assert seed.injected_mode(admin, NS, "cart") == "native"

        # Nothing to write: the pods are restarted into the default, kuma-cp is left alone.
        generation = _control_plane(admin)["metadata"]["generation"]
        done = kubectl.sidecar("switch", "--native", "--mesh", "kuma", "--yes", "--timeout", "10m")
        assert done.returncode == 0, done.stdout + done.stderr
        assert _control_plane(admin)["metadata"]["generation"] == generation
        assert seed.kuma_env(admin) is None
        seed.wait_for_pods(admin, NS, 3)
        assert seed.modes(admin, NS) == ["native"] * 3

        # After 2.14 the setting is gone: a switch to traditional can't work, and says so.
        _set_control_plane(admin, False, version="3.0.0")
        before = sorted(pod["metadata"]["name"] for pod in seed.pods(admin, NS))
        refused = kubectl.sidecar("switch", "--traditional", "--mesh", "kuma", "--yes")
        assert refused.returncode != 0
        assert "Kuma 3.0, which always injects native sidecars" in refused.stderr
        assert sorted(pod["metadata"]["name"] for pod in seed.pods(admin, NS)) == before
        assert seed.kuma_env(admin) == "false"  # left as it was: it does nothing
        assert seed.injected_mode(admin, NS, "cart") == "native"
    finally:
        _set_control_plane(admin, None)


def test_a_helm_kuma_cp_is_patched_and_the_upgrade_that_keeps_it_printed(kubectl, kuma_shop):
    """kuma-cp as `helm install kuma kuma/kuma -n kuma-system` leaves it (Helm's release
    annotations beside the chart's labels): the switch says the helm upgrade that keeps it."""
    admin = kuma_shop
    _set_control_plane(admin, None)
    admin.patch(
        kuma_injector.CONTROL_PLANE,
        {
            "metadata": {
                "annotations": {
                    "meta.helm.sh/release-name": "kuma",
                    "meta.helm.sh/release-namespace": "kuma-system",
                }
            }
        },
    )
    try:
        report = kubectl.sidecar_json("status", "-n", NS)
        assert report["mesh"]["owner"] == "Helm release kuma-system/kuma"
        done = kubectl.sidecar(
            "switch", "--native", "--mesh", "kuma", "--yes", "--no-restart", "--timeout", "10m"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (
            "helm upgrade kuma kuma --version 2.13.0 -n kuma-system --reuse-values "
            f"--set {HELM_VALUE}=true"
        ) in done.stdout
        assert seed.kuma_env(admin) == "true"
    finally:
        _set_control_plane(admin, None)  # a whole replacement: Helm's annotations go too


# --- pods that lost the mesh: status flags them, restart restores them --------------------------

LOST, LOST_OFF = "kuma-lost", "kuma-lost-off"
KUMA_WEBHOOKS = "kuma-admission-mutating-webhook-configuration"


@pytest.fixture
def kuma_lost_namespaces(kuma_mesh):
    """kuma-lost labelled for injection, kuma-lost-off labelled disabled; deleted afterwards."""
    admin = kuma_mesh
    _set_control_plane(admin, None)
    seed.kuma_namespace(admin, LOST)
    seed.namespace(admin, LOST_OFF, injection=False, labels={seed.KUMA_INJECTION: "disabled"})
    yield admin
    seed.delete_namespace(admin, LOST, wait=False)
    seed.delete_namespace(admin, LOST_OFF, wait=False)


def test_kuma_pods_created_while_its_injector_was_down_are_flagged_and_restart_restores_them(
    kubectl, kuma_lost_namespaces
):
    from tests.e2e.test_injector_down import fail_open

    admin = kuma_lost_namespaces
    restore = fail_open(admin, LOST, KUMA_WEBHOOKS, "kuma-sidecar")
    try:
        seed.deployment(admin, LOST, "cart", replicas=2)
        # opted out by the pod's label, over its namespace's
        seed.deployment(admin, LOST, "batch", replicas=1, labels={seed.KUMA_INJECTION: "disabled"})
        # opted in by the pod's label, over its namespace's (the chart's pods-kuma-injector)
        seed.deployment(
            admin, LOST_OFF, "tools", replicas=1, labels={seed.KUMA_INJECTION: "enabled"}
        )
        seed.deployment(admin, LOST_OFF, "plain", replicas=1)
        seed.wait_for_pods(admin, LOST, 3)
        seed.wait_for_pods(admin, LOST_OFF, 2)
        assert seed.modes(admin, LOST) + seed.modes(admin, LOST_OFF) == ["none"] * 5
    finally:
        restore()  # back: the pods it missed keep running without a proxy

    for namespace, lost in ((LOST, {"cart"}), (LOST_OFF, {"tools"})):
        report = kubectl.sidecar_json("status", "-n", namespace)
        assert report["mesh"]["name"] == "kuma"
        for item in report["items"]:
            if item["workload"]["name"] in lost:
                assert item["needsRestart"] is True, item
                assert item["problems"] == [f"no proxy: webhook {KUMA_WEBHOOKS} selects this pod"]
            else:
                assert item["needsRestart"] is False and item["problems"] == [], item
        table = kubectl.sidecar("status", "-n", namespace, "--exit-code")
        assert table.returncode == 1, table.stdout + table.stderr
        assert "not flagged" not in table.stderr, table.stderr

    for namespace in (LOST, LOST_OFF):
        done = kubectl.sidecar("restart", "-n", namespace, "--yes", "--timeout", "10m")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "batch" not in done.stdout and "plain" not in done.stdout
    seed.wait_for_pods(admin, LOST, 3)
    seed.wait_for_pods(admin, LOST_OFF, 2)
    assert seed.modes(admin, LOST, "app=cart") == ["traditional"] * 2
    assert seed.modes(admin, LOST_OFF, "app=tools") == ["traditional"]
    assert seed.modes(admin, LOST, "app=batch") == ["none"]
    assert seed.modes(admin, LOST_OFF, "app=plain") == ["none"]
    for namespace in (LOST, LOST_OFF):
        assert kubectl.sidecar("status", "-n", namespace, "--exit-code").returncode == 0
