"""Credentials the kubernetes client handles badly for a CLI: a failing exec plugin (logged, then
an anonymous run) and key material written to temp files it removes only at a normal exit.

Runs the real CLI in a subprocess with its own TMPDIR: what is left there afterwards is what a
user's /tmp would keep."""

import base64
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

EXEC_API = "client.authentication.k8s.io/v1"


def kubeconfig(path, server, user):
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "dev",
                "clusters": [
                    {"name": "dev", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "dev", "user": user}],
                "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
            }
        )
    )
    return str(path)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plugin(tmp_path, body):
    """An exec credential plugin: a Python script doing `body`."""
    path = tmp_path / "credential-plugin"
    path.write_text(f"#!{sys.executable}\nimport json, sys\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def exec_user(command):
    return {"exec": {"apiVersion": EXEC_API, "command": command}}


def sidecar(tmp_path, *args):
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(temp), KUBERNETES_SERVICE_HOST="")
    return subprocess.Popen(
        [sys.executable, "-m", "kubectl_sidecar", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=180):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, err


def left_in_tmp(tmp_path):
    return sorted(str(p.relative_to(tmp_path / "tmp")) for p in (tmp_path / "tmp").rglob("*"))


@pytest.fixture
def server():
    return f"https://127.0.0.1:{closed_port()}"


def test_missing_plugin_fails_in_kubectls_words(tmp_path, server, run):
    config = kubeconfig(tmp_path / "config", server, exec_user("no-such-credential-plugin"))
    result = run("status", "--kubeconfig", config)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: getting credentials: exec: executable no-such-credential-plugin not found"
    ]


def test_plugin_exiting_non_zero_fails_with_its_own_error(tmp_path, server, run):
    command = plugin(tmp_path, 'sys.stderr.write("token expired: run sso login\\n")\nsys.exit(3)\n')
    config = kubeconfig(tmp_path / "config", server, exec_user(command))
    result = run("status", "--kubeconfig", config)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: getting credentials: exec: executable {command} failed with exit code 3: "
        "token expired: run sso login"
    ]


@pytest.mark.parametrize(
    "output, expected",
    [
        ("print('not json')", "exec: failed to decode process output"),
        (
            "print(json.dumps({'apiVersion': '%s', 'kind': 'ExecCredential', 'status': {}}))"
            % EXEC_API,
            "exec: missing token or clientCertificateData field in plugin output",
        ),
    ],
)
def test_plugin_with_bad_output_fails_with_its_error(tmp_path, server, output, expected, run):
    config = kubeconfig(tmp_path / "config", server, exec_user(plugin(tmp_path, output + "\n")))
    result = run("status", "--kubeconfig", config)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: getting credentials: {expected}")
    assert "ERROR:root" not in result.stderr and "anonymous" not in result.stderr


def test_working_plugin_token_is_used(tmp_path, server, run):
    # Gets past the credentials to the (closed) server: the token path is unharmed.
    output = {"apiVersion": EXEC_API, "kind": "ExecCredential", "status": {"token": "t"}}
    command = plugin(tmp_path, f"print(json.dumps({output!r}))\n")
    config = kubeconfig(tmp_path / "config", server, exec_user(command))
    result = run("status", "--kubeconfig", config)
    assert result.exit_code == 1 and "connection refused" in result.stderr


def key_data_user(cert_pair):
    cert, key = (base64.b64encode(open(p, "rb").read()).decode() for p in cert_pair)
    return {"client-certificate-data": cert, "client-key-data": key}


def test_no_key_file_left_after_an_error_exit(tmp_path, server, cert_pair):
    config = kubeconfig(tmp_path / "config", server, key_data_user(cert_pair))
    code, err = finish(sidecar(tmp_path, "status", "--kubeconfig", config))
    assert code == 1 and "connection refused" in err
    assert left_in_tmp(tmp_path) == []


def test_no_key_file_left_by_an_exec_plugin_giving_certificates(tmp_path, server, cert_pair):
    cert, key = (open(p).read() for p in cert_pair)
    output = {
        "apiVersion": EXEC_API,
        "kind": "ExecCredential",
        "status": {"clientCertificateData": cert, "clientKeyData": key},
    }
    config = kubeconfig(
        tmp_path / "config", server, exec_user(plugin(tmp_path, f"print(json.dumps({output!r}))\n"))
    )
    code, err = finish(sidecar(tmp_path, "status", "--kubeconfig", config))
    assert code == 1 and "connection refused" in err
    assert left_in_tmp(tmp_path) == []


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_no_key_file_left_when_stopped_mid_request(tmp_path, cert_pair, signum, code):
    # A server that accepts and never answers: the run is mid-request when the signal comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = f"https://127.0.0.1:{listener.getsockname()[1]}"
        config = kubeconfig(tmp_path / "config", server, key_data_user(cert_pair))
        process = sidecar(tmp_path, "status", "--kubeconfig", config)
        listener.settimeout(180)
        connection, _ = listener.accept()  # the client has its TLS context: files are gone
        with connection:
            connection.settimeout(180)
            connection.recv(1, socket.MSG_PEEK)  # its ClientHello: it now waits for the server
            process.send_signal(signum)
            _, err = finish(process)
    assert process.returncode == code, err
    assert left_in_tmp(tmp_path) == []


def test_no_key_file_left_when_terminated_while_the_plugin_runs(tmp_path, server, cert_pair):
    # The plugin takes its time (a browser login); SIGTERM meanwhile still cleans up.
    marker = tmp_path / "plugin-started"
    command = plugin(
        tmp_path,
        f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(30)\n",
    )
    config = kubeconfig(
        tmp_path / "config", server, dict(key_data_user(cert_pair), **exec_user(command))
    )
    process = sidecar(tmp_path, "status", "--kubeconfig", config)
    deadline = time.monotonic() + 180
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    finish(process)
    try:
        os.kill(int(marker.read_text()), signal.SIGKILL)  # the orphaned plugin, ours to end
    except (ValueError, ProcessLookupError):
        pass
    assert process.returncode == 143
    assert left_in_tmp(tmp_path) == []


def test_plugin_failing_when_its_token_is_refreshed_fails_the_request(tmp_path, server, run):
    # The first token expires at once, so the client runs the plugin again before the first
    # request; that second run fails.
    runs = tmp_path / "runs"
    output = {
        "apiVersion": EXEC_API,
        "kind": "ExecCredential",
        "status": {"token": "t", "expirationTimestamp": "2020-01-01T00:00:00Z"},
    }
    command = plugin(
        tmp_path,
        f"""
        import os
        if os.path.exists({str(runs)!r}):
            sys.stderr.write("refresh token revoked\\n")
            sys.exit(1)
        open({str(runs)!r}, "w").close()
        print(json.dumps({output!r}))
        """,
    )
    config = kubeconfig(tmp_path / "config", server, exec_user(command))
    result = run("status", "--kubeconfig", config)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: getting credentials: exec: executable {command} failed with exit code 1: "
        "refresh token revoked"
    ]


@pytest.mark.parametrize("command", [True, 123, ["aws", "eks"]])
def test_an_exec_plugin_without_a_command_is_one_line(tmp_path, server, run, command):
    config = kubeconfig(tmp_path / "config", server, exec_user(command))
    result = run("status", "--kubeconfig", config)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: the kubeconfig's exec credential plugin has no")
    assert "Traceback" not in result.stderr
