"""Connection errors through the real cluster module: no API server is needed to see them."""

import socket

import pytest
import yaml

from kubectl_sidecar import resources
from kubectl_sidecar.cluster import Cluster
from kubectl_sidecar.errors import Unreachable
from kubectl_sidecar.plainconfig import configuration


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def kubeconfig(tmp_path):
    port = closed_port()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [{"name": "dev", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "dev", "user": {"token": "t0ken"}}],
        "contexts": [
            {"name": "dev", "context": {"cluster": "dev", "user": "dev", "namespace": "shop"}}
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    return path


def test_unreachable_server_is_one_clear_line(kubeconfig, run):
    result = run("status", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: the connection to the server 127.0.0.1:")
    assert "connection refused" in message and "context dev" in message
    assert len(message.splitlines()) == 1


def test_kubeconfig_env_list_is_honoured(kubeconfig, tmp_path, run):
    result = run("status", env={"KUBECONFIG": f"{tmp_path}/missing:{kubeconfig}"})
    assert "the connection to the server 127.0.0.1" in result.stderr


def test_unknown_context_is_a_usage_error(kubeconfig, run):
    result = run("status", "--kubeconfig", str(kubeconfig), "--context", "prod")
    assert result.exit_code == 2
    assert result.stderr.strip() == 'error: context "prod" does not exist in the kubeconfig'


def test_missing_kubeconfig(tmp_path, run):
    result = run(
        "status", env={"KUBECONFIG": str(tmp_path / "nope"), "KUBERNETES_SERVICE_HOST": ""}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no kubeconfig found")
    explicit = run("status", "--kubeconfig", str(tmp_path / "nope"))
    # A kubeconfig problem exits 1 however the file was named (issue 20, item 8).
    assert explicit.exit_code == 1 and "does not exist" in explicit.stderr


def test_garbage_kubeconfig(tmp_path, run):
    path = tmp_path / "config"
    path.write_text("this: [is not: a kubeconfig")
    result = run("status", "--kubeconfig", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: can't read kubeconfig")
    assert "Traceback" not in result.stderr


def test_the_first_kubeconfig_in_the_list_to_set_a_current_context_wins(kubeconfig, tmp_path, run):
    # kubectl's merge rule; the client library alone would let the last file win.
    other = yaml.safe_load(kubeconfig.read_text())
    other["current-context"] = "prod"
    other["clusters"] = [{"name": "prod", "cluster": {"server": "http://127.0.0.1:1"}}]
    other["contexts"] = [{"name": "prod", "context": {"cluster": "prod", "user": "dev"}}]
    second = tmp_path / "second"
    second.write_text(yaml.safe_dump(other))
    unset = tmp_path / "unset"
    unset.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": []}))
    result = run("status", env={"KUBECONFIG": f"{unset}:{kubeconfig}:{second}"})
    assert "context dev" in result.stderr and "prod" not in result.stderr


def test_a_request_that_hangs_names_the_limit_it_was_given():
    # A server that accepts and never answers: the write's own limit (what is left of
    # --timeout) is what it waited, not the default connect limit.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        cluster = Cluster(configuration({"server": server}, {"token": "t0ken"}), "dev", "shop")
        with pytest.raises(Unreachable) as caught:
            cluster.patch(
                resources.DEPLOYMENTS,
                "cart",
                {},
                "application/merge-patch+json",
                "shop",
                timeout=1.5,
            )
    assert caught.value.format_message() == (
        f"the server {server} (context dev) did not answer within 1.5s"
    )
