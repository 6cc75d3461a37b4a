"""SQL storage (SQLite by default, PostgreSQL for scale-out) behind the domain's ports."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, fields
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from adapters.storage.tables import (
    AdminRow,
    AttemptRow,
    CannedRow,
    ConversationRow,
    DutyRow,
    EventRow,
    FaqRow,
    FaqUsageRow,
    FaqWordRow,
    FileRow,
    InboundRow,
    KeyValueRow,
    MessageRow,
    OutboxRow,
    QueueRow,
)
from router.faq_entries import plain_text
from router.health import PREFIX as PROBLEM_PREFIX
from router.model import (
    AdminUser,
    Attempt,
    Author,
    Backend,
    CannedResponse,
    Conversation,
    DutyRecord,
    EventType,
    FaqArticle,
    FaqUsage,
    Message,
    OutboxItem,
    OutboxKind,
    Queue,
    Status,
    StoredFile,
    StreamEvent,
)
from router.ports import Leased, Notifier, StreamRead, UnitOfWork


def normalise_url(url: str) -> str:
    """Accept the usual `postgresql://` form and pick the psycopg 3 driver for it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> sa.Engine:
    """An engine whose transactions serialise writers, on SQLite as on PostgreSQL.

    SQLite's default deferred transactions let two writers read the same
    sequence number; BEGIN IMMEDIATE takes the write lock up front instead. Read-only units of
    work (patron streams waking up) use a plain BEGIN, so WAL readers never queue behind writers.
    """
    url = normalise_url(url)
    # hide_parameters: tokens, session keys and personal data are bound parameters; SQL errors and the
    # engine's log would otherwise print them.
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_size=10, max_overflow=20, hide_parameters=True)
        ping_when_idle(engine)
        return engine
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        read_only = connection.get_execution_options().get("refdesk_read_only")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


IDLE_PING = 10.0  # seconds a pooled connection rests before its next checkout pings it


def ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection at checkout only when it rested `IDLE_PING` seconds or more.

    `pool_pre_ping` pings at every checkout: a round trip before every unit of work, a third of the
    database time of each patron stream's read (thousands of open streams read at each wake-up). A
    connection handed back a moment ago is alive; one that rested may have been closed by a server
    restart or an idle timeout, and is replaced before use, as `pool_pre_ping` would.
    """

    @sa.event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["rested_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["rested_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("rested_since", 0.0) < IDLE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool replaces it and checks out another
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _copy(cls: type, source: Any, **converted: Any) -> Any:
    names = {f.name for f in fields(cls)}
    values = {name: getattr(source, name) for name in names}
    values.update(converted)
    return cls(**values)


def _conversation(row: ConversationRow) -> Conversation:
    return _copy(
        Conversation,
        row,
        status=Status(row.status),
        closed_by=Author(row.closed_by) if row.closed_by else None,
        tags=_conversation_tags(row),
    )


def _queue(row: QueueRow) -> Queue:
    return _copy(
        Queue,
        row,
        backend=Backend(row.backend),
        allowed_origins=list(row.allowed_origins or []),
        hours=dict(row.hours) if row.hours else None,
        away=dict(row.away or {}),
        escalation=dict(row.escalation or {}),
        link_sites=list(row.link_sites or []),
    )


def _conversation_tags(row: ConversationRow) -> list[str]:
    return list(row.tags or [])


def _message(row: MessageRow) -> Message:
    return _copy(
        Message,
        row,
        author=Author(row.author),
        attachments=list(row.attachments or []),
        link=dict(row.link) if row.link else None,
    )


def _outbox(row: OutboxRow) -> OutboxItem:
    return _copy(OutboxItem, row, kind=OutboxKind(row.kind), payload=dict(row.payload))


def _seen_since(moment: datetime | None) -> list[Any]:
    """Only chats whose patron was seen at or after `moment` (None: every chat)."""
    if moment is None:
        return []
    seen = sa.func.coalesce(ConversationRow.last_seen_at, ConversationRow.created_at) >= moment
    return [sa.or_(seen, ConversationRow.patron_channel.is_not(None))]  # their own chat app: always reachable


class SqlQueues:
    def __init__(self, session: Session):
        self.session = session

    def get(self, slug: str) -> Queue | None:
        row = self.session.get(QueueRow, slug)
        return _queue(row) if row else None

    def add(self, queue: Queue) -> None:
        self.session.merge(QueueRow(**asdict(queue)))

    def list(self) -> list[Queue]:
        rows = self.session.exec(select(QueueRow).order_by(QueueRow.slug)).all()
        return [_queue(row) for row in rows]

    def for_room(self, backend: Backend, room: str) -> list[Queue]:
        query = select(QueueRow).where(QueueRow.backend == backend.value, QueueRow.room == room)
        return [_queue(row) for row in self.session.exec(query.order_by(QueueRow.slug)).all()]


class SqlConversations:
    def __init__(self, session: Session):
        self.session = session
        self._held: dict[str, Any] = {}  # rows kept alive for the session's identity map (see `save`, `by_thread`)

    def add(self, conversation: Conversation) -> None:
        row = self._held[conversation.id] = ConversationRow(**asdict(conversation))
        self.session.add(row)
        self.session.flush()

    def get(self, conversation_id: str, *, for_update: bool = False) -> Conversation | None:
        row = self.session.get(
            ConversationRow, conversation_id, with_for_update=for_update or None, populate_existing=True
        )
        if row is None:
            return None
        self._held[row.id] = row
        return _conversation(row)

    def where(self, conversation_id: str) -> tuple[Status, str] | None:
        query = sa.select(ConversationRow.status, ConversationRow.queue_slug).where(
            ConversationRow.id == conversation_id
        )
        row = self.session.execute(query).first()
        return (Status(row.status), row.queue_slug) if row else None

    def save(self, conversation: Conversation) -> None:
        """An UPDATE of the columns that changed, without reading the row again.

        The session only keeps weak references to unchanged rows, so the row `get` read would be gone
        by now and `merge` would SELECT it again (a round trip per message); `_held` keeps it alive
        until the unit of work ends."""
        self.session.merge(ConversationRow(**asdict(conversation)))

    def by_thread(self, queue_slug: str, thread_id: str, *, for_update: bool = False) -> Conversation | None:
        """The chat of a staff thread, read with its queue.

        A staff reply needs both (the queue says which name the patron sees): the queue's row comes
        in the same statement and is held like the chat's, so `SqlQueues.get` finds it in the
        session instead of asking the database again."""
        query = (
            sa.select(ConversationRow, QueueRow)
            .join(QueueRow, QueueRow.slug == ConversationRow.queue_slug)
            .where(ConversationRow.queue_slug == queue_slug, ConversationRow.staff_thread_id == thread_id)
            .execution_options(populate_existing=True)
        )
        if for_update:
            query = query.with_for_update(of=ConversationRow)
        found = self.session.execute(query).first()
        if found is None:
            return None
        row, queue = found
        self._held[row.id], self._held["queue:" + queue.slug] = row, queue
        return _conversation(row)

    def open_for_patron(self, channel: str, address: str, *, for_update: bool = False) -> Conversation | None:
        query = (
            select(ConversationRow)
            .where(
                ConversationRow.patron_channel == channel,
                ConversationRow.patron_address == address,
                ConversationRow.status != Status.CLOSED.value,
            )
            .order_by(ConversationRow.created_at.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
        if for_update:
            query = query.with_for_update()
        row = self.session.exec(query).first()
        if row is None:
            return None
        self._held[row.id] = row
        return _conversation(row)

    def waiting_count(self, queue_slug: str, seen_since: datetime | None = None) -> int:
        query = sa.select(sa.func.count()).where(
            ConversationRow.queue_slug == queue_slug,
            ConversationRow.status == Status.WAITING.value,
            ConversationRow.offline.is_(False),
            *_seen_since(seen_since),
        )
        return int(self.session.execute(query).scalar_one())

    def waiting_ahead(self, queue_slug: str, created_at: datetime, seen_since: datetime | None = None) -> int:
        query = sa.select(sa.func.count()).where(
            ConversationRow.queue_slug == queue_slug,
            ConversationRow.status == Status.WAITING.value,
            ConversationRow.offline.is_(False),
            ConversationRow.created_at < created_at,
            *_seen_since(seen_since),
        )
        return int(self.session.execute(query).scalar_one())

    def waiting_line(self, queue_slug: str, seen_since: datetime | None = None) -> list[tuple[str, datetime]]:
        query = (
            sa.select(ConversationRow.id, ConversationRow.created_at)
            .where(
                ConversationRow.queue_slug == queue_slug,
                ConversationRow.status == Status.WAITING.value,
                ConversationRow.offline.is_(False),
                *_seen_since(seen_since),
            )
            .order_by(ConversationRow.created_at, ConversationRow.id)
        )
        return [(row.id, row.created_at) for row in self.session.execute(query)]

    def mark_seen_all(self, conversation_ids: list[str], moment: datetime) -> None:
        query = (
            sa.update(ConversationRow)
            .where(ConversationRow.id.in_(conversation_ids), ConversationRow.status == Status.WAITING.value)
            .values(last_seen_at=moment)
        )
        self.session.execute(query)

    def mark_seen(self, conversation_id: str, moment: datetime) -> None:
        query = (
            sa.update(ConversationRow)
            .where(ConversationRow.id == conversation_id, ConversationRow.status == Status.WAITING.value)
            .values(last_seen_at=moment)
        )
        self.session.execute(query)

    def gone_since(self, moment: datetime) -> list[Conversation]:
        query = select(ConversationRow).where(
            ConversationRow.status == Status.WAITING.value,
            ConversationRow.offline.is_(False),
            ConversationRow.patron_channel.is_(None),  # router.abandonment.is_gone: a DM patron never leaves
            sa.func.coalesce(ConversationRow.last_seen_at, ConversationRow.created_at) < moment,
        )
        return [_conversation(row) for row in self.session.exec(query).all()]

    def recent_waits(self, queue_slug: str, limit: int = 20) -> list[float]:
        query = (
            select(ConversationRow)
            .where(ConversationRow.queue_slug == queue_slug, ConversationRow.claimed_at.is_not(None))
            .order_by(ConversationRow.claimed_at.desc())
            .limit(limit)
        )
        rows = self.session.exec(query).all()
        return [(row.claimed_at - row.created_at).total_seconds() for row in rows]

    def waiting_before(self, moment: datetime, below_stage: int) -> list[Conversation]:
        query = select(ConversationRow).where(
            ConversationRow.status == Status.WAITING.value,
            ConversationRow.offline.is_(False),
            ConversationRow.created_at < moment,
            ConversationRow.escalation_stage < below_stage,
        )
        return [_conversation(row) for row in self.session.exec(query).all()]

    def active_in(self, queue_slugs: list[str]) -> list[Conversation]:
        query = select(ConversationRow).where(
            ConversationRow.queue_slug.in_(queue_slugs), ConversationRow.status != Status.CLOSED.value
        )
        return [_conversation(row) for row in self.session.exec(query).all()]

    def count_open(self, queue_slugs: list[str]) -> dict[str, int]:
        query = (
            sa.select(ConversationRow.status, sa.func.count())
            .where(ConversationRow.queue_slug.in_(queue_slugs), ConversationRow.status != Status.CLOSED.value)
            .group_by(ConversationRow.status)
        )
        return {status: count for status, count in self.session.execute(query).all()}

    def created_between(
        self, start: datetime, end: datetime, queue_slugs: list[str] | None = None
    ) -> list[Conversation]:
        query = select(ConversationRow).where(ConversationRow.created_at >= start, ConversationRow.created_at < end)
        if queue_slugs is not None:
            query = query.where(ConversationRow.queue_slug.in_(queue_slugs))
        return [_conversation(row) for row in self.session.exec(query.order_by(ConversationRow.created_at)).all()]

    def closed_before(self, moment: datetime, limit: int = 500) -> list[Conversation]:
        query = (
            select(ConversationRow)
            .where(ConversationRow.status == Status.CLOSED.value, ConversationRow.closed_at < moment)
            .order_by(ConversationRow.closed_at)
            .limit(limit)
        )
        return [_conversation(row) for row in self.session.exec(query).all()]

    def faq_candidates(
        self, start: datetime | None = None, end: datetime | None = None, queue_slug: str | None = None
    ) -> list[Conversation]:
        query = select(ConversationRow).where(ConversationRow.faq_candidate.is_(True))
        if start is not None:
            query = query.where(ConversationRow.created_at >= start)
        if end is not None:
            query = query.where(ConversationRow.created_at < end)
        if queue_slug is not None:
            query = query.where(ConversationRow.queue_slug == queue_slug)
        return [_conversation(row) for row in self.session.exec(query.order_by(ConversationRow.created_at)).all()]

    def delete(self, conversation_id: str) -> None:
        for table in (MessageRow, EventRow, FileRow, OutboxRow):  # children first: they refer to the chat
            self.session.execute(sa.delete(table).where(table.conversation_id == conversation_id))
        # A draft FAQ entry made from the chat stays (its text was scrubbed when drafted) but names it no more.
        unlink = sa.update(FaqRow).where(FaqRow.source_conversation_id == conversation_id)
        self.session.execute(unlink.values(source_conversation_id=None))
        self.session.execute(sa.delete(ConversationRow).where(ConversationRow.id == conversation_id))


class SqlMessages:
    def __init__(self, session: Session):
        self.session = session

    def add(self, message: Message) -> None:
        self.session.add(MessageRow(**asdict(message)))

    def by_client_id(self, conversation_id: str, client_id: str) -> Message | None:
        query = select(MessageRow).where(
            MessageRow.conversation_id == conversation_id, MessageRow.client_id == client_id
        )
        row = self.session.exec(query).first()
        return _message(row) if row else None

    def after(self, conversation_id: str, seq: int, limit: int = 500) -> list[Message]:
        query = (
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id, MessageRow.seq > seq)
            .order_by(MessageRow.seq)
            .limit(limit)
        )
        return [_message(row) for row in self.session.exec(query).all()]

    def get(self, message_id: str) -> Message | None:
        row = self.session.get(MessageRow, message_id)
        return _message(row) if row else None

    def by_staff_event(self, staff_event_id: str, conversation_id: str | None = None) -> Message | None:
        query = select(MessageRow).where(MessageRow.staff_event_id == staff_event_id)
        if conversation_id is not None:
            query = query.where(MessageRow.conversation_id == conversation_id)
        row = self.session.exec(query).first()
        return _message(row) if row else None

    def save(self, message: Message) -> None:
        self.session.merge(MessageRow(**asdict(message)))

    def containing(self, text: str, conversation_ids: list[str]) -> set[str]:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found: set[str] = set()
        for offset in range(0, len(conversation_ids), 500):  # stay under the databases' bound-parameter limits
            query = sa.select(MessageRow.conversation_id).where(
                MessageRow.conversation_id.in_(conversation_ids[offset : offset + 500]),
                MessageRow.deleted_at.is_(None),
                sa.func.lower(MessageRow.body).like(pattern, escape="\\"),
            )
            found.update(self.session.execute(query.distinct()).scalars())
        return found


class SqlFiles:
    def __init__(self, session: Session):
        self.session = session

    def add(self, file: StoredFile) -> None:
        self.session.add(FileRow(**asdict(file)))

    def get(self, conversation_id: str, file_id: str) -> StoredFile | None:
        row = self.session.get(FileRow, file_id)
        return _copy(StoredFile, row) if row and row.conversation_id == conversation_id else None


class SqlDuty:
    def __init__(self, session: Session):
        self.session = session
        self._held: list[DutyRow] = []  # `save` updates what `get` read without a SELECT (SqlConversations.save)

    def get(self, queue_slug: str, staff_id: str) -> DutyRecord | None:
        row = self.session.get(DutyRow, (queue_slug, staff_id))
        if row is None:
            return None
        self._held.append(row)
        return _copy(DutyRecord, row)

    def save(self, record: DutyRecord) -> None:
        self.session.merge(DutyRow(**asdict(record)))

    def on_duty(self, queue_slug: str) -> list[DutyRecord]:
        query = select(DutyRow).where(DutyRow.queue_slug == queue_slug, DutyRow.on.is_(True))
        return [_copy(DutyRecord, row) for row in self.session.exec(query).all()]

    def touch(self, queue_slug: str, staff_id: str, moment: datetime, *, unless_since: datetime) -> None:
        statement = (
            sa.update(DutyRow)
            .where(
                DutyRow.queue_slug == queue_slug,
                DutyRow.staff_id == staff_id,
                DutyRow.on.is_(True),
                DutyRow.last_active < unless_since,
            )
            .values(last_active=moment)
        )
        self.session.execute(statement)


class SqlCanned:
    def __init__(self, session: Session):
        self.session = session

    def get(self, name: str) -> CannedResponse | None:
        row = self.session.get(CannedRow, name)
        return CannedResponse(row.name, dict(row.texts)) if row else None

    def save(self, response: CannedResponse) -> None:
        self.session.merge(CannedRow(name=response.name, texts=dict(response.texts)))

    def delete(self, name: str) -> bool:
        return self.session.execute(sa.delete(CannedRow).where(CannedRow.name == name)).rowcount > 0

    def list(self) -> list[CannedResponse]:
        rows = self.session.exec(select(CannedRow).order_by(CannedRow.name)).all()
        return [CannedResponse(row.name, dict(row.texts)) for row in rows]


class SqlAdmins:
    def __init__(self, session: Session):
        self.session = session

    def get(self, username: str) -> AdminUser | None:
        row = self.session.get(AdminRow, username)
        return _copy(AdminUser, row) if row else None

    def save(self, user: AdminUser) -> None:
        self.session.merge(AdminRow(**asdict(user)))

    def delete(self, username: str) -> bool:
        return self.session.execute(sa.delete(AdminRow).where(AdminRow.username == username)).rowcount > 0

    def list(self) -> list[AdminUser]:
        return [_copy(AdminUser, row) for row in self.session.exec(select(AdminRow).order_by(AdminRow.username)).all()]


class SqlAttempts:
    def __init__(self, session: Session):
        self.session = session

    def add(self, attempt: Attempt) -> None:
        values = asdict(attempt)
        values.pop("id")
        self.session.add(AttemptRow(**values))

    def between(self, start: datetime, end: datetime, queue_slugs: list[str] | None = None) -> list[Attempt]:
        query = select(AttemptRow).where(AttemptRow.at >= start, AttemptRow.at < end)
        if queue_slugs is not None:
            query = query.where(AttemptRow.queue_slug.in_(queue_slugs))
        return [_copy(Attempt, row) for row in self.session.exec(query.order_by(AttemptRow.at)).all()]


def _faq(row: FaqRow) -> FaqArticle:
    return _copy(FaqArticle, row, topics=list(row.topics or []))


FAQ_COLUMNS = [f.name for f in fields(FaqArticle)]
SELECTED = ", ".join(f"a.{name}" for name in FAQ_COLUMNS)


def _faq_values(values: Any) -> FaqArticle:
    return FaqArticle(**{name: values[name] for name in FAQ_COLUMNS} | {"topics": list(values["topics"] or [])})


# The text search configuration of an entry's language on PostgreSQL (as in migration 0016's column).
PG_CONFIGS = {"en": "english", "es": "spanish", "fr": "french"}
RANK_CAP = 1000  # PostgreSQL ranks at most this many entries whose question matches (see _search_postgres)
OTHER_CAP = 100  # and at most this many of the other matches (words in the topics or answer only), to fill the page


class SqlFaqArticles:
    """The knowledge base; `search` uses FTS5 on SQLite and the tsvector column on PostgreSQL (migration 0016)."""

    def __init__(self, session: Session):
        self.session = session

    def _row(self, article: FaqArticle) -> FaqRow:
        values = asdict(article)
        if values["id"] is None:
            values.pop("id")
        return FaqRow(**values, answer_text=plain_text(article.answer))

    def add(self, article: FaqArticle) -> None:
        row = self._row(article)
        self.session.add(row)
        self.session.flush()
        article.id = row.id

    def get(self, article_id: int) -> FaqArticle | None:
        row = self.session.get(FaqRow, article_id, populate_existing=True)
        return _faq(row) if row else None

    def save(self, article: FaqArticle) -> None:
        self.session.merge(self._row(article))
        self.session.flush()

    def delete(self, article_id: int) -> bool:
        self.session.flush()
        return self.session.execute(sa.delete(FaqRow).where(FaqRow.id == article_id)).rowcount > 0

    def list(
        self,
        status: str | None = None,
        language: str | None = None,
        queue_slug: str | None = None,
        source_conversation_id: str | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[FaqArticle]:
        query = select(FaqRow)
        if status is not None:
            query = query.where(FaqRow.status == status)
        if language is not None:
            query = query.where(FaqRow.language == language)
        if queue_slug is not None:
            query = query.where(FaqRow.queue_slug.is_(None) if queue_slug == "" else FaqRow.queue_slug == queue_slug)
        if source_conversation_id is not None:
            query = query.where(FaqRow.source_conversation_id == source_conversation_id)
        query = query.order_by(FaqRow.updated_at.desc(), FaqRow.id.desc()).offset(offset).limit(limit)
        return [_faq(row) for row in self.session.exec(query).all()]

    # --- what the public pages show: published entries of a language and a queue's FAQ, counted in SQL ---

    def _published(self, language: str | None, queue_slug: str | None) -> list[Any]:
        """The public scope: published, in `language`, in `queue_slug`'s FAQ (its own and the whole library's)."""
        where: list[Any] = [FaqRow.status == "published"]
        if language is not None:
            where.append(FaqRow.language == language)
        if queue_slug is not None:
            where.append(sa.or_(FaqRow.queue_slug == queue_slug, FaqRow.queue_slug.is_(None)))
        return where

    def _topic_elements(self) -> Any:
        """A table-valued function of an entry's topics (stored as a JSON list), one row per topic, column `value`."""
        if self.session.get_bind().dialect.name == "postgresql":
            return sa.func.json_array_elements_text(FaqRow.__table__.c.topics).table_valued("value")
        return sa.func.json_each(FaqRow.__table__.c.topics).table_valued("value")

    def newest(
        self, *, language: str | None = None, queue_slug: str | None = None, topic: str | None = None, limit: int = 50
    ) -> list[FaqArticle]:
        self.session.flush()
        where = self._published(language, queue_slug)
        if topic is not None:
            topics = self._topic_elements()
            where.append(sa.exists().select_from(topics).where(topics.c.value == topic))
        # Read in ix_faq_articles_published_order's order, so the LIMIT ends the scan. A published entry always
        # has its published_at (router.faq_entries sets it whenever an entry becomes published).
        order = (FaqRow.published_at.desc(), FaqRow.updated_at.desc(), FaqRow.id.desc())
        query = select(FaqRow).where(*where).order_by(*order).limit(limit)
        return [_faq(row) for row in self.session.exec(query).all()]

    def published_topics(
        self, *, language: str | None = None, queue_slug: str | None = None
    ) -> tuple[int, dict[str, int]]:
        self.session.flush()
        # One pass for both: entries grouped by their whole topic list (a library has few distinct lists), then
        # each list's count added to each of its topics. The pass reads ix_faq_articles_scope_topics alone
        # (migration 0020), not the entries' answers and search index.
        listed = sa.cast(FaqRow.__table__.c.topics, sa.Text)
        query = (
            sa.select(listed, sa.func.count())
            .select_from(FaqRow)
            .where(*self._published(language, queue_slug))
            .group_by(listed)
        )
        total, counts = 0, Counter[str]()
        for topics, count in self.session.execute(query).all():
            total += count
            for topic in set(json.loads(topics or "[]")):
                counts[str(topic)] += count
        return total, dict(counts)

    def search(
        self,
        groups: list[list[str]],
        *,
        any_group: bool = False,
        language: str | None = None,
        queue_slug: str | None = None,
        topic: str | None = None,
        limit: int = 10,
        published_only: bool = True,
    ) -> list[tuple[FaqArticle, float]]:
        groups = [[w for w in group if w.rstrip("*").isalnum()] for group in groups]
        groups = [group for group in groups if group]
        if not groups:
            return []
        self.session.flush()
        postgres = self.session.get_bind().dialect.name == "postgresql"
        filters, params = [], {"limit": limit}
        if published_only:
            filters.append("a.status = 'published'")
        if language is not None:
            filters.append("a.language = :language")
            params["language"] = language
        if queue_slug is not None:
            filters.append("(a.queue_slug = :queue OR a.queue_slug IS NULL)")
            params["queue"] = queue_slug
        if topic is not None:  # in SQL, so a topic's page never loads the matches of other topics
            topics = "json_array_elements_text(a.topics) AS t(value)" if postgres else "json_each(a.topics) AS t"
            filters.append(f"EXISTS (SELECT 1 FROM {topics} WHERE t.value = :topic)")
            params["topic"] = topic
        where = "".join(f" AND {f}" for f in filters)
        if postgres:
            statement = self._search_postgres(groups, any_group, language, where, params)
        else:
            statement = self._search_sqlite(groups, any_group, where, params)
        # The entries come back with their rank in the one query: a round trip less per search.
        typed = statement.columns(*(FaqRow.__table__.c[name] for name in FAQ_COLUMNS), sa.column("score", sa.Float))
        rows = self.session.execute(typed, params).all()
        return [(_faq_values(row._mapping), float(row.score)) for row in rows]

    def _search_sqlite(self, groups: list[list[str]], any_group: bool, where: str, params: dict) -> sa.TextClause:
        def term(word: str) -> str:
            return f'"{word[:-1]}"*' if word.endswith("*") else f'"{word}"'

        joined = " OR " if any_group else " AND "
        params["match"] = joined.join("(" + " OR ".join(term(w) for w in group) + ")" for group in groups)
        # bm25 is lower for better matches; weights: question, answer, topics.
        return sa.text(
            f"SELECT {SELECTED}, -bm25(faq_fts, 8.0, 2.0, 4.0) AS score "
            "FROM faq_fts JOIN faq_articles a ON a.id = faq_fts.rowid "
            f"WHERE faq_fts MATCH :match{where} ORDER BY score DESC, a.id LIMIT :limit"
        )

    def _search_postgres(
        self, groups: list[list[str]], any_group: bool, language: str | None, where: str, params: dict
    ) -> sa.TextClause:
        def term(word: str) -> str:
            return f"'{word[:-1]}':*" if word.endswith("*") else f"'{word}'"

        joined = " | " if any_group else " & "
        params["match"] = joined.join("(" + " | ".join(term(w) for w in group) + ")" for group in groups)
        # Each entry was indexed in its own language's configuration: without a language, ask in each of them.
        configs = [PG_CONFIGS.get(language, "simple")] if language else [*PG_CONFIGS.values(), "simple"]
        query = " || ".join(f"to_tsquery('{config}', :match)" for config in configs)
        # Ranking reads every match's search_vector: words in thousands of entries would cost tens of ms. The
        # question weighs most (A in search_vector), so every entry whose question matches (question_vector,
        # migration 0021; up to RANK_CAP) is ranked, and of the others (the words in the topics or answer alone)
        # only the first OTHER_CAP in table order, to fill the page. One order by score, as before: a question
        # match usually outranks the others by its weight (A against B, C), not because of this split.
        return sa.text(
            f"WITH q AS MATERIALIZED (SELECT {query} AS query), "
            f"asked AS (SELECT a.*, q.query FROM faq_articles a, q WHERE a.question_vector @@ q.query{where} "
            f"LIMIT {RANK_CAP}), "
            f"rest AS (SELECT a.*, q.query FROM faq_articles a, q WHERE a.search_vector @@ q.query "
            f"AND NOT a.question_vector @@ q.query{where} LIMIT {OTHER_CAP}) "
            f"SELECT {SELECTED}, ts_rank_cd(a.search_vector, a.query) AS score FROM "
            "(SELECT * FROM asked UNION ALL SELECT * FROM rest) a "
            "ORDER BY score DESC, a.id LIMIT :limit"
        )

    def remember_words(self, words: AbstractSet[str]) -> None:
        if not words:
            return
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [{"word": word[:64]} for word in sorted(words)]
        self.session.execute(insert(FaqWordRow).values(rows).on_conflict_do_nothing(index_elements=["word"]))

    def words_near(self, words: Sequence[str]) -> list[str]:
        ranges = [
            sa.and_(
                FaqWordRow.word >= word[0],
                FaqWordRow.word < chr(ord(word[0]) + 1),
                sa.func.length(FaqWordRow.word).between(len(word) - 2, len(word) + 2),
            )
            for word in words
            if word
        ]
        if not ranges:
            return []
        query = sa.select(FaqWordRow.word).where(sa.or_(*ranges)).limit(20_000)
        return list(self.session.execute(query).scalars())


