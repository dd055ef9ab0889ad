"""The inbox of channels' notifications under concurrency and a crash (issue 15), on SQLite and PostgreSQL.

1. Many threads record copies of the same notifications at once, through two engines (two serving processes'
   writers): one inbox row per transaction, exactly one caller answered "new", the others "duplicate", the
   flagged ones refused to every caller; applied, one enrollment and one payment entry per transaction.
2. Two copies of a transaction with different amounts in one batch: the first decides, the other is refused,
   nothing applied twice.
3. A batch holding notifications the database refuses: the writer writes the batch again one notification at
   a time, so that the others are recorded.
4. `canbao serve` killed with SIGKILL in the middle of deliveries and started again, the channel re-sending
   what was not acknowledged: every acknowledged notification was in the inbox already, and each transaction
   ends with one enrollment and one payment entry.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, Engine, select, text, update

from canbao.channels import ChannelPayment
from canbao.services import inbox
from canbao.services.channels import Channel
from canbao.services.notifications import (
    CLAIM_STALE,
    NotificationApplier,
    NotificationFlagged,
    Receipt,
    apply_pending,
    record,
)
from canbao.simulator.channel import Notification, SimulatedChannel
from canbao.simulator.keys import ChannelKeys
from canbao.store.db import make_engine
from canbao.store.tables import channel_notifications, enrollments, ledger_entries, orders
from conftest import fresh_database
from inbox_support import (
    AMOUNT,
    PAID_AT,
    TODAY,
    HeldWriter,
    inbox_rows,
    kill,
    make_orders,
    payment,
    rows_of,
    serve,
    wait_queued,
    wait_until,
)

NOW = dt.datetime(2021, 12, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def channel(engine: Engine) -> Channel:
    return ChannelKeys.generate("wechatpay_v3", "wx").register(engine, actor="test", now=NOW)


def apply_all(engine: Engine) -> None:
    while apply_pending(engine, runner="test", now=NOW, today=TODAY).claimed:
        pass


def payments_applied(engine: Engine) -> Counter[str]:
    """How many payment entries the ledger holds of each channel transaction."""
    with engine.connect() as c:
        txns = c.execute(select(ledger_entries.c.channel_txn_id).where(ledger_entries.c.kind == "payment"))
        return Counter(txns.scalars())


def enrolled(engine: Engine) -> int:
    with engine.connect() as c:
        return len(rows_of(c, enrollments, enrollments.c.id))


def outcome(engine: Engine, channel: Channel, paid: ChannelPayment) -> str | BaseException:
    """record()'s answer: "new", "duplicate", "flagged", or what it raised otherwise."""
    try:
        receipt = record(engine, channel, paid, source="notify", received_at=NOW)
    except NotificationFlagged:
        return "flagged"
    except Exception as exc:
        return exc
    assert isinstance(receipt, Receipt)
    return "duplicate" if receipt.duplicate else "new"


def in_one_batch(
    engine: Engine, channel: Channel, sentinel: ChannelPayment, paid: list[ChannelPayment], held: HeldWriter
) -> list[str | BaseException]:
    """`paid` recorded from threads in this order, all in one batch of the writer: the writer is held on a
    sentinel notification's batch until every one is queued behind it."""
    with concurrent.futures.ThreadPoolExecutor(len(paid) + 1) as pool:
        first = pool.submit(outcome, engine, channel, sentinel)
        assert held.entered.wait(10)
        answers = []
        for k, p in enumerate(paid):
            answers.append(pool.submit(outcome, engine, channel, p))
            wait_queued(engine, k + 1)
        held.release()
        assert first.result() == "new"
        return [a.result() for a in answers]


def send(
    start: threading.Barrier, engines: tuple[Engine, Engine], k: int, channel: Channel, paid: ChannelPayment
) -> tuple[str, str | BaseException]:
    """`paid` recorded by the k-th of threads let go together, through one engine or the other."""
    start.wait(10)
    return paid.transaction_id, outcome(engines[k % 2], channel, paid)


