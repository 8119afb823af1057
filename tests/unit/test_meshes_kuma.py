"""Kuma: kuma-cp's KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS per release, and the switch of it."""

import pytest

from kubectl_sidecar import meshread
from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes import kuma
from kubectl_sidecar.meshes.kuma import (
    config_changes,
    control_plane_problems,
    kuma_config,
    kuma_setting,
    kuma_version,
    lease_namespace,
)
from kubectl_sidecar.plan import plan_override
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.resources import STRATEGIC_MERGE_PATCH
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster

ENV = "KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS"


def control_plane(env=None, image="docker.io/kumahq/kuma-cp:2.13.0", labels=None, value_from=False):
    container = {
        "name": "control-plane",
        "image": image,
        "env": [{"name": "KUMA_ENVIRONMENT", "value": "kubernetes"}],
    }
    if value_from:
        container["env"].append(
            {"name": ENV, "valueFrom": {"configMapKeyRef": {"name": "kuma", "key": "native"}}}
        )
    elif env is not None:
        container["env"].append({"name": ENV, "value": env})
    return {
        "metadata": {
            "name": "kuma-control-plane",
            "namespace": "kuma-system",
            "resourceVersion": "41",
            "labels": {"app": "kuma-control-plane", **(labels or {})},
        },
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


@pytest.mark.parametrize(
    "deployment, version",
    [
        (control_plane(), (2, 13)),
        (control_plane(image="kuma-cp:2.14.3"), (2, 14)),
        (control_plane(image="kuma-cp", labels={"app.kubernetes.io/version": "2.9.1"}), (2, 9)),
        (control_plane(image="kuma-cp", labels={"helm.sh/chart": "kuma-2.7.4"}), (2, 7)),
        (control_plane(image="registry:5000/kumahq/kuma-cp"), None),  # a port is no tag
        (control_plane(image="kuma-cp@sha256:abc"), None),
    ],
)
def test_kuma_version_from_helm_labels_or_the_image_tag(deployment, version):
    assert kuma_version(deployment) == version


@pytest.mark.parametrize(
    "env, image, native, says",
    [
        (None, "kuma-cp:2.6.3", False, "Kuma 2.6, which injects traditional only"),
        ("true", "kuma-cp:2.6.3", False, "Kuma 2.6, which injects traditional only"),
        (None, "kuma-cp:2.7.0", False, f"{ENV} unset, Kuma 2.7 default false"),
        (None, "kuma-cp:2.13.0", False, f"{ENV} unset, Kuma 2.13 default false"),
        ("true", "kuma-cp:2.13.0", True, f"{ENV}=true"),
        ("True", "kuma-cp:2.9.0", True, f"{ENV}=True"),
        (None, "kuma-cp:2.14.0", True, f"{ENV} unset, Kuma 2.14 default true"),
        ("false", "kuma-cp:2.14.3", False, f"{ENV}=false"),
        ("false", "kuma-cp:3.0.0", True, "Kuma 3.0, which always injects native"),
        (None, "kuma-cp:2.15.0", True, "Kuma 2.15, which always injects native"),
        ("yes", "kuma-cp:2.13.0", None, "not a Go bool"),
        ("true", "kuma-cp", None, "its Kuma version is unknown"),
    ],
)
def test_the_setting_follows_the_release(env, image, native, says):
    setting = kuma_setting(control_plane(env, image=image), "v1.33.1")
    assert setting.native is native
    assert says in setting.source and "kuma-system/kuma-control-plane" in setting.source


def test_below_api_server_1_29_kuma_injects_traditional_whatever_it_says():
    setting = kuma_setting(control_plane("true"), "v1.28.5")
    assert setting.native is False
    assert "the API server is v1.28.5 (< 1.29)" in setting.source
    assert kuma_setting(control_plane("true"), "v1.29.0").native is True


def test_a_value_from_a_reference_is_unknown_and_a_switch_of_it_is_refused():
    config = kuma_config(control_plane(value_from=True))
    assert config.mesh_wide.native is None
    assert "from a reference" in config.mesh_wide.source
    [(problem, forceable)] = control_plane_problems(config, "native")
    assert "valueFrom" in problem and not forceable
    assert config_changes(config, "native", []) == []


def test_every_kuma_pod_gets_the_control_planes_setting():
    config = kuma_config(control_plane("true"), "v1.33.1")
    for mode in ("native", "traditional"):
        setting = desired_setting(classify_pod(pods.kuma_k8s(mode)), config)
        assert setting == config.mesh_wide and setting.native is True


def test_switch_native_on_2_13_patches_the_env_at_the_read_resource_version():
    config = kuma_config(control_plane(None))
    assert control_plane_problems(config, "native") == []
    [change] = config_changes(config, "native", [])
    assert change.describe() == (
        f"Deployment kuma-system/kuma-control-plane: env {ENV} unset (traditional) -> true"
    )
    assert change.rolls_out
    patch = change.patch()
    assert (patch.resource.kind, patch.namespace, patch.name) == (
        "Deployment",
        "kuma-system",
        "kuma-control-plane",
    )
    assert patch.content_type == STRATEGIC_MERGE_PATCH
    assert patch.body == {
        "metadata": {"resourceVersion": "41"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "control-plane", "env": [{"name": ENV, "value": "true"}]}
                    ]
                }
            }
        },
    }
    assert "experimental.sidecarContainers=true in the Helm release's values" in (
        change.describe_done()
    )


