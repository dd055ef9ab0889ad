"""WeChat Pay's further platform keys of a channel: the new certificate beside the old one while WeChat signs
with both (the five-yearly renewal), or the 微信支付公钥 beside the certificate while it switches over

Revision ID: 0020_platform_keys
Revises: 0019_password_reset
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_platform_keys"
down_revision = "0019_password_reset"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channel_platform_keys",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),  # PEM
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_platform_keys"),
        sa.ForeignKeyConstraint(
            ["channel"], ["payment_channels.name"], name="fk_channel_platform_keys_channel_payment_channels"
        ),
        sa.UniqueConstraint("channel", "serial", name="uq_channel_platform_keys_channel"),
    )


def downgrade() -> None:
    op.drop_table("channel_platform_keys")
