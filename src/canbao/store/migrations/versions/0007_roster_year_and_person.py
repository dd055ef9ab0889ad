"""A roster import keeps its benefit year, and each accepted row its person

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Last year's enrollees were found by matching a million roster rows to persons by ID number on every
question (season open, progress, the door-to-door list): seconds each at county size.  With the person id on
the row and the year on the batch they are an integer select.  Rows imported before keep a null year (read
as "last year's", as before) and get their person id here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_batches") as batch_op:
        batch_op.add_column(sa.Column("benefit_year", sa.Integer(), nullable=True))
    with op.batch_alter_table("import_rows") as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
    op.execute(
        "UPDATE import_rows SET person_id = (SELECT persons.id FROM persons WHERE persons.id_number = "
        "import_rows.id_number) WHERE outcome = 'accepted'"
    )


def downgrade() -> None:
    with op.batch_alter_table("import_rows") as batch_op:
        batch_op.drop_column("person_id")
    with op.batch_alter_table("import_batches") as batch_op:
        batch_op.drop_column("benefit_year")
