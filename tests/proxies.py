"""A TCP proxy the e2e tests put between a crawl and a service (PostgreSQL, Redis) to make
the service "go away" mid-crawl: cut on demand (``stop()``), or once ``cut_after`` bytes have
gone from client to server."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """Listens on ``127.0.0.1:port`` (0: any free port, in ``self.port``) and forwards each
    connection to ``target``. ``stop()`` closes every connection and stops listening: the
    clients' reads fail and their reconnections are refused. It is called by the test when
    it chooses, or by the proxy itself once ``cut_after`` bytes have gone upstream (None:
    never); ``self.cut`` is set from then on."""

    def __init__(self, target: tuple[str, int], cut_after: int | None = None, port: int = 0):
        self.target = target
        self.cut_after = cut_after
        self.sent = 0
        self.cut = threading.Event()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """``url`` (``scheme://[user[:password]@]host:port/...``, the target's address
        written as in ``self.target``) through the proxy."""
        host, port = self.target
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was shut down: cut
            if self.cut.is_set():  # accepted while being cut: the service is away
                client.close()
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        # OSError: either side closed, or the cut shut the sockets: the pump ends either way
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
                if upstream:
                    with self.lock:
                        self.sent += len(data)
                    if self.cut_after is not None and self.sent >= self.cut_after:
                        self.stop()
                        break
        for s in (src, dst):
            with contextlib.suppress(OSError):  # already shut down by the other pump
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Cut: close every connection and stop listening (later connections are refused)."""
        self.cut.set()
        with contextlib.suppress(OSError):
            # shutdown wakes the thread blocked in accept(); close alone leaves it accepting
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):  # closed by its pump already
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
