"""HTTP/1.1 to one API server on the standard library (http.client, ssl): kept-alive connections
shared by threads, a (connect, read) time limit per request, gzip, streamed bodies, http:// and
https:// proxies.

urllib3 did this before, and importing it was the largest single cost of a small cluster's
`status` (~30 ms of ~180: its logging, hashlib, mimetypes, its URL module's regexes), on top of
http.client and ssl, which it imports too. Nothing here knows Kubernetes: cluster.py builds the
requests and turns every exception raised here into its own errors.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import NamedTuple

MAX_IDLE = 8  # kept-alive connections; more may be open at once, the rest are closed after use
_CHUNK = 64 * 1024
# Only requests that change nothing are sent again on a new connection when a kept-alive one
# turns out to have been closed by the server as it was reused.
_SAFE_TO_RESEND = ("GET", "HEAD")
_CLOSED_BY_PEER = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
)


class Timeout(NamedTuple):
    """Seconds to connect (TCP, a proxy's CONNECT, the TLS handshake) and for each read of the
    answer; None: no limit."""

    connect: float | None
    read: float | None


class ConnectTimeout(TimeoutError):
    """Connecting took longer than the connect limit (a read that did raises TimeoutError)."""


class ProxyRefused(OSError):
    """The proxy answered CONNECT with something other than 200."""


class Proxy(NamedTuple):
    scheme: str  # "http" or "https"
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization header, from the URL's user:password


SUPPORTED_PROXIES = "http:// and https://"


def parse_proxy(url: str) -> Proxy:
    """A proxy URL as kubectl reads one (a bare host:port is http://); ValueError saying what is
    wrong when it isn't a proxy this module can use."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{scheme}:// proxies are not supported, only {SUPPORTED_PROXIES}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"the proxy URL {url!r} has no valid port") from None
    if not parts.hostname:
        raise ValueError(f"the proxy URL {url!r} names no host")
    authorization = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        authorization = basic_authorization(user, password)
    return Proxy(scheme, parts.hostname, port, authorization)


def basic_authorization(user: str, password: str) -> str:
    """The value of an Authorization header for HTTP basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("latin-1")).decode()


class Gunzip:
    """A gzip body decoded as it arrives, one piece at a time; several gzip members in a row
    decode as one body, as urllib3 decoded them."""

    def __init__(self):
        self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = [self._decoder.decompress(data)]
        while self._decoder.eof and self._decoder.unused_data:
            rest = self._decoder.unused_data
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(self._decoder.decompress(rest))
        return b"".join(out)


def gunzip(data: bytes) -> bytes:
    return Gunzip().feed(data)


class Response:
    """The status and headers of an answer, and its body: whole (`body`) or, for a streamed
    request, read by `lines()` and given back with `close()`."""

    def __init__(self, status: int, reason: str, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self._pool: Pool | None = None
        self._connection: _Connection | None = None
        self._raw: http.client.HTTPResponse | None = None

    def lines(self) -> Iterator[bytes]:
        """The non-blank lines of a streamed body as they arrive (a watch: one event a line)."""
        raw = self._raw
        assert raw is not None, "lines() of a response that was read whole"
        gzip = Gunzip() if _is_gzip(self.headers) else None
        pending = b""
        while True:
            chunk = raw.read1(_CHUNK)
            if not chunk:
                break
            if gzip is not None:
                chunk = gzip.feed(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if line.strip():
                    yield line
        if pending.strip():
            yield pending

    def read(self) -> bytes:
        """The rest of a streamed body, whole (an error's Status)."""
        raw = self._raw
        assert raw is not None, "read() of a response that was read whole"
        data = raw.read()
        return gunzip(data) if _is_gzip(self.headers) else data

    def close(self) -> None:
        """Give the connection back when its body was read to the end; else (a watch left early)
        close it: the rest of that body is still on its way."""
        connection, self._connection = self._connection, None
        if connection is None or self._pool is None:
            return
        raw = self._raw
        if raw is not None and raw.isclosed() and not raw.will_close:
            self._pool.give_back(connection)
        else:
            connection.close()


def _is_gzip(headers) -> bool:
    return (headers.get("Content-Encoding") or "").strip().lower() == "gzip"


class Pool:
    """Connections to one server (through its proxy, if any), safe to share between threads:
    each request takes an idle connection, or opens one, and gives it back when its answer has
    been read."""

    def __init__(
        self,
        url: str,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        proxy: Proxy | None = None,
    ):
        parts = urllib.parse.urlsplit(url)
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.tls = tls
        # The name TLS sends (SNI) and checks the certificate against: tls-server-name when
        # the kubeconfig sets one, else the server's own host.
        self.server_hostname = (server_hostname or self.host).rstrip(".")
        self.proxy = proxy
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._proxy_tls: ssl.SSLContext | None = None

    def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: Timeout,
        stream: bool = False,
    ) -> Response:
        """Send one request (target: the path and query); its answer, the body read whole and
        decoded unless stream. Raises ConnectTimeout, TimeoutError, ssl.SSLError, OSError or
        http.client.HTTPException."""
        if self.proxy is not None and self.scheme == "http":
            # A proxy forwards plain HTTP requests that name their server in full.
            target = f"http://{_netloc(self.host, self.port)}{target}"
            if self.proxy.authorization:
                headers = [*headers, ("Proxy-Authorization", self.proxy.authorization)]
        connection, reused = self._take(timeout)
        try:
            try:
                raw = self._exchange(connection, method, target, headers, body, timeout)
            except _CLOSED_BY_PEER:
                if not reused or method not in _SAFE_TO_RESEND:
                    raise
                connection.close()
                connection = self._open(timeout)
                raw = self._exchange(connection, method, target, headers, body, timeout)
            if stream:
                response = Response(raw.status, raw.reason, raw.headers, b"")
                response._pool, response._connection, response._raw = self, connection, raw
                return response
            data = raw.read()
            if _is_gzip(raw.headers):
                data = gunzip(data)
        except BaseException:
            connection.close()
            raise
        if raw.will_close:
            connection.close()
        else:
            self.give_back(connection)
        return Response(raw.status, raw.reason, raw.headers, data)

    def _exchange(self, connection, method, target, headers, body, timeout):
        if connection.sock is None:
            connection.connect()
        connection.sock.settimeout(timeout.read)
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        return connection.getresponse()

    def _take(self, timeout: Timeout) -> tuple[_Connection, bool]:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._open(timeout), False
            if _still_open(connection.sock):
                return connection, True
            connection.close()

    def _open(self, timeout: Timeout) -> _Connection:
        connection = _Connection(self, timeout.connect)
        connection.connect()
        return connection

    def give_back(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- connecting ----------------------------------------------------------------------

    def open_socket(self, limit: float | None):
        """A socket to the server, through the proxy and TLS as configured. Any step that
        outlasts limit raises ConnectTimeout."""
        try:
            if self.proxy is None:
                sock = _connect(self.host, self.port, limit)
            else:
                sock = _connect(self.proxy.host, self.proxy.port, limit)
                if self.proxy.scheme == "https":
                    sock = self._proxy_context().wrap_socket(sock, server_hostname=self.proxy.host)
                if self.scheme == "https":
                    self._tunnel(sock)
            if self.scheme == "https":
                assert self.tls is not None
                sock = self._wrap(sock)
        except TimeoutError as error:
            raise ConnectTimeout(str(error) or "timed out") from None
        sock.settimeout(limit)
        return sock

    def _wrap(self, sock):
        assert self.tls is not None
        if isinstance(sock, ssl.SSLSocket):
            # TLS to the server inside TLS to an https:// proxy: the standard library's
            # sockets can't be wrapped twice; urllib3's SSLTransport does it, imported only here.
            from urllib3.util.ssltransport import SSLTransport

            return SSLTransport(sock, self.tls, self.server_hostname)
        try:
            return self.tls.wrap_socket(sock, server_hostname=self.server_hostname)
        except BaseException:
            sock.close()
            raise

    def _proxy_context(self) -> ssl.SSLContext:
        # The proxy's certificate is checked against the system's CAs, as urllib3 checked it.
        if self._proxy_tls is None:
            self._proxy_tls = ssl.create_default_context()
        return self._proxy_tls

    def _tunnel(self, sock) -> None:
        assert self.proxy is not None
        where = _netloc(self.host, self.port)
        lines = [f"CONNECT {where} HTTP/1.1", f"Host: {where}"]
        if self.proxy.authorization:
            lines.append(f"Proxy-Authorization: {self.proxy.authorization}")
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            # The proxy sends nothing after its answer until the TLS handshake starts, so the
            # answer's buffered reader can't take bytes of the tunnel.
            answer = http.client.HTTPResponse(sock, method="CONNECT")
            answer.begin()
        except BaseException:
            sock.close()
            raise
        if answer.status != 200:
            sock.close()
            raise ProxyRefused(
                f"the proxy {self.proxy.scheme}://{_netloc(self.proxy.host, self.proxy.port)} "
                f"answered CONNECT {where} with {answer.status} {answer.reason}"
            )


class _Connection(http.client.HTTPConnection):
    """http.client's connection, its socket opened by its Pool (proxy, tunnel, TLS)."""

    def __init__(self, pool: Pool, connect_limit: float | None):
        # The server's host and port: http.client writes them in the Host header.
        super().__init__(pool.host, pool.port, timeout=connect_limit)
        # Host names the port only when it isn't the scheme's own, as urllib3 and kubectl write it.
        self.default_port = 443 if pool.scheme == "https" else 80
        self._pool = pool
        self._connect_limit = connect_limit

    def connect(self):
        self.sock = self._pool.open_socket(self._connect_limit)


def _connect(host: str, port: int, limit: float | None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=limit)
    # Requests are small and each waits for its answer: don't hold their last segment back.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _still_open(sock) -> bool:
    """Whether a kept-alive connection can take another request: a connection the server closed
    meanwhile, or one with unasked-for bytes, reads as ready (what urllib3 checked too)."""
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # select() can't take a descriptor above 1023
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
