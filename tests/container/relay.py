"""A TCP relay from the pods' bridge to a server on loopback (what a Service gives pods)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from typing import Any


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until EOF, then half-close the other side."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        with socket.create_connection(("127.0.0.1", self.server.target_port), timeout=10) as up:
            up.settimeout(None)
            back = threading.Thread(target=_pump, args=(up, self.request), daemon=True)
            back.start()
            _pump(self.request, up)
            back.join()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], target_port: int) -> None:
        self.target_port = target_port
        super().__init__(address, _Handler)


class TcpRelay:
    """Listen on `host` (a free port) and forward each connection to 127.0.0.1:`target_port`.

    The Temporal dev server must listen on loopback: `--ip` also binds its internal services,
    which it then dials at 127.0.0.1 (temporalio/cli v1.8.2 internal/devserver/server.go,
    `temporal.WithStaticHosts` with `localhost = "127.0.0.1"`), so `--ip <bridge address>`
    leaves the server unable to reach its own matching service. The throwaway PostgreSQL
    trusts loopback only; the relay lets pods on a podman bridge reach both through the
    bridge's gateway address, without exposing either on any other interface.
    """

    def __init__(self, host: str, target_port: int) -> None:
        self._server = _Server((host, 0), target_port)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port as pods dial it."""
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Stop accepting; open connections end with the test process."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
