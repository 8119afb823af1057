"""The -o json / -o yaml documents (kubectl-sidecar/v1alpha1), pinned byte for byte.

Each case runs the real CLI against FakeClusters and compares its stdout with a file under
tests/unit/golden/ named after the case. The documents are a contract for scripts: a change to
one of these files is a change to the contract, never a side effect of a refactoring.

To change the contract on purpose, regenerate the files and review their diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_golden.py

A fleet's items come as its contexts deliver their pages, so contexts may interleave; every
context's first page comes before any second, in the order the contexts were given, and each
scene here has one page per context: the fleet documents are as deterministic as the others.

Nothing here depends on the clock: the documents hold no ages or durations, and every
creationTimestamp comes from the pods the scenes build (pods.pod fixes it).
"""

import difflib
import os
from functools import partial
from pathlib import Path

import pytest

from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import deployment, replicaset
from tests.unit.test_cli_consul import consul_objects
from tests.unit.test_cli_switch import cluster_objects, controllers
from tests.unit.test_fleet import FLEET, data_plane, instance, rolled_by
from tests.unit.test_meshes_istio import istiod
from tests.unit.test_status import linkerd_cluster

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


# --- scenes: each returns the clusters the CLI connects to, in the order it connects -------


def istio_mixed():
    """One Istio cluster whose istiod asks for traditional, with a pod of every kind: native and
    traditional Deployments, an invalid injection, a pod pinned native by annotation, a
    CronJob's pod, a Job pod its proxy keeps alive, a bare pod, a pod of a revision no istiod
    serves (desired mode unknown), a pod outside the mesh and a gateway."""
    cronjob_run = {
        "metadata": {
            "name": "report-29",
            "namespace": "shop",
            "ownerReferences": [{"kind": "CronJob", "name": "report", "controller": True}],
        }
    }
    objects = {
        "Deployment": [istiod("false"), deployment("cart"), deployment("web", replicas=1)],
        "ReplicaSet": [
            replicaset("cart-1", "cart"),
            replicaset("web-1", "web"),
            replicaset("api-1", "api"),
            replicaset("pinned-1", "pinned"),
        ],
        "Job": [cronjob_run],
        "Pod": [
            pods.istio("native", name="cart-1-a", owner=("ReplicaSet", "cart-1")),
            pods.istio("native", name="cart-1-b", owner=("ReplicaSet", "cart-1")),
            pods.istio("traditional", name="web-1-a", owner=("ReplicaSet", "web-1")),
            pods.with_init_restart_policy_stripped(
                pods.istio("native", name="api-1-a", owner=("ReplicaSet", "api-1"))
            ),
            pods.istio(
                "traditional",
                name="pinned-1-a",
                owner=("ReplicaSet", "pinned-1"),
                annotations={"sidecar.istio.io/nativeSidecar": "true"},
            ),
            pods.istio("native", name="report-29-x", owner=("Job", "report-29")),
            pods.istio(
                "traditional",
                name="migrate-q",
                owner=("Job", "migrate"),
                statuses=[pods.terminated("app"), pods.running("istio-proxy")],
            ),
            pods.istio("native", name="debug", namespace="tools"),
            pods.istio("native", name="canary-0", namespace="tools", revision="canary"),
            pods.pod(name="plain", namespace="tools"),
            pods.istio_gateway(),
        ],
    }
    return [FakeCluster(objects, namespace="shop")]


def linkerd():
    return [FakeCluster(linkerd_cluster(), namespace="l5d")]


def consul():
    return [FakeCluster(consul_objects(), namespace="shop")]


def asm(native=True):
    """test_cli_switch's cluster: ASM native, cart native, web traditional, a bare pod."""
    return [FakeCluster(cluster_objects(native), namespace="shop", on_patch=controllers())]


def asm_failing_rollout():
    """As asm(), with a second Deployment to restart; cart's new pods can't be created."""
    objects = cluster_objects()
    objects["Deployment"].append(deployment("zeta"))
    objects["ReplicaSet"].append(replicaset("zeta-1", "zeta"))
    objects["Pod"].append(pods.istio("native", name="zeta-1-a", owner=("ReplicaSet", "zeta-1")))
    return [FakeCluster(objects, namespace="shop", on_patch=controllers(fail="cart"))]


def asm_fleet(native=True, refuse_in_sh=()):
    """test_fleet's fleet: data planes hz (cart) and sh (cart, web), native, and the ASM
    instance; refuse_in_sh: kinds sh won't let us read."""
    mesh = instance(native=native)
    hz = FakeCluster(data_plane("hz"), context="hz", namespace="shop", on_patch=rolled_by(mesh))
    sh = FakeCluster(
        data_plane("sh", apps=("cart", "web")),
        context="sh",
        namespace="shop",
        refuse=refuse_in_sh,
        on_patch=rolled_by(mesh),
    )
    return [hz, sh, mesh]


