"""From kubeconfig (or the pod's service account) and kubectl's connection flags to a connected
Cluster, chosen as kubectl chooses it.

The files are merged here, as kubectl merges them (the first file to name a context, cluster or
user wins; the first to set current-context wins), and the chosen context is narrowed to one
cluster and one user with the flags applied. The official client then does the authentication
(tokens, client certificates, exec and auth-provider plugins, refresh) on that one-context config.

Two things the client gets wrong for a CLI are handled here: a failing exec credential plugin is
only logged (the run went on anonymously, ending in a misleading system:anonymous 403), and the
client writes certificate and key data to temp files it removes only at a normal exit. We fail
with the plugin's own error, and keep those files in a private directory that is deleted as soon
as the TLS context has been built from them (Cluster builds it eagerly).
"""

from __future__ import annotations

import io
import os
from typing import NamedTuple

from kubectl_sidecar import blockyaml, plainconfig
from kubectl_sidecar.errors import InputError, SidecarError, one_line

FLAGS_CONTEXT = "--server"  # what messages call a connection made from the flags alone


class Overrides(NamedTuple):
    """kubectl's connection flags (cli-runtime's ConfigFlags), over the kubeconfig's context.

    cluster/user pick other kubeconfig entries for the context; server, certificate_authority,
    insecure_skip_tls_verify and tls_server_name override the cluster; token, client_certificate
    and client_key the user; as_user/as_groups/as_uid impersonate.
    """

    cluster: str | None = None
    user: str | None = None
    server: str | None = None
    token: str | None = None
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    as_user: str | None = None
    as_groups: tuple = ()
    as_uid: str | None = None
    disable_compression: bool = False

    @classmethod
    def from_flags(cls, flags):
        """kubectl's connection flags (click's parameters by name) as Overrides. Missing flags
        count as not given: completion passes what click has parsed of a half-typed line."""
        return cls(
            cluster=flags.get("cluster"),
            user=flags.get("user"),
            server=flags.get("server"),
            token=flags.get("token"),
            certificate_authority=flags.get("certificate_authority"),
            client_certificate=flags.get("client_certificate"),
            client_key=flags.get("client_key"),
            insecure_skip_tls_verify=bool(flags.get("insecure_skip_tls_verify")),
            tls_server_name=flags.get("tls_server_name"),
            as_user=flags.get("as_user"),
            as_groups=tuple(flags.get("as_groups") or ()),
            as_uid=flags.get("as_uid"),
            disable_compression=bool(flags.get("disable_compression")),
        )

    def for_mesh(self):
        """What applies to the --mesh-context connection too: who we act as and how we talk.
        Which server, which TLS files and which credentials are the main connection's own."""
        return Overrides(
            as_user=self.as_user,
            as_groups=self.as_groups,
            as_uid=self.as_uid,
            disable_compression=self.disable_compression,
        )

    def validate(self):
        """kubectl's own refusals for flag combinations, before anything is read."""
        if self.insecure_skip_tls_verify and self.certificate_authority:
            raise InputError(
                "specifying a root certificates file with the insecure flag is not "
                "allowed (--certificate-authority with --insecure-skip-tls-verify)"
            )
        if (self.as_groups or self.as_uid) and not self.as_user:
            raise InputError(
                "requesting uid or groups for impersonation without impersonating a "
                "user (--as-group/--as-uid need --as)"
            )
        for name, value in (
            ("--client-certificate", self.client_certificate),
            ("--client-key", self.client_key),
            ("--certificate-authority", self.certificate_authority),
        ):
            if value and not os.path.isfile(value):
                raise InputError(f"{name} {value}: no such file")
        return self


class Impersonation(NamedTuple):
    """Who the API server should treat us as (kubectl's --as, --as-group, --as-uid)."""

    user: str | None = None
    groups: tuple = ()
    uid: str | None = None

    def headers(self):
        headers = {}
        if self.user:
            headers["Impersonate-User"] = self.user
        if self.uid:
            headers["Impersonate-Uid"] = self.uid
        return headers


