"""The fake Twilio server, driven by the real ``twilio`` client.

Twilio's servers cannot run here, so ``FakeTwilio`` fakes them at the HTTP
boundary; these tests hold it to the behaviour the official client relies on.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.support.sms_segments import count_segments
from tests.support.twilio_errors import Reply, error_reply
from tests.support.twilio_http import RecordedRequest
from tests.support.twilio_server import FakeTwilio

ANA, BEN = "+15005550006", "+15005550007"
SENDER = "+15005550001"
SERVICE = "MG" + "0" * 32


class ManualClock:
    """A clock that stays where the test puts it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def send(client: Any, to: str = ANA, body: str = "Time to stretch") -> Any:
    """Send one message from the usual sender."""
    return client.messages.create(to=to, from_=SENDER, body=body)


def raw_get(server: FakeTwilio, url: str, **params: Any) -> requests.Response:
    """GET a path or URL on the fake with valid credentials, bypassing the client."""
    full = url if url.startswith("http") else server.base_url + url
    auth = (server.account_sid, server.auth_token)
    return requests.get(full, params=params, auth=auth, timeout=5)


class TestCreate:
    def test_created_message_is_answered_and_recorded(
        self, fake_twilio: FakeTwilio
    ) -> None:
        """A valid send answers 201 with a queued resource and records it."""
        client = fake_twilio.client()

        message = send(client, body="Hola 👋")

        assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
        assert (message.to, message.from_, message.body) == (ANA, SENDER, "Hola 👋")
        assert message.status == "queued"
        assert message.direction == "outbound-api"
        assert message.num_segments == "1"
        assert message.price is None and message.error_code is None
        assert message.date_sent is None
        assert message.date_created.tzinfo is not None
        assert message.account_sid == fake_twilio.account_sid
        assert message.uri == f"{fake_twilio.messages_path[:-5]}/{message.sid}.json"
        [recorded] = fake_twilio.messages
        assert (recorded.sid, recorded.to, recorded.body) == (
            message.sid,
            ANA,
            "Hola 👋",
        )
        [request] = fake_twilio.requests
        assert (request.method, request.authorized) == ("POST", True)
        assert request.form == {"To": ANA, "From": SENDER, "Body": "Hola 👋"}

    def test_messaging_service_send_is_accepted_without_from(
        self, fake_twilio: FakeTwilio
    ) -> None:
        """A send through a Messaging Service starts 'accepted' with no From."""
        client = fake_twilio.client()

        message = client.messages.create(
            to=ANA, messaging_service_sid=SERVICE, body="x"
        )

        assert (message.status, message.from_) == ("accepted", None)
        assert message.messaging_service_sid == SERVICE

    def test_later_reads_show_the_message_sent(self, fake_twilio: FakeTwilio) -> None:
        """Fetched after creation, a message reads 'sent' with a date_sent."""
        client = fake_twilio.client()
        created = send(client)

        fetched = client.messages(created.sid).fetch()

        assert fetched.status == "sent"
        assert fetched.date_sent == fetched.date_created

    def test_unknown_sid_is_404(self, fake_twilio: FakeTwilio) -> None:
        """Fetching a message that does not exist raises code 20404."""
        client = fake_twilio.client()

        with pytest.raises(TwilioRestException) as raised:
            client.messages("SM" + "f" * 32).fetch()

        assert (raised.value.status, raised.value.code) == (404, 20404)

    @pytest.mark.parametrize(
        ("body", "segments"),
        [
            ("a" * 160, "1"),
            ("a" * 161, "2"),
            ("€" * 81, "2"),
            ("ł" * 70, "1"),
            ("ł" * 71, "2"),
            ("😀" * 36, "2"),
        ],
        ids=["gsm-160", "gsm-161", "gsm-escaped", "ucs2-70", "ucs2-71", "emoji"],
    )
    def test_segments_are_counted_by_encoding(
        self, fake_twilio: FakeTwilio, body: str, segments: str
    ) -> None:
        """num_segments follows GSM-7 or UCS-2 limits as the client reports it."""
        message = send(fake_twilio.client(), body=body)

        assert message.num_segments == segments


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("", 1),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("a" * 152 + "€" + "a" * 152, 3),
        ("ł" * 134, 2),
        ("ł" * 135, 3),
        ("😀" * 35, 1),
        ("ł" * 2 + "😀" * 66, 3),
    ],
    ids=[
        "empty",
        "gsm-2-parts",
        "gsm-3-parts",
        "escapes-fit",
        "escape-not-split",
        "ucs2-2-parts",
        "ucs2-3-parts",
        "emoji-fit",
        "surrogate-not-split",
    ],
)
def test_count_segments(body: str, segments: int) -> None:
    """Escapes cost two septets; neither escapes nor surrogate pairs are split."""
    assert count_segments(body) == segments


