"""escalation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 02:45:56.259248
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_stage", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation", sa.JSON(), server_default="{}", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("escalation")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("escalation_stage")
