"""Timed pieces of the job, each in a fresh process so its peak memory is its own.

``python -m bench.probe URL NOW WINDOW`` evaluates every user in the window the way a
run does (zone groups, then id-ordered pages, then the rules), then times the
per-message work on a sample of the due users, and prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from notifier.db import DbClock, make_engine
from notifier.evaluate import (
    Candidate,
    Shard,
    candidate_pages,
    habit_names,
    zone_groups,
)
from notifier.phones import normalize_phone
from notifier.rules import Rule, decide
from notifier.settings import load_settings
from notifier.templates import Recipient, Renderer, default_templates_dir

SAMPLE = 20_000


def evaluate(url: str, now: datetime, window: str, shard: Shard) -> dict[str, Any]:
    """Decide every user in the window; time it and the per-message work."""
    settings = load_settings(
        {"DATABASE_URL": url, "SEND_WINDOW": window, "DEFAULT_PHONE_REGION": "US"}
    )
    engine = make_engine(settings)
    clock = DbClock(None)
    verdicts: Counter[str] = Counter()
    sample: list[tuple[Candidate, Rule]] = []
    seen: list[int] = []

    started = time.perf_counter()
    with engine.connect() as conn:
        groups = zone_groups(conn, UTC, settings.send_window, now)
    queries = 1

    def fetch(query: Any) -> list[Any]:
        nonlocal queries
        queries += 1
        with engine.connect() as conn:
            return list(conn.execute(query).all())

    for page in candidate_pages(fetch, groups, clock, shard):
        for candidate in page:
            days = candidate.group.days
            verdict = decide(days, candidate.first_habit_at, candidate.last_log_at)
            verdicts[verdict.value] += 1
            if shard.count > 1:
                seen.append(candidate.user_id)
            if isinstance(verdict, Rule) and len(sample) < SAMPLE:
                sample.append((candidate, verdict))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    return {
        "seconds": seconds,
        "queries": queries,
        "groups": len(groups),
        "users": sum(verdicts.values()),
        "verdicts": dict(verdicts),
        "peak_kib": peak,
        "per_message_us": _per_message(engine, sample),
        "user_ids": seen,
    }


def _per_message(engine: Any, sample: list[tuple[Candidate, Rule]]) -> float | None:
    """Microseconds to normalise the number and render the text, per message."""
    if not sample:
        return None
    with engine.connect() as conn:
        names = habit_names(conn, (candidate.user_id for candidate, _ in sample))
    renderer = Renderer(default_templates_dir())

    started = time.perf_counter()
    for candidate, rule in sample:
        normalize_phone(candidate.phone_number, "US")
        recipient = Recipient(
            candidate.user_id, candidate.name, names.get(candidate.user_id, ())
        )
        renderer.render(rule, recipient, candidate.group.days.local_date)
    return (time.perf_counter() - started) / len(sample) * 1e6


def main(argv: list[str]) -> None:
    """Entry point: URL NOW WINDOW [SHARD_INDEX SHARD_COUNT]."""
    url, now, window = argv[:3]
    shard = Shard(int(argv[3]), int(argv[4])) if len(argv) > 3 else Shard()
    result = evaluate(url, datetime.fromisoformat(now), window, shard)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
