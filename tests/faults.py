"""A TCP gate between the service and a real server, to cut the line or freeze it in tests.

``down()`` is a stopped server (new connections refused, open ones closed); ``freeze()`` a hung one
(connections accepted, nothing answered: SIGSTOP); ``up()`` brings it back on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpGate:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.frozen = False
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        self.frozen = False
        if self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown wakes the thread blocked in accept(); close alone would not
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def freeze(self) -> None:
        self.frozen = True

    def close(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        while self.frozen:  # a hung server: the connection is accepted and never answered
            time.sleep(0.05)
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        server.settimeout(None)
        with self._lock:
            self._open.update((client, server))
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                while self.frozen:
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def dead_worker() -> str:
    """The worker ID (``core.processes``) of a process of this host that has exited: a killed worker."""
    import subprocess

    from core.processes import worker_id

    proc = subprocess.Popen(["true"])
    proc.wait()
    return worker_id(proc.pid)
