"""The simulator against canbao's own endpoints (issue 15), on SQLite and PostgreSQL: orders made at
POST /api/v1/orders, the simulator's channels registered with their public parts, its notifications delivered to
POST /notify/{kind}/{name} on the channel's schedule — and canbao applying each valid payment once whatever the
replays and their order, refusing tampered and late ones, flagging a wrong amount and an order it never made."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, select

from canbao.services.notifications import apply_pending
from canbao.simulator.channel import SimulatedChannel, out_of_order
from canbao.simulator.keys import ChannelKeys
from canbao.simulator.sender import Deliverer
from canbao.store.tables import enrollments, ledger_entries
from test_online_payments import NOW, TODAY, new_resident, order
from web_support import Portal

PAID = dt.datetime(2021, 12, 20, 2, 0, 5, tzinfo=dt.UTC)  # 10:00:05 in Beijing, the campaign's day
KEYS = {kind: ChannelKeys.generate(kind, name) for name, kind in (("wx", "wechatpay_v3"), ("ali", "alipay"))}


@pytest.fixture
def portal(engine: Engine) -> Portal:
    for keys in KEYS.values():
        keys.register(engine, actor="test", now=NOW)
    return Portal(engine, now=NOW, fixed_today=TODAY)


def payments(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        rows = c.execute(
            select(ledger_entries.c.channel_name, ledger_entries.c.channel_txn_id, ledger_entries.c.out_trade_no,
                   ledger_entries.c.amount_fen).where(ledger_entries.c.kind == "payment")
        ).all()  # fmt: skip
    return sorted(tuple(r) for r in rows)


@pytest.mark.parametrize("kind", ["wechatpay_v3", "alipay"])
def test_the_simulators_notifications_through_canbaos_notify(portal: Portal, kind: str) -> None:
    channel = SimulatedChannel(KEYS[kind])
    name = channel.name
    made = [order(portal, name, **new_resident(400 + i)) for i in range(3)]
    paid = [channel.pay(m["out_trade_no"], round(m["amount"] * 100), PAID) for m in made]
    valid = [channel.notification(p) for p in paid]
    replays = [channel.replayed(valid[0], dt.datetime.now(dt.UTC)), valid[1], valid[2]]  # a capture; retries
    with Deliverer(portal.client.base_url.__str__(), client=portal.client, workers=1, time_scale=0,
                   max_attempts=2) as d:  # fmt: skip
        delivered = d.deliver_all(out_of_order([*valid, *replays], seed=7))
        refused = {
            "tampered": d.deliver(channel.tampered(valid[0])),
            "late": d.deliver(channel.late(valid[1])),
            "wrong_key": d.deliver(channel.wrong_key(valid[2])),
            "wrong_amount": d.deliver(channel.wrong_amount(paid[0], paid[0].amount_fen + 100)),
            "unknown_order": d.deliver(channel.unknown_order(32000, PAID)),
        }
    assert all(x.acknowledged and len(x.attempts) == 1 for x in delivered)
    ok = 204 if kind == "wechatpay_v3" else 200
    assert {x.attempts[0].status for x in delivered} == {ok}
    if kind == "alipay":
        assert {x.attempts[0].answer for x in delivered} == {"success"}
        del refused["late"]  # Alipay's signature carries no time: a late one is still Alipay's word
    for variant, x in refused.items():
        assert not x.acknowledged and len(x.attempts) == 2, variant
    if kind == "wechatpay_v3":
        assert refused["tampered"].statuses == [401, 401] and refused["late"].statuses == [401, 401]
    assert refused["wrong_amount"].statuses == [400, 400] and refused["unknown_order"].statuses == [400, 400]
    apply_pending(portal.engine, runner="test", now=NOW, today=TODAY)
    apply_pending(portal.engine, runner="test", now=NOW, today=TODAY)
    assert payments(portal.engine) == sorted(
        (name, p.transaction_id, p.out_trade_no, p.amount_fen) for p in paid
    )  # once each: the channel's own transaction id beside canbao's out_trade_no
    with portal.engine.connect() as c:
        days = c.execute(select(enrollments.c.paid_on)).scalars().all()
    assert days == [dt.date(2021, 12, 20)] * 3
    for m, p in zip(made, paid, strict=True):
        view = portal.client.get(f"/api/v1/orders/{m['out_trade_no']}", headers={"X-Order-Token": m["token"]})
        assert view.json()["status"] == "paid" and view.json()["channel_txn_id"] == p.transaction_id