class SqlFaqUsage:
    """Counters as one upsert each (`count = count + 1`), so concurrent web processes never lose a count."""

    KEY = ("day", "kind", "article_id", "language", "queue_slug", "query")

    def __init__(self, session: Session):
        self.session = session

    def add(
        self,
        day: date,
        kind: str,
        article_id: int | None,
        language: str | None,
        queue_slug: str | None,
        query: str = "",
    ) -> None:
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = dict(
            day=day,
            kind=kind,
            article_id=article_id or 0,
            language=language or "",
            queue_slug=queue_slug or "",
            query=query,
            count=1,
        )
        statement = insert(FaqUsageRow).values(**values)
        counter = FaqUsageRow.__table__.c.count
        self.session.execute(
            statement.on_conflict_do_update(index_elements=list(self.KEY), set_={"count": counter + 1})
        )

    def queries_on(self, day: date) -> int:
        query = sa.select(sa.func.count()).where(FaqUsageRow.day == day, FaqUsageRow.kind == "no_result")
        return self.session.execute(query).scalar_one()

    def between(self, first: date, last: date, queue_slugs: list[str] | None = None) -> list[FaqUsage]:
        query = select(FaqUsageRow).where(FaqUsageRow.day >= first, FaqUsageRow.day <= last)
        if queue_slugs is not None:
            query = query.where(FaqUsageRow.queue_slug.in_(queue_slugs))
        return [
            FaqUsage(
                row.day,
                row.kind,
                row.article_id or None,
                row.language or None,
                row.queue_slug or None,
                row.query,
                row.count,
            )
            for row in self.session.exec(query.order_by(FaqUsageRow.day, FaqUsageRow.id)).all()
        ]


