"""A loopback stand-in for Twilio's Messages API, for tests and benchmarks.

Twilio's servers cannot run here, so this is the one part we fake, at the HTTP
boundary: the official ``twilio`` client talks to it exactly as it would to
``https://api.twilio.com``. It checks HTTP Basic credentials, validates sends the
way Twilio does, records every request and message, and can be told to fail,
drop or stall requests so retry and ambiguity handling can be tested.

    with FakeTwilio() as twilio:
        client = twilio.client()
        client.messages.create(to="+15005550006", from_="+15005550001", body="Hi")
        assert twilio.count_by_recipient() == {"+15005550006": 1}
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from tests.support.sms_segments import count_segments
from tests.support.twilio_errors import Reply, TwilioError, error_reply
from tests.support.twilio_http import RecordedRequest, serve_in_thread
from tests.support.twilio_messages import API_VERSION, FakeMessage, ListQuery

if TYPE_CHECKING:
    from twilio.rest import Client

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
MESSAGES_PATH = re.compile(
    rf"/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json"
)
MAX_BODY = 1600

RequestHook = Callable[[RecordedRequest], Reply | None]


@dataclass(frozen=True)
class _Fault:
    """What one upcoming request gets instead of its normal answer."""

    reply: Reply | None
    wait: float = 0.0
    after_create: bool = False


class FakeTwilio:
    """Twilio's Messages API on ``127.0.0.1``, started on construction.

    ``latency`` (seconds, settable at any time) delays every answer; each request
    waits in its own thread, so parallel requests overlap. ``send_delay`` is how
    long after creation a message reads back as ``sent``; ``None`` keeps it queued.
    ``senders`` limits the accepted ``From`` numbers (any E.164 number otherwise).
    ``clock`` supplies the current time for message dates and request records.
    """

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        senders: Collection[str] | None = None,
        latency: float = 0.0,
        send_delay: float | None = 0.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account_sid = account_sid or f"AC{secrets.token_hex(16)}"
        self.auth_token = auth_token or secrets.token_hex(16)
        self.senders = None if senders is None else frozenset(senders)
        self.latency = latency
        self.send_delay = send_delay
        self.on_request: RequestHook | None = None
        self._clock = clock or (lambda: datetime.now(UTC))

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._messages: list[FakeMessage] = []
        self._requests: list[RecordedRequest] = []
        self._send_faults: deque[_Fault] = deque()
        self._read_faults: deque[_Fault] = deque()
        self._read_failure: Reply | None = None
        self._blocked: dict[str, TwilioError] = {}

        self._http = serve_in_thread(self)
        self.base_url = f"http://127.0.0.1:{self._http.server_port}"

    def __enter__(self) -> FakeTwilio:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving, cut stalled requests short and close open connections."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._http.stop()

    @property
    def messages_path(self) -> str:
        """The collection path, ``/2010-04-01/Accounts/{sid}/Messages.json``."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def client(self, *, timeout: float = 5.0) -> Client:
        """Return a real ``twilio`` client aimed at this server."""
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        client = Client(
            self.account_sid,
            self.auth_token,
            http_client=TwilioHttpClient(timeout=timeout),
        )
        client.api.base_url = self.base_url
        return client

    # Records

    @property
    def messages(self) -> list[FakeMessage]:
        """Every message created so far, oldest first (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def sent_to(self, number: str) -> list[FakeMessage]:
        """Messages created for ``number``, oldest first."""
        return [message for message in self.messages if message.to == number]

    def count_by_recipient(self) -> dict[str, int]:
        """How many messages each recipient was sent."""
        return dict(Counter(message.to for message in self.messages))

    def clear(self) -> None:
        """Forget recorded messages and requests; faults stay armed."""
        with self._lock:
            self._messages.clear()
            self._requests.clear()

    # Faults

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        code: int = 20500,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        after_create: bool = False,
    ) -> None:
        """Answer the next ``n`` sends with an error document.

        Nothing is created, unless ``after_create``: then the message is recorded
        first, as when Twilio accepts a message and still answers 5xx.
        """
        reply = error_reply(status, code, message, retry_after)
        self._arm(self._send_faults, n, _Fault(reply, 0.0, after_create))

    def fail_for(
        self,
        to: str,
        status: int = 400,
        code: int = 21610,
        *,
        message: str | None = None,
    ) -> None:
        """Reject every valid send to ``to`` (by default as an opted-out number)."""
        with self._lock:
            self._blocked[to] = TwilioError(status, code, message)

    def drop_next(self, n: int = 1, *, after_create: bool = False) -> None:
        """Close the connection on the next ``n`` sends without answering.

        With ``after_create`` the message is recorded first: the send happened but
        the client cannot know it.
        """
        self._arm(self._send_faults, n, _Fault(None, 0.0, after_create))

    def hang_next(
        self, n: int = 1, seconds: float = 30.0, *, after_create: bool = False
    ) -> None:
        """Stall the next ``n`` sends for ``seconds``, then close without answering.

        Pick ``seconds`` above the client's timeout; ``stop`` ends a stall early.
        """
        self._arm(self._send_faults, n, _Fault(None, seconds, after_create))

    def fail_reads_next(
        self,
        n: int = 1,
        status: int = 500,
        code: int = 20500,
        *,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``n`` list or fetch requests with an error document."""
        reply = error_reply(status, code, message, retry_after)
        self._arm(self._read_faults, n, _Fault(reply))

    def fail_reads(
        self, status: int = 503, code: int = 20503, *, message: str | None = None
    ) -> None:
        """Answer every list or fetch request with an error until faults are cleared."""
        with self._lock:
            self._read_failure = error_reply(status, code, message)

    def clear_faults(self) -> None:
        """Disarm every pending fault, blocked recipient and read failure."""
        with self._lock:
            self._send_faults.clear()
            self._read_faults.clear()
            self._read_failure = None
            self._blocked.clear()

    def _arm(self, queue: deque[_Fault], n: int, fault: _Fault) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        with self._lock:
            queue.extend([fault] * n)

    # Serving, called from the HTTP threads

    def now(self) -> datetime:
        """The fake's current time in GMT, in whole seconds as Twilio reports it."""
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def answer(self, request: RecordedRequest) -> Reply | None:
        """Record ``request`` and decide its answer; ``None`` means hang up."""
        with self._lock:
            self._requests.append(request)
        self.pause(self.latency)

        hook = self.on_request
        if hook is not None and (reply := hook(request)) is not None:
            return reply
        try:
            return self._route(request)
        except TwilioError as error:
            return error.reply()

    def _route(self, request: RecordedRequest) -> Reply | None:
        match = MESSAGES_PATH.fullmatch(request.path)
        if match is None:
            raise TwilioError(
                404, 20404, f"The requested resource {request.path} was not found"
            )
        if not request.authorized or match["account"] != self.account_sid:
            raise TwilioError(401, 20003)

        if request.method == "POST" and match["sid"] is None:
            return self._send(request)
        if request.method == "GET":
            return self._read(request, match["sid"])
        raise TwilioError(405, 20004, "Method not allowed")

    def _send(self, request: RecordedRequest) -> Reply | None:
        fault = self._take(self._send_faults)
        if fault is not None and not fault.after_create:
            return self._suffer(fault)

        try:
            message = self._create(request.form)
        except TwilioError as error:
            return error.reply() if fault is None else self._suffer(fault)

        if fault is not None:
            return self._suffer(fault)
        return Reply(201, message.resource(self.now(), just_created=True))

    def _create(self, form: dict[str, str]) -> FakeMessage:
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        self._validate(to, sender, service, body)

        now = self.now()
        delay = self.send_delay
        message = FakeMessage(
            sid=f"SM{secrets.token_hex(16)}",
            account_sid=self.account_sid,
            to=to,
            from_=sender,
            messaging_service_sid=service,
            body=body,
            num_segments=count_segments(body),
            date_created=now,
            date_sent=None if delay is None else now + timedelta(seconds=delay),
        )
        with self._lock:
            blocked = self._blocked.get(to)
            if blocked is None:
                self._messages.append(message)
        if blocked is not None:
            raise blocked
        return message

    def _validate(
        self, to: str, sender: str | None, service: str | None, body: str
    ) -> None:
        if not to:
            raise TwilioError(400, 21604)
        if not E164.fullmatch(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if sender is None and service is None:
            raise TwilioError(400, 21603)
        if service is not None and not SERVICE_SID.fullmatch(service):
            raise TwilioError(
                400, 21701, f"The Messaging Service Sid {service} is invalid."
            )
        if sender is not None and not self._may_send_from(sender):
            raise TwilioError(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable "
                "inbound phone number or short code for your account.",
            )
        if not body:
            raise TwilioError(400, 21602)
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617)

    def _may_send_from(self, sender: str) -> bool:
        if self.senders is not None:
            return sender in self.senders
        return E164.fullmatch(sender) is not None

    def _read(self, request: RecordedRequest, sid: str | None) -> Reply | None:
        fault = self._take(self._read_faults)
        if fault is not None:
            return self._suffer(fault)
        with self._lock:
            if self._read_failure is not None:
                return self._read_failure
            messages = list(self._messages)

        now = self.now()
        if sid is not None:
            found = [message for message in messages if message.sid == sid]
            if not found:
                raise TwilioError(
                    404, 20404, f"The requested resource {request.path} was not found"
                )
            return Reply(200, found[0].resource(now))

        query = ListQuery.parse(request.query)
        newest_first = sorted(
            reversed(messages), key=lambda m: m.date_created, reverse=True
        )
        selected = [message for message in newest_first if query.matches(message, now)]
        return Reply(200, query.page_envelope(selected, request.path, now))

    def _take(self, queue: deque[_Fault]) -> _Fault | None:
        with self._lock:
            return queue.popleft() if queue else None

    def _suffer(self, fault: _Fault) -> Reply | None:
        self.pause(fault.wait)
        return fault.reply
