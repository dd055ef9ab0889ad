"""The payment channels canbao takes notifications from (issue 15): registered with their kind, merchant and
the keys their notifications are verified with (canbao.channels), and read back as the verifier needs them.

A channel is added once (`canbao channel add`); its name is the last part of its notification address
(`/notify/{kind}/{name}`). The keys are checked when it is added, so that a wrong file is refused then and
not at the first notification of the rush: the platform public key must be an RSA key (PEM, a certificate,
or Alipay's bare base64), the APIv3 key 32 bytes, and WeChat Pay needs both the APIv3 key and the serial
its notifications name. The APIv3 key is never shown back, only its SHA-256 fingerprint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from canbao.channels import NotificationRefused, alipay, wechatpay_v3
from canbao.errors import InputError
from canbao.store.tables import channel_platform_keys, payment_channels
from canbao.store.uow import audit, busy_is_refusal

KINDS = ("wechatpay_v3", "alipay")
KIND_LABELS = {"wechatpay_v3": "微信支付（APIv3）", "alipay": "支付宝"}
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
SERIAL = re.compile(r"[A-Za-z0-9_]{1,64}")  # a certificate's hex serial, or a platform public key's PUB_KEY_ID_…


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str
    merchant_id: str
    platform_serial: str | None
    public_key: rsa.RSAPublicKey
    api_v3_key: bytes | None  # WeChat Pay only
    created_at: dt.datetime
    created_by: str
    # 主动查单: the merchant's private key signs canbao's order queries (None: the channel is not queried)
    merchant_key: rsa.RSAPrivateKey | None = None
    merchant_serial: str | None = None  # WeChat Pay: the merchant API certificate's serial
    gateway_url: str | None = None  # None: the channel's published address
    # the pay step (canbao.services.pay_step): canbao's public base URL; WeChat's appid, AppSecret, OAuth hosts
    public_url: str | None = None
    app_id: str | None = None
    app_secret: str | None = None
    oauth_url: str | None = None  # None: open.weixin.qq.com (网页授权 authorize)
    sns_url: str | None = None  # None: api.weixin.qq.com (sns/oauth2/access_token)
    # WeChat Pay: the keys added since (add_platform_key), by serial
    more_keys: tuple[tuple[str, rsa.RSAPublicKey], ...] = ()

    @property
    def platform_keys(self) -> dict[str, rsa.RSAPublicKey]:
        """WeChat Pay: every key its signatures may be made with, by the serial Wechatpay-Serial names."""
        keys = dict(self.more_keys)
        if self.platform_serial is not None:
            keys[self.platform_serial] = self.public_key
        return keys

    @property
    def pays_in_channel(self) -> bool:
        """Whether the resident pays in the channel's own pay step (Alipay 手机网站支付, WeChat JSAPI): the
        merchant's key signs it, canbao's public URL makes its notify and return addresses."""
        return pays_in_channel(
            self.kind, self.merchant_key is not None, self.public_url, self.app_id, self.app_secret is not None
        )

    @property
    def gateway(self) -> str:
        """The channel's API address: WeChat Pay's base URL, Alipay's gateway.do."""
        return self.gateway_url or (wechatpay_v3.API if self.kind == "wechatpay_v3" else alipay.GATEWAY)

    @property
    def key_fingerprint(self) -> str | None:
        """The APIv3 key as it may be shown: the first 16 hex digits of its SHA-256."""
        return hashlib.sha256(self.api_v3_key).hexdigest()[:16] if self.api_v3_key else None


def _public_key(kind: str, text: bytes) -> tuple[rsa.RSAPublicKey, str]:
    """The key and its PEM (stored as PEM whatever form it came in)."""
    try:
        key = wechatpay_v3.load_public_key(text) if kind == "wechatpay_v3" else alipay.load_public_key(text)
    except NotificationRefused as exc:
        raise InputError("platform_public_key", str(exc)) from None
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem.decode("ascii")


