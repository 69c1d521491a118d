"""Settings from the environment, checked before anything is read or sent.

Each secret setting may instead name a file holding it (``DB_PASSWORD_FILE``), the
convention of official container images, so Kubernetes can mount Secrets as files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from notifier.errors import ConfigError
from notifier.timewindow import SendWindow, resolve_zone

FILE_SETTINGS = (
    "DATABASE_URL",
    "DB_PASSWORD",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
)
TWILIO_API = "https://api.twilio.com"


class Settings(BaseModel):
    """Every setting the job reads, named as its environment variable in lowercase."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    database_url: SecretStr | None = None
    db_host: str | None = None
    db_port: int = Field(default=3306, ge=1, le=65535)
    db_name: str | None = None
    db_user: str | None = None
    db_password: SecretStr | None = None
    db_timezone: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = TWILIO_API
    twilio_timeout: float = Field(default=10.0, gt=0, le=120)
    twilio_max_mps: float = Field(default=10.0, gt=0)
    twilio_max_in_flight: int = Field(default=4, ge=1, le=64)
    twilio_max_attempts: int = Field(default=4, ge=1, le=10)
    twilio_backoff_seconds: float = Field(default=0.5, gt=0, le=60)
    twilio_backoff_max_seconds: float = Field(default=30.0, gt=0, le=600)

    templates_dir: Path | None = None
    send_window: SendWindow = SendWindow.parse("18:00-21:00")
    default_time_zone: str = "UTC"
    default_phone_region: str | None = None
    sms_price_per_segment: Decimal = Field(default=Decimal("0.0083"), ge=0)
    sms_price_currency: str = "USD"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] | None = None
    heartbeat_file: Path | None = None
    run_deadline_seconds: float = Field(default=3000.0, gt=0)
    text_cooldown_hours: float = Field(default=12.0, ge=0, le=22)
    claim_lease_seconds: float = Field(default=900.0, ge=0)
    dry_run: bool = False
    shard_count: int = Field(default=1, ge=1)
    job_completion_index: int = Field(default=0, ge=0)

    @field_validator("send_window", mode="before")
    @classmethod
    def _parse_window(cls, value: Any) -> Any:
        return SendWindow.parse(value) if isinstance(value, str) else value

    @field_validator("default_time_zone", "db_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and resolve_zone(value) is None:
            raise ValueError(f"{value!r} is not an IANA zone name or a UTC offset")
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from phonenumbers import SUPPORTED_REGIONS

        region = value.strip().upper()
        if region not in SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a two-letter region code such as US")
        return region

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        return _sid(value, "AC")

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        return _sid(value, "MG")

    @field_validator("twilio_from_number")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if _E164.match(text) or _ALPHANUMERIC_SENDER.match(text):
            return text
        raise ValueError(
            "must be an E.164 number such as +15005550006 (or an alphanumeric "
            "sender ID of up to 11 characters)"
        )

    @field_validator("twilio_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        try:
            parts.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError:
            raise ValueError(f"{value!r} has a malformed port") from None
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise ValueError(
                "must be https://HOST (or http://HOST:PORT for a local server)"
            )
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError(
                "http:// would send the auth token in clear text: use https://, "
                "or http:// only for a server on this machine (127.0.0.1)"
            )
        return value.strip().rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _index_within_count(self) -> Settings:
        if self.job_completion_index >= self.shard_count:
            raise ValueError(
                f"JOB_COMPLETION_INDEX {self.job_completion_index} is not below "
                f"SHARD_COUNT {self.shard_count}: set SHARD_COUNT to the Job's "
                "completions"
            )
        return self

    @property
    def default_zone(self) -> tzinfo:
        """DEFAULT_TIME_ZONE as a zone (checked when the settings were read)."""
        zone = resolve_zone(self.default_time_zone)
        assert zone is not None
        return zone

    @property
    def text_cooldown(self) -> timedelta:
        """TEXT_COOLDOWN_HOURS as a duration."""
        return timedelta(hours=self.text_cooldown_hours)

    @property
    def shard_index(self) -> int:
        """This pod's share of users when run as an Indexed Job of SHARD_COUNT pods."""
        return self.job_completion_index

    def require_database(self) -> None:
        """Fail with a ConfigError unless a database is configured."""
        if self.database_url is not None:
            return
        missing = [
            name
            for name, value in (
                ("DB_HOST", self.db_host),
                ("DB_NAME", self.db_name),
                ("DB_USER", self.db_user),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set: set DATABASE_URL, or DB_HOST, "
                "DB_NAME and DB_USER (and DB_PASSWORD)"
            )

    def require_twilio(self) -> None:
        """Fail with a ConfigError unless Twilio credentials and a sender are set."""
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set: needed to send texts")
        if (self.twilio_from_number is None) == (
            self.twilio_messaging_service_sid is None
        ):
            raise ConfigError(
                "set exactly one of TWILIO_FROM_NUMBER and TWILIO_MESSAGING_SERVICE_SID"
            )


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _sid(value: str | None, prefix: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(rf"{prefix}[0-9a-fA-F]{{32}}", text):
        raise ValueError(f"must be {prefix} followed by 32 hexadecimal digits")
    return text


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check every setting; raise ConfigError naming the first bad one."""
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        env_name = name.upper()
        value = _read_value(environ, env_name)
        if value is not None and value.strip():
            values[name] = value
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


def _read_value(environ: Mapping[str, str], env_name: str) -> str | None:
    value = environ.get(env_name)
    if env_name not in FILE_SETTINGS:
        return value

    file_name = environ.get(f"{env_name}_FILE")
    if file_name is None:
        return value
    if value is not None:
        raise ConfigError(f"{env_name} and {env_name}_FILE are both set: keep one")
    try:
        return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{env_name}_FILE: {file_name} is not UTF-8 text: write the secret as text"
        ) from None
    except OSError as error:
        raise ConfigError(
            f"{env_name}_FILE: cannot read {file_name} ({error.strerror}): "
            "mount the secret or fix the path"
        ) from None


def _one_line(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["loc"]:
        message = f"{str(first['loc'][0]).upper()}: {message}"
    return f"{message}; fix it in the environment"
