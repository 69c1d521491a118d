"""One run of the job: settle old claims, evaluate users in their window, send."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from notifier.db import (
    DbClock,
    database_failure,
    make_engine,
    require_own_tables,
    utc_now_naive,
)
from notifier.errors import ConfigError
from notifier.evaluate import (
    PAGE_SIZE,
    Candidate,
    Shard,
    ZoneGroup,
    habit_names,
    page_query,
    to_candidates,
    zone_groups,
)
from notifier.ledger import (
    Claim,
    Ledger,
    Status,
    lease_cutoff,
    run_lock,
    shard_lock_name,
)
from notifier.logs import get_logger
from notifier.phones import mask_phone, normalize_phone
from notifier.rules import NotDue, Rule, decide
from notifier.sending import (
    AccountRefused,
    Delivery,
    DeliveryResult,
    Dispatcher,
    LookupFailed,
    Pacer,
    RetryPolicy,
    Transport,
)
from notifier.settings import Settings
from notifier.summary import RunSummary
from notifier.templates import MAX_BODY, Recipient, Renderer, default_templates_dir
from notifier.timewindow import resolve_zone, zone_label

_PAGE_RETRIES = 3
_HEARTBEAT_EVERY = 5.0
_WRITE_RETRY_DELAYS = (0.25, 1.0, 3.0)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A rendered text, ready to claim and send."""

    user_id: int
    local_date: date
    rule: Rule
    phone: str
    body: str
    zone: str


def templates_dir(settings: Settings) -> Path:
    """TEMPLATES_DIR, or the templates that ship with the package."""
    return settings.templates_dir or default_templates_dir()


def run_job(
    settings: Settings,
    transport: Transport | None,
    now: datetime,
    *,
    stop: threading.Event | None = None,
    on_message: Callable[[Outgoing], None] | None = None,
    engine: sa.Engine | None = None,
) -> RunSummary:
    """Run once as of ``now``. With ``transport`` None it is a dry run: nothing is
    claimed or sent, and ``on_message`` sees each text that would go out."""
    renderer = Renderer(templates_dir(settings))
    engine = engine or make_engine(
        settings, pool_size=settings.twilio_max_in_flight + 2
    )
    run = _Run(settings, engine, renderer, transport, now, stop or threading.Event())
    run.on_message = on_message
    try:
        return run.execute()
    finally:
        engine.dispose()


