"""kubectl's connection flags: what the Cluster they build would send, and where. No API server
needed: a Cluster is built without a request, and its headers are what every request carries."""

import os

import pytest
import yaml

from kubectl_sidecar import kubeconfig
from kubectl_sidecar.errors import InputError
from kubectl_sidecar.kubeconfig import Overrides


def write_config(path, **user):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [
            {
                "name": "dev",
                "cluster": {
                    "server": "https://dev.example:6443",
                    "certificate-authority": "ca.crt",
                },
            },
            {"name": "prod", "cluster": {"server": "https://prod.example:6443"}},
        ],
        "users": [
            {"name": "dev", "user": user or {"token": "dev-token"}},
            {"name": "ops", "user": {"token": "ops-token"}},
        ],
        "contexts": [
            {"name": "dev", "context": {"cluster": "dev", "user": "dev", "namespace": "shop"}}
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def config(tmp_path, cert_pair):
    (tmp_path / "ca.crt").write_text(open(cert_pair[0]).read())
    return write_config(tmp_path / "config")


def headers(cluster):
    return cluster._headers()


def test_server_and_token_need_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cluster = kubeconfig.connect(
        overrides=Overrides(server="https://api.example:6443", token="flag-token")
    )
    assert cluster.host == "https://api.example:6443"
    assert ("Authorization", "Bearer flag-token") in headers(cluster)
    assert cluster.namespace == "default" and cluster.context == "--server"


def test_server_overrides_the_context_but_keeps_its_user(config):
    # kubectl --server X sends the current user's credentials to X.
    cluster = kubeconfig.connect(config, overrides=Overrides(server="https://other:6443"))
    assert cluster.host == "https://other:6443"
    assert ("Authorization", "Bearer dev-token") in headers(cluster)
    assert cluster.namespace == "shop"


def test_token_replaces_every_other_way_the_user_authenticates(tmp_path):
    # The exec plugin would fail (no such command): with --token it is never run.
    path = write_config(
        tmp_path / "config",
        exec={
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "no-such-credential-plugin",
        },
    )
    cluster = kubeconfig.connect(
        path, overrides=Overrides(token="flag-token", insecure_skip_tls_verify=True)
    )
    assert ("Authorization", "Bearer flag-token") in headers(cluster)


def test_cluster_and_user_pick_other_kubeconfig_entries(config):
    cluster = kubeconfig.connect(config, overrides=Overrides(cluster="prod", user="ops"))
    assert cluster.host == "https://prod.example:6443"
    assert ("Authorization", "Bearer ops-token") in headers(cluster)


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"cluster": "nope"}, 'cluster "nope" does not exist in the kubeconfig'),
        ({"user": "nope"}, 'user "nope" does not exist in the kubeconfig'),
    ],
)
def test_unknown_cluster_or_user_is_a_usage_error(config, flags, message):
    with pytest.raises(InputError, match=message):
        kubeconfig.connect(config, overrides=Overrides(**flags))


def test_impersonation_headers_one_line_per_group(config):
    cluster = kubeconfig.connect(
        config, overrides=Overrides(as_user="alice", as_groups=("team-a", "team-b"), as_uid="42")
    )
    sent = headers(cluster)
    assert ("Impersonate-User", "alice") in sent and ("Impersonate-Uid", "42") in sent
    assert [value for name, value in sent if name == "Impersonate-Group"] == ["team-a", "team-b"]
    assert ("Authorization", "Bearer dev-token") in sent  # we authenticate as ourselves


def test_kubeconfig_users_as_fields_are_honoured_and_the_flag_wins(tmp_path, cert_pair):
    path = write_config(tmp_path / "config", token="t", **{"as": "bob", "as-groups": ["ops"]})
    (tmp_path / "ca.crt").write_text(open(cert_pair[0]).read())
    sent = headers(kubeconfig.connect(path))
    assert ("Impersonate-User", "bob") in sent and ("Impersonate-Group", "ops") in sent
    sent = headers(kubeconfig.connect(path, overrides=Overrides(as_user="carol")))
    assert ("Impersonate-User", "carol") in sent and "Impersonate-Group" not in dict(sent)


