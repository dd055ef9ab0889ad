"""主动查单 (issue 15): a channel's merchant key and gateway for querying its orders; what an order's query answered

Revision ID: 0016_order_queries
Revises: 0015_online_payments
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_order_queries"
down_revision = "0015_online_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_channels") as t:
        t.add_column(sa.Column("merchant_private_key", sa.Text))  # PEM: signs canbao's queries
        t.add_column(sa.Column("merchant_serial", sa.String(64)))  # WeChat Pay: the merchant certificate's serial
        t.add_column(sa.Column("gateway_url", sa.String(200)))
    with op.batch_alter_table("orders") as t:
        t.add_column(sa.Column("query_answer", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as t:
        t.drop_column("query_answer")
    with op.batch_alter_table("payment_channels") as t:
        t.drop_column("gateway_url")
        t.drop_column("merchant_serial")
        t.drop_column("merchant_private_key")
