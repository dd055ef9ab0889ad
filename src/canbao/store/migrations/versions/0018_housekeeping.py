"""Indexes by time of the throttles' attempts and the staff's sessions, for their purge once stale (housekeeping)

Revision ID: 0018_housekeeping
Revises: 0017_pay_step
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0018_housekeeping"
down_revision = "0017_pay_step"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resident_attempts_at", "resident_attempts", ["at"])
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    op.create_index("ix_web_sessions_last_seen", "web_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_last_seen", "web_sessions")
    op.drop_index("ix_login_attempts_at", "login_attempts")
    op.drop_index("ix_resident_attempts_at", "resident_attempts")
