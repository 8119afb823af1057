"""switch and restart through the CLI, with the cluster module replaced by FakeCluster.

The fake's on_patch plays the controllers: a restarted Deployment gets new pods in the mode
the (fake) mesh config says, so the verify step sees a real outcome.
"""

import time

import pytest

from kubectl_sidecar.lease import LEASE_NAME, micro_time
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import asm_mesh_config, deployment, node, replicaset


def cluster_objects(native=True, cart_mode="native"):
    return {
        "ASMMeshConfig": [asm_mesh_config(native)],
        "Node": [node("node-1", "v1.33.1"), node("node-2", "v1.33.1")],
        "Deployment": [deployment("cart"), deployment("web", replicas=1)],
        "ReplicaSet": [replicaset("cart-1", "cart"), replicaset("web-1", "web")],
        "Pod": [
            pods.istio(cart_mode, name="cart-1-a", owner=("ReplicaSet", "cart-1")),
            pods.istio(cart_mode, name="cart-1-b", owner=("ReplicaSet", "cart-1")),
            pods.istio("traditional", name="web-1-a", owner=("ReplicaSet", "web-1")),
            pods.istio("native", name="debug", namespace="tools"),
        ],
    }


def controllers(fail=None):
    """on_patch: apply config patches; roll restarted Deployments to the configured mode."""

    def on_patch(cluster, kind, namespace, name, body):
        if kind == "ASMMeshConfig":
            cluster.objects["ASMMeshConfig"][0]["spec"].update(body["spec"])
            return
        if kind != "Deployment":
            return
        workload = next(d for d in cluster.objects["Deployment"] if d["metadata"]["name"] == name)
        workload["metadata"]["generation"] += 1
        workload["status"]["observedGeneration"] = workload["metadata"]["generation"]
        if name == fail:
            workload["status"]["conditions"] = [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": "spec.initContainers[1].restartPolicy: Forbidden: may not be set for "
                    "init containers without restartPolicy=Always",
                }
            ]
            return
        annotations = body["spec"]["template"]["metadata"]["annotations"]
        workload["spec"]["template"]["metadata"].setdefault("annotations", {}).update(annotations)
        override = annotations.get("sidecar.istio.io/nativeSidecar")
        native = (
            (override == "true")
            if override
            else cluster.objects["ASMMeshConfig"][0]["spec"]["enableNativeSidecar"]
        )
        mode = "native" if native else "traditional"
        cluster.objects["ReplicaSet"].append(replicaset(f"{name}-2", name))
        keep = [
            p for p in cluster.objects["Pod"] if not p["metadata"]["name"].startswith(f"{name}-")
        ]
        new = [
            pods.istio(mode, name=f"{name}-2-{i}", owner=("ReplicaSet", f"{name}-2"))
            for i in range(workload["spec"]["replicas"])
        ]
        cluster.objects["Pod"] = keep + new

    return on_patch


@pytest.fixture
def fake(connect_to):
    cluster = FakeCluster(cluster_objects(), namespace="shop", on_patch=controllers())
    connect_to(cluster)
    return cluster