def add_channel(
    engine: Engine,
    *,
    name: str,
    kind: str,
    merchant_id: str,
    platform_public_key: bytes,
    platform_serial: str | None = None,
    api_v3_key: bytes | None = None,
    merchant_private_key: bytes | None = None,
    merchant_serial: str | None = None,
    gateway_url: str | None = None,
    public_url: str | None = None,
    app_id: str | None = None,
    app_secret: bytes | None = None,
    oauth_url: str | None = None,
    sns_url: str | None = None,
    actor: str,
    now: dt.datetime,
) -> Channel:
    """Register a channel (see the module docstring); refused with the field for anything wrong."""
    if kind not in KINDS:
        choices = "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())
        raise InputError("kind", f"未知的渠道类型“{kind}”，可选：{choices}")
    if not NAME.fullmatch(name):
        raise InputError("name", "渠道名称应为 1–40 个小写英文字母、数字、_ 或 -，以字母或数字开头（用于通知地址）")
    merchant_id = merchant_id.strip()
    if not merchant_id or len(merchant_id) > 64 or not merchant_id.isascii():
        raise InputError("merchant_id", "商户号应为不超过 64 个字符的英文字母和数字")
    _, pem = _public_key(kind, platform_public_key)
    secret: bytes | None = None
    if kind == "wechatpay_v3":
        secret = (api_v3_key or b"").strip()
        if len(secret) != 32 or not secret.isascii():
            raise InputError("api_v3_key", "微信支付渠道须提供 32 个字节的 APIv3 密钥（--api-v3-key-file）")
        if not platform_serial or not SERIAL.fullmatch(platform_serial.strip()):
            raise InputError(
                "platform_serial", "微信支付渠道须提供平台证书序列号或平台公钥 ID（--platform-serial，如 PUB_KEY_ID_…）"
            )
        platform_serial = platform_serial.strip()
    elif api_v3_key:
        raise InputError("api_v3_key", "APIv3 密钥只用于微信支付渠道")
    _, merchant_pem, merchant_serial, gateway_url = _query_settings(
        kind, merchant_private_key, merchant_serial, gateway_url
    )
    pay = _pay_settings(kind, public_url, app_id, app_secret, oauth_url, sns_url)
    try:
        with busy_is_refusal(), engine.begin() as c:
            c.execute(
                insert(payment_channels).values(
                    name=name, kind=kind, merchant_id=merchant_id, platform_public_key=pem,
                    platform_serial=platform_serial, api_v3_key=secret.decode("ascii") if secret else None,
                    merchant_private_key=merchant_pem, merchant_serial=merchant_serial, gateway_url=gateway_url,
                    created_at=now, created_by=actor, **pay,
                )
            )  # fmt: skip
    except IntegrityError:
        raise InputError("name", f"渠道 {name} 已存在") from None
    audit(engine, actor, "channel_add", name, "done", f"{KIND_LABELS[kind]}；商户号 {merchant_id}")
    added = channel_named(engine, kind, name)
    assert added is not None
    return added


def pays_in_channel(kind: str, signed: bool, public_url: str | None, app_id: str | None, secret: bool) -> bool:
    """Channel.pays_in_channel from a channel's settings, for a listing that does not load its keys: the
    merchant's key (`signed`) and canbao's public URL, and for WeChat Pay the appid and AppSecret."""
    return bool(signed and public_url and (kind == "alipay" or (app_id and secret)))


def _url(field: str, value: str | None, words: str) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s?#]{1,190}", value):
        raise InputError(field, f"{words}应以 http:// 或 https:// 开头，不带 ? 或 #")
    return value


def _pay_settings(
    kind: str, public_url: str | None, app_id: str | None, app_secret: bytes | None, oauth_url: str | None,
    sns_url: str | None,
) -> dict[str, str | None]:  # fmt: skip
    """The pay step's settings checked: WeChat's appid and AppSecret go together and only with WeChat Pay."""
    settings: dict[str, str | None] = {
        "public_url": _url("public_url", public_url, "canbao 的公网地址"),
        "oauth_url": _url("oauth_url", oauth_url, "微信网页授权地址"),
        "sns_url": _url("sns_url", sns_url, "微信接口地址"),
        "app_id": app_id.strip() if app_id else None,
        "app_secret": app_secret.decode("ascii", "replace").strip() if app_secret else None,
    }
    wechat = ("app_id", "app_secret", "oauth_url", "sns_url")
    if kind != "wechatpay_v3":
        for f in wechat:
            if settings[f]:
                raise InputError(f, "公众号 AppID、AppSecret 和网页授权地址只用于微信支付渠道")
        return settings
    if bool(settings["app_id"]) != bool(settings["app_secret"]):
        raise InputError("app_secret", "微信支付须同时提供公众号 AppID（--app-id）和 AppSecret（--app-secret-file）")
    if settings["app_id"] and not re.fullmatch(r"[A-Za-z0-9_]{1,64}", str(settings["app_id"])):
        raise InputError("app_id", "公众号 AppID 应为英文字母和数字（如 wx…）")
    if settings["app_secret"] and not re.fullmatch(r"[A-Za-z0-9_]{8,128}", str(settings["app_secret"])):
        raise InputError("app_secret", "AppSecret 应为 8–128 个英文字母和数字")
    return settings


