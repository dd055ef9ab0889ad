"""Alipay as it sends: the asynchronous payment notification (异步通知) and the answer to alipay.trade.query
(统一收单交易查询), signed RSA2 as Alipay signs.

Published at https://docs.open.alipay.com/270/105902 (电脑网站支付 异步通知说明, with 验签 and the retries; the
same parameters for 手机网站 and APP: /203/105286, /204/105301) and
https://docs.open.alipay.com/api_1/alipay.trade.query (the query):

- the notification is a form-encoded POST (UTF-8) of ``notify_time, notify_type=trade_status_sync, notify_id,
  app_id, charset, version=1.0, sign_type=RSA2, sign, trade_no, out_trade_no, buyer_id, seller_id,
  trade_status, total_amount, receipt_amount, invoice_amount, buyer_pay_amount, point_amount, gmt_create,
  gmt_payment, subject, fund_bill_list …``; times are Beijing time ``YYYY-MM-DD HH:MM:SS``, amounts yuan with two
  decimals;
- ``sign`` is base64 SHA256withRSA with Alipay's private key over every parameter but ``sign`` and
  ``sign_type``, sorted by name, ``k=v`` joined by ``&``, the values as they are (not URL-encoded);
- the query's answer is ``{"alipay_trade_query_response": {...}, "sign": "..."}`` where ``sign`` is over the
  exact JSON text of the response object as it stands in the answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from canbao.clock import CAMPAIGN_ZONE
from canbao.money import to_yuan
from canbao.simulator.keys import ChannelKeys

KIND = "alipay"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
QUERY_RESPONSE = "alipay_trade_query_response"


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def beijing(at: dt.datetime) -> str:
    """Alipay's times: Beijing time, ``YYYY-MM-DD HH:MM:SS``."""
    return at.astimezone(CAMPAIGN_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def yuan(fen: int) -> str:
    """Alipay's amounts: yuan with two decimals ("40.00")."""
    return str(to_yuan(fen))


def new_trade_no(paid_at: dt.datetime) -> str:
    """28 digits like Alipay's trade_no (2016071921001003030200089909): the day, 22001, a sequence."""
    return paid_at.astimezone(CAMPAIGN_ZONE).strftime("%Y%m%d") + "22001" + _digits(15)


def new_buyer_id() -> str:
    """A buyer's Alipay user id: 2088 and 12 digits."""
    return "2088" + _digits(12)


def new_notify_id() -> str:
    """notify_id's shape (ac05099524730693a8b330c5ecf72da9786): 35 lower-case hex characters."""
    return secrets.token_hex(18)[:35]


def signed_content(params: Mapping[str, str]) -> bytes:
    items = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type"))
    return "&".join(f"{k}={v}" for k, v in items).encode("utf-8")


def sign(private_key: rsa.RSAPrivateKey, content: bytes) -> str:
    return base64.b64encode(private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def notification_params(
    keys: ChannelKeys,
    *,
    out_trade_no: str,
    amount_fen: int,
    paid_at: dt.datetime,
    trade_no: str,
    buyer_id: str,
    notify_id: str,
    notify_time: dt.datetime,
    subject: str = "城乡居民基本医疗保险参保缴费",
) -> dict[str, str]:
    """The notification's parameters, unsigned (see `signed`). The order was created a little before it was
    paid (gmt_create)."""
    amount = yuan(amount_fen)
    return {
        "notify_time": beijing(notify_time), "notify_type": "trade_status_sync", "notify_id": notify_id,
        "app_id": keys.merchant_id, "auth_app_id": keys.merchant_id, "charset": "utf-8", "version": "1.0",
        "trade_no": trade_no, "out_trade_no": out_trade_no, "buyer_id": buyer_id,
        "seller_id": str(keys.seller_id), "trade_status": "TRADE_SUCCESS", "total_amount": amount,
        "receipt_amount": amount, "invoice_amount": amount, "buyer_pay_amount": amount, "point_amount": "0.00",
        "gmt_create": beijing(paid_at - dt.timedelta(seconds=20)), "gmt_payment": beijing(paid_at),
        "subject": subject,
        "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
    }  # fmt: skip


def signed(
    keys: ChannelKeys, params: Mapping[str, str], *, private_key: rsa.RSAPrivateKey | None = None
) -> dict[str, str]:
    """The parameters with `sign_type` RSA2 and `sign` (by Alipay's key, or a forger's for the variants)."""
    out = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    out["sign_type"] = "RSA2"
    out["sign"] = sign(private_key or keys.private_key, signed_content(out))
    return out


def form_body(params: Mapping[str, str]) -> bytes:
    return urlencode(list(params.items()), encoding="utf-8").encode("ascii")


def query_answer(keys: ChannelKeys, found: dict[str, Any] | None, out_trade_no: str) -> bytes:
    """The answer to alipay.trade.query: `found` is the trade (see `trade_success`, `trade_waiting`) or None
    (ACQ.TRADE_NOT_EXIST). The sign is over the exact text of the response object in the answer."""
    if found is None:
        response: dict[str, Any] = {
            "code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在",
            "out_trade_no": out_trade_no, "buyer_pay_amount": "0.00", "invoice_amount": "0.00",
            "point_amount": "0.00", "receipt_amount": "0.00",
        }  # fmt: skip
    else:
        response = {"code": "10000", "msg": "Success", **found}
    text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    signature = sign(keys.private_key, text.encode("utf-8"))
    return ('{"' + QUERY_RESPONSE + '":' + text + ',"sign":"' + signature + '"}').encode("utf-8")


def error_answer(keys: ChannelKeys | None, code: str, msg: str, sub_code: str, sub_msg: str) -> bytes:
    """A refused request's answer (no sign when the app is unknown, as Alipay)."""
    text = json.dumps(
        {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}, ensure_ascii=False, separators=(",", ":")
    )
    tail = f',"sign":"{sign(keys.private_key, text.encode())}"' if keys is not None else ""
    return ('{"error_response":' + text + tail + "}").encode("utf-8")


def trade_success(
    *, out_trade_no: str, trade_no: str, amount_fen: int, paid_at: dt.datetime, buyer_id: str
) -> dict[str, Any]:
    amount = yuan(amount_fen)
    return {
        "trade_no": trade_no, "out_trade_no": out_trade_no, "buyer_logon_id": "138******00",
        "trade_status": "TRADE_SUCCESS", "total_amount": amount, "buyer_pay_amount": amount,
        "point_amount": "0.00", "invoice_amount": amount, "receipt_amount": amount,
        "send_pay_date": beijing(paid_at), "buyer_user_id": buyer_id,
    }  # fmt: skip


def trade_waiting(*, out_trade_no: str, trade_no: str, amount_fen: int) -> dict[str, Any]:
    return {
        "trade_no": trade_no, "out_trade_no": out_trade_no, "trade_status": "WAIT_BUYER_PAY",
        "total_amount": yuan(amount_fen), "buyer_pay_amount": "0.00", "point_amount": "0.00",
        "invoice_amount": "0.00", "receipt_amount": "0.00",
    }  # fmt: skip
