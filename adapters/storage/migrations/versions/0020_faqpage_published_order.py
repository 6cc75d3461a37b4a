"""faq pages: the indexes behind the public FAQ's newest answers and topic counts (uow.faq.newest, topic_counts)

`ix_faq_articles_published_order` (status, published_at, updated_at, id): the newest published entries are
read in index order and the LIMIT stops the scan, instead of sorting every published entry per request.
`ix_faq_articles_scope_topics` covers the topic counts (uow.faq.published_topics): they read the index alone (a
few bytes per entry) instead of every entry with its whole answer and search index. SQLite has it as
(status, language, queue_slug, topics); PostgreSQL has no B-tree for `json`, so there `topics` is an INCLUDE
column (stored in the index, not compared), which still allows an index-only scan once autovacuum has run.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 17:00:00
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faq_articles", schema=None) as batch_op:
        batch_op.create_index("ix_faq_articles_published_order", ["status", "published_at", "updated_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_faq_articles_scope_topics",
            "faq_articles",
            ["status", "language", "queue_slug"],
            postgresql_include=["topics"],
        )
    else:
        op.create_index("ix_faq_articles_scope_topics", "faq_articles", ["status", "language", "queue_slug", "topics"])


def downgrade() -> None:
    op.drop_index("ix_faq_articles_scope_topics", table_name="faq_articles")
    with op.batch_alter_table("faq_articles", schema=None) as batch_op:
        batch_op.drop_index("ix_faq_articles_published_order")