def test_switch_back_rewrites_the_value_and_a_setting_already_right_changes_nothing():
    [change] = config_changes(kuma_config(control_plane("true")), "traditional", [])
    assert (change.old, change.new) == ("true (native)", "false")
    assert config_changes(kuma_config(control_plane("true")), "native", []) == []
    assert config_changes(kuma_config(control_plane(None)), "traditional", []) == []
    broken = kuma_config(control_plane("yes"))
    [change] = config_changes(broken, "native", [])
    assert (change.old, change.new) == ("yes", "true")  # kuma-cp starts again


def test_2_14_is_native_by_default_and_still_switches_back():
    config = kuma_config(control_plane(None, image="kuma-cp:2.14.3"), "v1.33.1")
    assert config.mesh_wide.native is True
    assert config_changes(config, "native", []) == []
    [change] = config_changes(config, "traditional", [])
    assert (change.old, change.new) == ("unset (native)", "false")


def test_after_2_14_native_needs_no_change_and_traditional_is_refused():
    config = kuma_config(control_plane("false", image="kuma-cp:3.0.0"), "v1.33.1")
    assert control_plane_problems(config, "native") == []
    assert config_changes(config, "native", []) == []
    [(problem, forceable)] = control_plane_problems(config, "traditional")
    assert "Kuma 3.0, which always injects native sidecars" in problem and not forceable
    assert config_changes(config, "traditional", []) == []
    assert not config.warnings  # no env that a Helm upgrade could revert


def test_before_2_7_native_is_refused_and_pods_ignore_nothing():
    config = kuma_config(control_plane(None, image="kuma-cp:2.6.3"))
    assert config.native_supported is False
    [(problem, forceable)] = control_plane_problems(config, "native")
    assert "can't inject native sidecars; that needs Kuma 2.7 or later" in problem
    assert not forceable
    assert control_plane_problems(config, "traditional") == []


def test_an_unknown_version_is_refused_both_ways():
    config = kuma_config(control_plane("true", image="kuma-cp:latest"))
    for target in ("native", "traditional"):
        [(problem, forceable)] = control_plane_problems(config, target)
        assert "doesn't tell its Kuma version" in problem and not forceable
        assert config_changes(config, target, []) == []


def test_without_a_control_plane_there_is_nothing_to_switch():
    config = kuma_config(None)
    assert config.mesh_wide.native is None
    [(problem, forceable)] = control_plane_problems(config, "native")
    assert "no Kuma control plane Deployment (app=kuma-control-plane) found" in problem
    assert lease_namespace(config) == "kuma-system"


def test_read_asks_the_api_server_version_only_for_a_native_setting():
    traditional = FakeCluster({"Deployment": [control_plane(None)]}, version="v1.28.0")
    config = kuma.read(traditional, traditional)
    assert config.mesh_wide.native is False and "API server" not in config.mesh_wide.source
    native = FakeCluster({"Deployment": [control_plane("true")]}, version="v1.28.0")
    assert kuma.read(native, native).mesh_wide.native is False
    assert lease_namespace(kuma.read(native, native)) == "kuma-system"


def test_auto_detection_reads_kuma_first_when_most_pods_are_kumas():
    cluster = FakeCluster({"Deployment": [control_plane("true")]})
    rows = [classify_pod(pods.kuma_k8s("traditional"))]
    config = meshread.read_mesh_config(cluster, cluster, "auto", rows)
    assert config.name == "kuma" and config.mesh_wide.native is True
    assert cluster.reads[0] == ("list", "Deployment", None, "app=kuma-control-plane")
    assert meshread.read_mesh_config(cluster, cluster, "auto", []).name == "kuma"
    assert kuma.read(FakeCluster({}), None, quiet=True) is None


def test_a_per_workload_switch_of_kuma_is_a_manual_step():
    plan = plan_override([], [(WorkloadRef("Deployment", "shop", "web"), "kuma", {})], "native", {})
    assert plan.overrides == [] and plan.restarts == []
    [step] = plan.manual
    assert "no per-workload override is known for kuma mesh" in str(step)
