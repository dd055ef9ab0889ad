"""The simulator's deliveries (issue 15): notifications POSTed to `/notify/{kind}/{name}` and retried on the
channel's schedule until the answer counts as acknowledged — against httpx's MockTransport (an injected clock
and sleep) and a small local server (uvicorn in a thread) that verifies with canbao's verifiers; and
`canbao simulator setup|pay` (on SQLite and PostgreSQL). canbao's own /notify endpoint is not tested here."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from canbao.channels import NotificationRefused, alipay, wechatpay_v3
from canbao.simulator.channel import SimulatedChannel
from canbao.simulator.keys import ChannelKeys
from canbao.simulator.schedule import WECHATPAY
from canbao.simulator.sender import Deliverer
from conftest import invoke

PAID = dt.datetime(2021, 12, 31, 7, 59, 58, tzinfo=dt.UTC)
WX = SimulatedChannel(ChannelKeys.generate("wechatpay_v3", "wx"))
ALI = SimulatedChannel(ChannelKeys.generate("alipay", "ali"))


class FakeTime:
    """The real clock as the deliverer sees it: advanced by each sleep."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)
        self.slept: list[float] = []

    def clock(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def test_a_wechat_notification_is_retried_re_signed_until_acknowledged() -> None:
    t = FakeTime()
    seen: list[httpx.Request] = []
    keys = {str(WX.keys.serial): wechatpay_v3.load_public_key(WX.keys.public_key_pem)}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert WX.keys.api_v3_key is not None
        wechatpay_v3.read_notification(
            request.headers, request.content, public_keys=keys, api_v3_key=WX.keys.api_v3_key, now=t.now
        )  # each attempt verifies at its own time: signed anew
        return httpx.Response(204) if len(seen) == 4 else httpx.Response(500, json={"code": "FAIL", "message": "忙"})

    n = WX.notification(WX.pay("CB-D1", 38000, PAID))
    with Deliverer("http://canbao.test", time_scale=1.0, clock=t.clock, sleep=t.sleep,
                   transport=httpx.MockTransport(answer)) as d:  # fmt: skip
        delivery = d.deliver(n)
    assert delivery.acknowledged and delivery.statuses == [500, 500, 500, 204]
    assert t.slept == [15, 15, 30]  # the published 15s/15s/30s, full scale with the fake clock
    assert [a.channel_offset for a in delivery.attempts] == [dt.timedelta(seconds=s) for s in (0, 15, 30, 60)]
    assert {r.url.path for r in seen} == {"/notify/wechatpay_v3/wx"} and len({r.content for r in seen}) == 1
    stamps = [int(r.headers["Wechatpay-Timestamp"]) for r in seen]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [15, 15, 30]
    assert len({r.headers["Wechatpay-Signature"] for r in seen}) == 4


def test_an_alipay_notification_is_resent_unchanged_until_the_body_is_success() -> None:
    t = FakeTime()
    answers = iter([httpx.Response(200, text="fail"), httpx.Response(200, text="SUCCESS"),
                    httpx.Response(500, text="success"), httpx.Response(200, text="success")])  # fmt: skip
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return next(answers)

    n = ALI.notification(ALI.pay("CB-D2", 4000, PAID))
    with Deliverer("http://canbao.test/", time_scale=0.001, clock=t.clock, sleep=t.sleep,
                   transport=httpx.MockTransport(answer)) as d:  # fmt: skip
        delivery = d.deliver(n)
    assert delivery.acknowledged and len(delivery.attempts) == 4 and len(set(seen)) == 1
    assert t.slept == pytest.approx([0.24, 0.6, 0.6])  # 4m, 10m, 10m at a thousandth
    params = dict(parse_qsl(seen[0].decode()))
    assert alipay.read_notification(params, public_key=ALI.keys.public_key).transaction_id == n.payment.transaction_id


def test_the_schedule_is_spent_when_never_acknowledged_and_network_errors_are_retried() -> None:
    t = FakeTime()
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise httpx.ConnectError("refused")
        return httpx.Response(401, json={"code": "FAIL", "message": "签名错误"})

    with Deliverer("http://canbao.test", time_scale=0, clock=t.clock, sleep=t.sleep,
                   transport=httpx.MockTransport(answer)) as d:  # fmt: skip
        delivery = d.deliver(WX.tampered(WX.notification(WX.pay("CB-D3", 4000, PAID))))
        capped = d.deliver(ALI.notification(ALI.pay("CB-D4", 4000, PAID)))
    assert not delivery.acknowledged and len(delivery.attempts) == WECHATPAY.attempts == 16
    assert delivery.statuses[:4] == [None, 401, None, 401] and delivery.attempts[0].answer == "ConnectError"
    assert delivery.attempts[-1].channel_offset == dt.timedelta(hours=24, minutes=4) and t.slept == []
    assert len(capped.attempts) == 8


# ------------------------------------------------------------------------------------------------ a local server


class Local(NamedTuple):
    base_url: str
    applied: list[str]
    keys: dict[str, ChannelKeys]  # the channels' keys the server verifies with, by kind (a test may swap them)


def notify_app(flaky: int, keys: dict[str, ChannelKeys]) -> tuple[FastAPI, list[str]]:
    """A stand-in for canbao's /notify: verifies with canbao's verifiers; the first `flaky` requests of each
    notification are answered 503; records each applied notification id."""
    applied: list[str] = []
    tries: dict[str, int] = {}
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/notify/{kind}/{name}")
    async def notify(kind: str, name: str, request: Request) -> Response:
        body = await request.body()
        channel = keys[kind]
        try:
            if kind == "wechatpay_v3":
                assert channel.api_v3_key is not None
                got = wechatpay_v3.read_notification(
                    request.headers, body, public_keys={str(channel.serial): channel.public_key},
                    api_v3_key=channel.api_v3_key, now=dt.datetime.now(dt.UTC),
                )  # fmt: skip
            else:
                got = alipay.read_notification(dict(parse_qsl(body.decode())), public_key=channel.public_key)
        except NotificationRefused as exc:
            if kind == "alipay":
                return Response("fail")
            return Response(f'{{"code":"FAIL","message":"{exc}"}}', 401, media_type="application/json")
        with lock:
            key = str(got.notification_id)
            tries[key] = tries.get(key, 0) + 1
            if tries[key] <= flaky:
                return Response(status_code=503)
            if key not in applied:
                applied.append(key)
        return Response("success") if kind == "alipay" else Response(status_code=204)

    return app, applied


@pytest.fixture
def server() -> Iterator[Local]:
    keys = {"wechatpay_v3": WX.keys, "alipay": ALI.keys}
    app, applied = notify_app(1, keys)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if srv.started:
            break
        threading.Event().wait(0.01)
    yield Local(f"http://127.0.0.1:{port}", applied, keys)
    srv.should_exit = True
    thread.join(5)
    sock.close()


def test_many_deliveries_in_the_pool_against_a_local_server(server: Local) -> None:
    base_url, applied = server.base_url, server.applied
    valid = [WX.notification(WX.pay(f"CB-S{i}", 4000 + i, PAID)) for i in range(12)]
    valid += [ALI.notification(ALI.pay(f"CB-S{i}", 4000 + i, PAID)) for i in range(12)]
    refused = [WX.tampered(valid[0]), WX.late(valid[1]), ALI.tampered(valid[12]), ALI.wrong_key(valid[13])]
    with Deliverer(base_url, time_scale=0.0001, workers=6, max_attempts=3) as d:
        done = d.deliver_all([*valid, *refused])
    assert all(x.acknowledged and len(x.attempts) == 2 for x in done[: len(valid)])  # 503 once, then taken
    assert all(not x.acknowledged and len(x.attempts) == 3 for x in done[len(valid) :])
    assert done[-4].statuses == [401, 401, 401] and done[-2].attempts[0].answer == "fail"
    assert sorted(applied) == sorted(n.payment.notification_id for n in valid)


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    return database_url


def test_setup_registers_the_two_channels_once_and_pay_delivers(
    cli_database: str, tmp_path: Path, server: Local
) -> None:
    folder = tmp_path / "sim"
    first = invoke(["simulator", "setup", "--dir", str(folder), "--actor", "demo"])
    assert first.code == 0, first.err
    assert "wx：微信支付（APIv3）" in first.out and "ali：支付宝" in first.out and "新生成" in first.out
    assert "/notify/wechatpay_v3/wx" in first.out and "已登记" in first.out
    again = invoke(["simulator", "setup", "--dir", str(folder)])
    assert again.code == 0 and again.out.count("此前已登记") == 2 and "沿用" in again.out
    listed = invoke(["channel", "list"])
    assert "wx：微信支付（APIv3）" in listed.out and "ali：支付宝" in listed.out
    base_url, applied = server.base_url, server.applied
    server.keys.update({k: ChannelKeys.load(folder, n) for n, k in (("wx", "wechatpay_v3"), ("ali", "alipay"))})
    paid = invoke(["simulator", "pay", "--dir", str(folder), "--channel", "wx", "--out-trade-no", "CB-CLI1",
                   "--amount", "380", "--to", base_url, "--paid-at", "2021-12-31T15:59:58",
                   "--time-scale", "0"])  # fmt: skip
    assert paid.code == 0, paid.err
    assert "订单 CB-CLI1 已支付 380 元" in paid.out and "第 1 次" in paid.out and "HTTP 503" in paid.out
    assert "第 2 次（渠道时间 +0:00:15）：HTTP 204，已确认" in paid.out
    assert "CB-CLI1" in (folder / "wx" / "trades.jsonl").read_text(encoding="utf-8")
    refused = invoke(["simulator", "pay", "--dir", str(folder), "--channel", "ali", "--out-trade-no", "CB-CLI2",
                      "--amount", "40", "--to", base_url, "--time-scale", "0", "--max-attempts", "2",
                      "--variant", "tampered"])  # fmt: skip
    assert refused.code == 2 and "错误：通知未被" in refused.err and "共发送 2 次" in refused.err
    missing = invoke(["simulator", "pay", "--dir", str(tmp_path / "none"), "--channel", "wx", "--out-trade-no",
                      "X1", "--amount", "1", "--to", base_url])  # fmt: skip
    assert missing.code == 2 and "canbao simulator setup" in missing.err
    assert len(applied) == 1


def test_presigned_notifications_sent_once_each_concurrently(server: Local) -> None:
    import asyncio

    from canbao.simulator.sender import send_each_once

    at = dt.datetime.now(dt.UTC)
    ns = [WX.presigned(WX.notification(WX.pay(f"CB-P{i}", 4000, PAID)), at) for i in range(10)]
    assert ns[0].request(at + dt.timedelta(seconds=30)) == ns[0].request(at)  # signed ahead, kept
    first = asyncio.run(send_each_once(server.base_url, ns, concurrency=4))
    assert [a.status for a in first] == [503] * 10  # the server's first answer to each
    again = asyncio.run(send_each_once(server.base_url, ns, concurrency=4))
    assert all(a.acknowledged and a.status == 204 for a in again)
    assert sorted(server.applied) == sorted(n.payment.notification_id for n in ns)


def test_the_cashier_pays_and_delivers_and_a_placed_wechat_order_answers_notpay(server: Local) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from fastapi.testclient import TestClient

    from canbao.channels.wechatpay_v3 import authorization
    from canbao.simulator.gateway import create_gateway

    wx, ali = SimulatedChannel(WX.keys), SimulatedChannel(ALI.keys)
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway = create_gateway([wx, ali], deliver_to=server.base_url, time_scale=0,
                             merchant_public_key=merchant.public_key())  # fmt: skip
    with TestClient(gateway) as client:
        order = {"appid": WX.keys.appid, "mchid": WX.keys.merchant_id, "description": "参保缴费",
                 "out_trade_no": "CB-C1", "notify_url": "https://canbao/notify/wechatpay_v3/wx",
                 "amount": {"total": 38000, "currency": "CNY"}, "payer": {"openid": "o" + "x" * 27}}  # fmt: skip
        unsigned = client.post("/v3/pay/transactions/jsapi", json=order)
        assert unsigned.status_code == 401 and unsigned.json()["code"] == "SIGN_ERROR"  # as WeChat Pay refuses it
        body = json.dumps(order).encode()
        auth = authorization("POST", "/v3/pay/transactions/jsapi", body, mchid=WX.keys.merchant_id, serial="S1",
                             private_key=merchant, at=dt.datetime.now(dt.UTC), nonce="n1")  # fmt: skip
        placed = client.post("/v3/pay/transactions/jsapi", content=body,
                             headers={"Authorization": auth, "Content-Type": "application/json"})  # fmt: skip
        assert placed.status_code == 200 and placed.json()["prepay_id"].startswith("wx")
        query = f"/v3/pay/transactions/out-trade-no/CB-C1?mchid={WX.keys.merchant_id}"
        assert client.get(query).json()["trade_state"] == "NOTPAY"
        page = client.get("/cashier/wx", params={"out_trade_no": "CB-C1", "amount_fen": 38000, "return_url": "/done"})
        assert page.status_code == 200 and "¥380.00" in page.text and "模拟收银台" in page.text
        paid = client.post("/cashier/wx", data={"out_trade_no": "CB-C1", "amount_fen": "38000", "return_url": "/done"},
                           follow_redirects=False)  # fmt: skip
        assert paid.status_code == 303 and paid.headers["location"] == "/done"
        assert client.get(query).json()["trade_state"] == "SUCCESS"
        client.post("/cashier/ali", data={"out_trade_no": "CB-C2", "amount_fen": "4000"})
        for _ in range(500):  # each delivery: 503 once, then taken
            if len(server.applied) == 2:
                break
            threading.Event().wait(0.01)
    paid_ids = {p.notification_id for p in (wx.lookup("CB-C1"), ali.lookup("CB-C2")) if p is not None}
    assert set(server.applied) == paid_ids and len(paid_ids) == 2
