"""Residents' online payments end to end (issue 15), on SQLite and PostgreSQL: an order made at
POST /api/v1/orders, the channel's signed notification at POST /notify/{kind}/{name}, the inbox applied once —
whatever the replays — and every refusal: tampered, late, for an order canbao did not make, for another amount."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, func, select

from canbao.ids import make_id_number
from canbao.services.channels import add_channel
from canbao.services.notifications import apply_pending
from canbao.services.resident_access import ID_FAILURES, NOT_RECOGNISED
from canbao.store.tables import (
    audit_log,
    channel_notifications,
    enrollments,
    ledger_entries,
    order_persons,
    orders,
)
from test_channels import API_V3_KEY, CHANNEL_KEY, OTHER_KEY, SERIAL, alipay_params, transaction, wechat_notification
from web_support import Portal

COUNTY = "341323"  # 灵城 (Lingbi), its 2022 campaign
TODAY = dt.date(2021, 12, 20)
NOW = dt.datetime(2021, 12, 20, 2, 0, tzinfo=dt.UTC)


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def public_pem() -> bytes:
    return CHANNEL_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def portal(engine: Engine) -> Portal:
    add_channel(engine, name="wx", kind="wechatpay_v3", merchant_id="1230000109", platform_public_key=public_pem(),
                platform_serial=SERIAL, api_v3_key=API_V3_KEY, actor="test", now=NOW)  # fmt: skip
    add_channel(engine, name="ali", kind="alipay", merchant_id="2014072300007148", platform_public_key=public_pem(),
                actor="test", now=NOW)  # fmt: skip
    return Portal(engine, now=NOW, fixed_today=TODAY)


def new_resident(seq: int, birth: str = "1980-01-01", name: str = "张三") -> dict[str, Any]:
    return {"name": name, "id_number": make_id_number(COUNTY, dt.date.fromisoformat(birth), seq),
            "residency": "local_hukou", "county": COUNTY, "township": "灵城镇", "village": "城东社区"}  # fmt: skip


def order(portal: Portal, channel: str = "wx", **payer: Any) -> dict[str, Any]:
    person = payer or new_resident(301)
    body = {"name": person["name"], "id_number": person["id_number"], "channel": channel, "persons": [person]}
    answer = portal.client.post("/api/v1/orders", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def wechat(created: dict[str, Any], *, txn: str = "4200001234202112208888888888", **changes: Any) -> Any:
    tx = transaction(out_trade_no=created["out_trade_no"], transaction_id=txn,
                     success_time="2021-12-20T10:00:00+08:00",
                     amount={"total": round(created["amount"] * 100), "payer_total": 0, "currency": "CNY",
                             "payer_currency": "CNY"}) | changes  # fmt: skip
    return wechat_notification(tx, sent=real_now())


def post_wechat(portal: Portal, notification: tuple[dict[str, str], bytes]) -> Any:
    headers, body = notification
    return portal.client.post("/notify/wechatpay_v3/wx", content=body,
                              headers=headers | {"Content-Type": "application/json"})  # fmt: skip


def apply(portal: Portal) -> None:
    apply_pending(portal.engine, runner="test", now=NOW, today=TODAY)


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_a_wechat_payment_enrolls_the_order_once_with_the_channels_transaction_id(portal: Portal) -> None:
    created = order(portal)
    assert created["amount"] == 320 and created["persons"][0]["amount"] == 320
    assert created["persons"][0]["id_number"].count("*") == 8
    answer = post_wechat(portal, wechat(created))
    assert answer.status_code == 204 and answer.content == b""
    for _ in range(3):  # WeChat's retries and a replay: one inbox row
        assert post_wechat(portal, wechat(created)).status_code == 204
    assert count(portal.engine, channel_notifications) == 1
    status = portal.client.get(f"/api/v1/orders/{created['out_trade_no']}", headers={"X-Order-Token": created["token"]})
    assert status.json()["status"] == "open"
    apply(portal)
    apply(portal)  # nothing left to apply
    with portal.engine.connect() as c:
        entries = c.execute(select(ledger_entries).where(ledger_entries.c.kind == "payment")).mappings().all()
        enrollment = c.execute(select(enrollments)).mappings().one()
    keys = ("channel", "channel_name", "channel_txn_id", "out_trade_no", "amount_fen")
    found = [tuple(e[k] for k in keys) for e in entries]
    assert found == [("online", "wx", "4200001234202112208888888888", created["out_trade_no"], 32000)]
    assert enrollment["paid_on"] == dt.date(2021, 12, 20) and enrollment["benefit_year"] == 2022
    status = portal.client.get(f"/api/v1/orders/{created['out_trade_no']}", headers={"X-Order-Token": created["token"]})
    assert status.json()["status"] == "paid"
    assert status.json()["persons"] == [{"name": "张三", "id_number": created["persons"][0]["id_number"], "amount": 320,
                                         "enrolled": True}]  # fmt: skip
    assert status.json()["channel_txn_id"] == "4200001234202112208888888888"
    # the order's status needs its token; a wrong one is the same answer as no order at all
    wrong = portal.client.get(f"/api/v1/orders/{created['out_trade_no']}", headers={"X-Order-Token": "x"})
    none = portal.client.get("/api/v1/orders/CB000", headers={"X-Order-Token": created["token"]})
    assert wrong.status_code == none.status_code == 404 and wrong.json() == none.json()


def test_a_tampered_or_late_wechat_notification_is_refused_and_nothing_recorded(portal: Portal) -> None:
    created = order(portal)
    headers, body = wechat(created)
    tampered = post_wechat(portal, (headers, body.replace(b"AEAD_AES_256_GCM", b"AEAD_AES_256_GCM ")))
    assert tampered.status_code == 401 and tampered.json()["code"] == "FAIL" and tampered.json()["message"]
    late = wechat_notification(json.loads(json.dumps(transaction(out_trade_no=created["out_trade_no"]))),
                               sent=real_now() - dt.timedelta(minutes=6))  # fmt: skip
    assert post_wechat(portal, late).status_code == 401
    forged = wechat_notification(transaction(out_trade_no=created["out_trade_no"]), key=OTHER_KEY, sent=real_now())
    assert post_wechat(portal, forged).status_code == 401
    unknown_channel = portal.client.post("/notify/wechatpay_v3/nope", content=body, headers=headers)
    assert unknown_channel.status_code == 404 and unknown_channel.json()["code"] == "FAIL"
    assert count(portal.engine, channel_notifications) == 0


def test_a_signed_notification_for_another_amount_or_an_unknown_order_is_flagged_never_enrolled(portal: Portal) -> None:
    created = order(portal)
    wrong = post_wechat(portal, wechat(created, amount={"total": 100, "payer_total": 100, "currency": "CNY",
                                                         "payer_currency": "CNY"}))  # fmt: skip
    assert wrong.status_code == 400 and "不符" in wrong.json()["message"]
    again = post_wechat(portal, wechat(created, amount={"total": 100, "payer_total": 100, "currency": "CNY",
                                                         "payer_currency": "CNY"}))  # fmt: skip
    assert again.status_code == 400 and again.json() == wrong.json()  # the channel's retry: refused again
    stranger = post_wechat(portal, wechat(created, out_trade_no="CB20211220UNKNOWN00000001", txn="4200000000000001"))
    assert stranger.status_code == 400 and "不是 canbao 创建的订单" in stranger.json()["message"]
    apply(portal)
    assert count(portal.engine, channel_notifications, channel_notifications.c.status == "flagged") == 2
    assert count(portal.engine, enrollments) == 0 and count(portal.engine, ledger_entries) == 0


def test_an_alipay_payment_is_answered_with_the_bare_success_and_enrolls_once(portal: Portal) -> None:
    created = order(portal, "ali", **new_resident(302, name="李四"))
    params = alipay_params(out_trade_no=created["out_trade_no"], total_amount="320.00",
                           gmt_payment="2021-12-20 10:00:00", trade_no="2021122022001488880500099999")  # fmt: skip
    for _ in range(2):
        answer = portal.client.post("/notify/alipay/ali", content=urlencode(params),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert answer.status_code == 200 and answer.text == "success"
    tampered = params | {"total_amount": "0.01"}
    refused = portal.client.post("/notify/alipay/ali", content=urlencode(tampered),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert refused.text != "success"
    apply(portal)
    with portal.engine.connect() as c:
        txns = c.execute(select(ledger_entries.c.channel_txn_id, ledger_entries.c.channel_name)).all()
    assert txns == [("2021122022001488880500099999", "ali")]


def test_an_alipay_closed_trade_is_acknowledged_and_audited_never_enrolled_and_a_forged_one_refused(
    portal: Portal,
) -> None:
    """TRADE_CLOSED, which Alipay sends by default (an unpaid trade closed at its timeout, a paid one refunded in
    full), and WAIT_BUYER_PAY: answered success so that Alipay stops sending them, nothing in the inbox."""
    created = order(portal, "ali", **new_resident(305, name="王五"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for k, status in enumerate(("TRADE_CLOSED", "WAIT_BUYER_PAY")):
        params = alipay_params(out_trade_no=created["out_trade_no"], total_amount="320.00", trade_status=status,
                               trade_no=f"202112202200148888050009000{k}")  # fmt: skip
        answer = portal.client.post("/notify/alipay/ali", content=urlencode(params), headers=form)
        assert (answer.status_code, answer.text) == (200, "success")
    forged = alipay_params(out_trade_no=created["out_trade_no"], trade_status="TRADE_CLOSED", key=OTHER_KEY)
    answer = portal.client.post("/notify/alipay/ali", content=urlencode(forged), headers=form)
    assert answer.status_code == 401 and answer.text != "success"
    apply(portal)
    assert count(portal.engine, channel_notifications) == 0
    assert count(portal.engine, ledger_entries) == 0
    with portal.engine.connect() as c:
        lines = c.execute(
            select(audit_log.c.actor, audit_log.c.subject, audit_log.c.detail)
            .where(audit_log.c.outcome == "not_paid")
            .order_by(audit_log.c.id)
        ).all()
    assert [(a, s) for a, s, _ in lines] == [
        ("channel:ali", "2021122022001488880500090000"), ("channel:ali", "2021122022001488880500090001")
    ]  # fmt: skip
    assert "TRADE_CLOSED" in lines[0][2] and "不入账" in lines[0][2]


def test_a_family_order_enrolls_each_person_with_the_transaction_id_suffixed_after_the_first(portal: Portal) -> None:
    payer, child = new_resident(303), new_resident(304, birth="2015-06-01", name="张小")
    body = {"name": payer["name"], "id_number": payer["id_number"], "channel": "wx", "persons": [payer, child]}
    created = portal.client.post("/api/v1/orders", json=body).json()
    assert created["amount"] == 640 and len(created["persons"]) == 2
    assert post_wechat(portal, wechat(created, txn="4200009999")).status_code == 204
    apply(portal)
    with portal.engine.connect() as c:
        txns = sorted(c.execute(select(ledger_entries.c.channel_txn_id)).scalars())
        linked = list(c.execute(select(order_persons.c.enrollment_id)).scalars())
        state = c.execute(select(orders.c.status)).scalar_one()
    assert txns == ["4200009999", "4200009999-2"] and all(linked) and state == "paid"


def test_a_wrong_name_says_nothing_of_the_id_and_is_throttled_per_id(portal: Portal) -> None:
    created = order(portal)
    assert post_wechat(portal, wechat(created)).status_code == 204
    apply(portal)  # 张三 is now registered
    registered = new_resident(301, name="王五")
    never_seen = {"name": "王五", "id_number": make_id_number(COUNTY, dt.date(1980, 1, 1), 399)}
    answers = []
    for person in (registered, never_seen):
        body = {"name": person["name"], "id_number": person["id_number"], "channel": "wx"}
        answers.append(portal.client.post("/api/v1/orders", json=body))
    assert answers[0].status_code == 422 and answers[0].json()["detail"] == NOT_RECOGNISED, answers[0].text
    assert answers[1].status_code == 422 and "上年度未参保" in answers[1].json()["detail"]
    body = {"name": "王五", "id_number": registered["id_number"], "channel": "wx"}
    for _ in range(ID_FAILURES - 1):
        assert portal.client.post("/api/v1/orders", json=body).status_code == 422
    throttled = portal.client_at("10.9.9.9").post("/api/v1/orders", json=body)  # another address, the same ID
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0


def test_a_wrong_name_in_the_preview_or_for_a_family_member_counts_against_that_id(portal: Portal) -> None:
    created = order(portal)
    assert post_wechat(portal, wechat(created)).status_code == 204
    apply(portal)  # 张三 is now registered
    guessed = {"name": "王五", "id_number": new_resident(301)["id_number"]}
    for _ in range(ID_FAILURES - 1):
        answer = portal.client.post("/api/v1/orders/preview", json={"persons": [guessed]})
        assert answer.status_code == 422 and answer.json()["detail"] == NOT_RECOGNISED
    payer = new_resident(305, name="赵六")
    family = {"name": payer["name"], "id_number": payer["id_number"], "channel": "wx", "persons": [payer, guessed]}
    assert portal.client.post("/api/v1/orders", json=family).status_code == 422  # the last failure allowed
    throttled = portal.client_at("10.8.8.8").post("/api/v1/orders/preview", json={"persons": [guessed]})
    assert throttled.status_code == 429
