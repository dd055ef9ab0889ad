"""`SimulatedChannel`: one simulated WeChat Pay or Alipay merchant account. It takes orders, "pays" them (a
transaction with the channel's own id), builds each payment's notification as the channel sends it, and the
variants canbao must refuse or absorb: tampered, replayed, late, out of order, wrong amount, unknown order, a
serial canbao does not know, a forger's key.

A notification is a body and a way to make the headers of an attempt sent at a given (real) time: a WeChat Pay
retry is signed again with a fresh timestamp and nonce over the same body (same `id`), as WeChat Pay re-sends; an
Alipay retry is the same parameters (same notify_id and sign).

With a `store` file (the CLI's `<dir>/<name>/trades.jsonl`) the channel's trades are kept there, so that the
gateway process answers queries about payments another process made.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from canbao.simulator import alipay, wechat
from canbao.simulator.keys import ChannelKeys

HeadersAt = Callable[[dt.datetime], dict[str, str]]
LATE = dt.timedelta(minutes=6, seconds=30)  # beyond WeChat Pay's 5 minutes


@dataclass(frozen=True)
class Payment:
    """A trade as the channel knows it: `state` placed (not paid yet) or paid. `payer` is WeChat's openid or
    Alipay's buyer_id; `notification_id` WeChat's notification `id` or Alipay's notify_id."""

    kind: str
    channel_name: str
    out_trade_no: str
    amount_fen: int
    state: str  # placed, paid
    transaction_id: str = ""
    paid_at: dt.datetime | None = None
    payer: str = ""
    notification_id: str = ""

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["paid_at"] = self.paid_at.isoformat() if self.paid_at else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Payment:
        paid = d.get("paid_at")
        return cls(**(d | {"paid_at": dt.datetime.fromisoformat(paid) if paid else None}))


@dataclass(frozen=True)
class Notification:
    """One notification to send to `/notify/{kind}/{name}`. `payment` is what it says (the notified amount
    for a wrong-amount one); `variant` what the simulator made of it (valid, tampered, replayed, late, …)."""

    kind: str
    channel_name: str
    payment: Payment
    body: bytes
    headers_at: HeadersAt
    variant: str = "valid"

    @property
    def path(self) -> str:
        return f"/notify/{self.kind}/{self.channel_name}"

    def request(self, at: dt.datetime) -> tuple[dict[str, str], bytes]:
        """The headers and body of an attempt sent at `at` (the real time)."""
        return self.headers_at(at), self.body


