"""A simulated channel's key material: what the channel holds (its RSA-2048 private key) and what it gives the
merchant (the public key, WeChat's platform serial, the APIv3 key the merchant sets, the merchant id / app_id).

Saved in a folder per channel (`<dir>/<name>/`): `channel.json` (kind, name, ids — nothing secret),
`public_key.pem`, `private_key.pem` (0600) and, for WeChat Pay, `apiv3.key` (0600, 32 ASCII characters: the
merchant sets it in the merchant platform and WeChat Pay encrypts with it). The folder itself is 0700.
`register` gives canbao the public parts only (services.channels.add_channel).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from canbao.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from canbao.services.channels import Channel

KINDS = ("wechatpay_v3", "alipay")
PRIVATE = 0o600
_ALNUM = string.ascii_letters + string.digits


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


@dataclass(frozen=True)
class ChannelKeys:
    """One simulated channel. `merchant_id` is WeChat's mchid (10 digits) or Alipay's app_id (16 digits);
    `appid` is the WeChat official account / mini program the payer paid in (wx + 16 hex); `serial` the
    platform certificate's serial (40 upper-case hex digits, as WeChat Pay's are)."""

    kind: str
    name: str
    merchant_id: str
    private_key: rsa.RSAPrivateKey
    serial: str | None = None  # WeChat Pay only
    api_v3_key: bytes | None = None  # WeChat Pay only
    appid: str | None = None  # WeChat Pay only
    seller_id: str | None = None  # Alipay only: the merchant's Alipay user id (2088 + 12 digits)
    app_secret: str | None = None  # WeChat only: the official account's AppSecret (网页授权), 32 hex

    @classmethod
    def generate(cls, kind: str, name: str, merchant_id: str | None = None) -> ChannelKeys:
        if kind not in KINDS:
            raise InputError("kind", f"未知的渠道类型“{kind}”，可选：{'、'.join(KINDS)}")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "wechatpay_v3":
            return cls(
                kind, name, merchant_id or "16" + _digits(8), key,
                serial=secrets.token_hex(20).upper(),
                api_v3_key="".join(secrets.choice(_ALNUM) for _ in range(32)).encode("ascii"),
                appid="wx" + secrets.token_hex(8), app_secret=secrets.token_hex(16),
            )  # fmt: skip
        return cls(kind, name, merchant_id or "2021" + _digits(12), key, seller_id="2088" + _digits(12))

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def public_key_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def save(self, folder: Path) -> Path:
        """Write the channel under `folder/<name>/`; the private parts 0600. Returns that folder."""
        home = folder / self.name
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(home, 0o700)
        meta = {
            "kind": self.kind, "name": self.name, "merchant_id": self.merchant_id, "serial": self.serial,
            "appid": self.appid, "seller_id": self.seller_id,
        }  # fmt: skip
        _write(home / "channel.json", json.dumps(meta, ensure_ascii=False, indent=2).encode() + b"\n", 0o644)
        _write(home / "public_key.pem", self.public_key_pem, 0o644)
        _write(home / "private_key.pem", self.private_key_pem, PRIVATE)
        if self.api_v3_key is not None:
            _write(home / "apiv3.key", self.api_v3_key + b"\n", PRIVATE)
        if self.app_secret is not None:
            _write(home / "app_secret", self.app_secret.encode("ascii") + b"\n", PRIVATE)
        return home

    @classmethod
    def load(cls, folder: Path, name: str) -> ChannelKeys:
        home = folder / name
        try:
            meta = json.loads((home / "channel.json").read_text(encoding="utf-8"))
            pem = (home / "private_key.pem").read_bytes()
            api_v3 = (home / "apiv3.key").read_bytes().strip() if meta["kind"] == "wechatpay_v3" else None
            secret = (home / "app_secret").read_text("ascii").strip() if (home / "app_secret").exists() else None
        except (OSError, ValueError, KeyError):
            raise InputError("dir", f"{home} 下没有模拟渠道 {name} 的密钥（先运行 canbao simulator setup）") from None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InputError("dir", f"{home / 'private_key.pem'} 不是 RSA 私钥")
        return cls(
            str(meta["kind"]), str(meta["name"]), str(meta["merchant_id"]), key, meta.get("serial"), api_v3,
            meta.get("appid"), meta.get("seller_id"), secret,
        )  # fmt: skip

    @staticmethod
    def exists(folder: Path, name: str) -> bool:
        return (folder / name / "channel.json").is_file()

    def register(
        self, engine: Engine, *, actor: str, now: dt.datetime, query: tuple[bytes, str] | None = None,
        pay: tuple[str, str] | None = None,
    ) -> Channel:  # fmt: skip
        """Register this channel in canbao with its public parts only (as `canbao channel add` does); `query`:
        the merchant's private key (PEM) and the gateway's address, for 主动查单; `pay` (with `query`): canbao's
        public URL and the simulator's address, for the pay step (WeChat's appid, AppSecret and OAuth hosts)."""
        from canbao.services.channels import add_channel

        key, gateway = query if query is not None else (None, None)
        public_url, simulator = pay if pay is not None else (None, None)
        wx = pay is not None and self.kind == "wechatpay_v3" and self.app_secret is not None
        return add_channel(
            engine, name=self.name, kind=self.kind, merchant_id=self.merchant_id,
            platform_public_key=self.public_key_pem, platform_serial=self.serial, api_v3_key=self.api_v3_key,
            merchant_private_key=key, merchant_serial=(self.serial if key and self.kind == "wechatpay_v3" else None),
            gateway_url=gateway, public_url=public_url, app_id=self.appid if wx else None,
            app_secret=self.app_secret.encode("ascii") if wx and self.app_secret else None,
            oauth_url=simulator if wx else None, sns_url=simulator if wx else None, actor=actor, now=now,
        )  # fmt: skip


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write with `mode` from the start (a private key is never readable by others, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
