"""The ``habit-notifier`` command line: parse options, call the core, map errors.

Heavy modules are imported inside the commands, so ``--help`` answers quickly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from notifier.errors import ExitCode, NotifierError

if TYPE_CHECKING:
    from notifier.delivery import Outgoing
    from notifier.settings import Settings

app = typer.Typer(
    help="Text habit-tracker users when their logging lapses, once per local day.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="The notifier's own tables and the app's indexes.", no_args_is_help=True
)
templates_app = typer.Typer(
    help="Check the copywriters' templates.", no_args_is_help=True
)
suppressions_app = typer.Typer(help="Numbers that replied STOP.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(templates_app, name="templates")
app.add_typer(suppressions_app, name="suppressions")

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(command: F) -> F:
    """Turn our errors into ``error: ...`` on stderr and their exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NotifierError as error:
            typer.echo(f"error: {error}", err=True)
            if not sys.stderr.isatty():
                _log_failure(command.__name__, error)
            raise typer.Exit(int(error.exit_code)) from None

    return wrapper  # type: ignore[return-value]  # wraps keeps the signature Typer reads


def _log_failure(command: str, error: NotifierError) -> None:
    """The failure as a log event too, for pipelines that read only JSON lines."""
    import structlog

    from notifier.logs import configure_logging, get_logger

    if not structlog.is_configured():
        configure_logging(None)
    get_logger().error(
        f"{command}.failed", error=str(error), exit_code=int(error.exit_code)
    )


def _settings() -> Settings:
    from notifier.logs import configure_logging
    from notifier.settings import load_settings

    settings = load_settings(os.environ)
    configure_logging(settings)
    return settings


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    from dateutil.parser import isoparse

    try:
        parsed = isoparse(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 instant, e.g. 2026-12-04T19:30:00Z"
        ) from None
    if not 1970 <= parsed.year <= 2200:
        raise typer.BadParameter(f"{value!r} is outside the years 1970 to 2200")
    return (
        parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    )


_NOW_SLACK = timedelta(minutes=5)

NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Evaluate as of this ISO-8601 instant (UTC if no offset).",
    ),
]


@app.command()
@_one_line_errors
def run(
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Print what would be sent; touch neither Twilio nor the ledger."
        ),
    ] = False,
    now: NowOption = None,
    allow_future: Annotated[
        bool,
        typer.Option(
            help="Let a real run use a --now later than the clock (rehearsals "
            "against a test Twilio)."
        ),
    ] = False,
) -> None:
    """Evaluate every user inside their send window and text those who are due."""
    instant = _parse_now(now)
    settings = _settings()
    dry_run = dry_run or settings.dry_run
    if not (dry_run or allow_future) and instant > datetime.now(UTC) + _NOW_SLACK:
        raise typer.BadParameter(
            "--now is in the future: a real run would text people now for a day "
            "that has not come; use --dry-run to look ahead (or --allow-future)",
            param_hint="--now",
        )

    from notifier.job import run_job

    transport = None
    if not dry_run:
        from notifier.twilio_sms import TwilioTransport

        transport = TwilioTransport(settings)
    stop = _stop_on_signals()
    summary = run_job(
        settings, transport, instant, stop=stop, on_message=_print_would_send
    )
    raise typer.Exit(int(summary.exit_code))


def _stop_on_signals() -> threading.Event:
    """SIGTERM or Ctrl-C: start no new sends, finish those in flight, exit RETRY."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        from notifier.logs import get_logger

        get_logger().warning("run.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _print_would_send(outgoing: Outgoing) -> None:
    from notifier.phones import mask_phone

    typer.echo(
        f"would send {outgoing.rule.value} to user {outgoing.user_id} "
        f"({mask_phone(outgoing.phone)}, {outgoing.zone}, {outgoing.local_date}):"
    )
    for line in outgoing.body.splitlines():
        typer.echo(f"    {line}")


@db_app.command("init")
@_one_line_errors
def db_init() -> None:
    """Create the notifier's ledger and suppression tables (safe to run again)."""
    settings = _settings()
    from notifier.db import describe, init_own_tables, make_engine, require_app_tables

    engine = make_engine(settings)
    with _database_errors(engine):
        require_app_tables(engine)
        created = init_own_tables(engine)
    where = describe(engine)
    if created:
        typer.echo(f"created {', '.join(created)} in {where}")
    else:
        typer.echo(f"nothing to do: the notifier's tables already exist in {where}")


@db_app.command("check")
@_one_line_errors
def db_check() -> None:
    """Report missing recommended indexes on the app's tables, with the SQL."""
    settings = _settings()
    from notifier.db import describe, make_engine, missing_indexes, require_app_tables

    engine = make_engine(settings)
    with _database_errors(engine):
        require_app_tables(engine)
        missing = missing_indexes(engine)
    if not missing:
        typer.echo(f"all recommended indexes are present in {describe(engine)}")
        return
    typer.echo(f"{len(missing)} recommended index(es) missing in {describe(engine)}:")
    for advice in missing:
        typer.echo(f"  {advice.statement}")
    raise typer.Exit(int(ExitCode.CONFIG))


@contextmanager
def _database_errors(engine: Any) -> Iterator[None]:
    """Turn driver errors inside the block into our one-line database errors."""
    from sqlalchemy.exc import DBAPIError

    from notifier.db import database_failure

    try:
        yield
    except DBAPIError as error:
        raise database_failure(engine, error) from None


