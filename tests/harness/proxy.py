"""A minimal CONNECT proxy for the e2e tier: it records every request it is sent (its request line
and Proxy-Authorization), tunnels CONNECT to names it may map to addresses of its own (so a test
can name a server that only the proxy can reach; 502 for a name it can't reach), and answers
anything else 405. With a
certificate it is an https:// proxy: TLS to its clients, the tunnel inside it."""

import select
import socket
import ssl
import threading


class ConnectProxy:
    def __init__(self, hosts=None, certificate=None):
        self.hosts = dict(hosts or {})  # name in CONNECT -> address to dial
        self.seen: list[tuple[str, str | None]] = []  # (request line, Proxy-Authorization)
        self._tls = None
        if certificate is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*certificate)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        scheme = "https" if self._tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._listener.close()

    def connects(self):
        """The targets of the CONNECT lines seen, with their Proxy-Authorization."""
        return [
            (line.split()[1], authorization)
            for line, authorization in self.seen
            if line.startswith("CONNECT ")
        ]

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            if self._tls is not None:
                client = self._tls.wrap_socket(client, server_side=True)
            with client:
                head = _read_head(client)
                if head is None:
                    return
                line, *fields = head.split("\r\n")
                headers = dict(field.split(":", 1) for field in fields if ":" in field)
                headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
                self.seen.append((line, headers.get("proxy-authorization")))
                method, target, _ = line.split(" ", 2)
                if method != "CONNECT":
                    client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                host, port = target.rsplit(":", 1)
                host = host.strip("[]")
                try:
                    upstream = socket.create_connection((self.hosts.get(host, host), int(port)))
                except OSError:
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                with upstream:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _pipe(client, upstream)
        except (OSError, ValueError):
            return


def _read_head(sock):
    """The request line and headers, read a byte at a time: nothing of the tunnel after them."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            return None
        data += byte
    return data[:-4].decode("latin-1")


def _pipe(client, upstream):
    """Bytes both ways until either side closes; one thread, as a TLS socket wants."""
    while True:
        pending = getattr(client, "pending", None)
        if pending is not None and pending():
            ready = [client]
        else:
            ready, _, _ = select.select([client, upstream], [], [], 600)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(64 * 1024)
            if not data:
                return
            (upstream if sock is client else client).sendall(data)
