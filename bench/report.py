"""The benchmark's figures as one Markdown table, with the machine they came from."""

from __future__ import annotations

import os
import platform
from typing import Any

from bench.dataset import connect

MEMORY_LIMIT_MIB = 256


def machine() -> dict[str, Any]:
    """CPU count, RAM, Python and MariaDB versions, and the buffer pool size."""
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
        version, pool = cursor.fetchone()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "python": platform.python_version(),
        "mariadb": version,
        "buffer_pool_mib": int(pool) // 2**20,
    }


def table(figures: dict[str, Any]) -> str:
    """Every figure as a row: what, measured, ratio, target."""
    final = figures["final"]
    scan, evaluation, dry = final["scan"], final["evaluation"], final["dry_run"]
    streamed, server = scan["streamed_s"], scan["baseline_s"]
    box = figures["machine"]
    rows = [
        (
            "users / habits / logs",
            f"{final['users']:,} / {final['habits']:,} / {final['logs']:,}",
            "",
            "",
        ),
        (
            "logs in the users' windows / in the scanned span",
            f"{final['logs_in_windows']:,} / {scan['rows']:,}",
            "",
            "",
        ),
        (
            "raw scan, streamed to the client (baseline)",
            f"{streamed:.2f} s",
            "1.00",
            "",
        ),
        (
            "raw scan, server only (best plan)",
            f"{server:.2f} s",
            f"{server / streamed:.2f}",
            "",
        ),
        (
            "evaluation: who is due, which rule",
            f"{evaluation['seconds']:.2f} s",
            f"{evaluation['seconds'] / streamed:.2f} "
            f"({evaluation['seconds'] / server:.1f} x server-only)",
            "<= 2",
        ),
        (
            "evaluation queries (zone groups)",
            f"{evaluation['queries']} ({evaluation['groups']})",
            "",
            "bounded",
        ),
        (
            "per message: normalise + render",
            f"{evaluation['per_message_us']:.0f} us",
            "",
            "",
        ),
        (
            "whole dry run (process)",
            f"{dry['seconds']:.2f} s",
            f"{dry['seconds'] / streamed:.2f}",
            "<= 4",
        ),
        (
            "peak RSS, dry run",
            f"{dry['peak_mib']:.0f} MiB",
            f"{dry['peak_mib'] / MEMORY_LIMIT_MIB:.2f} of limit",
            f"< {MEMORY_LIMIT_MIB} MiB",
        ),
    ]
    hourly = final.get("hourly")
    if hourly:
        rows += [
            (
                f"hourly slice {hourly['window']}: users in window",
                f"{hourly['users_in_window']:,}",
                f"{hourly['user_share']:.3f}",
                "~1/24",
            ),
            (
                "hourly slice: evaluation vs all users",
                f"{hourly['evaluation_s']:.2f} s",
                f"{hourly['evaluation_ratio']:.3f}",
                "~ user share",
            ),
            (
                "hourly slice: dry run vs all users",
                f"{hourly['dry_run_s']:.2f} s",
                f"{hourly['dry_run_ratio']:.3f}",
                "~ user share",
            ),
        ]
    for point in figures["growth"]:
        rows.append(
            (
                f"growth: {point['users']:,} users (scan / eval / dry run / RSS)",
                f"{point['scan']['streamed_s']:.2f} / "
                f"{point['evaluation']['seconds']:.2f}"
                f" / {point['dry_run']['seconds']:.2f} s / "
                f"{point['dry_run']['peak_mib']:.0f} MiB",
                f"{point['evaluation']['seconds'] / point['scan']['streamed_s']:.2f}",
                "",
            )
        )
    for run in figures.get("send", []):
        if run["label"].startswith("job run"):
            target = ""  # a whole run also claims and records: no target
        elif run["ideal_s"] == run["messages"] / run["max_mps"]:
            target = "<= 1.05"
        else:
            target = "<= 1.15"
        rows.append(
            (
                f"send {run['label']}: {run['messages']} msgs, L={run['latency_s']} s, "
                f"C={run['in_flight']}, MPS={run['max_mps']:g}",
                f"{run['seconds']:.2f} s (ideal {run['ideal_s']:.2f})",
                f"{run['ratio']:.3f}",
                target,
            )
        )
    startup = figures["startup"]
    rows.append(
        (
            "`habit-notifier --help` (bare python)",
            f"{startup['help_s'] * 1000:.0f} ms ({startup['python_s'] * 1000:.0f} ms)",
            "",
            "< 500 ms",
        )
    )

    lines = [
        f"machine: {box['nproc']} cores, {box['ram_gib']} GiB RAM, Python "
        f"{box['python']}, MariaDB {box['mariadb']} (buffer pool "
        f"{box['buffer_pool_mib']} MiB)",
        "",
        "| measure | value | ratio | target |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {what} | {value} | {ratio} | {target} |"
        for what, value, ratio, target in rows
    ]
    return "\n".join(lines)
