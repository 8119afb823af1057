import os
import subprocess
import sys

from kubectl_sidecar.lease import (
    LEASE_SECONDS,
    Holding,
    gone_from_this_host,
    identity,
    micro_time,
    new_lease,
    parse_time,
)

NOW = 1_800_000_000.0


def lease(holder, renewed_ago, seconds=LEASE_SECONDS):
    spec = new_lease("istio-system", holder, NOW - renewed_ago)["spec"]
    spec["leaseDurationSeconds"] = seconds
    return {"spec": spec}


def test_micro_time_round_trips():
    assert micro_time(NOW) == "2027-01-15T08:00:00.000000Z"
    assert parse_time(micro_time(NOW + 0.25)) == NOW + 0.25
    assert parse_time("not a time") is None and parse_time(None) is None


def test_held_by_another_until_its_last_renewal_is_a_lease_old():
    assert Holding.of(lease("alice", 10)).held_by_other("bob", NOW)
    assert not Holding.of(lease("alice", LEASE_SECONDS)).held_by_other("bob", NOW)
    assert not Holding.of(lease("alice", 10, seconds=5)).held_by_other("bob", NOW)


def test_never_held_against_its_own_holder_or_when_let_go():
    assert not Holding.of(lease("alice", 10)).held_by_other("alice", NOW)
    released = lease("alice", 10)
    released["spec"]["holderIdentity"] = None
    assert not Holding.of(released).held_by_other("bob", NOW)


def test_describe_says_who_since_when_and_how_fresh():
    text = Holding.of(lease("alice@laptop (pid 1)", 12)).describe(NOW)
    assert text == "alice@laptop (pid 1) since 2027-01-15T07:59:48Z, renewed 12s ago"


def test_a_dead_run_of_the_same_user_on_this_host_no_longer_holds_the_mesh():
    me = identity()
    who = me.rsplit(" (pid ", 1)[0]
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{who} (pid {finished.stdout.strip()})"
    assert gone_from_this_host(dead, me)
    assert not gone_from_this_host(f"{who} (pid {os.getpid()})", me)  # alive: still held
    assert not gone_from_this_host(f"someone@elsewhere (pid {finished.stdout.strip()})", me)
    assert not gone_from_this_host("no pid here", me)
