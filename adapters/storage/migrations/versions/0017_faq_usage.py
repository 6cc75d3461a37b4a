"""faq_usage: daily counters of how patrons use the published FAQ (router.faq_usage)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 11:00:00

Counters only, one row per day, kind, entry, language, queue (and, for searches that found
nothing, their scrubbed words): nothing about a patron. "" and 0 stand for "none" so that the
unique key the upsert counts on treats them as equal.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("queue_slug", sa.String(length=64), nullable=False),
        sa.Column("query", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "day", "kind", "article_id", "language", "queue_slug", "query", name="uq_faq_usage_counter"
        ),
    )
    op.create_index("ix_faq_usage_day", "faq_usage", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_faq_usage_day", table_name="faq_usage")
    op.drop_table("faq_usage")
