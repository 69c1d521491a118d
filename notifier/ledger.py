"""The ledger: one row per (user, local date), claimed before a send, completed after.

Its primary key is the one-text-per-day promise: a second claim for the same user and
date fails, whichever run or pod makes it. A second unique key stops two users who
share a phone number from both being texted on one date.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from notifier.db import ledger, suppressions, utc_now_naive


class Status(StrEnum):
    """Where a ledger row stands."""

    CLAIMED = "claimed"
    SENT = "sent"
    REFUSED = "refused"
    OPTED_OUT = "opted_out"


class Claim(StrEnum):
    """What came of trying to claim a (user, date)."""

    CLAIMED = "claimed"
    TAKEN = "already_claimed"
    SHARED_PHONE = "shared_phone"
    TEXTED_RECENTLY = "texted_recently"
    BUSY = "claim_busy"


@dataclass(frozen=True, slots=True)
class PendingClaim:
    """A claim whose send may or may not have reached Twilio."""

    user_id: int
    local_date: date
    phone_e164: str
    claimed_at: datetime
    run_id: str


class Ledger:
    """Reads and writes the notifier's own tables."""

    def __init__(
        self, engine: Engine, run_id: str, cooldown: timedelta = timedelta(0)
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.cooldown = cooldown

    def claim(self, user_id: int, local_date: date, phone: str, rule: str) -> Claim:
        """Take (user, date) for this run; only a CLAIMED answer allows a send.

        The claim is refused when the user or the number was texted (or is being
        texted) within the cooldown under another date: the check and the insert
        happen under a lock named after the number, so two runs computing
        different dates for one person cannot both pass.
        """
        now = utc_now_naive()
        row = {
            "user_id": user_id,
            "local_date": local_date,
            "phone_e164": phone,
            "rule": rule,
            "status": Status.CLAIMED.value,
            "attempts": 0,
            "run_id": self.run_id,
            "claimed_at": now,
            "updated_at": now,
        }
        try:
            with self.engine.connect() as conn, _number_lock(conn, phone) as locked:
                if not locked:
                    return Claim.BUSY
                with conn.begin():
                    if self._texted_since(conn, user_id, local_date, phone, now):
                        return Claim.TEXTED_RECENTLY
                    conn.execute(ledger.insert().values(**row))
        except IntegrityError as error:
            if self._holds(user_id, local_date):
                # A retried claim whose first try committed unseen: it is ours.
                return Claim.CLAIMED
            if "phone" in str(error.orig).lower():
                return Claim.SHARED_PHONE
            return Claim.TAKEN
        return Claim.CLAIMED

    def _texted_since(
        self,
        conn: Connection,
        user_id: int,
        local_date: date,
        phone: str,
        now: datetime,
    ) -> bool:
        if not self.cooldown:
            return False
        query = (
            sa.select(ledger.c.user_id)
            .where(
                sa.or_(ledger.c.user_id == user_id, ledger.c.phone_e164 == phone),
                ledger.c.status.in_([Status.CLAIMED.value, Status.SENT.value]),
                ledger.c.claimed_at >= now - self.cooldown,
                sa.not_(
                    sa.and_(
                        ledger.c.user_id == user_id, ledger.c.local_date == local_date
                    )
                ),
            )
            .limit(1)
        )
        return conn.execute(query).first() is not None

    def _holds(self, user_id: int, local_date: date) -> bool:
        query = sa.select(ledger.c.run_id).where(
            ledger.c.user_id == user_id,
            ledger.c.local_date == local_date,
            ledger.c.status == Status.CLAIMED.value,
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar() == self.run_id

    def complete(
        self,
        user_id: int,
        local_date: date,
        status: Status,
        *,
        message_sid: str | None = None,
        error_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        """Record how a claimed send ended."""
        with self.engine.begin() as conn:
            conn.execute(
                ledger.update()
                .where(ledger.c.user_id == user_id, ledger.c.local_date == local_date)
                .values(
                    status=status.value,
                    message_sid=message_sid,
                    error_code=error_code,
                    attempts=attempts,
                    updated_at=utc_now_naive(),
                )
            )

    def note_attempts(self, user_id: int, local_date: date, attempts: int) -> None:
        """Keep a claim open but record how often it was tried."""
        with self.engine.begin() as conn:
            conn.execute(
                ledger.update()
                .where(ledger.c.user_id == user_id, ledger.c.local_date == local_date)
                .values(attempts=attempts, updated_at=utc_now_naive())
            )

    def release(self, user_id: int, local_date: date) -> None:
        """Drop a claim whose send surely never reached Twilio, so it can be retried."""
        with self.engine.begin() as conn:
            conn.execute(
                ledger.delete().where(
                    ledger.c.user_id == user_id,
                    ledger.c.local_date == local_date,
                    ledger.c.status == Status.CLAIMED.value,
                )
            )

    def pending_claims(
        self, older_than: datetime, shard_index: int, shard_count: int
    ) -> list[PendingClaim]:
        """Claims left open by a run that crashed or could not tell if it sent.

        Claims of a run still alive (holding its ``run_alive_lock``) are left out:
        that run may be sending them right now.
        """
        query = (
            sa.select(
                ledger.c.user_id,
                ledger.c.local_date,
                ledger.c.phone_e164,
                ledger.c.claimed_at,
                ledger.c.run_id,
            )
            .where(
                ledger.c.status == Status.CLAIMED.value,
                ledger.c.run_id != self.run_id,
                ledger.c.claimed_at <= older_than,
            )
            .order_by(ledger.c.claimed_at)
        )
        if shard_count > 1:
            remainder = (ledger.c.user_id % shard_count + shard_count) % shard_count
            query = query.where(remainder == shard_index)
        with self.engine.connect() as conn:
            claims = [PendingClaim(*row) for row in conn.execute(query)]
            alive = _live_runs(conn, {claim.run_id for claim in claims})
        return [claim for claim in claims if claim.run_id not in alive]

    def suppressed(self, conn: Connection, phones: Iterable[str]) -> set[str]:
        """Which of these numbers must not be texted (the person replied STOP)."""
        wanted = sorted(set(phones))
        if not wanted:
            return set()
        query = sa.select(suppressions.c.phone_e164).where(
            suppressions.c.phone_e164.in_(wanted), suppressions.c.lifted_at.is_(None)
        )
        return set(conn.execute(query).scalars())

    def suppress(self, phone: str, user_id: int, reason: str, error_code: int) -> None:
        """Stop texting a number until an operator lifts it."""
        now = utc_now_naive()
        with self.engine.begin() as conn:
            lifted = conn.execute(
                suppressions.update()
                .where(suppressions.c.phone_e164 == phone)
                .values(
                    user_id=user_id,
                    reason=reason,
                    error_code=error_code,
                    created_at=now,
                    lifted_at=None,
                )
            )
            if lifted.rowcount == 0:
                conn.execute(
                    suppressions.insert().values(
                        phone_e164=phone,
                        user_id=user_id,
                        reason=reason,
                        error_code=error_code,
                        created_at=now,
                    )
                )


def lift_suppression(engine: Engine, phone: str) -> bool:
    """Allow texts to a suppressed number again; False when it was not suppressed."""
    with engine.begin() as conn:
        result = conn.execute(
            suppressions.update()
            .where(
                suppressions.c.phone_e164 == phone, suppressions.c.lifted_at.is_(None)
            )
            .values(lifted_at=utc_now_naive())
        )
    return result.rowcount > 0


_NUMBER_LOCK_WAIT = 10


@contextmanager
def _number_lock(conn: Connection, phone: str) -> Iterator[bool]:
    """Serialise claims for one phone number across runs (MySQL named lock)."""
    if conn.engine.url.get_backend_name() != "mysql":
        yield True
        return
    scope = f"{conn.engine.url.database}:{phone}"
    name = "habit-notifier:number:" + hashlib.sha256(scope.encode()).hexdigest()[:32]
    got = conn.execute(
        sa.text("SELECT GET_LOCK(:name, :wait)"),
        {"name": name, "wait": _NUMBER_LOCK_WAIT},
    ).scalar()
    conn.commit()
    try:
        yield got == 1
    finally:
        if got == 1:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})
            conn.commit()


def shard_lock_name(database: str | None, shard_index: int, shard_count: int) -> str:
    """The named lock one shard's runs take, unique to the database.

    A server's named locks are shared by all its databases, so the name carries a
    digest of the database name: runs against staging and production on one
    server must not hold each other back. The digest keeps the name within the
    server's 64-character limit.
    """
    digest = hashlib.sha256((database or "").encode()).hexdigest()[:16]
    return f"habit-notifier:{digest}:{shard_index}/{shard_count}"


def run_alive_lock(run_id: str) -> str:
    """The named lock a run holds while it lives, so others leave its claims be."""
    return f"habit-notifier:run:{run_id}"


@contextmanager
def run_lock(engine: Engine, name: str, run_id: str) -> Iterator[bool]:
    """Hold a server-side named lock for the run, where the database has them.

    Yields True when this run holds ``name`` (no other run of the same shard is
    live), False when another run holds it. While it runs, the run also holds
    ``run_alive_lock(run_id)``: a run started with other shard settings takes
    another ``name``, and that lock is how it tells this run's open claims from
    those of a run that died. SQLite has no named locks: it always yields True and
    open claims age out by lease instead.

    The locking session is kept alive by a ping, and the server drops it after
    ``LOCK_IDLE_SECONDS`` without one: a run whose node vanished releases its
    locks within minutes, not after the server's default eight hours.
    """
    if engine.url.get_backend_name() != "mysql":
        yield True
        return
    with engine.connect() as conn:
        conn.execute(sa.text(f"SET SESSION wait_timeout = {LOCK_IDLE_SECONDS}"))
        held = conn.execute(
            sa.text("SELECT GET_LOCK(:name, 0)"), {"name": name}
        ).scalar()
        if held != 1:
            yield False
            return
        conn.execute(
            sa.text("SELECT GET_LOCK(:name, 0)"), {"name": run_alive_lock(run_id)}
        )
        keeper = _KeepAlive(conn)
        try:
            yield True
        finally:
            keeper.stop()
            _release_locks(conn)


LOCK_IDLE_SECONDS = 120
_PING_EVERY = 20.0


class _KeepAlive:
    """Pings the locking session from a thread of its own while the run lives."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._ping, name="lock-keepalive", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _ping(self) -> None:
        while not self._done.wait(_PING_EVERY):
            try:
                self._conn.execute(sa.text("SELECT 1"))
            except sa.exc.DBAPIError:
                return


def _release_locks(conn: Connection) -> None:
    try:
        conn.execute(sa.text("SELECT RELEASE_ALL_LOCKS()"))
    except DBAPIError:
        # The connection is gone, and with it the locks: the server frees a dead
        # session's locks itself, so there is nothing left to release.
        conn.invalidate()


def _live_runs(conn: Connection, run_ids: Iterable[str]) -> set[str]:
    if conn.engine.url.get_backend_name() != "mysql":
        return set()
    statement = sa.text("SELECT IS_USED_LOCK(:name)")
    return {
        run_id
        for run_id in run_ids
        if conn.execute(statement, {"name": run_alive_lock(run_id)}).scalar()
        is not None
    }


def lease_cutoff(engine: Engine, lease_seconds: float) -> datetime:
    """Claims made before this instant are abandoned.

    With MySQL, a claim is abandoned as soon as its run no longer holds its
    ``run_alive_lock``; elsewhere a claim is trusted to a live run for
    ``lease_seconds``.
    """
    now = utc_now_naive()
    if engine.url.get_backend_name() == "mysql":
        return now
    return now - timedelta(seconds=lease_seconds)
