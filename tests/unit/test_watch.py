"""status -w's bookkeeping (which rows to print, resuming, re-listing after 410) and
status --exit-code, against the FakeCluster's scripted watch sessions."""

import itertools

import pytest

from kubectl_sidecar import watch
from kubectl_sidecar.errors import ApiError, Unreachable
from kubectl_sidecar.status import Assessor, Scope, stream
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import asm_mesh_config as asm
from tests.unit.objects import deployment, replicaset


def versioned(pod, version):
    pod["metadata"]["resourceVersion"] = str(version)
    return pod


def cart(mode, name, owner="cart-old", version=5):
    return versioned(pods.istio(mode, name=name, owner=("ReplicaSet", owner)), version)


@pytest.fixture
def cluster():
    # The mesh says native; the two cart pods are traditional: both need a restart.
    return FakeCluster(
        {
            "ASMMeshConfig": [asm(True)],
            "Pod": [cart("traditional", "cart-old-a"), cart("traditional", "cart-old-b")],
            "ReplicaSet": [replicaset("cart-old", "cart")],
            "Deployment": [deployment("cart")],
        },
        namespace="shop",
    )


def start(cluster, **kwargs):
    """The table's pass, then a PodWatch from where it ended."""
    assessor = Assessor(cluster, Scope(namespace="shop"))
    known = {}
    for batch in stream(assessor):
        known.update(watch.known_state(batch))
    warnings, sleeps = [], []
    follow = watch.PodWatch(
        assessor, None, known, warn=warnings.append, sleep=sleeps.append, **kwargs
    )
    return follow, warnings, sleeps


def take(follow, count):
    """The first `count` rows (rows() never ends by itself)."""
    rows = itertools.islice(follow.rows(), count)
    return [(row.name, row.mode, watch.state(row)[2]) for row in rows]


def test_a_rollout_prints_new_pods_and_skips_updates_that_change_nothing(cluster):
    cluster.watch_script["Pod"] = [
        [
            ("ADDED", cart("native", "cart-new-a", owner="cart-new", version=6)),
            ("MODIFIED", cart("native", "cart-new-a", owner="cart-new", version=7)),  # same row
            ("BOOKMARK", {"metadata": {"resourceVersion": "8"}}),
            ("DELETED", cart("traditional", "cart-old-a", version=9)),
            ("ADDED", cart("native", "cart-new-b", owner="cart-new", version=10)),
        ]
    ]
    follow, _, _ = start(cluster)
    cluster.objects["ReplicaSet"].append(replicaset("cart-new", "cart"))  # after the table
    # The new ReplicaSet resolves to its Deployment (one GET).
    assert take(follow, 2) == [("cart-new-a", "native", "ok"), ("cart-new-b", "native", "ok")]
    assert ("get", "ReplicaSet", "shop", "cart-new") in cluster.reads
    assert cluster.watches[0] == ("Pod", "shop", None, None, "1")  # from the table's list
    assert ("shop", "cart-old-a") not in follow.known


def test_a_pod_that_changes_mode_is_printed_again(cluster):
    cluster.watch_script["Pod"] = [[("MODIFIED", cart("native", "cart-old-a", version=6))]]
    follow, _, _ = start(cluster)
    assert take(follow, 1) == [("cart-old-a", "native", "ok")]


def test_resumes_from_the_last_version_after_a_disconnect(cluster):
    cut = Unreachable("the connection to the server was reset")
    cluster.watch_script["Pod"] = [
        [("BOOKMARK", {"metadata": {"resourceVersion": "7"}}), cut],
        [cut],
        [("ADDED", cart("native", "cart-old-c", version=9))],
    ]
    follow, warnings, sleeps = start(cluster)
    assert take(follow, 1) == [("cart-old-c", "native", "ok")]
    assert [w[4] for w in cluster.watches] == ["1", "7", "7"]
    assert sleeps == [0.5, 1]
    assert warnings == [
        "the watch was cut off (the connection to the server was reset); resuming",
        "watching again",
    ]


def test_a_forgotten_version_relists_and_prints_only_what_changed(cluster):
    gone = ApiError(410, "Gone", "too old resource version: 1 (40)")
    cluster.watch_script["Pod"] = [[gone], [("ADDED", cart("native", "cart-later", version=50))]]
    follow, _, _ = start(cluster)
    # Meanwhile (events missed) cart-old-b was replaced by a native pod.
    cluster.objects["Pod"][1] = cart("native", "cart-old-b", version=40)
    cluster.resource_version = 40
    assert take(follow, 2) == [("cart-old-b", "native", "ok"), ("cart-later", "native", "ok")]
    assert [w[4] for w in cluster.watches] == ["1", "40"]


