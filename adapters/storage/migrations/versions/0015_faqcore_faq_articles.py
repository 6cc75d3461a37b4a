"""faq_articles: the knowledge base, with a full-text index per database; faq_words: its vocabulary

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:00:00

SQLite: an external-content FTS5 table over question, answer text and topics (porter stemming,
accents folded), kept in step by triggers, so every write path (the app, `refdesk db copy`) indexes.
PostgreSQL: a stored generated `search_vector` (question weighted A, topics B, answer C) built with
the entry's language's text search configuration (english, spanish, french, else simple), under a
GIN index (fastupdate off). `faq_words` holds the words entries have used, for correcting misspelt searches.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

CONFIG = (
    "CASE language WHEN 'en' THEN 'english'::regconfig WHEN 'es' THEN 'spanish'::regconfig "
    "WHEN 'fr' THEN 'french'::regconfig ELSE 'simple'::regconfig END"
)
SEARCH_VECTOR = (
    f"setweight(to_tsvector({CONFIG}, coalesce(question, '')), 'A') || "
    f"setweight(to_tsvector({CONFIG}, coalesce(topics::text, '')), 'B') || "
    f"setweight(to_tsvector({CONFIG}, coalesce(answer_text, '')), 'C')"
)
FTS_COLUMNS = "question, answer_text, topics"
SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE faq_fts USING fts5(question, answer_text, topics, content='faq_articles', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER faq_articles_ai AFTER INSERT ON faq_articles BEGIN "
    f"INSERT INTO faq_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, new.question, new.answer_text, new.topics); END",
    f"CREATE TRIGGER faq_articles_ad AFTER DELETE ON faq_articles BEGIN "
    f"INSERT INTO faq_fts(faq_fts, rowid, {FTS_COLUMNS}) "
    f"VALUES ('delete', old.id, old.question, old.answer_text, old.topics); END",
    f"CREATE TRIGGER faq_articles_au AFTER UPDATE ON faq_articles BEGIN "
    f"INSERT INTO faq_fts(faq_fts, rowid, {FTS_COLUMNS}) "
    f"VALUES ('delete', old.id, old.question, old.answer_text, old.topics); "
    f"INSERT INTO faq_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, new.question, new.answer_text, new.topics); END",
]


def upgrade() -> None:
    op.create_table(
        "faq_articles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answer_text", sa.Text(), nullable=False, server_default=""),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("queue_slug", sa.String(length=64), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_conversation_id", sa.String(length=32), nullable=True),
        sa.Column("translation_of", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_faq_articles_status_language", "faq_articles", ["status", "language"])
    op.create_index("ix_faq_articles_queue_slug", "faq_articles", ["queue_slug"])
    op.create_index("ix_faq_articles_source_conversation_id", "faq_articles", ["source_conversation_id"])
    op.create_index("ix_faq_articles_translation_of", "faq_articles", ["translation_of"])
    op.create_index("ix_faq_articles_updated_at", "faq_articles", ["updated_at"])
    op.create_table("faq_words", sa.Column("word", sa.String(length=64), primary_key=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE faq_articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({SEARCH_VECTOR}) STORED"
        )
        # fastupdate off: without it new rows wait in GIN's pending list until a vacuum, and the planner,
        # counting that list, scans the whole table instead (measured: bench/faq_search.py). Entries are
        # written rarely and read on every search, so writes pay for the index at once.
        op.execute(
            "CREATE INDEX ix_faq_articles_search ON faq_articles USING gin (search_vector) WITH (fastupdate = off)"
        )
    else:
        for statement in SQLITE_INDEX:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name in ("faq_articles_au", "faq_articles_ad", "faq_articles_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS faq_fts")
    op.drop_table("faq_words")
    op.drop_table("faq_articles")
