"""Settings from the environment: defaults, _FILE secrets, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.errors import ConfigError, ExitCode
from notifier.settings import load_settings


def test_defaults() -> None:
    """With nothing set, the documented defaults apply."""
    settings = load_settings({})
    assert str(settings.send_window) == "18:00-21:00"
    assert settings.default_time_zone == "UTC"
    assert settings.db_port == 3306
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.default_phone_region is None


def test_secret_from_file(tmp_path: Path) -> None:
    """DB_PASSWORD_FILE is read, trailing newline dropped."""
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    settings = load_settings({"DB_PASSWORD_FILE": str(secret)})
    assert settings.db_password is not None
    assert settings.db_password.get_secret_value() == "s3cret-value"


def test_secrets_never_in_repr(tmp_path: Path) -> None:
    """repr and str of the settings mask every secret."""
    settings = load_settings(
        {
            "DB_PASSWORD": "pw-do-not-print",
            "TWILIO_AUTH_TOKEN": "token-do-not-print",
            "DATABASE_URL": "mysql+pymysql://app:url-pw-do-not-print@db/app",
        }
    )
    for text in (repr(settings), str(settings)):
        assert "do-not-print" not in text


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SEND_WINDOW": "25:00-26:00"}, "SEND_WINDOW"),
        ({"DB_PORT": "three"}, "DB_PORT"),
        ({"DEFAULT_TIME_ZONE": "Mars/Base"}, "DEFAULT_TIME_ZONE"),
        ({"DB_TIMEZONE": "nowhere"}, "DB_TIMEZONE"),
        ({"DEFAULT_PHONE_REGION": "XX"}, "DEFAULT_PHONE_REGION"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"TWILIO_MAX_MPS": "0"}, "TWILIO_MAX_MPS"),
        ({"TWILIO_API_BASE_URL": "ftp://x"}, "TWILIO_API_BASE_URL"),
        ({"TWILIO_FROM_NUMBER": "15005550006"}, "TWILIO_FROM_NUMBER"),
        ({"TWILIO_API_BASE_URL": "http://api.twilio.com"}, "TWILIO_API_BASE_URL"),
        ({"RUN_DEADLINE_SECONDS": "inf"}, "RUN_DEADLINE_SECONDS"),
        ({"TWILIO_MAX_MPS": "nan"}, "TWILIO_MAX_MPS"),
        ({"TWILIO_ACCOUNT_SID": "XX123"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_MESSAGING_SERVICE_SID": "MG12"}, "TWILIO_MESSAGING_SERVICE_SID"),
        ({"SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": "3"}, "JOB_COMPLETION_INDEX"),
        ({"DB_PASSWORD_FILE": "/nonexistent/pw"}, "DB_PASSWORD_FILE"),
        ({"DB_PASSWORD": "a", "DB_PASSWORD_FILE": "/etc/hostname"}, "DB_PASSWORD"),
    ],
)
def test_bad_setting_names_itself(environ: dict[str, str], named: str) -> None:
    """A malformed setting is a one-line ConfigError that starts with its name."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert message.startswith(named)
    assert "\n" not in message
    assert caught.value.exit_code is ExitCode.CONFIG


def test_require_database_lists_missing() -> None:
    """Without DATABASE_URL the DB_* settings that are missing are named."""
    with pytest.raises(ConfigError, match="DB_NAME, DB_USER not set"):
        load_settings({"DB_HOST": "db"}).require_database()


def test_require_twilio_wants_exactly_one_sender() -> None:
    """A from number and a messaging service together are refused."""
    settings = load_settings(
        {
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
        }
    )
    with pytest.raises(ConfigError, match="exactly one"):
        settings.require_twilio()


@pytest.mark.parametrize(
    "sender", ["+15005550006", "HabitApp", "My-Brand", "HABIT_APP"]
)
def test_senders_twilio_accepts(sender: str) -> None:
    """E.164 numbers and alphanumeric sender IDs (with - + _ &) are accepted."""
    assert load_settings({"TWILIO_FROM_NUMBER": sender}).twilio_from_number == sender
