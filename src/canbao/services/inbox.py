"""The inbox of channels' notifications (issue 15): each verified notification durable before canbao answers.

At the 12-31 rush a commit of its own for every notification would cost one WAL flush each (about 850 a
second on this machine, the benchmark's ceiling): instead the notifications that arrive while one batch is
being written wait and go together in the next one — one INSERT, one flush, a few statements — and
each caller is answered after that commit (group commit).  A lone notification is written at once: there is
no delay to fill a batch.

A batch's statements: the orders its notifications name (one SELECT), the notifications themselves (one
multi-row `INSERT … ON CONFLICT (channel, transaction_id) DO NOTHING RETURNING`), and, for those already
there, the first copy (one SELECT).  A notification is `pending` when it matches an order of canbao's of the
same channel and amount, `flagged` with the reason otherwise.  A batch the database refuses for another
reason than being busy is written again one notification at a time, so that one bad notification does not
refuse the others.  Each engine's writer keeps a connection of its own while it writes (`_connection`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from canbao.channels import ChannelPayment
from canbao.money import to_yuan
from canbao.services.channels import Channel
from canbao.store.bulk import json_rows, one_of
from canbao.store.tables import channel_notifications, orders
from canbao.store.uow import busy_is_refusal, is_busy

BATCH = 500  # notifications written in one transaction at most (SQLite: under its 32,766 bound parameters)
IDLE_S = 10.0  # a writer with nothing to write this long ends (a new one starts with the next notification)


@dataclass(frozen=True)
class Written:
    """What the inbox holds for one notification: its new row's id (None: a copy of one already there) and the
    reason it is flagged (None: it matches its order)."""

    inbox_id: int | None
    flag: str | None


@dataclass(frozen=True)
class _Item:
    channel: Channel
    payment: ChannelPayment
    source: str
    received_at: dt.datetime


def _flag(item: _Item, order: tuple[str, int] | None) -> str | None:
    """Why a notification does not match the order it names (its channel name and amount), or None."""
    number, channel = item.payment.out_trade_no, item.channel.name
    if order is None:
        return f"订单 {number} 不是 canbao 创建的订单"
    if order[0] != channel:
        return f"订单 {number} 不是经由渠道 {channel} 创建的"
    if order[1] != item.payment.amount_fen:
        return f"通知金额 {to_yuan(item.payment.amount_fen)} 元与订单金额不符"
    return None


COLUMNS = ["channel", "channel_kind", "transaction_id", "out_trade_no", "notification_id", "amount_fen",
           "succeeded_at", "received_at", "source", "status", "flag_reason"]  # fmt: skip


def _insert(c: Connection, rows: list[dict[str, Any]]) -> Sequence[Row[Any]]:
    """The rows not there yet inserted, returned (id, channel, transaction_id, flag_reason).  One statement
    whose text does not change with the batch's size, compiled once: on PostgreSQL `INSERT … SELECT FROM
    json_to_recordset(rows)`, the batch one parameter; on SQLite an executemany SQLAlchemy sends as multi-row
    INSERTs."""
    n = channel_notifications.c
    returned = (n.id, n.channel, n.transaction_id, n.flag_reason)
    if c.dialect.name == "postgresql":
        given = json_rows(channel_notifications, rows, COLUMNS)
        statement = (
            postgresql.insert(channel_notifications)
            .from_select(COLUMNS, select(*(given.c[k] for k in COLUMNS)))
            .on_conflict_do_nothing(index_elements=["channel", "transaction_id"])
            .returning(*returned)
        )
        return c.execute(statement).all()
    statement = (
        sqlite.insert(channel_notifications)
        .on_conflict_do_nothing(index_elements=["channel", "transaction_id"])
        .returning(*returned)
    )
    return c.execute(statement, rows).all()


def write_batch(c: Connection, items: Sequence[_Item]) -> list[Written]:
    """The notifications into the inbox, in the caller's transaction (see the module docstring)."""
    o, n = orders.c, channel_notifications.c
    numbers = sorted({i.payment.out_trade_no for i in items})
    found = {r.out_trade_no: (r.channel, r.amount_fen) for r in c.execute(
        select(o.out_trade_no, o.channel, o.amount_fen).where(one_of(c, o.out_trade_no, numbers, String()))
    )}  # fmt: skip
    first: dict[tuple[str, str], int] = {}  # a transaction twice in one batch: inserted once
    rows = []
    for k, item in enumerate(items):
        key = (item.channel.name, item.payment.transaction_id)
        if key in first:
            continue
        first[key] = k
        flag = _flag(item, found.get(item.payment.out_trade_no))
        p = item.payment
        rows.append(
            {
                "channel": item.channel.name, "channel_kind": item.channel.kind, "transaction_id": p.transaction_id,
                "out_trade_no": p.out_trade_no, "notification_id": p.notification_id, "amount_fen": p.amount_fen,
                "succeeded_at": p.succeeded_at, "received_at": item.received_at, "source": item.source,
                "status": "pending" if flag is None else "flagged", "flag_reason": flag,
            }
        )  # fmt: skip
    inserted = {(r.channel, r.transaction_id): (r.id, r.flag_reason) for r in _insert(c, rows)}
    copies = {key for k, item in enumerate(items) if (key := (item.channel.name, item.payment.transaction_id))
              not in inserted or first[key] != k}  # fmt: skip
    earlier = {}
    if copies:
        earlier = {(r.channel, r.transaction_id): r for r in c.execute(
            select(n.channel, n.transaction_id, n.out_trade_no, n.amount_fen, n.status, n.flag_reason).where(
                # both columns of the unique index: by the transaction id alone, a scan of the whole inbox
                one_of(c, n.channel, sorted({k for k, _ in copies}), String()),
                one_of(c, n.transaction_id, sorted({t for _, t in copies}), String()),
            )
        )}  # fmt: skip
    out = []
    for k, item in enumerate(items):
        key = (item.channel.name, item.payment.transaction_id)
        if key in inserted and first[key] == k:
            out.append(Written(*inserted[key]))
            continue
        # already recorded: a flagged one is refused again with what the first said, and a copy that differs
        # from the first is refused
        e = earlier[key]  # (the SELECT matched every pair of the channels and ids given: the key picks)
        if (e.out_trade_no, e.amount_fen) != (item.payment.out_trade_no, item.payment.amount_fen):
            refusal: str | None = f"交易 {item.payment.transaction_id} 的通知与先前收到的订单号或金额不一致"
        else:
            refusal = e.flag_reason if e.status == "flagged" and e.flag_reason else None
        out.append(Written(None, refusal))
    return out


class InboxWriter:
    """One thread per engine that writes the notifications submitted while it wrote the last batch."""

    def __init__(self, engine: Engine, on_written: Callable[[], object]) -> None:
        self.engine, self.on_written = engine, on_written
        self.waiting: list[tuple[_Item, Future[Written]]] = []
        self.wakeup = threading.Condition(_lock)
        self.thread = threading.Thread(target=self._run, name="canbao-inbox", daemon=True)
        self._held: Connection | None = None

    def _run(self) -> None:
        try:
            while True:
                with _lock:
                    while not self.waiting:
                        if not self.wakeup.wait(IDLE_S) and not self.waiting:
                            if _writers.get(id(self.engine)) is self:
                                del _writers[id(self.engine)]
                            return
                    batch = self.waiting[:BATCH]
                    del self.waiting[:BATCH]
                self._write(batch)
        finally:
            self._let_go()

    def _connection(self) -> Connection:
        """The writer's own connection, kept while it writes: no pool checkout and ping for each batch.  On
        PostgreSQL in autocommit, each statement its own transaction: the batch's INSERT, one statement, is
        atomic and durable when it returns (no BEGIN and COMMIT round trips), and the reads around it need no
        transaction (an order's channel and amount never change; a copy's first row is committed, as ON
        CONFLICT waits for it).  SQLite writes the batch in one transaction (`_write`)."""
        if self._held is None:
            c = self.engine.connect()
            if c.dialect.name == "postgresql":
                c = c.execution_options(isolation_level="AUTOCOMMIT")
            self._held = c
        return self._held

    def _let_go(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held.invalidate()  # whatever state a failure left it in: never back to the pool
            held.close()

    def _written(self, items: list[_Item]) -> list[Written]:
        for attempt in (1, 2):
            try:
                c = self._connection()
                if c.dialect.name == "postgresql":
                    return write_batch(c, items)
                with c.begin():
                    return write_batch(c, items)
            except DBAPIError as exc:
                self._let_go()
                # the kept connection lost (the server restarted, an idle connection cut): once more on a new
                # one, as the pool's ping would have; a batch already committed comes back as copies
                if not exc.connection_invalidated or attempt == 2:
                    raise
            except BaseException:
                self._let_go()
                raise
        raise AssertionError("unreachable")

    def _write(self, batch: list[tuple[_Item, Future[Written]]]) -> None:
        try:
            with busy_is_refusal():
                written = self._written([item for item, _ in batch])
        except BaseException as exc:
            if len(batch) > 1 and not is_busy(exc) and not isinstance(exc, KeyboardInterrupt | SystemExit):
                for one in batch:  # which one the database refuses: the others are written
                    self._write([one])
                return
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), w in zip(batch, written, strict=True):
            future.set_result(w)
        if any(w.inbox_id is not None and w.flag is None for w in written):
            self.on_written()


_lock = threading.Lock()
_writers: dict[int, InboxWriter] = {}


def submit(
    engine: Engine,
    channel: Channel,
    payment: ChannelPayment,
    *,
    source: str,
    received_at: dt.datetime,
    on_written: Callable[[], object],
) -> Future[Written]:
    """Keep one verified notification in the inbox, in the batch of whatever else arrives meanwhile: the
    future is done once that batch is committed; `on_written`: called after a batch that recorded a new
    pending notification."""
    future: Future[Written] = Future()
    with _lock:
        writer = _writers.get(id(engine))
        if writer is None or writer.engine is not engine:
            writer = _writers[id(engine)] = InboxWriter(engine, on_written)
            writer.thread.start()
        writer.waiting.append((_Item(channel, payment, source, received_at), future))
        writer.wakeup.notify()
    return future
