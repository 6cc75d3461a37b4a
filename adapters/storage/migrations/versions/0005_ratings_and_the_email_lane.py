"""ratings and the email lane

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 02:10:48.714549
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.String(length=2000), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.String(length=16), server_default="staff", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("lane")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("rating_comment")
        batch_op.drop_column("rating")
