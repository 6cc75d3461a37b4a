"""SQL tables (SQLModel) mirroring the domain dataclasses field for field.

Field names match `router.model` so conversion is a plain copy; the domain
never sees these classes. Changing a table means writing an Alembic migration.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every database (SQLite drops the zone, PostgreSQL keeps it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class QueueRow(SQLModel, table=True):
    __tablename__ = "queues"
    __table_args__ = (sa.Index("ix_queues_room", "backend", "room"),)
    slug: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    backend: str = Field(max_length=16)
    room: str = Field(max_length=255)
    allowed_origins: list = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]")
    )
    hours: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    away: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False, server_default="{}"))
    escalation: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False, server_default="{}"))
    backup_queue: str | None = Field(default=None, max_length=64)
    staff_name: str = Field(default="full", max_length=100, sa_column_kwargs={"server_default": "full"})
    link_sites: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]"))


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_thread", "queue_slug", "staff_thread_id"),
        sa.Index("ix_conversations_patron_address", "patron_channel", "patron_address"),
    )
    id: str = Field(primary_key=True, max_length=32)
    queue_slug: str = Field(foreign_key="queues.slug", max_length=64)
    token_hash: str = Field(max_length=64)
    created_at: datetime = _time(index=True)
    name: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=500)
    page_url: str | None = Field(default=None, max_length=500)
    language: str | None = Field(default=None, max_length=500)
    offline: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    status: str = Field(max_length=16)
    claimed_by: str | None = Field(default=None, max_length=255)
    claimed_by_id: str | None = Field(default=None, max_length=255)
    claimed_at: datetime | None = _time(nullable=True)
    closed_at: datetime | None = _time(nullable=True)
    closed_by: str | None = Field(default=None, max_length=16)
    staff_thread_id: str | None = Field(default=None, max_length=255)
    last_seq: int = 0
    rating: int | None = None
    rating_comment: str | None = Field(default=None, max_length=2000)
    escalation_stage: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    follow_up: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    transferred_from: str | None = Field(default=None, max_length=64)
    first_staff_at: datetime | None = _time(nullable=True)
    after_hours: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    read_level: int | None = None
    tags: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]"))
    faq_candidate: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    anonymised_at: datetime | None = _time(nullable=True, index=True)
    last_seen_at: datetime | None = _time(nullable=True)
    abandoned: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    patron_channel: str | None = Field(default=None, max_length=32)
    patron_address: str | None = Field(default=None, max_length=255)


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        sa.UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
        sa.Index("ix_messages_staff_event", "staff_event_id"),
    )
    id: str = Field(primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=32)
    seq: int
    author: str = Field(max_length=16)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = _time()
    author_name: str | None = Field(default=None, max_length=255)
    author_id: str | None = Field(default=None, max_length=255)
    client_id: str | None = Field(default=None, max_length=128)
    staff_event_id: str | None = Field(default=None, max_length=255)
    edited_at: datetime | None = _time(nullable=True)
    deleted_at: datetime | None = _time(nullable=True)
    attachments: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]"))
    html: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    link: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    conversation_id: str = Field(foreign_key="conversations.id", primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    type: str = Field(max_length=32)
    data: dict = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = _time()


UNDELIVERED = sa.text("delivered_at IS NULL")


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_pending", "conversation_id", "delivered_at"),
        # Partial: only undelivered rows, so leasing does not slow down as delivered ones pile up (0014).
        sa.Index("ix_outbox_undelivered", "id", postgresql_where=UNDELIVERED, sqlite_where=UNDELIVERED),
        sa.Index(
            "ix_outbox_undelivered_line",
            "conversation_id",
            "lane",
            "id",
            postgresql_where=UNDELIVERED,
            sqlite_where=UNDELIVERED,
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=32)
    kind: str = Field(max_length=32)
    created_at: datetime = _time()
    next_attempt_at: datetime = _time(index=True)
    payload: dict = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    message_id: str | None = Field(default=None, max_length=32)
    attempts: int = 0
    leases: int = 0
    lease_until: datetime | None = _time(nullable=True)
    delivered_at: datetime | None = _time(nullable=True, index=True)
    last_error: str | None = Field(default=None, max_length=500)
    staff_ref: str | None = Field(default=None, max_length=255)
    lane: str = Field(default="staff", max_length=16, sa_column_kwargs={"server_default": "staff"})


class InboundRow(SQLModel, table=True):
    """Platform events already handled: the dedupe log."""

    __tablename__ = "inbound_events"
    source: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(primary_key=True, max_length=255)
    seen_at: datetime = _time(index=True)  # pruned by age (router/pruning.py)


class KeyValueRow(SQLModel, table=True):
    __tablename__ = "kv"
    key: str = Field(primary_key=True, max_length=255)
    value: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class FileRow(SQLModel, table=True):
    __tablename__ = "files"
    id: str = Field(primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    name: str = Field(max_length=255)
    mimetype: str = Field(max_length=255)
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = _time()


class DutyRow(SQLModel, table=True):
    __tablename__ = "duty"
    queue_slug: str = Field(foreign_key="queues.slug", primary_key=True, max_length=64)
    staff_id: str = Field(primary_key=True, max_length=255)
    staff_name: str = Field(max_length=255)
    on: bool = False
    since: datetime = _time()
    last_active: datetime = _time()


class CannedRow(SQLModel, table=True):
    __tablename__ = "canned_responses"
    name: str = Field(primary_key=True, max_length=64)
    texts: dict = Field(sa_column=sa.Column(sa.JSON, nullable=False))


class AdminRow(SQLModel, table=True):
    __tablename__ = "admins"
    username: str = Field(primary_key=True, max_length=100)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    created_at: datetime = _time()
    security_stamp: str = Field(default="", max_length=64)


class AttemptRow(SQLModel, table=True):
    __tablename__ = "attempts"
    id: int | None = Field(default=None, primary_key=True)
    queue_slug: str = Field(foreign_key="queues.slug", max_length=64, index=True)
    at: datetime = _time(index=True)
    reason: str = Field(max_length=16)


# What migrations 0016 and 0021 add for search beside `faq_articles` and SQLModel cannot describe: SQLite's FTS5
# table (and the shadow tables FTS5 makes), PostgreSQL's generated columns and their GIN indexes. Alembic's
# comparison leaves them out (migrations/env.py).
SEARCH_TABLE_PREFIX = "faq_fts"
SEARCH_INDEX_NAMES = frozenset(
    {"search_vector", "ix_faq_articles_search", "question_vector", "ix_faq_articles_question"}
)
# Migration 0020: the public FAQ's topic counts read this covering index, not every entry's answer. It differs per
# database (PostgreSQL has no B-tree for `json`: there `topics` is an INCLUDE column), which the model cannot
# declare, so the comparison leaves it out.
DIALECT_INDEX_NAMES = frozenset({"ix_faq_articles_scope_topics"})


class FaqRow(SQLModel, table=True):
    """The knowledge base (router.faq_entries). The search index lives beside it, per database (0016):
    SQLite an FTS5 table kept by triggers, PostgreSQL a generated `search_vector` column with a GIN index;
    neither is declared here, since SQLModel cannot describe them and nothing reads them but `search`."""

    __tablename__ = "faq_articles"
    __table_args__ = (
        sa.Index("ix_faq_articles_status_language", "status", "language"),
        # the public pages' newest answers, read in this order with a LIMIT (uow.faq.newest, migration 0020)
        sa.Index("ix_faq_articles_published_order", "status", "published_at", "updated_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    question: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    answer: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    answer_text: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    language: str = Field(max_length=16)
    queue_slug: str | None = Field(default=None, max_length=64, index=True)
    topics: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]"))
    status: str = Field(max_length=16)
    source_conversation_id: str | None = Field(default=None, max_length=32, index=True)
    translation_of: int | None = Field(default=None, index=True)
    created_at: datetime = _time()
    updated_at: datetime = _time(index=True)
    published_at: datetime | None = _time(nullable=True)


class FaqWordRow(SQLModel, table=True):
    """Every word the knowledge base has held: what a misspelt search word is corrected against."""

    __tablename__ = "faq_words"
    word: str = Field(primary_key=True, max_length=64)


class FaqUsageRow(SQLModel, table=True):
    """router.faq_usage's counters. "" and 0 stand for "none" (article, language, queue, query), so
    that the unique key, which the upsert counts on, treats them as equal (NULLs never are)."""

    __tablename__ = "faq_usage"
    __table_args__ = (
        sa.UniqueConstraint(
            "day", "kind", "article_id", "language", "queue_slug", "query", name="uq_faq_usage_counter"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    kind: str = Field(max_length=16)
    article_id: int = 0
    language: str = Field(default="", max_length=16)
    queue_slug: str = Field(default="", max_length=64)
    query: str = Field(default="", max_length=100)
    count: int = 0
