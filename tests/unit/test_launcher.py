"""bin/kubectl-sidecar run by a python3 that lacks our dependencies: one line, exit 1."""
import os
import subprocess
import sys
from pathlib import Path

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
        "sys.meta_path.insert(0, _Missing())\n")
    config = tmp_path / "none"
    if kubeconfig is not None:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), KUBECONFIG=str(config))
    return subprocess.run([sys.executable, str(LAUNCHER), *args], env=env, capture_output=True, text=True)


def test_missing_kubernetes_package_is_one_line(tmp_path):
    done = _run_without("kubernetes", tmp_path, "status", kubeconfig=EXEC_KUBECONFIG)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: the Python package 'kubernetes' is missing for {sys.executable}: "
        "pip install click kubernetes PyYAML (or pip install kubectl-sidecar)"]


def test_missing_click_is_one_line(tmp_path):
    done = _run_without("click", tmp_path, "--help")
    assert done.returncode == 1
    assert "'click' is missing" in done.stderr and "Traceback" not in done.stderr


def test_help_works_with_everything_installed(tmp_path):
    done = subprocess.run([sys.executable, str(LAUNCHER), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "status" in done.stdout
