"""The one module that talks to an API server: requests, pagination, errors.

kubeconfig.py turns a kubeconfig context into the Configuration this is built from (the
official client's, when only it can authenticate the user). Requests go through transport.py, the
standard library's http.client and ssl: the generated client's model objects cost ~9x more time on
big lists than raw JSON, and its REST layer changed how it encodes patch bodies and raises errors
between client majors, while patch content types are exactly what this tool must get right; and
urllib3, which both would import, was the largest single cost of a small cluster's `status`
(transport.py). Every HTTP and connection error becomes an ApiError or Unreachable here, and
nowhere else.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import queue
import re
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from kubectl_sidecar import __version__
from kubectl_sidecar.errors import ApiError, SidecarError, Unreachable, one_line
from kubectl_sidecar.resources import PODS, Resource
from kubectl_sidecar.transport import (
    ConnectTimeout,
    Pool,
    Timeout,
    basic_authorization,
    parse_proxy,
)

PAGE_SIZE = 500
# Metadata-only objects (owners of pods, namespaces) are smaller than pods, so pages of them can be
# bigger and keep the request count near one per 500 pods however many old ReplicaSets a cluster
# keeps. Not much bigger: a ReplicaSet's metadata is ~2 KB of JSON, most of it managedFields, and
# ~8 KB once parsed. A page of 5,000 made the peak memory of `switch` grow with the mesh until the
# page filled (3,600 ReplicaSets: 62 MiB at 5,000 a page, 48 at 2,000, 39 at 1,000, 35 at 500).
# At 1,000 a page is always smaller than a page of pods.
METADATA_PAGE_SIZE = 1000
USER_AGENT = f"kubectl-sidecar/{__version__} ({platform.system().lower()}/{platform.machine()})"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

_VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "PUT": "update", "DELETE": "delete"}


class Listing:
    """The objects of one list, fetched a page at a time as they are iterated. Once the
    first page is in, resource_version is the version the whole list was read at: the place
    to start a watch from."""

    def __init__(self, pages: Callable[[Listing], Iterator[list[dict]]]):
        self._pages = pages
        self.resource_version: str | None = None

    def __iter__(self) -> Iterator[dict]:
        for items in self._pages(self):
            items.reverse()
            while items:
                yield items.pop()


class ClusterApi(Protocol):
    """What the rest of the package may ask of an API server. Cluster is the real one; the unit
    tests' FakeCluster is held to the same signatures."""

    context: str  # the kubeconfig context, for messages
    namespace: str  # the context's default namespace

    def list_items(
        self,
        resource: Resource,
        namespace: str | None = None,
        selector: str | None = None,
        metadata_only: bool = False,
        field_selector: str | None = None,
    ) -> Listing: ...

    def list_all(
        self,
        resource: Resource,
        namespace: str | None = None,
        selector: str | None = None,
        metadata_only: bool = False,
        field_selector: str | None = None,
    ) -> list[dict]: ...

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[tuple[str, dict]]: ...

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict | None: ...

    def server_version(self) -> str: ...

    def create(self, resource: Resource, body: dict, namespace: str | None = None) -> dict: ...

    def create_pod_dry_run(
        self, namespace: str, pod: dict, timeout: float | None = None
    ) -> dict: ...

    def patch(
        self,
        resource: Resource,
        name: str,
        body: dict,
        content_type: str,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str = "kubectl-sidecar",
        timeout: float | None = None,
    ) -> dict: ...


