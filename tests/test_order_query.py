"""主动查单 (issue 15), on SQLite and PostgreSQL: an order with no notification after the policy's
query_after_minutes is asked after at its channel — the simulator's gateway answering WeChat Pay's query by
out_trade_no and Alipay's alipay.trade.query, signed as the channels sign — and a payment it reports is applied
once, a late notification of the same payment changing nothing; unpaid, refused, forged and unreachable
answers enroll nobody and are noted on the order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from canbao.channels import NotificationRefused, alipay, wechatpay_v3
from canbao.policy import load_policy
from canbao.services.channels import add_channel
from canbao.services.notifications import apply_pending
from canbao.services.order_query import due_orders, query_due
from canbao.simulator.channel import SimulatedChannel
from canbao.simulator.gateway import create_gateway
from canbao.simulator.keys import ChannelKeys
from canbao.store.tables import channel_notifications, enrollments, ledger_entries, orders
from test_online_payments import NOW, TODAY, new_resident, order
from web_support import Portal

KEYS = {kind: ChannelKeys.generate(kind, name) for name, kind in (("wx", "wechatpay_v3"), ("ali", "alipay"))}
MERCHANT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # canbao's own, signs its queries
AFTER = dt.timedelta(minutes=load_policy("anhui/suzhou/lingbi/2022").online_payment.query_after_minutes)  # type: ignore[union-attr]
LATER = NOW + AFTER + dt.timedelta(seconds=1)
PAID = NOW + dt.timedelta(minutes=3)
GATEWAY = {"wechatpay_v3": "http://testserver", "alipay": "http://testserver/gateway.do"}


def merchant_pem() -> bytes:
    return MERCHANT_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def register(engine: Engine, keys: ChannelKeys, *, merchant_key: bool = True, public_pem: bytes | None = None) -> None:
    add_channel(
        engine, name=keys.name, kind=keys.kind, merchant_id=keys.merchant_id,
        platform_public_key=public_pem or keys.public_key_pem, platform_serial=keys.serial,
        api_v3_key=keys.api_v3_key, merchant_private_key=merchant_pem() if merchant_key else None,
        merchant_serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1" if merchant_key and keys.serial else None,
        gateway_url=GATEWAY[keys.kind], actor="test", now=NOW,
    )  # fmt: skip


@pytest.fixture
def simulated() -> dict[str, SimulatedChannel]:
    return {kind: SimulatedChannel(keys) for kind, keys in KEYS.items()}


def gateway(simulated: dict[str, SimulatedChannel], at: dt.datetime = LATER) -> TestClient:
    return TestClient(create_gateway(simulated.values(), clock=lambda: at))


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def the_order(engine: Engine, number: str) -> Any:
    with engine.connect() as c:
        return c.execute(select(orders).where(orders.c.out_trade_no == number)).one()


@pytest.mark.parametrize("kind", ["wechatpay_v3", "alipay"])
def test_a_paid_order_without_notification_is_applied_from_the_channels_answer(
    engine: Engine, simulated: dict[str, SimulatedChannel], kind: str
) -> None:
    register(engine, KEYS[kind])
    portal = Portal(engine, now=NOW, fixed_today=TODAY)
    made = order(portal, KEYS[kind].name, **new_resident(501))
    payment = simulated[kind].pay(made["out_trade_no"], round(made["amount"] * 100), PAID)
    assert due_orders(engine, NOW + AFTER - dt.timedelta(seconds=1)) == []  # not yet: the policy's minutes
    sweep = query_due(engine, now=LATER, http=gateway(simulated))
    assert (sweep.asked, sweep.paid, sweep.failed) == (1, 1, 0)
    with engine.connect() as c:
        row = c.execute(select(channel_notifications)).one()
    assert (row.source, row.transaction_id, row.status) == ("query", payment.transaction_id, "pending")
    apply_pending(engine, runner="test", now=LATER, today=TODAY)
    with engine.connect() as c:
        entry = c.execute(select(ledger_entries).where(ledger_entries.c.kind == "payment")).one()
    assert (entry.channel_txn_id, entry.out_trade_no, entry.amount_fen) == (
        payment.transaction_id, made["out_trade_no"], payment.amount_fen,
    )  # fmt: skip
    assert the_order(engine, made["out_trade_no"]).status == "paid"
    # the channel's own notification, late: the same transaction, nothing more
    headers, body = simulated[kind].notification(payment).request(dt.datetime.now(dt.UTC))
    answer = portal.client.post(f"/notify/{kind}/{KEYS[kind].name}", content=body, headers=headers)
    assert answer.status_code in (200, 204), answer.text
    apply_pending(engine, runner="test", now=LATER, today=TODAY)
    assert count(engine, ledger_entries, ledger_entries.c.kind == "payment") == 1
    assert count(engine, enrollments) == 1
    assert query_due(engine, now=LATER + 2 * AFTER, http=gateway(simulated)).asked == 0  # paid: never again


@pytest.mark.parametrize("kind", ["wechatpay_v3", "alipay"])
def test_an_unpaid_order_is_noted_and_asked_again_after_the_policys_minutes(
    engine: Engine, simulated: dict[str, SimulatedChannel], kind: str
) -> None:
    register(engine, KEYS[kind])
    portal = Portal(engine, now=NOW, fixed_today=TODAY)
    placed = order(portal, KEYS[kind].name, **new_resident(502))
    never = order(portal, KEYS[kind].name, **new_resident(503))
    simulated[kind].place(placed["out_trade_no"], round(placed["amount"] * 100))
    sweep = query_due(engine, now=LATER, http=gateway(simulated))
    assert (sweep.asked, sweep.unpaid, sweep.paid) == (2, 2, 0)
    assert "未支付" in the_order(engine, placed["out_trade_no"]).query_answer
    assert "尚未支付" in the_order(engine, never["out_trade_no"]).query_answer
    assert the_order(engine, never["out_trade_no"]).status == "open"
    assert count(engine, channel_notifications) == 0
    assert query_due(engine, now=LATER + AFTER / 2, http=gateway(simulated, LATER + AFTER / 2)).asked == 0
    later = LATER + AFTER + dt.timedelta(seconds=1)
    assert query_due(engine, now=later, http=gateway(simulated, later)).asked == 2


@pytest.mark.parametrize("kind", ["wechatpay_v3", "alipay"])
def test_a_forged_answer_enrolls_nobody(engine: Engine, simulated: dict[str, SimulatedChannel], kind: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    forged = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    register(engine, KEYS[kind], public_pem=forged)  # the answers are signed with a key canbao does not trust
    portal = Portal(engine, now=NOW, fixed_today=TODAY)
    made = order(portal, KEYS[kind].name, **new_resident(504))
    simulated[kind].pay(made["out_trade_no"], round(made["amount"] * 100), PAID)
    sweep = query_due(engine, now=LATER, http=gateway(simulated))
    assert (sweep.asked, sweep.failed, sweep.paid) == (1, 1, 0)
    assert "签名验证失败" in the_order(engine, made["out_trade_no"]).query_answer
    assert count(engine, channel_notifications) == 0


def test_an_unreachable_channel_and_one_without_a_merchant_key(
    engine: Engine, simulated: dict[str, SimulatedChannel]
) -> None:
    register(engine, KEYS["wechatpay_v3"])
    register(engine, KEYS["alipay"], merchant_key=False)
    portal = Portal(engine, now=NOW, fixed_today=TODAY)
    wx = order(portal, "wx", **new_resident(505))
    ali = order(portal, "ali", **new_resident(506))

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)

    sweep = query_due(engine, now=LATER, http=httpx.Client(transport=httpx.MockTransport(unreachable)))
    assert (sweep.asked, sweep.failed, sweep.not_configured) == (1, 1, 1)
    assert "无法连接渠道接口" in the_order(engine, wx["out_trade_no"]).query_answer
    assert "未配置商户 API 私钥" in the_order(engine, ali["out_trade_no"]).query_answer


def test_wechat_pay_query_is_signed_with_the_merchants_key() -> None:
    """The Authorization header as WeChat Pay's APIv3 checks a merchant's request: the signature over
    method, path with query, timestamp, nonce and body verifies with the merchant's public key."""
    import base64
    import re

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    path = wechatpay_v3.query_path("CB2021122012345678", "1230000109")
    assert path == "/v3/pay/transactions/out-trade-no/CB2021122012345678?mchid=1230000109"
    header = wechatpay_v3.authorization(
        "GET", path, b"", mchid="1230000109", serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        private_key=MERCHANT_KEY, at=NOW, nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
    )  # fmt: skip
    assert header.startswith("WECHATPAY2-SHA256-RSA2048 ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
    assert fields["mchid"] == "1230000109" and fields["timestamp"] == str(int(NOW.timestamp()))
    message = f"GET\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n\n".encode()
    MERCHANT_KEY.public_key().verify(
        base64.b64decode(fields["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
    )


def test_alipay_query_is_signed_over_the_sorted_parameters_with_sign_type() -> None:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    params = alipay.query_params("2014072300007148", "CB2021122012345678", private_key=MERCHANT_KEY, at=NOW)
    assert params["method"] == "alipay.trade.query" and params["timestamp"] == "2021-12-20 10:00:00"
    content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
    assert "sign_type=RSA2" in content
    MERCHANT_KEY.public_key().verify(
        base64.b64decode(params["sign"]), content.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_an_alipay_answer_whose_response_text_was_changed_is_refused() -> None:
    keys = KEYS["alipay"]
    trade = {"trade_no": "2021122022001400000000000001", "out_trade_no": "CB1", "trade_status": "TRADE_SUCCESS",
             "total_amount": "320.00", "send_pay_date": "2021-12-20 10:03:00"}  # fmt: skip
    from canbao.simulator import alipay as simulated_alipay

    body = simulated_alipay.query_answer(keys, trade, "CB1")
    answer = alipay.read_query_answer(body, public_key=keys.public_key, out_trade_no="CB1")
    assert answer.payment is not None and answer.payment.amount_fen == 32000
    with pytest.raises(NotificationRefused, match="签名验证失败"):
        alipay.read_query_answer(body.replace(b"320.00", b"32.00", 1), public_key=keys.public_key,
                                 out_trade_no="CB1")  # fmt: skip
