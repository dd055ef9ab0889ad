"""When an account's password was last set by an administrator (a reset): the login throttle counts the
failures after it only

Revision ID: 0019_password_reset
Revises: 0018_housekeeping
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_password_reset"
down_revision = "0018_housekeeping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as t:
        t.add_column(sa.Column("password_set_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("users") as t:
        t.drop_column("password_set_at")
