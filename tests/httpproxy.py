"""An HTTP proxy on loopback that tunnels HTTPS with CONNECT, as a corporate proxy does.

With credentials set it answers 407 to a CONNECT without the matching Basic
``Proxy-Authorization``. ``tunnels`` lists the ``host:port`` of every tunnel it opened
and ``refused`` counts the 407s.
"""

from __future__ import annotations

import base64
import socket
import threading


class ConnectProxy:
    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self._expected = None
        if user is not None:
            self._expected = "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.tunnels: list[str] = []
        self.refused = 0
        self._thread = threading.Thread(target=self._accept, name="connect-proxy", daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            request, *header_lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = request.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)
            }
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self._expected is not None and headers.get("proxy-authorization") != self._expected:
                self.refused += 1  # curl first asks without credentials, to learn the scheme: that is normal
                client.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nConnection: close\r\n"
                    b'Proxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n'
                )
                client.shutdown(socket.SHUT_WR)
                while client.recv(4096):  # let the client close first: no reset with its data unread
                    pass
                return
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)))
            except (OSError, ValueError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with upstream:
                pump = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                pump.start()
                _pump(client, upstream)
                pump.join()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass
