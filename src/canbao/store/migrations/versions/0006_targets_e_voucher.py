"""Targets per benefit year and village (任务分解表) and e-voucher activations; an index for progress

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

The progress report (issue 6) counts each benefit year's live enrollments by payment date; the index on
(benefit_year, person_id, live, paid_on) lets it count them, and find a person's, from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("benefit_year", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("township", sa.String(64), nullable=False),
        sa.Column("township_code", sa.String(12)),
        sa.Column("village", sa.String(64), nullable=False),
        sa.Column("village_code", sa.String(12)),
        sa.Column("target", sa.Integer, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_targets"),
        sa.UniqueConstraint("benefit_year", "kind", "township", "village", name="uq_targets_place"),
    )
    op.create_table(
        "e_voucher_activations",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("activated_on", sa.Date, nullable=False),
        sa.Column("channel", sa.String(40)),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_e_voucher_activations"),
        sa.UniqueConstraint("person_id", name="uq_e_voucher_activations_person"),
    )
    op.create_index("ix_enrollments_year_person", "enrollments", ["benefit_year", "person_id", "live", "paid_on"])


def downgrade() -> None:
    op.drop_index("ix_enrollments_year_person", "enrollments")
    op.drop_table("e_voucher_activations")
    op.drop_table("targets")
