"""The tests' loopback Twilio (``tests.support.twilio_server.FakeTwilio``), served
from a process of its own so that its work does not compete with the client's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.twilio_server import FakeTwilio


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
    with FakeTwilio(latency=latency) as server:
        where = {
            "base_url": server.base_url,
            "account_sid": server.account_sid,
            "auth_token": server.auth_token,
        }
        print(json.dumps(where), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(float(sys.argv[1]))
