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
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from canbao.channels import ChannelPayment, NotificationRefused
from canbao.clock import CAMPAIGN_ZONE

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
    """A verified success notification as a ChannelPayment; NotificationRefused otherwise."""
    verify(params, public_key)
    status = params.get("trade_status")
    if status not in SUCCESS:
        raise NotificationRefused(f"交易状态不是成功（{status}）")
    try:
        yuan = Decimal(params["total_amount"])
        paid = dt.datetime.strptime(params["gmt_payment"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CAMPAIGN_ZONE)
        out_trade_no, trade_no = params["out_trade_no"], params["trade_no"]
    except (KeyError, InvalidOperation, ValueError):
        raise NotificationRefused("通知缺少订单号、交易号、金额或支付时间，或格式不对") from None
    fen = yuan * 100
    if yuan <= 0 or fen != fen.to_integral_value():
        raise NotificationRefused(f"金额“{params['total_amount']}”应为正数，至多两位小数")
    return ChannelPayment(KIND, params.get("notify_id"), out_trade_no, trade_no, int(fen), paid, params.get("app_id"))
