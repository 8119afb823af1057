"""Kubeconfig contexts that need nothing of the official client, read without importing it.

Importing the client's kubeconfig loader costs ~0.15 s of CPU (it pulls in requests, oauthlib,
pydantic and dateutil for the auth providers), more than `status` spends on a page of 500 pods.
A context whose user is a token, a token file, a client certificate and key in files, or a
username and password needs none of that: `configuration` reads those as the client reads them.
Anything else (exec plugins, auth providers, inline client keys, keys this doesn't know, missing
files) gets None, and kubeconfig.py hands it to the client as before.
"""

from __future__ import annotations

import base64
import binascii
import os

# What `configuration` understands (disable-compression and impersonation are applied by
# kubeconfig.py and Cluster whoever authenticates); an entry with any other key goes to the client.
_CLUSTER_KEYS = {
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "proxy-url",
    "disable-compression",
    "extensions",
}
_USER_KEYS = {
    "token",
    "tokenFile",
    "client-certificate",
    "client-key",
    "username",
    "password",
    "as",
    "as-groups",
    "as-uid",
    "extensions",
}


class PlainConfiguration:
    """The parts of the client's Configuration that cluster.Cluster reads."""

    def __init__(
        self,
        host,
        verify_ssl=True,
        ssl_ca_cert=None,
        ca_cert_data=None,
        cert_file=None,
        key_file=None,
        tls_server_name=None,
        proxy=None,
        authorization=None,
    ):
        self.host = host
        self.verify_ssl = verify_ssl
        self.ssl_ca_cert = ssl_ca_cert
        self.ca_cert_data = ca_cert_data
        self.cert_file = cert_file
        self.key_file = key_file
        self.tls_server_name = tls_server_name
        self.assert_hostname = None
        self.proxy = proxy
        self.username = self.password = None  # basic auth is sent as an Authorization header
        self._authorization = authorization

    def auth_settings(self):
        if not self._authorization:
            return {}
        return {
            "BearerToken": {"in": "header", "key": "authorization", "value": self._authorization}
        }


def configuration(cluster, user):
    """A PlainConfiguration for one kubeconfig cluster and user entry (their relative paths
    resolved, kubectl's flags applied: kubeconfig.py does both), or None when only the client
    can authenticate that user, or would say what is wrong with the entries."""
    if not isinstance(cluster, dict) or not isinstance(user, dict):
        return None
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS or not cluster.get("server"):
        return None
    host = str(cluster["server"]).rstrip("/")
    settings = {
        "host": host,
        "tls_server_name": cluster.get("tls-server-name"),
        "proxy": cluster.get("proxy-url"),
    }
    if "insecure-skip-tls-verify" in cluster:
        settings["verify_ssl"] = not cluster["insecure-skip-tls-verify"]
    if host.startswith("https"):
        if cluster.get("certificate-authority-data"):
            try:
                settings["ca_cert_data"] = base64.standard_b64decode(
                    cluster["certificate-authority-data"]
                ).decode()
            except (binascii.Error, ValueError):
                return None
        elif cluster.get("certificate-authority"):
            settings["ssl_ca_cert"] = os.path.expanduser(cluster["certificate-authority"])
        for setting, key in (("cert_file", "client-certificate"), ("key_file", "client-key")):
            if user.get(key):
                settings[setting] = os.path.expanduser(user[key])
        files = (settings.get("ssl_ca_cert"), settings.get("cert_file"), settings.get("key_file"))
        if not all(os.path.isfile(file) for file in files if file):
            return None  # the client's error says which file is missing
    # The client's order: a token (inline, else from tokenFile) before a username and password.
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            with open(os.path.expanduser(user["tokenFile"])) as handle:
                token = handle.read().strip()  # as kubectl: a trailing newline isn't the token's
        except OSError:
            return None
    if token:
        settings["authorization"] = f"Bearer {token}"
    elif user.get("username") and user.get("password"):
        credentials = f"{user['username']}:{user['password']}".encode()
        settings["authorization"] = "Basic " + base64.b64encode(credentials).decode()
    return PlainConfiguration(**settings)
