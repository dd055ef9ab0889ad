"""Due records without a foreign key to persons

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24

Season open writes a due record per person due (1.1 M for Lingbi, 10 M for a city); on PostgreSQL the
foreign key fires one trigger per row, as it did for the memberships (0005).  Due records are written only
by season open, in the transaction that reads their persons from the registry, and persons are never
deleted; the unique (person_id, benefit_year) index stays.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NAME = "fk_dues_person_id_persons"


def upgrade() -> None:
    with op.batch_alter_table("dues") as batch_op:
        batch_op.drop_constraint(_NAME, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("dues") as batch_op:
        batch_op.create_foreign_key(_NAME, "persons", ["person_id"], ["id"])
