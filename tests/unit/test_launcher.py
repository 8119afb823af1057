"""bin/kubectl-sidecar run by a python3 that lacks our dependencies: one line, exit 1."""

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).resolve().parents[2] / "bin" / "kubectl-sidecar"


# A user with an exec credential plugin: only the official client loads such a context.
EXEC_KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: cloud
clusters: [{name: cloud, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: cloud, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "true"}}}]
contexts: [{name: cloud, context: {cluster: cloud, user: cloud}}]
"""


def _run_without(package, tmp_path, *args, kubeconfig=None):
    # A sitecustomize that makes importing `package` fail, as on a python3 without it installed.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {package!r} or name.startswith({package + '.'!r}):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Missing())\n"
    )
    config = tmp_path / "none"
    if kubeconfig is not None:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), KUBECONFIG=str(config))
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args], env=env, capture_output=True, text=True
    )


def test_missing_kubernetes_package_is_one_line(tmp_path):
    done = _run_without("kubernetes", tmp_path, "status", kubeconfig=EXEC_KUBECONFIG)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: the Python package 'kubernetes' is missing for {sys.executable}: "
        "pip install click kubernetes PyYAML (or pip install kubectl-sidecar)"
    ]


def test_missing_click_is_one_line(tmp_path):
    done = _run_without("click", tmp_path, "--help")
    assert done.returncode == 1
    assert "'click' is missing" in done.stderr and "Traceback" not in done.stderr


def test_help_works_with_everything_installed(tmp_path):
    done = subprocess.run([sys.executable, str(LAUNCHER), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "status" in done.stdout


def test_an_archives_vendor_dir_comes_before_this_pythons_site_packages(tmp_path):
    # The archive's layout, with a vendored kubernetes that differs from the one installed here.
    repo = LAUNCHER.parents[1]
    shutil.copytree(repo / "bin", tmp_path / "bin")
    shutil.copytree(
        repo / "kubectl_sidecar",
        tmp_path / "kubectl_sidecar",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / "vendor" / "kubernetes").mkdir(parents=True)
    (tmp_path / "vendor" / "kubernetes" / "__init__.py").write_text("")
    (tmp_path / "vendor" / "kubernetes-99.0.0.dist-info").mkdir()
    (tmp_path / "vendor" / "kubernetes-99.0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kubernetes\nVersion: 99.0.0\n"
    )
    done = subprocess.run(
        [sys.executable, str(tmp_path / "bin" / "kubectl-sidecar"), "version"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "kubernetes: 99.0.0 (vendored)" in done.stdout.splitlines()


def _python39():
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    installed = sorted(glob.glob(f"{pyenv}/versions/3.9*/bin/python3.9"))
    for candidate in [shutil.which("python3.9"), *installed]:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


def test_a_python_older_than_3_10_is_named_in_one_line():
    python = _python39()
    if python is None:
        pytest.skip("no python3.9 on this machine")
    done = subprocess.run([python, str(LAUNCHER), "--help"], capture_output=True, text=True)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "error: kubectl-sidecar needs python3 3.10 or later; the python3 on PATH is 3.9."
    )
