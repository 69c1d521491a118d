"""Fixtures every test can use: a MariaDB check, a fresh app database, a fake Twilio."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.appdb import AppDatabase, create_database, probe_server
from tests.support.twilio_server import FakeTwilio

START_HINT = (
    "start it with: start-stop-daemon --start --oknodo --background "
    "--exec /usr/sbin/mariadbd"
)


MARIADBD = Path("/usr/sbin/mariadbd")


def pytest_configure(config: pytest.Config) -> None:
    """Start the machine's MariaDB before collection if it is installed but down,
    the way the README says to; tests that need it still skip (or, on CI, fail)
    when it does not come up."""
    if probe_server() is None or not MARIADBD.exists():
        return
    starter = shutil.which("start-stop-daemon")
    if starter is None:
        return
    subprocess.run(
        [starter, "--start", "--oknodo", "--background", "--exec", str(MARIADBD)],
        check=False,
        capture_output=True,
    )
    deadline = time.monotonic() + 30
    while probe_server() is not None and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.fixture(scope="session")
def mariadb() -> None:
    """Require MariaDB on 127.0.0.1:3306; skip without it, except on CI, which fails."""
    problem = probe_server()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; CI must run the database tests", pytrace=False)
    pytest.skip(f"{problem} ({START_HINT})")


@pytest.fixture
def app_db(mariadb: None, request: pytest.FixtureRequest) -> Iterator[AppDatabase]:
    """A fresh database with the app's tables, dropped afterwards.

    Tables use DATETIME and the recommended indexes unless the test parametrizes
    ``app_db`` indirectly with ``create_tables`` options, e.g.
    ``{"timestamp_type": "TIMESTAMP", "indexes": False}``.
    """
    options = getattr(request, "param", {})
    database = create_database()
    try:
        database.create_tables(**options)
        yield database
    finally:
        database.drop()


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A running ``FakeTwilio`` on a loopback port, stopped afterwards."""
    with FakeTwilio() as server:
        yield server
