"""Import rows and identity memberships without a foreign key to their batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A department list of a million rows writes a million import rows and memberships in the same transaction as
their batch; on PostgreSQL each row's foreign-key check to the batch was a trigger call, most of the import's
time (benchmarks/README.md).  The import writes the batch and its rows together, so the reference holds by
construction; the person references keep their foreign keys.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_KEYS = (
    ("import_rows", "fk_import_rows_batch_id_import_batches"),
    ("identity_memberships", "fk_identity_memberships_batch_id_import_batches"),
)


def upgrade() -> None:
    for table, name in _KEYS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name in _KEYS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(name, "import_batches", ["batch_id"], ["id"])
