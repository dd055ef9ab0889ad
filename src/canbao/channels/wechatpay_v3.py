"""WeChat Pay API v3 payment notifications (微信支付 APIv3 支付结果通知), as WeChat Pay publishes them:

1. the signature: ``Wechatpay-Signature`` is base64 SHA256-RSA (PKCS#1 v1.5) over
   ``{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{body}\\n``, verified with the platform public key named by
   ``Wechatpay-Serial``; a timestamp more than 5 minutes from the real time is refused (a replayed capture);
2. the body: ``{"id", "create_time", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
   "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext", "nonce", "associated_data", "original_type"}}``;
3. ``resource.ciphertext`` (base64; the tag is its last 16 bytes) decrypted with the 32-byte APIv3 key, the
   resource's nonce (12 bytes) and associated data: the transaction, with ``out_trade_no``,
   ``transaction_id``, ``trade_state`` (SUCCESS), ``success_time`` (RFC 3339) and ``amount.total`` (fen).

The answer to WeChat Pay is 200 or 204 with no body on success, and 4xx/5xx with
``{"code": "FAIL", "message": …}`` otherwise (WeChat Pay then retries).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from canbao.channels import ChannelPayment, NotificationRefused, QueryAnswer

KIND = "wechatpay_v3"
MAX_SKEW = dt.timedelta(minutes=5)
HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial")


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """The platform's public key from PEM (a public key, or the platform certificate's)."""
    from cryptography import x509

    try:
        key = (
            x509.load_pem_x509_certificate(pem).public_key()
            if b"CERTIFICATE" in pem
            else serialization.load_pem_public_key(pem)
        )
    except ValueError as exc:
        raise NotificationRefused(f"微信支付平台公钥无法读取：{exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotificationRefused("微信支付平台公钥应为 RSA 公钥")
    return key


def _header(headers: Mapping[str, str], name: str) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get(name.lower())
    if not value:
        raise NotificationRefused(f"缺少请求头 {name}")
    return value


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    public_keys: Mapping[str, rsa.RSAPublicKey],
    now: dt.datetime,
) -> None:
    """Refuse unless the headers' signature over the body is the platform's, by the key its serial names,
    and its timestamp is within MAX_SKEW of `now` (the real time, aware)."""
    serial = _header(headers, "Wechatpay-Serial")
    key = public_keys.get(serial)
    if key is None:
        raise NotificationRefused(f"未知的微信支付平台证书序列号 {serial}")
    timestamp, nonce = _header(headers, "Wechatpay-Timestamp"), _header(headers, "Wechatpay-Nonce")
    if not timestamp.isdigit():
        raise NotificationRefused("Wechatpay-Timestamp 应为秒数")
    sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    if abs(now - sent) > MAX_SKEW:
        raise NotificationRefused("通知的时间戳与当前时间相差超过 5 分钟")
    try:
        signature = base64.b64decode(_header(headers, "Wechatpay-Signature"), validate=True)
    except (binascii.Error, ValueError):
        raise NotificationRefused("Wechatpay-Signature 不是有效的 base64") from None
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise NotificationRefused("微信支付通知签名验证失败") from None


def decrypt_resource(resource: Mapping[str, Any], api_v3_key: bytes) -> dict[str, Any]:
    """The notification's resource decrypted (AEAD_AES_256_GCM with the APIv3 key) as JSON."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotificationRefused(f"不支持的加密算法 {resource.get('algorithm')!r}")
    if len(api_v3_key) != 32:
        raise NotificationRefused("APIv3 密钥应为 32 个字节")
    try:
        plain = AESGCM(api_v3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"]), validate=True),
            str(resource.get("associated_data") or "").encode(),
        )
        data: dict[str, Any] = json.loads(plain)
    except (InvalidTag, KeyError, binascii.Error, ValueError):
        raise NotificationRefused("通知的 resource 无法用 APIv3 密钥解密") from None
    return data


