"""The mesh's run Lease against a real API server: one holder at a time, told who holds it,
taken over once its holder has gone silent, let go at the end."""

import time

import pytest

from kubectl_sidecar import kubeconfig, resources
from kubectl_sidecar.lease import LEASE_NAME, LEASE_SECONDS, MeshBusy, MeshLease


@pytest.fixture
def cluster(control_plane):
    return kubeconfig.connect(str(control_plane.kubeconfig), "admin")


def holder(cluster, namespace):
    return cluster.get(resources.LEASES, LEASE_NAME, namespace)["spec"].get("holderIdentity")


def test_a_second_run_is_refused_with_who_holds_the_mesh(cluster, fresh_namespace):
    first = MeshLease(cluster, fresh_namespace, me="alice@laptop (pid 1)")
    first.acquire()
    second = MeshLease(cluster, fresh_namespace, me="bob@ci (pid 2)")
    with pytest.raises(MeshBusy, match=r"alice@laptop \(pid 1\) since .* holds Lease"):
        second.acquire()
    assert holder(cluster, fresh_namespace) == "alice@laptop (pid 1)"
    first.release()
    second.acquire()
    assert holder(cluster, fresh_namespace) == "bob@ci (pid 2)"


def test_a_silent_holder_is_taken_over_and_can_no_longer_let_go(cluster, fresh_namespace):
    gone = MeshLease(cluster, fresh_namespace, me="alice@laptop (pid 1)")
    gone.acquire()
    later = MeshLease(
        cluster, fresh_namespace, me="bob@ci (pid 2)", clock=lambda: time.time() + LEASE_SECONDS
    )
    later.acquire()
    gone.release()  # written at a version that is no longer the Lease's: changes nothing
    assert holder(cluster, fresh_namespace) == "bob@ci (pid 2)"
    spec = cluster.get(resources.LEASES, LEASE_NAME, fresh_namespace)["spec"]
    assert spec["leaseTransitions"] == 1


def test_the_same_holder_may_take_it_again(cluster, fresh_namespace):
    # A rerun by the same operator after a stop: its own Lease doesn't block it.
    MeshLease(cluster, fresh_namespace, me="alice@laptop (pid 1)").acquire()
    MeshLease(cluster, fresh_namespace, me="alice@laptop (pid 1)").acquire()
    assert holder(cluster, fresh_namespace) == "alice@laptop (pid 1)"


def test_without_the_meshs_namespace_the_lease_goes_in_default(cluster, admin):
    # An API server without the mesh's own namespace: every run falls back alike.
    lease = MeshLease(cluster, "no-such-namespace-for-leases", me="alice@laptop (pid 1)")
    lease.acquire()
    try:
        assert lease.namespace == "default"
        assert holder(cluster, "default") == "alice@laptop (pid 1)"
        with pytest.raises(MeshBusy, match="holds Lease default/kubectl-sidecar-switch"):
            MeshLease(cluster, "no-such-namespace-for-leases", me="bob@ci (pid 2)").acquire()
    finally:
        lease.release()
