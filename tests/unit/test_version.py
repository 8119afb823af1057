"""`kubectl sidecar version` / `--version`: what a bug report needs, wherever the code came from."""

import json
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from click.testing import CliRunner

from kubectl_sidecar import __version__
from kubectl_sidecar.cli import cli

REPO = Path(__file__).resolve().parents[2]


def _report(text):
    first, *rest = text.strip().splitlines()
    return first, {
        key.strip(): value.strip() for key, value in (line.split(":", 1) for line in rest)
    }


def test_version_command_reports_version_commit_python_and_kubernetes_client():
    result = CliRunner().invoke(cli, ["version"])
    assert result.exit_code == 0, result.output
    first, report = _report(result.output)
    assert first == f"kubectl-sidecar {__version__}"
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert report["commit"].split()[0] == head  # run from a checkout: read from git
    assert report["python"] == f"{platform.python_version()} ({sys.executable})"
    assert report["kubernetes"].startswith(metadata.version("kubernetes") + " (")


def test_version_option_prints_the_same_and_exits():
    by_option = CliRunner().invoke(cli, ["--version"])
    by_command = CliRunner().invoke(cli, ["version"])
    assert by_option.exit_code == 0 and by_option.output == by_command.output


def _copied_package(tmp_path, build_info=None):
    """The package outside any checkout, as pip or an archive leaves it."""
    shutil.copytree(
        REPO / "kubectl_sidecar",
        tmp_path / "kubectl_sidecar",
        ignore=shutil.ignore_patterns("__pycache__", "build-info.json"),
    )
    if build_info is not None:
        (tmp_path / "kubectl_sidecar" / "build-info.json").write_text(json.dumps(build_info))
    done = subprocess.run(
        [sys.executable, "-c", "from kubectl_sidecar import buildinfo; print(buildinfo.commit())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_commit_is_unknown_outside_a_checkout_without_build_info(tmp_path):
    assert _copied_package(tmp_path) == "unknown"


def test_commit_comes_from_the_build_info_make_dist_bakes_in(tmp_path):
    assert _copied_package(tmp_path, {"commit": "a" * 40, "epoch": 1}) == "a" * 40
    assert re.fullmatch(
        "b{40} \\(with uncommitted changes\\)",
        _copied_package(tmp_path / "m", {"commit": "b" * 40, "epoch": 1, "modified": True}),
    )