class TestAuth:
    def test_wrong_token_is_401_and_records_nothing(
        self, fake_twilio: FakeTwilio
    ) -> None:
        """Bad credentials raise status 401, code 20003, and create nothing."""
        from twilio.rest import Client

        client = Client(fake_twilio.account_sid, "not-the-token")
        client.api.base_url = fake_twilio.base_url

        with pytest.raises(TwilioRestException) as raised:
            send(client)

        assert (raised.value.status, raised.value.code) == (401, 20003)
        assert fake_twilio.messages == []
        assert [r.authorized for r in fake_twilio.requests] == [False]

    def test_other_accounts_path_is_401(self, fake_twilio: FakeTwilio) -> None:
        """Valid credentials cannot read another account's messages."""
        other = fake_twilio.messages_path.replace(
            fake_twilio.account_sid, "AC" + "1" * 32
        )

        response = raw_get(fake_twilio, other)

        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"to": "", "from_": SENDER, "body": "x"}, 21604),
            ({"to": ANA, "from_": SENDER}, 21602),
            ({"to": ANA, "body": "x"}, 21603),
            ({"to": ANA, "from_": "12345", "body": "x"}, 21606),
            ({"to": "5005550006", "from_": SENDER, "body": "x"}, 21211),
            ({"to": ANA, "from_": SENDER, "body": "x" * 1601}, 21617),
            ({"to": ANA, "messaging_service_sid": "MG123", "body": "x"}, 21701),
        ],
        ids=["no-to", "no-body", "no-from", "bad-from", "bad-to", "long", "bad-mg"],
    )
    def test_invalid_send_is_400_with_twilio_code(
        self, fake_twilio: FakeTwilio, fields: dict[str, str], code: int
    ) -> None:
        """Each invalid send raises 400 with Twilio's code and creates nothing."""
        client = fake_twilio.client()

        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(**fields)

        assert (raised.value.status, raised.value.code) == (400, code)
        assert fake_twilio.messages == []

    def test_body_of_1600_characters_is_accepted(self, fake_twilio: FakeTwilio) -> None:
        """The length limit is inclusive: 1600 characters still send."""
        message = send(fake_twilio.client(), body="x" * 1600)

        assert message.num_segments == "11"

    def test_senders_limit_the_from_numbers(self) -> None:
        """With senders configured, any other From is refused with 21606."""
        with FakeTwilio(senders=[SENDER]) as server:
            client = server.client()
            send(client)
            with pytest.raises(TwilioRestException) as raised:
                client.messages.create(to=ANA, from_="+15005550009", body="x")

        assert raised.value.code == 21606
        assert len(server.messages) == 1


