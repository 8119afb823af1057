"""Which setting decides a pod's desired mode, whatever the mesh."""

import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes.asm import asm_config
from kubectl_sidecar.meshes.base import version_tuple
from tests.unit import pods


def test_pods_of_another_mesh_family_are_unknown():
    config = asm_config({"spec": {"enableNativeSidecar": True}}, None)
    setting = desired_setting(classify_pod(pods.kuma("native")), config)
    assert setting.native is None and "kuma" in setting.source


@pytest.mark.parametrize(
    "text, version",
    [("v1.33.2-eks-1", (1, 33)), ("1.27.1", (1, 27)), ("istiod-1.24.0", (1, 24)), ("latest", None)],
)
def test_version_tuple(text, version):
    assert version_tuple(text) == version
