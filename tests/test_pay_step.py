"""The channels' pay step (issue 15), on SQLite and PostgreSQL: Alipay 手机网站支付 (alipay.trade.wap.pay) and WeChat
Pay JSAPI (网页授权 snsapi_base → openid, JSAPI 下单, getBrandWCPayRequest's paySign), each checked here by the
channels' published rules, not canbao's code; the simulator playing both channels; and the refusals — a bad
sign, an unknown prepay_id, a used code, a channel that cannot be reached — in plain Chinese."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Engine
from starlette.testclient import TestClient

from canbao.clock import CAMPAIGN_ZONE
from canbao.errors import InputError
from canbao.services.channels import add_channel, channel_named
from canbao.simulator.channel import SimulatedChannel
from canbao.simulator.gateway import create_gateway
from canbao.simulator.keys import ChannelKeys
from conftest import invoke
from test_online_payments import NOW, TODAY, new_resident, order
from web_support import Portal

KEYS = {kind: ChannelKeys.generate(kind, name) for name, kind in (("wx", "wechatpay_v3"), ("ali", "alipay"))}
MERCHANT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = "https://cb.example.gov.cn"
GATEWAY = {"wechatpay_v3": "http://testserver", "alipay": "http://testserver/gateway.do"}
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


def pem(key: rsa.RSAPrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def register(engine: Engine, keys: ChannelKeys, *, merchant_key: rsa.RSAPrivateKey = MERCHANT_KEY) -> None:
    wx = keys.kind == "wechatpay_v3"
    add_channel(
        engine, name=keys.name, kind=keys.kind, merchant_id=keys.merchant_id, platform_public_key=keys.public_key_pem,
        platform_serial=keys.serial, api_v3_key=keys.api_v3_key, merchant_private_key=pem(merchant_key),
        merchant_serial=MERCHANT_SERIAL if wx else None, gateway_url=GATEWAY[keys.kind], public_url=PUBLIC,
        app_id=keys.appid if wx else None, app_secret=keys.app_secret.encode() if wx and keys.app_secret else None,
        oauth_url="http://testserver" if wx else None, sns_url="http://testserver" if wx else None,
        actor="test", now=NOW,
    )  # fmt: skip


class Setup:
    """canbao's portal, the simulator's gateway (in process, canbao's way to the channel) and what canbao sent."""

    def __init__(self, engine: Engine, kind: str) -> None:
        self.channel = SimulatedChannel(KEYS[kind])
        self.gateway = TestClient(
            create_gateway([self.channel], merchant_public_key=MERCHANT_KEY.public_key()), follow_redirects=False
        )
        self.sent: list[httpx.Request] = []
        self.gateway.event_hooks = {"request": [self.sent.append], "response": []}
        self.portal = Portal(engine, now=NOW, fixed_today=TODAY)
        self.portal.app.state.channel_http = self.gateway

    def order(self, seq: int) -> dict[str, Any]:
        return order(self.portal, self.channel.name, **new_resident(seq))

    def pay(self, made: dict[str, Any], token: str | None = None, **body: str) -> httpx.Response:
        return self.portal.client.post(
            f"/api/v1/orders/{made['out_trade_no']}/pay", json=body, headers={"X-Order-Token": token or made["token"]}
        )


def verify(public: rsa.RSAPublicKey, signature: str, message: bytes) -> None:
    public.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())


# --- Alipay 手机网站支付 -----------------------------------------------------------------------------------


