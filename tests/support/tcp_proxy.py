"""A loopback TCP proxy that can cut every connection, to lose the database mid-run.

The MariaDB server on this machine is shared, so tests never restart it. Instead
the notifier is pointed at this proxy, and ``cut`` closes every connection
through it and turns new ones away until ``restore``. As the client sees it, that
is the database going away: open connections die mid-query, and reconnecting
fails until the proxy lets connections through again. On the server's side the
sessions end, so their transactions roll back and their named locks are freed,
as when a server restarts.

    with TcpProxy("127.0.0.1", 3306) as proxy:
        url = f"mysql+pymysql://root:@127.0.0.1:{proxy.port}/app"
        proxy.cut()
        proxy.restore()
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

_CHUNK = 65536
_POLL = 0.05


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``host:port`` until cut or closed."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(
            target=self._accept_loop, name="tcp-proxy", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        """Whether connections are being turned away."""
        return self._cut.is_set()

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until ``restore``."""
        self._cut.set()
        with self._lock:
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            _reset(sock)

    def restore(self) -> None:
        """Let connections through again."""
        self._cut.clear()

    def close(self) -> None:
        """Stop listening and cut everything."""
        self._closed.set()
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _reset(client)
                continue
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
            self.connections += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(source, sink), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(_CHUNK):
                sink.sendall(chunk)
        except OSError:
            pass
        # Either side hanging up ends the pair, as a real connection would end.
        with self._lock:
            self._open.discard(source)
            self._open.discard(sink)
        _reset(source)
        _reset(sink)


def _reset(sock: socket.socket) -> None:
    """Close with a reset, not a polite FIN, as a crashed peer's kernel would."""
    # The socket may already be closed by the other pump thread; that is fine.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