def read_notification(
    headers: Mapping[str, str],
    body: bytes,
    *,
    public_keys: Mapping[str, rsa.RSAPublicKey],
    api_v3_key: bytes,
    now: dt.datetime,
) -> ChannelPayment:
    """A verified TRANSACTION.SUCCESS notification as a ChannelPayment; NotificationRefused otherwise."""
    verify_signature(headers, body, public_keys, now)
    try:
        event = json.loads(body)
        resource = event["resource"]
    except (ValueError, KeyError, TypeError):
        raise NotificationRefused("通知内容不是微信支付的 JSON 格式") from None
    if event.get("event_type") != "TRANSACTION.SUCCESS":
        raise NotificationRefused(f"不是支付成功通知（{event.get('event_type')}）")
    return _transaction_payment(
        decrypt_resource(resource, api_v3_key), str(event.get("id")) if event.get("id") else None
    )


def _transaction_payment(t: Mapping[str, Any], notification_id: str | None) -> ChannelPayment:
    """A SUCCESS transaction (a notification's resource, a query's answer) as a ChannelPayment."""
    if t.get("trade_state") != "SUCCESS":
        raise NotificationRefused(f"交易状态不是成功（{t.get('trade_state')}）")
    try:
        amount = t["amount"]["total"]
        succeeded = dt.datetime.fromisoformat(str(t["success_time"]))
        out_trade_no, transaction_id = str(t["out_trade_no"]), str(t["transaction_id"])
    except (KeyError, TypeError, ValueError):
        raise NotificationRefused("交易内容缺少订单号、交易号、金额或支付时间") from None
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or succeeded.tzinfo is None:
        raise NotificationRefused("交易金额应为正整数（分），支付时间应带时区")
    return ChannelPayment(
        KIND, notification_id, out_trade_no, transaction_id, amount, succeeded,
        str(t.get("mchid")) if t.get("mchid") else None,
    )  # fmt: skip


# --- 主动查单: 查询订单（商户订单号查询） ------------------------------------------------------------------------

API = "https://api.mch.weixin.qq.com"  # WeChat Pay's published API address


def query_path(out_trade_no: str, mchid: str) -> str:
    """The path and query of `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={mchid}`."""
    return f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}?mchid={quote(mchid, safe='')}"


def authorization(
    method: str, path: str, body: bytes, *, mchid: str, serial: str, private_key: rsa.RSAPrivateKey,
    at: dt.datetime, nonce: str,
) -> str:  # fmt: skip
    """The request's `Authorization` header: SHA256-RSA (PKCS#1 v1.5) with the merchant's API key over
    ``{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n``, as WeChat Pay's APIv3 signs a merchant's request."""
    timestamp = str(int(at.timestamp()))
    message = f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial}"'
    )


def _signed_answer(
    status: int, headers: Mapping[str, str], body: bytes, public_keys: Mapping[str, rsa.RSAPublicKey],
    now: dt.datetime, what: str,
) -> dict[str, Any]:  # fmt: skip
    """An answer of WeChat Pay's API, its Wechatpay-* signature verified as a notification's, as a JSON object."""
    verify_signature(headers, body, public_keys, now)
    return _json_object(body, f"{what}应答不是 JSON（HTTP {status}）")


