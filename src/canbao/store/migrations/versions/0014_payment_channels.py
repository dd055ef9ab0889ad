"""The payment channels notifications come from: kind, merchant and verification keys (issue 15)

Revision ID: 0014_payment_channels
Revises: 0013_jobs
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_payment_channels"
down_revision = "0013_jobs"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_channels",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("platform_public_key", sa.Text, nullable=False),
        sa.Column("platform_serial", sa.String(64)),
        sa.Column("api_v3_key", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_channels"),
        sa.UniqueConstraint("name", name="uq_payment_channels_name"),
    )


def downgrade() -> None:
    op.drop_table("payment_channels")
