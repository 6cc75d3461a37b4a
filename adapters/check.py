"""`refdesk check`: is this configuration ready to run a desk? Each answer is one line an admin can act on.

It asks the database, Slack, the Matrix homeserver and the mail server what the web and worker
processes will need (migrations applied, a token that works, the bot in every queue's channel or
room, end-to-end encryption support where a room is encrypted, a mail server that takes the sender), and changes
nothing: the Matrix check uses the worker's stored session, and a login it had to make is logged
out again, so no device is left behind.
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from adapters.settings import Settings
from adapters.storage.revisions import database_revision, head_revision
from adapters.storage.sql import SqlQueues, make_engine
from router.model import Backend, Queue

SLACK_TOKEN_ERRORS = {
    "invalid_auth": "the Slack bot token is not valid (REFDESK_SLACK_BOT_TOKEN): copy it again from the app's page",
    "token_revoked": "the Slack bot token was revoked: reinstall the app and set the new REFDESK_SLACK_BOT_TOKEN",
    "account_inactive": "the Slack bot token belongs to a deactivated app or workspace",
    "not_authed": "no Slack bot token was sent (REFDESK_SLACK_BOT_TOKEN is empty)",
}


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str  # database, slack, matrix, mail, or queue SLUG
    text: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.subject}: {self.text}"


def run_checks(settings: Settings, timeout: float = 10.0) -> list[Finding]:
    """Every finding, good and bad; the desk is ready when none is bad."""
    findings, queues = database_findings(settings)
    findings += slack_findings(settings, [q for q in queues if q.backend is Backend.SLACK], timeout)
    findings += matrix_findings(settings, [q for q in queues if q.backend is Backend.MATRIX], timeout)
    findings += mail_findings(settings, timeout)
    return findings + dm_queue_findings(settings, queues)


def dm_queue_findings(settings: Settings, queues: list[Queue]) -> list[Finding]:
    """REFDESK_MATRIX_DM_QUEUE must name a queue: the bot would accept direct chats it cannot place."""
    slug = settings.matrix_dm_queue
    if not slug or not queues:  # no DM queue wanted, or the database finding said what is wrong already
        return []
    if slug not in {queue.slug for queue in queues}:
        return [Finding(False, "matrix", f"REFDESK_MATRIX_DM_QUEUE names no queue: there is no queue {slug!r}")]
    return [Finding(True, "matrix", f"patrons' direct chats with the bot go to the queue {slug!r}")]


def database_findings(settings: Settings) -> tuple[list[Finding], list[Queue]]:
    if settings.sqlite_path and not Path(settings.sqlite_path).exists():  # connecting would create it
        return [Finding(False, "database", f"there is no database file {settings.sqlite_path}")], []
    engine = make_engine(settings.database_url)
    try:
        with engine.connect().execution_options(refdesk_read_only=True) as connection:
            current, head = database_revision(connection), head_revision()
            if current != head:
                state = f"is at migration {current}" if current else "has no refdesk tables"
                return [Finding(False, "database", f"{state}, this release needs {head}: run `refdesk db upgrade`")], []
            with Session(bind=connection) as session:
                queues = SqlQueues(session).list()
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return [Finding(False, "database", f"cannot be reached ({engine.url.render_as_string()}): {reason}")], []
    finally:
        engine.dispose()
    found = [Finding(True, "database", f"reachable, migrations current ({head}), {len(queues)} queue(s)")]
    if not queues:
        found.append(Finding(False, "database", "no queue is set up: add one with `refdesk queue add`"))
    return found, queues


def slack_findings(settings: Settings, queues: list[Queue], timeout: float) -> list[Finding]:
    if not settings.slack_bot_token:
        return [_unconfigured(queue, "Slack", "REFDESK_SLACK_BOT_TOKEN") for queue in queues]
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url or WebClient.BASE_URL,
        timeout=int(timeout),
    )
    try:
        identity = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        return [Finding(False, "slack", SLACK_TOKEN_ERRORS.get(error, f"Slack refused the bot token ({error})"))]
    except OSError as exc:
        return [Finding(False, "slack", f"Slack could not be reached: {exc}")]
    findings = [Finding(True, "slack", f"the bot token works (@{identity.get('user')} in {identity.get('team')})")]
    return findings + [_slack_channel(client, queue) for queue in queues]


def _slack_channel(client: WebClient, queue: Queue) -> Finding:
    subject = f"queue {queue.slug}"
    try:
        info = client.conversations_info(channel=queue.room)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        if error in ("channel_not_found", "invalid_channel"):
            return Finding(False, subject, f"Slack knows no channel {queue.room} the bot can see (copy the channel id)")
        return Finding(False, subject, f"Slack did not answer about channel {queue.room} ({error})")
    except OSError as exc:
        return Finding(False, subject, f"Slack could not be reached: {exc}")
    name = f"#{info.get('name', queue.room)}"
    if info.get("is_archived"):
        return Finding(False, subject, f"{name} is archived: nobody can post there")
    if not info.get("is_member"):
        return Finding(False, subject, f"the bot is not in {name}: invite it there (/invite @bot)")
    return Finding(True, subject, f"the bot is in {name}")


def matrix_findings(settings: Settings, queues: list[Queue], timeout: float) -> list[Finding]:
    if not settings.matrix_homeserver:
        return [_unconfigured(queue, "Matrix", "REFDESK_MATRIX_HOMESERVER") for queue in queues]
    homeserver = _Homeserver(settings.matrix_homeserver, timeout)
    try:
        with _matrix_token(settings, homeserver) as token:
            if token is None:
                return [Finding(False, "matrix", "the bot cannot log in: REFDESK_MATRIX_PASSWORD was refused")]
            status, body = homeserver.call("GET", "/account/whoami", token)
            if status == 401:
                return [
                    Finding(False, "matrix", f"the bot's access token was revoked or is wrong ({body.get('errcode')})")
                ]
            if status != 200:
                return [Finding(False, "matrix", f"the homeserver answered {status} to whoami: {body.get('error')}")]
            found = [Finding(True, "matrix", f"signed in as {body.get('user_id')}")]
            return found + [_matrix_room(homeserver, token, body["user_id"], queue) for queue in queues]
    except OSError as exc:
        return [Finding(False, "matrix", f"the homeserver {settings.matrix_homeserver} could not be reached: {exc}")]


def _matrix_room(homeserver: _Homeserver, token: str, user_id: str, queue: Queue) -> Finding:
    subject, room = f"queue {queue.slug}", urllib.parse.quote(queue.room, safe="")
    user = urllib.parse.quote(user_id, safe="")
    status, member = homeserver.call("GET", f"/rooms/{room}/state/m.room.member/{user}", token)
    if status != 200 or member.get("membership") != "join":
        state = member.get("membership") or member.get("error") or status
        return Finding(False, subject, f"the bot has not joined {queue.room} ({state}): invite it to the room")
    status, _ = homeserver.call("GET", f"/rooms/{room}/state/m.room.encryption", token)
    if status != 200:
        return Finding(True, subject, f"the bot is in {queue.room}, which is not encrypted")
    from adapters.matrix.crypto_state import E2EE_AVAILABLE, E2EE_MISSING

    if not E2EE_AVAILABLE:
        return Finding(False, subject, f"{queue.room} is end-to-end encrypted, but {E2EE_MISSING}")
    return Finding(True, subject, f"the bot is in {queue.room}, which is end-to-end encrypted (the bot encrypts)")


class _Homeserver:
    """The client-server API over plain HTTP: a status and a JSON body, errors included."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url, self.timeout = base_url.rstrip("/"), timeout

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = json.dumps(body).encode() if body is not None else None
        url = f"{self.base_url}/_matrix/client/v3{path}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}