def kubeconfig_paths(explicit=None):
    """The kubeconfig file(s) to read: --kubeconfig, else $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return explicit
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def existing_paths(kubeconfig=None):
    paths = kubeconfig_paths(kubeconfig)
    return [p for p in paths.split(os.pathsep) if p and os.path.exists(os.path.expanduser(p))]


class Merged:
    """The kubeconfig files merged as kubectl merges them. Entries map a name to (the entry's
    dict, the directory of the file that defined it: relative paths are relative to it)."""

    # Written out, not a dataclass, whose generated methods are compiled at every start of
    # every command (BENCHMARKS.md, small cluster): filled in file by file.
    def __init__(self):
        self.current_context: str | None = None
        self.contexts: dict = {}
        self.clusters: dict = {}
        self.users: dict = {}


def read_kubeconfigs(paths):
    """Merge these kubeconfig files; SidecarError for one that can't be read."""
    merged = Merged()
    for path in paths:
        path = os.path.expanduser(path)
        config = _read_kubeconfig(path)
        if not isinstance(config, dict):
            raise SidecarError(f"can't read kubeconfig {path}: not a kubeconfig (a YAML mapping)")
        base = os.path.dirname(os.path.abspath(path))
        # kubectl's rule: the first file to set current-context, or to name an entry, wins.
        merged.current_context = merged.current_context or config.get("current-context") or None
        for key, into, inner in (
            ("contexts", merged.contexts, "context"),
            ("clusters", merged.clusters, "cluster"),
            ("users", merged.users, "user"),
        ):
            for entry in config.get(key) or ():
                if not isinstance(entry, dict) or not entry.get("name"):
                    raise SidecarError(
                        f"can't read kubeconfig {path}: an entry of {key} has no name"
                    )
                into.setdefault(entry["name"], (dict(entry.get(inner) or {}), base))
    return merged


def _read_kubeconfig(path):
    """One kubeconfig file's document. The YAML kubectl writes is read without PyYAML
    (blockyaml: importing PyYAML was 14% of a small cluster's status); anything else by
    PyYAML, whose errors name the file as they always have."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as error:
        raise SidecarError(f"can't read kubeconfig {path}: {one_line(error)}") from None
    config = blockyaml.parse(text)
    if config is not None:
        return config
    # Read again from the text (the file may be a pipe: `--kubeconfig <(...)`), named as the
    # file, so that PyYAML's errors say where as they always have.
    stream = io.StringIO(text)
    stream.name = path
    return _yaml_document(stream)


def _yaml_document(stream):
    import yaml

    # libyaml's parser where PyYAML was built with it (pip's wheels are; the krew archive's
    # pure-Python copy is not): the same documents, with PyYAML's own safe constructor and
    # resolver, ~15x faster; kubeconfigs of many contexts with embedded certificates are
    # tens of KB, which the pure-Python parser takes tens of ms over.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(stream, Loader=loader) or {}
    except yaml.YAMLError as error:
        raise SidecarError(f"can't read kubeconfig {stream.name}: {one_line(error)}") from None


def context_names(kubeconfig=None):
    """The contexts of the kubeconfig kubectl would read (for completion); [] when unreadable."""
    try:
        return sorted(read_kubeconfigs(existing_paths(kubeconfig)).contexts)
    except SidecarError:
        return []


def context_namespaces(kubeconfig=None):
    """The namespaces the kubeconfig's contexts name (for completion)."""
    try:
        merged = read_kubeconfigs(existing_paths(kubeconfig))
    except SidecarError:
        return []
    return sorted({ctx.get("namespace") for ctx, _ in merged.contexts.values()} - {None, ""})


