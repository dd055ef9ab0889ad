"""The channels' pay step (issue 15): WeChat's appid and app secret (网页授权 snsapi_base), its OAuth hosts,
and canbao's public address for notify_url, return_url and redirect_uri

Revision ID: 0017_pay_step
Revises: 0016_order_queries
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_pay_step"
down_revision = "0016_order_queries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_channels") as t:
        t.add_column(sa.Column("app_id", sa.String(64)))  # WeChat: the official account's appid
        t.add_column(sa.Column("app_secret", sa.Text))  # WeChat: its AppSecret (never shown)
        t.add_column(sa.Column("public_url", sa.String(200)))  # canbao's public base URL
        t.add_column(sa.Column("oauth_url", sa.String(200)))  # None: https://open.weixin.qq.com
        t.add_column(sa.Column("sns_url", sa.String(200)))  # None: https://api.weixin.qq.com


def downgrade() -> None:
    with op.batch_alter_table("payment_channels") as t:
        t.drop_column("sns_url")
        t.drop_column("oauth_url")
        t.drop_column("public_url")
        t.drop_column("app_secret")
        t.drop_column("app_id")
