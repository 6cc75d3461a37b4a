"""desk policy: follow-ups, transfers and rollover, staff names, canned responses

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 18:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("transferred_from", sa.String(length=64), nullable=True))

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backup_queue", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("staff_name", sa.String(length=100), server_default="full", nullable=False))

    op.create_table(
        "canned_responses",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("canned_responses")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("staff_name")
        batch_op.drop_column("backup_queue")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("transferred_from")
        batch_op.drop_column("follow_up")
