import copy
import itertools
import re

import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.errors import SidecarError
from kubectl_sidecar.meshconfig import (
    LINKERD_KEYS,
    Setting,
    asm_config,
    consul_config,
    consul_injector_patch,
    consul_k8s_version,
    consul_setting,
    consul_supports_native,
    desired_setting,
    istio_config,
    istiod_needs_kubelets,
    istiod_setting,
    linkerd_config,
    linkerd_setting,
    version_tuple,
)
from tests.harness.injectors import linkerd as linkerd_injector
from tests.unit import pods


def istiod(env=None, image="docker.io/istio/pilot:1.26.2", revision=None, name="istiod"):
    container = {
        "name": "discovery",
        "image": image,
        "env": [{"name": "PILOT_TRACE", "value": "1"}],
    }
    if env is not None:
        container["env"].append({"name": "ENABLE_NATIVE_SIDECARS", "value": env})
    labels = {"app": "istiod"}
    if revision:
        labels["istio.io/rev"] = revision
    return {
        "metadata": {"name": name, "namespace": "istio-system", "labels": labels},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


NEW_KUBELETS = {"node-1": "v1.33.1", "node-2": "v1.34.0-eks-abc"}
MIXED_KUBELETS = {"node-1": "v1.33.1", "node-old": "v1.30.4"}


@pytest.mark.parametrize(
    "env, image, kubelets, native",
    [
        ("true", "pilot:1.22.0", None, True),
        ("false", "pilot:1.28.0", NEW_KUBELETS, False),
        ("TRUE", "pilot:1.24.0", None, True),
        (None, "pilot:1.26.2", None, False),  # 1.19-1.26: absent means false
        (None, "pilot:1.27.1", NEW_KUBELETS, True),  # 1.27+: absent means auto
        (None, "pilot:1.27.1", MIXED_KUBELETS, False),
        ("auto", "pilot:1.28.0", NEW_KUBELETS, True),
        ("auto", "pilot:1.28.0", MIXED_KUBELETS, False),
        ("auto", "pilot:1.28.0", None, None),  # nodes unreadable
        (None, "pilot", None, None),  # version unknown
        ("maybe", "pilot:1.28.0", None, None),
    ],
)
def test_istiod_setting_follows_env_version_and_kubelets(env, image, kubelets, native):
    setting = istiod_setting(istiod(env, image=image), kubelets)
    assert setting.native is native
    assert "istio-system/istiod" in setting.source


def test_auto_names_how_many_kubelets_are_too_old():
    assert "1 node(s) with kubelet < 1.33" in istiod_setting(istiod("auto"), MIXED_KUBELETS).source


def test_env_from_a_reference_is_unknown():
    deployment = istiod()
    deployment["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {
            "name": "ENABLE_NATIVE_SIDECARS",
            "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}},
        }
    )
    assert istiod_setting(deployment, None).native is None


def test_kubelets_are_needed_only_for_auto():
    assert not istiod_needs_kubelets([istiod("true", image="pilot:1.28.0")])
    assert not istiod_needs_kubelets([istiod(None, image="pilot:1.25.0")])
    assert istiod_needs_kubelets([istiod(None, image="pilot:1.27.0")])
    assert istiod_needs_kubelets([istiod("auto")])


def test_each_pod_uses_the_istiod_of_its_revision():
    config = istio_config(
        [istiod("true"), istiod("false", revision="canary", name="istiod-canary")], None
    )
    default_pod = classify_pod(pods.istio("traditional"))
    canary_pod = classify_pod(pods.istio("native", revision="canary"))
    assert desired_setting(default_pod, config).mode == "native"
    assert desired_setting(canary_pod, config).mode == "traditional"
    orphan = classify_pod(pods.istio("native", revision="gone"))
    assert desired_setting(orphan, config).native is None
    assert "revision gone" in desired_setting(orphan, config).source


def test_pod_override_annotation_wins_over_the_mesh():
    config = asm_config({"spec": {"enableNativeSidecar": True}}, "asm")
    row = classify_pod(
        pods.istio("native", annotations={"sidecar.istio.io/nativeSidecar": "false"})
    )
    setting = desired_setting(row, config)
    assert setting.mode == "traditional"
    assert "sidecar.istio.io/nativeSidecar" in setting.source


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


# --- Consul ---------------------------------------------------------------------------------

FLAG = "default-enable-consul-dataplane-as-sidecar"
WHERE = "Deployment consul/consul-connect-injector"


