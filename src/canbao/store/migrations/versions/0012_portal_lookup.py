"""The portal's lookups: persons by name (exact and prefix), audit lines by subject

Revision ID: 0012_portal_lookup
Revises: 0011_accounts
Create Date: 2026-12-01

- `ix_persons_name`: the person search (issue 14: p95 under 100 ms at 1.1 M persons) looks a name up exactly
  and by its beginning.  On PostgreSQL the index uses `varchar_pattern_ops` (byte order, whatever the
  database's collation), which serves `=` and the range `name ~>=~ q AND name ~<~ q⁺` that
  canbao.services.people sends for a prefix; SQLite's index (BINARY collation) serves `=` and `>= / <`.
- `ix_audit_log_subject`: a person's page lists the audit lines about the person (`person:<id>`).

Indexes only.  The revision ids before this one are bare numbers ("0010"); the accounts migration is
"0011_accounts", and this one follows its style.
"""

from __future__ import annotations

from alembic import op

revision = "0012_portal_lookup"
down_revision = "0011_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_persons_name", "persons", ["name"], postgresql_ops={"name": "varchar_pattern_ops"})
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_index("ix_persons_name", "persons")