@templates_app.command("check")
@_one_line_errors
def templates_check() -> None:
    """Render every rule against sample people: errors, encoding, segments and cost."""
    settings = _settings()
    from notifier.job import templates_dir
    from notifier.templates import check_templates

    folder = templates_dir(settings)
    checks = check_templates(folder, datetime.now(UTC).date())
    price = settings.sms_price_per_segment
    currency = settings.sms_price_currency
    typer.echo(f"templates in {folder}")
    for check in checks:
        state = "on" if check.enabled else "off"
        typer.echo(f"\n{check.rule.value} ({check.template}, {state})")
        for item in check.rendered:
            shape = item.shape
            typer.echo(
                f"  sample user {item.recipient.id}: {len(item.body)} chars, "
                f"{shape.encoding}, {shape.segments} segment(s), "
                f"{shape.cost(price):.4f} {currency}"
            )
            if shape.non_gsm:
                culprits = ", ".join(f"{c} (U+{ord(c):04X})" for c in shape.non_gsm)
                typer.echo(f"    Unicode because of: {culprits}")
            for line in item.body.splitlines():
                typer.echo(f"    | {line}")
        if check.non_gsm:
            culprits = ", ".join(f"{c} (U+{ord(c):04X})" for c in check.non_gsm)
            typer.echo(
                f"  WARNING: the template itself uses {culprits}, outside the GSM "
                "alphabet: every text it renders goes as Unicode, at up to twice "
                "the segments"
            )
        if check.problem:
            typer.echo(f"  PROBLEM: {check.problem}")
    if not any(check.enabled for check in checks):
        typer.echo("\nWARNING: every rule is switched off: no text will be sent")
    problems = [check for check in checks if check.problem]
    if problems:
        typer.echo(f"\n{len(problems)} template problem(s)", err=True)
        raise typer.Exit(int(ExitCode.CONFIG))
    typer.echo("\nall templates render")


@app.command()
@_one_line_errors
def preview(
    user_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Users to preview; sample people when none are given."),
    ] = None,
    now: NowOption = None,
) -> None:
    """Show the texts users would get, with cost, without sending anything."""
    instant = _parse_now(now)
    settings = _settings()
    from notifier.console import preview_samples, preview_users

    if not user_ids:
        for line in preview_samples(settings, instant.date()):
            typer.echo(line)
        return
    from notifier.db import make_engine, require_app_tables, require_own_tables

    engine = make_engine(settings)
    with _database_errors(engine):
        require_app_tables(engine)
        require_own_tables(engine)
        for line in preview_users(settings, engine, user_ids, instant):
            typer.echo(line)


@app.command()
@_one_line_errors
def demo() -> None:
    """Run the real job on a throwaway database of sample users; nothing is sent."""
    from notifier.console import run_demo
    from notifier.logs import configure_logging

    configure_logging(None, level_name="WARNING")
    for line in run_demo():
        typer.echo(line)


@app.command()
@_one_line_errors
def status(
    user_id: Annotated[int, typer.Argument(help="The user to look up.")],
    on: Annotated[
        str | None, typer.Option("--date", help="Only this local date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """What the notifier did for a user: ledger rows and any suppression."""
    settings = _settings()
    day = _parse_date(on)
    from notifier.console import user_status
    from notifier.db import make_engine, require_own_tables

    engine = make_engine(settings)
    with _database_errors(engine):
        require_own_tables(engine)
        for line in user_status(settings, engine, user_id, day):
            typer.echo(line)


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-12-04") from None


@suppressions_app.command("lift")
@_one_line_errors
def suppressions_lift(
    number: Annotated[
        str, typer.Argument(help="The phone number, in any common format.")
    ],
) -> None:
    """Allow texts to a number again, after the person opted back in."""
    settings = _settings()
    from notifier.db import make_engine, require_own_tables
    from notifier.ledger import lift_suppression
    from notifier.phones import mask_phone, normalize_phone

    phone = normalize_phone(number, settings.default_phone_region)
    if phone is None:
        raise typer.BadParameter("not a phone number (add the +country code)")
    engine = make_engine(settings)
    with _database_errors(engine):
        require_own_tables(engine)
        lifted = lift_suppression(engine, phone)
    if not lifted:
        typer.echo(f"{mask_phone(phone)} was not suppressed", err=True)
        raise typer.Exit(int(ExitCode.CONFIG))
    typer.echo(f"lifted the suppression of {mask_phone(phone)}")


@app.command()
@_one_line_errors
def health(
    max_age: Annotated[
        float,
        typer.Option(help="Seconds since the last heartbeat before it counts as hung."),
    ] = 300.0,
) -> None:
    """Exit 0 while the running job keeps touching HEARTBEAT_FILE (a liveness probe)."""
    import time

    settings = _settings()
    if settings.heartbeat_file is None:
        typer.echo("HEARTBEAT_FILE is not set", err=True)
        raise typer.Exit(int(ExitCode.CONFIG))
    try:
        age = time.time() - settings.heartbeat_file.stat().st_mtime
    except OSError:
        typer.echo("no heartbeat yet", err=True)
        raise typer.Exit(1) from None
    if age > max_age:
        typer.echo(f"last heartbeat {age:.0f}s ago (limit {max_age:.0f}s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"alive: last heartbeat {age:.0f}s ago")


def main() -> None:
    """Entry point of the ``habit-notifier`` script."""
    if sys.argv[1:2] != ["run"]:
        # Reports piped into `head` end quietly, as other command-line tools do;
        # a run keeps Python's handling so it can finish and record its sends.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app(prog_name="habit-notifier")


if __name__ == "__main__":
    main()
