"""Timings taken side by side: the database's own scan, evaluation and a dry run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql.cursors

from bench.dataset import Dataset, connect
from notifier.timewindow import local_days, resolve_zone

REPO = Path(__file__).resolve().parent.parent
FULL_DAY = "00:00-24:00"

_JOIN_FILTER = "l.created_at >= %(start)s AND l.created_at < %(end)s"
# The window's logs with their owner, read by the server without sending rows:
# the optimizer's own plan (a scan of logs, habits by primary key) ...
SERVER_SCAN = (
    "SELECT COUNT(*), MAX(l.created_at), SUM(h.user_id) FROM logs l "
    "JOIN habits h ON h.id = l.habit_id WHERE " + _JOIN_FILTER
)
# ... and the plan through the recommended index, one range per habit.
INDEXED_SCAN = (
    "SELECT STRAIGHT_JOIN COUNT(*), MAX(l.created_at), SUM(h.user_id) FROM habits h "
    "JOIN logs l ON l.habit_id = h.id AND " + _JOIN_FILTER
)
# The same rows streamed to this client, as a program reading them would.
STREAMED_SCAN = (
    "SELECT h.user_id, l.created_at FROM logs l "
    "JOIN habits h ON h.id = l.habit_id WHERE " + _JOIN_FILTER
)


@dataclass(frozen=True, slots=True)
class Scan:
    """The database's time to read the window's logs, three ways."""

    server: float
    indexed: float
    streamed: float
    rows: int

    @property
    def baseline(self) -> float:
        """The faster of the two server-side plans: the bar evaluation is held to."""
        return min(self.server, self.indexed)


@dataclass(frozen=True, slots=True)
class DryRun:
    """One ``habit-notifier run --dry-run`` process."""

    seconds: float
    peak_mib: float
    exit_code: int


def window_bounds(dataset: Dataset, zones: list[str | None]) -> dict[str, datetime]:
    """From the earliest local yesterday among the zones to now, naive UTC."""
    starts = [
        local_days(resolve_zone(raw) or UTC, dataset.now).yesterday_start
        for raw in zones
    ]
    return {
        "start": min(starts).replace(tzinfo=None),
        "end": dataset.now.replace(tzinfo=None),
    }


def zones_in(dataset: Dataset) -> list[str | None]:
    """The distinct ``time_zone`` values of the dataset."""
    with connect(dataset.database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT DISTINCT time_zone FROM users")
        return [row[0] for row in cursor.fetchall()]


def raw_scan(dataset: Dataset) -> Scan:
    """Time the window's logs joined to habits: server-side twice, then streamed."""
    bounds = window_bounds(dataset, zones_in(dataset))
    with connect(dataset.database) as conn:
        server, rows = _timed_count(conn, SERVER_SCAN, bounds)
        indexed, _ = _timed_count(conn, INDEXED_SCAN, bounds)
    with (
        connect(dataset.database, cursorclass=pymysql.cursors.SSCursor) as conn,
        conn.cursor() as cursor,
    ):
        started = time.perf_counter()
        cursor.execute(STREAMED_SCAN, bounds)
        for _ in cursor:
            pass
        streamed = time.perf_counter() - started
    return Scan(server, indexed, streamed, rows)


def _timed_count(conn: Any, sql: str, bounds: dict[str, datetime]) -> tuple[float, int]:
    with conn.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, bounds)
        count = cursor.fetchone()[0]
        return time.perf_counter() - started, int(count)


def child_env(dataset: Dataset, window: str) -> dict[str, str]:
    """The environment of a job process pointed at the dataset."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]),
        DATABASE_URL=dataset.url,
        SEND_WINDOW=window,
        DEFAULT_PHONE_REGION="US",
        DEFAULT_TIME_ZONE="UTC",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    return env


def evaluation(dataset: Dataset, window: str = FULL_DAY) -> dict[str, Any]:
    """Run ``bench.probe`` in a fresh process and return what it measured."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.probe",
            dataset.url,
            dataset.now.isoformat(),
            window,
        ],
        env=child_env(dataset, window),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.probe failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def dry_run(dataset: Dataset, window: str = FULL_DAY) -> DryRun:
    """Time a whole dry run, previews printed to /dev/null, and its peak RSS."""
    command = [
        sys.executable,
        "-m",
        "notifier",
        "run",
        "--dry-run",
        "--now",
        dataset.now.isoformat(),
    ]
    with open(os.devnull, "wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=child_env(dataset, window), stdout=sink, stderr=sink
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return DryRun(seconds, usage.ru_maxrss / 1024, process.returncode)


def help_startup(repeats: int = 15) -> float:
    """Median seconds for ``habit-notifier --help`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "notifier", "--help"]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def python_startup(repeats: int = 15) -> float:
    """Median seconds for a bare ``python -c pass``: the floor under any command."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
