"""ASM's real topology: the ASMMeshConfig lives on the ASM instance's API server, the pods on the
data plane's. Two more control planes: an instance (API server only) and a data plane whose
injector reads the mesh config from the instance."""

import json
import os
import subprocess

import pytest

from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.controlplane import ControlPlane

ASM_DEFAULT = resource_path("istio.alibabacloud.com/v1beta1", "asmmeshconfigs", name="default")
NAMESPACE = "shop"


@pytest.fixture(scope="module")
def split_mesh(control_plane, tmp_path_factory):
    """(data plane, instance) with ASM set to traditional on the instance and one Deployment
    of two pods injected that way on the data plane."""
    instance = ControlPlane(
        tmp_path_factory.mktemp("asm-instance"),
        controllers=False,
        kubelet=False,
        injector=False,
        nodes={},
        audit=False,
    )
    data = ControlPlane(tmp_path_factory.mktemp("data-plane"), audit=False, mesh_instance=instance)
    try:
        instance.up()
        data.up()
        seed.asm_mesh(instance.api(), False)
        seed.namespace(data.api(), NAMESPACE)
        seed.deployment(data.api(), NAMESPACE, "cart")
        seed.wait_for_pods(data.api(), NAMESPACE, 2)
        yield data, instance
    finally:
        data.down()
        instance.down()


def kubectl(data, *args, kubeconfig=None):
    env = data.env()
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=180)


def status_json(data, *args, **kwargs):
    done = kubectl(data, "sidecar", "status", "-n", NAMESPACE, "-o", "json", *args, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_without_the_instance_the_desired_mode_is_unknown_and_the_hint_names_the_flag(split_mesh):
    data, _ = split_mesh
    assert seed.modes(data.api(), NAMESPACE) == ["traditional"] * 2
    doc = status_json(data)
    assert doc["mesh"]["configuredMode"] is None
    assert "pass --mesh-context" in doc["mesh"]["source"]
    assert {item["desiredMode"] for item in doc["items"]} == {None}


def test_status_reads_the_config_from_the_instance(split_mesh):
    data, instance = split_mesh
    doc = status_json(
        data,
        "--mesh-kubeconfig",
        str(instance.named_kubeconfig("asm-instance")),
        "--mesh-context",
        "asm-instance",
    )
    assert doc["mesh"]["context"] == "asm-instance"
    assert doc["mesh"]["source"].startswith("ASMMeshConfig/default on context asm-instance")
    assert [(item["mode"], item["desiredMode"], item["action"]) for item in doc["items"]] == [
        ("traditional", "traditional", "ok")
    ] * 2


def test_switch_patches_the_instance_and_rolls_the_data_plane(split_mesh):
    data, instance = split_mesh
    both = os.pathsep.join([str(data.kubeconfig), str(instance.named_kubeconfig("asm-instance"))])
    done = kubectl(
        data,
        "sidecar",
        "switch",
        "--native",
        "-n",
        NAMESPACE,
        "--mesh-context",
        "asm-instance",
        "--yes",
        "--timeout",
        "10m",
        kubeconfig=both,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on context asm-instance" in done.stdout
    assert instance.api().get(ASM_DEFAULT)["spec"]["enableNativeSidecar"] is True
    # The data plane never had an ASMMeshConfig and still has none.
    assert data.api().get(ASM_DEFAULT, missing_ok=True) is None
    seed.wait_for_pods(data.api(), NAMESPACE, 2)
    assert seed.modes(data.api(), NAMESPACE) == ["native"] * 2, done.stdout + done.stderr
