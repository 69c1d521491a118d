"""One run of the job: settle old claims, evaluate users in their window, send."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from notifier.db import (
    DbClock,
    database_failure,
    make_engine,
    require_app_tables,
    require_own_tables,
    utc_now_naive,
)
from notifier.delivery import Outgoing, SendPool
from notifier.errors import ConfigError
from notifier.evaluate import (
    Candidate,
    Shard,
    candidate_pages,
    habit_names,
    zone_groups,
)
from notifier.ledger import (
    Ledger,
    Status,
    lease_cutoff,
    run_lock,
    shard_lock_name,
)
from notifier.logs import get_logger
from notifier.phones import normalize_phone
from notifier.rules import NotDue, Rule, decide
from notifier.sending import (
    LookupFailed,
    Transport,
)
from notifier.settings import Settings
from notifier.summary import RunSummary
from notifier.templates import MAX_BODY, Recipient, Renderer, default_templates_dir
from notifier.timewindow import zone_label

_PAGE_RETRIES = 3
_HEARTBEAT_EVERY = 5.0


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
        self.ledger = Ledger(engine, self.run_id, settings.text_cooldown)
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
        self.beat(force=True)
        try:
            require_app_tables(self.engine)
            require_own_tables(self.engine)
            lock_name = shard_lock_name(
                self.engine.url.database, self.shard.index, self.shard.count
            )
            # A dry run writes nothing, so it needs no lock and blocks no real run.
            locking = (
                run_lock(self.engine, lock_name, self.run_id)
                if self.transport is not None
                else nullcontext(True)
            )
            with locking as held:
                if held:
                    self._settle_and_send()
                else:
                    self.summary.another_run_active = True
                    self.log.warning(
                        "run.locked", reason="another run of this shard is active"
                    )
        except DBAPIError as error:
            raise database_failure(self.engine, error) from None
        self.log.info("run.summary", **self.summary.fields())
        if self.fatal is not None:
            raise self.fatal
        return self.summary

    def _settle_and_send(self) -> None:
        try:
            self._settle_open_claims()
            self._evaluate_and_send()
        except DBAPIError as error:
            self.lost_database(error)

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
        with self.engine.connect() as conn:
            groups = zone_groups(
                conn, self.settings.default_zone, self.settings.send_window, self.now
            )

        sender = SendPool(self) if self.transport is not None else None
        pages = candidate_pages(
            self._fetch,
            groups,
            self.clock,
            self.shard,
            recent_since=utc_now_naive() - self.settings.text_cooldown,
        )
        try:
            for page in pages:
                self._handle_page(page, sender)
                self.beat()
                if self.stopping():
                    return
        finally:
            if sender is not None:
                sender.close()
            if self.stopping():
                self.summary.stopped_early = True

    def _fetch(self, query: sa.Select[Any]) -> list[Any] | None:
        """A query's rows, retrying a lost connection; None once it is gone."""
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

    def _handle_page(self, page: list[Candidate], sender: SendPool | None) -> None:
        self.summary.add("users_scanned", len(page))
        due = [item for item in map(self._screen, page) if item is not None]
        self.log.debug(
            "page.evaluated",
            first_user_id=page[0].user_id,
            last_user_id=page[-1].user_id,
            users=len(page),
            due=len(due),
        )
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
        if candidate.texted_recently:
            # Another local date (a replayed --now, a changed time zone, a window
            # that spans midnight) must not mean a second text within hours.
            self.skip(candidate.user_id, "texted_recently")
            return None
        self.summary.add("evaluated")
        if candidate.group.fallback:
            self.summary.add("time_zone_fallback")
            self.log.warning(
                "user.time_zone_fallback",
                user_id=candidate.user_id,
                time_zone=(candidate.group.raw or "")[:40],
                using=self.settings.default_time_zone,
            )

        verdict = decide(
            candidate.group.days, candidate.first_habit_at, candidate.last_log_at
        )
        self.log.debug(
            "user.decided",
            user_id=candidate.user_id,
            verdict=verdict.value,
            local_date=candidate.group.days.local_date.isoformat(),
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

    def beat(self, *, force: bool = False) -> None:
        """Touch HEARTBEAT_FILE, at most every few seconds unless forced."""
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
