"""A TCP proxy the test controls: cut every connection through it, refuse new ones, restore.

Standing between the services and RabbitMQ, it takes the broker away from them exactly as a
stopped broker would, without touching the broker other people use.
"""

import contextlib
import queue
import socket
import threading
import time

from tests.support.ports import free_port


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, reply_delay: float = 0.0
                 ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.reply_delay = reply_delay  # held back before each chunk the server sends: a far server
        self.port = free_port()
        self.accepted = 0  # connections opened through the proxy
        self._blocked = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self) -> "TcpProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.block()
        self._thread.join(timeout=2)
        self._listener.close()

    def block(self) -> None:
        """Cut every open connection and refuse new ones, as a stopped broker would."""
        self._blocked.set()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def unblock(self) -> None:
        self._blocked.clear()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._blocked.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=3)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            self.accepted += 1
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst, delay in ((client, upstream, 0.0),
                                    (upstream, client, self.reply_delay)):
                threading.Thread(target=self._pipe, args=(src, dst, delay), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, delay: float) -> None:
        if delay:
            self._pipe_late(src, dst, delay)
            return
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _pipe_late(self, src: socket.socket, dst: socket.socket, delay: float) -> None:
        """Each chunk arrives `delay` seconds after it was sent, as over a long link: chunks
        sent together arrive together, one after another they arrive one after another."""
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def deliver() -> None:
            with contextlib.suppress(OSError):
                while (item := chunks.get())[1]:
                    time.sleep(max(0.0, item[0] - time.monotonic()))
                    dst.sendall(item[1])
            self._close(src, dst)

        threading.Thread(target=deliver, daemon=True).start()
        try:
            while data := src.recv(65536):
                chunks.put((time.monotonic() + delay, data))
        except OSError:
            pass
        chunks.put((time.monotonic() + delay, b""))

    def _close(self, src: socket.socket, dst: socket.socket) -> None:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._sockets.discard(sock)