def connect(kubeconfig=None, context=None, request_timeout=None, overrides=None):
    """A Cluster for a kubeconfig context (the current one by default), with kubectl's connection
    flags applied. With --server, no kubeconfig is needed."""
    overrides = (overrides or Overrides()).validate()
    existing = existing_paths(kubeconfig)
    if not existing:
        if kubeconfig:
            # As any other kubeconfig problem (unreadable, not YAML, $KUBECONFIG naming
            # nothing), and as kubectl: 1, however the file was named.
            raise SidecarError(f"kubeconfig {kubeconfig} does not exist")
        if overrides.server:
            return _connect_with(
                FLAGS_CONTEXT, {}, ({}, None), ({}, None), request_timeout, overrides
            )
        if context:
            raise InputError(f'context "{context}" does not exist: no kubeconfig found')
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _connect_in_cluster(request_timeout, overrides)
        raise SidecarError(
            "no kubeconfig found: set KUBECONFIG, pass --kubeconfig, or name the API server "
            f"with --server (looked for {kubeconfig_paths()})"
        )
    merged = read_kubeconfigs(existing)
    name = context or merged.current_context
    if not name:
        if overrides.server:
            return _connect_with(
                FLAGS_CONTEXT,
                {},
                _entry(merged.clusters, overrides.cluster, "cluster"),
                _entry(merged.users, overrides.user, "user"),
                request_timeout,
                overrides,
            )
        raise SidecarError(
            "the kubeconfig has no current context: pass --context "
            "(kubectl config get-contexts lists them)"
        )
    if name not in merged.contexts:
        raise InputError(f'context "{name}" does not exist in the kubeconfig')
    chosen, _ = merged.contexts[name]
    cluster = _entry(
        merged.clusters,
        overrides.cluster or chosen.get("cluster"),
        "cluster",
        required=not overrides.server,
    )
    user = _entry(
        merged.users, overrides.user or chosen.get("user"), "user", required=bool(overrides.user)
    )
    return _connect_with(name, chosen, cluster, user, request_timeout, overrides)


def _entry(entries, name, kind, required=True):
    """(entry, base directory) of a named cluster or user; ({}, None) when unnamed."""
    if not name:
        return {}, None
    if name not in entries:
        if required:
            raise InputError(f'{kind} "{name}" does not exist in the kubeconfig')
        return {}, None
    return entries[name]


# Fields holding file paths, resolved against the directory of the file that set them (kubectl's
# ResolveLocalPaths): the one-context config we hand the client has no file of its own.
_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")
# The user's ways of authenticating, all replaced by --token (kubectl sends only the flag's token).
_USER_AUTH = ("token", "tokenFile", "exec", "auth-provider", "username", "password")


def _resolved(entry, base, keys):
    entry = dict(entry)
    for key in keys:
        if entry.get(key) and base and not os.path.isabs(os.path.expanduser(entry[key])):
            entry[key] = os.path.join(base, entry[key])
    return entry


def _apply(cluster, user, overrides):
    """The cluster and user dicts with the flags applied, as kubectl's ConfigOverrides do."""
    if overrides.server:
        cluster["server"] = overrides.server
    if overrides.certificate_authority:
        cluster["certificate-authority"] = os.path.abspath(overrides.certificate_authority)
        cluster.pop("certificate-authority-data", None)
    if overrides.insecure_skip_tls_verify:
        # kubectl drops the kubeconfig's CA then: verifying with it would defeat the flag.
        cluster["insecure-skip-tls-verify"] = True
        cluster.pop("certificate-authority", None)
        cluster.pop("certificate-authority-data", None)
    if overrides.tls_server_name:
        cluster["tls-server-name"] = overrides.tls_server_name
    if overrides.token:
        for key in _USER_AUTH:
            user.pop(key, None)
        user["token"] = overrides.token
    for flag, key in (
        (overrides.client_certificate, "client-certificate"),
        (overrides.client_key, "client-key"),
    ):
        if flag:
            user[key] = os.path.abspath(flag)
            user.pop(f"{key}-data", None)
    return cluster, user


def _impersonation(user, overrides):
    """--as/--as-group/--as-uid, else the kubeconfig user's as/as-groups/as-uid fields (kubectl
    honours both; the Python client reads neither)."""
    if overrides.as_user:
        return Impersonation(overrides.as_user, tuple(overrides.as_groups), overrides.as_uid)
    groups = user.get("as-groups") or ()
    return Impersonation(user.get("as"), tuple(str(g) for g in groups), user.get("as-uid"))