def test_concurrent_copies_are_one_inbox_row_one_new_answer_and_applied_once(
    engine: Engine, database_url: str, channel: Channel
) -> None:
    other = make_engine(database_url)  # a second serving process's engine: its own writer thread
    sent: set[str] = set()
    try:
        for round_ in range(3):
            numbers = make_orders(engine, 9, start=round_ * 100)
            good = [payment(n, f"42000{round_}{k:020d}") for k, n in enumerate(numbers[:8])]
            flagged = [payment(f"CBNOSUCHORDER{round_}", f"42001{round_}{0:020d}"),  # an order canbao did not make
                       payment(numbers[8], f"42001{round_}{1:020d}", AMOUNT - 1)]  # another amount  # fmt: skip
            sent |= {p.transaction_id for p in good + flagged}
            jobs = [p for p in good + flagged for _ in range(4)]
            random.Random(round_).shuffle(jobs)
            start = threading.Barrier(len(jobs))
            with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
                answers = list(pool.map(send, [start] * len(jobs), [(engine, other)] * len(jobs), range(len(jobs)),
                                        [channel] * len(jobs), jobs))  # fmt: skip
            by_txn: dict[str, list[str]] = {}
            for txn, answer in answers:
                assert isinstance(answer, str), f"{txn}: {answer!r}"
                by_txn.setdefault(txn, []).append(answer)
            assert {t: sorted(a) for t, a in by_txn.items()} == (
                {p.transaction_id: ["duplicate", "duplicate", "duplicate", "new"] for p in good}
                | {p.transaction_id: ["flagged"] * 4 for p in flagged}
            )
        rows = inbox_rows(engine)
        assert Counter(t for t, _, _ in rows) == dict.fromkeys(sent, 1)
        assert len(rows) == 30 and Counter(s for _, s, _ in rows) == {"pending": 24, "flagged": 6}
        apply_all(other)
        apply_all(engine)
        expected = {t for t, s, _ in rows if s == "pending"}
        assert payments_applied(engine) == dict.fromkeys(expected, 1)
        assert enrolled(engine) == 24
        assert Counter(s for _, s, _ in inbox_rows(engine)) == {"applied": 24, "flagged": 6}
    finally:
        other.dispose()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldWriter]:
    gate = HeldWriter()
    monkeypatch.setattr(inbox, "write_batch", gate)
    yield gate
    gate.release()  # (a failed test: the writer goes on)


def test_conflicting_copies_in_one_batch_the_first_decides_and_the_other_is_refused(
    engine: Engine, channel: Channel, held: HeldWriter
) -> None:
    sentinel, right_first, wrong_first = make_orders(engine, 3)
    answers = in_one_batch(
        engine, channel, payment(sentinel, "4200000000000000000001"),
        [payment(right_first, "4200000000000000000002"), payment(right_first, "4200000000000000000002", 100),
         payment(wrong_first, "4200000000000000000003", 100), payment(wrong_first, "4200000000000000000003")],
        held,
    )  # fmt: skip
    assert held.batches[1] == ["4200000000000000000002"] * 2 + ["4200000000000000000003"] * 2  # one batch
    assert answers == ["new", "flagged", "flagged", "flagged"]
    assert inbox_rows(engine) == [("4200000000000000000001", "pending", AMOUNT),
                                  ("4200000000000000000002", "pending", AMOUNT),
                                  ("4200000000000000000003", "flagged", 100)]  # fmt: skip
    apply_all(engine)
    again = outcome(engine, channel, payment(right_first, "4200000000000000000002"))  # the channel's retry
    apply_all(engine)
    assert again == "duplicate"
    assert payments_applied(engine) == {"4200000000000000000001": 1, "4200000000000000000002": 1}
    assert enrolled(engine) == 2
    with engine.connect() as c:
        states = rows_of(c, orders, orders.c.out_trade_no, orders.c.status)
    assert states == [(sentinel, "paid"), (right_first, "paid"), (wrong_first, "open")]


def test_a_notification_the_database_refuses_does_not_refuse_the_others_of_its_batch(
    engine: Engine, channel: Channel, held: HeldWriter
) -> None:
    numbers = make_orders(engine, 5)
    good = [payment(n, f"42000000000000000001{k:02d}") for k, n in enumerate(numbers[1:])]
    # refused by both databases: an amount beyond a 64-bit integer; and by PostgreSQL (SQLite does not enforce
    # a string's length): a transaction id longer than the column's 64 characters
    refused = [payment(numbers[1], "4200000000000000000099", 2**63)]
    if engine.dialect.name == "postgresql":
        refused.append(payment(numbers[2], "4" * 65))
    paid = [good[0], refused[0], good[1], *refused[1:], good[2], good[3]]
    answers = in_one_batch(engine, channel, payment(numbers[0], "4200000000000000000000"), paid, held)
    ids = [p.transaction_id for p in paid]
    assert held.batches[1:] == [ids, *([t] for t in ids)]  # the batch whole, then one at a time
    assert [a for a, p in zip(answers, paid, strict=True) if p in good] == ["new"] * 4
    for answer in (a for a, p in zip(answers, paid, strict=True) if p in refused):
        assert isinstance(answer, Exception) and not isinstance(answer, NotificationFlagged), answer
    expected = {"4200000000000000000000"} | {p.transaction_id for p in good}
    assert {t for t, _, _ in inbox_rows(engine)} == expected
    apply_all(engine)
    assert payments_applied(engine) == dict.fromkeys(expected, 1)
    assert enrolled(engine) == 5


