"""The registry: the one list of meshes that --mesh, auto-detection, classification and
switching are fed from, and explicit errors for what a mesh can't do."""

from collections import Counter

import pytest

from kubectl_sidecar.cli import MESHES
from kubectl_sidecar.meshes import base, registry
from kubectl_sidecar.meshes.base import ConfigChange, MeshConfig, Unsupported
from kubectl_sidecar.plan import config_changes


def names(planes):
    return [plane.NAME for plane in planes]


def test_mesh_choices_are_the_control_planes_in_detection_order():
    assert registry.CHOICES == ("asm", "istio", "linkerd", "consul", "kuma")
    assert MESHES == ("auto",) + registry.CHOICES


def test_detection_reads_asm_then_istio_then_linkerd_then_consul_then_kuma():
    assert names(registry.detection_order(Counter())) == [
        "asm",
        "istio",
        "linkerd",
        "consul",
        "kuma",
    ]


@pytest.mark.parametrize(
    "families, first",
    [
        (Counter({"linkerd": 3, "istio": 1}), "linkerd"),
        (Counter({"consul": 2}), "consul"),
        # Istio's proxies run under ASM and Istio alike: the default order decides.
        (Counter({"istio": 5, "consul": 1}), "asm"),
        (Counter({"kuma": 5}), "kuma"),
        # App Mesh's control plane is not read: the default order.
        (Counter({"envoy": 5}), "asm"),
        (Counter({"custom": 5}), "asm"),
    ],
)
def test_detection_reads_the_mesh_most_pods_run_first(families, first):
    order = names(registry.detection_order(families))
    assert order[0] == first
    assert sorted(order) == sorted(registry.CHOICES)


def test_every_family_a_pod_can_show_has_one_module():
    assert [family.FAMILY for family in registry.FAMILIES] == [
        "istio",
        "linkerd",
        "kuma",
        "consul",
        "envoy",
    ]
    assert registry.family("istio").FAMILY == "istio"
    assert registry.family("custom") is None  # a --proxy-name's family: no injector known


def test_each_proxy_name_belongs_to_one_family():
    assert registry.PROXIES["istio-proxy"] == ("istio", None)
    assert registry.PROXIES["linkerd-proxy"] == ("linkerd", None)
    family, check = registry.PROXIES["envoy"]
    assert family == "envoy" and check is not None  # only where App Mesh or OSM marked it
    assert "app" not in registry.PROXIES


def test_override_annotations_keep_the_family_order():
    assert list(registry.OVERRIDE_ANNOTATIONS) == ["istio", "linkerd", "consul"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("envoy", "App Mesh / OSM: kubectl-sidecar doesn't read or switch"),
        ("none", "no mesh configuration was read"),
        ("cilium", 'unknown mesh "cilium": one of asm, istio, linkerd, consul, kuma'),
    ],
)
def test_a_mesh_without_a_control_plane_is_a_clear_error(name, message):
    with pytest.raises(Unsupported, match=message):
        registry.control_plane(name)


def test_a_switch_of_a_mesh_it_cant_switch_is_an_error_not_a_linkerd_patch():
    with pytest.raises(Unsupported, match="App Mesh"):
        config_changes(MeshConfig("envoy"), "native", [])
    change = ConfigChange("envoy", "Mesh", None, "default", "false", "true")
    with pytest.raises(Unsupported, match="no config change is known for mesh envoy"):
        change.patch()
    with pytest.raises(Unsupported, match="no config change is known for mesh envoy"):
        change.describe()


def test_no_mesh_config_plans_no_config_change():
    assert config_changes(base.no_mesh("nothing found"), "native", []) == []


def test_the_not_found_reason_names_where_each_mesh_keeps_its_config():
    assert registry.not_found_reason() == (
        "no mesh configuration found (ASMMeshConfig/default, istiod, linkerd-config, "
        "Consul's connect-injector component=connect-injector, "
        "Kuma's control plane app=kuma-control-plane); "
        "on ASM it is on the ASM instance's API server: pass --mesh-context"
    )


def _members(protocol):
    methods = [name for name, value in vars(protocol).items() if callable(value)]
    return sorted(set(protocol.__annotations__) | {m for m in methods if not m.startswith("_")})


@pytest.mark.parametrize(
    "modules, protocol",
    [(registry.CONTROL_PLANES, base.ControlPlane), (registry.FAMILIES, base.ProxyFamily)],
)
def test_every_mesh_module_has_every_member_of_its_protocol(modules, protocol):
    for module in modules:
        missing = [name for name in _members(protocol) if not hasattr(module, name)]
        assert missing == [], module.__name__


def test_a_mesh_without_a_control_plane_says_why():
    planes = {plane.FAMILY for plane in registry.CONTROL_PLANES}
    for family in registry.FAMILIES:
        assert family.FAMILY in planes or family.CANT_SWITCH, family.__name__
