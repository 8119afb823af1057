"""`make demo` / hack/control-plane without a usable Go: one line saying what to install, exit 1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path, module, *args, go_version=None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if go_version:  # a real executable answering `go env GOVERSION` as that release would
        (bin_dir / "go").write_text(f"#!/bin/sh\necho {go_version}\n")
        (bin_dir / "go").chmod(0o755)
    env = dict(
        os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", KUBECTL_SIDECAR_CACHE=str(tmp_path / "cache")
    )
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "module, args",
    [
        ("tests.harness.demo", ["up"]),
        ("tests.harness.controlplane", ["up"]),
        ("tests.harness.build", []),
    ],
)
def test_without_go_one_line_names_the_go_version_needed(tmp_path, module, args):
    done = _run(tmp_path, module, *args)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: Go is not installed: ")
    assert "needs Go 1.26 or newer" in line and "https://go.dev/dl/" in line


def test_a_go_too_old_is_named(tmp_path):
    done = _run(tmp_path, "tests.harness.demo", "up", go_version="go1.22.5")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: Go 1.22 is too old: ")
