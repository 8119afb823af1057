"""The one module that talks to an API server.

The official client loads the kubeconfig and does the authentication (client certificates,
tokens, exec plugins and their refresh). Requests go through our own small urllib3 layer:
the generated client's model objects cost ~9x more time on big lists than raw JSON, and its
REST layer changed how it encodes patch bodies and raises errors between client majors, while
patch content types are exactly what this tool must get right. Every HTTP and connection error
becomes an ApiError or Unreachable here, and nowhere else.
"""
import json
import os
import platform
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass

from kubectl_sidecar import __version__
from kubectl_sidecar.errors import ApiError, InputError, SidecarError, Unreachable

PAGE_SIZE = 500
# Metadata-only objects (owners of pods, namespaces) are a tenth of a pod's size: bigger pages keep
# the request count near one per 500 pods however many old ReplicaSets a cluster keeps.
METADATA_PAGE_SIZE = 5000
USER_AGENT = f"kubectl-sidecar/{__version__} ({platform.system().lower()}/{platform.machine()})"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

JSON_MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Resource:
    """A kind of object, described by data: where it lives in the API."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def path(self, namespace=None, name=None):
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{urllib.parse.quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{urllib.parse.quote(name, safe='')}"
        return base

    @property
    def qualified(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = Resource("", "v1", "pods", "Pod")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
JOBS = Resource("batch", "v1", "jobs", "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")
ROLLOUTS = Resource("argoproj.io", "v1alpha1", "rollouts", "Rollout")
ASM_MESH_CONFIGS = Resource(
    "istio.alibabacloud.com", "v1beta1", "asmmeshconfigs", "ASMMeshConfig", namespaced=False)
MUTATING_WEBHOOKS = Resource(
    "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration", namespaced=False)
BY_KIND = {r.kind: r for r in (PODS, NODES, NAMESPACES, CONFIGMAPS, DEPLOYMENTS, REPLICASETS,
                               STATEFULSETS, DAEMONSETS, JOBS, CRONJOBS, ROLLOUTS,
                               ASM_MESH_CONFIGS)}

_VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "PUT": "update", "DELETE": "delete"}


def kubeconfig_paths(explicit=None):
    """The kubeconfig file(s) to read: --kubeconfig, else $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return explicit
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def connect(kubeconfig=None, context=None, request_timeout=None):
    """A Cluster for a kubeconfig context (the current one by default)."""
    import yaml
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, kube_config

    unreadable = (ConfigException, ValueError, OSError, yaml.YAMLError)
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
    try:
        contexts, _ = kube_config.list_kube_config_contexts(paths)
        name = context or _current_context(existing)
    except unreadable as error:
        raise SidecarError(f"can't read kubeconfig {paths}: {_one_line(error)}") from None
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
        raise SidecarError(f'can\'t use context "{name}": {_one_line(error)}') from None
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


def _one_line(error):
    return " ".join(str(error).split())