def test_dry_run_prints_the_plan_and_changes_nothing(fake, run):
    result = run("switch", "--traditional", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ASMMeshConfig default on context test: spec.enableNativeSidecar true -> false" in out
    assert "shop        Deployment/cart   2" in out
    assert "Deployment/web" not in out  # already traditional
    assert "Pod/debug" in out and "recreate it from its manifest" in out
    assert "Dry run: nothing was changed." in out
    assert fake.patches == []


def test_off_a_terminal_it_refuses_without_yes(fake, run):
    result = run("switch", "--traditional")
    assert result.exit_code == 2
    assert "refusing to change the cluster without --yes" in result.stderr
    assert fake.patches == []


def test_switch_patches_config_then_restarts_exactly_the_affected_workloads(fake, run):
    result = run("switch", "--traditional", "--yes")
    assert result.exit_code == 0, result.output
    kinds = [(kind, name, patch_type) for kind, _, name, _, patch_type, _ in fake.patches]
    assert kinds == [
        ("ASMMeshConfig", "default", "application/merge-patch+json"),
        ("Deployment", "cart", "application/strategic-merge-patch+json"),
    ]
    assert fake.patches[0][3] == {"spec": {"enableNativeSidecar": False}}
    restarted = fake.patches[1][3]["spec"]["template"]["metadata"]["annotations"]
    assert list(restarted) == ["kubectl.kubernetes.io/restartedAt"]
    assert "deployment/cart -n shop restarted" in result.stderr
    assert "(1 of 1 workloads done)" in result.stderr
    assert "Verify: every pod that a restart could switch is in its target mode." in result.stdout


def test_second_run_after_success_changes_nothing(fake, run):
    assert run("switch", "--traditional", "--yes").exit_code == 0
    fake.patches.clear()
    again = run("switch", "--traditional", "--yes")
    assert again.exit_code == 0
    assert "Nothing to change." in again.stdout
    assert fake.patches == []


def test_confirmation_prompt_no_means_no(fake, mocker, run):
    mocker.patch("kubectl_sidecar.cli._stdin_is_terminal", return_value=True)
    result = run("switch", "--traditional", input="n\n")
    assert result.exit_code == 1
    assert "Apply this plan? [y/N]" in result.stderr
    assert "Nothing was changed." in result.stdout and fake.patches == []
    yes = run("switch", "--traditional", input="y\n")
    assert yes.exit_code == 0 and fake.patches


def test_server_dry_run_sends_every_write_with_dry_run(fake, run):
    result = run("switch", "--traditional", "--dry-run=server")
    assert result.exit_code == 0, result.output
    assert [p[5] for p in fake.patches] == [True, True]
    assert fake.objects["ASMMeshConfig"][0]["spec"]["enableNativeSidecar"] is True
    assert "(server dry run)" in result.stderr


def test_missing_rights_are_found_before_any_write(run, connect_to):
    cluster = FakeCluster(cluster_objects(), refuse_writes={"Deployment"})
    connect_to(cluster)
    result = run("switch", "--traditional", "--yes")
    assert result.exit_code == 1
    assert (
        "Refused: may not patch deployments.apps in namespace shop (context test)" in result.stderr
    )
    assert "Nothing was changed: 1 permission(s) the plan needs are missing" in result.stdout
    assert cluster.patches == []  # not even the mesh config, which this user may patch
    assert {(r["verb"], r["resource"], r.get("namespace")) for r in cluster.reviews} == {
        ("patch", "asmmeshconfigs", None),
        ("patch", "deployments", "shop"),
        # The run's Lease, beside ASM's config (lease.py).
        ("create", "leases", "istio-system"),
        ("patch", "leases", "istio-system"),
    }
    assert cluster.lease_writes == []  # refused before any write: no Lease taken either
    dry = run("switch", "--traditional", "--dry-run")
    assert dry.exit_code == 1 and "Refused: may not patch deployments.apps" in dry.stderr


def test_a_write_refused_despite_the_access_check_stops_and_says_a_rerun_wont_help(run, connect_to):
    class Admission(FakeCluster):
        """RBAC allows the patch; an admission webhook refuses it."""

        def create(self, resource, body, namespace=None):
            return {"status": {"allowed": True}}

    cluster = Admission(cluster_objects(), refuse_writes={"ASMMeshConfig"})
    connect_to(cluster)
    result = run("switch", "--traditional", "--yes")
    assert result.exit_code == 1
    assert (
        'refused: mesh config: asmmeshconfigs.istio.alibabacloud.com "default" is forbidden'
        in result.stdout
    )
    assert "Done: 0 of 1 config change(s), 0 of 1 workload(s) rolled out." in result.stdout
    assert "running again won't help" in result.stdout
    assert "Run the same command again" not in result.stdout
    assert cluster.patches == []


def test_failed_rollout_stops_new_restarts_and_names_the_reason(run, connect_to):
    objects = cluster_objects()
    objects["Deployment"].append(deployment("zeta"))
    objects["ReplicaSet"].append(replicaset("zeta-1", "zeta"))
    objects["Pod"].append(pods.istio("native", name="zeta-1-a", owner=("ReplicaSet", "zeta-1")))
    cluster = FakeCluster(objects, on_patch=controllers(fail="cart"))
    connect_to(cluster)
    result = run("switch", "--traditional", "--yes", "--concurrency", "1")
    assert result.exit_code == 1
    assert (
        'FAILED Deployment/cart -n shop: deployment "cart" can\'t create pods (FailedCreate)'
        in result.stderr
    )
    assert "restartPolicy" in result.stdout
    assert "not started: Deployment/zeta -n shop" in result.stdout
    assert "Run the same command again to continue" in result.stdout
    assert [p[2] for p in cluster.patches] == ["default", "cart"]


def test_rollout_that_never_finishes_times_out(run, connect_to):
    def stuck(cluster, kind, namespace, name, body):
        if kind == "Deployment":
            d = next(d for d in cluster.objects["Deployment"] if d["metadata"]["name"] == name)
            d["metadata"]["generation"] += 1
            d["status"]["observedGeneration"] = d["metadata"]["generation"]
            d["status"]["updatedReplicas"] = 0

    cluster = FakeCluster(cluster_objects(native=False), on_patch=stuck)
    connect_to(cluster)
    result = run("restart", "-A", "--yes", "--timeout", "200ms")
    assert result.exit_code == 1
    assert "timed out after 0.2s" in result.stdout


def test_native_switch_refuses_old_kubelets_unless_forced(run, connect_to):
    objects = cluster_objects(native=False, cart_mode="traditional")
    objects["Node"].append(node("old-node", "v1.28.4"))
    cluster = FakeCluster(objects, on_patch=controllers())
    connect_to(cluster)
    result = run("switch", "--native", "--yes")
    assert result.exit_code == 1
    assert "1 node(s) run a kubelet older than 1.29: old-node (v1.28.4)" in result.stderr
    assert cluster.patches == []
    forced = run("switch", "--native", "--dry-run", "--force")
    assert forced.exit_code == 0 and "(continuing: --force)" in forced.stderr


def test_per_workload_switch_sets_the_override_annotation_only(fake, run):
    result = run("switch", "--traditional", "deployment/cart", "-n", "shop", "--yes")
    assert result.exit_code == 0, result.output
    assert [(p[0], p[2]) for p in fake.patches] == [("Deployment", "cart")]
    assert fake.patches[0][3]["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/nativeSidecar": "false"
    }
    assert fake.objects["ASMMeshConfig"][0]["spec"]["enableNativeSidecar"] is True


def test_no_restart_changes_only_the_config_and_says_how_to_finish(fake, run):
    result = run("switch", "--traditional", "--yes", "--no-restart")
    assert result.exit_code == 0
    assert [p[0] for p in fake.patches] == ["ASMMeshConfig"]
    assert "kubectl sidecar restart -A" in result.stdout


def test_restart_follows_a_config_changed_elsewhere(run, connect_to):
    cluster = FakeCluster(cluster_objects(native=False), namespace="shop", on_patch=controllers())
    connect_to(cluster)
    result = run("restart", "--yes")
    assert result.exit_code == 0, result.output
    assert [(p[0], p[2]) for p in cluster.patches] == [("Deployment", "cart")]


@pytest.mark.parametrize(
    "args, message",
    [
        (["switch"], "exactly one of --native or --traditional"),
        (["switch", "--native", "--traditional"], "exactly one of --native or --traditional"),
        (["switch", "--native", "cart"], '"cart" is not a workload'),
        (["switch", "--native", "pod/cart"], '"pod/cart" is not a workload'),
        (["switch", "--native", "deployment/a", "-l", "app=a"], "not both"),
        (["switch", "--native", "--dry-run=maybe"], "Invalid value for '--dry-run'"),
        (["switch", "--native", "deployment/a", "--no-restart"], "mesh-wide switch only"),
        (["switch", "--native", "-l", "app=a", "--no-restart"], "mesh-wide switch only"),
        (["restart", "--timeout", "soon"], "--timeout"),
    ],
)
def test_usage_errors_are_found_before_connecting(args, message, run, connect_to):
    connect = connect_to(None)
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    connect.assert_not_called()


def test_unknown_workload_is_a_clear_error(fake, run):
    result = run("switch", "--native", "deployment/nope", "-n", "shop", "--yes")
    assert result.exit_code == 2
    assert 'deployments.apps "nope" not found in namespace shop' in result.stderr


def test_a_workload_of_no_known_mesh_is_an_error_not_a_guess(run, connect_to):
    # No pod of it runs a proxy and no mesh config exists: which annotation would pin it?
    objects = {
        "Node": [node("node-1", "v1.33.1")],
        "Deployment": [deployment("cart")],
        "ReplicaSet": [replicaset("cart-1", "cart")],
        "Pod": [pods.pod(name="cart-1-a", owner=("ReplicaSet", "cart-1"))],
    }
    cluster = FakeCluster(objects, namespace="shop", on_patch=controllers())
    connect_to(cluster)
    result = run("switch", "--native", "deployment/cart", "-n", "shop", "--yes")
    assert result.exit_code == 1, result.output
    assert "can't tell which mesh Deployment/cart in namespace shop is in" in result.stderr
    assert "--mesh" in result.stderr
    assert cluster.patches == []


def test_a_run_while_another_holds_the_mesh_changes_nothing_and_says_who(run, connect_to):
    held = {
        "metadata": {"name": LEASE_NAME, "namespace": "istio-system", "resourceVersion": "7"},
        "spec": {
            "holderIdentity": "alice@laptop (pid 42)",
            "leaseDurationSeconds": 60,
            "acquireTime": micro_time(time.time() - 30),
            "renewTime": micro_time(time.time() - 5),
        },
    }
    cluster = FakeCluster(dict(cluster_objects(), Lease=[held]))
    connect_to(cluster)
    result = run("switch", "--traditional", "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        "error: another run is switching this mesh: alice@laptop (pid 42) since "
    )
    assert "holds Lease istio-system/kubectl-sidecar-switch on context test" in result.stderr
    assert cluster.patches == [] and cluster.lease_writes == []


def test_a_mesh_wide_switch_limited_to_an_empty_namespace_is_refused(run, connect_to):
    cluster = FakeCluster(cluster_objects())
    connect_to(cluster)
    result = run("switch", "--traditional", "-n", "nosuchns", "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: no pods in namespace nosuchns: the mesh config change applies to every "
        "namespace, and nothing here would be restarted; check the namespace, or change only "
        "the config with --no-restart"
    )
    assert cluster.patches == []
    only_config = run("switch", "--traditional", "-n", "nosuchns", "--yes", "--no-restart")
    assert only_config.exit_code == 0, only_config.output
    assert [p[0] for p in cluster.patches] == ["ASMMeshConfig"]


# Consul's own preflight says it first: "no consul-k8s connect-injector ...: nothing to switch".
@pytest.mark.parametrize("mesh", ["istio", "linkerd"])
def test_a_mesh_named_with_mesh_that_isnt_there_is_an_error_before_any_write(run, connect_to, mesh):
    # An ASM data plane: none of these meshes' config is on it.
    cluster = FakeCluster(cluster_objects())
    connect_to(cluster)
    result = run("switch", "--native", "--mesh", mesh, "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"error: --mesh {mesh}: its configuration is not on this cluster ("
    )
    assert result.stderr.rstrip().endswith("nothing was changed")
    assert cluster.patches == [] and cluster.lease_writes == []
