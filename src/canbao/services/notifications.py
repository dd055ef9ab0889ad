"""Channels' payment notifications (issue 15): verified, recorded in the inbox, then applied exactly once.

1. `receive` verifies a notification (canbao.channels: the channel's signature, its timestamp against the real
   clock, the decrypted resource) and records it in `channel_notifications` — one row per channel and channel
   transaction (`INSERT … ON CONFLICT DO NOTHING`), committed with the others arriving meanwhile
   (canbao.services.inbox) — before canbao answers success: a notification answered success is never lost,
   and its replays, retries and copies are one row.
2. A notification whose order canbao did not create, of another channel, or whose amount differs from the
   order's, is refused (the channel retries, nothing is enrolled) and kept as `flagged` for reconciliation.
3. `apply_pending` (run by `NotificationApplier`, a thread of every serving process) claims pending rows and
   applies them in batches through `payment_batch.apply_payments` — the same rules as a day's file, a frame of
   the claimed orders' persons — then marks them applied.  A crash between the two leaves the rows pending:
   applying again answers `replayed` from the ledger's unique transaction id, so each payment is applied once.
   A person the rules refuse (enrolled meanwhile elsewhere, no longer eligible) flags the notification: the
   money came, the enrollment did not, a refund or a correction is for the staff.

The ledger's transaction id of a channel payment is the channel's own (WeChat's transaction_id, Alipay's
trade_no); the second and later persons of a family order carry `{transaction id}-{k}`, their order's
out_trade_no beside it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import polars as pl
from sqlalchemy import BigInteger, Connection, Engine, bindparam, select, update

from canbao.channels import ChannelPayment, NotAPayment, NotificationRefused, alipay, wechatpay_v3
from canbao.clock import campaign_date
from canbao.errors import CanbaoError
from canbao.quote import application_row
from canbao.rules.columns import input_frame
from canbao.services import inbox
from canbao.services.channels import Channel, channel_named
from canbao.services.payment_batch import apply_payments
from canbao.store.bulk import one_of, update_rows
from canbao.store.tables import channel_notifications, order_persons, orders
from canbao.store.uow import audit, busy_is_refusal
from canbao.store.uow import now as utc_now

CLAIM_STALE = dt.timedelta(seconds=30)  # a claim older than this (its process died) is taken again
BATCH = 2_000  # notifications applied together
CHANNEL_CACHE_S = 30.0  # a channel's keys are read again after this long (a key added by `channel add-key`)


class UnknownChannel(NotificationRefused):
    """No channel of that kind and name is registered (the notification's address is wrong)."""


class NotificationFlagged(NotificationRefused):
    """A notification the channel signed, for an order canbao did not make or for another amount: refused and
    kept for reconciliation."""


@dataclass(frozen=True)
class Receipt:
    inbox_id: int | None
    duplicate: bool  # a retry or replay of a notification already recorded


# --- receiving -------------------------------------------------------------------------------------------

_cache: dict[tuple[int, str, str], tuple[float, Channel | None]] = {}
_cache_lock = threading.Lock()
_load_lock = threading.Lock()


def _cached(key: tuple[int, str, str]) -> tuple[bool, Channel | None]:
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CHANNEL_CACHE_S:
        return True, hit[1]
    return False, None


def cached_channel(engine: Engine, kind: str, name: str) -> Channel | None:
    """The channel a notification address names, its keys parsed once per CHANNEL_CACHE_S (a PEM key costs more
    to load than a signature to verify); read by one thread at a time (the rush's first notifications would
    each open a connection to read it)."""
    key = (id(engine), kind, name)  # (an engine lives as long as its process serves: its id is not reused)
    found, channel = _cached(key)
    if found:
        return channel
    with _load_lock:
        found, channel = _cached(key)
        if not found:
            channel = channel_named(engine, kind, name)
            with _cache_lock:
                _cache[key] = (time.monotonic(), channel)
    return channel


def read_payment(channel: Channel, headers: Mapping[str, str], body: bytes, real_now: dt.datetime) -> ChannelPayment:
    """The verified payment a notification reports (NotificationRefused otherwise)."""
    if channel.kind == wechatpay_v3.KIND:
        assert channel.platform_serial is not None and channel.api_v3_key is not None
        payment = wechatpay_v3.read_notification(
            headers, body, public_keys=channel.platform_keys, api_v3_key=channel.api_v3_key,
            now=real_now,
        )  # fmt: skip
    else:
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise NotificationRefused("通知内容不是 UTF-8 表单（application/x-www-form-urlencoded）") from None
        payment = alipay.read_notification(params, public_key=channel.public_key)
    if payment.merchant_id is not None and payment.merchant_id != channel.merchant_id:
        raise NotificationRefused(f"通知的商户号 {payment.merchant_id} 不是本渠道的商户号")
    return payment


def _receipt(engine: Engine, channel: Channel, payment: ChannelPayment, written: inbox.Written) -> Receipt:
    if written.flag:
        audit(engine, f"channel:{channel.name}", "notify", payment.transaction_id, "flagged", written.flag)
        raise NotificationFlagged(written.flag)
    return Receipt(written.inbox_id, written.inbox_id is None)


def record(
    engine: Engine, channel: Channel, payment: ChannelPayment, *, source: str, received_at: dt.datetime
) -> Receipt:
    """Keep a verified payment in the inbox, committed before this returns (canbao.services.inbox: together
    with whatever else arrives meanwhile); NotificationFlagged when it does not match an order of canbao's of
    this channel and amount."""
    future = inbox.submit(engine, channel, payment, source=source, received_at=received_at, on_written=wake_appliers)
    return _receipt(engine, channel, payment, future.result())


def _known(channel: Channel | None, kind: str, name: str) -> Channel:
    if channel is None:
        raise UnknownChannel(f"没有登记类型为 {kind}、名称为 {name} 的渠道")
    return channel


def receive(
    engine: Engine, kind: str, name: str, *, headers: Mapping[str, str], body: bytes, real_now: dt.datetime
) -> Receipt:
    """A notification as it arrived at `/notify/{kind}/{name}`: verified, then recorded."""
    channel = _known(cached_channel(engine, kind, name), kind, name)
    try:
        payment = read_payment(channel, headers, body, real_now)
    except NotAPayment as exc:
        _audit_not_a_payment(engine, channel, exc)
        raise
    return record(engine, channel, payment, source="notify", received_at=real_now)


def _audit_not_a_payment(engine: Engine, channel: Channel, exc: NotAPayment) -> None:
    """A closed trade's notification kept in the audit log: one for an order canbao enrolled means the channel
    refunded it in full (the day's reconciliation against the channel's bill shows the money)."""
    audit(engine, f"channel:{channel.name}", "notify", exc.trade, "not_paid", str(exc))


async def receive_async(
    engine: Engine, kind: str, name: str, *, headers: Mapping[str, str], body: bytes, real_now: dt.datetime
) -> Receipt:
    """`receive` for a server's event loop, which it never blocks on the database: the signature is verified
    in the loop (a tenth of a millisecond: a thread's hand-over costs as much), the channel read and a flag
    audited in a thread, and the inbox's commit awaited.  Under the rush this spares a thread per
    notification, and the GIL the threads fought over."""
    found, channel = _cached((id(engine), kind, name))
    if not found:
        channel = await asyncio.to_thread(cached_channel, engine, kind, name)
    channel = _known(channel, kind, name)
    try:
        payment = read_payment(channel, headers, body, real_now)
    except NotAPayment as exc:
        await asyncio.to_thread(_audit_not_a_payment, engine, channel, exc)
        raise
    future = inbox.submit(engine, channel, payment, source="notify", received_at=real_now, on_written=wake_appliers)
    written = await asyncio.wrap_future(future)
    if written.flag:
        return await asyncio.to_thread(_receipt, engine, channel, payment, written)
    return _receipt(engine, channel, payment, written)


# --- applying --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    claimed: int
    applied: int
    flagged: int


def _claim(engine: Engine, token: str, now: dt.datetime, limit: int) -> list[int]:
    n = channel_notifications.c
    with busy_is_refusal(), engine.begin() as c:
        free = (
            select(n.id)
            .where(n.status == "pending", (n.claimed_at.is_(None)) | (n.claimed_at < now - CLAIM_STALE))
            .order_by(n.id)
            .limit(limit)
        )
        if c.dialect.name == "postgresql":
            free = free.with_for_update(skip_locked=True)
        ids = list(c.execute(free).scalars())
        if ids:
            c.execute(
                update(channel_notifications)
                .where(one_of(c, n.id, ids, BigInteger()))
                .values(claimed_by=token, claimed_at=now)
            )
    return ids


def _payment_rows(c: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """The claimed notifications' persons as payment rows (the quote contract's input plus the payment)."""
    n, o, p = channel_notifications.c, orders.c, order_persons.c
    rows = c.execute(
        select(
            n.id.label("inbox_id"), n.transaction_id, n.succeeded_at, o.id.label("order_id"), o.out_trade_no,
            o.policy, o.channel,
            p.seq, p.application, p.township, p.village, p.phone, p.amount_fen,
        )
        .join(orders, o.out_trade_no == n.out_trade_no)
        .join(order_persons, p.order_id == o.id)
        .where(one_of(c, n.id, ids, BigInteger()))
        .order_by(n.id, p.seq)
    ).mappings().all()  # fmt: skip
    out = []
    for r in rows:
        row = application_row(json.loads(r["application"]))  # the quote contract's input, checked as a quote's is
        txn = r["transaction_id"] if r["seq"] == 1 else f"{r['transaction_id']}-{r['seq']}"
        row.update(
            inbox_id=r["inbox_id"], order_id=r["order_id"], policy=r["policy"], seq=r["seq"],
            transaction_id=r["transaction_id"],
            paid_on=campaign_date(r["succeeded_at"]), channel="online", channel_name=r["channel"], txn_id=txn,
            amount_fen=r["amount_fen"], township=r["township"], village=r["village"], phone=r["phone"],
            out_trade_no=r["out_trade_no"],
        )  # fmt: skip
        out.append(row)
    return out


def apply_pending(
    engine: Engine, *, runner: str, now: dt.datetime, today: dt.date | None, limit: int = BATCH
) -> Applied:
    """Apply up to `limit` pending notifications (see the module docstring); `today`: the campaign's day ID
    numbers are checked against."""
    token = f"{runner[:20]}:{secrets.token_hex(5)}"
    ids = _claim(engine, token, now, limit)
    if not ids:
        return Applied(0, 0, 0)
    with engine.connect() as c:
        rows = _payment_rows(c, ids)
    results = []
    if rows:
        keys = ["inbox_id", "order_id", "seq", "out_trade_no", "transaction_id"]
        for (policy_id,), part in input_frame(rows).group_by("policy", maintain_order=True):
            payments = part.drop("inbox_id", "order_id", "policy", "seq", "transaction_id")
            outcome = apply_payments(engine, str(policy_id), payments, "channel:online", today=today, audit_batch=False)
            results.append(part.select(keys).hstack(outcome.drop("payment_row")))
    return _mark(engine, ids, results, now)


def _mark(engine: Engine, ids: list[int], results: list[pl.DataFrame], now: dt.datetime) -> Applied:
    """Each claimed notification applied (every person enrolled, or already) or flagged with the refusals."""
    done = pl.concat(results) if results else pl.DataFrame({"inbox_id": [], "seq": [], "outcome": []})
    flagged: dict[int, str] = {}
    for r in done.filter(pl.col("outcome") == "refused").iter_rows(named=True):
        flagged[r["inbox_id"]] = (flagged.get(r["inbox_id"], "") + f"第 {r['seq']} 人：{r['reason']}；").strip()
    missing = set(ids) - set(done["inbox_id"].to_list())
    for inbox_id in missing:  # no order behind it (cannot happen: record flags those)
        flagged[inbox_id] = "找不到通知对应的订单"
    n = channel_notifications.c
    with busy_is_refusal(), engine.begin() as c:
        if flagged:
            c.execute(
                update(channel_notifications)
                .where(n.id == bindparam("inbox"))
                .values(status="flagged", flag_reason=bindparam("reason"), applied_at=now),
                [{"inbox": k, "reason": v} for k, v in flagged.items()],
            )
        ok = [i for i in ids if i not in flagged]
        if ok:
            c.execute(
                update(channel_notifications)
                .where(one_of(c, n.id, ok, BigInteger()))
                .values(status="applied", applied_at=now)
            )
        _mark_orders(c, done, flagged, now)
    return Applied(len(ids), len(ids) - len(flagged), len(flagged))


def _mark_orders(c: Connection, done: pl.DataFrame, flagged: dict[int, str], now: dt.datetime) -> None:
    """The orders paid (or flagged) with the channel's transaction, their persons linked to their enrollments:
    one statement each (store.bulk.update_rows)."""
    paid = done.unique("inbox_id", keep="first", maintain_order=True)
    if paid.height == 0:
        return
    update_rows(
        c,
        orders,
        [
            {"out_trade_no": r["out_trade_no"], "channel_txn_id": r["transaction_id"], "paid_at": now,
             "status": "flagged" if r["inbox_id"] in flagged else "paid"}
            for r in paid.iter_rows(named=True)
        ],
        keys=["out_trade_no"],
        where=[orders.c.status == "open"],
    )  # fmt: skip
    linked = done.filter(pl.col("enrollment_id").is_not_null()).select("order_id", "seq", "enrollment_id")
    update_rows(c, order_persons, linked.rows(named=True), keys=["order_id", "seq"])


# --- the applier thread ----------------------------------------------------------------------------------

_appliers: list[NotificationApplier] = []


def wake_appliers() -> None:
    for applier in list(_appliers):
        applier.wake()


APPLIER_NICE = 10  # an applier in a process of its own gives way to the workers' acknowledgements


def _lower_priority(by: int) -> None:
    """This thread's scheduling priority lowered `by` (Linux: a thread's nice value is its own): at the rush
    the two cores are shared with the workers that answer the channels, whose answers are due in tens of
    milliseconds, while an enrollment has a second to become visible (benchmarks/notifications.py).  Not for
    a thread that shares its process's GIL with requests: they would wait for it to be scheduled."""
    if by == 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + by)
    except (AttributeError, OSError):  # Windows has no nice values: the applier runs as it is
        pass


class NotificationApplier:
    """A thread of a serving process that applies the inbox: woken by every notification this process records,
    and every POLL_S anyway (notifications recorded by another process, claims a dead process left)."""

    POLL_S = 0.25
    GATHER_S = 0.3

    def __init__(
        self,
        engine: Engine,
        *,
        runner: str,
        clock: Callable[[], dt.datetime] = utc_now,
        today: Callable[[], dt.date | None] = lambda: None,
        on_error: Callable[[BaseException], object] | None = None,
        nice: int = 0,
    ) -> None:
        self.engine, self.runner, self.clock, self.today = engine, runner, clock, today
        self.on_error, self.nice = on_error, nice
        self._event = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._event.set()

    def start(self) -> None:
        _appliers.append(self)
        self._thread = threading.Thread(target=self._run, name="canbao-notifications", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        if self in _appliers:
            _appliers.remove(self)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        _lower_priority(self.nice)
        while not self._stop.is_set():
            self._event.wait(self.POLL_S)
            self._event.clear()
            try:
                while not self._stop.is_set():
                    started = time.monotonic()
                    applied = apply_pending(self.engine, runner=self.runner, now=self.clock(), today=self.today())
                    if applied.claimed == 0:
                        break
                    # More are coming (the rush): a cycle's fixed cost, the rules' frame work of about 0.15 s,
                    # is paid for what arrives in GATHER_S at least, not for each few notifications.
                    self._stop.wait(max(0.0, self.GATHER_S - (time.monotonic() - started)))
            except CanbaoError:
                time.sleep(self.POLL_S)  # the database is busy: try again
            except Exception as exc:  # a bug: logged, the thread lives on
                if self.on_error is not None:
                    self.on_error(exc)
                time.sleep(1.0)
