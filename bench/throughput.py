"""Send throughput through the real Dispatcher, TwilioTransport and twilio client."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.dataset import Dataset
from bench.loopback import fake_twilio_process
from notifier.db import utc_now_naive
from notifier.sending import Delivery, Dispatcher, Pacer, RetryPolicy
from notifier.settings import Settings, load_settings
from notifier.twilio_sms import TwilioTransport

SENDER = "+15005550006"


@dataclass(frozen=True, slots=True)
class SendRun:
    """How long ``messages`` texts took against what the limits allow."""

    label: str
    messages: int
    latency: float
    in_flight: int
    max_mps: float
    seconds: float
    sent: int

    @property
    def ideal(self) -> float:
        """The floor set by latency over concurrency, or by the rate limit."""
        return max(
            self.messages * self.latency / self.in_flight, self.messages / self.max_mps
        )

    @property
    def ratio(self) -> float:
        """Measured over ideal; 1.0 is perfect."""
        return self.seconds / self.ideal


def _settings(server: object, in_flight: int, max_mps: float) -> Settings:
    return Settings(
        twilio_account_sid=server.account_sid,  # type: ignore[attr-defined]
        twilio_auth_token=server.auth_token,  # type: ignore[attr-defined]
        twilio_from_number=SENDER,
        twilio_api_base_url=server.base_url,  # type: ignore[attr-defined]
        twilio_max_in_flight=in_flight,
        twilio_max_mps=max_mps,
    )


def dispatcher_throughput(
    label: str, messages: int, latency: float, in_flight: int, max_mps: float
) -> SendRun:
    """Deliver ``messages`` texts on ``in_flight`` threads, as the job's pool does."""
    with fake_twilio_process(latency) as server:
        settings = _settings(server, in_flight, max_mps)
        stop = threading.Event()
        dispatcher = Dispatcher(
            TwilioTransport(settings),
            Pacer(max_mps, stop),
            RetryPolicy(),
            stop,
            time.monotonic() + 3600,
        )
        numbers = [f"+1415200{index:04d}" for index in range(messages)]

        started = time.perf_counter()
        with ThreadPoolExecutor(in_flight) as pool:
            results = list(
                pool.map(
                    lambda to: dispatcher.deliver(to, "bench", utc_now_naive()),
                    numbers,
                )
            )
        seconds = time.perf_counter() - started
    sent = sum(result.delivery is Delivery.SENT for result in results)
    return SendRun(label, messages, latency, in_flight, max_mps, seconds, sent)


def job_throughput(
    dataset: Dataset, latency: float, in_flight: int, max_mps: float
) -> SendRun:
    """A real (not dry) run of the job: evaluate, claim, send, record in the ledger."""
    from notifier.job import run_job
    from notifier.logs import configure_logging

    with fake_twilio_process(latency) as server:
        env = {
            "DATABASE_URL": dataset.url,
            "SEND_WINDOW": "00:00-24:00",
            "DEFAULT_PHONE_REGION": "US",
            "TWILIO_ACCOUNT_SID": server.account_sid,
            "TWILIO_AUTH_TOKEN": server.auth_token,
            "TWILIO_FROM_NUMBER": SENDER,
            "TWILIO_API_BASE_URL": server.base_url,
            "TWILIO_MAX_IN_FLIGHT": str(in_flight),
            "TWILIO_MAX_MPS": str(max_mps),
            "LOG_LEVEL": "WARNING",
        }
        settings = load_settings(env)
        configure_logging(settings)
        started = time.perf_counter()
        summary = run_job(settings, TwilioTransport(settings), dataset.now)
        seconds = time.perf_counter() - started
    sent = sum(summary.sent.values())
    return SendRun("job run", sent, latency, in_flight, max_mps, seconds, sent)
