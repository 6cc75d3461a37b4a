"""A TCP proxy in front of the test homeserver that a test can take down and bring back.

Faster and more precise than stopping Synapse: `pause()` cuts every open connection and
from then on closes each new one at once, as a homeserver that went away would; `resume()`
forwards again. `turned_away` counts the connections refused while paused, so a test can
wait for the client to have noticed the outage, and check it did not hammer the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class PausableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._paused = False
        self._open: set[socket.socket] = set()
        self.turned_away = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        threading.Thread(target=self._accept_forever, name="proxy-accept", daemon=True).start()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            cut, self._open = self._open, set()
        for sock in cut:
            _close(sock)

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self) -> None:
        self.pause()
        _close(self._listener)

    def _accept_forever(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._paused:
                    self.turned_away += 1
                    _close(client)
                    continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                paused = self._paused  # paused while this one was connecting: cut it too
                if not paused:
                    self._open |= {client, upstream}
            if paused:
                _close(client)
                _close(upstream)
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # cut by pause() or by the other side
        finally:
            with self._lock:
                self._open -= {source, sink}
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected any more
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
