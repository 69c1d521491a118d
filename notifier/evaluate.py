"""Who is in their send window now, and what the database says about their days.

Users are grouped by their raw ``time_zone`` value: each group shares one set of
day bounds, so the database answers a page of users with plain range conditions
and no per-user query. Only groups inside the send window are read at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from notifier.db import DbClock, habits, ledger, logs, users
from notifier.timewindow import LocalDays, SendWindow, local_days, resolve_zone

PAGE_SIZE = 2000
_EPOCH_TEXT = "1970-01-01 00:00:00"


class _TextOrDateTime(sa.types.TypeDecorator[datetime]):
    """A datetime that the database may hand back as text (COALESCE with a string)."""

    impl = sa.types.DateTime
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                # A zero date ('0000-00-00 ...') is junk, not a time: read it
                # like a missing one, as long ago.
                return datetime.fromisoformat(_EPOCH_TEXT)
        return value  # type: ignore[no-any-return]  # a datetime or None


@dataclass(frozen=True, slots=True)
class ZoneGroup:
    """Users sharing one ``time_zone`` value whose local clock is in the window."""

    raw: str | None
    zone: tzinfo
    fallback: bool
    days: LocalDays


@dataclass(frozen=True, slots=True)
class Candidate:
    """One user in their window, with what the decision needs."""

    user_id: int
    name: str | None
    phone_number: str | None
    group: ZoneGroup
    first_habit_at: datetime | None
    last_log_at: datetime | None
    ledger_status: str | None


@dataclass(frozen=True, slots=True)
class Shard:
    """This run's share of users: ids whose remainder by ``count`` is ``index``."""

    index: int = 0
    count: int = 1


def zone_groups(
    conn: Connection, default_zone: tzinfo, window: SendWindow, now: datetime
) -> list[ZoneGroup]:
    """The time zone values whose users' local clock is inside the window at ``now``."""
    groups = []
    for raw in conn.execute(sa.select(users.c.time_zone).distinct()).scalars():
        zone = resolve_zone(raw)
        chosen = zone or default_zone
        if window.contains(now.astimezone(chosen)):
            groups.append(ZoneGroup(raw, chosen, zone is None, local_days(chosen, now)))
    return groups


def to_candidates(
    rows: Iterable[Any], group: ZoneGroup, clock: DbClock
) -> list[Candidate]:
    """Candidates from the rows of a ``page_query``.

    A newest log from before local yesterday is no log at all for the rules, so
    it becomes None here.
    """
    yesterday_start = group.days.yesterday_start
    candidates = []
    for row in rows:
        last_log_at = clock.from_db(row.newest_log_at)
        if last_log_at is not None and last_log_at < yesterday_start:
            last_log_at = None
        candidates.append(
            Candidate(
                user_id=row.id,
                name=row.name,
                phone_number=row.phone_number,
                group=group,
                first_habit_at=clock.from_db(row.first_habit_at),
                last_log_at=last_log_at,
                ledger_status=row.ledger_status,
            )
        )
    return candidates


def page_query(
    group: ZoneGroup,
    clock: DbClock,
    shard: Shard,
    after_id: int | None,
    page_size: int = PAGE_SIZE,
    user_ids: Iterable[int] | None = None,
) -> sa.Select[Any]:
    """One page of the group's users after ``after_id``, by id, each with their
    oldest habit's creation, their newest log before ``now``, and the ledger's
    word on their local date.

    The newest log is found per habit by reading the logs index backwards from
    ``now`` and stopping at the first entry, so a user costs one index probe per
    habit however long their history; ``to_candidates`` drops a newest log that
    is older than local yesterday.
    """
    days = group.days
    # A habit with no creation time counts as old, so its owner is not "new".
    oldest = sa.func.min(sa.func.coalesce(habits.c.created_at, _EPOCH_TEXT))
    first_habit_at = (
        sa.select(sa.type_coerce(oldest, _TextOrDateTime()))
        .where(habits.c.user_id == users.c.id)
        .scalar_subquery()
    )
    owned = habits.alias("owned")
    newest_per_habit = (
        sa.select(logs.c.created_at)
        .where(logs.c.habit_id == owned.c.id, logs.c.created_at < clock.to_db(days.now))
        .order_by(logs.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    newest_log_at = (
        sa.select(sa.func.max(newest_per_habit))
        .where(owned.c.user_id == users.c.id)
        .scalar_subquery()
    )
    same_zone = (
        users.c.time_zone.is_(None)
        if group.raw is None
        else users.c.time_zone == group.raw
    )
    query = (
        sa.select(
            users.c.id,
            users.c.name,
            users.c.phone_number,
            first_habit_at.label("first_habit_at"),
            newest_log_at.label("newest_log_at"),
            ledger.c.status.label("ledger_status"),
        )
        .select_from(
            users.outerjoin(
                ledger,
                sa.and_(
                    ledger.c.user_id == users.c.id,
                    ledger.c.local_date == days.local_date,
                ),
            )
        )
        .where(same_zone)
        .order_by(users.c.id)
        .limit(page_size)
    )
    if after_id is not None:
        query = query.where(users.c.id > after_id)
    if shard.count > 1:
        query = query.where(users.c.id % shard.count == shard.index)
    if user_ids is not None:
        query = query.where(users.c.id.in_(sorted(set(user_ids))))
    return query


def habit_names(
    conn: Connection, user_ids: Iterable[int]
) -> dict[int, tuple[str, ...]]:
    """Each user's named habits, oldest first; blank names are left out."""
    wanted = sorted(set(user_ids))
    names: defaultdict[int, list[str]] = defaultdict(list)
    if not wanted:
        return {}
    query = (
        sa.select(habits.c.user_id, habits.c.name)
        .where(habits.c.user_id.in_(wanted))
        .order_by(habits.c.user_id, habits.c.created_at, habits.c.id)
    )
    for user_id, name in conn.execute(query):
        if name and name.strip():
            names[user_id].append(name.strip())
    return {user_id: tuple(found) for user_id, found in names.items()}


def groups_for_users(
    conn: Connection, user_ids: Iterable[int], default_zone: tzinfo, now: datetime
) -> dict[int, ZoneGroup]:
    """Each listed user's zone group as of ``now``, ignoring the send window."""
    query = sa.select(users.c.id, users.c.time_zone).where(
        users.c.id.in_(sorted(set(user_ids)))
    )
    found = {}
    for user_id, raw in conn.execute(query):
        zone = resolve_zone(raw)
        chosen = zone or default_zone
        found[user_id] = ZoneGroup(raw, chosen, zone is None, local_days(chosen, now))
    return found
