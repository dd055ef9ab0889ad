"""Background jobs of the portal: their state, progress and result (canbao.services.jobs)

Revision ID: 0013_jobs
Revises: 0012_portal_lookup
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_jobs"
down_revision = "0012_portal_lookup"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("today", sa.Date, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("staff", sa.Text, nullable=False),
        sa.Column("runner", sa.String(32)),
        sa.Column("done_steps", sa.BigInteger, nullable=False),
        sa.Column("total_steps", sa.BigInteger, nullable=False),
        sa.Column("stage", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_user", "jobs", ["user_id", "id"])


def downgrade() -> None:
    op.drop_table("jobs")
