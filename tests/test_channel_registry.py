"""`canbao channel add|list` (issue 15): a channel is registered with its kind, merchant and keys, which are
checked when it is added; the APIv3 key is never shown back. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from canbao.errors import InputError
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


# --- WeChat Pay's further platform keys -------------------------------------------------------------------------


def test_a_wechat_channel_verifies_by_a_key_added_beside_its_first_while_wechat_signs_with_both(engine: Any) -> None:
    """The five-yearly certificate renewal, or the switch to 微信支付公钥: for a while WeChat signs with either,
    and Wechatpay-Serial names which."""
    from canbao.channels import NotificationRefused
    from canbao.services.channels import add_channel, add_platform_key
    from canbao.services.notifications import read_payment
    from test_channels import API_V3_KEY as CHANNELS_API_V3_KEY
    from test_channels import CHANNEL_KEY, SERIAL, wechat_notification

    def pem(key: rsa.RSAPrivateKey) -> bytes:
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    now = dt.datetime.now(dt.UTC)
    add_channel(engine, name="wx", kind="wechatpay_v3", merchant_id="1230000109", platform_public_key=pem(CHANNEL_KEY),
                platform_serial=SERIAL, api_v3_key=CHANNELS_API_V3_KEY, actor="test", now=now)  # fmt: skip
    old_headers, old_body = wechat_notification(sent=now)
    new_headers, new_body = wechat_notification(key=KEY, sent=now)
    new_headers["Wechatpay-Serial"] = "PUB_KEY_ID_0114232134912410000000000000"
    channel = channel_named(engine, "wechatpay_v3", "wx")
    assert channel is not None
    with pytest.raises(NotificationRefused, match="未知的微信支付平台证书序列号 PUB_KEY_ID_"):
        read_payment(channel, new_headers, new_body, now)

    new_serial = " PUB_KEY_ID_0114232134912410000000000000 "  # as pasted: trimmed
    added = add_platform_key(engine, name="wx", platform_public_key=pem(KEY), platform_serial=new_serial,
                             actor="admin", now=now)  # fmt: skip
    assert list(added.platform_keys) == ["PUB_KEY_ID_0114232134912410000000000000", SERIAL]
    channel = channel_named(engine, "wechatpay_v3", "wx")
    assert channel is not None and channel.platform_keys.keys() == added.platform_keys.keys()
    assert read_payment(channel, new_headers, new_body, now).transaction_id == "4200001234202112318888888888"
    assert read_payment(channel, old_headers, old_body, now).transaction_id == "4200001234202112318888888888"
    crossed = new_headers | {"Wechatpay-Serial": SERIAL}  # the new key's signature under the old serial
    with pytest.raises(NotificationRefused, match="签名"):
        read_payment(channel, crossed, new_body, now)
    with engine.connect() as c:
        assert c.execute(select(audit_log.c.detail).where(audit_log.c.action == "channel_key_add")).scalar_one() == (
            "平台证书或公钥序列号 PUB_KEY_ID_0114232134912410000000000000"
        )

    for kwargs, field, words in (
        ({"platform_serial": SERIAL}, "platform_serial", "已有序列号"),
        ({"platform_serial": "PUB_KEY_ID_0114232134912410000000000000"}, "platform_serial", "已有序列号"),
        ({"platform_serial": "no spaces please"}, "platform_serial", "英文字母"),
        ({"name": "nope"}, "name", "没有名为 nope 的渠道"),
        ({"platform_public_key": b"not a key"}, "platform_public_key", ""),
    ):
        args: dict[str, Any] = {"name": "wx", "platform_public_key": pem(KEY), "platform_serial": "ANOTHER1"} | kwargs
        with pytest.raises(InputError, match=words) as refused:
            add_platform_key(engine, actor="admin", now=now, **args)
        assert refused.value.field == field
    add_channel(engine, name="ali", kind="alipay", merchant_id="2014072300007148", platform_public_key=pem(KEY),
                actor="test", now=now)  # fmt: skip
    with pytest.raises(InputError, match="只有微信支付渠道"):
        add_platform_key(engine, name="ali", platform_public_key=pem(KEY), platform_serial="X1", actor="a", now=now)


def test_channel_add_key_on_the_command_line(cli_database: str, tmp_path: Path) -> None:
    f = files(tmp_path)
    assert invoke(["channel", "add", "--name", "wx", "--kind", "wechatpay_v3", "--merchant-id", "1230000109",
                   "--api-v3-key-file", str(f["key"]), "--platform-public-key", str(f["pem"]),
                   "--platform-serial", "5157F09E"]).code == 0  # fmt: skip
    run = invoke(["channel", "add-key", "--name", "wx", "--platform-public-key", str(f["pem"]),
                  "--platform-serial", "PUB_KEY_ID_0114232134912410000000000000", "--actor", "admin"])  # fmt: skip
    assert run.code == 0, run.err
    assert "现可验证的序列号：PUB_KEY_ID_0114232134912410000000000000、5157F09E" in run.out
    listed = invoke(["channel", "list"])
    assert "平台证书序列号 PUB_KEY_ID_0114232134912410000000000000、5157F09E" in listed.out
    again = invoke(["channel", "add-key", "--name", "wx", "--platform-public-key", str(f["pem"]),
                    "--platform-serial", "5157F09E"])  # fmt: skip
    assert again.code == 2 and "--platform-serial" in again.err and "已有序列号为 5157F09E" in again.err
    assert "Traceback" not in again.err
