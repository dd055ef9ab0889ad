"""The channel simulator (issue 15) speaks the channels' published protocols: its notifications pass canbao's
verifiers (canbao.channels) and each of its variants is refused by them exactly as it should be; its schedules
are the published ones; its keys keep the private parts in its folder; its query gateway signs its answers as
the channels do. Deliveries and the CLI: test_simulator_delivery.py."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import stat
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from canbao.channels import NotificationRefused, alipay, wechatpay_v3
from canbao.services.channels import channel_named
from canbao.simulator import schedule
from canbao.simulator.channel import Notification, SimulatedChannel, out_of_order
from canbao.simulator.gateway import create_gateway
from canbao.simulator.keys import ChannelKeys
from canbao.store.tables import payment_channels

NOW = dt.datetime.now(dt.UTC)  # signatures are checked against the real clock
PAID = dt.datetime(2021, 12, 31, 7, 59, 58, tzinfo=dt.UTC)  # 15:59:58 Beijing time, a demo county's year
WX = SimulatedChannel(ChannelKeys.generate("wechatpay_v3", "wx"))
ALI = SimulatedChannel(ChannelKeys.generate("alipay", "ali"))
WX_KEYS = {str(WX.keys.serial): wechatpay_v3.load_public_key(WX.keys.public_key_pem)}
ALI_KEY = alipay.load_public_key(ALI.keys.public_key_pem)


def read_wechat(n: Notification, at: dt.datetime = NOW, now: dt.datetime = NOW) -> wechatpay_v3.ChannelPayment:
    headers, body = n.request(at)
    assert WX.keys.api_v3_key is not None
    return wechatpay_v3.read_notification(headers, body, public_keys=WX_KEYS, api_v3_key=WX.keys.api_v3_key, now=now)


def read_alipay(n: Notification) -> alipay.ChannelPayment:
    return alipay.read_notification(form(n.body), public_key=ALI_KEY)


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))


# ------------------------------------------------------------------------------------------------ WeChat Pay


def test_a_wechat_notification_is_as_published_and_passes_canbaos_verifier() -> None:
    payment = WX.pay("CB20211231000001", 38000, PAID)
    n = WX.notification(payment)
    headers, body = n.request(NOW)
    assert set(headers) >= {*wechatpay_v3.HEADERS, "Wechatpay-Signature-Type"}
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert re.fullmatch(r"[0-9A-F]{40}", headers["Wechatpay-Serial"])
    assert abs(int(headers["Wechatpay-Timestamp"]) - NOW.timestamp()) < 2
    event = json.loads(body)
    assert event["resource_type"] == "encrypt-resource" and event["event_type"] == "TRANSACTION.SUCCESS"
    assert event["summary"] == "支付成功" and event["id"] == payment.notification_id
    assert event["create_time"] == "2021-12-31T15:59:59+08:00"
    resource = event["resource"]
    assert resource["original_type"] == "transaction" and resource["algorithm"] == "AEAD_AES_256_GCM"
    assert resource["associated_data"] == "transaction" and len(resource["nonce"]) == 12
    assert WX.keys.api_v3_key is not None
    plain = wechatpay_v3.decrypt_resource(resource, WX.keys.api_v3_key)
    assert plain["appid"] == WX.keys.appid and plain["mchid"] == WX.keys.merchant_id
    assert plain["trade_type"] == "JSAPI" and plain["trade_state"] == "SUCCESS" and plain["trade_state_desc"]
    assert plain["success_time"] == "2021-12-31T15:59:58+08:00" and "bank_type" in plain and "attach" in plain
    assert plain["amount"] == {"total": 38000, "payer_total": 38000, "currency": "CNY", "payer_currency": "CNY"}
    assert re.fullmatch(r"o[\w-]{27}", plain["payer"]["openid"])
    assert re.fullmatch(r"\d{28}", plain["transaction_id"]) and plain["transaction_id"][10:18] == "20211231"
    got = read_wechat(n)
    assert (got.out_trade_no, got.transaction_id, got.amount_fen) == ("CB20211231000001", payment.transaction_id, 38000)
    assert got.succeeded_at == PAID and got.notification_id == payment.notification_id
    assert got.merchant_id == WX.keys.merchant_id


def test_a_wechat_retry_is_signed_anew_over_the_same_body() -> None:
    n = WX.notification(WX.pay("CB-RETRY", 4000, PAID))
    later = NOW + dt.timedelta(minutes=4)
    (first, body1), (retry, body2) = n.request(NOW), n.request(later)
    assert body1 == body2
    assert int(retry["Wechatpay-Timestamp"]) - int(first["Wechatpay-Timestamp"]) == 240
    assert retry["Wechatpay-Nonce"] != first["Wechatpay-Nonce"]
    assert read_wechat(n, at=later, now=later).notification_id == read_wechat(n).notification_id


@pytest.mark.parametrize(
    ("variant", "words"),
    [
        ("tampered", "签名验证失败"),
        ("late", "超过 5 分钟"),
        ("wrong_serial", "未知的微信支付平台证书序列号"),
        ("wrong_key", "签名验证失败"),
    ],
)
def test_each_wechat_variant_is_refused_as_it_should_be(variant: str, words: str) -> None:
    n = WX.notification(WX.pay(f"CB-{variant}", 4000, PAID))
    made = {
        "tampered": lambda: WX.tampered(n),
        "late": lambda: WX.late(n),
        "wrong_serial": lambda: WX.wrong_serial(n, "0" * 40),
        "wrong_key": lambda: WX.wrong_key(n),
    }[variant]()
    assert made.variant == variant
    with pytest.raises(NotificationRefused, match=words):
        read_wechat(made)
    read_wechat(n)  # the original still passes


def test_a_tampered_wechat_body_says_another_amount_under_the_original_signature() -> None:
    n = WX.notification(WX.pay("CB-T2", 4000, PAID))
    t = WX.tampered(n)
    assert t.payment.amount_fen == 40000 and t.body != n.body
    assert WX.keys.api_v3_key is not None
    assert wechatpay_v3.decrypt_resource(json.loads(t.body)["resource"], WX.keys.api_v3_key)["amount"]["total"] == 40000


def test_canbao_holding_another_apiv3_key_cannot_read_the_resource() -> None:
    headers, body = WX.notification(WX.pay("CB-KEY", 4000, PAID)).request(NOW)
    with pytest.raises(NotificationRefused, match="APIv3"):
        wechatpay_v3.read_notification(headers, body, public_keys=WX_KEYS, api_v3_key=b"x" * 32, now=NOW)


def test_a_replayed_wechat_request_is_the_same_request_and_only_the_clock_refuses_it_late() -> None:
    n = WX.notification(WX.pay("CB-REPLAY", 4000, PAID))
    r = WX.replayed(n, NOW)
    assert r.request(NOW + dt.timedelta(minutes=1)) == r.request(NOW) and r.variant == "replayed"
    assert read_wechat(r, now=NOW + dt.timedelta(minutes=4)).transaction_id == n.payment.transaction_id
    with pytest.raises(NotificationRefused, match="5 分钟"):
        read_wechat(r, now=NOW + dt.timedelta(minutes=6))


def test_wrong_amount_and_unknown_order_are_validly_signed_for_canbao_to_refuse_on_its_orders() -> None:
    p = WX.pay("CB-AMOUNT", 38000, PAID)
    wrong = WX.wrong_amount(p, 100)
    assert read_wechat(wrong).amount_fen == 100 and read_wechat(wrong).out_trade_no == "CB-AMOUNT"
    unknown = WX.unknown_order(38000, PAID)
    assert unknown.variant == "unknown_order" and read_wechat(unknown).out_trade_no.startswith("SIM")
    wrong_ali = ALI.wrong_amount(ALI.pay("CB-AMOUNT", 38000, PAID), 100)
    assert read_alipay(wrong_ali).amount_fen == 100


# ------------------------------------------------------------------------------------------------ Alipay


def test_an_alipay_notification_is_as_published_and_passes_canbaos_verifier() -> None:
    payment = ALI.pay("CB20211231000002", 4000, PAID)
    n = ALI.notification(payment)
    headers, body = n.request(NOW)
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    params = form(body)
    assert params["notify_type"] == "trade_status_sync" and params["notify_id"] == payment.notification_id
    assert params["app_id"] == ALI.keys.merchant_id and params["charset"] == "utf-8" and params["version"] == "1.0"
    assert params["sign_type"] == "RSA2" and params["trade_status"] == "TRADE_SUCCESS"
    assert params["total_amount"] == params["receipt_amount"] == params["buyer_pay_amount"] == "40.00"
    assert params["gmt_payment"] == "2021-12-31 15:59:58" and params["notify_time"] == "2021-12-31 15:59:59"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", params["gmt_create"]) and params["subject"]
    assert re.fullmatch(r"2021123122001\d{15}", params["trade_no"]) and re.fullmatch(r"2088\d{12}", params["buyer_id"])
    # the sign: RSA2 over every parameter but sign and sign_type, sorted, k=v joined by &, values as they are
    content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sign", "sign_type"))
    ALI.keys.public_key.verify(base64.b64decode(params["sign"]), content.encode(), padding.PKCS1v15(), hashes.SHA256())
    got = read_alipay(n)
    assert (got.out_trade_no, got.transaction_id, got.amount_fen) == ("CB20211231000002", payment.transaction_id, 4000)
    assert got.succeeded_at == PAID and got.notification_id == payment.notification_id
    assert n.request(NOW + dt.timedelta(hours=1)) == (headers, body)  # a retry: the same parameters, notify_id


def test_each_alipay_variant_is_refused_or_passed_as_it_should_be() -> None:
    n = ALI.notification(ALI.pay("CB-ALI-V", 4000, PAID))
    tampered = ALI.tampered(n)
    assert form(tampered.body)["total_amount"] == "400.00" and form(tampered.body)["sign"] == form(n.body)["sign"]
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_alipay(tampered)
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        read_alipay(ALI.wrong_key(n))
    late = ALI.late(n)  # Alipay's signature carries no time: a late notification is still Alipay's word
    assert form(late.body)["notify_time"] < form(n.body)["notify_time"] and read_alipay(late).amount_fen == 4000
    replayed = ALI.replayed(n, NOW)
    assert (
        replayed.request(NOW) == n.request(NOW) and read_alipay(replayed).notification_id == n.payment.notification_id
    )


def test_out_of_order_is_a_permutation() -> None:
    ns = [WX.notification(WX.pay(f"CB-O{i}", 100 + i, PAID)) for i in range(8)]
    shuffled = out_of_order(ns, seed=3)
    assert shuffled != ns and sorted(id(n) for n in shuffled) == sorted(id(n) for n in ns)


# ------------------------------------------------------------------------------------------------ schedules


def test_the_schedules_are_the_published_ones() -> None:
    wx, ali = schedule.SCHEDULES["wechatpay_v3"], schedule.SCHEDULES["alipay"]
    assert wx.attempts == 16 and wx.total == dt.timedelta(hours=24, minutes=4)
    assert [int(i.total_seconds()) for i in wx.intervals[:5]] == [15, 15, 30, 180, 600]
    assert ali.attempts == 8 and ali.total == dt.timedelta(hours=24, minutes=24)
    assert [int(i.total_seconds() // 60) for i in ali.intervals] == [4, 10, 10, 60, 120, 360, 900]
    assert wx.offsets()[-1] == wx.total and wx.timeout == dt.timedelta(seconds=5)


@pytest.mark.parametrize(
    ("kind", "status", "body", "ok"),
    [
        ("wechatpay_v3", 200, b"", True), ("wechatpay_v3", 204, b"", True),
        ("wechatpay_v3", 500, b'{"code":"FAIL","message":"x"}', False), ("wechatpay_v3", 400, b"", False),
        ("wechatpay_v3", 202, b"", False), ("alipay", 200, b"success", True), ("alipay", 200, b"SUCCESS", False),
        ("alipay", 200, b"success\n", False), ("alipay", 200, b"fail", False), ("alipay", 500, b"success", False),
    ],
)  # fmt: skip
def test_what_counts_as_acknowledged(kind: str, status: int, body: bytes, ok: bool) -> None:
    assert schedule.acknowledged(kind, status, body) is ok


# ------------------------------------------------------------------------------------------------ keys


def test_keys_are_saved_private_and_loaded_back(tmp_path: Path) -> None:
    for keys in (WX.keys, ALI.keys):
        home = keys.save(tmp_path)
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "private_key.pem").stat().st_mode) == 0o600
        assert b"PRIVATE" not in (home / "public_key.pem").read_bytes()
        assert b"PRIVATE" not in (home / "channel.json").read_bytes()
        back = ChannelKeys.load(tmp_path, keys.name)
        assert back.public_key.public_numbers() == keys.public_key.public_numbers()
        assert (back.kind, back.merchant_id, back.serial, back.api_v3_key, back.appid, back.seller_id) == (
            keys.kind, keys.merchant_id, keys.serial, keys.api_v3_key, keys.appid, keys.seller_id,
        )  # fmt: skip
    assert stat.S_IMODE((tmp_path / "wx" / "apiv3.key").stat().st_mode) == 0o600
    assert WX.keys.api_v3_key is not None and re.fullmatch(rb"[A-Za-z0-9]{32}", WX.keys.api_v3_key)
    assert re.fullmatch(r"\d{10}", WX.keys.merchant_id) and re.fullmatch(r"\d{16}", ALI.keys.merchant_id)


def test_registering_gives_canbao_the_public_parts_only(engine: Engine) -> None:
    for keys in (WX.keys, ALI.keys):
        keys.register(engine, actor="simulator", now=NOW)
        channel = channel_named(engine, keys.kind, keys.name)
        assert channel is not None and channel.public_key.public_numbers() == keys.public_key.public_numbers()
        assert channel.merchant_id == keys.merchant_id and channel.platform_serial == keys.serial
    with engine.connect() as c:
        rows = [" ".join(str(v) for v in r) for r in c.execute(select(payment_channels)).all()]
    assert not any("PRIVATE" in row for row in rows)


# ------------------------------------------------------------------------------------------------ gateway


def test_the_wechat_query_answers_signed_as_wechat_pay() -> None:
    channel = SimulatedChannel(WX.keys)
    paid = channel.pay("CB-Q1", 38000, PAID)
    channel.place("CB-Q2", 4000)
    client = TestClient(create_gateway([channel, SimulatedChannel(ALI.keys)]))
    base = "/v3/pay/transactions/out-trade-no/"
    mchid = {"mchid": WX.keys.merchant_id}
    for number, status, state in (("CB-Q1", 200, "SUCCESS"), ("CB-Q2", 200, "NOTPAY"), ("CB-NONE", 404, None)):
        r = client.get(base + number, params=mchid)
        assert r.status_code == status
        wechatpay_v3.verify_signature(r.headers, r.content, WX_KEYS, dt.datetime.now(dt.UTC))
        answer = r.json()
        assert answer.get("trade_state") == state if state else answer["code"] == "ORDER_NOT_EXIST"
    success = client.get(base + "CB-Q1", params=mchid).json()
    assert success["transaction_id"] == paid.transaction_id and success["amount"]["total"] == 38000
    assert success["success_time"] == "2021-12-31T15:59:58+08:00"
    assert client.get(base + "CB-Q1", params={"mchid": "1"}).status_code == 400


def test_the_alipay_query_answers_signed_over_the_response_text() -> None:
    channel = SimulatedChannel(ALI.keys)
    paid = channel.pay("CB-A1", 4000, PAID)
    channel.place("CB-A2", 4000)
    client = TestClient(create_gateway([channel]))
    common = {"app_id": ALI.keys.merchant_id, "method": "alipay.trade.query", "charset": "utf-8", "sign_type": "RSA2",
              "sign": "unchecked", "timestamp": "2021-12-31 16:00:00", "version": "1.0"}  # fmt: skip
    for number, code, state in (("CB-A1", "10000", "TRADE_SUCCESS"), ("CB-A2", "10000", "WAIT_BUYER_PAY"),
                                ("CB-NONE", "40004", None)):  # fmt: skip
        r = client.post("/gateway.do", params=common, data={"biz_content": json.dumps({"out_trade_no": number})})
        text = r.content.decode()
        inner = re.fullmatch(r'\{"alipay_trade_query_response":(\{.*\}),"sign":"([^"]+)"\}', text)
        assert inner is not None, text
        ALI.keys.public_key.verify(base64.b64decode(inner[2]), inner[1].encode(), padding.PKCS1v15(), hashes.SHA256())
        response = json.loads(inner[1])
        assert response["code"] == code and response.get("trade_status") == state
        if state is None:
            assert response["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    r = client.post("/gateway.do", data=common | {"biz_content": json.dumps({"out_trade_no": "CB-A1"})})
    response = r.json()["alipay_trade_query_response"]
    assert response["trade_no"] == paid.transaction_id and response["total_amount"] == "40.00"
    assert response["send_pay_date"] == "2021-12-31 15:59:58"
    assert "error_response" in client.post("/gateway.do", data=common | {"app_id": "1"}).json()


def test_canbao_itself_does_not_import_the_simulator() -> None:
    """The simulator is a tool beside canbao: only its command group (and the tests) import it."""
    import grimp

    graph = grimp.build_graph("canbao", exclude_type_checking_imports=True)
    simulator = {"canbao.simulator", *graph.find_descendants("canbao.simulator")}
    importers = {i for m in simulator for i in graph.find_modules_that_directly_import(m)} - simulator
    assert importers <= {"canbao.cli.simulator"}
