import json

import pytest

from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import asm_mesh_config as asm
from tests.unit.objects import replicaset


def mesh_objects(enabled=False):
    return {
        "ASMMeshConfig": [asm(enabled)],
        "Pod": [
            pods.istio("native", name="cart-7d9-a", owner=("ReplicaSet", "cart-7d9")),
            pods.istio("native", name="cart-7d9-b", owner=("ReplicaSet", "cart-7d9")),
            pods.istio("traditional", name="web-1", owner=("ReplicaSet", "web-5f")),
            pods.istio("native", name="debug", namespace="tools"),
            pods.pod(name="plain", namespace="tools"),
        ],
        "ReplicaSet": [replicaset("cart-7d9", "cart"), replicaset("web-5f", "web")],
        "Deployment": [],
    }


@pytest.fixture
def fake(connect_to):
    cluster = FakeCluster(mesh_objects(), namespace="shop")
    connect_to(cluster)
    return cluster


def test_status_all_namespaces_table_and_summary(fake, run):
    result = run("status", "-A")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAMESPACE", "POD"]
    cart = next(line for line in lines if "cart-7d9-a" in line)
    assert cart.split() == [
        "shop",
        "cart-7d9-a",
        "Deployment/cart",
        "istio-proxy",
        "native",
        "traditional",
        "restart",
        "Deployment/cart",
    ]
    assert "web-1" in next(line for line in lines if line.endswith("ok"))
    assert lines[-1].startswith("Mesh asm: traditional (ASMMeshConfig/default")
    assert "3 pod(s) need action, 1 workload(s) to restart" in lines[-1]


def test_status_defaults_to_the_contexts_namespace(fake, run):
    result = run("status")
    assert "NAMESPACE" not in result.stdout and "debug" not in result.stdout
    assert ("list", "Pod", "shop", None) in fake.reads


def test_needs_restart_lists_only_pods_needing_action(fake, run):
    result = run("status", "-A", "--needs-restart", "--no-headers")
    names = [line.split()[1] for line in result.stdout.splitlines()]
    assert names == ["cart-7d9-a", "cart-7d9-b", "debug"]


def test_summary_view(fake, run):
    result = run("status", "-A", "--summary")
    assert [line.split()[0] for line in result.stdout.splitlines()[1:3]] == ["shop", "tools"]


def test_json_output_is_the_documented_contract(fake, run):
    result = run("status", "-n", "tools", "-o", "json")
    doc = json.loads(result.stdout)
    assert doc["kind"] == "SidecarStatus"
    assert [(i["pod"], i["action"], i["needsRestart"]) for i in doc["items"]] == [
        ("debug", "recreate", True),
        ("plain", "-", False),
    ]


def test_selector_is_passed_to_the_pod_list(fake, run):
    run("status", "-A", "-l", "app=cart")
    assert ("list", "Pod", None, "app=cart") in fake.reads


def test_empty_namespace_says_so_like_kubectl(fake, run):
    result = run("status", "-n", "empty")
    assert result.exit_code == 0
    assert "No resources found in empty namespace." in result.stderr


def test_forbidden_pod_list_is_one_line_exit_1(run, connect_to):
    connect_to(FakeCluster(mesh_objects(), refuse={"Pod"}))
    result = run("status", "-A")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: pods is forbidden")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_mesh_config_still_shows_pods(run, connect_to):
    objects = mesh_objects()
    del objects["ASMMeshConfig"]
    connect_to(FakeCluster(objects))
    result = run("status", "-A", "--mesh", "asm")
    assert result.exit_code == 0
    assert "cart-7d9-a" in result.stdout
    assert "ASMMeshConfig/default" in result.stdout and "not found" in result.stdout


def test_mesh_context_reads_the_config_from_the_other_cluster(run, connect_to):
    data_plane = FakeCluster(
        {k: v for k, v in mesh_objects().items() if k != "ASMMeshConfig"}, context="ack"
    )
    control_plane = FakeCluster({"ASMMeshConfig": [asm(True)]}, context="asm-instance")
    connect = connect_to(data_plane, control_plane)
    result = run("status", "-A", "--mesh-context", "asm-instance")
    assert connect.call_args_list[1].args[1] == "asm-instance"
    assert "Mesh asm: native (ASMMeshConfig/default on context asm-instance" in result.stdout


def test_unreadable_replicasets_warn_and_fall_back(run, connect_to):
    connect_to(FakeCluster(mesh_objects(), refuse={"ReplicaSet"}))
    result = run("status", "-A")
    assert result.exit_code == 0
    assert "Warning: can't list replicasets" in result.stderr
    assert "ReplicaSet/cart-7d9" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["status", "-o", "xml"], ["status", "--bogus"], ["status", "--request-timeout", "soon"]],
)
def test_usage_errors_exit_2_without_traceback(args, run):
    result = run(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_a_table_longer_than_a_page_has_one_header_and_counts_every_pod(run, connect_to):
    from tests.unit.test_status import big_mesh

    connect_to(FakeCluster(big_mesh(1200)))
    lines = run("status", "-A").stdout.splitlines()
    assert [line.split()[:1] for line in lines].count(["NAMESPACE"]) == 1
    assert len(lines) == 1 + 1200 + 2  # headers, pods, blank line, summary
    assert lines[-1].endswith("1200 pod(s) need action, 9 workload(s) to restart.")
    summary = run("status", "-A", "--summary", "--no-headers").stdout.splitlines()
    assert [line.split()[-1] for line in summary] == ["120"] * 10