class _Run:
    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        renderer: Renderer,
        transport: Transport | None,
        now: datetime,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.renderer = renderer
        self.transport = transport
        self.now = now
        self.stop = stop
        self.run_id = uuid.uuid4().hex
        self.log = get_logger().bind(run_id=self.run_id)
        self.summary = RunSummary(dry_run=transport is None)
        self.ledger = Ledger(engine, self.run_id)
        self.clock = DbClock(settings.db_timezone)
        self.shard = Shard(settings.shard_index, settings.shard_count)
        self.deadline = time.monotonic() + settings.run_deadline_seconds
        self.on_message: Callable[[Outgoing], None] | None = None
        self.fatal: ConfigError | None = None
        self._last_beat = 0.0

    def execute(self) -> RunSummary:
        self.log.info(
            "run.started",
            now=self.now.isoformat(),
            dry_run=self.transport is None,
            send_window=str(self.settings.send_window),
            shard=f"{self.shard.index}/{self.shard.count}",
        )
        self._beat(force=True)
        try:
            require_own_tables(self.engine)
            lock_name = shard_lock_name(
                self.engine.url.database, self.shard.index, self.shard.count
            )
            with run_lock(self.engine, lock_name, self.run_id) as held:
                if not held:
                    self.summary.another_run_active = True
                    self.log.warning(
                        "run.locked", reason="another run of this shard is active"
                    )
                    return self.summary
                try:
                    self._settle_open_claims()
                    self._evaluate_and_send()
                except DBAPIError as error:
                    self.lost_database(error)
        except DBAPIError as error:
            raise database_failure(self.engine, error) from None
        self.log.info("run.summary", **self.summary.fields())
        if self.fatal is not None:
            raise self.fatal
        return self.summary

    def _settle_open_claims(self) -> None:
        if self.transport is None:
            return
        cutoff = lease_cutoff(self.engine, self.settings.claim_lease_seconds)
        for claim in self.ledger.pending_claims(
            cutoff, self.shard.index, self.shard.count
        ):
            try:
                sid = self.transport.find_sent(claim.phone_e164, claim.claimed_at)
            except LookupFailed as error:
                self.summary.add("unresolved")
                self.log.warning(
                    "claim.unresolved", user_id=claim.user_id, reason=str(error)
                )
                continue
            if sid is None:
                self.ledger.release(claim.user_id, claim.local_date)
                self.summary.count("reconciled", "released")
            else:
                self.ledger.complete(
                    claim.user_id, claim.local_date, Status.SENT, message_sid=sid
                )
                self.summary.count("reconciled", "sent")
            self.log.info(
                "claim.settled",
                user_id=claim.user_id,
                local_date=claim.local_date.isoformat(),
                found=sid is not None,
            )

    def _evaluate_and_send(self) -> None:
        default_zone = resolve_zone(self.settings.default_time_zone)
        assert default_zone is not None
        with self.engine.connect() as conn:
            groups = zone_groups(
                conn, default_zone, self.settings.send_window, self.now
            )

        sender = _Sender(self) if self.transport is not None else None
        try:
            for group in groups:
                for page in self._pages(group):
                    self._handle_page(page, sender)
                    self._beat()
                    if self.stopping():
                        return
        finally:
            if sender is not None:
                sender.close()
            if self.stopping():
                self.summary.stopped_early = True

    def _pages(self, group: ZoneGroup) -> Iterator[list[Candidate]]:
        after_id: int | None = None
        while True:
            query = page_query(group, self.clock, self.shard, after_id)
            rows = self._fetch(query)
            if rows is None:
                return
            if rows:
                yield to_candidates(rows, group, self.clock)
            if len(rows) < PAGE_SIZE:
                return
            after_id = rows[-1].id

    def _fetch(self, query: sa.Select[Any]) -> list[Any] | None:
        """The page's rows, retrying a lost connection; None once it is gone."""
        for attempt in range(_PAGE_RETRIES):
            try:
                with self.engine.connect() as conn:
                    return list(conn.execute(query).all())
            except sa.exc.OperationalError as error:
                reason = str(error.orig)[:120]
                self.log.warning("db.page_retry", attempt=attempt + 1, reason=reason)
                if self.stop.wait(2**attempt):
                    return None
        self.summary.database_lost = True
        self.log.error("db.lost", reason="the database did not answer a page query")
        self.stop.set()
        return None

    def stopping(self) -> bool:
        return self.stop.is_set() or time.monotonic() > self.deadline

    def lost_database(self, error: DBAPIError) -> None:
        """Once the run has begun, a lost database ends it as incomplete (RETRY):
        open claims stay in the ledger for the next run to settle."""
        self.summary.database_lost = True
        self.stop.set()
        self.log.error("db.lost", reason=str(error.orig)[:120])

    def _handle_page(self, page: list[Candidate], sender: _Sender | None) -> None:
        self.summary.add("users_scanned", len(page))
        due = [item for item in map(self._screen, page) if item is not None]
        if not due:
            return

        with self.engine.connect() as conn:
            names = habit_names(conn, (candidate.user_id for candidate, _, _ in due))
            blocked = self.ledger.suppressed(conn, (phone for _, _, phone in due))

        for candidate, rule, phone in due:
            if self.stopping():
                self.summary.add("interrupted")
                continue
            if phone in blocked:
                self.skip(candidate.user_id, "suppressed")
                continue
            outgoing = self._render(candidate, rule, phone, names)
            if outgoing is None:
                continue
            if sender is None:
                self._preview(outgoing)
            else:
                sender.submit(outgoing)

    def _screen(self, candidate: Candidate) -> tuple[Candidate, Rule, str] | None:
        if candidate.ledger_status is not None:
            self.summary.count("skipped", f"already_{candidate.ledger_status}")
            return None
        self.summary.add("evaluated")
        if candidate.group.fallback:
            self.summary.add("time_zone_fallback")
            self.log.warning(
                "user.time_zone_fallback",
                user_id=candidate.user_id,
                time_zone=repr(candidate.group.raw)[:40],
                using=self.settings.default_time_zone,
            )

        verdict = decide(
            candidate.group.days, candidate.first_habit_at, candidate.last_log_at
        )
        if isinstance(verdict, NotDue):
            self.summary.count("not_due", verdict.value)
            return None
        self.summary.count("due", verdict.value)
        if not self.renderer.enabled(verdict):
            self.skip(candidate.user_id, "rule_disabled")
            return None

        phone = normalize_phone(
            candidate.phone_number, self.settings.default_phone_region
        )
        if phone is None:
            self.skip(candidate.user_id, "invalid_phone")
            return None
        return candidate, verdict, phone

    def _render(
        self,
        candidate: Candidate,
        rule: Rule,
        phone: str,
        names: dict[int, tuple[str, ...]],
    ) -> Outgoing | None:
        recipient = Recipient(
            candidate.user_id, candidate.name, names.get(candidate.user_id, ())
        )
        try:
            body = self.renderer.render(
                rule, recipient, candidate.group.days.local_date
            )
        except ConfigError:
            self.skip(candidate.user_id, "render_failed")
            return None
        if not body:
            self.skip(candidate.user_id, "empty_body")
            return None
        if len(body) > MAX_BODY:
            self.skip(candidate.user_id, "body_too_long")
            return None
        return Outgoing(
            user_id=candidate.user_id,
            local_date=candidate.group.days.local_date,
            rule=rule,
            phone=phone,
            body=body,
            zone=zone_label(candidate.group.zone),
        )

    def _preview(self, outgoing: Outgoing) -> None:
        self.summary.count("would_send", outgoing.rule.value)
        if self.on_message is not None:
            self.on_message(outgoing)

    def skip(self, user_id: int, reason: str) -> None:
        self.summary.count("skipped", reason)
        self.log.info("user.skipped", user_id=user_id, reason=reason)

    def _beat(self, *, force: bool = False) -> None:
        path = self.settings.heartbeat_file
        if path is None or (
            not force and time.monotonic() - self._last_beat < _HEARTBEAT_EVERY
        ):
            return
        self._last_beat = time.monotonic()
        try:
            path.touch()
        except OSError as error:
            self.log.warning("heartbeat.failed", path=str(path), reason=error.strerror)


