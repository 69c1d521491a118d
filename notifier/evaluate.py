"""Who is in their send window now, and what the database says about their days.

Users are grouped by their raw ``time_zone`` value, each group sharing one set of
day bounds. Only groups inside the send window are read, in one pass over the
users in id order, a page per query: walking the tables in key order keeps the
database's reads local, and no query is made per user.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from notifier.db import DbClock, habits, ledger, logs, users
from notifier.timewindow import (
    LocalDays,
    SendWindow,
    local_days,
    resolve_zone,
    zone_label,
)

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
    texted_recently: bool = False


@dataclass(frozen=True, slots=True)
class Shard:
    """This run's share of users: ids whose remainder by ``count`` is ``index``."""

    index: int = 0
    count: int = 1


Fetch = Callable[[sa.Select[Any]], Sequence[Any] | None]


def zone_groups(
    conn: Connection, default_zone: tzinfo, window: SendWindow, now: datetime
) -> list[ZoneGroup]:
    """The time zone values whose users' local clock is inside the window at ``now``."""
    groups = []
    spellings = sa.select(ExactText(users.c.time_zone)).distinct()
    for value in conn.execute(spellings).scalars():
        raw = _text(value)
        zone = resolve_zone(raw)
        chosen = zone or default_zone
        if window.contains(now.astimezone(chosen)):
            groups.append(ZoneGroup(raw, chosen, zone is None, local_days(chosen, now)))
    return groups