class TestList:
    def test_list_filters_by_recipient_newest_first(
        self, fake_twilio: FakeTwilio
    ) -> None:
        """list(to=...) returns only that recipient's messages, newest first."""
        client = fake_twilio.client()
        sids = [send(client, to).sid for to in (ANA, BEN, ANA, BEN, ANA)]

        listed = client.messages.list(to=ANA)

        assert [m.sid for m in listed] == [sids[4], sids[2], sids[0]]
        assert fake_twilio.count_by_recipient() == {ANA: 3, BEN: 2}
        assert [m.sid for m in fake_twilio.sent_to(BEN)] == [sids[1], sids[3]]

    @pytest.mark.parametrize(
        ("filters", "days"),
        [
            ({"date_sent": date(2024, 3, 2)}, [2]),
            ({"date_sent_before": date(2024, 3, 2)}, [2, 1]),
            ({"date_sent_after": date(2024, 3, 2)}, [3, 2]),
            ({"date_sent_after": "2024-03-02", "date_sent_before": "2024-03-02"}, [2]),
            ({"date_sent_after": "2024-03-04"}, []),
        ],
    )
    def test_list_filters_by_gmt_sent_date_inclusively(
        self, filters: dict[str, Any], days: list[int]
    ) -> None:
        """DateSent filters compare GMT dates and include the boundary day."""
        clock = ManualClock(datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC))
        with FakeTwilio(clock=clock) as server:
            client = server.client()
            for _ in range(3):
                send(client)
                clock.now += timedelta(days=1)

            listed = client.messages.list(**filters)

        assert [m.date_sent.day for m in listed] == days

    def test_unsent_messages_are_outside_date_filters(self) -> None:
        """With no send delay reached, a message stays queued and has no DateSent."""
        with FakeTwilio(send_delay=None) as server:
            client = server.client()
            send(client)
            today = server.now().date()

            everything = client.messages.list()
            sent_today = client.messages.list(date_sent=today)

        assert [m.status for m in everything] == ["queued"]
        assert sent_today == []

    def test_list_and_stream_follow_pages(self, fake_twilio: FakeTwilio) -> None:
        """The client walks next_page_uri across pages in newest-first order."""
        client = fake_twilio.client()
        sids = [send(client).sid for _ in range(7)]

        listed = client.messages.list(to=ANA, page_size=3)
        streamed = list(client.messages.stream(page_size=3, limit=5))

        pages = [r for r in fake_twilio.requests if r.method == "GET"]
        assert [m.sid for m in listed] == sids[::-1]
        assert [m.sid for m in streamed] == sids[:-6:-1]
        assert [r.query["PageSize"] for r in pages] == ["3"] * 5

    def test_page_envelope_links_both_ways(self, fake_twilio: FakeTwilio) -> None:
        """Each page links to the next and previous ones like Twilio's envelope."""
        client = fake_twilio.client()
        sids = [send(client).sid for _ in range(5)][::-1]

        first = raw_get(fake_twilio, fake_twilio.messages_path, PageSize=2).json()
        second = raw_get(fake_twilio, first["next_page_uri"]).json()
        back = raw_get(fake_twilio, second["previous_page_uri"]).json()

        assert [m["sid"] for m in first["messages"]] == sids[:2]
        assert [m["sid"] for m in second["messages"]] == sids[2:4]
        assert [m["sid"] for m in back["messages"]] == sids[:2]
        assert (first["page"], first["start"], first["end"]) == (0, 0, 1)
        assert (second["page"], second["start"], second["end"]) == (1, 2, 3)
        assert first["previous_page_uri"] is None
        assert second["first_page_uri"] == first["first_page_uri"]
        assert second["uri"].startswith(fake_twilio.messages_path + "?PageSize=2")


