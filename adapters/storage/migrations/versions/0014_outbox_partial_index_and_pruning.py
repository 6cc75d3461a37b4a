"""outbox: partial indexes over undelivered rows; inbound_events: an index on seen_at for pruning

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00

`lease_due` looks for the oldest due row with nothing older pending in its conversation. Without
these indexes both lookups walk past every delivered row (they are most of the table, and they
are kept: retention needs their platform ids). A partial index holds only the undelivered rows,
a handful however old the desk is. PostgreSQL and SQLite both support them.

The worker prunes the inbound dedupe log by age (REFDESK_KEEP_DELIVERED_DAYS, router/pruning.py);
`seen_at` indexed keeps that a range scan.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UNDELIVERED = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_outbox_undelivered", "outbox", ["id"], postgresql_where=UNDELIVERED, sqlite_where=UNDELIVERED)
    op.create_index(
        "ix_outbox_undelivered_line",
        "outbox",
        ["conversation_id", "lane", "id"],
        postgresql_where=UNDELIVERED,
        sqlite_where=UNDELIVERED,
    )
    op.create_index("ix_inbound_events_seen_at", "inbound_events", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_events_seen_at", table_name="inbound_events")
    op.drop_index("ix_outbox_undelivered_line", table_name="outbox")
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