def _text(value: object) -> str | None:
    """A text column's value as str, whatever type the app's schema gave it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


class ExactText(sa.sql.functions.FunctionElement[str]):
    """A text column compared and made distinct by its exact characters.

    A case- or accent-blind collation would fold a valid zone spelling and a
    misspelt one into one value; on MySQL this converts to utf8mb4 with a binary
    collation, whatever the column's character set.
    """

    type = sa.String()
    inherit_cache = True
    name = "exact_text"


@compiles(ExactText)
def _exact_text_default(element: ExactText, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(ExactText, "mysql")
def _exact_text_mysql(element: ExactText, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CONVERT({column} USING utf8mb4) COLLATE utf8mb4_bin"


class GroupLookup:
    """Finds the group of a row's own ``time_zone`` spelling.

    A case-insensitive collation hands back ``america/new_york`` for the group
    ``America/New_York``; such a spelling joins the group of the zone it names.
    A row whose spelling names a zone outside the groups gets None.
    """

    def __init__(self, groups: Iterable[ZoneGroup]) -> None:
        self._by_raw: dict[str | None, ZoneGroup | None] = {}
        self._by_zone: dict[tuple[str, bool], ZoneGroup] = {}
        for group in groups:
            self._by_raw[group.raw] = group
            self._by_zone[(zone_label(group.zone), group.fallback)] = group
        self._fallback = next(
            (group for group in self._by_zone.values() if group.fallback), None
        )

    def __call__(self, raw: str | None) -> ZoneGroup | None:
        if raw in self._by_raw:
            return self._by_raw[raw]
        zone = resolve_zone(raw)
        group = self._by_zone.get((zone_label(zone), False)) if zone else self._fallback
        self._by_raw[raw] = group
        return group


def candidate_pages(
    fetch: Fetch,
    groups: Sequence[ZoneGroup],
    clock: DbClock,
    shard: Shard,
    *,
    recent_since: datetime | None = None,
    page_size: int = PAGE_SIZE,
    user_ids: Iterable[int] | None = None,
) -> Iterator[list[Candidate]]:
    """The groups' users in id order, a page at a time, with the ledger's word.

    ``fetch`` runs a query and returns its rows, or None to stop (the database
    is gone); the job's fetch retries a lost connection. ``recent_since`` (naive
    UTC) marks users texted since then as ``texted_recently``.
    """
    recent_since = recent_since or datetime.max
    if not groups:
        return
    lookup = GroupLookup(groups)
    wanted = None if user_ids is None else sorted(set(user_ids))
    after_id: int | None = None
    while True:
        query = page_query(groups, clock, shard, after_id, page_size, wanted)
        rows = fetch(query)
        if rows is None:
            return
        candidates = to_candidates(rows, lookup, clock)
        if candidates:
            statuses = fetch(ledger_query(candidates, recent_since))
            if statuses is None:
                return
            yield with_ledger(candidates, statuses, recent_since)
        if len(rows) < page_size:
            return
        after_id = rows[-1].id


def page_query(
    groups: Sequence[ZoneGroup],
    clock: DbClock,
    shard: Shard,
    after_id: int | None,
    page_size: int = PAGE_SIZE,
    user_ids: Iterable[int] | None = None,
) -> sa.Select[Any]:
    """One page of the groups' users after ``after_id``, by id, each with their
    oldest habit's creation and their newest log up to ``now``.

    The newest log is found per habit by reading the logs index backwards from
    ``now`` and stopping at the first entry, so a user costs one index probe per
    habit however long their history; ``to_candidates`` drops a newest log that
    is older than the user's local yesterday.
    """
    now = clock.to_db(groups[0].days.now)
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
        .where(logs.c.habit_id == owned.c.id, logs.c.created_at <= now)
        .order_by(logs.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    newest_log_at = (
        sa.select(sa.func.max(newest_per_habit))
        .where(owned.c.user_id == users.c.id)
        .scalar_subquery()
    )
    query = (
        sa.select(
            users.c.id,
            users.c.name,
            users.c.phone_number,
            users.c.time_zone,
            first_habit_at.label("first_habit_at"),
            newest_log_at.label("newest_log_at"),
        )
        .where(_in_groups(groups))
        .order_by(users.c.id)
        .limit(page_size)
    )
    if after_id is not None:
        query = query.where(users.c.id > after_id)
    if shard.count > 1:
        # MySQL's remainder keeps the sign of the id; fold negatives into range.
        remainder = (users.c.id % shard.count + shard.count) % shard.count
        query = query.where(remainder == shard.index)
    if user_ids is not None:
        query = query.where(users.c.id.in_(sorted(set(user_ids))))
    return query


def _in_groups(groups: Sequence[ZoneGroup]) -> sa.ColumnElement[bool]:
    named = sorted({group.raw for group in groups if group.raw is not None})
    conditions = [ExactText(users.c.time_zone).in_(named)] if named else []
    if any(group.raw is None for group in groups):
        conditions.append(users.c.time_zone.is_(None))
    return sa.or_(*conditions)


def to_candidates(
    rows: Iterable[Any],
    lookup: Callable[[str | None], ZoneGroup | None],
    clock: DbClock,
) -> list[Candidate]:
    """Candidates from the rows of a ``page_query``, without the ledger's word.

    A newest log from before local yesterday is no log at all for the rules, so
    it becomes None here.
    """
    candidates = []
    for row in rows:
        group = lookup(_text(row.time_zone))
        if group is None:
            continue
        last_log_at = clock.from_db(row.newest_log_at)
        if last_log_at is not None and last_log_at < group.days.yesterday_start:
            last_log_at = None
        candidates.append(
            Candidate(
                user_id=row.id,
                name=_text(row.name),
                phone_number=_text(row.phone_number),
                group=group,
                first_habit_at=clock.from_db(row.first_habit_at),
                last_log_at=last_log_at,
                ledger_status=None,
            )
        )
    return candidates


def ledger_query(
    candidates: Sequence[Candidate], recent_since: datetime
) -> sa.Select[Any]:
    """These users' ledger rows on their local dates or claimed since
    ``recent_since`` (naive UTC, real time)."""
    return sa.select(
        ledger.c.user_id, ledger.c.local_date, ledger.c.status, ledger.c.claimed_at
    ).where(
        ledger.c.user_id.in_(sorted({c.user_id for c in candidates})),
        sa.or_(
            ledger.c.local_date.in_(
                sorted({c.group.days.local_date for c in candidates})
            ),
            ledger.c.claimed_at >= recent_since,
        ),
    )


_TEXTED = frozenset({"claimed", "sent"})


def with_ledger(
    candidates: Sequence[Candidate], rows: Iterable[Any], recent_since: datetime
) -> list[Candidate]:
    """The candidates with their ledger row's status for their local date, and
    whether any text went to them since ``recent_since``, whatever its date."""
    rows = list(rows)
    statuses = {(row.user_id, row.local_date): row.status for row in rows}
    recent = {
        row.user_id
        for row in rows
        if row.status in _TEXTED and row.claimed_at >= recent_since
    }
    return [
        replace(
            candidate,
            ledger_status=statuses.get(
                (candidate.user_id, candidate.group.days.local_date)
            ),
            texted_recently=candidate.user_id in recent,
        )
        for candidate in candidates
    ]


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
    for user_id, value in conn.execute(query):
        name = _text(value)
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
    for user_id, value in conn.execute(query):
        raw = _text(value)
        zone = resolve_zone(raw)
        chosen = zone or default_zone
        found[user_id] = ZoneGroup(raw, chosen, zone is None, local_days(chosen, now))
    return found
