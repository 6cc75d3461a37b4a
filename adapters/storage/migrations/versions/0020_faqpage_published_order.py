"""faq pages: the indexes behind the public FAQ's newest answers and topic counts (uow.faq.newest, topic_counts)

`ix_faq_articles_published_order` (status, published_at, updated_at, id): the newest published entries are
read in index order and the LIMIT stops the scan, instead of sorting every published entry per request.
SQLite also gets `ix_faq_articles_scope_topics` (status, language, queue_slug, topics), a covering index: the
topic counts read the index alone (a few bytes per entry) instead of every entry with its whole answer.
PostgreSQL cannot put its `json` column in a B-tree; it counts from the table (bench/faq_search.py).

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
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_faq_articles_scope_topics", "faq_articles", ["status", "language", "queue_slug", "topics"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_faq_articles_scope_topics", table_name="faq_articles")
    with op.batch_alter_table("faq_articles", schema=None) as batch_op:
        batch_op.drop_index("ix_faq_articles_published_order")
