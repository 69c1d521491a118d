"""``python -m bench [--size tiny|small|medium|1m | --users N] [--json PATH]``.

Builds each dataset of the size ladder in turn (10k, 100k, 1M users, up to the
size asked for), measures it, drops it, and prints one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import measure, report, throughput
from bench.dataset import Dataset, habit_app
from notifier.db import init_own_tables, make_engine
from notifier.settings import load_settings

SIZES = {"tiny": 1_000, "small": 50_000, "medium": 200_000, "1m": 1_000_000}
LADDER = (10_000, 100_000, 1_000_000)
# A fixed instant keeps runs comparable; at 18:30 UTC the one-hour window
# 19:00-20:00 holds exactly the users one hour east of Greenwich.
NOW = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)
HOURLY_WINDOW = "19:00-20:00"
# (label, messages, latency seconds, in flight, max messages per second)
SEND_CASES = (
    ("latency bound, C=4", 200, 0.1, 4, 1000.0),
    ("latency bound, C=16", 800, 0.1, 16, 1000.0),
    ("rate bound, 20/s", 100, 0.1, 16, 20.0),
)
T = TypeVar("T")


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run every measurement, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--users", type=int, help="overrides --size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--no-send", action="store_true", help="skip the send throughput runs"
    )
    options = parser.parse_args(argv)
    users = options.users or SIZES[options.size]

    figures: dict[str, Any] = {"machine": report.machine(), "users": users}
    ladder = [size for size in LADDER if size < users] + [users]
    figures["growth"] = [_measure_size(size, final=size == users) for size in ladder]
    figures["final"] = figures["growth"][-1]
    figures["startup"] = {
        "help_s": measure.help_startup(),
        "python_s": measure.python_startup(),
    }
    if not options.no_send:
        figures["send"] = _sending(min(users, 2_000))

    table = report.table(figures)
    print(table)
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2, default=str))


def _measure_size(users: int, *, final: bool) -> dict[str, Any]:
    _note(f"building {users:,} users")
    started = time.perf_counter()
    with habit_app(users, NOW) as dataset:
        figures: dict[str, Any] = {
            "users": users,
            "habits": dataset.habits,
            "logs": dataset.logs,
            "logs_in_windows": dataset.logs_in_windows,
            "build_s": time.perf_counter() - started,
        }
        init_own_tables(make_engine(load_settings({"DATABASE_URL": dataset.url})))
        repeats = 3 if users <= 200_000 else 1
        _note(f"measuring {users:,} users, {repeats} repeat(s)")

        measure.raw_scan(dataset)  # warms the buffer pool for both sides alike
        scans = [measure.raw_scan(dataset) for _ in range(repeats)]
        evaluations = [measure.evaluation(dataset) for _ in range(repeats)]
        figures["scan"] = {
            "server_s": _median(scans, lambda scan: scan.server),
            "indexed_s": _median(scans, lambda scan: scan.indexed),
            "streamed_s": _median(scans, lambda scan: scan.streamed),
            "baseline_s": _median(scans, lambda scan: scan.baseline),
            "rows": scans[0].rows,
        }
        figures["evaluation"] = _evaluation_figures(evaluations)
        full = measure.dry_run(dataset)
        figures["dry_run"] = _dry_run_figures(full)
        if final:
            figures["hourly"] = _hourly(dataset, full)
    return figures


def _evaluation_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    return {
        "seconds": _median(runs, lambda run: run["seconds"]),
        "per_message_us": _median(runs, lambda run: run["per_message_us"] or 0.0),
        "peak_mib": max(run["peak_kib"] for run in runs) / 1024,
        "queries": first["queries"],
        "groups": first["groups"],
        "users": first["users"],
        "verdicts": first["verdicts"],
    }


def _dry_run_figures(run: measure.DryRun) -> dict[str, Any]:
    return {"seconds": run.seconds, "peak_mib": run.peak_mib, "exit": run.exit_code}


def _hourly(dataset: Dataset, full: measure.DryRun) -> dict[str, Any]:
    _note("measuring the one-hour window")
    evaluation = measure.evaluation(dataset, HOURLY_WINDOW)
    whole = measure.evaluation(dataset)
    dry = measure.dry_run(dataset, HOURLY_WINDOW)
    return {
        "window": HOURLY_WINDOW,
        "users_in_window": evaluation["users"],
        "user_share": evaluation["users"] / dataset.users,
        "evaluation_s": evaluation["seconds"],
        "evaluation_ratio": evaluation["seconds"] / whole["seconds"],
        "dry_run_s": dry.seconds,
        "dry_run_ratio": dry.seconds / full.seconds,
    }


def _sending(job_users: int) -> list[dict[str, Any]]:
    runs = []
    for case in SEND_CASES:
        _note(f"sending: {case[0]}")
        runs.append(throughput.dispatcher_throughput(*case))
    with habit_app(job_users, NOW, seed=7) as dataset:
        init_own_tables(make_engine(load_settings({"DATABASE_URL": dataset.url})))
        _note("sending: a real job run")
        runs.append(throughput.job_throughput(dataset, 0.1, 16, 1000.0))
    return [
        {
            "label": run.label,
            "messages": run.messages,
            "latency_s": run.latency,
            "in_flight": run.in_flight,
            "max_mps": run.max_mps,
            "seconds": run.seconds,
            "ideal_s": run.ideal,
            "ratio": run.ratio,
            "sent": run.sent,
        }
        for run in runs
    ]


def _median(items: list[T], key: Callable[[T], float]) -> float:
    return statistics.median(key(item) for item in items)


def _note(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
