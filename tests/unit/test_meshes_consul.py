"""Consul: the connect-injector's flag as Go reads it, and rewriting it."""

import copy
import re

import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.errors import SidecarError
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes.consul import (
    consul_config,
    consul_injector_patch,
    consul_k8s_version,
    consul_setting,
    consul_supports_native,
    injector_flags,
)
from tests.unit import pods

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
    assert config.payload.injector == ("consul", "consul-connect-injector", "sidecar-injector")
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


def test_a_flag_change_is_undone_from_the_injector_as_read_just_before():
    """switch puts the flag back when the injector still injects the old mode (canary.py)."""
    from kubectl_sidecar.meshes.consul import InjectorChange, consul_injector_patch, consul_setting

    written = consul_injector_patch(HELM_FALSE, True)
    change = InjectorChange(
        "consul",
        "Deployment",
        "consul",
        "consul-connect-injector",
        "false",
        "true",
        None,
        "sidecar-injector",
        written,
        "1",
    )
    now = applied(HELM_FALSE, written)
    now["metadata"]["resourceVersion"] = "7"
    undo = change.undo(now)
    assert undo.body["metadata"] == {"resourceVersion": "7"}
    back = applied(now, undo.body["spec"]["template"]["spec"]["containers"][0])
    assert consul_setting(back).native is False


# --- the flags that decide which pods it injects ---------------------------------------------


def rules(default_inject, allow=(), deny=()):
    return (default_inject, frozenset(allow), frozenset(deny))


def read_rules(deployment):
    found = injector_flags(deployment)
    return None if found is None else (found.default_inject, found.allow, found.deny)


@pytest.mark.parametrize(
    "deployment, expected",
    [
        # helm_script's blank line ends the shell command: what follows is never read
        (helm_injector('-allow-k8s-namespace="*" \\\n'), rules(False)),
        # the chart: -default-inject=connectInject.default, -allow-k8s-namespace="*" quoted
        (
            consul_injector(
                command=[
                    "/bin/sh",
                    "-ec",
                    "exec consul-k8s-control-plane inject-connect \\\n"
                    "  -default-inject=false \\\n"
                    '  -allow-k8s-namespace="*" \\\n'
                    '  -allow-k8s-namespace="shop" \\\n'
                    '  -deny-k8s-namespace="legacy" \\\n'
                    "  -enable-webhook-ca-update \\\n"
                    "  -listen=:8080\n",
                ]
            ),
            rules(False, {"*", "shop"}, {"legacy"}),
        ),
        # Go's defaults: -default-inject true, no namespace allowed
        (argv_injector(), rules(True)),
        (argv_injector("-allow-k8s-namespace=*"), rules(True, {"*"})),
        # a bare bool flag is true; the last one wins; a list flag takes the next word
        (argv_injector("-default-inject=false", "--default-inject"), rules(True, set())),
        (argv_injector("-allow-k8s-namespace", "shop"), rules(True, {"shop"})),
        (argv_injector("-enable-cni", "-default-inject=0"), rules(False)),
        # the first non-flag word, or --, ends the flags
        (argv_injector("extra", "-default-inject=false"), rules(True)),
        (argv_injector("--", "-default-inject=false"), rules(True)),
    ],
)
def test_consul_injector_flags_as_gos_flag_parser_reads_them(deployment, expected):
    assert read_rules(deployment) == expected


@pytest.mark.parametrize(
    "deployment",
    [
        # the injector won't start
        argv_injector("-default-inject=maybe"),
        argv_injector("---default-inject"),
        argv_injector("-allow-k8s-namespace"),
        # a bare flag we don't know may take the next word as its value
        argv_injector("-some-new-flag", "value"),
        # what a shell would make of an expansion, or of an unbalanced quote
        consul_injector(
            command=[
                "/bin/sh",
                "-ec",
                'exec consul-k8s-control-plane inject-connect -allow-k8s-namespace="$NS"',
            ]
        ),
        consul_injector(
            command=["/bin/sh", "-ec", "exec consul-k8s-control-plane inject-connect -listen='x"]
        ),
        # no injector container at all
        consul_injector(command=["consul-k8s-control-plane", "server-acl-init"]),
    ],
)
def test_consul_injector_flags_that_cant_be_told_are_none(deployment):
    assert injector_flags(deployment) is None


def test_a_line_continuation_is_removed_as_sh_removes_it():
    script = "exec consul-k8s-control-plane inject-connect -allow-k8s-namespace=sh\\\nop\n"
    found = injector_flags(consul_injector(command=["/bin/sh", "-ec", script]))
    assert found.allow == frozenset({"shop"})


def test_consul_injector_flags_stop_where_the_shell_command_ends():
    script = (
        "exec consul-k8s-control-plane inject-connect -default-inject=false; "
        "echo -default-inject=true\n-allow-k8s-namespace=shop"
    )
    found = injector_flags(consul_injector(command=["/bin/sh", "-ec", script]))
    assert (found.default_inject, found.allow, found.namespace) == (False, frozenset(), "consul")