def test_no_impersonation_without_flags(config):
    assert not [
        name for name, _ in headers(kubeconfig.connect(config)) if name.startswith("Impersonate")
    ]


def test_compression_as_kubectl_unless_disabled(config):
    assert ("Accept-Encoding", "gzip") in headers(kubeconfig.connect(config))
    quiet = kubeconfig.connect(config, overrides=Overrides(disable_compression=True))
    assert "Accept-Encoding" not in dict(headers(quiet))


def test_insecure_skip_tls_verify_drops_the_ca(config):
    cluster = kubeconfig.connect(config, overrides=Overrides(insecure_skip_tls_verify=True))
    import ssl

    assert cluster.configuration.verify_ssl is False
    assert cluster._pool.tls.verify_mode == ssl.CERT_NONE


def test_tls_server_name_is_what_the_certificate_is_checked_against(config):
    cluster = kubeconfig.connect(config, overrides=Overrides(tls_server_name="api.internal"))
    assert cluster._pool.server_hostname == "api.internal"


def test_relative_paths_are_relative_to_the_kubeconfig(config, tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    cluster = kubeconfig.connect(config)
    assert cluster.configuration.ssl_ca_cert == os.path.join(str(tmp_path), "ca.crt")


def test_client_certificate_flags_load_into_the_tls_context(config, cert_pair):
    cert, key = cert_pair
    cluster = kubeconfig.connect(
        config, overrides=Overrides(client_certificate=cert, client_key=key)
    )
    assert cluster.configuration.cert_file == cert and cluster.configuration.key_file == key


def test_mesh_connection_keeps_who_we_act_as_but_not_where_or_with_what():
    flags = Overrides(
        server="https://x",
        token="t",
        cluster="c",
        user="u",
        client_key="k",
        as_user="alice",
        as_groups=("g",),
        disable_compression=True,
    )
    assert flags.for_mesh() == Overrides(
        as_user="alice", as_groups=("g",), disable_compression=True
    )


# --- through the CLI: bad input is one line and exit 2 -------------------------------------------


def test_ca_with_insecure_is_refused(config, run, tmp_path):
    result = run(
        "status",
        "--kubeconfig",
        config,
        "--insecure-skip-tls-verify",
        "--certificate-authority",
        str(tmp_path / "ca.crt"),
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: specifying a root certificates file with the insecure")
    assert len(result.stderr.splitlines()) == 1


def test_group_without_user_is_refused(config, run):
    result = run("status", "--kubeconfig", config, "--as-group", "ops")
    assert result.exit_code == 2 and "--as-group/--as-uid need --as" in result.stderr


def test_missing_client_key_file_is_one_line(config, run, tmp_path):
    result = run("status", "--kubeconfig", config, "--client-key", str(tmp_path / "nope.key"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --client-key {tmp_path / 'nope.key'}: no such file"


def test_unknown_user_through_the_cli(config, run):
    result = run("status", "--kubeconfig", config, "--user", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == 'error: user "nope" does not exist in the kubeconfig'


def test_flags_reach_both_connections_as_documented(connect_to, run):
    from tests.unit.fake_cluster import FakeCluster

    connect = connect_to(FakeCluster({"Pod": []}), FakeCluster({"Pod": []}))
    run(
        "status",
        "--server",
        "https://x",
        "--token",
        "t",
        "--as",
        "alice",
        "--as-group",
        "g",
        "--mesh-context",
        "asm-instance",
    )
    main, mesh = (call.args[3] for call in connect.call_args_list)
    assert (main.server, main.token, main.as_user, main.as_groups) == (
        "https://x",
        "t",
        "alice",
        ("g",),
    )
    assert (mesh.server, mesh.token, mesh.as_user, mesh.as_groups) == (None, None, "alice", ("g",))