class SqlEvents:
    def __init__(self, session: Session):
        self.session = session

    def add(self, event: StreamEvent) -> None:
        self.session.add(EventRow(**asdict(event)))

    def save(self, event: StreamEvent) -> None:
        self.session.merge(EventRow(**asdict(event)))

    def after(self, conversation_id: str, seq: int, limit: int = 500) -> list[StreamEvent]:
        query = (
            select(EventRow)
            .where(EventRow.conversation_id == conversation_id, EventRow.seq > seq)
            .order_by(EventRow.seq)
            .limit(limit)
        )
        return [_copy(StreamEvent, row, type=EventType(row.type)) for row in self.session.exec(query).all()]

    def stream(
        self, conversation_id: str, seq: int, also: str, limit: int = 500, *, chat: bool = False
    ) -> StreamRead | None:
        """The chat's row joined to its events after `seq` (a row of NULLs when there are none), the record
        `also` beside each: one statement and no ORM objects, since every open stream runs it at each wake-up.
        With `chat`, every column of the chat (to authenticate the stream opening), not only its status."""
        query = _STREAM_WITH_CHAT if chat else _STREAM
        parameters = {"conversation_id": conversation_id, "seq": seq, "also": also, "limit": limit}
        rows = self.session.connection().execute(query, parameters).all()  # Core: not through the ORM's layers
        if not rows:
            return None
        first = rows[0]
        events = [
            StreamEvent(conversation_id, row.event_seq, EventType(row.event_type), row.event_data, row.event_at)
            for row in rows
            if row.event_seq is not None
        ]
        found = _conversation(first) if chat else None
        return StreamRead(Status(first.status), first.queue_slug, first.also_value, events, found)


