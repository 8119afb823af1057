"""ASM: ASMMeshConfig's spec.enableNativeSidecar."""

import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes.asm import asm_config, config_changes
from tests.unit import pods


@pytest.mark.parametrize(
    "spec, mode",
    [
        ({"enableNativeSidecar": True}, "native"),
        ({"enableNativeSidecar": False}, "traditional"),
        ({}, None),
    ],
)
def test_asm_mode_comes_from_enable_native_sidecar(spec, mode):
    config = asm_config({"spec": spec}, "asm-instance")
    assert desired_setting(classify_pod(pods.istio("native")), config).mode == mode
    assert "on context asm-instance" in config.describe()


def test_missing_asm_mesh_config_is_unknown_with_a_reason():
    config = asm_config(None, "prod")
    assert config.mesh_wide.native is None
    assert "not found" in config.mesh_wide.source


def test_a_switch_patches_asmmeshconfig_at_the_version_it_read():
    # Changed since (the console, another switch): 409 Conflict, not an overwrite.
    config = asm_config(
        {"metadata": {"resourceVersion": "4711"}, "spec": {"enableNativeSidecar": False}}, "asm"
    )
    [change] = config_changes(config, "native", [])
    assert change.patch().body == {
        "spec": {"enableNativeSidecar": True},
        "metadata": {"resourceVersion": "4711"},
    }