class Cluster:
    """One API server, as one kubeconfig context reaches it. Returns plain JSON data."""

    def __init__(self, configuration, context, namespace, request_timeout=None):
        import urllib3

        self.configuration = configuration
        self.context = context
        self.namespace = namespace
        self.host = configuration.host.rstrip("/")
        self.request_count = 0
        if request_timeout:
            self._timeout = urllib3.Timeout(connect=request_timeout, read=request_timeout)
        else:
            # kubectl's default: no overall limit, but don't hang forever on a dead address.
            self._timeout = urllib3.Timeout(connect=30, read=None)
        self._request_timeout = request_timeout
        self._pool = self._make_pool(configuration)

    def _make_pool(self, configuration):
        import urllib3

        pool_args = {"maxsize": 8, "retries": False, "timeout": self._timeout}
        if self.host.startswith("https"):
            pool_args["cert_reqs"] = ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE
            if configuration.ssl_ca_cert:
                pool_args["ca_certs"] = configuration.ssl_ca_cert
            if configuration.cert_file:
                pool_args["cert_file"] = configuration.cert_file
            if configuration.key_file:
                pool_args["key_file"] = configuration.key_file
            if getattr(configuration, "tls_server_name", None):
                pool_args["server_hostname"] = configuration.tls_server_name
            if configuration.assert_hostname is not None:
                pool_args["assert_hostname"] = configuration.assert_hostname
            if not configuration.verify_ssl:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        proxy = self._proxy_for(configuration)
        if proxy:
            return urllib3.ProxyManager(proxy, **pool_args)
        return urllib3.PoolManager(**pool_args)

    def _proxy_for(self, configuration):
        if getattr(configuration, "proxy", None):
            return configuration.proxy
        scheme = urllib.parse.urlsplit(self.host).scheme
        proxy = urllib.request.getproxies().get(scheme)
        host = urllib.parse.urlsplit(self.host).hostname or ""
        if proxy and not urllib.request.proxy_bypass(host):
            return proxy
        return None

    def _headers(self, accept="application/json", content_type=None):
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        auth = self.configuration.auth_settings()
        token = auth.get("BearerToken") or auth.get("authorization")
        if token and token.get("value"):
            headers["Authorization"] = token["value"]
        elif self.configuration.username and self.configuration.password:
            import urllib3

            headers.update(urllib3.make_headers(
                basic_auth=f"{self.configuration.username}:{self.configuration.password}"))
        return headers

    def request(self, method, path, params=None, body=None, content_type=None,
                accept="application/json", resource=None):
        """Send one request; the decoded JSON answer. Errors become ApiError or Unreachable."""
        import urllib3

        url = self.host + path
        if params:
            url += "?" + urllib.parse.urlencode([(k, v) for k, v in params.items() if v is not None])
        data = None if body is None else json.dumps(body).encode()
        self.request_count += 1
        try:
            response = self._pool.request(
                method, url, body=data, headers=self._headers(accept, content_type),
                preload_content=True)
        except urllib3.exceptions.NewConnectionError as error:
            # Checked first: urllib3 makes it a subclass of ConnectTimeoutError.
            raise self._unreachable(error) from None
        except urllib3.exceptions.TimeoutError:
            raise Unreachable(
                f"the server {self.host} (context {self.context}) did not answer within "
                f"{self._describe_timeout()}") from None
        except urllib3.exceptions.SSLError as error:
            raise Unreachable(
                f"TLS with {self.host} (context {self.context}) failed: {_ssl_reason(error)}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._unreachable(error) from None
        if response.status >= 400:
            raise self._api_error(method, response, resource)
        raw = response.data
        del response
        if not raw:
            return {}
        try:
            # A page of 500 pods is ~5 MB of JSON: drop the bytes before the objects are built,
            # so a page is held twice (text, objects) rather than three times at the peak.
            text = raw.decode("utf-8")
            del raw
            return json.loads(text)
        except ValueError:
            raise SidecarError(
                f"the server {self.host} answered {method} {path} with something that is "
                "not JSON; is this a Kubernetes API server?") from None

    def _unreachable(self, error):
        return Unreachable(
            f"the connection to the server {urllib.parse.urlsplit(self.host).netloc} "
            f"(context {self.context}) failed: {_connection_reason(error)}. "
            "Is the cluster running, and is this the right context?")

    def _describe_timeout(self):
        if self._request_timeout:
            return f"{self._request_timeout:g}s (--request-timeout)"
        return "30s while connecting"

    def _api_error(self, method, response, resource):
        verb = _VERBS.get(method, method.lower())
        try:
            status = json.loads(response.data)
            message = status.get("message") or ""
            reason = status.get("reason") or response.reason
        except (ValueError, AttributeError):
            message, reason = "", response.reason
        what = resource.qualified if resource else "resource"
        if response.status == 401:
            message = (f"the server rejected the credentials of context {self.context} "
                       "(401 Unauthorized); log in again or check the kubeconfig user")
        elif response.status == 403 and not message:
            message = f"forbidden: cannot {verb} {what}"
        elif response.status == 429 and not message:
            message = "the server is too busy (429 Too Many Requests); try again"
        elif not message:
            message = f"{verb} {what}: {response.status} {response.reason}"
        return ApiError(response.status, reason, message, verb=verb, resource=what)

    # --- reads -------------------------------------------------------------------------

    def list_items(self, resource, namespace=None, selector=None, metadata_only=False,
                   field_selector=None):
        """Yield the objects of a list, fetched a page (PAGE_SIZE objects, METADATA_PAGE_SIZE
        for metadata-only lists) at a time.

        Each page is released before the next is fetched, and each object as soon as the caller
        moves on, so a list of any size costs about one page of memory.
        """
        limit = METADATA_PAGE_SIZE if metadata_only else PAGE_SIZE
        params = {"limit": limit, "labelSelector": selector, "fieldSelector": field_selector}
        accept = METADATA_ONLY if metadata_only else "application/json"
        path = resource.path(namespace)
        while True:
            answer = self.request("GET", path, params=params, accept=accept, resource=resource)
            token = (answer.get("metadata") or {}).get("continue")
            items = answer.get("items") or []
            del answer
            items.reverse()
            while items:
                yield items.pop()
            if not token:
                return
            params = dict(params, **{"continue": token})

    def list_all(self, resource, namespace=None, selector=None, metadata_only=False,
                 field_selector=None):
        return list(self.list_items(resource, namespace, selector, metadata_only, field_selector))

    def get(self, resource, name, namespace=None):
        """The object, or None when it (or its resource type) doesn't exist."""
        try:
            return self.request("GET", resource.path(namespace, name), resource=resource)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def server_version(self):
        return self.request("GET", "/version").get("gitVersion")

    # --- writes ------------------------------------------------------------------------

    def patch(self, resource, name, body, patch_type, namespace=None, dry_run=False,
              field_manager="kubectl-sidecar"):
        params = {"fieldManager": field_manager, "dryRun": "All" if dry_run else None}
        return self.request("PATCH", resource.path(namespace, name), params=params, body=body,
                            content_type=patch_type, resource=resource)


def _connection_reason(error):
    text = str(getattr(error, "reason", None) or error)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Network is unreachable", "Temporary failure in name resolution",
                   "Connection reset"):
        if marker in text:
            return marker.lower()
    return _one_line(text)


def _ssl_reason(error):
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "the server's certificate is not trusted by the kubeconfig's CA"
    return _one_line(text)
