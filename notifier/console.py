"""What operators and copywriters read on a terminal: previews, the demo, status."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from notifier.db import DbClock, ledger, suppressions, users, utc_now_naive
from notifier.evaluate import (
    Candidate,
    Shard,
    candidate_pages,
    groups_for_users,
    habit_names,
)
from notifier.phones import mask_phone, normalize_phone
from notifier.rules import NotDue, Rule, decide
from notifier.settings import Settings, load_settings
from notifier.summary import RunSummary
from notifier.templates import SAMPLE_RECIPIENTS, Recipient, Renderer, sms_shape
from notifier.timewindow import zone_label


def preview_samples(settings: Settings, local_date: date) -> Iterator[str]:
    """Every enabled rule rendered for the sample people."""
    from notifier.job import templates_dir

    renderer = Renderer(templates_dir(settings))
    for rule in Rule:
        if not renderer.enabled(rule):
            yield f"{rule.value}: switched off in rules.toml"
            continue
        for person in SAMPLE_RECIPIENTS:
            body = renderer.render(rule, person, local_date)
            yield from _text_block(
                settings, f"{rule.value} for sample user {person.id}", body
            )


def preview_users(
    settings: Settings, engine: sa.Engine, user_ids: Iterable[int], now: datetime
) -> Iterator[str]:
    """The text each listed user is due at ``now`` (window ignored), or why none."""
    from notifier.job import templates_dir

    renderer = Renderer(templates_dir(settings))
    clock = DbClock(settings.db_timezone)
    wanted = sorted(set(user_ids))
    with engine.connect() as conn:
        groups = groups_for_users(conn, wanted, settings.default_zone, now)
        pages = candidate_pages(
            lambda query: conn.execute(query).all(),
            list({group.raw: group for group in groups.values()}.values()),
            clock,
            Shard(),
            recent_since=utc_now_naive() - settings.text_cooldown,
            user_ids=wanted,
        )
        candidates = {c.user_id: c for page in pages for c in page}
        names = habit_names(conn, candidates)

    for user_id in wanted:
        candidate = candidates.get(user_id)
        if candidate is None:
            yield f"user {user_id}: no such user"
            continue
        days = candidate.group.days
        verdict = decide(days, candidate.first_habit_at, candidate.last_log_at)
        where = f"{zone_label(candidate.group.zone)}, local date {days.local_date}"
        if isinstance(verdict, NotDue):
            yield f"user {user_id} ({where}): nothing due ({verdict.value})"
            continue
        if not renderer.enabled(verdict):
            yield f"user {user_id} ({where}): {verdict.value} is switched off"
            continue
        phone = normalize_phone(candidate.phone_number, settings.default_phone_region)
        recipient = Recipient(user_id, candidate.name, names.get(user_id, ()))
        body = renderer.render(verdict, recipient, days.local_date)
        title = f"{verdict.value} for user {user_id} to {mask_phone(phone)} ({where})"
        yield from _text_block(settings, title, body)
        for note in _why_not_now(settings, candidate, phone, now):
            yield f"    (not sent now: {note})"


def _why_not_now(
    settings: Settings, candidate: Candidate, phone: str | None, now: datetime
) -> Iterator[str]:
    """What would stop a run at ``now`` from sending this text."""
    local = now.astimezone(candidate.group.zone)
    if not settings.send_window.contains(local):
        yield f"local time {local:%H:%M} is outside SEND_WINDOW {settings.send_window}"
    if candidate.ledger_status is not None:
        yield f"the ledger already says {candidate.ledger_status} for this date"
    elif candidate.texted_recently:
        yield f"texted within the last {settings.text_cooldown_hours:g} hours"
    if phone is None:
        yield "the phone number is unusable (a DEFAULT_PHONE_REGION may help)"


def _text_block(settings: Settings, title: str, body: str) -> Iterator[str]:
    shape = sms_shape(body)
    cost = shape.cost(settings.sms_price_per_segment)
    yield (
        f"--- {title}: {len(body)} chars, {shape.encoding}, "
        f"{shape.segments} segment(s), {cost:.4f} {settings.sms_price_currency}"
    )
    for line in body.splitlines():
        yield f"    {line}"


def run_demo() -> Iterator[str]:
    """Build the sample database, run the real job on it, and describe what happened."""
    from notifier.demo import (
        DEMO_USERS,
        ConsoleTransport,
        build_demo_database,
        demo_now,
    )
    from notifier.job import run_job

    now = demo_now()
    with tempfile.TemporaryDirectory(prefix="habit-notifier-demo-") as folder:
        path = Path(folder) / "demo.sqlite3"
        build_demo_database(path, now)
        settings = load_settings(
            {
                "DATABASE_URL": f"sqlite:///{path}",
                "SEND_WINDOW": "00:00-24:00",
                "DEFAULT_PHONE_REGION": "US",
                "LOG_LEVEL": "WARNING",
                "TWILIO_MAX_MPS": "1000",
            }
        )
        transport = ConsoleTransport()
        summary = run_job(settings, transport, now)

    people = {normalize_phone(person.phone, "US"): person for person in DEMO_USERS}
    count = len(DEMO_USERS)
    yield f"habit-notifier demo: {count} sample users, as of {now:%Y-%m-%d %H:%M} UTC"
    yield "(a throwaway SQLite database; texts go to this screen, not to phones)"
    yield ""
    for text in sorted(transport.texts, key=lambda item: people[item.to].id):
        person = people[text.to]
        title = (
            f"SMS to {person.name or '(no name)'}, user {person.id}, {person.time_zone}"
        )
        yield from _text_block(settings, title, text.body)
        yield ""
    yield from summary_lines(summary)


def summary_lines(summary: RunSummary) -> Iterator[str]:
    """The run summary as a few readable lines."""
    fields = summary.fields()
    yield f"users evaluated: {fields['evaluated']}"
    for key in ("sent", "would_send", "not_due", "skipped", "failed", "reconciled"):
        if fields[key]:
            parts = ", ".join(
                f"{name} {count}" for name, count in sorted(fields[key].items())
            )
            yield f"{key.replace('_', ' ')}: {parts}"
    if fields["time_zone_fallback"]:
        yield f"time zones unusable, default used: {fields['time_zone_fallback']}"
    yield f"exit code {fields['exit_code']}"


def user_status(
    settings: Settings, engine: sa.Engine, user_id: int, day: date | None
) -> Iterator[str]:
    """One user's ledger rows (newest first) and any suppression of their number."""
    query = (
        sa.select(ledger)
        .where(ledger.c.user_id == user_id)
        .order_by(ledger.c.local_date.desc())
        .limit(14)
    )
    if day is not None:
        query = query.where(ledger.c.local_date == day)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        user = conn.execute(
            sa.select(users.c.phone_number).where(users.c.id == user_id)
        ).first()
        phone_raw = None if user is None else user.phone_number
        phone = normalize_phone(
            None if phone_raw is None else str(phone_raw),
            settings.default_phone_region,
        )
        suppression = (
            conn.execute(
                sa.select(suppressions).where(suppressions.c.phone_e164 == phone)
            ).first()
            if phone
            else None
        )

    if user is None:
        yield f"user {user_id}: no such user in the app's users table"
    if not rows:
        yield f"user {user_id}: no texts recorded" + (f" on {day}" if day else "")
    for row in rows:
        detail = (
            f"sid {row.message_sid}" if row.message_sid else f"error {row.error_code}"
        )
        yield (
            f"{row.local_date}  {row.rule:<15} {row.status:<10} {detail}  "
            f"to {mask_phone(row.phone_e164)}, attempts {row.attempts}, "
            f"claimed {row.claimed_at:%Y-%m-%d %H:%M} UTC"
        )
    if suppression is not None and suppression.lifted_at is None:
        yield (
            f"number {mask_phone(phone)} is suppressed ({suppression.reason}, "
            f"error {suppression.error_code}) since {suppression.created_at:%Y-%m-%d}; "
            "lift with `habit-notifier suppressions lift NUMBER`"
        )
    elif phone is not None:
        yield f"number {mask_phone(phone)} is not suppressed"
    elif user is not None:
        yield "the user's phone number is unusable, so nobody texts it"
