"""patron channel: a chat whose patron writes from their own chat app (a Matrix DM), and where it reaches them

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patron_channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("patron_address", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_conversations_patron_address", ["patron_channel", "patron_address"])


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_patron_address")
        batch_op.drop_column("patron_address")
        batch_op.drop_column("patron_channel")
