"""A membership keeps the household role its list gives (父母 / 子女 on a daughter/son household list)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24

004 二(三): on a daughter/son household list (农村独（双）女户、独男户) the parents are subsidised at any age,
the daughter or son only until the age the policy names; the health commission's list says which an adult
is.  The list import stores it as ``parent`` or ``child`` (null when the list does not say: every row
imported before) and resolves the subsidy with it; season open can read it from here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_memberships") as batch_op:
        batch_op.add_column(sa.Column("household_role", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_memberships") as batch_op:
        batch_op.drop_column("household_role")
