"""Linkerd: linkerd-config, and the namespace and pod annotations its injector reads over it."""

import itertools

import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes import linkerd
from kubectl_sidecar.meshes.base import Setting
from kubectl_sidecar.meshes.linkerd import OVERRIDE_ANNOTATIONS as LINKERD_KEYS
from kubectl_sidecar.meshes.linkerd import linkerd_config, linkerd_setting, release_line
from tests.harness.injectors import linkerd as linkerd_injector
from tests.unit import pods


def test_linkerd_namespace_annotation_and_config_values():
    config_map = {
        "data": {
            "values": "linkerdVersion: edge-26.5.2\nproxy:\n  nativeSidecar: true\n  image: x\n"
        }
    }
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
LINKERD_TRADITIONAL = {
    "data": {"values": "linkerdVersion: edge-26.5.2\nproxy:\n  nativeSidecar: false\n"}
}


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


# --- each release line as it is -------------------------------------------------------------


@pytest.mark.parametrize(
    "version, line",
    [
        ("edge-23.11.3", "2.14 or older"),
        ("stable-2.14.10", "2.14 or older"),
        ("edge-23.11.4", "2.15 to 2.18"),
        ("edge-25.4.4", "2.15 to 2.18"),  # version-2.18
        ("version-2.18", "2.15 to 2.18"),
        ("stable-2.16.0", "2.15 to 2.18"),
        ("edge-25.10.1", "2.15 to 2.18"),
        ("edge-25.10.2", "2.19"),
        ("edge-25.10.7", "2.19"),  # version-2.19
        ("version-2.19.1", "2.19"),
        ("edge-26.5.1", "2.19"),
        ("edge-26.5.2", "2.20"),
        ("edge-26.8.3", "2.20"),
        ("version-2.20", "2.20"),
        ("stable-2.21.0", "2.20"),
    ],
)
def test_release_line_of_each_spelling(version, line):
    assert release_line(version).name == line


@pytest.mark.parametrize(
    "version", [None, "", "dev-undefined", "linkerdVersionValue", "enterprise-2.18.2", "2.19"]
)
def test_a_release_it_cant_place_is_unknown(version):
    assert release_line(version) is None


def test_the_table_of_release_lines():
    table = {
        line.name: (line.pod_keys, line.namespace_keys, line.key, line.chart_default)
        for line in linkerd.RELEASE_LINES
    }
    assert table == {
        "2.14 or older": ((), (), None, None),
        "2.15 to 2.18": ((ALPHA,), (ALPHA,), ALPHA, False),
        "2.19": ((BETA, ALPHA), (BETA, ALPHA), BETA, False),
        "2.20": ((STABLE, BETA, ALPHA), (STABLE, ALPHA), STABLE, True),
    }
    # Every line with native sidecars reads, and copies from a namespace, the alpha key.
    for line in linkerd.NATIVE_LINES:
        assert linkerd.KEY_EVERY_RELEASE_READS in line.pod_keys
        assert linkerd.KEY_EVERY_RELEASE_READS in line.namespace_keys
        # What a switch writes on a namespace reaches the pods.
        assert line.key in line.namespace_keys


def _config_map(version, native=False):
    values = f"proxy:\n  nativeSidecar: {str(native).lower()}\n"
    if version:
        values = f"linkerdVersion: {version}\n" + values
    return {"data": {"values": values}}


@pytest.mark.parametrize(
    "version, namespace, mode, source",
    [
        # A key the release doesn't copy from a namespace leaves linkerd-config's.
        (
            "edge-25.4.4",
            {STABLE: "true"},
            "traditional",
            "linkerd-config proxy.nativeSidecar=false",
        ),
        ("edge-25.4.4", {BETA: "true"}, "traditional", "linkerd-config proxy.nativeSidecar=false"),
        ("edge-25.4.4", {ALPHA: "true"}, "native", f"namespace annotation {ALPHA}"),
        (
            "edge-25.10.7",
            {STABLE: "true"},
            "traditional",
            "linkerd-config proxy.nativeSidecar=false",
        ),
        ("edge-25.10.7", {BETA: "true"}, "native", f"namespace annotation {BETA}"),
        ("edge-25.10.7", {BETA: "true", ALPHA: "false"}, "native", f"namespace annotation {BETA}"),
        ("edge-26.5.2", {BETA: "true"}, "traditional", "linkerd-config proxy.nativeSidecar=false"),
    ],
)
def test_namespace_annotations_count_as_the_running_release_reads_them(
    version, namespace, mode, source
):
    config = linkerd_config(_config_map(version), [linkerd_namespace("web", namespace)])
    assert config.warnings == []
    setting = desired_setting(classify_pod(pods.linkerd("traditional", namespace="web")), config)
    assert (setting.mode, setting.source) == (mode, source)


