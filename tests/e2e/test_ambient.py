"""Istio ambient pods: no sidecar, their traffic redirected by istio-cni (which marks them with
an annotation; here the pods are created with it). MODE ambient, counted, never restarted."""

import pytest

from tests.harness import seed

REDIRECTED = {"ambient.istio.io/redirection": "enabled"}
AMBIENT = {"istio.io/dataplane-mode": "ambient"}


@pytest.fixture
def ambient_namespace(admin, fresh_namespace):
    """A namespace enrolled in ambient (and not labelled for sidecar injection)."""
    name = (fresh_namespace[:42] + "-ambient").strip("-")
    seed.namespace(admin, name, injection=False, labels=AMBIENT)
    yield name
    seed.delete_namespace(admin, name, wait=False)


def _names(admin, ns):
    return sorted(
        p["metadata"]["name"]
        for p in seed.pods(admin, ns)
        if not p["metadata"].get("deletionTimestamp")
    )


def _by_pod(report):
    return {item["pod"]: item for item in report["items"]}


def test_ambient_pods_are_their_own_mode_counted_and_never_restarted(
    kubectl, admin, istio_mesh, fresh_namespace, ambient_namespace
):
    ns, amb = fresh_namespace, ambient_namespace
    seed.istio_mesh(admin, "false")
    seed.deployment(admin, amb, "ratings", replicas=2, annotations=REDIRECTED)
    seed.deployment(admin, amb, "details", replicas=1)  # enrolled, never redirected
    # enrolled too, in a namespace labelled for injection: Istio injects it, its sidecar wins
    seed.deployment(admin, ns, "cart", replicas=1, labels=AMBIENT, annotations=REDIRECTED)
    seed.wait_for_pods(admin, amb, 3)
    seed.wait_for_pods(admin, ns, 1)
    assert seed.modes(admin, amb) == ["none"] * 3 and seed.modes(admin, ns) == ["traditional"]

    table = kubectl.sidecar("status", "-n", amb)
    assert table.returncode == 0, table.stderr
    ratings = [line.split() for line in table.stdout.splitlines() if line.startswith("ratings-")]
    assert [cells[1:] for cells in ratings] == [
        ["Deployment/ratings", "<none>", "ambient", "-", "-"]
    ] * 2
    assert "Pods: 2 ambient, 1 none. 0 pod(s) need action" in table.stdout
    assert "1 pod(s) labelled for ambient but not redirected" in table.stdout

    report = kubectl.sidecar_json("status", "-n", amb)
    assert report["summary"]["modes"]["ambient"] == 2
    assert report["summary"]["ambientNotRedirected"] == 1
    for name, item in _by_pod(report).items():
        if name.startswith("ratings-"):
            assert (item["mode"], item["ambient"], item["needsRestart"]) == (
                "ambient",
                "redirected",
                False,
            )
        else:
            assert (item["mode"], item["ambient"]) == ("none", "not redirected")
            assert item["problems"] == [
                "labelled for ambient but not redirected: is istio-cni running?"
            ]
    (cart,) = kubectl.sidecar_json("status", "-n", ns)["items"]
    assert (cart["mode"], cart["ambient"]) == ("traditional", "sidecar wins")

    summary = kubectl.sidecar("status", "-A", "--summary")
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    assert lines[0].split()[1:7] == [
        "NATIVE",
        "TRADITIONAL",
        "INVALID",
        "GATEWAY",
        "AMBIENT",
        "NONE",
    ]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.strip()}
    assert rows[amb] == ["0", "0", "0", "0", "2", "1", "0"]

    before = _names(admin, amb)
    done = kubectl.sidecar("switch", "--native", "-n", amb, "--yes", "--timeout", "5m")
    assert done.returncode == 0, done.stdout + done.stderr
    restarted = kubectl.sidecar("restart", "-n", amb, "--yes", "--timeout", "5m")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert _names(admin, amb) == before  # no ambient pod was restarted
    # the pod whose sidecar wins is a sidecar pod: restart brings it to the new mode
    done = kubectl.sidecar("restart", "-n", ns, "--yes", "--timeout", "5m")
    assert done.returncode == 0, done.stdout + done.stderr
    seed.wait_for_pods(admin, ns, 1)
    assert seed.modes(admin, ns) == ["native"]
