"""admin accounts, statistics fields, READ and tags, FAQ candidates, retention, attempts while closed

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 18:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_staff_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("after_hours", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("read_level", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("faq_candidate", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_conversations_anonymised_at", ["anonymised_at"], unique=False)

    op.create_table(
        "admins",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_slug", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["queue_slug"], ["queues.slug"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attempts_queue_slug", "attempts", ["queue_slug"], unique=False)
    op.create_index("ix_attempts_at", "attempts", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attempts_at", table_name="attempts")
    op.drop_index("ix_attempts_queue_slug", table_name="attempts")
    op.drop_table("attempts")
    op.drop_table("admins")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_anonymised_at")
        for column in ("anonymised_at", "faq_candidate", "tags", "read_level", "after_hours", "first_staff_at"):
            batch_op.drop_column(column)
