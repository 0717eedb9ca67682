"""A tiny TCP relay that cuts the server's answer after N bytes (a real dropped connection)."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class CuttingProxy:
    """Relay 127.0.0.1:<port> → upstream; forward only ``cut_after`` bytes of an answer, then close.

    Used to cut a download midway: no mocking, the client sees a genuine short read.
    ``cut_after`` may also be a list: connection *n* is cut after ``cut_after[n - 1]`` bytes and
    connections past the list are relayed whole (a stream that is cut again and again, each time
    a little further on).
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        cut_after: int | list[int],
        cut_connections: int = 1_000_000,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.cut_after = cut_after
        if isinstance(cut_after, list):
            cut_connections = len(cut_after)
        #: only the first ``cut_connections`` connections are cut; later ones are relayed whole
        self.cut_connections = cut_connections
        self.connections = 0
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | object) -> None:
        self._stop.set()
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            limit: int | None = None
            if self.connections <= self.cut_connections:
                cut = self.cut_after
                limit = cut[self.connections - 1] if isinstance(cut, list) else cut
            threading.Thread(target=self._relay, args=(client, limit), daemon=True).start()

    def _relay(self, client: socket.socket, limit: int | None) -> None:
        upstream = socket.create_connection(self.upstream)

        def pump_up() -> None:
            try:
                while data := client.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=pump_up, daemon=True).start()
        sent = 0
        try:
            while limit is None or sent < limit:
                data = upstream.recv(65536 if limit is None else min(65536, limit - sent))
                if not data:
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
