"""What `status` imports before its first request (tests/startup_imports.py). Each case runs in a
new interpreter, as a user's command does."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.startup_imports import imported_modules, unneeded

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "bin" / "kubectl-sidecar"


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_status_imports_only_what_its_table_needs(tmp_path):
    # A token kubeconfig and a server that refuses the connection: every import up to and
    # including the first request's happens, and nothing after it is needed.
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [{"name": "dev", "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}],
        "users": [{"name": "dev", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
    }
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump(config))
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(PLUGIN), "status", "-A"],
        env=dict(env, KUBECONFIG=str(kubeconfig)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "connection refused" in done.stderr, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert {"kubectl_sidecar.transport", "kubectl_sidecar.status"} <= modules  # the path was taken
    assert unneeded(modules) == {}


KUBECONFIG_TEXT = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0
    server: https://[::1]:6443
    insecure-skip-tls-verify: true
  name: "prod: eu"
- cluster: {server: 'https://10.0.0.1', proxy-url: http://proxy:3128}
  name: dev
contexts:
- context: {cluster: "prod: eu", user: admin, namespace: 'shop'}
  name: prod
- context:
    cluster: dev
    user: aws
  name: dev  # a comment
current-context: prod
kind: Config
preferences: {}
users:
- name: admin
  user:
    token: "0123"
- name: aws
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, eu-west-1, eks, get-token, --cluster-name, prod]
      env:
      - name: AWS_PROFILE
        value: yes
      interactiveMode: IfAvailable
      provideClusterInfo: false
"""


def test_kubeconfigs_read_with_libyaml_are_read_as_pure_python_reads_them(tmp_path):
    from kubectl_sidecar.kubeconfig import read_kubeconfigs

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("this PyYAML has no libyaml: the pure-Python parser is the only one")
    path = tmp_path / "config"
    path.write_text(KUBECONFIG_TEXT)
    pure = yaml.load(KUBECONFIG_TEXT, Loader=yaml.SafeLoader)
    assert yaml.load(KUBECONFIG_TEXT, Loader=yaml.CSafeLoader) == pure
    merged = read_kubeconfigs([str(path)])
    assert merged.current_context == "prod"
    assert merged.clusters["prod: eu"][0]["insecure-skip-tls-verify"] is True
    assert merged.users["admin"][0]["token"] == "0123"
    assert merged.users["aws"][0]["exec"]["env"] == [{"name": "AWS_PROFILE", "value": True}]