class SimulatedChannel:
    def __init__(self, keys: ChannelKeys, *, store: Path | None = None) -> None:
        self.keys = keys
        self.store = store
        self._lock = threading.Lock()
        self._trades: dict[str, Payment] = {}
        self._seen = -1  # the store's size when last read
        self._load()

    @property
    def kind(self) -> str:
        return self.keys.kind

    @property
    def name(self) -> str:
        return self.keys.name

    # ------------------------------------------------------------------------------------------ trades

    def _load(self) -> None:
        if self.store is None or not self.store.exists() or self.store.stat().st_size == self._seen:
            return
        with self.store.open(encoding="utf-8") as f:
            text = f.read()
        self._seen = len(text.encode("utf-8"))
        for line in text.splitlines():
            if line.strip():
                p = Payment.from_json(json.loads(line))
                self._trades[p.out_trade_no] = p

    def _record(self, p: Payment) -> Payment:
        with self._lock:
            self._trades[p.out_trade_no] = p
            if self.store is not None:
                with self.store.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
        return p

    def place(self, out_trade_no: str, amount_fen: int) -> Payment:
        """An order the merchant placed (下单) and the payer has not paid yet: the query answers NOTPAY /
        WAIT_BUYER_PAY."""
        return self._record(Payment(self.kind, self.name, out_trade_no, amount_fen, "placed"))

    def pay(self, out_trade_no: str, amount_fen: int, paid_at: dt.datetime) -> Payment:
        """The payer pays: a transaction with the channel's own id, its payer, its notification id."""
        if paid_at.tzinfo is None:
            raise ValueError("paid_at must be aware")
        if self.kind == wechat.KIND:
            txn, payer, nid = wechat.new_transaction_id(paid_at), wechat.new_openid(), wechat.new_notification_id()
        else:
            txn, payer, nid = alipay.new_trade_no(paid_at), alipay.new_buyer_id(), alipay.new_notify_id()
        return self._record(Payment(self.kind, self.name, out_trade_no, amount_fen, "paid", txn, paid_at, payer, nid))

    def lookup(self, out_trade_no: str) -> Payment | None:
        with self._lock:
            self._load()
            return self._trades.get(out_trade_no)

    # ------------------------------------------------------------------------------------------ notifications

    def notification(self, payment: Payment) -> Notification:
        """The payment's notification exactly as the channel sends it."""
        body, headers_at = self._build(payment)
        return Notification(self.kind, self.name, payment, body, headers_at)

    def _build(
        self, p: Payment, *, key: rsa.RSAPrivateKey | None = None, serial: str | None = None
    ) -> tuple[bytes, HeadersAt]:
        assert p.paid_at is not None, "only a paid trade is notified"
        keys = self.keys
        if self.kind == wechat.KIND:
            plain = wechat.transaction(
                keys, out_trade_no=p.out_trade_no, amount_fen=p.amount_fen, paid_at=p.paid_at,
                transaction_id=p.transaction_id, openid=p.payer,
            )  # fmt: skip
            body = wechat.notification_body(
                keys, plain, notification_id=p.notification_id, created_at=p.paid_at + dt.timedelta(seconds=1)
            )
            return body, lambda at: wechat.signed_headers(keys, body, at, private_key=key, serial=serial)
        params = alipay.notification_params(
            keys, out_trade_no=p.out_trade_no, amount_fen=p.amount_fen, paid_at=p.paid_at,
            trade_no=p.transaction_id, buyer_id=p.payer, notify_id=p.notification_id,
            notify_time=p.paid_at + dt.timedelta(seconds=1),
        )  # fmt: skip
        body = alipay.form_body(alipay.signed(keys, params, private_key=key))
        return body, _form_headers

    # ------------------------------------------------------------------------------------------ variants

    def tampered(self, n: Notification, amount_fen: int | None = None) -> Notification:
        """The body changed after signing: the amount raised (WeChat Pay: the resource encrypted anew with the
        APIv3 key, as one who knows that key could; the signature stays the original body's)."""
        changed = dataclasses.replace(n.payment, amount_fen=amount_fen or n.payment.amount_fen * 10)
        forged, _ = self._build(changed)
        if self.kind == wechat.KIND:
            original, keys = n.body, self.keys

            def headers_at(at: dt.datetime) -> dict[str, str]:
                return wechat.signed_headers(keys, forged, at, signed_body=original)

            return Notification(self.kind, self.name, changed, forged, headers_at, "tampered")
        params = _form(n.body)
        params["total_amount"] = alipay.yuan(changed.amount_fen)
        return Notification(self.kind, self.name, changed, alipay.form_body(params), _form_headers, "tampered")

    @staticmethod
    def replayed(n: Notification, at: dt.datetime) -> Notification:
        """The very request of an attempt sent at `at`, sent again (a capture replayed): the same headers too."""
        frozen = n.headers_at(at)
        return dataclasses.replace(n, headers_at=lambda _: dict(frozen), variant="replayed")

    @staticmethod
    def presigned(n: Notification, at: dt.datetime) -> Notification:
        """`n` with the headers of an attempt at `at` made now and kept (a load generator signs ahead of its run,
        inside WeChat Pay's 5 minutes, so that signing does not compete with the server)."""
        frozen = n.headers_at(at)
        return dataclasses.replace(n, headers_at=lambda _: dict(frozen))

    def late(self, n: Notification, by: dt.timedelta = LATE) -> Notification:
        """Signed `by` before it arrives (WeChat Pay refuses beyond 5 minutes). Alipay's signature carries no
        time: a late Alipay notification is only an old notify_time, which Alipay does not ask to be checked."""
        if self.kind == wechat.KIND:
            return dataclasses.replace(n, headers_at=lambda at: n.headers_at(at - by), variant="late")
        params = _form(n.body)
        assert n.payment.paid_at is not None
        params["notify_time"] = alipay.beijing(n.payment.paid_at - by)
        body = alipay.form_body(alipay.signed(self.keys, params))
        return dataclasses.replace(n, body=body, variant="late")

    def wrong_amount(self, payment: Payment, amount_fen: int) -> Notification:
        """A different amount than the order's, validly signed (the channel's word, yet not the order's)."""
        notified = dataclasses.replace(payment, amount_fen=amount_fen)
        body, headers_at = self._build(notified)
        return Notification(self.kind, self.name, notified, body, headers_at, "wrong_amount")

    def unknown_order(self, amount_fen: int, paid_at: dt.datetime, out_trade_no: str = "") -> Notification:
        """A valid notification of an order canbao never created."""
        p = self.pay(out_trade_no or "SIM" + wechat.new_transaction_id(paid_at)[-20:], amount_fen, paid_at)
        return dataclasses.replace(self.notification(p), variant="unknown_order")

    def wrong_serial(self, n: Notification, serial: str) -> Notification:
        """Signed with the channel's key but naming a serial canbao does not hold (WeChat Pay only)."""
        body, headers_at = self._build(n.payment, serial=serial)
        return Notification(self.kind, self.name, n.payment, body, headers_at, "wrong_serial")

    def wrong_key(self, n: Notification, key: rsa.RSAPrivateKey | None = None) -> Notification:
        """Signed by another key than the channel's (a forger)."""
        forger = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        body, headers_at = self._build(n.payment, key=forger)
        return Notification(self.kind, self.name, n.payment, body, headers_at, "wrong_key")


def out_of_order(notifications: Iterable[Notification], seed: int | None = None) -> list[Notification]:
    """The notifications in another order than they were made (as several channel servers send them)."""
    shuffled = list(notifications)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def _form_headers(_: dt.datetime) -> dict[str, str]:
    return {"Content-Type": alipay.CONTENT_TYPE}


def _form(body: bytes) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))


TRADES = "trades.jsonl"  # a simulated channel's trades, beside its keys


def load_channels(folder: Path) -> list[SimulatedChannel]:
    """Every simulated channel saved under `folder` (`canbao simulator setup --dir`), with its trades."""
    from canbao.simulator.keys import ChannelKeys

    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir() if ChannelKeys.exists(folder, p.name))
    return [SimulatedChannel(ChannelKeys.load(folder, n), store=folder / n / TRADES) for n in names]