def _stream_query(*chat: Any) -> sa.Select:
    """Built once with bound parameters: SQLAlchemy then compiles and keys it once, not at every wake-up."""
    record = sa.select(KeyValueRow.value).where(KeyValueRow.key == sa.bindparam("also")).scalar_subquery()
    newer = sa.and_(EventRow.conversation_id == ConversationRow.id, EventRow.seq > sa.bindparam("seq"))
    return (
        sa.select(
            *chat,
            record.label("also_value"),
            EventRow.seq.label("event_seq"),
            EventRow.type.label("event_type"),
            EventRow.data.label("event_data"),
            EventRow.created_at.label("event_at"),
        )
        .select_from(ConversationRow)
        .outerjoin(EventRow, newer)
        .where(ConversationRow.id == sa.bindparam("conversation_id"))
        .order_by(EventRow.seq)
        .limit(sa.bindparam("limit"))
    )


_STREAM = _stream_query(ConversationRow.status, ConversationRow.queue_slug)
_STREAM_WITH_CHAT = _stream_query(*ConversationRow.__table__.c)


def _lease_statements() -> tuple[Any, Any, Any]:
    """The outbox's hot statements, built once at import (SQLAlchemy re-aliasing them per call showed in py-spy).

    Due: undelivered, its retry time come, not leased (or its lease run out), and nothing older of the
    same chat and lane still undelivered (head-of-line, so a chat's items go in order; a leased item is
    undelivered, so the chat's next waits for it). `FOR UPDATE SKIP LOCKED`: two workers never take
    the same item. The lease is one UPDATE … RETURNING (the SELECT and the UPDATE were two round trips).
    """
    table = OutboxRow.__table__
    due, older = table.alias("due"), table.alias("older")
    now = sa.bindparam("now")
    has_older = (
        sa.select(older.c.id)
        .where(
            older.c.conversation_id == due.c.conversation_id,
            older.c.lane == due.c.lane,
            older.c.delivered_at.is_(None),
            older.c.id < due.c.id,
        )
        .exists()
    )
    # Staff items of queues on a backend another worker delivers (the Matrix device's holder:
    # adapters.matrix.device_lock), and patron items of chats on that platform's direct messages;
    # `skip` is a list of backend names, empty for none.
    elsewhere = (
        sa.select(ConversationRow.__table__.c.id)
        .join(QueueRow.__table__, QueueRow.__table__.c.slug == ConversationRow.__table__.c.queue_slug)
        .where(
            ConversationRow.__table__.c.id == due.c.conversation_id,
            QueueRow.__table__.c.backend.in_(sa.bindparam("skip", expanding=True)),
        )
        .exists()
    )
    patron_elsewhere = (
        sa.select(ConversationRow.__table__.c.id)
        .where(
            ConversationRow.__table__.c.id == due.c.conversation_id,
            ConversationRow.__table__.c.patron_channel.in_(sa.bindparam("skip", expanding=True)),
        )
        .exists()
    )
    due_ids = (
        sa.select(due.c.id)
        .where(
            due.c.delivered_at.is_(None),
            due.c.next_attempt_at <= now,
            sa.or_(due.c.lease_until.is_(None), due.c.lease_until < now),
            ~has_older,
            sa.or_(due.c.lane != "staff", ~elsewhere),
            sa.or_(due.c.lane != "patron", ~patron_elsewhere),
        )
        .order_by(due.c.id)
        .limit(sa.bindparam("limit"))
        .with_for_update(skip_locked=True, of=due)
    )
    lease = (
        sa.update(table)
        .where(table.c.id.in_(due_ids))
        .values(lease_until=sa.bindparam("until"), leases=table.c.leases + 1)
        .returning(*table.c)
    )
    leased = lease.cte("leased")
    conversations, queues, messages = ConversationRow.__table__, QueueRow.__table__, MessageRow.__table__
    problem = KeyValueRow.__table__.alias("problem")  # router.health's record for the queue, if any
    lease_and_read = sa.select(leased, conversations, queues, messages, problem).select_from(
        leased.outerjoin(conversations, conversations.c.id == leased.c.conversation_id)
        .outerjoin(queues, queues.c.slug == conversations.c.queue_slug)
        .outerjoin(messages, messages.c.id == leased.c.message_id)
        .outerjoin(problem, problem.c.key == sa.literal(PROBLEM_PREFIX) + queues.c.slug)
    )
    mark = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("item_id"))
        .values(
            delivered_at=sa.bindparam("now"),
            lease_until=None,
            last_error=None,
            staff_ref=sa.func.coalesce(sa.bindparam("ref", type_=sa.String), table.c.staff_ref),
        )
    )
    return lease, lease_and_read, mark


