"""The canary (canary.py) on the real admission chain: a dry-run create of each planned
workload's pod, through the harness's injector and its restartPolicy-stripping policy webhook,
before `switch` writes anything."""

import json

import pytest

from tests.harness import seed, webhooks
from tests.harness.api import resource_path
from tests.harness.webhooks import STRIPPER_LABEL

RBAC = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
PIN = "sidecar.istio.io/nativeSidecar"


def _asm_native(admin):
    return admin.get(
        resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
    )["spec"].get("enableNativeSidecar")


def _generations(admin, ns):
    return {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments", ns))
    }


def _template_annotations(admin, ns, name):
    deployment = admin.get(resource_path("apps/v1", "deployments", ns, name))
    return deployment["spec"]["template"]["metadata"].get("annotations") or {}


@pytest.fixture
def legacy_shop(admin, asm_mesh, control_plane, fresh_namespace):
    """ASM set to traditional; cart, and legacy under a policy webhook that strips restartPolicy
    from its pods' init containers."""
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart")
    seed.deployment(admin, ns, "legacy", labels={STRIPPER_LABEL: "enforced"})
    seed.wait_for_pods(admin, ns, 4)
    control_plane.register_stripper()
    yield ns
    control_plane.unregister_stripper()


def test_a_workload_the_webhook_breaks_stops_the_switch_before_any_write_and_a_dry_run_says_so(
    kubectl, admin, legacy_shop
):
    ns = legacy_shop
    before = _generations(admin, ns)
    done = kubectl.sidecar("switch", "--native", "-n", ns, "--yes")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 can't be switched, nothing will be written while any can't" in done.stdout
    assert f"{ns}" in done.stdout and "Deployment/legacy" in done.stdout
    assert "may not be set for init containers without restartPolicy=Always" in done.stdout
    assert "Deployment/cart   " not in done.stdout.split("Canary:")[1]
    assert "Nothing was changed: 1 workload(s) can't be switched" in done.stdout
    assert "--pin-failed" in done.stdout and "--keep-going" in done.stdout
    assert _asm_native(admin) is False
    assert _generations(admin, ns) == before
    assert seed.modes(admin, ns) == ["traditional"] * 4

    # A dry run, client or server, predicts exactly that.
    for dry_run in ("--dry-run", "--dry-run=server"):
        dry = kubectl.sidecar("switch", "--native", "-n", ns, dry_run, "-o", "json")
        assert dry.returncode == 1, dry.stdout + dry.stderr
        canary = json.loads(dry.stdout)["plan"]["canary"]
        assert canary["source"] == "admission (dry-run create)"
        assert [c["workload"] for c in canary["cantSwitch"]] == [f"Deployment/legacy -n {ns}"]
        assert canary["dryRunCreates"] == 2
    assert _asm_native(admin) is False
    assert _generations(admin, ns) == before


def test_pin_failed_pins_the_broken_one_first_and_switches_the_rest(kubectl, admin, legacy_shop):
    ns = legacy_shop
    done = kubectl.sidecar(
        "switch", "--native", "-n", ns, "--yes", "--pin-failed", "--timeout", "10m"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "pinned to the old mode first (--pin-failed)" in done.stdout
    assert "FailedCreate" not in output  # nothing was restarted into a refusal
    assert "Verify: every pod that a restart could switch is in its target mode." in done.stdout
    assert _asm_native(admin) is True
    assert _template_annotations(admin, ns, "legacy")[PIN] == "false"
    assert PIN not in _template_annotations(admin, ns, "cart")
    seed.wait_for_pods(admin, ns, 4)
    assert seed.modes(admin, ns, "app=cart") == ["native"] * 2
    assert seed.modes(admin, ns, "app=legacy") == ["traditional"] * 2


@pytest.fixture
def may_switch_but_not_create_pods(admin, asm_mesh, fresh_namespace):
    """The `viewer` user may patch ASM's config, hold the Lease and patch the Deployments of
    the namespace, but not create pods: the canary can't be asked."""
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart", replicas=1)
    seed.wait_for_pods(admin, ns, 1)
    grants = [
        (
            resource_path(RBAC, "clusterroles"),
            {
                "apiVersion": RBAC,
                "kind": "ClusterRole",
                "metadata": {"name": "canary-switcher"},
                "rules": [
                    {
                        "apiGroups": ["istio.alibabacloud.com"],
                        "resources": ["asmmeshconfigs"],
                        "verbs": ["get", "list", "patch"],
                    },
                    {
                        "apiGroups": ["coordination.k8s.io"],
                        "resources": ["leases"],
                        "verbs": ["get", "create", "patch"],
                    },
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
                ],
            },
        ),
        (
            resource_path(RBAC, "clusterrolebindings"),
            {
                "apiVersion": RBAC,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "viewer-switches-without-pods"},
                "roleRef": {
                    "apiGroup": RBAC_GROUP,
                    "kind": "ClusterRole",
                    "name": "canary-switcher",
                },
                "subjects": [{"kind": "User", "name": "viewer", "apiGroup": RBAC_GROUP}],
            },
        ),
    ]
    for collection, body in grants:
        admin.apply(collection, body)
    yield ns
    for collection, body in grants:
        admin.delete(f"{collection}/{body['metadata']['name']}")


