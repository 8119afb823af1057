"""Credentials that change during a run, against the real API server."""

import json
import sys

from tests.harness.credentials import ADMIN_TOKEN

EXEC_API = "client.authentication.k8s.io/v1"


def test_an_exec_token_whose_later_refresh_fails_stops_the_run_with_its_error(
    control_plane, kubectl, tmp_path
):
    # The plugin's tokens are born expired, so the client runs it again before every request.
    # Its first two runs answer (the server accepts the token: it is the admin's static one);
    # from the third on it fails, as a revoked SSO session does in the middle of a run.
    runs = tmp_path / "runs"
    credential = {
        "apiVersion": EXEC_API,
        "kind": "ExecCredential",
        "status": {"token": ADMIN_TOKEN, "expirationTimestamp": "2020-01-01T00:00:00Z"},
    }
    plugin = tmp_path / "credential-plugin"
    plugin.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"runs = {str(runs)!r}\n"
        "count = int(open(runs).read()) if os.path.exists(runs) else 0\n"
        "open(runs, 'w').write(str(count + 1))\n"
        "if count >= 2:\n"
        "    sys.stderr.write('refresh token revoked\\n')\n"
        "    sys.exit(1)\n"
        f"print(json.dumps({credential!r}))\n"
    )
    plugin.chmod(0o755)
    config = tmp_path / "config"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sso",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": control_plane.state["server"],
                            "certificate-authority": str(control_plane.certs / "ca.crt"),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "sso",
                        "user": {"exec": {"apiVersion": EXEC_API, "command": str(plugin)}},
                    }
                ],
                "contexts": [{"name": "sso", "context": {"cluster": "local", "user": "sso"}}],
            }
        )
    )
    done = kubectl.sidecar("status", "-n", "kube-system", "--kubeconfig", str(config))
    assert int(runs.read_text()) >= 3, "the plugin was never asked for a third token"
    assert done.returncode == 1, done.stdout + done.stderr
    # Whatever the run printed before the failed refresh, it ends on the plugin's error.
    assert "ERROR:root" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: getting credentials: exec: executable {plugin} failed with exit code 1: "
        "refresh token revoked"
    )