_LEASE, _LEASE_AND_READ, _MARK_DELIVERED = _lease_statements()


def _skipped(backends: frozenset[Backend]) -> list[str]:
    return sorted(backend.value for backend in backends)


def _parts_of_a_leased_row() -> list[tuple[sa.Table, list[Any]]]:
    """Which of `_LEASE_AND_READ`'s columns are which table's: outbox, conversation, queue, message, kv."""
    selected, parts, start = list(_LEASE_AND_READ.selected_columns), [], 0
    tables = (OutboxRow.__table__, ConversationRow.__table__, QueueRow.__table__, MessageRow.__table__)
    for table in (*tables, KeyValueRow.__table__):
        parts.append((table, selected[start : start + len(table.c)]))
        start += len(table.c)
    return parts


_LEASED_PARTS = _parts_of_a_leased_row()


def _leased_row(row: Any) -> Leased:
    """A joined row as the item and what it needs; a part an outer join missed (its primary key NULL) is None."""
    mapping, parts = row._mapping, []
    for table, columns in _LEASED_PARTS:
        values = {column.name: mapping[selected] for column, selected in zip(table.c, columns, strict=True)}
        key = next(iter(table.primary_key)).name
        parts.append(None if values[key] is None else SimpleNamespace(**values))
    item, conversation, queue, message, problem = parts
    return Leased(
        _outbox(item),
        _conversation(conversation) if conversation else None,
        _queue(queue) if queue else None,
        _message(message) if message else None,
        problem.value if problem else None,
    )


