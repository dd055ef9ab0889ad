"""主动查单 (issue 15): an order with no notification after the policy's `online_payment.query_after_minutes`
is asked after at its channel, and a payment the channel reports goes into the inbox as a notification would
(`source` "query"): the inbox's unique transaction id makes the query and a late notification one payment.

- WeChat Pay: `GET {gateway}/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`, signed with the
  merchant's API key (`Authorization: WECHATPAY2-SHA256-RSA2048 …`), its answer's signature verified with the
  platform key as a notification's is (canbao.channels.wechatpay_v3).
- Alipay: `alipay.trade.query` at its gateway, the parameters signed RSA2 with the merchant's key, the answer's
  `sign` verified with Alipay's key (canbao.channels.alipay).

A channel without the merchant's key (`canbao channel add --merchant-private-key`) is not queried, and its
orders are counted as such.  An order is asked again every `query_after_minutes` while it is open, for a day
after it was made (QUERY_HORIZON: the channels stop retrying their notifications within a day; an order
older than that is the staff's, at reconciliation).  What each query answered is kept on the order
(`queried_at`, `query_answer`).  The channel's address is reached with `httpx`; a county network that cannot
reach it gets a clear answer on the order, and the next query tries again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
from sqlalchemy import Engine, select, update

from canbao.channels import NotificationRefused, QueryAnswer, alipay, wechatpay_v3
from canbao.clock import stored_utc
from canbao.policy import load_policy
from canbao.services.channels import Channel, channel_named
from canbao.services.notifications import NotificationFlagged, record
from canbao.services.periodic import Periodic
from canbao.store.tables import orders
from canbao.store.uow import busy_is_refusal

QUERY_HORIZON = dt.timedelta(days=1)
BATCH = 100  # orders asked after in one sweep at most
TIMEOUT_S = 10.0  # a channel's answer waited for this long


@dataclass
class Sweep:
    asked: int = 0
    paid: int = 0  # the channel reports it paid: recorded in the inbox
    unpaid: int = 0
    failed: int = 0  # no verified answer (unreachable, refused, a bad signature): asked again next time
    not_configured: int = 0  # the channel has no merchant key: not asked
    words: list[str] = field(default_factory=list)


def _query_after(policy_id: str) -> dt.timedelta | None:
    online = load_policy(policy_id).online_payment
    return dt.timedelta(minutes=online.query_after_minutes) if online is not None else None


def due_orders(engine: Engine, now: dt.datetime, limit: int = BATCH) -> list[tuple[str, str]]:
    """Open orders due a query now, oldest first: (out_trade_no, channel)."""
    o = orders.c
    with engine.connect() as c:
        rows = c.execute(
            select(o.out_trade_no, o.channel, o.policy, o.created_at, o.queried_at)
            .where(o.status == "open", o.created_at > now - QUERY_HORIZON)
            .order_by(o.created_at)
        ).all()
    due = []
    for r in rows:
        after = _query_after(r.policy)
        if after is None:
            continue
        last = r.queried_at or r.created_at
        if stored_utc(last) <= now - after:
            due.append((r.out_trade_no, r.channel))
        if len(due) >= limit:
            break
    return due


def ask_channel(channel: Channel, out_trade_no: str, *, now: dt.datetime, http: httpx.Client) -> QueryAnswer:
    """One order's state at its channel, verified; NotificationRefused when no verified answer came."""
    assert channel.merchant_key is not None
    try:
        if channel.kind == wechatpay_v3.KIND:
            assert channel.platform_serial is not None and channel.merchant_serial is not None
            path = wechatpay_v3.query_path(out_trade_no, channel.merchant_id)
            auth = wechatpay_v3.authorization(
                "GET", path, b"", mchid=channel.merchant_id,
                serial=channel.merchant_serial, private_key=channel.merchant_key, at=now, nonce=secrets.token_hex(16),
            )  # fmt: skip
            answer = http.get(channel.gateway + path, headers={"Authorization": auth, "Accept": "application/json"})
            return wechatpay_v3.read_query_answer(
                answer.status_code, dict(answer.headers), answer.content,
                public_keys=channel.platform_keys, now=now, out_trade_no=out_trade_no,
            )  # fmt: skip
        params = alipay.query_params(channel.merchant_id, out_trade_no, private_key=channel.merchant_key, at=now)
        answer = http.post(
            channel.gateway,
            content=urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
        )
        return alipay.read_query_answer(answer.content, public_key=channel.public_key, out_trade_no=out_trade_no)
    except httpx.HTTPError as exc:
        raise NotificationRefused(f"无法连接渠道接口 {channel.gateway}：{type(exc).__name__}") from None


def query_due(engine: Engine, *, now: dt.datetime, http: httpx.Client, limit: int = BATCH) -> Sweep:
    """Ask after every order due a query (see the module docstring); `now`: the real time."""
    sweep = Sweep()
    channels: dict[str, Channel | None] = {}
    for out_trade_no, name in due_orders(engine, now, limit):
        if name not in channels:
            channels[name] = channel_named(engine, None, name)
        channel = channels[name]
        if channel is None or channel.merchant_key is None:
            sweep.not_configured += 1
            _note(engine, out_trade_no, now, "渠道未配置商户 API 私钥，未能主动查单")
            continue
        sweep.asked += 1
        try:
            answer = ask_channel(channel, out_trade_no, now=now, http=http)
        except NotificationRefused as exc:
            sweep.failed += 1
            _note(engine, out_trade_no, now, f"查单未得到有效应答：{exc}")
            continue
        words = answer.words
        if answer.payment is None:
            sweep.unpaid += 1
        else:
            try:
                record(engine, channel, answer.payment, source="query", received_at=now)
                sweep.paid += 1
            except NotificationFlagged as exc:  # another amount than the order's: kept for reconciliation
                sweep.failed += 1
                words = f"{words}；已标记待核对：{exc}"
        _note(engine, out_trade_no, now, words)
        sweep.words.append(f"{out_trade_no}：{words}")
    return sweep


def _note(engine: Engine, out_trade_no: str, now: dt.datetime, words: str) -> None:
    with busy_is_refusal(), engine.begin() as c:
        c.execute(
            update(orders).where(orders.c.out_trade_no == out_trade_no).values(queried_at=now, query_answer=words[:200])
        )


class OrderQuerier(Periodic):
    """A thread of a serving process that runs `query_due` every EVERY_S (beside the inbox's applier), with one
    HTTP client across its sweeps."""

    EVERY_S = 60.0
    NAME = "canbao-order-query"
    JOIN_S = TIMEOUT_S + 5

    def held(self) -> contextlib.AbstractContextManager[object]:
        self._http = httpx.Client(timeout=TIMEOUT_S)
        return self._http

    def round(self) -> None:
        query_due(self.engine, now=self.clock(), http=self._http)
