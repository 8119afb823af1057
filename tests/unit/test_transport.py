"""transport.py: its pure pieces (proxy URLs, gzip, headers), and its connections against a
scripted server on 127.0.0.1 (kept alive, closed by the server meanwhile, streamed, proxied)."""

import gzip
import http.client
import socket
import ssl
import threading
import time

import pytest

from kubectl_sidecar.cluster import USER_AGENT, request_headers
from kubectl_sidecar.transport import (
    ConnectTimeout,
    Gunzip,
    Pool,
    Proxy,
    Timeout,
    _Connection,
    _still_open,
    basic_authorization,
    gunzip,
    parse_proxy,
)

WAIT = Timeout(connect=120, read=120)


# --- pure pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, proxy",
    [
        ("http://127.0.0.1:3128", Proxy("http", "127.0.0.1", 3128, None)),
        ("proxy.corp:3128", Proxy("http", "proxy.corp", 3128, None)),  # kubectl: http:// implied
        ("http://proxy.corp", Proxy("http", "proxy.corp", 80, None)),
        ("HTTPS://proxy.corp", Proxy("https", "proxy.corp", 443, None)),
        ("http://[::1]:8080", Proxy("http", "::1", 8080, None)),
        (
            "http://alice:s%40cret@proxy.corp:3128",
            Proxy("http", "proxy.corp", 3128, "Basic YWxpY2U6c0BjcmV0"),
        ),
    ],
)
def test_proxy_urls_as_kubectl_reads_them(url, proxy):
    assert parse_proxy(url) == proxy


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "socks5://127.0.0.1:1080",
            "socks5:// proxies are not supported, only http:// and https://",
        ),
        ("http://proxy.corp:port", "has no valid port"),
        ("http://:3128", "names no host"),
    ],
)
def test_proxy_urls_we_cannot_use_say_why(url, message):
    with pytest.raises(ValueError, match=message):
        parse_proxy(url)


def test_basic_authorization_is_what_kubectl_sends():
    assert basic_authorization("admin", "pa:ss") == "Basic YWRtaW46cGE6c3M="


def test_gzip_decodes_whole_or_a_byte_at_a_time_and_across_members():
    text = b"".join(b'{"type":"ADDED","n":%d}\n' % n for n in range(2000))
    packed = gzip.compress(text)
    assert gunzip(packed) == text
    decoder = Gunzip()
    assert b"".join(decoder.feed(packed[i : i + 1]) for i in range(len(packed))) == text
    assert gunzip(gzip.compress(b"one\n") + gzip.compress(b"two\n")) == b"one\ntwo\n"


def test_headers_one_impersonate_group_line_per_group_in_order():
    headers = request_headers(
        "application/json",
        "application/merge-patch+json",
        "Bearer t",
        True,
        {"Impersonate-User": "alice", "Impersonate-Uid": "42"},
        ("team-a", "team-b"),
    )
    assert headers == [
        ("Accept", "application/json"),
        ("User-Agent", USER_AGENT),
        ("Content-Type", "application/merge-patch+json"),
        ("Authorization", "Bearer t"),
        ("Accept-Encoding", "gzip"),
        ("Impersonate-User", "alice"),
        ("Impersonate-Uid", "42"),
        ("Impersonate-Group", "team-a"),
        ("Impersonate-Group", "team-b"),
    ]
    plain = request_headers("application/json", None, None, False, {})
    assert plain == [("Accept", "application/json"), ("User-Agent", USER_AGENT)]


# --- connections, against a scripted server ---------------------------------------------------


class Server:
    """Accepts connections on 127.0.0.1 and hands each to script(connection, index) on a thread;
    records each request's head."""

    def __init__(self, script):
        self.script = script
        self.heads: list[str] = []
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(120)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            index, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._run, args=(connection, index), daemon=True).start()

    def _run(self, connection, index):
        with connection:
            connection.settimeout(120)
            try:
                self.script(self, connection, index)
            except OSError:
                pass

    def head(self, connection):
        data = b""
        while not data.endswith(b"\r\n\r\n"):
            byte = connection.recv(1)
            if not byte:
                return None
            data += byte
        head = data.decode("latin-1")
        self.heads.append(head)
        return head

    def close(self):
        self.listener.close()


def answer(body=b"{}", headers=""):
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.fixture
def serve():
    servers = []

    def start(script):
        server = Server(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_connection_is_kept_alive_between_requests(serve):
    def script(server, connection, index):
        while server.head(connection):
            connection.sendall(answer(b'{"n":1}'))

    server = serve(script)
    pool = Pool(server.url)
    for _ in range(3):
        assert pool.request("GET", "/version", [], None, WAIT).body == b'{"n":1}'
    assert server.accepted == 1


def test_a_kept_alive_connection_the_server_closed_meanwhile_is_no_error(serve):
    closed = threading.Event()

    def script(server, connection, index):
        server.head(connection)
        connection.sendall(answer(b'{"n":%d}' % index))
        if index == 0:
            connection.shutdown(socket.SHUT_RDWR)  # an idle timeout, as API servers and LBs have
            closed.set()

    server = serve(script)
    pool = Pool(server.url)
    assert pool.request("GET", "/a", [], None, WAIT).body == b'{"n":0}'
    assert closed.wait(120)
    [kept] = pool._idle
    deadline = time.monotonic() + 120
    while _still_open(kept.sock) and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's FIN is on its way
    assert not _still_open(kept.sock)  # seen before it is used: no request is lost to it
    assert pool.request("GET", "/b", [], None, WAIT).body == b'{"n":1}'
    assert server.accepted == 2


def test_a_streamed_chunked_gzip_body_comes_line_by_line(serve):
    events = b"".join(b'{"type":"ADDED","n":%d}\n' % n for n in range(50))
    packed = gzip.compress(events)
    release = threading.Event()

    def script(server, connection, index):
        server.head(connection)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        half = len(packed) // 2
        connection.sendall(b"%x\r\n%s\r\n" % (half, packed[:half]))
        assert release.wait(120)  # the first lines are read before the rest is even sent
        connection.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed) - half, packed[half:]))
        while server.head(connection):
            connection.sendall(answer())

    server = serve(script)
    pool = Pool(server.url)
    response = pool.request("GET", "/watch", [], None, WAIT, stream=True)
    lines = response.lines()
    assert next(lines) == b'{"type":"ADDED","n":0}'
    release.set()
    assert list(lines) == events.splitlines()[1:]
    response.close()
    pool.request("GET", "/after", [], None, WAIT)
    assert server.accepted == 1  # read to the end: the connection was given back