def helm_script(flag_line="-default-enable-consul-dataplane-as-sidecar=false \\\n"):
    """The injector's command as the consul Helm chart renders it
    (charts/consul/templates/connect-inject-deployment.yaml): flags inside one sh -ec script."""
    return (
        "exec consul-k8s-control-plane inject-connect \\\n"
        "  -config-file=/consul/config/config.json \\\n"
        "  -log-level=info \\\n"
        "  -log-json=false \\\n"
        "  -default-inject=false \\\n"
        '  -consul-image="hashicorp/consul:1.21.4" \\\n'
        '  -consul-dataplane-image="hashicorp/consul-dataplane:1.9.0" \\\n'
        '  -release-name="consul" \\\n'
        "  -listen=:8080 \\\n"
        "  -default-enable-transparent-proxy=true \\\n"
        "  -enable-telemetry-collector=false  \\\n"
        "\n"
        f"  {flag_line}"
    )


def consul_injector(command=None, args=None, image="hashicorp/consul-k8s-control-plane:1.9.0"):
    container = {
        "name": "sidecar-injector",
        "image": image,
        "ports": [{"containerPort": 8080, "name": "webhook-server"}],
    }
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "consul-connect-injector",
            "namespace": "consul",
            "labels": {
                "app": "consul",
                "component": "connect-injector",
                "release": "consul",
                "chart": "consul-helm",
            },
        },
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def helm_injector(flag_line="-default-enable-consul-dataplane-as-sidecar=false \\\n", **kwargs):
    return consul_injector(command=["/bin/sh", "-ec", helm_script(flag_line)], **kwargs)


def argv_injector(*flags, **kwargs):
    return consul_injector(
        command=["consul-k8s-control-plane"],
        args=["inject-connect", "-listen=:8080", *flags],
        **kwargs,
    )


@pytest.mark.parametrize(
    "deployment, native, source",
    [
        (helm_injector(), False, f"{WHERE} arg -{FLAG}=false"),
        (helm_injector(f"-{FLAG}=true \\\n"), True, f"{WHERE} arg -{FLAG}=true"),
        (helm_injector(f'"-{FLAG}=true" \\\n'), True, f"{WHERE} arg -{FLAG}=true"),
        (helm_injector(f'-{FLAG}="true" \\\n'), True, f"{WHERE} arg -{FLAG}=true"),
        (
            helm_injector("-enable-webhook-ca-update \\\n"),
            False,
            f"{WHERE} has no -{FLAG} (default false)",
        ),
        # Go's flag syntax: one or two dashes, =value or bare (true); strconv.ParseBool's words.
        (argv_injector(f"-{FLAG}"), True, f"{WHERE} arg -{FLAG}"),
        (argv_injector(f"--{FLAG}"), True, f"{WHERE} arg --{FLAG}"),
        (argv_injector(f"--{FLAG}=false"), False, f"{WHERE} arg --{FLAG}=false"),
        (argv_injector(f"-{FLAG}=1"), True, f"{WHERE} arg -{FLAG}=1"),
        (argv_injector(f"-{FLAG}=F"), False, f"{WHERE} arg -{FLAG}=F"),
        (argv_injector(f"-{FLAG}=TRUE"), True, f"{WHERE} arg -{FLAG}=TRUE"),
        (argv_injector(), False, f"{WHERE} has no -{FLAG} (default false)"),
        # The last one wins, as Go's flag.Set is called for each.
        (
            argv_injector(f"-{FLAG}=true", "-log-level=debug", f"-{FLAG}=false"),
            False,
            f"{WHERE} arg -{FLAG}=false",
        ),
        # Not the flag: another flag's prefix, after `--`, or before the subcommand.
        (argv_injector(f"-{FLAG}-x=true"), False, f"{WHERE} has no -{FLAG} (default false)"),
        (argv_injector("--", f"-{FLAG}=true"), False, f"{WHERE} has no -{FLAG} (default false)"),
        (
            consul_injector(
                command=["consul-k8s-control-plane", f"-{FLAG}=true", "inject-connect"]
            ),
            False,
            f"{WHERE} has no -{FLAG} (default false)",
        ),
        # Subcommand in command, flags in args.
        (
            consul_injector(
                command=["consul-k8s-control-plane", "inject-connect"], args=[f"-{FLAG}=true"]
            ),
            True,
            f"{WHERE} arg -{FLAG}=true",
        ),
    ],
)
def test_consul_setting_reads_the_injector_flag_as_go_does(deployment, native, source):
    setting = consul_setting(deployment)
    assert (setting.native, setting.source) == (native, source)


@pytest.mark.parametrize(
    "deployment, source_part",
    [
        (argv_injector(f"-{FLAG}=yes"), "not a Go bool, the injector won't start"),
        (argv_injector(f"-{FLAG}="), "not a Go bool"),
        (
            consul_injector(command=["/bin/webhook"], args=["--port=8443"]),
            "runs no `consul-k8s-control-plane inject-connect`",
        ),
    ],
)
def test_consul_setting_unknown_with_the_reason(deployment, source_part):
    setting = consul_setting(deployment)
    assert setting.native is None and source_part in setting.source


