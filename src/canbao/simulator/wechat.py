"""WeChat Pay API v3 as it sends: the payment notification (支付成功回调通知) and the order query answer
(商户订单号查询订单), signed as WeChat Pay signs.

Published at https://pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/payment-notice.html (the notification,
its body and resource; formerly wiki/doc/apiv3/apis/chapter3_1_5.shtml), .../apis/jsapi-payment/
query-by-out-trade-no.html (the query) and https://wechatpay-api.gitbook.io/wechatpay-api-v3/qian-ming-zhi-nan-1/
qian-ming-yan-zheng (the signature of answers and notifications):

- headers ``Wechatpay-Timestamp`` (seconds), ``Wechatpay-Nonce`` (a random string), ``Wechatpay-Serial`` (the
  platform certificate's serial), ``Wechatpay-Signature`` = base64 SHA256withRSA over
  ``timestamp\\nnonce\\nbody\\n`` with the platform private key, and ``Wechatpay-Signature-Type``
  ``WECHATPAY2-SHA256-RSA2048``;
- the body ``{id, create_time, resource_type: "encrypt-resource", event_type: "TRANSACTION.SUCCESS",
  summary: "支付成功", resource: {original_type: "transaction", algorithm: "AEAD_AES_256_GCM", ciphertext,
  associated_data, nonce}}``; ``ciphertext`` is base64 of AES-256-GCM (the APIv3 key, the 12-character nonce,
  the associated data) with the 16-byte tag appended, over the transaction's JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import string
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from canbao.clock import CAMPAIGN_ZONE
from canbao.simulator.keys import ChannelKeys

KIND = "wechatpay_v3"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CONTENT_TYPE = "application/json"
ASSOCIATED_DATA = "transaction"
_ALNUM = string.ascii_letters + string.digits


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def rfc3339(at: dt.datetime) -> str:
    """Beijing time with its offset, to the second, as WeChat Pay writes times: 2026-12-01T10:34:56+08:00."""
    return at.astimezone(CAMPAIGN_ZONE).replace(microsecond=0).isoformat()


def new_transaction_id(paid_at: dt.datetime) -> str:
    """28 digits like WeChat Pay's (4200001180 20210819 1793854834): a prefix, the day paid, a sequence."""
    return "420000" + _digits(4) + paid_at.astimezone(CAMPAIGN_ZONE).strftime("%Y%m%d") + _digits(10)


def new_openid() -> str:
    """An openid's shape (28 characters, o + base64url-like), e.g. oUpF8uMuAJO_M2pxb1Q9zNjWeS6o."""
    return "o" + "".join(secrets.choice(_ALNUM + "_-") for _ in range(27))


def new_notification_id() -> str:
    """WeChat Pay's notification ids are UUID-shaped (f7c34059-0f2d-5b32-ba33-a42dks0597c5)."""
    return str(uuid.uuid4())


def transaction(
    keys: ChannelKeys,
    *,
    out_trade_no: str,
    amount_fen: int,
    paid_at: dt.datetime,
    transaction_id: str,
    openid: str,
    attach: str = "",
) -> dict[str, Any]:
    """The transaction a success notification carries (its plaintext) and a SUCCESS query answers."""
    return {
        "appid": keys.appid, "mchid": keys.merchant_id, "out_trade_no": out_trade_no,
        "transaction_id": transaction_id, "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": attach, "success_time": rfc3339(paid_at),
        "payer": {"openid": openid},
        "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY", "payer_currency": "CNY"},
    }  # fmt: skip


def not_paid(keys: ChannelKeys, *, out_trade_no: str, amount_fen: int) -> dict[str, Any]:
    """A placed order not yet paid, as the query answers it (trade_state NOTPAY)."""
    return {
        "appid": keys.appid, "mchid": keys.merchant_id, "out_trade_no": out_trade_no, "trade_state": "NOTPAY",
        "trade_state_desc": "订单未支付", "amount": {"total": amount_fen, "currency": "CNY", "payer_currency": "CNY"},
        "promotion_detail": [],
    }  # fmt: skip


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encrypt_resource(api_v3_key: bytes, plain: dict[str, Any]) -> dict[str, str]:
    """The notification's `resource`: AEAD_AES_256_GCM with the APIv3 key, a 12-character nonce and the
    associated data "transaction"; the ciphertext base64, its tag the last 16 bytes."""
    nonce = "".join(secrets.choice(_ALNUM) for _ in range(12))
    sealed = AESGCM(api_v3_key).encrypt(nonce.encode(), _json(plain), ASSOCIATED_DATA.encode())
    return {
        "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode("ascii"), "associated_data": ASSOCIATED_DATA, "nonce": nonce,
    }  # fmt: skip


def notification_body(
    keys: ChannelKeys, plain: dict[str, Any], *, notification_id: str, created_at: dt.datetime
) -> bytes:
    """The success notification's body, compact JSON as WeChat Pay sends it."""
    assert keys.api_v3_key is not None
    return _json({
        "id": notification_id, "create_time": rfc3339(created_at), "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": encrypt_resource(keys.api_v3_key, plain),
    })  # fmt: skip


def sign(private_key: rsa.RSAPrivateKey, timestamp: int, nonce: str, body: bytes) -> str:
    message = str(timestamp).encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def signed_headers(
    keys: ChannelKeys,
    body: bytes,
    at: dt.datetime,
    *,
    signed_body: bytes | None = None,
    private_key: rsa.RSAPrivateKey | None = None,
    serial: str | None = None,
) -> dict[str, str]:
    """The Wechatpay-* headers of a request (or answer) sent at `at` (the real time). `signed_body`,
    `private_key` and `serial` are for the simulator's refused variants only: another body than the one sent,
    a forger's key, a serial canbao does not know."""
    timestamp, nonce = int(at.timestamp()), secrets.token_hex(16).upper()
    return {
        "Wechatpay-Serial": serial or str(keys.serial),
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(
            private_key or keys.private_key, timestamp, nonce, body if signed_body is None else signed_body
        ),
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        "Content-Type": CONTENT_TYPE,
    }


def query_answer(keys: ChannelKeys, found: dict[str, Any] | None, at: dt.datetime) -> tuple[int, dict[str, str], bytes]:
    """The answer to GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…: 200 with the transaction
    (SUCCESS, or NOTPAY), or 404 ORDER_NOT_EXIST; signed with the same header scheme as notifications."""
    if found is None:
        status, body = 404, _json({"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
    else:
        status, body = 200, _json(found)
    headers = signed_headers(keys, body, at) | {"Request-ID": str(uuid.uuid4())}
    return status, headers, body


def error_answer(
    keys: ChannelKeys | None, status: int, code: str, message: str, at: dt.datetime
) -> tuple[int, dict[str, str], bytes]:
    body = _json({"code": code, "message": message})
    headers = signed_headers(keys, body, at) if keys is not None else {"Content-Type": CONTENT_TYPE}
    return status, headers, body
