"""Test support shared by the test suite and the benchmarks.

``FakeTwilio`` stands in for Twilio's Messages API on a loopback port;
``appdb`` makes throwaway MariaDB databases shaped like the habit app's.
"""

from tests.support.appdb import AppDatabase, create_database, throwaway_database
from tests.support.twilio_errors import Reply, error_reply
from tests.support.twilio_http import RecordedRequest
from tests.support.twilio_messages import FakeMessage
from tests.support.twilio_server import FakeTwilio

__all__ = [
    "AppDatabase",
    "FakeMessage",
    "FakeTwilio",
    "RecordedRequest",
    "Reply",
    "create_database",
    "error_reply",
    "throwaway_database",
]