# --- the applier's thread -----------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_an_applier_given_a_nice_value_applies_at_that_lower_priority_and_the_process_keeps_its_own(
    engine: Engine, channel: Channel
) -> None:
    number = make_orders(engine, 1)[0]
    assert outcome(engine, channel, payment(number, "4200000000000000000301")) == "new"
    process = os.getpriority(os.PRIO_PROCESS, os.getpid())
    applier = NotificationApplier(engine, runner="test", clock=lambda: NOW, today=lambda: TODAY, nice=5)
    applier.start()
    try:
        wait_until(lambda: payments_applied(engine) == {"4200000000000000000301": 1}, "the notification applied")
        assert applier._thread is not None and applier._thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, applier._thread.native_id) == min(19, process + 5)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == process
    finally:
        applier.stop()


# --- the writer's own connection ----------------------------------------------------------------------------


def writers_connection(engine: Engine) -> Connection:
    """The connection the engine's inbox writer keeps between batches (it is idle while the test reads it)."""
    held = inbox._writers[id(engine)]._held
    assert held is not None
    return held


def test_a_writer_whose_kept_connection_was_cut_writes_the_next_batch_on_a_new_one(
    engine: Engine, channel: Channel
) -> None:
    numbers = make_orders(engine, 2)
    assert outcome(engine, channel, payment(numbers[0], "4200000000000000000101")) == "new"
    kept = writers_connection(engine)
    if engine.dialect.name == "postgresql":  # the server ends the session, as a restart would
        pid = kept.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        owner = make_engine(engine.url.render_as_string(hide_password=False), app_role=False)  # a superuser's
        with owner.connect() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        owner.dispose()
    else:
        kept.connection.dbapi_connection.close()  # type: ignore[union-attr]
    assert outcome(engine, channel, payment(numbers[1], "4200000000000000000102")) == "new"
    assert writers_connection(engine) is not kept
    assert [t for t, _, _ in inbox_rows(engine)] == ["4200000000000000000101", "4200000000000000000102"]
    apply_all(engine)
    assert payments_applied(engine) == {"4200000000000000000101": 1, "4200000000000000000102": 1}


def _replays_lookup_plans(c: Connection) -> tuple[int, int]:
    """(generic, custom) plans PostgreSQL made on this session for the lookup of replays' first copies."""
    row = c.execute(
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE :lookup AND statement NOT LIKE :this"
        ),
        {"lookup": "%transaction_id = ANY%", "this": "%pg_prepared_statements%"},
    ).one()
    return int(row[0]), int(row[1])


def test_a_replays_first_copy_is_looked_up_with_the_inbox_as_large_as_it_is_now_not_as_it_was(
    tmp_path: Path,
) -> None:
    """PostgreSQL: psycopg prepares a statement a session runs often, and PostgreSQL would then keep one generic
    plan, made while the inbox was small (as at the start of the rush: a scan of the whole table, 20 of the 30
    lookups here); canbao's sessions plan each time with the table's size of the moment."""
    with fresh_database("postgresql", tmp_path) as url:
        engine = make_engine(url)
        try:
            channel = ChannelKeys.generate("wechatpay_v3", "wx").register(engine, actor="test", now=NOW)
            numbers = make_orders(engine, 30)
            paid = [payment(n, f"42000000000000000002{k:02d}") for k, n in enumerate(numbers)]
            # each a batch of its own and then its replay: 15 lookups on a small inbox (psycopg prepares after
            # five, PostgreSQL makes five custom plans before it weighs a generic one)
            for p in paid[:15]:
                assert outcome(engine, channel, p) == "new"
                assert outcome(engine, channel, p) == "duplicate"
            with engine.begin() as c:  # the inbox grows by 20,000 rows
                c.exec_driver_sql(
                    "INSERT INTO channel_notifications (channel, channel_kind, transaction_id, out_trade_no, "
                    "amount_fen, succeeded_at, received_at, source, status) SELECT 'wx', 'wechatpay_v3', "
                    "'g' || i, 'none', 1, now(), now(), 'notify', 'flagged' FROM generate_series(1, 20000) i"
                )
            for p in paid[15:]:
                assert outcome(engine, channel, p) == "new"
                assert outcome(engine, channel, p) == "duplicate"
            generic, custom = _replays_lookup_plans(writers_connection(engine))
            assert generic == 0 and custom >= 10
        finally:
            engine.dispose()


