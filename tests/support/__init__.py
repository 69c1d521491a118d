"""Test support shared by the test suite and the benchmarks.

``FakeTwilio`` stands in for Twilio's Messages API on a loopback port;
``appdb`` makes throwaway MariaDB databases shaped like the habit app's.
"""

from tests.support.twilio_errors import Reply
from tests.support.twilio_http import RecordedRequest
from tests.support.twilio_messages import FakeMessage
from tests.support.twilio_server import FakeTwilio

__all__ = ["FakeMessage", "FakeTwilio", "RecordedRequest", "Reply"]
