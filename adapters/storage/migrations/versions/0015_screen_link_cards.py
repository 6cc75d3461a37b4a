"""link cards: a `!show` link on a staff message, and each queue's list of sites staff may send patrons to

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link", sa.JSON(), nullable=True))
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_sites", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("link_sites")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("link")
