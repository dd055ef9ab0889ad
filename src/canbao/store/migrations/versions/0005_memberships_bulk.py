"""Identity memberships without a foreign key to persons

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The last per-row trigger of a list import on PostgreSQL (10.6 s of 21.8 s for 1.1 M rows, see
benchmarks/README.md).  Memberships are written only by the list import, in the same transaction that
registers their persons, and persons are never deleted; the index on person_id stays.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NAME = "fk_identity_memberships_person_id_persons"


def upgrade() -> None:
    with op.batch_alter_table("identity_memberships") as batch_op:
        batch_op.drop_constraint(_NAME, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("identity_memberships") as batch_op:
        batch_op.create_foreign_key(_NAME, "persons", ["person_id"], ["id"])
