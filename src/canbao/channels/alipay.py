"""Alipay's asynchronous payment notifications (支付宝异步通知), as Alipay publishes them: a form-encoded POST
whose parameters, without ``sign`` and ``sign_type``, sorted by name and joined as ``k=v`` with ``&`` (the
values URL-decoded), are signed RSA2 (SHA256withRSA, PKCS#1 v1.5) with Alipay's key; ``sign`` is base64.

A success is ``trade_status`` TRADE_SUCCESS or TRADE_FINISHED, with ``out_trade_no``, ``trade_no`` (Alipay's
transaction id), ``total_amount`` (yuan, two decimals) and ``gmt_payment`` (Beijing time,
``YYYY-MM-DD HH:MM:SS``). canbao answers the bare text ``success``; anything else makes Alipay retry.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from canbao.channels import ChannelPayment, NotAPayment, NotificationRefused, QueryAnswer
from canbao.clock import CAMPAIGN_ZONE
from canbao.money import to_yuan

KIND = "alipay"
SUCCESS = ("TRADE_SUCCESS", "TRADE_FINISHED")
ANSWER = "success"


def load_public_key(text: bytes) -> rsa.RSAPublicKey:
    """Alipay's public key: PEM, or the bare base64 body Alipay's console shows."""
    bare = b"-----BEGIN" not in text
    pem = b"-----BEGIN PUBLIC KEY-----\n" + text.strip() + b"\n-----END PUBLIC KEY-----\n" if bare else text
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise NotificationRefused(f"支付宝公钥无法读取：{exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotificationRefused("支付宝公钥应为 RSA 公钥")
    return key


def signed_content(params: Mapping[str, str]) -> bytes:
    """What Alipay signs: every parameter but sign and sign_type, sorted by name, ``k=v`` joined by ``&``."""
    items = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type"))
    return "&".join(f"{k}={v}" for k, v in items).encode("utf-8")


def verify(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    if params.get("sign_type", "RSA2") != "RSA2":
        raise NotificationRefused(f"不支持的签名类型 {params.get('sign_type')!r}（应为 RSA2）")
    try:
        signature = base64.b64decode(params.get("sign") or "", validate=True)
    except (binascii.Error, ValueError):
        raise NotificationRefused("sign 不是有效的 base64") from None
    try:
        public_key.verify(signature, signed_content(params), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise NotificationRefused("支付宝通知签名验证失败") from None


def read_notification(params: Mapping[str, str], *, public_key: rsa.RSAPublicKey) -> ChannelPayment:
    """A verified success notification as a ChannelPayment; NotAPayment when it is verified but another state,
    NotificationRefused otherwise."""
    verify(params, public_key)
    status = params.get("trade_status")
    if status not in SUCCESS:
        raise NotAPayment(str(status), str(params.get("trade_no") or params.get("out_trade_no") or "（无交易号）"))
    return _trade_payment(params, "gmt_payment", params.get("notify_id"), params.get("app_id"))


def _trade_payment(
    trade: Mapping[str, Any], paid_field: str, notification_id: str | None, app_id: str | None
) -> ChannelPayment:
    """A successful trade (a notification's parameters, a query's response) as a ChannelPayment."""
    try:
        yuan = Decimal(str(trade["total_amount"]))
        paid = dt.datetime.strptime(str(trade[paid_field]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CAMPAIGN_ZONE)
        out_trade_no, trade_no = str(trade["out_trade_no"]), str(trade["trade_no"])
    except (KeyError, InvalidOperation, ValueError):
        raise NotificationRefused("缺少订单号、交易号、金额或支付时间，或格式不对") from None
    fen = yuan * 100
    if yuan <= 0 or fen != fen.to_integral_value():
        raise NotificationRefused(f"金额“{trade['total_amount']}”应为正数，至多两位小数")
    return ChannelPayment(KIND, notification_id, out_trade_no, trade_no, int(fen), paid, app_id)


# --- 主动查单: alipay.trade.query -----------------------------------------------------------------------------

GATEWAY = "https://openapi.alipay.com/gateway.do"  # Alipay's published gateway
QUERY_METHOD = "alipay.trade.query"
QUERY_RESPONSE = "alipay_trade_query_response"


def request_content(params: Mapping[str, str]) -> bytes:
    """What a merchant's request is signed over, as Alipay's SDKs build it: every parameter but `sign` (and any
    empty one), sorted by name, ``k=v`` joined by ``&`` — `sign_type` included, the values not URL-encoded."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v and k != "sign").encode("utf-8")


