"""A TCP proxy on loopback that can make the server behind it die and come back.

Clients talk to ``proxy.url``; bytes flow to and from the real server (moto) untouched
until ``cut_after(n)``: once clients have sent n more bytes, every open connection is
reset and every new one is closed as soon as it is accepted, as when an endpoint dies
in the middle of an upload. ``revive()`` lets connections through again.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._budget: int | None = None  # client bytes left before the cut; None: never cut
        self.down = threading.Event()
        self.on_cut: Callable[[], None] | None = None
        self.cuts = 0
        self.refused = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        self._listener.close()
        self._reset_all()  # and the connections still open: every socket the proxy made is closed

    def cut_after(self, client_bytes: int) -> None:
        with self._lock:
            self._budget = client_bytes

    def revive(self) -> None:
        with self._lock:
            self._budget = None
        self.down.clear()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _reset(client)
                continue
            with self._lock:  # the same lock as the cut: a connection is either refused or cut with the rest
                refused = self.down.is_set()
                if not refused:
                    self._open.update((client, upstream))
            if refused:
                self.refused += 1
                _reset(client)
                _reset(upstream)
                continue
            running = [2]  # the pumps of this connection; the last to end closes both sockets
            threading.Thread(target=self._pump, args=(client, upstream, True, running), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False, running), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool, running: list[int]) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self._spend(len(data)):
                    return
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            with self._lock:
                running[0] -= 1
                last = running[0] == 0
                if last:
                    self._open.difference_update((source, target))
            if last:
                source.close()
                target.close()

    def _spend(self, size: int) -> bool:
        """Count client bytes; True when this chunk crosses the budget and the endpoint died."""
        with self._lock:
            if self._budget is None:
                return False
            self._budget -= size
            if self._budget > 0:
                return False
            self._budget = None
            self.down.set()
        self.cuts += 1
        self._reset_all()
        if self.on_cut is not None:
            self.on_cut()
        return True

    def _reset_all(self) -> None:
        with self._lock:
            doomed, self._open = self._open, set()
        for connection in doomed:
            _reset(connection)


def _reset(connection: socket.socket) -> None:
    """Close with RST, as a crashed server's kernel would, rather than a polite FIN."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    except OSError:
        pass
