"""The payment channels' notifications read as the channels publish them (issue 15, first part): WeChat Pay
API v3 (SHA256-RSA over timestamp, nonce and body; AEAD_AES_256_GCM resource) and Alipay (RSA2 over the
sorted parameters). The test plays the channel: it holds the channel's private key and signs as the channel's
documentation says, then tampers with what it sent."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from canbao.channels import NotAPayment, NotificationRefused, alipay, wechatpay_v3
from canbao.clock import CAMPAIGN_ZONE

NOW = dt.datetime(2021, 12, 31, 8, 0, tzinfo=dt.UTC)
CHANNEL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
API_V3_KEY = b"0123456789abcdef0123456789abcdef"
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


# ------------------------------------------------------------------------------------------------ WeChat Pay


def transaction(**changes: Any) -> dict[str, Any]:
    return {
        "mchid": "1230000109", "appid": "wxd678efh567hg6787", "out_trade_no": "CB20211231000001",
        "transaction_id": "4200001234202112318888888888", "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "success_time": "2021-12-31T15:59:58+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 38000, "payer_total": 38000, "currency": "CNY", "payer_currency": "CNY"},
    } | changes  # fmt: skip


def wechat_notification(
    tx: dict[str, Any] | None = None,
    *,
    key: rsa.RSAPrivateKey = CHANNEL_KEY,
    sent: dt.datetime = NOW,
    event_type: str = "TRANSACTION.SUCCESS",
    api_v3_key: bytes = API_V3_KEY,
) -> tuple[dict[str, str], bytes]:
    nonce = os.urandom(6).hex()  # 12 characters, as WeChat Pay's resource nonce
    associated = "transaction"
    plain = json.dumps(tx or transaction(), ensure_ascii=False).encode()
    ciphertext = AESGCM(api_v3_key).encrypt(nonce.encode(), plain, associated.encode())
    body = json.dumps({
        "id": "EV-2018022511223320873", "create_time": "2021-12-31T15:59:59+08:00",
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": associated,
                     "nonce": nonce},
    }, ensure_ascii=False).encode()  # fmt: skip
    timestamp, header_nonce = str(int(sent.timestamp())), "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": header_nonce,
        "Wechatpay-Serial": SERIAL,
        "Wechatpay-Signature": sign(key, f"{timestamp}\n{header_nonce}\n".encode() + body + b"\n"),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body


def read_wechat(headers: dict[str, str], body: bytes, now: dt.datetime = NOW, **kw: Any) -> Any:
    keys = {SERIAL: CHANNEL_KEY.public_key()}
    return wechatpay_v3.read_notification(
        headers, body, public_keys=keys, api_v3_key=kw.get("api_v3_key", API_V3_KEY), now=now
    )


def test_a_wechat_pay_success_notification_is_verified_decrypted_and_read() -> None:
    payment = read_wechat(*wechat_notification())
    assert (payment.channel_kind, payment.out_trade_no, payment.transaction_id) == (
        "wechatpay_v3", "CB20211231000001", "4200001234202112318888888888",
    )  # fmt: skip
    assert payment.amount_fen == 38000 and payment.merchant_id == "1230000109"
    assert payment.succeeded_at == dt.datetime(2021, 12, 31, 15, 59, 58, tzinfo=CAMPAIGN_ZONE)
    assert payment.notification_id == "EV-2018022511223320873"
    headers, body = wechat_notification()
    lowered = {k.lower(): v for k, v in headers.items()}  # HTTP header names are case-insensitive
    assert read_wechat(lowered, body).transaction_id == payment.transaction_id


def test_a_wechat_pay_notification_changed_in_transit_is_refused() -> None:
    headers, body = wechat_notification()
    tampered = body.replace(b"EV-2018022511223320873", b"EV-2018022511223320874")
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_wechat(headers, tampered)
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_wechat(*wechat_notification(key=OTHER_KEY))  # signed by someone else
    with pytest.raises(NotificationRefused, match=r"签名验证失败|base64"):  # WeChat Pay's signature probe
        read_wechat(headers | {"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]}, body)
    with pytest.raises(NotificationRefused, match="证书序列号"):
        read_wechat(headers | {"Wechatpay-Serial": "0000"}, body)
    with pytest.raises(NotificationRefused, match="缺少请求头 Wechatpay-Nonce"):
        read_wechat({k: v for k, v in headers.items() if k != "Wechatpay-Nonce"}, body)


def test_a_wechat_pay_timestamp_more_than_five_minutes_off_is_refused() -> None:
    fine = wechat_notification(sent=NOW - dt.timedelta(minutes=4, seconds=59))
    assert read_wechat(*fine).amount_fen == 38000
    for off in (dt.timedelta(minutes=5, seconds=1), -dt.timedelta(minutes=6)):
        with pytest.raises(NotificationRefused, match="5 分钟"):
            read_wechat(*wechat_notification(sent=NOW - off))


def test_a_wechat_pay_resource_is_read_only_with_the_api_v3_key_and_only_a_success_is_a_payment() -> None:
    with pytest.raises(NotificationRefused, match="无法用 APIv3 密钥解密"):
        read_wechat(*wechat_notification(api_v3_key=b"f" * 32))
    with pytest.raises(NotificationRefused, match="不是支付成功通知"):
        read_wechat(*wechat_notification(event_type="REFUND.SUCCESS"))
    with pytest.raises(NotificationRefused, match="交易状态不是成功"):
        read_wechat(*wechat_notification(transaction(trade_state="NOTPAY")))
    with pytest.raises(NotificationRefused, match="正整数"):
        read_wechat(*wechat_notification(transaction(amount={"total": "380.00"})))


def test_the_platform_key_is_read_from_a_public_key_or_the_platform_certificate() -> None:
    public = CHANNEL_KEY.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert wechatpay_v3.load_public_key(pem).public_numbers() == public.public_numbers()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
        .serial_number(int(SERIAL, 16)).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=365))
        .sign(CHANNEL_KEY, hashes.SHA256())
    )  # fmt: skip
    loaded = wechatpay_v3.load_public_key(certificate.public_bytes(serialization.Encoding.PEM))
    assert loaded.public_numbers() == public.public_numbers()
    with pytest.raises(NotificationRefused, match="无法读取"):
        wechatpay_v3.load_public_key(b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    assert wechatpay_v3.failure_body("验签失败") == {"code": "FAIL", "message": "验签失败"}


# ------------------------------------------------------------------------------------------------ Alipay


def alipay_params(key: rsa.RSAPrivateKey = CHANNEL_KEY, **changes: str) -> dict[str, str]:
    params = {
        "notify_time": "2021-12-31 16:00:01", "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786", "app_id": "2014072300007148", "charset": "utf-8",
        "version": "1.0", "trade_no": "2021123122001488880500012345", "out_trade_no": "CB20211231000002",
        "buyer_logon_id": "159****5620", "trade_status": "TRADE_SUCCESS", "total_amount": "380.00",
        "receipt_amount": "380.00", "gmt_create": "2021-12-31 15:59:40", "gmt_payment": "2021-12-31 15:59:58",
        "subject": "城乡居民医保 2022年度", "body": "",
    } | changes  # fmt: skip
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return params | {"sign_type": "RSA2", "sign": sign(key, message.encode())}


def read_alipay(params: dict[str, str]) -> Any:
    return alipay.read_notification(params, public_key=CHANNEL_KEY.public_key())


def test_an_alipay_success_notification_is_verified_and_read() -> None:
    payment = read_alipay(alipay_params())
    assert (payment.channel_kind, payment.out_trade_no, payment.transaction_id) == (
        "alipay", "CB20211231000002", "2021123122001488880500012345",
    )  # fmt: skip
    assert payment.amount_fen == 38000 and payment.notification_id == "ac05099524730693a8b330c5ecf72da9786"
    assert payment.succeeded_at == dt.datetime(2021, 12, 31, 15, 59, 58, tzinfo=CAMPAIGN_ZONE)
    assert read_alipay(alipay_params(trade_status="TRADE_FINISHED")).amount_fen == 38000
    assert read_alipay(alipay_params(total_amount="0.01")).amount_fen == 1


def test_what_alipay_signs_is_every_parameter_but_sign_and_sign_type_sorted() -> None:
    content = alipay.signed_content({"b": "2", "sign": "x", "a": "1", "sign_type": "RSA2", "c": ""})
    assert content == b"a=1&b=2&c="


def test_an_alipay_notification_changed_or_not_a_success_is_refused() -> None:
    params = alipay_params()
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_alipay(params | {"total_amount": "0.01"})  # the amount changed after signing
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_alipay(alipay_params(key=OTHER_KEY))
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_alipay(params | {"extra": "1"})  # a parameter added after signing
    with pytest.raises(NotificationRefused, match="RSA2"):
        read_alipay(params | {"sign_type": "RSA"})
    with pytest.raises(NotificationRefused, match="base64"):
        read_alipay(params | {"sign": "%%%"})
    for status in ("WAIT_BUYER_PAY", "TRADE_CLOSED"):  # verified, but no payment: acknowledged, never applied
        with pytest.raises(NotAPayment, match=f"{status}，不是支付成功"):
            read_alipay(alipay_params(trade_status=status))
    with pytest.raises(NotificationRefused, match="两位小数"):
        read_alipay(alipay_params(total_amount="380.001"))
    with pytest.raises(NotificationRefused, match="格式不对"):
        read_alipay(alipay_params(gmt_payment="2021/12/31"))


def test_the_alipay_key_is_read_as_pem_or_as_the_consoles_bare_base64() -> None:
    public = CHANNEL_KEY.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    bare = base64.b64encode(der)
    assert alipay.load_public_key(bare).public_numbers() == public.public_numbers()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert alipay.load_public_key(pem).public_numbers() == public.public_numbers()