def signed_request(
    app_id: str, method: str, biz: Mapping[str, Any], *, private_key: rsa.RSAPrivateKey, at: dt.datetime,
    **extra: str,
) -> dict[str, str]:  # fmt: skip
    """A request's common parameters (app_id, method, format JSON, charset utf-8, sign_type RSA2, timestamp
    ``yyyy-MM-dd HH:mm:ss`` in Beijing time, version 1.0, any `extra` such as notify_url) and `biz_content`,
    with `sign`: base64 SHA256withRSA (PKCS#1 v1.5) with the merchant's key over `request_content`."""
    params = {
        "app_id": app_id, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
        "timestamp": at.astimezone(CAMPAIGN_ZONE).strftime("%Y-%m-%d %H:%M:%S"), "version": "1.0", **extra,
        "biz_content": json.dumps(dict(biz), ensure_ascii=False, separators=(",", ":")),
    }  # fmt: skip
    signature = private_key.sign(request_content(params), padding.PKCS1v15(), hashes.SHA256())
    params["sign"] = base64.b64encode(signature).decode("ascii")
    return params


def query_params(app_id: str, out_trade_no: str, *, private_key: rsa.RSAPrivateKey, at: dt.datetime) -> dict[str, str]:
    """alipay.trade.query's parameters, signed (`signed_request`)."""
    return signed_request(app_id, QUERY_METHOD, {"out_trade_no": out_trade_no}, private_key=private_key, at=at)


# --- 手机网站支付: alipay.trade.wap.pay (https://opendocs.alipay.com/open/203/107090, 02ivbs) -----------------

WAP_PAY_METHOD = "alipay.trade.wap.pay"
WAP_PRODUCT = "QUICK_WAP_WAY"


def yuan(fen: int) -> str:
    """Integer fen as Alipay's amount: yuan with exactly two decimals (no float on the way)."""
    if fen < 0:
        raise ValueError(fen)
    return str(to_yuan(fen))


def wap_pay_params(
    app_id: str, *, out_trade_no: str, amount_fen: int, subject: str, notify_url: str, return_url: str,
    quit_url: str, private_key: rsa.RSAPrivateKey, at: dt.datetime,
) -> dict[str, str]:  # fmt: skip
    """alipay.trade.wap.pay's signed parameters: the resident's browser takes them to the gateway (GET), where
    Alipay's cashier opens; the payment comes back as the notification at `notify_url`, the browser to
    `return_url`; `quit_url` is where the cashier's 退出 goes."""
    biz = {
        "out_trade_no": out_trade_no, "total_amount": yuan(amount_fen), "subject": subject,
        "product_code": WAP_PRODUCT, "quit_url": quit_url,
    }  # fmt: skip
    return signed_request(
        app_id, WAP_PAY_METHOD, biz, private_key=private_key, at=at, notify_url=notify_url, return_url=return_url
    )


def _response_text(text: str, key: str) -> str | None:
    """The exact text of the object under `key` in Alipay's answer (what its `sign` is over), or None."""
    at = text.find(f'"{key}"')
    if at < 0:
        return None
    start = text.index(":", at) + 1
    while text[start] in " \t\r\n":
        start += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return text[start:end]


def read_query_answer(body: bytes, *, public_key: rsa.RSAPublicKey, out_trade_no: str) -> QueryAnswer:
    """alipay.trade.query's answer, its `sign` verified over the response object's exact text: the payment when
    TRADE_SUCCESS or TRADE_FINISHED; WAIT_BUYER_PAY, TRADE_CLOSED or ACQ.TRADE_NOT_EXIST without one;
    NotificationRefused for anything else."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
        assert isinstance(document, dict)
    except (UnicodeDecodeError, ValueError, AssertionError):
        raise NotificationRefused("查单应答不是 UTF-8 JSON") from None
    if "error_response" in document:
        e = document["error_response"]
        raise NotificationRefused(f"查单被支付宝拒绝：{e.get('code')} {e.get('sub_code')} {e.get('sub_msg')}")
    signed = _response_text(text, QUERY_RESPONSE)
    if signed is None:
        raise NotificationRefused(f"查单应答缺少 {QUERY_RESPONSE}")
    try:
        signature = base64.b64decode(str(document.get("sign") or ""), validate=True)
        public_key.verify(signature, signed.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        raise NotificationRefused("支付宝查单应答签名验证失败") from None
    r = json.loads(signed)
    if r.get("code") == "40004" and r.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        return QueryAnswer(None, "TRADE_NOT_EXIST", "支付宝无此交易：居民尚未支付")
    if r.get("code") != "10000":
        raise NotificationRefused(f"查单失败：{r.get('code')} {r.get('sub_code')} {r.get('sub_msg') or r.get('msg')}")
    state = str(r.get("trade_status"))
    if state not in SUCCESS:
        return QueryAnswer(None, state, f"未支付：{state}")
    payment = _trade_payment(r, "send_pay_date", None, None)
    if payment.out_trade_no != out_trade_no:
        raise NotificationRefused(f"查单应答的订单号 {payment.out_trade_no} 不是所查的 {out_trade_no}")
    return QueryAnswer(payment, state, f"已支付：交易号 {payment.transaction_id}")