@pytest.mark.parametrize(
    "version, key", [("edge-25.4.4", ALPHA), ("edge-25.10.7", BETA), ("edge-26.5.2", STABLE)]
)
def test_a_switch_writes_the_key_the_running_release_reads(version, key):
    config = linkerd_config(_config_map(version), [linkerd_namespace("web", {STABLE: "false"})])
    row = classify_pod(pods.linkerd("traditional", namespace="web"))
    [change] = linkerd.config_changes(config, "native", [row])
    assert change.patch().body == {"metadata": {"annotations": {key: "true"}}}
    assert change.describe() == f"Namespace web: annotation {key} {change.old} -> true"
    # Before 2.20 nothing reads the namespace's stable key.
    assert change.old == ("false" if key == STABLE else "unset")
    assert linkerd.desired_after_switch(config, [change], "native")(row) == "native"
    assert config.override_key == key


def test_an_unknown_release_says_so_writes_the_key_every_release_reads_and_does_not_guess():
    config = linkerd_config(_config_map("dev-undefined"), [linkerd_namespace("web", {})])
    [warning] = config.warnings
    assert "linkerdVersion 'dev-undefined'" in warning and ALPHA in warning
    assert config.override_key == ALPHA
    row = classify_pod(pods.linkerd("traditional", namespace="web"))
    [change] = linkerd.config_changes(config, "native", [row])
    assert change.patch().body == {"metadata": {"annotations": {ALPHA: "true"}}}
    assert linkerd.desired_after_switch(config, [change], "native")(row) == "native"
    # A workload's stable key: 2.20 reads it before the namespace's alpha, 2.18 and 2.19 not.
    row.mode_annotations = ((STABLE, "false"),)
    assert linkerd.desired_after_switch(config, [change], "native")(row) is None
    row.mode_annotations = ((STABLE, "true"),)
    setting = linkerd.setting_for(row, config)
    assert (setting.native, setting.source) == (
        None,
        "Linkerd release unknown; by release line: 2.15 to 2.18 traditional, 2.19 traditional, "
        "2.20 native",
    )
    assert "unknown" in linkerd_config(_config_map(None), []).warnings[0]


def test_a_release_without_native_sidecars_refuses_a_switch_to_native():
    config = linkerd_config(_config_map("stable-2.14.10"), [linkerd_namespace("web", {})])
    assert config.native_supported is False and config.override_key is None
    row = classify_pod(pods.linkerd("traditional", namespace="web"))
    assert linkerd.config_changes(config, "native", [row]) == []
    [(problem, forceable)] = linkerd.control_plane_problems(config, "native")
    assert "stable-2.14.10 can't inject native sidecars" in problem and not forceable
    assert linkerd.override_ignored(config, "native") == problem
    assert linkerd.control_plane_problems(config, "traditional") == []


@pytest.mark.parametrize("version", ["edge-25.4.4", "edge-25.10.7", "edge-26.5.2"])
@pytest.mark.parametrize("default", [True, False])
def test_linkerd_setting_agrees_with_each_releases_injector_on_every_combination(version, default):
    values = {"linkerdVersion": version, "proxy": {"nativeSidecar": default}}
    release = linkerd_injector.release_of(values)
    line = release_line(version)
    setting = Setting(default, "linkerd-config")
    for own in _annotation_combinations():
        for namespace in _annotation_combinations():
            injected = linkerd_injector.native_sidecar(
                values, linkerd_injector.effective_annotations(own, namespace, release), release
            )
            assert linkerd_setting(own, namespace, setting, line).native is injected, (
                own,
                namespace,
            )
