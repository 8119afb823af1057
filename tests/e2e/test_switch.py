"""`kubectl sidecar switch` through kubectl on ASM: refusals, dry runs, both directions, resuming."""

import pytest

from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.bootstrap import add_node
from tests.harness.webhooks import STRIPPER_LABEL


def _asm_native(admin):
    return admin.get(
        resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
    )["spec"].get("enableNativeSidecar")


def _template_annotations(admin, ns, name):
    deployment = admin.get(resource_path("apps/v1", "deployments", ns, name))
    return deployment["spec"]["template"]["metadata"].get("annotations") or {}


@pytest.fixture
def traditional_shop(asm_mesh, fresh_namespace):
    """ASM set to traditional and two Deployments injected that way."""
    admin = asm_mesh
    seed.asm_mesh(admin, False)
    for name in ("cart", "checkout"):
        seed.deployment(admin, fresh_namespace, name)
    seed.wait_for_pods(admin, fresh_namespace, 4)
    assert seed.modes(admin, fresh_namespace) == ["traditional"] * 4
    return fresh_namespace


def test_forbidden_patch_is_reported_and_nothing_changes(kubectl, admin, traditional_shop):
    done = kubectl.sidecar(
        "switch", "--native", "-n", traditional_shop, "--context", "viewer", "--yes"
    )
    assert done.returncode == 1
    assert (
        "Refused: may not patch asmmeshconfigs.istio.alibabacloud.com (context viewer)"
        in done.stderr
    )
    assert f"may not patch deployments.apps in namespace {traditional_shop}" in done.stderr
    assert "Traceback" not in done.stderr
    # And the run's Lease (lease.py), which goes beside ASM's config.
    assert "may not create leases.coordination.k8s.io in namespace istio-system" in done.stderr
    assert "Nothing was changed: 4 permission(s) the plan needs are missing" in done.stdout
    assert _asm_native(admin) is False
    for name in ("cart", "checkout"):
        assert "kubectl.kubernetes.io/restartedAt" not in _template_annotations(
            admin, traditional_shop, name
        )


def test_server_dry_run_sends_writes_that_change_nothing(kubectl, admin, traditional_shop):
    before = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments", traditional_shop))
    }
    done = kubectl.sidecar(
        "switch", "--native", "-n", traditional_shop, "--dry-run=server", "--yes"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "spec.enableNativeSidecar false -> true" in done.stdout
    assert _asm_native(admin) is False
    after = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments", traditional_shop))
    }
    assert after == before
    assert seed.modes(admin, traditional_shop) == ["traditional"] * 4


def test_refuses_without_yes_off_a_terminal(kubectl, admin, traditional_shop):
    done = kubectl.sidecar("switch", "--native", "-n", traditional_shop)
    assert done.returncode != 0 and "--yes" in done.stderr
    assert _asm_native(admin) is False