def _json_object(body: bytes, refusal: str) -> dict[str, Any]:
    """The body as a JSON object; NotificationRefused with `refusal` for anything else."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise NotificationRefused(refusal)
    return data


def read_query_answer(
    status: int, headers: Mapping[str, str], body: bytes, *, public_keys: Mapping[str, rsa.RSAPublicKey],
    now: dt.datetime, out_trade_no: str,
) -> QueryAnswer:  # fmt: skip
    """The query's answer, its signature verified as a notification's: the payment when SUCCESS; NOTPAY,
    CLOSED … or ORDER_NOT_EXIST (never paid) without one; NotificationRefused for anything else."""
    data = _signed_answer(status, headers, body, public_keys, now, "查单")
    if status == 404 and data.get("code") == "ORDER_NOT_EXIST":
        return QueryAnswer(None, "ORDER_NOT_EXIST", "微信支付无此订单：居民尚未支付")
    if status != 200:
        raise NotificationRefused(f"查单失败（HTTP {status}）：{data.get('code')} {data.get('message')}")
    state = str(data.get("trade_state"))
    if state != "SUCCESS":
        return QueryAnswer(None, state, f"未支付：{data.get('trade_state_desc') or state}")
    payment = _transaction_payment(data, None)
    if payment.out_trade_no != out_trade_no:
        raise NotificationRefused(f"查单应答的订单号 {payment.out_trade_no} 不是所查的 {out_trade_no}")
    return QueryAnswer(payment, state, f"已支付：交易号 {payment.transaction_id}")


def failure_body(message: str) -> dict[str, str]:
    """The answer WeChat Pay reads on a refusal (with a 4xx or 5xx status)."""
    return {"code": "FAIL", "message": message}


# --- JSAPI 支付: 网页授权 openid, JSAPI 下单, the page's 调起支付 -------------------------------------------------
# https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
# https://pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/direct-jsons/jsapi-prepay.html
# https://pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/jsapi-transfer-payment.html

OAUTH = "https://open.weixin.qq.com"  # 网页授权: the payer's browser is sent here
SNS = "https://api.weixin.qq.com"  # code → openid: canbao asks here
JSAPI_PATH = "/v3/pay/transactions/jsapi"


def authorize_url(oauth: str, *, appid: str, redirect_uri: str, state: str) -> str:
    """网页授权 snsapi_base (silent: the openid only): WeChat sends the browser back to `redirect_uri` with
    ``code`` and ``state``."""
    query = urlencode(
        {"appid": appid, "redirect_uri": redirect_uri, "response_type": "code", "scope": "snsapi_base",
         "state": state}
    )  # fmt: skip
    return f"{oauth}/connect/oauth2/authorize?{query}#wechat_redirect"


def token_url(sns: str, *, appid: str, secret: str, code: str) -> str:
    query = urlencode({"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"})
    return f"{sns}/sns/oauth2/access_token?{query}"


def read_openid(body: bytes) -> str:
    """The openid of sns/oauth2/access_token's answer; NotificationRefused with WeChat's errcode otherwise."""
    data = _json_object(body, "微信网页授权的应答不是 JSON")
    openid = data.get("openid")
    if data.get("errcode") or not isinstance(openid, str) or not openid:
        raise NotificationRefused(f"微信网页授权失败：{data.get('errcode')} {data.get('errmsg')}")
    return openid


def jsapi_body(
    *, appid: str, mchid: str, description: str, out_trade_no: str, notify_url: str, amount_fen: int, openid: str
) -> bytes:
    """JSAPI 下单's body: amount in fen, CNY; the payer by openid (under `appid`)."""
    order = {
        "appid": appid, "mchid": mchid, "description": description[:127], "out_trade_no": out_trade_no,
        "notify_url": notify_url, "amount": {"total": amount_fen, "currency": "CNY"}, "payer": {"openid": openid},
    }  # fmt: skip
    return json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_prepay(
    status: int, headers: Mapping[str, str], body: bytes, *, public_keys: Mapping[str, rsa.RSAPublicKey],
    now: dt.datetime,
) -> str:  # fmt: skip
    """JSAPI 下单's answer, its Wechatpay-* signature verified: the prepay_id; NotificationRefused otherwise."""
    data = _signed_answer(status, headers, body, public_keys, now, "下单")
    prepay = data.get("prepay_id")
    if status != 200 or not isinstance(prepay, str) or not prepay:
        raise NotificationRefused(f"下单失败（HTTP {status}）：{data.get('code')} {data.get('message')}")
    return prepay


def pay_request(
    *, appid: str, prepay_id: str, private_key: rsa.RSAPrivateKey, at: dt.datetime, nonce: str
) -> dict[str, str]:
    """The parameters of ``WeixinJSBridge.invoke("getBrandWCPayRequest", …)``: paySign is base64 SHA256withRSA
    with the merchant's key over ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``."""
    timestamp, package = str(int(at.timestamp())), f"prepay_id={prepay_id}"
    message = f"{appid}\n{timestamp}\n{nonce}\n{package}\n".encode()
    signature = base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
    return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": signature}  # fmt: skip
