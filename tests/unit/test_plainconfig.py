"""plainconfig: the contexts read without the official client, read as the client reads them."""
import base64
import json

import pytest

from kubectl_sidecar import kubeconfig, plainconfig

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write(path, clusters=(), users=(), contexts=(), current=None):
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": n, "cluster": c} for n, c in clusters],
              "users": [{"name": n, "user": u} for n, u in users],
              "contexts": [{"name": n, "context": c} for n, c in contexts]}
    if current:
        config["current-context"] = current
    path.write_text(json.dumps(config))
    return str(path)


def one_context(tmp_path, cluster, user, namespace=None, name="kubeconfig"):
    context = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    return write(tmp_path / name, clusters=[("c", cluster)], users=[("u", user)],
                 contexts=[("ctx", context)], current="ctx")


def authorization(configuration):
    return configuration.auth_settings().get("BearerToken", {}).get("value")


def client_configuration(path, context=None):
    """What the official client makes of the same file: the reference."""
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config

    configuration = Configuration()
    kube_config.load_kube_config(config_file=path, context=context,
                                 client_configuration=configuration, persist_config=False)
    return configuration


@pytest.mark.parametrize("cluster, user", [
    ({"server": "https://10.0.0.1:6443/", "certificate-authority": "ca.crt"}, {"token": "abc"}),
    ({"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True,
      "tls-server-name": "api.internal", "proxy-url": "http://proxy:3128"},
     {"username": "admin", "password": "s3cret"}),
    ({"server": "https://10.0.0.1:6443", "certificate-authority": "ABS/ca.crt"},
     {"client-certificate": "certs/me.crt", "client-key": "certs/me.key"}),
    ({"server": "http://127.0.0.1:8080"}, {}),
])
def test_reads_a_context_as_the_client_does(tmp_path, cluster, user):
    (tmp_path / "certs").mkdir()
    for name in ("ca.crt", "certs/me.crt", "certs/me.key"):
        (tmp_path / name).write_text("pem")
    if "certificate-authority" in cluster:
        cluster = dict(cluster, **{"certificate-authority": cluster["certificate-authority"]
                                   .replace("ABS", str(tmp_path))})
    path = one_context(tmp_path, cluster, user)
    ours, context, namespace = plainconfig.load([path])
    theirs = client_configuration(path)
    assert (context, namespace) == ("ctx", "default")
    for field in ("host", "verify_ssl", "ssl_ca_cert", "cert_file", "key_file", "tls_server_name",
                  "proxy"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert authorization(ours) == (theirs.api_key.get("BearerToken") or None)


def test_a_token_file_relative_to_its_kubeconfig(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    path = one_context(tmp_path, {"server": "https://h"}, {"tokenFile": "token"}, namespace="shop")
    configuration, _, namespace = plainconfig.load([path])
    assert authorization(configuration) == "Bearer from-file" and namespace == "shop"


def test_certificate_authority_data_is_handed_over_as_text_not_a_file(tmp_path):
    data = base64.b64encode(CA_PEM.encode()).decode()
    path = one_context(tmp_path, {"server": "https://h", "certificate-authority-data": data},
                       {"token": "t"})
    configuration, _, _ = plainconfig.load([path])
    assert configuration.ca_cert_data == CA_PEM and configuration.ssl_ca_cert is None


def test_several_files_merge_as_kubectl_merges_them(tmp_path):
    first = write(tmp_path / "a", clusters=[("c", {"server": "https://first"})],
                  users=[("u", {"token": "first"})],
                  contexts=[("ctx", {"cluster": "c", "user": "u"})])
    second = write(tmp_path / "b", clusters=[("c", {"server": "https://second"}),
                                             ("d", {"server": "https://d"})],
                   users=[("u", {"token": "second"})],
                   contexts=[("ctx", {"cluster": "d", "user": "u"}),
                             ("other", {"cluster": "d", "user": "u"})], current="other")
    configuration, context, _ = plainconfig.load([first, second])
    assert context == "other" and configuration.host == "https://d"
    configuration, _, _ = plainconfig.load([first, second], "ctx")
    assert configuration.host == "https://first" and authorization(configuration) == "Bearer first"


@pytest.mark.parametrize("user", [
    {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws"}},
    {"auth-provider": {"name": "oidc", "config": {"id-token": "x"}}},
    {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"},
    {"token": "t", "as": "someone-else"},
])
def test_what_needs_the_client_is_left_to_it(tmp_path, user):
    assert plainconfig.load([one_context(tmp_path, {"server": "https://h"}, user)]) is None


def test_unknown_contexts_missing_and_unreadable_files_are_left_to_the_client(tmp_path):
    path = one_context(tmp_path, {"server": "https://h"}, {"token": "t"})
    assert plainconfig.load([path], "nope") is None
    path = one_context(tmp_path, {"server": "https://h", "certificate-authority": "gone.crt"},
                       {"token": "t"})
    assert plainconfig.load([path]) is None
    (tmp_path / "bad").write_text("clusters: [")
    assert plainconfig.load([str(tmp_path / "bad")]) is None


def test_connect_uses_the_client_for_an_exec_user(tmp_path, mocker):
    path = one_context(tmp_path, {"server": "https://h"},
                       {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                 "command": "echo"}})
    load = mocker.patch("kubernetes.config.kube_config.load_kube_config")
    kubeconfig.connect(path)
    assert load.call_args.kwargs["context"] == "ctx"


def test_connect_reads_a_token_context_without_the_client(tmp_path, mocker):
    load = mocker.patch("kubernetes.config.kube_config.load_kube_config")
    cluster = kubeconfig.connect(one_context(tmp_path, {"server": "https://h"}, {"token": "t"},
                                             namespace="shop"))
    assert not load.called
    assert (cluster.context, cluster.namespace, cluster.host) == ("ctx", "shop", "https://h")
    assert cluster._headers()["Authorization"] == "Bearer t"
