"""Residents' online payments: orders, the notification inbox, resident throttling, refund requests and
certificates (issue 15); the ledger keeps an online payment's order beside the channel's transaction id

Revision ID: 0015_online_payments
Revises: 0014_payment_channels
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_online_payments"
down_revision = "0014_payment_channels"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
At = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("out_trade_no", sa.String(32)))
    op.create_table(
        "orders",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("out_trade_no", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("channel_kind", sa.String(20), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("benefit_year", sa.Integer, nullable=False),
        sa.Column("payer_id_number", sa.String(18), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", At, nullable=False),
        sa.Column("paid_at", At),
        sa.Column("channel_txn_id", sa.String(64)),
        sa.Column("queried_at", At),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("out_trade_no", name="uq_orders_out_trade_no"),
    )
    op.create_index("ix_orders_status_created", "orders", ["status", "created_at"])
    op.create_index("ix_orders_payer", "orders", ["payer_id_number"])
    op.create_table(
        "order_persons",
        sa.Column("order_id", Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("application", sa.Text, nullable=False),
        sa.Column("township", sa.String(64)),
        sa.Column("village", sa.String(64)),
        sa.Column("phone", sa.String(20)),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("enrollment_id", Id),
        sa.PrimaryKeyConstraint("order_id", "seq", name="pk_order_persons"),
    )
    op.create_index("ix_order_persons_id_number", "order_persons", ["id_number"])
    op.create_table(
        "channel_notifications",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("channel_kind", sa.String(20), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("out_trade_no", sa.String(64), nullable=False),
        sa.Column("notification_id", sa.String(64)),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("succeeded_at", At, nullable=False),
        sa.Column("received_at", At, nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("flag_reason", sa.Text),
        sa.Column("claimed_by", sa.String(32)),
        sa.Column("claimed_at", At),
        sa.Column("applied_at", At),
        sa.PrimaryKeyConstraint("id", name="pk_channel_notifications"),
        sa.UniqueConstraint("channel", "transaction_id", name="uq_channel_notifications_txn"),
    )
    op.create_index("ix_channel_notifications_status", "channel_notifications", ["status", "id"])
    op.create_table(
        "resident_attempts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", At, nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("id_sha256", sa.String(64)),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("failed", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resident_attempts"),
    )
    op.create_index("ix_resident_attempts_address_at", "resident_attempts", ["address", "at"])
    op.create_index("ix_resident_attempts_id_at", "resident_attempts", ["id_sha256", "at"])
    op.create_table(
        "refund_requests",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("enrollment_id", Id, nullable=False),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("refundable", sa.Boolean, nullable=False),
        sa.Column("amount_fen", sa.BigInteger),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("requested_at", At, nullable=False),
        sa.Column("requested_on", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refund_requests"),
    )
    op.create_index("ix_refund_requests_enrollment_id", "refund_requests", ["enrollment_id"])
    op.create_table(
        "certificates",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("enrollment_id", Id, nullable=False),
        sa.Column("issued_at", At, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_certificates"),
    )
    op.create_index("ix_certificates_enrollment_id", "certificates", ["enrollment_id"])


def downgrade() -> None:
    for table in ("certificates", "refund_requests", "resident_attempts", "channel_notifications"):
        op.drop_table(table)
    op.drop_table("order_persons")
    op.drop_table("orders")
    op.drop_column("ledger_entries", "out_trade_no")