@contextmanager
def _matrix_token(settings: Settings, homeserver: _Homeserver) -> Iterator[str | None]:
    """The token the worker uses (setting, else its stored session); else a login logged out afterwards."""
    if settings.matrix_access_token:
        yield settings.matrix_access_token.get_secret_value()
        return
    stored = _stored_session(settings)
    if stored:
        yield stored
        return
    password = settings.matrix_password.get_secret_value() if settings.matrix_password else ""
    login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": settings.matrix_user_id}}
    status, body = homeserver.call("POST", "/login", body={**login, "password": password})
    temporary = body.get("access_token") if status == 200 else None
    try:
        yield temporary
    finally:
        if temporary:
            homeserver.call("POST", "/logout", temporary, {})


def _stored_session(settings: Settings) -> str | None:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            value = connection.execute(
                sa.text("SELECT value FROM kv WHERE key = :key"), {"key": f"matrix.session.{settings.matrix_user_id}"}
            ).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return (json.loads(value or "null") or {}).get("access_token")


def mail_findings(settings: Settings, timeout: float) -> list[Finding]:
    """Connect, log in if configured and offer the sender address, then leave without sending."""
    if not settings.smtp_host:
        return [
            Finding(True, "mail", "no mail server set (REFDESK_SMTP_HOST): transcripts and answers by email are off")
        ]
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(settings.smtp_from)
            smtp.rset()
    except smtplib.SMTPAuthenticationError as exc:
        return [Finding(False, "mail", f"the mail server {where} refused the login: {_smtp_text(exc.smtp_error)}")]
    except (smtplib.SMTPException, OSError) as exc:
        return [Finding(False, "mail", f"the mail server {where} refused the connection or failed: {exc}")]
    if code != 250:
        return [
            Finding(
                False, "mail", f"the mail server {where} refuses mail from {settings.smtp_from}: {_smtp_text(reply)}"
            )
        ]
    return [Finding(True, "mail", f"the mail server {where} accepts mail from {settings.smtp_from}")]


def _smtp_text(reply: Any) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _unconfigured(queue: Queue, platform: str, setting: str) -> Finding:
    return Finding(False, f"queue {queue.slug}", f"uses {platform}, which is not configured here ({setting})")


def report(findings: list[Finding]) -> Iterator[str]:
    yield from map(str, findings)
    bad = sum(not finding.ok for finding in findings)
    yield "all good" if not bad else f"{bad} problem(s) to fix"
