"""staff duty

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 02:26:54.605711
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty",
        sa.Column("queue_slug", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=255), nullable=False),
        sa.Column("staff_name", sa.String(length=255), nullable=False),
        sa.Column("on", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_active", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_slug"],
            ["queues.slug"],
        ),
        sa.PrimaryKeyConstraint("queue_slug", "staff_id"),
    )


def downgrade() -> None:
    op.drop_table("duty")