def test_a_stream_left_early_closes_its_connection(serve):
    def script(server, connection, index):
        server.head(connection)
        if index == 0:
            connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            connection.sendall(b"6\r\nline1\n\r\n")
            connection.recv(1)  # until the client closes
            return
        connection.sendall(answer())

    server = serve(script)
    pool = Pool(server.url)
    response = pool.request("GET", "/watch", [], None, WAIT, stream=True)
    assert next(response.lines()) == b"line1"
    response.close()
    pool.request("GET", "/after", [], None, WAIT)
    assert server.accepted == 2


def test_through_an_http_proxy_a_plain_request_names_its_server_in_full(serve):
    def script(server, connection, index):
        server.head(connection)
        connection.sendall(answer())

    proxy = serve(script)
    pool = Pool(
        "http://api.example:8080/base",
        proxy=Proxy("http", "127.0.0.1", proxy.port, "Basic YTpi"),
    )
    pool.request("GET", "/base/api/v1/pods?limit=500", [("Accept", "application/json")], None, WAIT)
    [head] = proxy.heads
    lines = head.split("\r\n")
    assert lines[0] == "GET http://api.example:8080/base/api/v1/pods?limit=500 HTTP/1.1"
    assert "Host: api.example:8080" in lines and "Proxy-Authorization: Basic YTpi" in lines


def test_a_write_sends_its_length_and_duplicate_headers(serve):
    def script(server, connection, index):
        head = server.head(connection)
        length = int(next(h for h in head.split("\r\n") if h.startswith("Content-Length:"))[15:])
        body = b""
        while len(body) < length:
            body += connection.recv(length - len(body))
        connection.sendall(answer(body))

    server = serve(script)
    headers = [("Impersonate-Group", "a"), ("Impersonate-Group", "b")]
    response = Pool(server.url).request("PATCH", "/x", headers, b'{"a":1}', WAIT)
    assert response.body == b'{"a":1}'
    lines = server.heads[0].split("\r\n")
    assert lines[0] == "PATCH /x HTTP/1.1"
    assert [line for line in lines if line.startswith("Impersonate-Group")] == [
        "Impersonate-Group: a",
        "Impersonate-Group: b",
    ]


def test_a_silent_handshake_is_a_connect_timeout_a_silent_answer_a_read_timeout(serve):
    held = threading.Event()

    def script(server, connection, index):
        held.wait(120)  # accepts, then says nothing: neither TLS nor HTTP

    try:
        server = serve(script)
        tls = ssl.create_default_context()
        with pytest.raises(ConnectTimeout):
            Pool(f"https://127.0.0.1:{server.port}", tls).request(
                "GET", "/", [], None, Timeout(connect=0.5, read=120)
            )
        with pytest.raises(TimeoutError) as raised:
            Pool(server.url).request("GET", "/", [], None, Timeout(connect=120, read=0.5))
        assert not isinstance(raised.value, ConnectTimeout)
    finally:
        held.set()


@pytest.mark.parametrize("method, resent", [("GET", True), ("PATCH", False)])
def test_a_connection_closed_as_it_is_reused_resends_only_a_read(serve, method, resent):
    def script(server, connection, index):
        server.head(connection)
        connection.sendall(answer(b'{"n":%d}' % index))
        if index == 0:
            server.head(connection)  # the next request arrives as the server gives up on it

    server = serve(script)
    pool = Pool(server.url)
    assert pool.request("GET", "/a", [], None, WAIT).body == b'{"n":0}'
    body = b"{}" if method == "PATCH" else None
    if resent:
        assert pool.request(method, "/b", [], body, WAIT).body == b'{"n":1}'
    else:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            pool.request(method, "/b", [], body, WAIT)
    assert server.accepted == (2 if resent else 1)


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://api.example", "api.example"),
        ("https://api.example:6443", "api.example:6443"),
        ("http://api.example", "api.example"),
        ("http://api.example:443", "api.example:443"),
        ("https://[::1]:6443", "[::1]:6443"),
    ],
)
def test_host_names_the_port_only_when_it_is_not_the_schemes_own(url, host):
    connection = _Connection(Pool(url), None)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        connection.sock = ours  # what is written, without connecting anywhere
        connection.putrequest("GET", "/", skip_accept_encoding=True)
        connection.endheaders()
        assert theirs.recv(64 * 1024).decode().split("\r\n")[:2] == [
            "GET / HTTP/1.1",
            f"Host: {host}",
        ]
