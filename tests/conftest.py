"""Fixtures every test can use: a MariaDB check, a fresh app database, a fake Twilio."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.appdb import AppDatabase, create_database, probe_server
from tests.support.twilio_server import FakeTwilio

START_HINT = (
    "start it with: start-stop-daemon --start --oknodo --background "
    "--exec /usr/sbin/mariadbd"
)


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
