"""The payment channels' notifications, as the channels publish them (issue 15): verified and read into one
`ChannelPayment`, or refused with the reason. Pure: no database, no clock of its own (the caller passes the
real time the signature's timestamp is checked against).

- :mod:`canbao.channels.wechatpay_v3` — WeChat Pay API v3: SHA256-RSA over ``timestamp\\nnonce\\nbody\\n``
  with the platform public key, the timestamp within 5 minutes, ``resource`` decrypted with
  AEAD_AES_256_GCM and the APIv3 key.
- :mod:`canbao.channels.alipay` — Alipay's asynchronous notification: RSA2 (SHA256withRSA) over the sorted
  parameters without ``sign`` and ``sign_type``, with the Alipay public key.

Written with `cryptography` (RSA PKCS#1 v1.5 verification, AES-GCM) rather than the channels' SDKs
(wechatpayv3, python-alipay-sdk): those also sign requests, download certificates and call the channels'
servers; a notification's check is these few published steps, and their SDKs pin older dependencies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from canbao.errors import CanbaoError


class NotificationRefused(CanbaoError):
    """A notification that is not the channel's, not intact, too old, or not a success: never applied."""


class NotAPayment(CanbaoError):
    """A notification the channel signed that reports no payment: Alipay's TRADE_CLOSED (an unpaid trade closed
    at its timeout, or a paid one refunded in full: sent by default) or WAIT_BUYER_PAY.  Acknowledged, so that
    the channel stops sending it, and never applied."""

    def __init__(self, status: str, trade: str) -> None:
        super().__init__(f"交易 {trade} 的状态为 {status}，不是支付成功：已收到，不入账")
        self.status, self.trade = status, trade


@dataclass(frozen=True)
class ChannelPayment:
    """What a verified success notification says: the merchant's order, the channel's own transaction id (the
    one the tax and bank records carry), the amount in fen and when the payment succeeded."""

    channel_kind: str  # wechatpay_v3, alipay
    notification_id: str | None  # the channel's id of this notification (WeChat's `id`, Alipay's notify_id)
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    succeeded_at: dt.datetime  # aware
    merchant_id: str | None


@dataclass(frozen=True)
class QueryAnswer:
    """What a channel's order query (主动查单) answered, verified: the payment when the order is paid, else None
    with the channel's state (NOTPAY, ORDER_NOT_EXIST, WAIT_BUYER_PAY …) and the answer in words."""

    payment: ChannelPayment | None
    state: str
    words: str