def _connect_with(name, context, cluster_entry, user_entry, request_timeout, overrides):
    cluster = _resolved(cluster_entry[0], cluster_entry[1], _CLUSTER_PATHS)
    user = _resolved(user_entry[0], user_entry[1], _USER_PATHS)
    exec_config = user.get("exec")
    if isinstance(exec_config, dict) and exec_config.get("command"):
        user["exec"] = _resolved_exec(exec_config, user_entry[1])
    cluster, user = _apply(cluster, user, overrides)
    if not cluster.get("server"):
        raise SidecarError(
            f'context "{name}" names no server: its cluster entry has no server (or pass --server)'
        )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "chosen",
        "clusters": [{"name": "chosen", "cluster": cluster}],
        "users": [{"name": "chosen", "user": user}],
        "contexts": [{"name": "chosen", "context": {"cluster": "chosen", "user": "chosen"}}],
    }
    namespace = context.get("namespace") or "default"
    connected = _load(
        config,
        name,
        namespace,
        request_timeout,
        _impersonation(user, overrides),
        compression=not (overrides.disable_compression or cluster.get("disable-compression")),
    )
    if overrides.token:
        connected.credentials_flag = "with --token"
    return connected


def _resolved_exec(exec_config, base):
    """kubectl resolves an exec command given as a relative path against the kubeconfig's
    directory; a bare name is looked up on PATH."""
    exec_config = dict(exec_config)
    command = exec_config.get("command")
    if not isinstance(command, str) or not command:
        raise SidecarError(f"the kubeconfig's exec credential plugin has no command: {command!r}")
    if base and os.sep in command and not os.path.isabs(command):
        exec_config["command"] = os.path.join(base, command)
    return exec_config


def _load(config, name, namespace, request_timeout, impersonation, compression):
    """Authenticate through the client on the one-context config, then build the Cluster while
    the client's temp files exist, and delete them at once."""
    from kubectl_sidecar.cluster import Cluster

    plain = plainconfig.configuration(config["clusters"][0]["cluster"], config["users"][0]["user"])

    def cluster_for(configuration):
        try:
            return Cluster(
                configuration,
                name,
                namespace,
                request_timeout,
                impersonate=impersonation,
                compression=compression,
            )
        except OSError as error:  # ssl.SSLError is an OSError
            raise SidecarError(
                f'can\'t use the TLS files of context "{name}": {one_line(error)}'
            ) from None

    if plain is not None:  # a token or certificate files: no need to import the client
        return cluster_for(plain)
    import shutil
    import tempfile

    import yaml
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, kube_config

    _check_exec_command(config["users"][0]["user"].get("exec"))
    configuration = Configuration()
    private = tempfile.mkdtemp(prefix="kubectl-sidecar-")  # mode 0700: ours alone
    try:
        with _signals_raise(), _logged_errors() as errors:
            try:
                kube_config.load_kube_config_from_dict(
                    config,
                    context="chosen",
                    client_configuration=configuration,
                    persist_config=False,
                    temp_file_path=private,
                )
            except (ConfigException, ValueError, OSError, yaml.YAMLError) as error:
                raise SidecarError(f'can\'t use context "{name}": {one_line(error)}') from None
            if errors:
                raise SidecarError(f"getting credentials: {_exec_message(errors[0], config)}")
            _refresh_fails_loudly(configuration, config)
            return cluster_for(configuration)
    finally:
        shutil.rmtree(private, ignore_errors=True)
        _forget_temp_files(kube_config, private)