def test_switch_native_then_back_and_a_second_run_changes_nothing(kubectl, admin, traditional_shop):
    done = kubectl.sidecar(
        "switch", "--native", "-n", traditional_shop, "--yes", "--timeout", "10m"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _asm_native(admin) is True
    seed.wait_for_pods(admin, traditional_shop, 4)
    assert seed.modes(admin, traditional_shop) == ["native"] * 4

    generations = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments", traditional_shop))
    }
    again = kubectl.sidecar("switch", "--native", "-n", traditional_shop, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout
    assert generations == {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments", traditional_shop))
    }

    back = kubectl.sidecar(
        "switch", "--traditional", "-n", traditional_shop, "--yes", "--timeout", "10m"
    )
    assert back.returncode == 0, back.stdout + back.stderr
    assert _asm_native(admin) is False
    seed.wait_for_pods(admin, traditional_shop, 4)
    assert seed.modes(admin, traditional_shop) == ["traditional"] * 4


def test_failed_rollout_stops_the_switch_and_a_rerun_finishes_it(
    kubectl, admin, control_plane, asm_mesh, fresh_namespace
):
    """A webhook strips restartPolicy from one Deployment's pods: its new pods are refused
    (FailedCreate), the switch stops and says so; once the webhook is gone, the same command
    finishes the job without redoing what was done. Without the canary, which would have
    refused before any write (test_canary.py): a rollout can fail for reasons admission
    doesn't show, and this is the path such a failure takes."""
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    seed.deployment(admin, ns, "cart")
    seed.deployment(admin, ns, "legacy", labels={STRIPPER_LABEL: "enforced"})
    seed.wait_for_pods(admin, ns, 4)
    control_plane.register_stripper()
    try:
        done = kubectl.sidecar(
            "switch",
            "--native",
            "-n",
            ns,
            "--yes",
            "--concurrency",
            "1",
            "--timeout",
            "10m",
            "--no-canary",
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "legacy" in output and "FailedCreate" in output and "restartPolicy" in output
        assert _asm_native(admin) is True
        assert seed.modes(admin, ns, "app=cart") == ["native"] * 2
        assert seed.modes(admin, ns, "app=legacy") == ["traditional"] * 2
    finally:
        control_plane.unregister_stripper()
    cart_generation = admin.get(resource_path("apps/v1", "deployments", ns, "cart"))["metadata"][
        "generation"
    ]
    rerun = kubectl.sidecar("switch", "--native", "-n", ns, "--yes", "--timeout", "10m")
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output
    # The ReplicaSet controller may already have created legacy's pods once the webhook went
    # away; either way the rerun must not restart cart again.
    assert "deployment/cart -n" not in output
    if "not waited for" in output:
        # legacy still showed its FailedCreate when the rerun looked, so the rerun restarted it
        # as a workload failing before the switch and, by design, did not wait for it.
        assert "1 workload(s) that were failing before the switch" in output, output
        waited = kubectl("rollout", "status", "-n", ns, "deployment/legacy", "--timeout", "10m")
        assert waited.returncode == 0, waited.stdout + waited.stderr
    seed.wait_for_pods(admin, ns, 4)
    assert seed.modes(admin, ns) == ["native"] * 4
    assert (
        admin.get(resource_path("apps/v1", "deployments", ns, "cart"))["metadata"]["generation"]
        == cart_generation
    )


def test_old_kubelet_blocks_a_switch_to_native(kubectl, admin, traditional_shop):
    add_node(admin, "old-node", "v1.28.9")
    try:
        done = kubectl.sidecar("switch", "--native", "-n", traditional_shop, "--yes")
        assert done.returncode != 0
        assert "old-node" in done.stderr and "--force" in done.stderr
        assert _asm_native(admin) is False
    finally:
        admin.delete(resource_path("v1", "nodes", name="old-node"))


def test_a_mesh_wide_switch_limited_to_a_namespace_without_pods_changes_nothing(kubectl, asm_mesh):
    admin = asm_mesh
    seed.asm_mesh(admin, False)
    done = kubectl.sidecar("switch", "--native", "-n", "no-such-namespace", "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: no pods in namespace no-such-namespace")
    assert _asm_native(admin) is False


@pytest.mark.parametrize("mesh", ["istio", "linkerd"])
def test_a_wrong_mesh_is_an_error_before_any_write(kubectl, asm_mesh, traditional_shop, mesh):
    # On ASM, --mesh istio used to restart every workload with no config change, and
    # --mesh linkerd to say everything was already in the target mode.
    admin = asm_mesh
    before = {name: _template_annotations(admin, traditional_shop, name) for name in ("cart",)}
    done = kubectl.sidecar("switch", "--native", "--mesh", mesh, "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"error: --mesh {mesh}: its configuration is not on this cluster"
    )
    assert _asm_native(admin) is False
    assert {name: _template_annotations(admin, traditional_shop, name) for name in ("cart",)} == (
        before
    )


def test_a_refusal_names_whom_the_server_judged_not_only_the_context(
    kubectl, admin, traditional_shop
):
    # admin's context, acting as the read-only viewer: "context admin" alone would suggest
    # admin lacks the rights.
    done = kubectl.sidecar(
        "switch",
        "--native",
        "-n",
        traditional_shop,
        "--context",
        "admin",
        "--as",
        "viewer",
        "--yes",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"Refused: may not patch deployments.apps in namespace {traditional_shop} "
        "(context admin, as viewer)"
    ) in done.stderr
    assert _asm_native(admin) is False