def test_without_the_right_to_create_pods_the_canary_is_skipped_and_the_switch_goes_on(
    kubectl, admin, may_switch_but_not_create_pods
):
    ns = may_switch_but_not_create_pods
    done = kubectl.sidecar(
        "switch", "--native", "-n", ns, "--context", "viewer", "--yes", "--timeout", "10m"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"Warning: canary skipped (may not create pods in namespace {ns}" in done.stderr
    assert "Refused:" not in done.stderr
    assert _asm_native(admin) is True
    seed.wait_for_pods(admin, ns, 1)
    assert seed.modes(admin, ns) == ["native"]


@pytest.fixture
def push_stuck(admin, asm_mesh, fresh_namespace):
    """ASM set to traditional whose data plane never receives a new config (the harness's
    injector keeps injecting traditional whatever the ASMMeshConfig says), and cart."""
    from tests.harness.injectors.istio import PUSHED

    ns = fresh_namespace
    # Our model of Istio's injector, not Istio's: a push that never arrives is the model's
    # PUSHED switch; Istio's webhook code reads the setting the harness hands it on every request.
    restore = webhooks.use_harness_istio_injector(admin, ns)
    seed.asm_mesh(admin, False)
    config = resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
    admin.patch(config, {"metadata": {"annotations": {PUSHED: "false"}}})
    seed.deployment(admin, ns, "cart")
    seed.wait_for_pods(admin, ns, 2)
    yield ns
    admin.patch(config, {"metadata": {"annotations": {PUSHED: None}}})
    restore()


def test_a_config_the_mesh_doesnt_take_is_put_back_and_nothing_restarts(kubectl, admin, push_stuck):
    ns = push_stuck
    before = _generations(admin, ns)
    # The deadline is the point here: the injector never changes, whatever the wait.
    done = kubectl.sidecar("switch", "--native", "-n", ns, "--yes", "--timeout", "15s")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "the mesh still does not inject native sidecars after its config change" in output
    assert "the config was put back and nothing was restarted" in output
    assert "put back (true -> false)" in done.stderr
    assert _asm_native(admin) is False
    assert _generations(admin, ns) == before
    assert "kubectl.kubernetes.io/restartedAt" not in _template_annotations(admin, ns, "cart")


def test_status_probe_asks_admission_and_says_where_the_mesh_config_disagrees(
    kubectl, admin, push_stuck
):
    ns = push_stuck
    # The config says native; the data plane, never pushed, still injects traditional.
    seed.asm_mesh(admin, True)
    config = resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
    from tests.harness.injectors.istio import PUSHED

    admin.patch(config, {"metadata": {"annotations": {PUSHED: "false"}}})
    model = kubectl.sidecar_json("status", "-n", ns)
    assert {item["desiredMode"] for item in model["items"]} == {"native"}
    assert all(item["needsRestart"] for item in model["items"])

    probed = kubectl.sidecar_json("status", "-n", ns, "--probe")
    for item in probed["items"]:
        assert item["desiredMode"] == "traditional", item
        assert item["desiredModeSource"] == "admission (dry-run create)"
        assert item["modelDesiredMode"] == "native"
        assert not item["needsRestart"]
        assert any(
            problem.startswith("admission gives traditional; the mesh config says native")
            for problem in item["problems"]
        ), item
    table = kubectl.sidecar("status", "-n", ns, "--probe")
    assert table.returncode == 0, table.stderr
    assert (
        f"Warning: Deployment/cart -n {ns}: admission gives traditional; the mesh config says "
        "native" in table.stderr
    )
