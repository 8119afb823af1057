"""plainconfig: the users read without the official client, read as the client reads them."""

import base64
import json

import pytest

from kubectl_sidecar import kubeconfig, plainconfig

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def authorization(configuration):
    return configuration.auth_settings().get("BearerToken", {}).get("value")


def client_configuration(cluster, user):
    """What the official client makes of the same entries: the reference."""
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "c", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "c"}}],
    }
    configuration = Configuration()
    kube_config.load_kube_config_from_dict(
        config, client_configuration=configuration, persist_config=False
    )
    return configuration


@pytest.fixture
def files(tmp_path):
    for name in ("ca.crt", "me.crt", "me.key"):
        (tmp_path / name).write_text("pem")
    return tmp_path


@pytest.mark.parametrize(
    "cluster, user",
    [
        (
            {"server": "https://10.0.0.1:6443/", "certificate-authority": "DIR/ca.crt"},
            {"token": "abc"},
        ),
        (
            {
                "server": "https://10.0.0.1:6443",
                "insecure-skip-tls-verify": True,
                "tls-server-name": "api.internal",
                "proxy-url": "http://proxy:3128",
            },
            {"username": "admin", "password": "s3cret"},
        ),
        (
            {"server": "https://10.0.0.1:6443", "certificate-authority": "DIR/ca.crt"},
            {"client-certificate": "DIR/me.crt", "client-key": "DIR/me.key"},
        ),
        ({"server": "http://127.0.0.1:8080"}, {}),
    ],
)
def test_reads_entries_as_the_client_does(files, cluster, user):
    cluster, user = (
        json.loads(json.dumps(entry).replace("DIR", str(files))) for entry in (cluster, user)
    )
    ours, theirs = plainconfig.configuration(cluster, user), client_configuration(cluster, user)
    for name in (
        "host",
        "verify_ssl",
        "ssl_ca_cert",
        "cert_file",
        "key_file",
        "tls_server_name",
        "proxy",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert authorization(ours) == (theirs.api_key.get("BearerToken") or None)


def test_a_token_file_is_read_without_its_newline(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    configuration = plainconfig.configuration(
        {"server": "https://h"}, {"tokenFile": str(tmp_path / "token")}
    )
    assert authorization(configuration) == "Bearer from-file"


def test_certificate_authority_data_is_handed_over_as_text_not_a_file():
    data = base64.b64encode(CA_PEM.encode()).decode()
    configuration = plainconfig.configuration(
        {"server": "https://h", "certificate-authority-data": data}, {"token": "t"}
    )
    assert configuration.ca_cert_data == CA_PEM and configuration.ssl_ca_cert is None


@pytest.mark.parametrize(
    "cluster, user",
    [
        (
            {"server": "https://h"},
            {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws"}},
        ),
        ({"server": "https://h"}, {"auth-provider": {"name": "oidc", "config": {"id-token": "x"}}}),
        (
            {"server": "https://h"},
            {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"},
        ),
        ({"server": "https://h"}, {"token": "t", "some-future-field": "x"}),
        ({"server": "https://h", "certificate-authority": "/nonexistent/ca.crt"}, {"token": "t"}),
        ({"server": "https://h"}, {"tokenFile": "/nonexistent/token"}),
        ({"server": "https://h", "certificate-authority-data": "not base64!"}, {"token": "t"}),
    ],
)
def test_what_needs_the_client_or_its_error_message_is_left_to_it(cluster, user):
    assert plainconfig.configuration(cluster, user) is None


def kubeconfig_file(tmp_path, user, namespace="shop"):
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ctx",
                "clusters": [{"name": "c", "cluster": {"server": "https://h"}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [
                    {
                        "name": "ctx",
                        "context": {"cluster": "c", "user": "u", "namespace": namespace},
                    }
                ],
            }
        )
    )
    return str(path)


def test_connect_reads_a_token_context_without_the_client(tmp_path, mocker):
    load = mocker.patch("kubernetes.config.kube_config.load_kube_config_from_dict")
    cluster = kubeconfig.connect(kubeconfig_file(tmp_path, {"token": "t", "as": "jane"}))
    assert not load.called
    assert (cluster.context, cluster.namespace, cluster.host) == ("ctx", "shop", "https://h")
    headers = dict(cluster._headers())
    assert headers["Authorization"] == "Bearer t" and headers["Impersonate-User"] == "jane"


def test_connect_hands_an_exec_user_to_the_client(tmp_path, mocker):
    load = mocker.patch("kubernetes.config.kube_config.load_kube_config_from_dict")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "true"}}
    kubeconfig.connect(kubeconfig_file(tmp_path, user))
    assert load.call_args.args[0]["users"][0]["user"]["exec"]["command"] == "true"