def test_other_api_errors_end_the_watch(cluster):
    cluster.watch_script["Pod"] = [[ApiError(403, "Forbidden", "pods is forbidden")]]
    follow, _, _ = start(cluster)
    with pytest.raises(ApiError):
        take(follow, 1)


def test_needs_restart_shows_pods_needing_action_and_those_that_stop_needing_it(cluster):
    cluster.watch_script["Pod"] = [
        [
            ("ADDED", versioned(pods.pod(name="plain"), 6)),  # outside the mesh: not shown
            ("MODIFIED", cart("native", "cart-old-a", version=7)),  # was needing action: shown
            ("ADDED", versioned(pods.istio("traditional", name="debug"), 8)),
        ]
    ]
    follow, _, _ = start(cluster, only_needing_action=True)
    assert take(follow, 2) == [("cart-old-a", "native", "ok"), ("debug", "traditional", "recreate")]


# --- through the CLI ---------------------------------------------------------------------------


def test_watch_prints_rows_after_the_table_and_ctrl_c_exits_0(cluster, connect_to, run):
    connect_to(cluster)
    cluster.watch_script["Pod"] = [
        [("ADDED", cart("native", "cart-old-c", version=6)), KeyboardInterrupt()]
    ]
    result = run("status", "-w")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "POD" and len(lines) == 4
    assert lines[-1].split()[:5] == [
        "cart-old-c",
        "Deployment/cart",
        "istio-proxy",
        "native",
        "native",
    ]
    assert result.stderr.startswith("Mesh asm: native")  # the summary, out of the rows' way


@pytest.mark.parametrize("args", [("-o", "json"), ("--summary",), ("--exit-code",)])
def test_watch_refuses_what_it_cannot_stream(cluster, connect_to, run, args):
    connect_to(cluster)
    result = run("status", "-w", *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("output", ["table", "wide", "json", "yaml"])
def test_exit_code_1_while_pods_need_action(cluster, connect_to, run, output):
    connect_to(cluster)
    assert run("status", "--exit-code", "-o", output).exit_code == 1
    assert run("status", "-o", output).exit_code == 0


@pytest.mark.parametrize("args", [(), ("--summary",), ("--needs-restart",), ("-o", "json")])
def test_exit_code_0_when_converged(cluster, connect_to, run, args):
    cluster.objects["Pod"] = [cart("native", "cart-new-a")]
    connect_to(cluster)
    result = run("status", "--exit-code", *args)
    assert result.exit_code == 0, result.stderr


def test_exit_code_3_when_the_cluster_cant_be_read(run, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(
        "status",
        "--exit-code",
        "--server",
        f"http://127.0.0.1:{port}",
        env={"KUBECONFIG": str(tmp_path / "none")},
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error: the connection to the server")


def test_a_namespace_created_after_the_start_is_read_once_when_its_pods_show_up():
    """status -w -A: pods in a namespace the table's pass never listed are judged by it too."""
    from tests.unit.test_status import lost_mesh_cluster

    cluster = FakeCluster(lost_mesh_cluster())
    assessor = Assessor(cluster, Scope())
    known = {}
    for batch in stream(assessor):
        known.update(watch.known_state(batch))
    fresh = {"metadata": {"name": "fresh", "labels": {"istio-injection": "enabled"}}}
    cluster.objects["Namespace"].append(fresh)  # after the namespaces were listed
    cluster.watch_script["Pod"] = [
        [
            ("ADDED", versioned(pods.pod(name="lone-a", namespace="fresh"), 6)),
            ("ADDED", versioned(pods.pod(name="lone-b", namespace="fresh"), 7)),
            ("ADDED", versioned(pods.pod(name="gone-a", namespace="gone"), 8)),
            ("ADDED", versioned(pods.pod(name="gone-b", namespace="gone"), 9)),
        ]
    ]
    follow = watch.PodWatch(assessor, None, known)
    rows = list(itertools.islice(follow.rows(), 4))
    lost = {row.name: row.lost for row in rows}
    assert lost["lone-a"] and lost["lone-b"]
    assert not lost["gone-a"] and not lost["gone-b"]  # a namespace not found: not flagged
    gets = [read for read in cluster.reads if read[:2] == ("get", "Namespace")]
    assert gets == [("get", "Namespace", None, "fresh"), ("get", "Namespace", None, "gone")]
    assert [read[:2] for read in cluster.reads].count(("list", "Namespace")) == 1
