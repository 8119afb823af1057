"""The plugin's own HTTP transport (transport.py) where kubectl's flags and kubeconfig fields
choose how to reach the API server: the name TLS checks, and proxies. Each verdict is compared
with real kubectl's on the same configuration."""

import base64
import json
import subprocess

import pytest

from tests.harness.controlplane import ADMIN_TOKEN
from tests.harness.proxy import ConnectProxy

# The harness's serving certificate names IP:127.0.0.1 and DNS:localhost (harness/credentials.py).
# A name only the test proxy resolves, for a server kubectl too must reach through the proxy: kubectl
# never sends a loopback address (or "localhost") through a proxy named in the environment.
PROXIED_NAME = "kube.test"


def run(args, env):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def test_tls_server_name_is_what_the_certificate_is_checked_against(kubectl, control_plane):
    server = control_plane.state["server"]
    for command in (["kubectl", "sidecar", "status", "-A"], ["kubectl", "get", "pods", "-A"]):
        done = run([*command, "--tls-server-name", "localhost"], kubectl.env)
        assert done.returncode == 0, (command, done.stderr)
    ours = kubectl.sidecar("status", "-A", "--tls-server-name", "wrong.example")
    assert ours.returncode == 1
    assert ours.stderr.splitlines() == [
        f"error: TLS with {server} (context admin) failed: "
        "the server's certificate is not valid for 'wrong.example'"
    ]
    theirs = kubectl("get", "pods", "-A", "--tls-server-name", "wrong.example")
    assert theirs.returncode == 1
    assert "certificate is valid for localhost, not wrong.example" in theirs.stderr


def kubeconfig_through(control_plane, path, proxy_url=None, server_name=PROXIED_NAME):
    """The admin's kubeconfig, its server named server_name (checked as localhost), through
    proxy_url when given."""
    port = control_plane.state["ports"]["apiserver"]
    cluster = {
        "server": f"https://{server_name}:{port}",
        "certificate-authority": str(control_plane.certs / "ca.crt"),
        "tls-server-name": "localhost",
    }
    if proxy_url:
        cluster["proxy-url"] = proxy_url
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "proxied",
                "clusters": [{"name": "proxied", "cluster": cluster}],
                "users": [{"name": "proxied", "user": {"token": ADMIN_TOKEN}}],
                "contexts": [
                    {"name": "proxied", "context": {"cluster": "proxied", "user": "proxied"}}
                ],
            }
        )
    )
    return str(path)


def without_proxies(env):
    return {key: value for key, value in env.items() if not key.lower().endswith("_proxy")}


@pytest.mark.parametrize("tls", [False, True], ids=["http-proxy", "https-proxy"])
def test_the_kubeconfigs_proxy_url_carries_status_as_it_carries_kubectl(
    kubectl, control_plane, tmp_path, tls
):
    port = control_plane.state["ports"]["apiserver"]
    certificate = None
    env = without_proxies(kubectl.env)
    if tls:
        certs = control_plane.certs
        certificate = (str(certs / "serving.crt"), str(certs / "serving.key"))
        # Our https:// proxy's certificate is checked against the system's CAs (kubectl checks
        # it against the cluster's CA, the same one here).
        env["SSL_CERT_FILE"] = str(certs / "ca.crt")
    with ConnectProxy({PROXIED_NAME: "127.0.0.1"}, certificate) as proxy:
        proxy_url = proxy.url.replace("://", "://alice:s%40cret@")
        env["KUBECONFIG"] = kubeconfig_through(control_plane, tmp_path / "config", proxy_url)
        authorization = "Basic " + base64.b64encode(b"alice:s@cret").decode()
        for command in (["kubectl", "sidecar", "status", "-A"], ["kubectl", "get", "pods", "-A"]):
            proxy.seen.clear()
            done = run(command, env)
            assert done.returncode == 0, (command, done.stderr)
            assert proxy.connects()
            assert set(proxy.connects()) == {(f"{PROXIED_NAME}:{port}", authorization)}, command


def test_https_proxy_and_no_proxy_in_the_environment(kubectl, control_plane, tmp_path):
    port = control_plane.state["ports"]["apiserver"]
    with ConnectProxy({PROXIED_NAME: "127.0.0.1"}) as proxy:
        config = kubeconfig_through(control_plane, tmp_path / "config")
        env = dict(without_proxies(kubectl.env), KUBECONFIG=config, HTTPS_PROXY=proxy.url)
        for command in (["kubectl", "sidecar", "status", "-A"], ["kubectl", "get", "pods", "-A"]):
            proxy.seen.clear()
            done = run(command, env)
            assert done.returncode == 0, (command, done.stderr)
            assert proxy.connects()
            assert set(proxy.connects()) == {(f"{PROXIED_NAME}:{port}", None)}, command
        # NO_PROXY naming the server: straight to it (its own address: the proxied name
        # resolves nowhere else).
        direct = kubeconfig_through(control_plane, tmp_path / "direct", server_name="127.0.0.1")
        proxy.seen.clear()
        done = run(
            ["kubectl", "sidecar", "status", "-A"],
            dict(env, KUBECONFIG=direct, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1"),
        )
        assert done.returncode == 0, done.stderr
        assert proxy.seen == []
        # Without it, the proxy carries even a loopback address (kubectl never proxies those).
        done = run(["kubectl", "sidecar", "status", "-A"], dict(env, KUBECONFIG=direct))
        assert done.returncode == 0, done.stderr
        assert set(proxy.connects()) == {(f"127.0.0.1:{port}", None)}


def test_a_proxy_that_cannot_reach_the_server_is_said_and_named(kubectl, control_plane, tmp_path):
    port = control_plane.state["ports"]["apiserver"]
    with ConnectProxy() as proxy:  # PROXIED_NAME resolves nowhere: it answers 502
        env = dict(without_proxies(kubectl.env), KUBECONFIG=str(tmp_path / "config"))
        kubeconfig_through(control_plane, tmp_path / "config", proxy.url)
        ours = run(["kubectl", "sidecar", "status", "-A"], env)
        theirs = run(["kubectl", "get", "pods", "-A"], env)
    assert ours.returncode == 1 and theirs.returncode == 1
    assert ours.stderr.splitlines() == [
        f"error: the connection to the server {PROXIED_NAME}:{port} (context proxied) failed: "
        f"the proxy {proxy.url} answered CONNECT {PROXIED_NAME}:{port} with 502 Bad Gateway. "
        "Is the cluster running, and is this the right context?"
    ]


def test_a_proxy_scheme_we_cannot_use_is_one_line(kubectl, control_plane, tmp_path):
    # kubectl supports socks5:// too; urllib3's ProxyManager, used before, refused it as well.
    env = dict(without_proxies(kubectl.env), KUBECONFIG=str(tmp_path / "config"))
    kubeconfig_through(control_plane, tmp_path / "config", "socks5://127.0.0.1:1080")
    done = run(["kubectl", "sidecar", "status", "-A"], env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: context proxied: proxy socks5://127.0.0.1:1080: socks5:// proxies are not "
        "supported, only http:// and https://"
    ]
