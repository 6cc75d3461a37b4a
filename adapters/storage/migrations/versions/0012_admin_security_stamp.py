"""admin security stamp: a per-account random value that sign-out and password resets replace

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:00:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("security_stamp", sa.String(length=64), server_default="", nullable=False))
    # Existing accounts get a stamp of their own; cookies signed before the upgrade carry none and end.
    admins = sa.table("admins", sa.column("username", sa.String), sa.column("security_stamp", sa.String))
    connection = op.get_bind()
    for (username,) in connection.execute(sa.select(admins.c.username)).all():
        stamp = secrets.token_urlsafe(24)
        connection.execute(admins.update().where(admins.c.username == username).values(security_stamp=stamp))


def downgrade() -> None:
    with op.batch_alter_table("admins", schema=None) as batch_op:
        batch_op.drop_column("security_stamp")
