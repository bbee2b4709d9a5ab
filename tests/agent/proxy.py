"""A TCP forwarder on 127.0.0.1 that a test can cut and restore: the control plane "goes down" for the agent."""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """``swallow``: how many of the first connections have their request delivered and their answer dropped (the
    client sees the connection close with no answer, as when its own timeout ran out under load)."""

    def __init__(self, target_port: int, port: int = 0, swallow: int = 0):
        self.target_port = target_port
        self.port = port
        self.swallow, self.swallowed = swallow, 0
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
                drop = self.swallowed < self.swallow
                self.swallowed += drop
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._drop if drop else self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    @staticmethod
    def _drop(source: socket.socket, sink: socket.socket) -> None:
        """The answer read and thrown away (until the server has been quiet for 0.2 s after its first bytes), then
        the client's connection closed."""
        source.settimeout(30)
        try:
            while source.recv(65536):
                source.settimeout(0.2)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.close()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open = []
