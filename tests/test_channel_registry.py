"""`canbao channel add|list` (issue 15): a channel is registered with its kind, merchant and keys, which are
checked when it is added; the APIv3 key is never shown back. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from canbao.services.channels import channel_named, list_channels
from canbao.store.db import make_engine
from canbao.store.tables import audit_log
from conftest import invoke

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
API_V3_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    return database_url


def files(folder: Path) -> dict[str, Path]:
    public = KEY.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    paths = {"pem": folder / "wechatpay_platform.pem", "bare": folder / "alipay_public_key.txt",
             "key": folder / "apiv3.key", "ec": folder / "ec.pem"}  # fmt: skip
    paths["pem"].write_bytes(pem)
    paths["bare"].write_bytes(base64.b64encode(der) + b"\n")
    paths["key"].write_text(API_V3_KEY + "\n", encoding="ascii")
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    paths["ec"].write_bytes(ec_key.public_bytes(serialization.Encoding.PEM, info))
    return paths


def test_channels_are_added_with_their_keys_and_listed_without_the_secret(cli_database: str, tmp_path: Path) -> None:
    f = files(tmp_path)
    wx = invoke(["channel", "add", "--name", "wx", "--kind", "wechatpay_v3", "--merchant-id", "1230000109",
                 "--api-v3-key-file", str(f["key"]), "--platform-public-key", str(f["pem"]),
                 "--platform-serial", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "--actor", "admin"])  # fmt: skip
    assert wx.code == 0, wx.err
    assert "通知地址：/notify/wechatpay_v3/wx" in wx.out
    ali = invoke(["channel", "add", "--name", "ali", "--kind", "alipay", "--merchant-id", "2014072300007148",
                  "--platform-public-key", str(f["bare"]), "--actor", "admin"])  # fmt: skip
    assert ali.code == 0, ali.err
    listed = invoke(["channel", "list"])
    assert listed.code == 0 and "wx：微信支付（APIv3），商户号 1230000109" in listed.out and "ali：支付宝" in listed.out
    assert API_V3_KEY not in listed.out and "APIv3 密钥指纹" in listed.out
    engine = make_engine(cli_database)
    try:
        channel = channel_named(engine, "wechatpay_v3", "wx")
        assert channel is not None and channel.api_v3_key == API_V3_KEY.encode()
        assert channel.public_key.public_numbers() == KEY.public_key().public_numbers()
        assert channel_named(engine, "alipay", "wx") is None  # the address names the kind too
        assert [c.name for c in list_channels(engine)] == ["ali", "wx"]
        with engine.connect() as c:
            lines = c.execute(select(audit_log.c.action, audit_log.c.detail)).all()
        assert ("channel_add", "微信支付（APIv3）；商户号 1230000109") in lines
        assert not any(API_V3_KEY in (detail or "") for _, detail in lines)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"--kind": "unionpay"}, "--kind", "未知的渠道类型"),
        ({"--name": "微信"}, "--name", "小写英文字母"),
        ({"--api-v3-key-file": None}, "--api-v3-key-file", "32 个字节"),
        ({"--platform-serial": None}, "--platform-serial", "序列号"),
        ({"--platform-public-key": "ec"}, "--platform-public-key", "RSA"),
        ({"--platform-public-key": "missing"}, "--platform-public-key", "无法读取文件"),
    ],
)
def test_a_channel_with_a_wrong_key_or_field_is_refused_when_added(
    cli_database: str, tmp_path: Path, change: dict[str, str | None], field: str, words: str
) -> None:
    f = files(tmp_path)
    options: dict[str, str | None] = {
        "--name": "wx", "--kind": "wechatpay_v3", "--merchant-id": "1230000109", "--api-v3-key-file": str(f["key"]),
        "--platform-public-key": str(f["pem"]), "--platform-serial": "5157F09E",
    }  # fmt: skip
    for option, value in change.items():
        named = {"ec": str(f["ec"]), "missing": str(tmp_path / "nope.pem")}
        options[option] = named.get(value or "", value)
    argv = ["channel", "add"] + [x for o, v in options.items() if v is not None for x in (o, v)]
    run = invoke(argv)
    assert run.code == 2 and field in run.err and words in run.err, run.err
    assert "Traceback" not in run.err


def test_a_channel_name_is_registered_once(cli_database: str, tmp_path: Path) -> None:
    f = files(tmp_path)
    argv = ["channel", "add", "--name", "wx", "--kind", "wechatpay_v3", "--merchant-id", "1230000109",
            "--api-v3-key-file", str(f["key"]), "--platform-public-key", str(f["pem"]), "--platform-serial", "5157F09E"]
    assert invoke(argv).code == 0
    twice = invoke(argv)
    assert twice.code == 2 and "--name" in twice.err and "渠道 wx 已存在" in twice.err
