"""A fleet: one ASM instance (API server only) and two data planes whose injectors read its
ASMMeshConfig, seen and switched with `--context hz --context sh --mesh-context asm-instance`;
then the same two data planes as Istio primaries, each with its own istiod.

Three control planes, started once for the module (not the session's: nothing here needs it)
and torn down at its end. The tests run in order and share the clusters' state, the way a user
would go: look, be refused, switch, switch again.
"""

import json
import os
import subprocess

import pytest
import yaml

from tests.e2e.conftest import IN_CI
from tests.harness import build, seed
from tests.harness.api import resource_path
from tests.harness.controlplane import ControlPlane, free_port
from tests.harness.credentials import VIEWER_TOKEN, write_kubeconfig

ASM_DEFAULT = resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
ISTIOD = resource_path("apps/v1", "deployments", "istio-system", "istiod")
NAMESPACE = "shop"
APPS = {"hz": ["cart"], "sh": ["cart", "web"]}
FLEET = ["--context", "hz", "--context", "sh", "--mesh-context", "asm-instance"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """{"instance", "hz", "sh": ControlPlane, "env": environment whose KUBECONFIG lists a named
    kubeconfig for each, plus `sh-viewer` (the read-only user on sh) and `down` (nothing
    listens there)}. ASM traditional on the instance; the data planes' pods injected so."""
    if not build.go_available():
        message = "Go is not installed: the e2e tier builds its control plane with it"
        if IN_CI:
            pytest.fail(message + " (CI=true: this tier must run)")
        pytest.skip(message)
    instance = ControlPlane(
        tmp_path_factory.mktemp("fleet-instance"),
        controllers=False,
        kubelet=False,
        injector=False,
        nodes={},
        audit=False,
    )
    planes = {
        name: ControlPlane(
            tmp_path_factory.mktemp(f"fleet-{name}"), audit=False, mesh_instance=instance
        )
        for name in APPS
    }
    try:
        instance.up()
        for plane in planes.values():
            plane.up()
        seed.asm_mesh(instance.api(), False)
        for name, plane in planes.items():
            seed.namespace(plane.api(), NAMESPACE)
            for app in APPS[name]:
                seed.deployment(plane.api(), NAMESPACE, app)
        for name, plane in planes.items():
            seed.wait_for_pods(plane.api(), NAMESPACE, 2 * len(APPS[name]))
        work = tmp_path_factory.mktemp("fleet-kubeconfigs")
        sh = planes["sh"]
        viewer = write_kubeconfig(
            work / "sh-viewer.kubeconfig",
            sh.state["server"],
            sh.certs / "ca.crt",
            {"sh-viewer": VIEWER_TOKEN},
            cluster="sh-viewer",
            namespace=NAMESPACE,
        )
        down = write_kubeconfig(
            work / "down.kubeconfig",
            f"https://127.0.0.1:{free_port()}",
            sh.certs / "ca.crt",
            {"down": VIEWER_TOKEN},
            cluster="down",
        )
        kubeconfigs = [
            planes["hz"].named_kubeconfig("hz"),
            sh.named_kubeconfig("sh"),
            instance.named_kubeconfig("asm-instance"),
            viewer,
            down,
        ]
        env = dict(sh.env(), KUBECONFIG=os.pathsep.join(str(path) for path in kubeconfigs))
        yield {"instance": instance, **planes, "env": env}
    finally:
        for plane in [*planes.values(), instance]:
            plane.down()


def sidecar(fleet, *args, timeout=900):
    return subprocess.run(
        ["kubectl", "sidecar", *args],
        env=fleet["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def restarted_at(plane, app):
    return seed.template_annotations(plane.api(), NAMESPACE, app).get(
        "kubectl.kubernetes.io/restartedAt"
    )


def wait_for_modes(fleet, mode):
    for name in APPS:
        seed.wait_for_pods(fleet[name].api(), NAMESPACE, 2 * len(APPS[name]))
    return {name: sorted(set(seed.modes(fleet[name].api(), NAMESPACE))) for name in APPS}


def test_status_shows_both_data_planes_with_the_instances_config(fleet):
    done = sidecar(fleet, "status", "-n", NAMESPACE, *FLEET)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["CONTEXT", "POD"]
    rows = [line.split() for line in lines[1:7]]
    assert [row[0] for row in rows] == ["hz"] * 2 + ["sh"] * 4
    assert {(row[4], row[5], row[6]) for row in rows} == {("traditional", "traditional", "ok")}
    assert lines[-1] == (
        "Total over 2 context(s): Pods: 6 traditional. 0 pod(s) need action, "
        "0 workload(s) to restart."
    )

    doc = json.loads(sidecar(fleet, "status", "-n", NAMESPACE, "-o", "json", *FLEET).stdout)
    assert doc["mesh"]["configuredMode"] == "traditional"
    assert doc["mesh"]["source"].startswith("ASMMeshConfig/default on context asm-instance")
    assert {name: c["configuredMode"] for name, c in doc["mesh"]["contexts"].items()} == {
        "hz": "traditional",
        "sh": "traditional",
    }
    assert [item["context"] for item in doc["items"]] == ["hz"] * 2 + ["sh"] * 4


def test_an_unreachable_context_is_one_line_and_the_others_are_shown(fleet):
    done = sidecar(
        fleet,
        "status",
        "-n",
        NAMESPACE,
        "--context",
        "hz,down",
        "--mesh-context",
        "asm-instance",
        "--request-timeout",
        "5s",
    )
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: context down: "), done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[1:3]] == ["hz", "hz"]


def all_pods(plane):
    return {
        (pod["metadata"]["namespace"], pod["metadata"]["name"])
        for pod in plane.api().items(resource_path("v1", "pods"))
    }


PARSERS = {"json": json.loads, "yaml": yaml.safe_load}


@pytest.mark.parametrize("output", PARSERS)
def test_a_fleets_streamed_document_holds_every_pod_of_every_context(fleet, output):
    before = {name: all_pods(fleet[name]) for name in APPS}
    done = sidecar(fleet, "status", "-A", "-o", output, *FLEET)
    assert done.returncode == 0, done.stderr
    doc = PARSERS[output](done.stdout)
    assert {name: all_pods(fleet[name]) for name in APPS} == before, "pods changed meanwhile"
    items = {name: set() for name in APPS}
    for item in doc["items"]:
        items[item["context"]].add((item["namespace"], item["pod"]))
    assert items == before
    assert len(doc["items"]) == sum(len(pods) for pods in before.values())  # each pod once
    assert doc["summary"]["pods"] == len(doc["items"])
    assert {name: c["pods"] for name, c in doc["summary"]["contexts"].items()} == {
        name: len(pods) for name, pods in before.items()
    }
    assert doc["errors"] == [] and set(doc["mesh"]["contexts"]) == {"hz", "sh"}


@pytest.mark.parametrize("output", PARSERS)
@pytest.mark.parametrize("lost", ["down", "refused"])
def test_a_fleets_document_names_a_context_that_could_not_be_read(fleet, tmp_path, output, lost):
    env = fleet["env"]
    if lost == "refused":  # a token the API server doesn't know: 401 on every request
        sh = fleet["sh"]
        refused = write_kubeconfig(
            tmp_path / "refused.kubeconfig",
            sh.state["server"],
            sh.certs / "ca.crt",
            {"refused": "not-a-token-it-knows"},
            cluster="refused",
        )
        env = dict(env, KUBECONFIG=env["KUBECONFIG"] + os.pathsep + str(refused))
    done = subprocess.run(
        ["kubectl", "sidecar", "status", "-A", "-o", output, "--context", f"hz,{lost}"]
        + ["--mesh-context", "asm-instance", "--request-timeout", "5s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: context {lost}: "), done.stderr
    doc = PARSERS[output](done.stdout)
    assert [error["context"] for error in doc["errors"]] == [lost]
    assert doc["errors"][0]["message"] == errors[0].removeprefix(f"error: context {lost}: ")
    assert {item["context"] for item in doc["items"]} == {"hz"}
    assert {(i["namespace"], i["pod"]) for i in doc["items"]} == all_pods(fleet["hz"])
    assert list(doc["summary"]["contexts"]) == ["hz"]


def test_one_data_plane_refusing_access_writes_nothing_anywhere(fleet):
    done = sidecar(
        fleet,
        "switch",
        "--native",
        "-A",
        "--yes",
        "--context",
        "hz,sh-viewer",
        "--mesh-context",
        "asm-instance",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "Refused: may not patch deployments.apps in namespace shop (context sh-viewer)"
        in done.stderr
    ), done.stderr
    assert "Nothing was changed in any context" in done.stdout
    assert fleet["instance"].api().get(ASM_DEFAULT)["spec"]["enableNativeSidecar"] is False
    assert [restarted_at(fleet[name], app) for name in APPS for app in APPS[name]] == [None] * 3


def test_switch_patches_the_instance_once_and_rolls_both_data_planes(fleet):
    before = fleet["instance"].api().get(ASM_DEFAULT)["metadata"]["generation"]
    done = sidecar(fleet, "switch", "--native", "--yes", "--timeout", "10m", *FLEET)
    assert done.returncode == 0, done.stdout + done.stderr
    patched = "[asm-instance] asmmeshconfig.istio.alibabacloud.com/default patched"
    assert done.stderr.count(patched) == 1, done.stderr
    after = fleet["instance"].api().get(ASM_DEFAULT)
    assert after["spec"]["enableNativeSidecar"] is True
    assert after["metadata"]["generation"] == before + 1  # one write to the spec
    # Neither data plane has an ASMMeshConfig of its own.
    assert all(fleet[name].api().get(ASM_DEFAULT, missing_ok=True) is None for name in APPS)
    assert all(restarted_at(fleet[name], app) for name in APPS for app in APPS[name])
    assert "Verify: in all 2 contexts" in done.stdout
    assert wait_for_modes(fleet, "native") == {"hz": ["native"], "sh": ["native"]}


def test_a_rerun_changes_nothing(fleet):
    stamps = {(name, app): restarted_at(fleet[name], app) for name in APPS for app in APPS[name]}
    generation = fleet["instance"].api().get(ASM_DEFAULT)["metadata"]["generation"]
    done = sidecar(fleet, "switch", "--native", "--yes", *FLEET)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "Nothing to change in any context. Everything is already in the target mode." in done.stdout
    )
    assert fleet["instance"].api().get(ASM_DEFAULT)["metadata"]["generation"] == generation
    assert {
        (name, app): restarted_at(fleet[name], app) for name in APPS for app in APPS[name]
    } == stamps


def test_istio_primaries_switch_each_istiod_in_its_own_context(fleet):
    # Without the instance's ASMMeshConfig each injector falls back to its own cluster's istiod.
    seed.remove_asm_mesh(fleet["instance"].api())
    for name in APPS:
        seed.istio_mesh(fleet[name].api(), "true")
    done = sidecar(fleet, "status", "-n", NAMESPACE, "--context", "hz,sh")
    assert done.returncode == 0, done.stderr
    assert "Context hz: Mesh istio: default=native" in done.stdout

    done = sidecar(
        fleet, "switch", "--traditional", "--yes", "--timeout", "10m", "--context", "hz,sh"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deployment istio-system/istiod on context hz" in done.stdout
    assert "Deployment istio-system/istiod on context sh" in done.stdout
    for name in APPS:
        env = fleet[name].api().get(ISTIOD)["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {e["name"]: e.get("value") for e in env}["ENABLE_NATIVE_SIDECARS"] == "false"
    assert wait_for_modes(fleet, "traditional") == {"hz": ["traditional"], "sh": ["traditional"]}
