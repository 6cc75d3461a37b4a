"""queues by staff room: the index behind Queues.for_room (which queues a Slack channel or Matrix room serves)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 14:15:00
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.create_index("ix_queues_room", ["backend", "room"])


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_index("ix_queues_room")
