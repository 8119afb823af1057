"""Linkerd: linkerd-config, and the namespace and pod annotations its injector reads over it."""

import itertools

import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes.base import Setting
from kubectl_sidecar.meshes.linkerd import OVERRIDE_ANNOTATIONS as LINKERD_KEYS
from kubectl_sidecar.meshes.linkerd import linkerd_config, linkerd_setting
from tests.harness.injectors import linkerd as linkerd_injector
from tests.unit import pods


def test_linkerd_namespace_annotation_and_config_values():
    config_map = {"data": {"values": "proxy:\n  nativeSidecar: true\n  image: x\n"}}
    namespaces = [
        {
            "metadata": {
                "name": "legacy",
                "annotations": {"config.linkerd.io/proxy-enable-native-sidecar": "false"},
            }
        }
    ]
    config = linkerd_config(config_map, namespaces)
    assert desired_setting(classify_pod(pods.linkerd("native")), config).mode == "native"
    legacy = classify_pod(pods.linkerd("native", namespace="legacy"))
    assert desired_setting(legacy, config).mode == "traditional"
    assert linkerd_config({"data": {"values": "proxy: {}"}}, []).mesh_wide.native is False


STABLE, BETA, ALPHA = LINKERD_KEYS
LINKERD_TRADITIONAL = {"data": {"values": "proxy:\n  nativeSidecar: false\n"}}


def linkerd_namespace(name, annotations):
    return {"metadata": {"name": name, "annotations": annotations}}


@pytest.mark.parametrize(
    "annotations, mode, source",
    [
        ({STABLE: "true"}, "native", f"namespace annotation {STABLE}"),
        ({ALPHA: "true"}, "native", f"namespace annotation {ALPHA}"),
        # Linkerd copies only the stable and alpha keys from a namespace: beta there does nothing.
        ({BETA: "true"}, "traditional", "linkerd-config proxy.nativeSidecar=false"),
        ({BETA: "true", ALPHA: "false"}, "traditional", f"namespace annotation {ALPHA}"),
        ({STABLE: "false", ALPHA: "true"}, "traditional", f"namespace annotation {STABLE}"),
        # A value Go can't parse leaves linkerd-config's, and still hides the alpha key after it.
        (
            {STABLE: "yes", ALPHA: "true"},
            "traditional",
            f"namespace annotation {STABLE}='yes' is not a Go bool, so "
            "linkerd-config proxy.nativeSidecar=false",
        ),
        (
            {STABLE: " true"},
            "traditional",
            f"namespace annotation {STABLE}=' true' is not a Go bool, so "
            "linkerd-config proxy.nativeSidecar=false",
        ),
    ],
)
def test_linkerd_namespace_annotations_count_as_linkerd_reads_them(annotations, mode, source):
    config = linkerd_config(LINKERD_TRADITIONAL, [linkerd_namespace("web", annotations)])
    setting = desired_setting(classify_pod(pods.linkerd("traditional", namespace="web")), config)
    assert (setting.mode, setting.source) == (mode, source)


NATIVE_DEFAULT = Setting(True, "linkerd-config proxy.nativeSidecar=true")
TRADITIONAL_DEFAULT = Setting(False, "linkerd-config proxy.nativeSidecar=false")


@pytest.mark.parametrize(
    "own, namespace, default, mode, source",
    [
        ({}, {}, TRADITIONAL_DEFAULT, "traditional", TRADITIONAL_DEFAULT.source),
        ({}, {STABLE: "true"}, TRADITIONAL_DEFAULT, "native", f"namespace annotation {STABLE}"),
        # The workload's own key wins over the namespace's same key...
        (
            {STABLE: "false"},
            {STABLE: "true"},
            NATIVE_DEFAULT,
            "traditional",
            f"pod annotation {STABLE}",
        ),
        (
            {ALPHA: "false"},
            {ALPHA: "true"},
            NATIVE_DEFAULT,
            "traditional",
            f"pod annotation {ALPHA}",
        ),
        ({BETA: "false"}, {ALPHA: "true"}, NATIVE_DEFAULT, "traditional", f"pod annotation {BETA}"),
        # ...but a namespace's stable key, copied onto the pod, comes before its beta or alpha key.
        (
            {BETA: "false"},
            {STABLE: "true"},
            TRADITIONAL_DEFAULT,
            "native",
            f"namespace annotation {STABLE}",
        ),
        (
            {ALPHA: "false"},
            {STABLE: "true"},
            TRADITIONAL_DEFAULT,
            "native",
            f"namespace annotation {STABLE}",
        ),
        # A namespace's beta key is never copied.
        ({}, {BETA: "true"}, TRADITIONAL_DEFAULT, "traditional", TRADITIONAL_DEFAULT.source),
        # A value Go can't parse leaves linkerd-config's, hiding the namespace's key.
        (
            {STABLE: "on"},
            {STABLE: "true"},
            TRADITIONAL_DEFAULT,
            "traditional",
            f"pod annotation {STABLE}='on' is not a Go bool, so {TRADITIONAL_DEFAULT.source}",
        ),
        (
            {STABLE: "on"},
            {},
            Setting(None, "linkerd/linkerd-config not found"),
            None,
            f"pod annotation {STABLE}='on' is not a Go bool, so linkerd/linkerd-config not found",
        ),
    ],
)
def test_linkerd_setting_follows_linkerds_precedence(own, namespace, default, mode, source):
    setting = linkerd_setting(own, namespace, default)
    assert (setting.mode, setting.source) == (mode, source)


def _annotation_combinations():
    """Every way a pod template and a namespace can set the three keys (absent, true, false,
    or a value Go refuses)."""
    values = (None, "true", "false", "yes")
    for combination in itertools.product(values, repeat=len(LINKERD_KEYS)):
        yield {
            key: value
            for key, value in zip(LINKERD_KEYS, combination, strict=True)
            if value is not None
        }


@pytest.mark.parametrize("default", [True, False])
def test_linkerd_setting_agrees_with_linkerds_injector_on_every_combination(default):
    """The harness's injector follows Linkerd's pkg/inject (and is checked against the real
    webhook's behaviour in the e2e tier); the plugin must give every pod the mode it injects."""
    values = {"proxy": {"nativeSidecar": default}}
    setting = Setting(default, "linkerd-config")
    for own in _annotation_combinations():
        for namespace in _annotation_combinations():
            injected = linkerd_injector.native_sidecar(
                values, linkerd_injector.effective_annotations(own, namespace)
            )
            assert linkerd_setting(own, namespace, setting).native is injected, (own, namespace)
