"""The composition root: the one place that picks adapters for the ports.

Web, worker, CLI, demo and tests all call `bootstrap`; tests pass overrides.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from adapters import log_redaction
from adapters.blocklist import make_blocklist
from adapters.clock import SystemClock
from adapters.mail import SmtpMailer
from adapters.metrics import DeliveryCounter
from adapters.notify import InProcessNotifier, PostgresNotifier, SqliteNotifier
from adapters.settings import Settings
from adapters.staff_html import sanitise
from adapters.storage.migrate import upgrade
from adapters.storage.sql import SqlUnitOfWork, make_engine, session_factory
from router.journal import Desk
from router.model import Backend
from router.ports import Clock, Mailer, Notifier, StaffChannel

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    desk: Desk
    engine: sa.Engine
    notifier: Notifier
    channels: dict[Backend, StaffChannel] = field(default_factory=dict)
    mailer: Mailer | None = None
    _slack: Any = None
    _slack_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def slack(self) -> Any:  # adapters.slack.app.Slack | None, built once, on first use (it calls auth.test)
        with self._slack_lock:
            if self._slack is None and self.settings.slack_bot_token:
                from adapters.slack.app import build_slack

                self._slack = build_slack(self.settings, self.desk)
            return self._slack

    def close(self) -> None:
        close = getattr(self.notifier, "close", None)
        if close:
            close()
        self.engine.dispose()


def make_notifier(settings: Settings) -> Notifier:
    """PostgreSQL: LISTEN/NOTIFY. A SQLite file: watch it, so a separate worker process still wakes streams."""
    if settings.notifier == "postgres" or (settings.notifier == "auto" and settings.uses_postgres):
        return PostgresNotifier(settings.postgres_conninfo)
    path = settings.sqlite_path
    if settings.notifier == "auto" and path:
        return SqliteNotifier(path)
    return InProcessNotifier()


def notify_channel(engine: sa.Engine, notifier: Notifier) -> str | None:
    """The channel units of work NOTIFY in their own transaction: the database is the one the notifier listens to.

    Otherwise (SQLite, an in-process notifier) announced topics are published after the commit.
    """
    if isinstance(notifier, PostgresNotifier) and engine.dialect.name == "postgresql":
        return notifier.channel
    return None


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    migrate: bool = False,
) -> Container:
    settings = settings or Settings()
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    notifier = notifier or make_notifier(settings)
    uow_factory = session_factory(engine)
    channel = notify_channel(engine, notifier)
    desk = Desk(
        uow=lambda read_only=False: SqlUnitOfWork(uow_factory, read_only, notifier, channel),
        clock=clock or SystemClock(),
        notifier=notifier,
        max_body=settings.max_body,
        duty_idle=timedelta(minutes=settings.duty_idle_minutes),
        public_url=settings.public_url,
        resume_link_days=settings.resume_link_days,
        waiting_cap=settings.queue_waiting_cap,
        abandon_after=timedelta(minutes=settings.abandon_after_minutes),
        blocklist=make_blocklist(settings.rate_limit_storage, settings.rate_limit_prefix),
        email_available=bool(settings.smtp_host),
        card_pattern=settings.card_number_pattern,
        sanitise_html=sanitise,
    )
    desk.secret = secret_key(settings, engine, desk)
    desk.observer = DeliveryCounter()
    log_redaction.install([*settings_secrets(settings), engine.url.password, desk.secret])
    return Container(settings=settings, desk=desk, engine=engine, notifier=notifier, mailer=make_mailer(settings))


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret setting (tokens, passwords, keys), so the logs can be cleaned of them."""
    return [value.get_secret_value() for value in vars(settings).values() if isinstance(value, SecretStr)]


SECRET_KEY = "secret_key"


def secret_key(settings: Settings, engine: sa.Engine, desk: Desk) -> bytes:
    """REFDESK_SECRET_KEY, else one random key kept in the database, so every process sharing it agrees."""
    if settings.secret_key:
        return settings.secret_key.get_secret_value().encode()
    try:
        with desk.uow(read_only=True) as uow:
            stored = uow.kv.get(SECRET_KEY)
        if stored is None:  # insert-if-absent: two processes starting at once still end up with one key
            with engine.begin() as connection:
                connection.execute(
                    sa.text("INSERT INTO kv (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING"),
                    {"key": SECRET_KEY, "value": secrets.token_urlsafe(32)},
                )
            with desk.uow(read_only=True) as uow:
                stored = uow.kv.get(SECRET_KEY)
    except sa.exc.SQLAlchemyError as exc:  # not migrated yet (e.g. `refdesk db upgrade` comes next)
        log.warning("no secret key for resume links (run `refdesk db upgrade`): %s", exc)
        return b""
    return (stored or "").encode()


def make_mailer(settings: Settings) -> Mailer | None:
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        username=settings.smtp_username,
        password=password,
        starttls=settings.smtp_starttls,
    )


def connect_matrix(container: Container):  # -> MatrixBridge (imported lazily: web processes never need nio)
    """Log the bot in and register it as the Matrix StaffChannel; None when Matrix is not configured."""
    settings = container.settings
    if not settings.matrix_homeserver:
        return None
    from adapters.matrix.bridge import MatrixBridge
    from adapters.matrix.dm_limits import SenderLimits

    bridge = MatrixBridge(
        container.desk,
        settings.matrix_homeserver,
        settings.matrix_user_id or "",
        password=settings.matrix_password.get_secret_value() if settings.matrix_password else None,
        access_token=settings.matrix_access_token.get_secret_value() if settings.matrix_access_token else None,
        device_name=settings.matrix_device_name,
        request_timeout=settings.matrix_request_timeout,
        timeline_limit=settings.matrix_sync_timeline_limit,
        max_file_bytes=settings.max_file_bytes,
        dm_queue=settings.matrix_dm_queue or None,
        dm_new_chat_after=timedelta(hours=settings.matrix_dm_new_chat_after_hours),
        dm_limits=SenderLimits(
            settings.rate_limit_messages_per_conversation,  # the web API's per-chat numbers, counted per sender
            settings.rate_limit_storage,
            settings.rate_limit_prefix,
            container.desk.secret,
            files=settings.rate_limit_files_per_conversation,
        ),
    )
    bridge.start()
    container.channels[Backend.MATRIX] = bridge.channel
    return bridge


def connect_slack(container: Container):  # -> SocketModeHandler | None
    """Register Slack as a StaffChannel; in Socket Mode also open the WebSocket (no public URL needed)."""
    slack = container.slack
    if slack is None:
        return None
    container.channels[Backend.SLACK] = slack.channel
    if not container.settings.slack_app_token:
        return None
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(slack.app, container.settings.slack_app_token.get_secret_value())
    handler.connect()
    return handler