# --- kill -9 of canbao serve ---------------------------------------------------------------------------------

ORDERS, KILL_AFTER, SENDERS = 300, 90, 4


# PostgreSQL with two workers only: the applier then runs in the supervisor, the case a kill -9 is hardest on
@pytest.mark.parametrize("kind, workers", [("sqlite", 1), ("postgresql", 2)])
def test_every_notification_acknowledged_before_a_kill_9_is_applied_once_after_the_restart(
    kind: str, workers: int, tmp_path: Path
) -> None:
    with fresh_database(kind, tmp_path) as url:
        engine = make_engine(url)
        try:
            keys = ChannelKeys.generate("wechatpay_v3", "wx")
            keys.register(engine, actor="test", now=dt.datetime.now(dt.UTC))
            simulated = SimulatedChannel(keys)
            numbers = make_orders(engine, ORDERS)
            jobs = [simulated.notification(simulated.pay(n, AMOUNT, PAID_AT)) for n in numbers]
            txns = {n.payment.transaction_id for n in jobs}
            run_crash(engine, url, workers, tmp_path, jobs, txns)
        finally:
            engine.dispose()


def age_claims(engine: Engine) -> None:
    """The claims the killed server left (rows it was applying), made older than CLAIM_STALE, as if that long
    had passed before the restart: the test does not wait the 30 s for them to be taken again."""
    n = channel_notifications.c
    with engine.begin() as c:
        c.execute(
            update(channel_notifications)
            .where(n.status == "pending", n.claimed_at.is_not(None))
            .values(claimed_at=dt.datetime.now(dt.UTC) - CLAIM_STALE - dt.timedelta(seconds=1))
        )


def run_crash(engine: Engine, url: str, workers: int, folder: Path, jobs: list[Notification], txns: set[str]) -> None:
    acknowledged: set[str] = set()
    lock, killed = threading.Lock(), threading.Event()
    unexpected: list[str] = []
    server, base = serve(url, workers, folder)

    def deliver(part: list[Notification], before_kill: bool) -> None:
        with httpx.Client(timeout=10) as client:
            for n in part:
                if before_kill and killed.is_set():
                    return
                headers, body = n.request(dt.datetime.now(dt.UTC))  # signed when sent, as WeChat Pay re-signs
                try:
                    answer = client.post(f"{base}{n.path}", content=body, headers=headers)
                except httpx.HTTPError:
                    continue
                if answer.status_code not in (204, 500, 503):  # 5xx: not recorded (the channel retries)
                    unexpected.append(f"{answer.status_code} {answer.text}")
                elif answer.status_code == 204:
                    with lock:
                        acknowledged.add(n.payment.transaction_id)
                        if before_kill and len(acknowledged) >= KILL_AFTER and not killed.is_set():
                            killed.set()
                            kill(server)  # the others' requests in flight

    def deliveries(before_kill: bool) -> None:
        todo = [n for n in jobs if n.payment.transaction_id not in acknowledged]
        senders = [threading.Thread(target=deliver, args=(todo[k::SENDERS], before_kill)) for k in range(SENDERS)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()

    try:
        deliveries(before_kill=True)
        assert killed.is_set() and KILL_AFTER <= len(acknowledged) < len(jobs)
        before = set(acknowledged)
        in_inbox = {t for t, _, _ in inbox_rows(engine)}
        assert before <= in_inbox, f"{len(before - in_inbox)} acknowledged notifications lost by the kill"
        age_claims(engine)
        server, base = serve(url, workers, folder)
        for _ in range(3):  # the channel's retries of whatever was not acknowledged
            deliveries(before_kill=False)
        assert not unexpected and acknowledged == txns, unexpected[:3]
        wait_until(lambda: all(s != "pending" for _, s, _ in inbox_rows(engine)), "the inbox applied", 60)
    finally:
        kill(server)
    assert Counter(s for _, s, _ in inbox_rows(engine)) == {"applied": len(txns)}
    assert payments_applied(engine) == dict.fromkeys(txns, 1)
    assert enrolled(engine) == len(txns)
    with engine.connect() as c:
        assert {s for _, s in rows_of(c, orders, orders.c.out_trade_no, orders.c.status)} == {"paid"}