class SqlOutbox:
    def __init__(self, session: Session):
        self.session = session

    def add(self, item: OutboxItem) -> None:
        values = asdict(item)
        values.pop("id")
        self.session.add(OutboxRow(**values))

    def lease_due(
        self, now: datetime, lease_until: datetime, skip_backends: frozenset[Backend] = frozenset()
    ) -> OutboxItem | None:
        params = {"now": now, "until": lease_until, "limit": 1, "skip": _skipped(skip_backends)}
        rows = self.session.execute(_LEASE, params).all()
        return _outbox(rows[0]) if rows else None

    def lease(
        self, now: datetime, lease_until: datetime, limit: int, skip_backends: frozenset[Backend] = frozenset()
    ) -> list[Leased]:
        """Lease up to `limit` due items, each with its conversation, queue and message, in one statement.

        PostgreSQL: the lease is a data-modifying CTE joined to what the handlers read, so one round
        trip takes the items and their rows. SQLite cannot put an UPDATE in a CTE: the same UPDATE …
        RETURNING, then one SELECT per table for the whole batch."""
        params = {"now": now, "until": lease_until, "limit": limit, "skip": _skipped(skip_backends)}
        if self.session.get_bind().dialect.name == "postgresql":
            rows = self.session.execute(_LEASE_AND_READ, params).all()
            found = [_leased_row(row) for row in rows]
        else:
            items = [_outbox(row) for row in self.session.execute(_LEASE, params).all()]
            found = self._read_for(items)
        return sorted(found, key=lambda leased: leased.item.id or 0)

    def _read_for(self, items: list[OutboxItem]) -> list[Leased]:
        if not items:
            return []
        conversation_ids = {item.conversation_id for item in items}
        conversations = {
            row.id: _conversation(row)
            for row in self.session.exec(select(ConversationRow).where(ConversationRow.id.in_(conversation_ids)))
        }
        slugs = {c.queue_slug for c in conversations.values()}
        queues = {row.slug: _queue(row) for row in self.session.exec(select(QueueRow).where(QueueRow.slug.in_(slugs)))}
        message_ids = {item.message_id for item in items if item.message_id}
        messages = (
            {
                row.id: _message(row)
                for row in self.session.exec(select(MessageRow).where(MessageRow.id.in_(message_ids)))
            }
            if message_ids
            else {}
        )
        problem_keys = [PROBLEM_PREFIX + slug for slug in queues]
        problems = {
            row.key[len(PROBLEM_PREFIX) :]: row.value
            for row in self.session.exec(select(KeyValueRow).where(KeyValueRow.key.in_(problem_keys)))
        }
        found = []
        for item in items:
            conversation = conversations.get(item.conversation_id)
            queue = queues.get(conversation.queue_slug) if conversation else None
            message = messages.get(item.message_id or "")
            found.append(Leased(item, conversation, queue, message, problems.get(queue.slug) if queue else None))
        return found

    def mark_delivered(self, refs: dict[int, str | None], now: datetime) -> None:
        """Settle delivered items in one statement (an executemany: one pipeline on PostgreSQL)."""
        if refs:
            rows = [{"item_id": item_id, "ref": ref, "now": now} for item_id, ref in refs.items()]
            self.session.execute(_MARK_DELIVERED, rows)

    def save(self, item: OutboxItem) -> None:
        self.session.merge(OutboxRow(**asdict(item)))

    def pending_count(self, lane: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
        if lane is not None:
            query = query.where(OutboxRow.lane == lane)
        return int(self.session.execute(query).scalar_one())

    def cancel_pending(self, conversation_id: str, lane: str, now: datetime, reason: str) -> int:
        statement = (
            sa.update(OutboxRow)
            .where(
                OutboxRow.conversation_id == conversation_id,
                OutboxRow.lane == lane,
                OutboxRow.delivered_at.is_(None),
            )
            .values(delivered_at=now, lease_until=None, last_error=reason[:500])
        )
        return self.session.execute(statement).rowcount

    def for_conversation(self, conversation_id: str) -> list[OutboxItem]:
        query = select(OutboxRow).where(OutboxRow.conversation_id == conversation_id).order_by(OutboxRow.id)
        return [_outbox(row) for row in self.session.exec(query).all()]

    def prune_settled(self, before: datetime, limit: int) -> int:
        settled = (
            sa.select(OutboxRow.id)
            .where(
                OutboxRow.delivered_at < before,
                OutboxRow.staff_ref.is_(None),
                OutboxRow.payload["thread"].as_string().is_(None),
                OutboxRow.kind != OutboxKind.TRANSCRIPT_EMAIL.value,
            )
            .limit(limit)
        )
        return self.session.execute(sa.delete(OutboxRow).where(OutboxRow.id.in_(settled))).rowcount


class SqlInboundLog:
    def __init__(self, session: Session):
        self.session = session

    def first_time(self, source: str, event_id: str, seen_at: datetime) -> bool:
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(InboundRow)
            .values(source=source, event_id=event_id, seen_at=seen_at)
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(InboundRow.event_id)
        )
        return self.session.execute(statement).first() is not None

    def prune(self, before: datetime, limit: int) -> int:
        old = sa.select(InboundRow.source, InboundRow.event_id).where(InboundRow.seen_at < before).limit(limit)
        statement = sa.delete(InboundRow).where(sa.tuple_(InboundRow.source, InboundRow.event_id).in_(old))
        return self.session.execute(statement).rowcount


