"""What `kubectl sidecar version` reports: the plugin's version, the commit it was built from, the
Python running it and the kubernetes client it imports. What a bug report needs."""

import json
import platform
import re
import subprocess
import sys
from importlib import metadata, util
from pathlib import Path

from kubectl_sidecar import __version__

PACKAGE_DIR = Path(__file__).resolve().parent
# Written into the package by `make dist` (release/dist.py); absent in checkouts and pip installs.
BUILD_INFO = PACKAGE_DIR / "build-info.json"


def commit():
    """The commit this code was built from: baked into a release archive, read from git in a
    checkout, else "unknown"."""
    if BUILD_INFO.is_file():
        info = json.loads(BUILD_INFO.read_text())
        return info["commit"] + (" (with uncommitted changes)" if info.get("modified") else "")
    checkout = PACKAGE_DIR.parent
    if not (checkout / ".git").exists():
        return "unknown"
    try:
        head = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        changes = subprocess.run(
            ["git", "-C", str(checkout), "status", "--porcelain", "--", "kubectl_sidecar", "bin"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):  # no git: the checkout can't say
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" (with uncommitted changes)" if changes.stdout.strip() else "")


def kubernetes_client():
    """The version of the kubernetes package this Python would import, and where it is: the
    archive's vendor/ comes first on sys.path, so that may not be the one pip installed."""
    spec = util.find_spec("kubernetes")  # finds the package without importing it (that is slow)
    if spec is None or not spec.submodule_search_locations:
        return "not installed"
    location = Path(list(spec.submodule_search_locations)[0]).parent
    where = "vendored" if location == PACKAGE_DIR.parent / "vendor" else str(location)
    for distribution in metadata.distributions(path=[str(location)]):
        if re.sub(r"[-_.]+", "-", distribution.metadata["Name"] or "").lower() == "kubernetes":
            return f"{distribution.version} ({where})"
    return f"unknown ({where})"


def describe():
    return "\n".join(
        [
            f"kubectl-sidecar {__version__}",
            f"commit:     {commit()}",
            f"python:     {platform.python_version()} ({sys.executable})",
            f"kubernetes: {kubernetes_client()}",
        ]
    )