class TestFaults:
    def test_fail_next_answers_429_with_retry_after(
        self, fake_twilio: FakeTwilio
    ) -> None:
        """A queued 429 reaches the client with Retry-After; the next send works."""
        client = fake_twilio.client()
        fake_twilio.fail_next(status=429, code=20429, retry_after=2)

        with pytest.raises(TwilioRestException) as raised:
            send(client)
        headers = client.http_client._test_only_last_response.headers

        assert (raised.value.status, raised.value.code) == (429, 20429)
        assert headers["Retry-After"] == "2"
        assert fake_twilio.messages == []
        assert send(client).status == "queued"

    def test_fail_for_blocks_one_recipient(self, fake_twilio: FakeTwilio) -> None:
        """An opted-out number fails with 21610 every time; others still send."""
        client = fake_twilio.client()
        fake_twilio.fail_for(ANA)

        codes = []
        for _ in range(2):
            with pytest.raises(TwilioRestException) as raised:
                send(client, ANA)
            codes.append(raised.value.code)
        send(client, BEN)

        assert codes == [21610, 21610]
        assert fake_twilio.count_by_recipient() == {BEN: 1}

    def test_drop_before_create_loses_the_send(self, fake_twilio: FakeTwilio) -> None:
        """A dropped connection raises ConnectionError and records no message."""
        client = fake_twilio.client()
        fake_twilio.drop_next()

        with pytest.raises(requests.ConnectionError):
            send(client)

        assert fake_twilio.messages == []
        assert len(fake_twilio.requests) == 1

    def test_drop_after_create_is_an_ambiguous_send(
        self, fake_twilio: FakeTwilio
    ) -> None:
        """With after_create the client errors, yet the message is listed."""
        client = fake_twilio.client()
        fake_twilio.drop_next(after_create=True)

        with pytest.raises(requests.ConnectionError):
            send(client)

        assert [m.to for m in client.messages.list(to=ANA)] == [ANA]

    def test_hang_outlasts_the_client_timeout(self, fake_twilio: FakeTwilio) -> None:
        """A stalled send makes the client time out long before the stall ends."""
        client = fake_twilio.client(timeout=0.5)
        fake_twilio.hang_next(seconds=10, after_create=True)

        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            send(client)

        assert time.monotonic() - started < 5
        assert len(fake_twilio.messages) == 1

    def test_read_failures_hide_what_was_sent(self, fake_twilio: FakeTwilio) -> None:
        """Failing reads make list raise until faults are cleared.

        The client reports a failed list page as a plain TwilioException carrying
        the response, not as a TwilioRestException with a code.
        """
        client = fake_twilio.client()
        send(client)
        fake_twilio.fail_reads_next(status=500, code=20500)

        with pytest.raises(TwilioException) as once:
            client.messages.list(to=ANA)
        fake_twilio.fail_reads()
        with pytest.raises(TwilioException) as always:
            client.messages.list(to=ANA)
        with pytest.raises(TwilioRestException) as fetching:
            client.messages(fake_twilio.messages[0].sid).fetch()
        fake_twilio.clear_faults()

        assert once.value.args[1].status_code == 500
        assert always.value.args[1].status_code == 503
        assert (fetching.value.status, fetching.value.code) == (503, 20503)
        assert len(client.messages.list(to=ANA)) == 1

    def test_on_request_hook_can_answer_instead(self, fake_twilio: FakeTwilio) -> None:
        """A hook's Reply replaces the normal answer; None lets it through."""
        client = fake_twilio.client()
        seen: list[RecordedRequest] = []

        def refuse_ben(request: RecordedRequest) -> Reply | None:
            seen.append(request)
            if request.form.get("To") == BEN:
                return error_reply(400, 21612)
            return None

        fake_twilio.on_request = refuse_ben
        send(client, ANA)
        with pytest.raises(TwilioRestException) as raised:
            send(client, BEN)

        assert raised.value.code == 21612
        assert [r.form["To"] for r in seen] == [ANA, BEN]
        assert fake_twilio.count_by_recipient() == {ANA: 1}

    def test_fault_counts_must_be_positive(self, fake_twilio: FakeTwilio) -> None:
        """Arming zero faults is a mistake and says so."""
        with pytest.raises(ValueError, match="at least 1"):
            fake_twilio.fail_next(0)


def run_parallel(count: int, work: Callable[[], None]) -> float:
    """Run ``work`` in ``count`` threads at once and return the wall time."""
    threads = [threading.Thread(target=work) for _ in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def test_latency_is_served_concurrently(fake_twilio: FakeTwilio) -> None:
    """Eight sends with 0.4 s latency each overlap, taking well under 8 x 0.4 s."""
    latency = 0.4
    fake_twilio.latency = latency
    clients = iter([fake_twilio.client() for _ in range(8)])
    lock = threading.Lock()

    def one_send() -> None:
        with lock:
            client = next(clients)
        send(client)

    elapsed = run_parallel(8, one_send)

    assert latency <= elapsed < 3 * latency
    assert len(fake_twilio.messages) == 8
