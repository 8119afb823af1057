"""From kubeconfig (or the pod's service account) to a connected Cluster, as kubectl chooses it.

The official client does the loading and the authentication (client certificates, tokens, exec
plugins and their refresh); this module picks the file(s) and context the way kubectl does.
"""

import os

from kubectl_sidecar import plainconfig
from kubectl_sidecar.cluster import Cluster
from kubectl_sidecar.errors import InputError, SidecarError, one_line


def kubeconfig_paths(explicit=None):
    """The kubeconfig file(s) to read: --kubeconfig, else $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return explicit
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def connect(kubeconfig=None, context=None, request_timeout=None):
    """A Cluster for a kubeconfig context (the current one by default)."""
    paths = kubeconfig_paths(kubeconfig)
    existing = [p for p in paths.split(os.pathsep) if p and os.path.exists(os.path.expanduser(p))]
    if not existing:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _connect_in_cluster(request_timeout)
        if kubeconfig:
            raise InputError(f"kubeconfig {kubeconfig} does not exist")
        raise SidecarError(
            "no kubeconfig found: set KUBECONFIG or pass --kubeconfig "
            f"(looked for {paths})")
    plain = plainconfig.load(existing, context)  # None: a context only the client can load
    if plain is not None:
        return Cluster(*plain, request_timeout)
    import yaml
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, kube_config

    unreadable = (ConfigException, ValueError, OSError, yaml.YAMLError)
    try:
        contexts, _ = kube_config.list_kube_config_contexts(paths)
        name = context or _current_context(existing)
    except unreadable as error:
        raise SidecarError(f"can't read kubeconfig {paths}: {one_line(error)}") from None
    if not name:
        raise SidecarError(
            "the kubeconfig has no current context: pass --context "
            "(kubectl config get-contexts lists them)")
    chosen = next((c for c in contexts or () if c.get("name") == name), None)
    if chosen is None:
        raise InputError(f'context "{name}" does not exist in the kubeconfig')
    configuration = Configuration()
    try:
        kube_config.load_kube_config(
            config_file=paths, context=name, client_configuration=configuration,
            persist_config=False)
    except unreadable as error:
        raise SidecarError(f'can\'t use context "{name}": {one_line(error)}') from None
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return Cluster(configuration, name, namespace, request_timeout)


def _current_context(paths):
    """kubectl's current context for a KUBECONFIG list: the first file that sets one wins.

    The client's own merge lets the last file win (kubernetes-client/python#2386), which
    would point a command at another cluster than kubectl's.
    """
    import yaml

    for path in paths:
        with open(os.path.expanduser(path)) as handle:
            config = yaml.safe_load(handle)
        name = config.get("current-context") if isinstance(config, dict) else None
        if name:
            return name
    return None


def _connect_in_cluster(request_timeout):
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, incluster_config

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
    return Cluster(configuration, "in-cluster", namespace, request_timeout)
