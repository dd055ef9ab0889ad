"""Indexes for the payment rules' lookups: enrollments by person, ledger entries by transaction id

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

A day's payment file looks up its transaction ids and its persons' enrollments; without these indexes each
lookup scanned the whole table once the season had filled it.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_enrollments_person_id", "enrollments", ["person_id"])
    op.create_index("ix_ledger_entries_channel_txn_id", "ledger_entries", ["channel_txn_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_channel_txn_id", "ledger_entries")
    op.drop_index("ix_enrollments_person_id", "enrollments")
