"""patron presence: when the patron was last seen (their stream's heartbeat), and chats closed as abandoned

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("abandoned", sa.Boolean(), server_default=sa.false(), nullable=False))
    # Chats started before the upgrade were last seen when they started: a waiting one nobody reconnects
    # to is closed by the first sweep, one whose patron is still there is touched by their stream.
    conversations = sa.table("conversations", sa.column("created_at"), sa.column("last_seen_at"))
    op.execute(conversations.update().values(last_seen_at=conversations.c.created_at))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("abandoned")
        batch_op.drop_column("last_seen_at")