class _Sender:
    """Claims, sends and records texts on a bounded pool of threads."""

    def __init__(self, run: _Run) -> None:
        assert run.transport is not None
        settings = run.settings
        self.run = run
        self.dispatcher = Dispatcher(
            run.transport,
            Pacer(settings.twilio_max_mps, run.stop),
            RetryPolicy(
                max_attempts=settings.twilio_max_attempts,
                base_delay=settings.twilio_backoff_seconds,
                max_delay=settings.twilio_backoff_max_seconds,
            ),
            run.stop,
            run.deadline,
        )
        workers = settings.twilio_max_in_flight
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send")
        self._slots = threading.BoundedSemaphore(workers * 64)

    def submit(self, outgoing: Outgoing) -> None:
        self._slots.acquire()
        future = self._pool.submit(self._deliver, outgoing)
        future.add_done_callback(self._done)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        error = future.exception()
        if error is not None:
            self.run.log.error("send.crashed", error=type(error).__name__)
            self.run.summary.add("unresolved")

    def _deliver(self, outgoing: Outgoing) -> None:
        run = self.run
        if run.stopping():
            run.summary.add("interrupted")
            return
        try:
            claim = self._patiently(
                outgoing.user_id,
                lambda: run.ledger.claim(
                    outgoing.user_id,
                    outgoing.local_date,
                    outgoing.phone,
                    outgoing.rule.value,
                ),
            )
        except DBAPIError as error:
            run.lost_database(error)
            run.summary.add("interrupted")
            return
        if claim is not Claim.CLAIMED:
            run.skip(outgoing.user_id, claim.value)
            return

        try:
            result = self.dispatcher.deliver(
                outgoing.phone, outgoing.body, utc_now_naive()
            )
        except AccountRefused as error:
            run.fatal = error
            run.stop.set()
            run.ledger.release(outgoing.user_id, outgoing.local_date)
            run.log.error("send.account_refused", user_id=outgoing.user_id)
            return
        self._record(outgoing, result)

    def _record(self, outgoing: Outgoing, result: DeliveryResult) -> None:
        run = self.run
        fields = {
            "user_id": outgoing.user_id,
            "rule": outgoing.rule.value,
            "to": mask_phone(outgoing.phone),
            "attempts": result.attempts,
        }
        try:
            self._patiently(
                outgoing.user_id, lambda: self._write_outcome(outgoing, result)
            )
        except DBAPIError as error:
            run.lost_database(error)
            run.summary.add("unresolved")
            run.log.error("send.unrecorded", delivery=result.delivery.value, **fields)
            return

        if result.delivery is Delivery.SENT:
            run.summary.count("sent", outgoing.rule.value)
            run.log.info("send.sent", sid=result.message_sid, **fields)
        elif result.delivery in (Delivery.REFUSED, Delivery.OPTED_OUT):
            run.summary.count("skipped", f"{result.delivery.value}_{result.error_code}")
            run.log.warning(
                f"send.{result.delivery.value}", code=result.error_code, **fields
            )
        elif result.delivery is Delivery.NOT_SENT and result.attempts == 0:
            run.summary.add("interrupted")
            run.log.info("send.not_started", **fields)
        elif result.delivery is Delivery.NOT_SENT:
            run.summary.count("failed", str(result.error_code or result.reason))
            run.log.warning("send.failed", reason=result.reason, **fields)
        else:
            run.summary.add("unresolved")
            run.log.error("send.unknown", reason=result.reason, **fields)

    def _patiently(self, user_id: int, write: Callable[[], _T]) -> _T:
        """Make a ledger write, waiting out a brief loss of the database.

        Once a text has gone out, its row must say so, or the next run has to ask
        Twilio. Every write here may be repeated safely (a repeated claim finds
        its own row); stopping the run does not cut the waits short, because
        recording is what a stop waits for.
        """
        for delay in _WRITE_RETRY_DELAYS:
            try:
                return write()
            except sa.exc.OperationalError as error:
                self.run.log.warning(
                    "db.write_retry", user_id=user_id, reason=str(error.orig)[:120]
                )
                time.sleep(delay)
        return write()

    def _write_outcome(self, outgoing: Outgoing, result: DeliveryResult) -> None:
        ledger = self.run.ledger
        key = (outgoing.user_id, outgoing.local_date)
        if result.delivery is Delivery.SENT:
            ledger.complete(
                *key,
                Status.SENT,
                message_sid=result.message_sid,
                attempts=result.attempts,
            )
        elif result.delivery is Delivery.REFUSED:
            ledger.complete(
                *key,
                Status.REFUSED,
                error_code=result.error_code,
                attempts=result.attempts,
            )
        elif result.delivery is Delivery.OPTED_OUT:
            ledger.complete(
                *key,
                Status.OPTED_OUT,
                error_code=result.error_code,
                attempts=result.attempts,
            )
            ledger.suppress(
                outgoing.phone, outgoing.user_id, "opted_out", result.error_code or 0
            )
        elif result.delivery is Delivery.NOT_SENT:
            ledger.release(*key)
        else:
            ledger.note_attempts(*key, result.attempts)