def test_consul_bool_flag_with_a_separate_value_is_true_and_says_why():
    setting = consul_setting(argv_injector(f"-{FLAG}", "false", "-log-level=debug"))
    assert setting.native is True
    assert (
        "followed by 'false': Go reads it as true and stops reading flags there" in setting.source
    )


def test_consul_k8s_too_old_for_native_says_so():
    setting = consul_setting(argv_injector(image="hashicorp/consul-k8s-control-plane:1.5.1"))
    assert setting.native is False
    assert "runs consul-k8s 1.5.1, which can't inject native" in setting.source


@pytest.mark.parametrize(
    "image, version, supported",
    [
        ("hashicorp/consul-k8s-control-plane:1.9.0", (1, 9, 0), True),
        ("hashicorp/consul-k8s-control-plane:1.8.2", (1, 8, 2), True),
        ("hashicorp/consul-k8s-control-plane:1.8.1", (1, 8, 1), False),
        ("hashicorp/consul-k8s-control-plane:1.7.5-ubi", (1, 7, 5), True),
        ("hashicorp/consul-k8s-control-plane:1.7.4", (1, 7, 4), False),
        ("hashicorp/consul-k8s-control-plane:1.6.9", (1, 6, 9), True),
        ("hashicorp/consul-k8s-control-plane:1.6.8", (1, 6, 8), False),
        ("hashicorp/consul-k8s-control-plane:1.5.3", (1, 5, 3), False),
        ("hashicorp/consul-k8s-control-plane:0.49.8", (0, 49, 8), False),
        (
            "docker.mirror.hashicorp.services/hashicorppreview/consul-k8s-control-plane:2.1.0-dev",
            (2, 1, 0),
            True,
        ),
        ("registry:5000/consul-k8s-control-plane:1.8", (1, 8, None), None),
        ("registry:5000/consul-k8s-control-plane", None, None),
        ("hashicorp/consul-k8s-control-plane@sha256:0123abcd", None, None),
        ("hashicorp/consul-k8s-control-plane:latest", None, None),
    ],
)
def test_consul_k8s_version_and_native_support(image, version, supported):
    deployment = argv_injector(image=image)
    assert consul_k8s_version(deployment) == version
    assert consul_supports_native(version) is supported


def consul_pod(mode="traditional", override=None):
    annotations = {}
    if override is not None:
        annotations["consul.hashicorp.com/enable-consul-dataplane-as-sidecar"] = override
    return classify_pod(pods.consul_k8s(mode, annotations=annotations))


def test_consul_pods_get_desired_from_the_injector_unless_annotated():
    config = consul_config(helm_injector(f"-{FLAG}=true \\\n"), context="prod")
    assert config.family == "consul"
    assert config.injector == ("consul", "consul-connect-injector", "sidecar-injector")
    assert config.describe() == f"consul: native ({WHERE} arg -{FLAG}=true)"
    setting = desired_setting(consul_pod(), config)
    assert (setting.mode, setting.source) == ("native", f"{WHERE} arg -{FLAG}=true")
    annotated = desired_setting(consul_pod("native", override="false"), config)
    assert annotated.mode == "traditional"
    assert annotated.source == (
        "pod annotation consul.hashicorp.com/enable-consul-dataplane-as-sidecar"
    )


def test_consul_too_old_ignores_the_pod_annotation():
    config = consul_config(argv_injector(image="hashicorp/consul-k8s-control-plane:1.7.4"))
    assert config.native_supported is False
    assert desired_setting(consul_pod(override="true"), config).mode == "traditional"


def test_pre_1_0_consul_pods_belong_to_the_consul_mesh():
    config = consul_config(helm_injector())
    row = classify_pod(pods.consul_before_1_0())
    assert desired_setting(row, config).mode == "traditional"


def test_consul_status_is_quiet_about_helm_and_says_when_the_injector_is_missing():
    # The Helm caveat is said by a switch that changes the flag, not by every status.
    assert consul_config(helm_injector()).warnings == []
    missing = consul_config(None)
    assert missing.mesh_wide.native is None
    assert "component=connect-injector" in missing.mesh_wide.source
    assert desired_setting(consul_pod(), missing).native is None


def test_other_meshes_pods_are_unknown_under_a_consul_config():
    config = consul_config(helm_injector(f"-{FLAG}=true \\\n"))
    setting = desired_setting(classify_pod(pods.istio("native")), config)
    assert setting.native is None and "istio" in setting.source


# consul_injector_patch: what a later `switch --mesh consul` sends as a strategic merge patch.