def _refresh_fails_loudly(configuration, config):
    """The client re-runs an exec plugin when its token expires, from the hook it calls before
    every request, and again only logs a failure: the request would go out with the expired
    token. Fail that request with the plugin's error instead."""
    client_hook = configuration.refresh_api_key_hook
    if client_hook is None:
        return

    def refresh(conf):
        nonlocal client_hook
        with _logged_errors() as errors:
            client_hook(conf)
        # The client's hook installs a new one of its own each time it runs
        # (KubeConfigLoader._set_config): stay in front of that one, or the next refresh, a
        # token's lifetime later in a long switch, would fail silently again.
        if conf.refresh_api_key_hook is not refresh:
            client_hook = conf.refresh_api_key_hook
            conf.refresh_api_key_hook = refresh
        if errors:
            raise SidecarError(f"getting credentials: {_exec_message(errors[0], config)}")

    configuration.refresh_api_key_hook = refresh


def _check_exec_command(exec_config):
    """kubectl's message for a credential plugin that isn't installed, before the client would
    log it and carry on without credentials."""
    if not isinstance(exec_config, dict) or not exec_config.get("command"):
        return
    import shutil

    command = exec_config["command"]
    found = os.access(command, os.X_OK) if os.sep in command else shutil.which(command)
    if not found:
        hint = exec_config.get("installHint")
        raise SidecarError(
            f"getting credentials: exec: executable {command} not found"
            + (f"; {one_line(hint)}" if hint else "")
        )


def _exec_message(message, config):
    """The client's log line about the exec plugin, in kubectl's words where they differ."""
    import re

    command = (config["users"][0]["user"].get("exec") or {}).get("command", "plugin")
    failed = re.match(r"exec: process returned (-?\d+)\.?\s*(.*)", message, re.S)
    if failed:
        code, stderr = failed.groups()
        return f"exec: executable {command} failed with exit code {code}" + (
            f": {one_line(stderr)}" if stderr.strip() else ""
        )
    return one_line(message)


class _logged_errors:
    """Collects what the client logs at ERROR while loading credentials: that is how it reports a
    failing exec plugin. Our handler on the root logger also keeps logging from printing
    `ERROR:root:...` itself."""

    def __enter__(self):
        import logging

        self.messages: list[str] = []
        messages = self.messages

        class Collect(logging.Handler):
            def emit(self, record):
                messages.append(record.getMessage())

        self.handler = Collect(logging.ERROR)
        logging.getLogger().addHandler(self.handler)
        return messages

    def __exit__(self, *exc):
        import logging

        logging.getLogger().removeHandler(self.handler)
        return False


class _signals_raise:
    """While credential files exist, SIGTERM must end the process through Python, so that the
    `finally` deleting them runs: the CLI's main() makes it an exception already; any other
    caller (the completion helper, library use) gets SystemExit 143 here instead of the
    default, which ends the process on the spot. Ctrl-C already raises KeyboardInterrupt. The
    exec plugin may take seconds (a browser login): that is when a CI runner's SIGTERM comes."""

    def __enter__(self):
        import signal
        import threading

        self.previous = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        ):
            self.previous = signal.signal(signal.SIGTERM, _exit_on_signal)
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _forget_temp_files(kube_config, directory):
    """The client caches temp file names by content and would hand a deleted file to the next
    connection with the same data (the --mesh-context connection, often the same CA)."""
    cache = getattr(kube_config, "_temp_files", None)
    if isinstance(cache, dict):
        for key, path in list(cache.items()):
            if str(path).startswith(directory + os.sep):
                del cache[key]


def _connect_in_cluster(request_timeout, overrides):
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, incluster_config

    from kubectl_sidecar.cluster import Cluster

    configuration = Configuration()
    try:
        incluster_config.InClusterConfigLoader(
            token_filename=incluster_config.SERVICE_TOKEN_FILENAME,
            cert_filename=incluster_config.SERVICE_CERT_FILENAME,
        ).load_and_set(configuration)
    except ConfigException as error:
        raise SidecarError(f"no kubeconfig and in-cluster config failed: {error}") from None
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as handle:
            namespace = handle.read().strip() or "default"
    except OSError:
        namespace = "default"
    return Cluster(
        configuration,
        "in-cluster",
        namespace,
        request_timeout,
        impersonate=_impersonation({}, overrides),
        compression=not overrides.disable_compression,
    )