def _private_key(pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError("merchant_private_key", f"商户 API 私钥无法读取（应为未加密的 PEM）：{exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError("merchant_private_key", "商户 API 私钥应为 RSA 私钥")
    return key


def _query_settings(
    kind: str, private_pem: bytes | None, serial: str | None, gateway_url: str | None
) -> tuple[rsa.RSAPrivateKey | None, str | None, str | None, str | None]:
    """主动查单's settings checked: the merchant's key (and for WeChat Pay its certificate's serial), and the
    gateway's address when it is not the channel's published one."""
    if gateway_url is not None:
        gateway_url = gateway_url.strip().rstrip("/") if kind == "wechatpay_v3" else gateway_url.strip()
        if not re.fullmatch(r"https?://[^\s]{1,190}", gateway_url):
            raise InputError("gateway_url", "渠道接口地址应以 http:// 或 https:// 开头")
    if private_pem is None:
        if serial:
            raise InputError("merchant_serial", "商户证书序列号须与商户 API 私钥（--merchant-private-key）一同提供")
        return None, None, None, gateway_url
    key = _private_key(private_pem.strip())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if kind == "wechatpay_v3":
        if not serial or not SERIAL.fullmatch(serial.strip()):
            raise InputError("merchant_serial", "微信支付主动查单须提供商户 API 证书的序列号（--merchant-serial）")
        serial = serial.strip()
    elif serial:
        raise InputError("merchant_serial", "商户证书序列号只用于微信支付渠道")
    return key, pem.decode("ascii"), serial, gateway_url


PAY_FIELDS = ("public_url", "app_id", "app_secret", "oauth_url", "sns_url")


def add_platform_key(
    engine: Engine, *, name: str, platform_public_key: bytes, platform_serial: str, actor: str, now: dt.datetime
) -> Channel:
    """WeChat Pay: another platform key for the channel, beside those it has: WeChat signs with the old and the
    new certificate for the days before the old one expires, and with the certificate or the 微信支付公钥
    while a merchant switches to it (pay.weixin.qq.com/doc/v3/merchant/4012154180); each signature's
    Wechatpay-Serial names its key.  Refused for Alipay and for a serial the channel has already."""
    found = channel_named(engine, None, name)
    if found is None:
        raise InputError("name", f"没有名为 {name} 的渠道")
    if found.kind != "wechatpay_v3":
        raise InputError("kind", "只有微信支付渠道有多个平台证书或公钥（支付宝公钥请重新登记渠道）")
    serial = platform_serial.strip()
    if not SERIAL.fullmatch(serial):
        raise InputError("platform_serial", "平台证书序列号或平台公钥 ID 应为英文字母、数字和 _（如 PUB_KEY_ID_…）")
    taken = InputError("platform_serial", f"渠道 {name} 已有序列号为 {serial} 的平台证书或公钥")
    if serial in found.platform_keys:
        raise taken
    key, pem = _public_key(found.kind, platform_public_key)
    try:
        with busy_is_refusal(), engine.begin() as c:
            c.execute(
                insert(channel_platform_keys).values(
                    channel=name, serial=serial, public_key=pem, added_at=now, added_by=actor
                )
            )
    except IntegrityError:  # added meanwhile by someone else
        raise taken from None
    audit(engine, actor, "channel_key_add", name, "done", f"平台证书或公钥序列号 {serial}")
    return replace(found, more_keys=(*found.more_keys, (serial, key)))


def _more_keys(c: Connection, name: str) -> tuple[tuple[str, rsa.RSAPublicKey], ...]:
    k = channel_platform_keys.c
    rows = c.execute(select(k.serial, k.public_key).where(k.channel == name).order_by(k.id)).all()
    return tuple((str(r.serial), _public_key("wechatpay_v3", str(r.public_key).encode("ascii"))[0]) for r in rows)


def _channel(row: dict[str, object], more_keys: tuple[tuple[str, rsa.RSAPublicKey], ...] = ()) -> Channel:
    kind = str(row["kind"])
    key, _ = _public_key(kind, str(row["platform_public_key"]).encode("ascii"))
    secret = row["api_v3_key"]
    return Channel(
        str(row["name"]), kind, str(row["merchant_id"]),
        None if row["platform_serial"] is None else str(row["platform_serial"]), key,
        str(secret).encode("ascii") if secret is not None else None,
        row["created_at"], str(row["created_by"]),  # type: ignore[arg-type]
        _private_key(str(row["merchant_private_key"]).encode("ascii")) if row.get("merchant_private_key") else None,
        str(row["merchant_serial"]) if row.get("merchant_serial") else None,
        str(row["gateway_url"]) if row.get("gateway_url") else None,
        **{f: (str(row[f]) if row.get(f) else None) for f in PAY_FIELDS}, more_keys=more_keys,
    )  # fmt: skip


def list_channels(engine: Engine) -> list[Channel]:
    with engine.connect() as c:
        rows = c.execute(select(payment_channels).order_by(payment_channels.c.name)).mappings().all()
        return [_channel(dict(r), _more_keys(c, str(r["name"]))) for r in rows]


def channel_named(engine: Engine, kind: str | None, name: str) -> Channel | None:
    """The channel a notification address names (`/notify/{kind}/{name}`), or None; `kind` None: the channel
    of that name whatever its kind (names are unique), as a resident's order names it."""
    query = select(payment_channels).where(payment_channels.c.name == name)
    if kind is not None:
        query = query.where(payment_channels.c.kind == kind)
    with engine.connect() as c:
        row = c.execute(query).mappings().first()
        return _channel(dict(row), _more_keys(c, name)) if row else None
