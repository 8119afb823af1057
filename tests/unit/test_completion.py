"""Completion: kubectl's plugin protocol (what kubectl_complete-sidecar prints, byte for byte) and
click's own scripts for kubectl-sidecar run directly. Cluster-backed values are in the e2e tier."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubectl_sidecar.cli import MESHES, cli
from kubectl_sidecar.completion import protocol_output

BIN = Path(__file__).resolve().parents[2] / "bin"


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a closed port: the cluster can't answer
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "dev",
                "clusters": [{"name": "dev", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "dev", "user": {"token": "t"}}],
                "contexts": [
                    {
                        "name": "dev",
                        "context": {"cluster": "dev", "user": "dev", "namespace": "shop"},
                    },
                    {
                        "name": "prod",
                        "context": {"cluster": "dev", "user": "dev", "namespace": "payments"},
                    },
                ],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def test_subcommands_with_descriptions_then_the_directive():
    assert protocol_output([""]) == (
        "completion\tPrint the shell completion script for kubectl-sidecar\n"
        "restart\tRestart workloads whose pods differ from the configured mode\n"
        "status\tShow each pod's sidecar mode and what needs a restart\n"
        "switch\tSwitch the mesh or workloads to native or traditional sidecars\n"
        "version\tShow the version, commit, Python and kubernetes client\n"
        ":4\n"
    )


def test_subcommands_by_prefix():
    assert protocol_output(["s"]).splitlines() == [
        "status\tShow each pod's sidecar mode and what needs a restart",
        "switch\tSwitch the mesh or workloads to native or traditional sidecars",
        ":4",
    ]


def test_flag_names_with_their_help():
    lines = protocol_output(["status", "--as"]).splitlines()
    assert lines == [
        "--as\tUsername to impersonate for the operation (a user or "
        "system:serviceaccount:NS:NAME; both connections)",
        "--as-group\tGroup to impersonate for the operation (repeatable; both connections)",
        "--as-uid\tUID to impersonate for the operation (both connections)",
        ":4",
    ]


@pytest.mark.parametrize("command", ["status", "switch", "restart"])
def test_every_flag_of_the_command_tree_is_offered(command):
    offered = {line.split("\t")[0] for line in protocol_output([command, "-"]).splitlines()}
    declared = {
        name
        for param in cli.commands[command].params
        for name in getattr(param, "opts", [])
        if name.startswith("-")
    }
    assert declared and declared <= offered


def test_a_flag_already_given_is_not_offered_again_unless_repeatable():
    offered = protocol_output(["status", "--as-group", "a", "--token", "t", "--"])
    assert "--as-group\t" in offered and "--token\t" not in offered


@pytest.mark.parametrize(
    "words, expected",
    [
        (["status", "-o", ""], "table\nwide\njson\nyaml\n:4\n"),
        (["status", "--output", "j"], "json\n:4\n"),
        (["status", "--mesh", ""], "".join(f"{mesh}\n" for mesh in MESHES) + ":4\n"),
        (["switch", "--traditional", "--dry-run", ""], "none\nclient\nserver\n:4\n"),
        (["status", "--selector", ""], ":4\n"),  # free text: nothing to offer, and no file names
    ],
)
def test_flag_values(words, expected):
    assert protocol_output(words) == expected


@pytest.mark.parametrize("flag", ["--kubeconfig", "--client-key", "--certificate-authority"])
def test_path_flags_let_the_shell_complete_file_names(flag):
    assert protocol_output(["status", flag, ""]) == ":0\n"


def test_contexts_from_the_kubeconfig(kubeconfig):
    assert protocol_output(["status", "--context", ""]) == "dev\nprod\n:4\n"
    assert protocol_output(["switch", "--mesh-context", "p"]) == "prod\n:4\n"


def test_namespaces_fall_back_to_the_kubeconfigs_when_the_cluster_cant_answer(kubeconfig):
    assert protocol_output(["status", "-n", ""]) == "payments\nshop\n:4\n"
    assert protocol_output(["status", "--namespace=s"]) == "shop\n:4\n"


def test_helper_is_silent_and_quick_without_a_cluster(kubeconfig):
    # Run as kubectl runs it: from PATH, its stderr going to the user's terminal.
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(BIN / "kubectl_complete-sidecar"),
            "switch",
            "-n",
            "",
            "--traditional",
            "",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, KUBECONFIG=str(kubeconfig)),
        cwd="/",
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout == ":4\n"  # no workloads: the cluster is down, and no file names either
    assert time.monotonic() - started < 10


def test_completion_scripts_for_kubectl_sidecar_run_directly(run):
    for shell, marker in (
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef kubectl-sidecar"),
        ("fish", "complete --no-files --command kubectl-sidecar"),
    ):
        result = run("completion", shell)
        assert result.exit_code == 0 and marker in result.stdout
        assert "_KUBECTL_SIDECAR_COMPLETE" in result.stdout
    bad = run("completion", "tcsh")
    assert bad.exit_code == 2


def test_click_completion_answers_the_script(kubeconfig):
    # What the bash script asks when the user types `kubectl-sidecar status --context <TAB>`.
    env = dict(
        os.environ,
        _KUBECTL_SIDECAR_COMPLETE="bash_complete",
        COMP_WORDS="kubectl-sidecar status --context ",
        COMP_CWORD="3",
    )
    done = subprocess.run(
        [sys.executable, str(BIN / "kubectl-sidecar")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["plain,dev", "plain,prod"]


def test_values_come_from_the_kubeconfig_named_earlier_on_the_line(
    kubeconfig, monkeypatch, tmp_path
):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "elsewhere"))
    assert protocol_output(["status", "--context", ""]) == ":4\n"
    assert (
        protocol_output(["status", "--kubeconfig", str(kubeconfig), "--context", ""])
        == "dev\nprod\n:4\n"
    )
    assert (
        protocol_output(["status", "--kubeconfig", str(kubeconfig), "-n", ""])
        == "payments\nshop\n:4\n"
    )
