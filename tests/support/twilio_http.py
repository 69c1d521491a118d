"""The HTTP plumbing under ``FakeTwilio``: parse, record, answer or hang up.

Each connection gets its own thread and keeps alive between requests (HTTP/1.1),
so a pooled client pays no reconnect per message and slow answers overlap.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from tests.support.twilio_errors import Reply


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it; credentials are reduced to ``authorized``."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    authorized: bool
    received_at: datetime


class Answerer(Protocol):
    """What the HTTP layer needs from the fake behind it."""

    account_sid: str
    auth_token: str

    def now(self) -> datetime: ...

    def answer(self, request: RecordedRequest) -> Reply | None: ...


class LoopbackServer(ThreadingHTTPServer):
    """A threaded server on ``127.0.0.1`` that can close its open connections."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, fake: Answerer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # A short poll keeps stop() quick; the default half second adds up in tests.
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.02,), name="fake-twilio", daemon=True
        )

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        """Remember or forget a client connection, so ``stop`` can cut it."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, then shut every kept-alive connection."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # The peer may already be gone; shutting a dead socket is harmless.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)


def serve_in_thread(fake: Answerer) -> LoopbackServer:
    """Bind a free loopback port for ``fake`` and start serving it."""
    server = LoopbackServer(fake)
    server.start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: tests read the fake's records, not its access log."""

    def _serve(self) -> None:
        reply = self.server.fake.answer(self._record())
        if reply is None:
            self.close_connection = True
            return

        body = b"" if reply.payload is None else json.dumps(reply.payload).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> RecordedRequest:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode("utf-8") if length else ""
        return RecordedRequest(
            method=self.command,
            path=url.path,
            query=_first_values(url.query),
            form=_first_values(form),
            authorized=self._authorized(),
            received_at=self.server.fake.now(),
        )

    def _authorized(self) -> bool:
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            credentials = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            return False

        fake = self.server.fake
        expected = f"{fake.account_sid}:{fake.auth_token}".encode()
        return hmac.compare_digest(credentials, expected)


def _first_values(encoded: str) -> dict[str, str]:
    parsed = parse_qs(encoded, keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}
