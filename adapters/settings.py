"""Typed settings from the environment, checked at start-up with readable errors."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob refdesk has. Names are `REFDESK_<FIELD>` (DATABASE_URL also works)."""

    model_config = SettingsConfigDict(env_prefix="REFDESK_", extra="ignore")

    database_url: str = Field(
        "sqlite:///refdesk.db", validation_alias=AliasChoices("REFDESK_DATABASE_URL", "DATABASE_URL")
    )
    notifier: Literal["auto", "inprocess", "postgres"] = "auto"  # auto: postgres for PostgreSQL, file watch for SQLite
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None  # signs resume links in follow-up emails; unset: one kept in the database
    resume_link_days: int = Field(30, gt=0)  # a follow-up email's link expires this long after the chat's last activity
    max_body: int = Field(4000, ge=1, le=100_000)
    stream_heartbeat_seconds: float = Field(20.0, gt=0)
    stream_retry_ms: int = Field(3000, ge=100)

    outbox_workers: int = Field(16, ge=1, le=64)  # threads for Slack/email/retention sends; Matrix sends need none
    outbox_lease_seconds: float = Field(60.0, gt=0)
    outbox_poll_seconds: float = Field(1.0, gt=0)
    escalation_poll_seconds: float = Field(2.0, gt=0)
    abandon_after_minutes: float = Field(5, gt=0)  # a waiting patron with no open stream or message this long has left

    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_password: SecretStr | None = None
    matrix_access_token: SecretStr | None = None
    matrix_device_name: str = "refdesk"
    matrix_request_timeout: float = Field(30.0, gt=0)
    matrix_sync_timeline_limit: int = Field(200, ge=1, le=1000)
    # Patrons who message the bot directly (adapters/matrix/direct.py): the queue their chats go to
    # (unset: the bot takes no direct chats), and the silence after which their next message is a new chat.
    matrix_dm_queue: str | None = None
    matrix_dm_new_chat_after_hours: float = Field(12.0, gt=0)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None  # only for tests against an emulator
    slack_post_rate: float = Field(1.0, gt=0)
    slack_post_burst: int = Field(3, ge=1)
    max_file_bytes: int = Field(10 * 1024 * 1024, ge=1)
    max_upload_bytes: int = Field(5 * 1024 * 1024, ge=1)
    duty_idle_minutes: float = Field(60, gt=0)
    # "Show my screen" in the widget: pictures of the patron's screen per chat (the Keep showing cap), and
    # how often Keep showing looks for a change (a picture is sent only when the screen changed).
    screen_frames_per_chat: int = Field(20, ge=0, le=1000)
    screen_every_seconds: float = Field(3, ge=0.2, le=600)
    privacy_note: str | None = None  # replaces the widget's default privacy text (every language)
    card_number_pattern: str = r"\b\d{14}\b"  # library card numbers scrubbed from FAQ exports and old chats
    purge_interval_minutes: float = Field(60, gt=0)  # how often the worker applies the retention policy
    # Settled outbox items and the inbound dedupe log are forgotten after this (router/pruning.py says why
    # a day is already longer than any platform replays); items retention needs stay with their chat.
    keep_delivered_days: int = Field(7, ge=1, le=3650)

    # Abuse limits (web/limits.py); limit strings use flask-limiter's notation, ";" separates several.
    rate_limit_storage: str = "memory://"  # redis://host:6379/0 shares counters and blocks among processes
    rate_limit_prefix: str = "refdesk"  # key prefix in the shared storage (one per desk sharing a Redis)
    trusted_proxies: int = Field(0, ge=0, le=10)  # reverse proxies in front of refdesk; 0: X-Forwarded-For ignored
    rate_limit_address: str = "600/minute"  # every patron API call, per client address (a NAT'd room shares one)
    rate_limit_new_chats_per_address: str = "10/minute;60/hour"
    rate_limit_new_chats_per_queue: str = "30/minute"  # chats created per queue, whoever asks
    rate_limit_messages_per_conversation: str = "30/minute"
    rate_limit_files_per_conversation: str = "10/minute;60/hour"
    rate_limit_emails_per_conversation: str = "3/hour"  # transcript and answer-by-email requests
    rate_limit_emails_per_address: str = "10/hour"
    rate_limit_status_per_address: str = "120/minute"  # the widget asks once per page view
    queue_waiting_cap: int = Field(30, ge=0)  # live chats waiting per queue; beyond it "very busy" (0: no cap)

    # Watching the desk (web/metrics.py, web/health.py, adapters/logging_setup.py).
    metrics_token: SecretStr | None = None  # unset: /metrics answers 404; set: only with "Authorization: Bearer …"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None  # unset: INFO (demo: WARNING)
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, for log shippers

    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "refdesk@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    @model_validator(mode="after")
    def _slack_complete(self) -> Settings:
        if self.slack_bot_token and not (self.slack_signing_secret or self.slack_app_token):
            raise ValueError(
                "Slack needs REFDESK_SLACK_SIGNING_SECRET (Events API) or REFDESK_SLACK_APP_TOKEN (Socket Mode)"
            )
        if self.slack_app_token and not self.slack_app_token.get_secret_value().startswith("xapp-"):
            raise ValueError("REFDESK_SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        return self

    @model_validator(mode="after")
    def _card_pattern_compiles(self) -> Settings:
        try:
            re.compile(self.card_number_pattern)
        except re.error as exc:
            raise ValueError(f"REFDESK_CARD_NUMBER_PATTERN is not a valid regular expression: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _rate_limits_parse(self) -> Settings:
        from limits import parse_many

        if not self.rate_limit_storage.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("REFDESK_RATE_LIMIT_STORAGE must be memory:// or a redis:// (rediss://) URL")
        for name, value in self:
            if name.startswith("rate_limit_") and name not in ("rate_limit_storage", "rate_limit_prefix"):
                try:
                    parse_many(value)
                except ValueError as exc:
                    raise ValueError(f"REFDESK_{name.upper()} is not a rate limit like '10/minute': {exc}") from exc
        return self

    @model_validator(mode="after")
    def _matrix_complete(self) -> Settings:
        if self.matrix_homeserver:
            if not self.matrix_user_id or not self.matrix_user_id.startswith("@") or ":" not in self.matrix_user_id:
                raise ValueError("REFDESK_MATRIX_USER_ID must be in the form @name:domain")
            if not self.matrix_password and not self.matrix_access_token:
                raise ValueError("set REFDESK_MATRIX_PASSWORD or REFDESK_MATRIX_ACCESS_TOKEN for the bot")
        return self

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql"))

    @property
    def sqlite_path(self) -> str | None:
        """The database file for a file-backed SQLite URL (None for memory or other databases)."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and self.database_url[len(prefix) :] not in ("", ":memory:"):
            return self.database_url[len(prefix) :].split("?", 1)[0]
        return None

    @property
    def postgres_conninfo(self) -> str:
        """The URL in the form libpq understands (no SQLAlchemy driver suffix)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://")
