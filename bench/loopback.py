"""A bare loopback Twilio Messages API, used only while ``tests.support`` lacks one.

It accepts every send after ``latency`` seconds and keeps what it was sent; the
shared test double (``tests.support.twilio_server.FakeTwilio``) replaces it as
soon as it is importable, through :func:`fake_twilio`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs


class FakeTwilio:
    """Answers ``POST .../Messages.json`` on 127.0.0.1 after ``latency`` seconds."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.account_sid = f"AC{secrets.token_hex(16)}"
        self.auth_token = secrets.token_hex(16)
        self.latency = latency
        self.messages: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeTwilio:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, form: dict[str, str]) -> dict[str, Any]:
        """Keep one message and return its JSON representation."""
        message = {
            "sid": f"SM{secrets.token_hex(16)}",
            "account_sid": self.account_sid,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "body": form.get("Body", ""),
            "status": "queued",
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
        }
        with self._lock:
            self.messages.append(message)
        return message


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {
                key: values[0]
                for key, values in parse_qs(self.rfile.read(length).decode()).items()
            }
            time.sleep(fake.latency)
            self._answer(201, fake.record(form))

        def do_GET(self) -> None:
            time.sleep(fake.latency)
            self._answer(200, {"messages": [], "next_page_uri": None})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def fake_twilio(latency: float) -> Any:
    """The shared test double when present, otherwise this module's."""
    try:
        from tests.support.twilio_server import (  # type: ignore[import-untyped]  # test helpers ship no py.typed
            FakeTwilio as Shared,
        )
    except ImportError:
        return FakeTwilio(latency=latency)
    return Shared(latency=latency)


@dataclass(frozen=True, slots=True)
class Remote:
    """Where a fake served by another process listens, and its credentials."""

    base_url: str
    account_sid: str
    auth_token: str


@contextmanager
def fake_twilio_process(latency: float) -> Iterator[Remote]:
    """A fake Twilio in its own process, so its work does not share our GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.loopback", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        yield Remote(**json.loads(process.stdout.readline()))
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def main(latency: float) -> None:
    """Serve until stdin closes, having printed where, as one JSON line."""
    with fake_twilio(latency) as server:
        where = {
            "base_url": server.base_url,
            "account_sid": server.account_sid,
            "auth_token": server.auth_token,
        }
        print(json.dumps(where), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(float(sys.argv[1]))
