"""``python -m bench`` at a tiny size still builds, measures and prints its table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.dataset import server_available

REPO = Path(__file__).resolve().parent.parent
ROWS = (
    "raw scan, streamed to the client (baseline)",
    "evaluation: who is due, which rule",
    "per message: normalise + render",
    "whole dry run (process)",
    "peak RSS, dry run",
    "hourly slice 19:00-20:00: users in window",
    "growth: 300 users",
    "send latency bound, C=4",
    "send rate bound, 20/s",
    "send job run",
    "`habit-notifier --help`",
)


@pytest.mark.slow
@pytest.mark.skipif(not server_available(), reason="needs MariaDB at 127.0.0.1:3306")
def test_tiny_benchmark_prints_a_complete_table(tmp_path: Path) -> None:
    """Every row is present and the figures behind them are sane."""
    figures_path = tmp_path / "figures.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--users", "300", "--json", str(figures_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "| measure | value | ratio | target |" in done.stdout
    for row in ROWS:
        assert f"| {row}" in done.stdout
    figures = json.loads(figures_path.read_text())
    final = figures["final"]
    assert final["users"] == 300
    assert sum(final["evaluation"]["verdicts"].values()) == 300
    assert final["dry_run"]["exit"] == 0
    assert 0 < final["dry_run"]["peak_mib"] < 1024
    assert final["scan"]["rows"] > 0
    assert 0 < final["hourly"]["users_in_window"] < 300
    assert all(run["sent"] == run["messages"] > 0 for run in figures["send"])
    assert figures["machine"]["nproc"] >= 1