class Cluster:
    """One API server, as one kubeconfig context reaches it. Returns plain JSON data."""

    def __init__(
        self,
        configuration,
        context,
        namespace,
        request_timeout=None,
        impersonate=None,
        compression=True,
    ):
        self.configuration = configuration
        self.context = context
        self.namespace = namespace
        # kubectl's --as/--as-group/--as-uid (kubeconfig.Impersonation), sent on every request.
        self.impersonate = impersonate
        # "with --token" where kubectl's --token replaced the context's credentials.
        self.credentials_flag: str | None = None
        # As kubectl: ask for gzip (the API server compresses big lists ~10x) unless
        # --disable-compression or the kubeconfig's disable-compression says not to.
        self.compression = compression
        self.host = configuration.host.rstrip("/")
        # A server URL may have a path of its own (a proxy such as Rancher's): requests go below it.
        self._base_path = urllib.parse.urlsplit(self.host).path
        if request_timeout:
            self._timeout = Timeout(connect=request_timeout, read=request_timeout)
        else:
            # kubectl's default: no overall limit, but don't hang forever on a dead address.
            self._timeout = Timeout(connect=30, read=None)
        self._request_timeout = request_timeout
        self._pool = self._make_pool(configuration)

    def _make_pool(self, configuration):
        tls = server_hostname = None
        if self.host.startswith("https"):
            tls = _tls_context(configuration)
            server_hostname = getattr(configuration, "tls_server_name", None)
            if isinstance(configuration.assert_hostname, str):
                # The official client's Configuration may name the host to check the
                # certificate against; TLS then sends that name (SNI) too.
                server_hostname = configuration.assert_hostname
        proxy = self._proxy_for(configuration)
        try:
            parsed = parse_proxy(proxy) if proxy else None
        except ValueError as error:
            raise SidecarError(f"context {self.context}: proxy {proxy}: {error}") from None
        return Pool(self.host, tls, server_hostname, parsed)

    def _proxy_for(self, configuration):
        # The official client's Configuration also takes a proxy from the environment
        # (_proxy_from_env), without NO_PROXY: that one is looked up below, as for any context.
        if getattr(configuration, "proxy", None) and not getattr(
            configuration, "_proxy_from_env", False
        ):
            return configuration.proxy
        # urllib.request takes ~20 ms of a small cluster's ~0.3 s to import: only when the
        # environment names a proxy (or the OS may: macOS's and Windows' system settings).
        # NO_PROXY alone, which many shells set, names none.
        named = any(
            name.lower().endswith("_proxy") and name.lower() != "no_proxy" for name in os.environ
        )
        if not named and sys.platform not in ("darwin", "win32"):
            return None
        import urllib.request

        scheme = urllib.parse.urlsplit(self.host).scheme
        proxy = urllib.request.getproxies().get(scheme)
        host = urllib.parse.urlsplit(self.host).hostname or ""
        if proxy and not urllib.request.proxy_bypass(host):
            return proxy
        return None

    @property
    def acting_as(self) -> str | None:
        """Whom the API server judges, where not the context's own user ("as bob", "with
        --token"): said beside the context in messages about rights."""
        if self.impersonate is not None and self.impersonate.user:
            return f"as {self.impersonate.user}"
        return self.credentials_flag

    def _headers(self, accept="application/json", content_type=None) -> list[tuple[str, str]]:
        auth = self.configuration.auth_settings()
        token = auth.get("BearerToken") or auth.get("authorization")
        authorization = None
        if token and token.get("value"):
            authorization = token["value"]
        elif self.configuration.username and self.configuration.password:
            authorization = basic_authorization(
                self.configuration.username, self.configuration.password
            )
        impersonation = self.impersonate.headers() if self.impersonate else {}
        groups = self.impersonate.groups if self.impersonate else ()
        return request_headers(
            accept, content_type, authorization, self.compression, impersonation, groups
        )

    def request(
        self,
        method,
        path,
        params=None,
        body=None,
        content_type=None,
        accept="application/json",
        resource=None,
        timeout=None,
    ):
        """Send one request; the decoded JSON answer. Errors become ApiError or Unreachable.
        timeout (seconds), when given, bounds this request instead of --request-timeout."""
        limit = None if timeout is None else Timeout(connect=min(timeout, 30), read=timeout)
        response = self._send(
            method, path, params, body, content_type, accept, resource, timeout=limit
        )
        raw = response.body
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
            raise self._not_json(method, path) from None

    def _send(
        self,
        method,
        path,
        params=None,
        body=None,
        content_type=None,
        accept="application/json",
        resource=None,
        stream=False,
        timeout=None,
    ):
        """The response to one request (its body unread when stream); errors translated."""
        target = self._base_path + path
        if params:
            target += "?" + urllib.parse.urlencode(
                [(k, v) for k, v in params.items() if v is not None]
            )
        data = None if body is None else json.dumps(body).encode()
        try:
            response = self._pool.request(
                method,
                target,
                self._headers(accept, content_type),
                data,
                timeout or self._timeout,
                stream=stream,
            )
            if stream and response.status >= 400:
                response.body = response.read()
                response.close()
        except TimeoutError as error:
            raise Unreachable(
                f"the server {self.host} (context {self.context}) did not answer within "
                f"{self._describe_timeout(timeout, error)}"
            ) from None
        except ssl.SSLError as error:
            raise Unreachable(
                f"TLS with {self.host} (context {self.context}) failed: {_ssl_reason(error)}"
            ) from None
        except (http.client.HTTPException, OSError) as error:
            raise self._unreachable(error) from None
        if response.status >= 400:
            raise self._api_error(method, response, resource)
        return response

    def _not_json(self, method, path):
        return SidecarError(
            f"the server {self.host} answered {method} {path} with something that is "
            "not JSON; is this a Kubernetes API server?"
        )

    def _unreachable(self, error):
        return Unreachable(
            f"the connection to the server {urllib.parse.urlsplit(self.host).netloc} "
            f"(context {self.context}) failed: {_connection_reason(error)}. "
            "Is the cluster running, and is this the right context?"
        )

    def _describe_timeout(self, limit, error):
        """The limit this request was actually given: its own (a write bounded by what is
        left of --timeout), else --request-timeout's, else the default connect limit."""
        connecting = isinstance(error, ConnectTimeout)
        chosen = limit or self._timeout
        seconds = chosen.connect if connecting else chosen.read
        if not isinstance(seconds, (int, float)):
            seconds = chosen.connect  # no read limit: only connecting could time out
            connecting = True
        text = f"{seconds:g}s"
        if limit is None and self._request_timeout:
            text += " (--request-timeout)"
        return text + (" while connecting" if connecting else "")

    def _api_error(self, method, response, resource):
        verb = _VERBS.get(method, method.lower())
        try:
            status = json.loads(response.body)
            message = status.get("message") or ""
            reason = status.get("reason") or response.reason
        except (ValueError, AttributeError):
            message, reason = "", response.reason
        what = resource.qualified if resource else "resource"
        if response.status == 401:
            message = (
                f"the server rejected the credentials of context {self.context} "
                "(401 Unauthorized); log in again or check the kubeconfig user"
            )
        elif response.status == 403 and not message:
            message = f"forbidden: cannot {verb} {what}"
        elif response.status == 429 and not message:
            message = "the server is too busy (429 Too Many Requests); try again"
        elif not message:
            message = f"{verb} {what}: {response.status} {response.reason}"
        return ApiError(response.status, reason, message, verb=verb, resource=what)

    # --- reads -------------------------------------------------------------------------

    def list_items(
        self,
        resource: Resource,
        namespace: str | None = None,
        selector: str | None = None,
        metadata_only: bool = False,
        field_selector: str | None = None,
    ) -> Listing:
        """The objects of a list, fetched a page (PAGE_SIZE objects, METADATA_PAGE_SIZE for
        metadata-only lists) at a time as they are iterated.

        The next page is fetched in a background thread while the caller works through the
        current one, and waits there undecoded (a fifth of its decoded size) until the caller
        moves on to it. Each object is released as soon as the caller moves on, so a list of any
        size costs about one decoded page of memory plus one page of bytes.
        """
        limit = METADATA_PAGE_SIZE if metadata_only else PAGE_SIZE
        params = {"limit": limit, "labelSelector": selector, "fieldSelector": field_selector}
        accept = METADATA_ONLY if metadata_only else "application/json"
        path = resource.path(namespace)

        def pages(listing):
            # The next page is fetched while the caller works through this one: the API
            # server's time for it overlaps ours.
            for page in prefetched(self._list_pages(path, params, accept, resource)):
                # Every page of a paginated list is read at the first page's version.
                if listing.resource_version is None:
                    listing.resource_version = page.metadata.get("resourceVersion")
                yield self._page_items(page, path)

        return Listing(pages)

    def _list_pages(self, path, params, accept, resource) -> Iterator[_Page]:
        """Each page of a list, one request each; its body stays undecoded when the metadata
        (the next request's continue token) can be read from the body's head."""
        query = params
        while True:
            response = self._send("GET", path, query, accept=accept, resource=resource)
            raw = response.body
            del response
            metadata = _list_head(raw)
            if metadata is None:
                answer = self._decoded(raw, path) if raw else {}
                metadata = answer.get("metadata") or {}
                raw = answer.get("items") or []
                del answer
            page = _Page(metadata, raw)
            del raw
            yield page
            del page
            token = metadata.get("continue")
            if not token:
                return
            query = dict(params, **{"continue": token})

    def _page_items(self, page, path) -> list[dict]:
        """The objects of a page from _list_pages."""
        body, page.body = page.body, None
        if not isinstance(body, bytes):
            return body
        try:
            # A page of 500 pods is ~5 MB of JSON: drop the bytes before the objects are built,
            # so a page is held twice (text, objects) rather than three times at the peak.
            text = body.decode("utf-8")
            del body
            return json.loads(text).get("items") or []
        except ValueError:
            raise self._not_json("GET", path) from None

    def _decoded(self, raw, path):
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise self._not_json("GET", path) from None

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[tuple[str, dict]]:
        """Yield (event type, object) from a watch that starts after resource_version, until
        the server ends it (after about timeout_seconds).

        BOOKMARK events carry only the newest resourceVersion, to resume from. A version the
        server has forgotten raises ApiError 410 (re-list, then watch again); a dropped
        connection raises Unreachable.
        """
        params = {
            "watch": "true",
            "labelSelector": selector,
            "fieldSelector": field_selector,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        # The server ends the watch after timeout_seconds: a read that waits much longer than
        # that means a stalled server or a dead connection.
        read_limit = Timeout(connect=self._timeout.connect, read=timeout_seconds + 30)
        path = resource.path(namespace)
        response = self._send(
            "GET", path, params, resource=resource, stream=True, timeout=read_limit
        )
        try:
            for line in response.lines():
                try:
                    event = json.loads(line)
                except ValueError:
                    raise self._not_json("GET", path) from None
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise ApiError(
                        obj.get("code") or 500,
                        obj.get("reason") or "Error",
                        obj.get("message") or "the watch failed",
                        verb="watch",
                        resource=resource.qualified,
                    )
                yield kind, obj
        except TimeoutError as error:
            raise Unreachable(
                f"the server {self.host} (context {self.context}) did not answer within "
                f"{self._describe_timeout(read_limit, error)}"
            ) from None
        except (http.client.HTTPException, OSError) as error:
            raise self._unreachable(error) from None
        finally:
            # A watch left early still has a body in flight: its connection is closed, not kept.
            response.close()

    def list_all(
        self,
        resource: Resource,
        namespace: str | None = None,
        selector: str | None = None,
        metadata_only: bool = False,
        field_selector: str | None = None,
    ) -> list[dict]:
        return list(self.list_items(resource, namespace, selector, metadata_only, field_selector))

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it (or its resource type) doesn't exist."""
        try:
            return self.request("GET", resource.path(namespace, name), resource=resource)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    def server_version(self) -> str:
        return self.request("GET", "/version").get("gitVersion")

    # --- writes ------------------------------------------------------------------------

    def create(self, resource: Resource, body: dict, namespace: str | None = None) -> dict:
        """POST an object (here: the access reviews `kubectl auth can-i` sends); the answer."""
        return self.request(
            "POST",
            resource.path(namespace),
            body=body,
            content_type="application/json",
            resource=resource,
        )

    def create_pod_dry_run(self, namespace: str, pod: dict, timeout: float | None = None) -> dict:
        """POST a pod with dryRun=All (canary.py): it goes through every mutating and validating
        admission webhook, PodSecurity and ResourceQuota as a real one would, and nothing is
        stored. The pod as admission left it; a refusal is an ApiError with the server's reason."""
        return self.request(
            "POST",
            PODS.path(namespace),
            params={"dryRun": "All", "fieldManager": "kubectl-sidecar"},
            body=pod,
            content_type="application/json",
            resource=PODS,
            timeout=timeout,
        )

    def patch(
        self,
        resource: Resource,
        name: str,
        body: dict,
        content_type: str,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str = "kubectl-sidecar",
        timeout: float | None = None,
    ) -> dict:
        """PATCH an object; the answer. timeout bounds this request (a stalled server must
        not hold a run past its deadline)."""
        params = {"fieldManager": field_manager, "dryRun": "All" if dry_run else None}
        return self.request(
            "PATCH",
            resource.path(namespace, name),
            params=params,
            body=body,
            content_type=content_type,
            resource=resource,
            timeout=timeout,
        )


def _tls_context(configuration):
    """The TLS context of every connection, built now from the files as they are now: the
    kubeconfig loader deletes the temp files holding client keys as soon as the Cluster exists
    (kubeconfig.py)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    # As urllib3 set it, and as kubectl (Go) allows: TLS 1.2 and up, names only from the
    # certificate's subjectAltName.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.hostname_checks_common_name = False
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.ssl_ca_cert:
        context.load_verify_locations(cafile=configuration.ssl_ca_cert)
    elif getattr(configuration, "ca_cert_data", None):  # plainconfig: the CA's PEM text
        context.load_verify_locations(cadata=configuration.ca_cert_data)
    else:
        context.load_default_certs()
    if configuration.assert_hostname is False:  # the official client's way to skip the check
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def request_headers(
    accept: str,
    content_type: str | None,
    authorization: str | None,
    compression: bool,
    impersonation: dict[str, str],
    groups: tuple[str, ...] | list[str] = (),
) -> list[tuple[str, str]]:
    """The headers of one request, in the order they are sent."""
    headers = [("Accept", accept), ("User-Agent", USER_AGENT)]
    if content_type:
        headers.append(("Content-Type", content_type))
    if authorization:
        headers.append(("Authorization", authorization))
    if compression:
        headers.append(("Accept-Encoding", "gzip"))
    headers.extend(impersonation.items())
    # One Impersonate-Group line per group: the API server reads each line as one group and
    # would take "a, b" as a single group named so.
    headers.extend(("Impersonate-Group", group) for group in groups)
    return headers


class _Page:
    """One page of a list: its metadata, and its objects or still their undecoded JSON."""

    __slots__ = ("metadata", "body")

    def __init__(self, metadata: dict, body: bytes | list[dict]):
        self.metadata = metadata
        self.body = body


# The API server writes a built-in list's fields in its Go struct's order: kind, apiVersion,
# metadata, then items. (Custom resources' lists sort their keys, so items come first there.)
_LIST_HEAD = re.compile(rb'\s*\{"kind":"[^"\\]*","apiVersion":"[^"\\]*","metadata":')
_HEAD_BYTES = 16 * 1024  # a list's metadata is a version and a continue token: well under this


def _list_head(raw: bytes) -> dict | None:
    """A list's metadata read from the head of its JSON without decoding the items, so the
    next page can be asked for before this one is decoded; None when the head isn't that."""
    head = _LIST_HEAD.match(raw)
    if head is None:
        return None
    # The cut may split a character far after the metadata: "replace" keeps it from failing.
    text = raw[head.end() : head.end() + _HEAD_BYTES].decode("utf-8", "replace")
    try:
        metadata, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    if not isinstance(metadata, dict) or not text.startswith((',"items":', "}"), end):
        return None
    return metadata


_DECODER = json.JSONDecoder()

T = TypeVar("T")
_ITEM, _END, _ERROR = object(), object(), object()


def prefetched(source: Iterator[T]) -> Iterator[T]:
    """The items of source, each next one taken from it in a background thread while the
    caller works on the current one: at most one ahead of the caller.

    For a paginated list the next page's network wait and the API server's time overlap the
    caller's work on this page (the socket read releases the GIL). An exception from source
    is raised to the caller once, as it was raised, and ends the iteration. Leaving early
    (close, break, an exception in the caller) stops it: nothing more is taken from source,
    and source is closed in the thread that ran it; a take in flight finishes in the
    background, where nothing waits for it.
    """
    handoff: queue.SimpleQueue = queue.SimpleQueue()
    wanted = threading.Semaphore(1)  # takes the thread may make that the caller hasn't asked for
    stop = threading.Event()

    def take_ahead():
        try:
            while True:
                wanted.acquire()
                if stop.is_set():
                    return
                try:
                    item = next(source)
                except StopIteration:
                    handoff.put((_END, None))
                    return
                except BaseException as error:  # noqa: BLE001 - raised in the caller instead
                    handoff.put((_ERROR, error))
                    return
                handoff.put((_ITEM, item))
                del item
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    threading.Thread(target=take_ahead, name="prefetch", daemon=True).start()
    try:
        while True:
            kind, value = handoff.get()
            if kind is _END:
                return
            if kind is _ERROR:
                raise value
            wanted.release()  # the caller has this one: take the next meanwhile
            yield value
            del value
    finally:
        stop.set()
        wanted.release()


def _connection_reason(error):
    text = str(getattr(error, "reason", None) or error)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "No route to host",
        "Network is unreachable",
        "Temporary failure in name resolution",
        "Connection reset",
    ):
        if marker in text:
            return marker.lower()
    return one_line(text)


def _ssl_reason(error):
    import re

    text = str(error)
    # --tls-server-name (or the server's address) that the certificate doesn't name.
    mismatch = re.search(r"Hostname mismatch, (certificate is not valid for '[^']*')", text)
    if mismatch:
        return f"the server's {mismatch.group(1)}"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "the server's certificate is not trusted by the kubeconfig's CA"
    return one_line(text)