class SqlKeyValue:
    def __init__(self, session: Session):
        self.session = session

    def get(self, key: str) -> str | None:
        row = self.session.get(KeyValueRow, key, populate_existing=True)  # `set` writes around the identity map
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        """An upsert: two workers writing the same key at once must not fail on the primary key."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(KeyValueRow).values(key=key, value=value)
        self.session.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))

    def delete(self, key: str) -> None:
        self.session.execute(sa.delete(KeyValueRow).where(KeyValueRow.key == key))

    def with_prefix(self, prefix: str) -> dict[str, str]:
        query = select(KeyValueRow).where(KeyValueRow.key.startswith(prefix, autoescape=True))
        return {row.key: row.value for row in self.session.exec(query).all()}

    def lock(self, key: str) -> None:
        """PostgreSQL: an advisory lock until commit. SQLite: the write lock BEGIN IMMEDIATE takes (see make_engine)."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))
        else:
            self.session.connection()  # starts the transaction, and with it BEGIN IMMEDIATE


# One statement for every topic a transaction announces; PostgreSQL sends the NOTIFYs at COMMIT, none on rollback.
NOTIFY_ALL = sa.text("SELECT pg_notify(:channel, topic) FROM unnest(CAST(:topics AS text[])) AS topic")
# The same, for a replayable transaction (UnitOfWork.replayable): its COMMIT does not wait for the WAL flush.
NOTIFY_ALL_NO_WAIT = sa.text(
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify(:channel, topic)"
    " FROM unnest(CAST(:topics AS text[])) AS topic"
)
NO_WAIT = sa.text("SELECT set_config('synchronous_commit', 'off', true)")


class SqlUnitOfWork(UnitOfWork):
    """One database transaction; `after_commit` callbacks run only once it is durable.

    With `notify_channel` (PostgreSQL, and a notifier listening on that channel of the same database)
    announced topics go out as NOTIFY inside the transaction, just before COMMIT; otherwise `notifier`
    publishes them after it.
    """

    def __init__(
        self,
        session_factory: sessionmaker,
        read_only: bool = False,
        notifier: Notifier | None = None,
        notify_channel: str | None = None,
    ):
        super().__init__(notifier)
        self._session_factory, self._read_only, self._notify_channel = session_factory, read_only, notify_channel

    def __enter__(self) -> SqlUnitOfWork:
        self.session = self._session_factory()
        if self._read_only:
            self.session.connection(execution_options=self._read_options())
        self.queues = SqlQueues(self.session)
        self.conversations = SqlConversations(self.session)
        self.messages = SqlMessages(self.session)
        self.files = SqlFiles(self.session)
        self.duty = SqlDuty(self.session)
        self.events = SqlEvents(self.session)
        self.outbox = SqlOutbox(self.session)
        self.inbound = SqlInboundLog(self.session)
        self.kv = SqlKeyValue(self.session)
        self.canned = SqlCanned(self.session)
        self.admins = SqlAdmins(self.session)
        self.attempts = SqlAttempts(self.session)
        self.faq = SqlFaqArticles(self.session)
        self.faq_usage = SqlFaqUsage(self.session)
        return self

    def _read_options(self) -> dict[str, Any]:
        """PostgreSQL reads in autocommit: no BEGIN, no ROLLBACK, two round trips fewer per read (each open
        patron stream reads at every wake-up). Nothing is lost: at READ COMMITTED, PostgreSQL's default,
        each statement of a transaction sees its own snapshot anyway, and a read-only one holds no locks."""
        if self.session.get_bind().dialect.name == "postgresql":
            return {"refdesk_read_only": True, "isolation_level": "AUTOCOMMIT"}
        return {"refdesk_read_only": True}

    def __exit__(self, *args: object) -> None:
        self.rollback()
        self.session.close()

    def commit(self) -> None:
        no_wait = not self.waits_for_disk and self.session.get_bind().dialect.name == "postgresql"
        if self._notify_channel is not None and self._announced:
            topics = self._take_announced()
            statement = NOTIFY_ALL_NO_WAIT if no_wait else NOTIFY_ALL  # no_wait: in the same round trip
            self.session.execute(statement, {"channel": self._notify_channel, "topics": topics})
        elif no_wait:
            self.session.execute(NO_WAIT)
        self.session.commit()
        self._run_after_commit()

    def rollback(self) -> None:
        self.session.rollback()
        self._forget_after_commit()


def session_factory(engine: sa.Engine) -> sessionmaker:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)
