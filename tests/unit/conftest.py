"""Fixtures for the CLI tests: run the real CLI, and connect it to a FakeCluster."""

import pytest
from click.testing import CliRunner

from kubectl_sidecar.cli import cli


@pytest.fixture
def run():
    """run(*args, input=None, env=None): the CLI as kubectl would invoke it, output captured."""

    def invoke(*args, input=None, env=None):
        return CliRunner().invoke(
            cli, list(args), prog_name="kubectl sidecar", input=input, env=env
        )

    return invoke


@pytest.fixture
def connect_to(mocker):
    """connect_to(cluster, ...): the CLI's connections go to these clusters in turn (the first
    for every connection when only one is given). Returns the mock, to see what was asked."""

    def patch(*clusters):
        if len(clusters) == 1:
            return mocker.patch("kubectl_sidecar.kubeconfig.connect", return_value=clusters[0])
        return mocker.patch("kubectl_sidecar.kubeconfig.connect", side_effect=list(clusters))

    return patch


@pytest.fixture(scope="session")
def cert_pair(tmp_path_factory):
    """A throwaway self-signed certificate and key (the TLS context loads them for real)."""
    import subprocess

    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "client.crt", directory / "client.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=test",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture(autouse=True)
def _canary_off(monkeypatch):
    """The unit tier's switch tests run with the canary (canary.py) off: their FakeCluster has
    no admission chain to answer a dry-run pod create. Tests of the canary turn it back on
    (monkeypatch.delenv) and give the FakeCluster an admission model (admission=)."""
    monkeypatch.setenv("KUBECTL_SIDECAR_NO_CANARY", "1")
