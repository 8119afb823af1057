"""Who may talk to a local control plane: its certificates, static tokens and kubeconfigs."""

import json
import subprocess
from pathlib import Path

ADMIN_TOKEN = "admin-token-kubectl-sidecar"
VIEWER_TOKEN = "viewer-token-kubectl-sidecar"
# user -> (token, groups) as kube-apiserver's --token-auth-file takes them
USERS = {"admin": (ADMIN_TOKEN, "system:masters"), "viewer": (VIEWER_TOKEN, None)}


def _openssl(args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A CA, one serving certificate for 127.0.0.1 (API server and webhook), a service-account key."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=kubectl-sidecar-test-ca",
        ],
        directory,
    )
    _openssl(
        [
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "serving.key",
            "-out",
            "serving.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        directory,
    )
    # Go verifies only the SAN, never the CN.
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            "serving.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "serving.crt",
            "-days",
            "3650",
            "-extfile",
            "san.ext",
        ],
        directory,
    )
    _openssl(["genrsa", "-out", "sa.key", "2048"], directory)
    _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], directory)


def token_file() -> str:
    return "".join(
        f"{token},{user},{user}-uid" + (f',"{groups}"' if groups else "") + "\n"
        for user, (token, groups) in USERS.items()
    )


def write_kubeconfig(
    path: Path,
    server: str,
    ca_file: Path,
    contexts: dict,
    cluster: str = "local",
    namespace: str | None = None,
) -> Path:
    """A kubeconfig with one cluster and, per context, a user of the same name holding its token.

    contexts: {context name: token}; the first is the current context. The e2e kubeconfig is
    {"admin": ..., "viewer": ...} on cluster "local"; a kubeconfig meant to sit beside another
    control plane's in one KUBECONFIG list names its cluster and its one context alike.
    """
    context = {"cluster": cluster}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": next(iter(contexts)),
                "clusters": [
                    {
                        "name": cluster,
                        "cluster": {"server": server, "certificate-authority": str(ca_file)},
                    }
                ],
                "users": [
                    {"name": name, "user": {"token": token}} for name, token in contexts.items()
                ],
                "contexts": [
                    {"name": name, "context": dict(context, user=name)} for name in contexts
                ],
            },
            indent=2,
        )
    )
    return path