def istio_fleet():
    """Two Istio primaries, each with its own istiod (so the fleet's mesh fields are null):
    hz asks for traditional and runs native pods, sh asks for native and runs both."""
    hz = data_plane("hz", "native")
    hz["Deployment"].append(istiod("false"))
    sh = data_plane("sh", "native", apps=("cart",))
    sh["Pod"].append(pods.istio("traditional", name="web-1-a", owner=("ReplicaSet", "web-1")))
    sh["ReplicaSet"].append(replicaset("web-1", "web"))
    sh["Deployment"] += [deployment("web", replicas=1), istiod("true")]
    return [
        FakeCluster(hz, context="hz", namespace="shop"),
        FakeCluster(sh, context="sh", namespace="shop"),
    ]


FLEET_OF_TWO = ("--context", "hz", "--context", "sh")

# file name under golden/ -> (scene, CLI arguments, exit code)
CASES = {
    # status, one context
    "status-istio-mixed.json": (istio_mixed, ["status", "-A", "-o", "json"], 0),
    "status-istio-mixed.yaml": (istio_mixed, ["status", "-A", "-o", "yaml"], 0),
    "status-istio-mixed-needs-restart.json": (
        istio_mixed,
        ["status", "-A", "--needs-restart", "-o", "json"],
        0,
    ),
    "status-istio-mixed-needs-restart.yaml": (
        istio_mixed,
        ["status", "-A", "--needs-restart", "-o", "yaml"],
        0,
    ),
    "status-linkerd.json": (linkerd, ["status", "-A", "-o", "json"], 0),
    "status-consul.json": (consul, ["status", "-A", "-o", "json"], 0),
    # status, fleet
    "fleet-status-asm.json": (asm_fleet, ["status", "-A", "-o", "json", *FLEET], 0),
    "fleet-status-asm.yaml": (asm_fleet, ["status", "-A", "-o", "yaml", *FLEET], 0),
    "fleet-status-one-context-unread.json": (
        partial(asm_fleet, refuse_in_sh={"Pod"}),
        ["status", "-A", "-o", "json", *FLEET],
        1,
    ),
    "fleet-status-istio-needs-restart.yaml": (
        istio_fleet,
        ["status", "-A", "--needs-restart", "-o", "yaml", *FLEET_OF_TWO],
        0,
    ),
    # switch and restart, one context
    "switch-dry-run.json": (asm, ["switch", "--traditional", "--dry-run", "-o", "json"], 0),
    "switch-workload-dry-run.json": (
        asm,
        ["switch", "--traditional", "deployment/cart", "--dry-run", "-o", "json"],
        0,
    ),
    "switch.json": (asm, ["switch", "--traditional", "--yes", "-o", "json"], 0),
    "switch-failed-rollout.json": (
        asm_failing_rollout,
        ["switch", "--traditional", "--yes", "--concurrency", "1", "-o", "json"],
        1,
    ),
    "restart-dry-run.json": (
        partial(asm, native=False),
        ["restart", "-A", "--dry-run", "-o", "json"],
        0,
    ),
    # switch and restart, fleet
    "fleet-switch-dry-run.json": (
        asm_fleet,
        ["switch", "--traditional", "--dry-run", "-o", "json", *FLEET],
        0,
    ),
    "fleet-switch.json": (asm_fleet, ["switch", "--traditional", "--yes", "-o", "json", *FLEET], 0),
    "fleet-restart-dry-run.json": (
        partial(asm_fleet, native=False),
        ["restart", "-A", "--dry-run", "-o", "json", *FLEET],
        0,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_document_is_byte_identical_to_its_golden_file(name, run, connect_to):
    scene, args, exit_code = CASES[name]
    connect_to(*scene())
    result = run(*args)
    assert result.exit_code == exit_code, result.output
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(result.stdout_bytes)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    expected = path.read_bytes()
    if result.stdout_bytes != expected:
        diff = difflib.unified_diff(
            expected.decode().splitlines(keepends=True),
            result.stdout.splitlines(keepends=True),
            fromfile=f"golden/{name}",
            tofile="stdout",
        )
        pytest.fail(
            f"`kubectl sidecar {' '.join(args)}` no longer prints golden/{name}: the "
            "v1alpha1 contract moved. If that is intended, regenerate with UPDATE_GOLDEN=1.\n"
            + "".join(diff),
            pytrace=False,
        )
