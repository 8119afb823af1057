"""Kubeconfig contexts that need nothing of the official client, read without importing it.

Importing the client's kubeconfig loader costs ~0.15 s of CPU (it pulls in requests, oauthlib,
pydantic and dateutil for the auth providers), more than `status` spends on a page of 500 pods.
A context whose user is a token, a token file, a client certificate and key in files, or a
username and password needs none of that: `load` reads those as the client reads them. Anything
else (exec plugins, auth providers, inline client keys, impersonation, keys this doesn't know)
gets None, and kubeconfig.py hands it to the client as before.
"""
from __future__ import annotations

import base64
import binascii
import os

# What `load` understands; a context, cluster or user with any other key goes to the client.
_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data",
                 "insecure-skip-tls-verify", "tls-server-name", "proxy-url", "extensions"}
_USER_KEYS = {"token", "tokenFile", "client-certificate", "client-key", "username", "password",
              "extensions"}
_CONTEXT_KEYS = {"cluster", "user", "namespace", "extensions"}


class PlainConfiguration:
    """The parts of the client's Configuration that cluster.Cluster reads."""

    def __init__(self, host, verify_ssl=True, ssl_ca_cert=None, ca_cert_data=None,
                 cert_file=None, key_file=None, tls_server_name=None, proxy=None,
                 authorization=None):
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
        return {"BearerToken": {"in": "header", "key": "authorization",
                                "value": self._authorization}}


def load(paths, context=None):
    """(PlainConfiguration, context name, namespace) for the context (the current one by
    default) in these kubeconfig files, or None when the client must load it.

    Files merge as kubectl merges them: the first file to name a context, cluster or user wins,
    and so does the first to set current-context. Relative paths are relative to the file that
    names the entry.
    """
    named = {"contexts": {}, "clusters": {}, "users": {}}
    current = None
    for path in paths:
        path = os.path.expanduser(path)
        config = _read(path)
        if config is None:
            return None
        base = os.path.dirname(os.path.abspath(path))
        current = current or config.get("current-context")
        for section, entries in named.items():
            for entry in config.get(section) or ():
                if isinstance(entry, dict) and entry.get("name") not in entries:
                    entries[entry.get("name")] = (entry, base)
    name = context or current
    if not name or name not in named["contexts"]:
        return None
    chosen = _body(named["contexts"][name][0], "context", _CONTEXT_KEYS)
    if chosen is None or chosen.get("cluster") not in named["clusters"]:
        return None
    cluster, cluster_base = named["clusters"][chosen["cluster"]]
    cluster = _body(cluster, "cluster", _CLUSTER_KEYS)
    user, user_base = named["users"].get(chosen.get("user"), ({}, None))
    user = _body(user, "user", _USER_KEYS) if user else {}
    if cluster is None or user is None or not cluster.get("server"):
        return None
    configuration = _configuration(cluster, cluster_base, user, user_base)
    if configuration is None:
        return None
    return configuration, name, chosen.get("namespace") or "default"


def _read(path):
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path) as handle:
            config = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, ValueError, yaml.YAMLError):
        return None  # the client says what is wrong with it
    return config if isinstance(config, dict) else None


def _body(entry, key, known):
    """The entry's body when every key in it is one `load` understands, else None."""
    body = entry.get(key) or {}
    if not isinstance(body, dict) or set(body) - known:
        return None
    return body


def _configuration(cluster, cluster_base, user, user_base):
    host = str(cluster["server"]).rstrip("/")
    settings = {"host": host, "tls_server_name": cluster.get("tls-server-name"),
                "proxy": cluster.get("proxy-url")}
    if "insecure-skip-tls-verify" in cluster:
        settings["verify_ssl"] = not cluster["insecure-skip-tls-verify"]
    if host.startswith("https"):
        if cluster.get("certificate-authority-data"):
            try:
                settings["ca_cert_data"] = base64.standard_b64decode(
                    cluster["certificate-authority-data"]).decode()
            except (binascii.Error, ValueError):
                return None
        elif cluster.get("certificate-authority"):
            settings["ssl_ca_cert"] = _path(cluster["certificate-authority"], cluster_base)
        settings["cert_file"] = _path(user.get("client-certificate"), user_base)
        settings["key_file"] = _path(user.get("client-key"), user_base)
        files = (settings.get("ssl_ca_cert"), settings["cert_file"], settings["key_file"])
        if not all(os.path.isfile(file) for file in files if file):
            return None  # the client's error says which file is missing
    # The client's order: a token (inline, else from tokenFile) before a username and password.
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            with open(_path(user["tokenFile"], user_base)) as handle:
                token = handle.read().strip()  # as kubectl: a trailing newline isn't the token's
        except OSError:
            return None
    if token:
        settings["authorization"] = f"Bearer {token}"
    elif user.get("username") and user.get("password"):
        credentials = f"{user['username']}:{user['password']}".encode()
        settings["authorization"] = "Basic " + base64.b64encode(credentials).decode()
    return PlainConfiguration(**settings)


def _path(path, base):
    if not path:
        return None
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) or not base else os.path.join(base, path)