def test_alipay_wap_pay_is_signed_as_alipay_publishes_and_the_simulator_pays_it(engine: Engine) -> None:
    register(engine, KEYS["alipay"])
    s = Setup(engine, "alipay")
    made = s.order(701)
    assert made["pay_step"] == "alipay" and "pay_url" not in made
    step = s.pay(made)
    assert step.status_code == 200, step.text
    assert step.json()["how"] == "redirect"
    url = urlsplit(step.json()["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == GATEWAY["alipay"]
    params = dict(parse_qsl(url.query, keep_blank_values=True))
    fen = round(made["amount"] * 100)
    assert {k: params[k] for k in ("app_id", "method", "format", "charset", "sign_type", "version")} == {
        "app_id": KEYS["alipay"].merchant_id, "method": "alipay.trade.wap.pay", "format": "JSON",
        "charset": "utf-8", "sign_type": "RSA2", "version": "1.0",
    }  # fmt: skip
    assert params["notify_url"] == f"{PUBLIC}/notify/alipay/ali"
    assert params["return_url"] == f"{PUBLIC}/h5/status/{made['out_trade_no']}"
    sent = dt.datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CAMPAIGN_ZONE)
    assert abs(sent - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)  # Beijing time, the real time
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == made["out_trade_no"] and biz["product_code"] == "QUICK_WAP_WAY"
    assert biz["total_amount"] == f"{fen // 100}.{fen % 100:02d}" and "医保" in biz["subject"]
    # the published string to sign: all but sign, empty ones left out, sorted, k=v joined by &
    content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v)
    verify(MERCHANT_KEY.public_key(), params["sign"], content.encode())

    page = s.gateway.get(f"/gateway.do?{url.query}")  # the resident's browser at the gateway
    assert page.status_code == 200 and "模拟收银台" in page.text and biz["total_amount"] in page.text
    trade = re.search(r'action="cashier/wap/(\w+)"', page.text)
    assert trade is not None
    paid = s.gateway.post(f"/cashier/wap/{trade.group(1)}")
    assert paid.status_code == 303
    back = urlsplit(paid.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == params["return_url"]
    sync = dict(parse_qsl(back.query))
    assert sync["method"] == "alipay.trade.wap.pay.return" and sync["out_trade_no"] == made["out_trade_no"]
    signed = "&".join(f"{k}={v}" for k, v in sorted(sync.items()) if k not in ("sign", "sign_type"))
    verify(KEYS["alipay"].public_key, sync["sign"], signed.encode())  # signed by Alipay's key
    found = s.channel.lookup(made["out_trade_no"])
    assert found is not None and found.state == "paid" and found.amount_fen == fen
    assert s.gateway.post(f"/cashier/wap/{trade.group(1)}").status_code == 404  # paid once


def test_the_simulator_refuses_a_wap_pay_with_a_bad_sign(engine: Engine) -> None:
    register(engine, KEYS["alipay"], merchant_key=OTHER_KEY)  # canbao signs with a key the channel does not know
    s = Setup(engine, "alipay")
    made = s.order(702)
    query = urlsplit(s.pay(made).json()["url"]).query
    refused = s.gateway.get(f"/gateway.do?{query}")
    assert refused.status_code == 400 and "invalid-signature" in refused.text and "收银台" not in refused.text
    params = dict(parse_qsl(query))
    register_ok = dict(params, biz_content=params["biz_content"].replace('"total_amount":"', '"total_amount":"1'))
    assert s.gateway.get(f"/gateway.do?{urlencode(register_ok)}").status_code == 400
    assert s.channel.lookup(made["out_trade_no"]) is None


# --- WeChat Pay JSAPI ------------------------------------------------------------------------------------


def _authorized(s: Setup, made: dict[str, Any]) -> tuple[str, str]:
    """The pay step's redirect to 网页授权, checked, followed through the simulator: (code, state)."""
    step = s.pay(made, state="abc123")
    assert step.status_code == 200 and step.json()["how"] == "redirect", step.text
    url = urlsplit(step.json()["url"])
    assert (url.path, url.fragment) == ("/connect/oauth2/authorize", "wechat_redirect")
    q = dict(parse_qsl(url.query))
    assert q == {"appid": KEYS["wechatpay_v3"].appid, "redirect_uri": f"{PUBLIC}/h5/wxpay/{made['out_trade_no']}",
                 "response_type": "code", "scope": "snsapi_base", "state": "abc123"}  # fmt: skip
    back = s.gateway.get(f"{url.path}?{url.query}")
    assert back.status_code == 302
    answer = urlsplit(back.headers["location"])
    assert f"{answer.scheme}://{answer.netloc}{answer.path}" == q["redirect_uri"]
    got = dict(parse_qsl(answer.query))
    return got["code"], got["state"]


def test_wechat_jsapi_openid_order_and_pay_sign(engine: Engine) -> None:
    keys = KEYS["wechatpay_v3"]
    register(engine, keys)
    s = Setup(engine, "wechatpay_v3")
    made = s.order(703)
    assert made["pay_step"] == "wechatpay_v3"
    code, state = _authorized(s, made)
    assert state == "abc123"
    step = s.pay(made, code=code)
    assert step.status_code == 200, step.text
    params = step.json()["params"]
    assert step.json()["how"] == "jsapi" and params["appId"] == keys.appid and params["signType"] == "RSA"
    # what canbao sent: code → openid, then JSAPI 下单
    token_call, place = s.sent[-2], s.sent[-1]
    assert token_call.url.path == "/sns/oauth2/access_token"
    assert dict(token_call.url.params) == {"appid": keys.appid, "secret": keys.app_secret, "code": code,
                                           "grant_type": "authorization_code"}  # fmt: skip
    assert place.method == "POST" and place.url.path == "/v3/pay/transactions/jsapi"
    body = json.loads(place.content)
    fen = round(made["amount"] * 100)
    assert body == {
        "appid": keys.appid, "mchid": keys.merchant_id, "description": body["description"],
        "out_trade_no": made["out_trade_no"], "notify_url": f"{PUBLIC}/notify/wechatpay_v3/wx",
        "amount": {"total": fen, "currency": "CNY"}, "payer": {"openid": body["payer"]["openid"]},
    }  # fmt: skip
    assert body["payer"]["openid"].startswith("o") and "医保" in body["description"]
    scheme, _, rest = place.headers["Authorization"].partition(" ")
    auth = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    assert (auth["mchid"], auth["serial_no"]) == (keys.merchant_id, MERCHANT_SERIAL)
    message = f"POST\n/v3/pay/transactions/jsapi\n{auth['timestamp']}\n{auth['nonce_str']}\n".encode()
    verify(MERCHANT_KEY.public_key(), auth["signature"], message + place.content + b"\n")
    # the page's getBrandWCPayRequest: paySign over appId\ntimeStamp\nnonceStr\npackage\n
    assert re.fullmatch(r"prepay_id=wx\w+", params["package"]) and params["timeStamp"].isdigit()
    signed = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    verify(MERCHANT_KEY.public_key(), params["paySign"], signed.encode())
    # the simulator's WeixinJSBridge: the paySign checked, the prepay's order paid
    checked = s.gateway.post("/jsbridge/check", json=params).json()
    assert checked["ok"] and checked["out_trade_no"] == made["out_trade_no"]
    forged = s.gateway.post("/jsbridge/check", json=params | {"timeStamp": str(int(params["timeStamp"]) + 1)})
    assert forged.json() == {"ok": False, "err_msg": "get_brand_wcpay_request:fail", "words": "支付验证签名失败"}
    unknown = s.gateway.post("/jsbridge/pay", json=params | {"package": "prepay_id=wx" + "0" * 32}).json()
    assert not unknown["ok"] and "prepay_id" in unknown["words"]
    assert s.gateway.post("/jsbridge/pay", json=params).json()["err_msg"] == "get_brand_wcpay_request:ok"
    found = s.channel.lookup(made["out_trade_no"])
    assert found is not None and found.state == "paid" and found.amount_fen == fen
    assert "jsbridge.js" not in s.portal.client.get("/h5/pay").text  # loaded only with the simulator mounted
    # the code is used once: a second use is refused in words, no traceback
    again = s.pay(made, code=code)
    assert again.status_code == 400 and "微信未能确认您的身份" in again.json()["detail"]


def test_oauth_code_for_openid_as_wechat_answers(engine: Engine) -> None:
    keys = KEYS["wechatpay_v3"]
    register(engine, keys)
    s = Setup(engine, "wechatpay_v3")
    code, _ = _authorized(s, s.order(704))
    token = "/sns/oauth2/access_token"
    wrong = s.gateway.get(token, params={"appid": keys.appid, "secret": "x" * 32, "code": code,
                                         "grant_type": "authorization_code"})  # fmt: skip
    assert wrong.json()["errcode"] == 40125
    good = s.gateway.get(token, params={"appid": keys.appid, "secret": keys.app_secret, "code": code,
                                        "grant_type": "authorization_code"}).json()  # fmt: skip
    assert good["openid"].startswith("o") and good["scope"] == "snsapi_base"
    used = s.gateway.get(token, params={"appid": keys.appid, "secret": keys.app_secret, "code": code,
                                        "grant_type": "authorization_code"}).json()  # fmt: skip
    assert used["errcode"] == 40029
    asked = {"appid": "wx0", "redirect_uri": PUBLIC, "response_type": "code", "scope": "snsapi_base"}
    bad_app = s.gateway.get("/connect/oauth2/authorize", params=asked)
    assert bad_app.status_code == 400


def test_a_jsapi_order_signed_with_another_key_is_refused_in_words(engine: Engine) -> None:
    register(engine, KEYS["wechatpay_v3"], merchant_key=OTHER_KEY)
    s = Setup(engine, "wechatpay_v3")
    made = s.order(705)
    code, _ = _authorized(s, made)
    refused = s.pay(made, code=code)
    assert refused.status_code == 400
    assert "微信支付下单未成功" in refused.json()["detail"] and "SIGN_ERROR" in refused.json()["detail"]
    assert s.channel.lookup(made["out_trade_no"]) is None


def test_an_unreachable_channel_a_wrong_token_and_an_unconfigured_channel(engine: Engine) -> None:
    register(engine, KEYS["wechatpay_v3"])
    s = Setup(engine, "wechatpay_v3")
    made = s.order(706)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable", request=request)

    s.portal.app.state.channel_http = httpx.Client(transport=httpx.MockTransport(down))
    refused = s.pay(made, code="0" * 32)
    assert refused.status_code == 400 and refused.json() == {"detail": "暂时无法连接微信（网页授权），请稍后再试"}
    assert s.pay(made, token="wrong", code="x").status_code == 404
    assert s.pay(made).status_code == 400  # no state for 网页授权: refused in words
    keys = ChannelKeys.generate("alipay", "ali2")  # registered without the pay step's settings: as before
    keys.register(engine, actor="test", now=NOW)
    plain = order(s.portal, "ali2", **new_resident(707))
    assert "pay_step" not in plain
    assert s.pay(plain).json() == {"how": "status", "url": None, "params": None}
    listed = s.portal.client.get("/api/v1/resident/channels").json()["channels"]
    assert {c["name"]: c["pay_step"] for c in listed} == {"wx": True, "ali2": False}  # the page checks WeChat first


def test_the_pay_settings_are_checked_and_the_secret_never_shown(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = KEYS["wechatpay_v3"]
    base = {"name": "wx", "kind": "wechatpay_v3", "merchant_id": keys.merchant_id,
            "platform_public_key": keys.public_key_pem, "platform_serial": keys.serial, "api_v3_key": keys.api_v3_key,
            "actor": "t", "now": NOW}  # fmt: skip
    with pytest.raises(InputError, match="AppSecret"):
        add_channel(engine, **base, app_id=keys.appid)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="只用于微信支付"):
        add_channel(engine, **base | {"kind": "alipay", "platform_serial": None, "api_v3_key": None},  # type: ignore[arg-type]
                    app_id=keys.appid)  # fmt: skip
    with pytest.raises(InputError, match="http"):
        add_channel(engine, **base, public_url="cb.example.gov.cn")  # type: ignore[arg-type]
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    files = {"pub": tmp_path / "pub.pem", "v3": tmp_path / "v3.key", "mk": tmp_path / "mk.pem", "sec": tmp_path / "s"}
    files["pub"].write_bytes(keys.public_key_pem)
    files["v3"].write_bytes(keys.api_v3_key or b"")
    files["mk"].write_bytes(pem(MERCHANT_KEY))
    files["sec"].write_text(str(keys.app_secret) + "\n")
    added = invoke(["channel", "add", "--name", "wx", "--kind", "wechatpay_v3", "--merchant-id", keys.merchant_id,
                    "--api-v3-key-file", str(files["v3"]), "--platform-public-key", str(files["pub"]),
                    "--platform-serial", str(keys.serial), "--merchant-private-key", str(files["mk"]),
                    "--merchant-serial", MERCHANT_SERIAL, "--public-url", PUBLIC + "/", "--app-id", str(keys.appid),
                    "--app-secret-file", str(files["sec"]), "--actor", "admin"])  # fmt: skip
    assert added.code == 0, added.err
    assert f"微信 JSAPI 支付（公众号 {keys.appid}）" in added.out
    listed = invoke(["channel", "list"])
    assert str(keys.app_secret) not in listed.out + added.out and "微信 JSAPI 支付" in listed.out
    channel = channel_named(engine, "wechatpay_v3", "wx")
    assert channel is not None and channel.pays_in_channel and channel.public_url == PUBLIC
    assert channel.app_secret == keys.app_secret