def applied(deployment, patch):
    """The Deployment after the API server merged the container entry (lists are replaced)."""
    result = copy.deepcopy(deployment)
    container = result["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == patch["name"]
    container.update({key: value for key, value in patch.items() if key != "name"})
    return result


HELM_FALSE = helm_injector()
HELM_TRUE = helm_injector(f"-{FLAG}=true \\\n")


@pytest.mark.parametrize(
    "deployment, native, expected",
    [
        (
            HELM_FALSE,
            True,
            {
                "name": "sidecar-injector",
                "command": ["/bin/sh", "-ec", helm_script(f"-{FLAG}=true \\\n")],
            },
        ),
        (
            HELM_TRUE,
            False,
            {"name": "sidecar-injector", "command": ["/bin/sh", "-ec", helm_script()]},
        ),
        (
            helm_injector(f"'-{FLAG}=false' \\\n"),
            True,
            {
                "name": "sidecar-injector",
                "command": ["/bin/sh", "-ec", helm_script(f"'-{FLAG}=true' \\\n")],
            },
        ),
        (
            argv_injector(f"--{FLAG}=false", "-log-level=info"),
            True,
            {
                "name": "sidecar-injector",
                "args": ["inject-connect", "-listen=:8080", f"--{FLAG}=true", "-log-level=info"],
            },
        ),
        (
            argv_injector(f"-{FLAG}"),
            False,
            {
                "name": "sidecar-injector",
                "args": ["inject-connect", "-listen=:8080", f"-{FLAG}=false"],
            },
        ),
        # Every occurrence, so no earlier or later one decides instead.
        (
            argv_injector(f"-{FLAG}=false", "-x=1", f"-{FLAG}=0"),
            True,
            {
                "name": "sidecar-injector",
                "args": [
                    "inject-connect",
                    "-listen=:8080",
                    f"-{FLAG}=true",
                    "-x=1",
                    f"-{FLAG}=true",
                ],
            },
        ),
        # Absent: right after the subcommand, wherever that is.
        (
            argv_injector("-log-level=info"),
            True,
            {
                "name": "sidecar-injector",
                "args": ["inject-connect", f"-{FLAG}=true", "-listen=:8080", "-log-level=info"],
            },
        ),
        (
            consul_injector(
                command=["consul-k8s-control-plane", "inject-connect"], args=["-listen=:8080"]
            ),
            True,
            {"name": "sidecar-injector", "args": [f"-{FLAG}=true", "-listen=:8080"]},
        ),
        (
            consul_injector(
                command=["consul-k8s-control-plane", "inject-connect", "-listen=:8080"]
            ),
            True,
            {
                "name": "sidecar-injector",
                "command": [
                    "consul-k8s-control-plane",
                    "inject-connect",
                    f"-{FLAG}=true",
                    "-listen=:8080",
                ],
            },
        ),
        (
            helm_injector("-enable-webhook-ca-update \\\n"),
            True,
            {
                "name": "sidecar-injector",
                "command": [
                    "/bin/sh",
                    "-ec",
                    helm_script("-enable-webhook-ca-update \\\n").replace(
                        "inject-connect \\\n", f"inject-connect -{FLAG}=true \\\n", 1
                    ),
                ],
            },
        ),
        # Already so: nothing to send.
        (HELM_FALSE, False, None),
        (HELM_TRUE, True, None),
        (argv_injector(), False, None),
        # An invalid value is fixed either way.
        (
            argv_injector(f"-{FLAG}=yes"),
            False,
            {
                "name": "sidecar-injector",
                "args": ["inject-connect", "-listen=:8080", f"-{FLAG}=false"],
            },
        ),
    ],
)
def test_consul_injector_patch_changes_only_the_flag(deployment, native, expected):
    patch = consul_injector_patch(deployment, native)
    assert patch == expected
    if patch is not None:
        assert consul_setting(applied(deployment, patch)).native is native


@pytest.mark.parametrize(
    "deployment, message",
    [
        (
            argv_injector(image="hashicorp/consul-k8s-control-plane:1.8.1"),
            "runs consul-k8s 1.8.1 without -default-enable-consul-dataplane-as-sidecar",
        ),
        (
            argv_injector(image="hashicorp/consul-k8s-control-plane@sha256:0123abcd"),
            "a consul-k8s of unknown version",
        ),
        (
            consul_injector(command=["/bin/webhook"]),
            "runs no `consul-k8s-control-plane inject-connect`",
        ),
    ],
)
def test_consul_injector_patch_refuses_what_could_stop_the_injector(deployment, message):
    with pytest.raises(SidecarError, match=re.escape(message)):
        consul_injector_patch(deployment, True)
