"""widget origins and offline questions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:58:26.672622
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_origins", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("allowed_origins")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("offline")
