"""Money under concurrent callers: many threads and several processes at once on one person, on SQLite and
PostgreSQL.  Each test asserts what the ledger holds afterwards (one refund, one subsidy paid back, one live
enrollment, the sum), and that every loser got a clear refusal rather than an internal error."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from canbao.errors import CanbaoError
from canbao.services.payments import Payment, end_enrollment, pay, record_county_subsidy_refund, refund
from canbao.store.tables import enrollments, ledger_entries
from conftest import application

BENGBU = "anhui/bengbu/2022"
HUAIYUAN = "anhui/bengbu/huaiyuan/2025"
THREADS = 12
PROCESS_CALLS = 6

_engines: dict[str, Engine] = {}


def _payment(app: dict[str, Any], txn: str, amount: str, policy: str = BENGBU, **kw: Any) -> Payment:
    return Payment(policy, app, "online", txn, Decimal(amount), channel_name="微信", **kw)


def call(job: tuple[Any, ...]) -> str:
    """One use case; returns 'done' or 'refused' (a CanbaoError), or the name of any other exception.
    Runs in threads and in spawned processes (each process keeps one engine per URL)."""
    from canbao.store.db import make_engine

    name, url, *args = job
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = make_engine(url)
    try:
        if name == "refund":
            refund(engine, args[0], args[1], "death", dt.date(2021, 12, 1), "clerk")
        elif name == "county":
            record_county_subsidy_refund(engine, args[0], 2025, "榴城镇", "township")
        elif name in ("suspended", "terminated"):
            end_enrollment(engine, args[0], args[1], name, "moved_away", dt.date(2021, 12, 1), "clerk")
        elif name == "pay":
            app, txn, amount, policy = args
            pay(engine, _payment(app, txn, amount, policy), "clerk")
        else:
            raise ValueError(name)
    except CanbaoError:
        return "refused"
    except Exception as exc:  # the test reports it
        return f"error {type(exc).__name__}: {str(exc)[:200]}"
    return "done"


@pytest.fixture(scope="module")
def processes() -> Iterator[Any]:
    """Worker processes shared by the module's tests (spawning one costs a second of imports)."""
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        yield pool


def race(pool: Any, url: str, jobs: list[tuple[Any, ...]]) -> list[str]:
    """Run `jobs` at once: PROCESS_CALLS of them in the worker processes, the rest on threads released
    together by a barrier."""
    in_processes = pool.map_async(call, [(j[0], url, *j[1:]) for j in jobs[:PROCESS_CALLS]], chunksize=1)
    threaded = jobs[PROCESS_CALLS:]
    barrier = threading.Barrier(len(threaded))

    def run(job: tuple[Any, ...]) -> str:
        barrier.wait()
        return call((job[0], url, *job[1:]))

    with ThreadPoolExecutor(max_workers=len(threaded)) as threads:
        outcomes = list(threads.map(run, threaded))
    outcomes += in_processes.get(timeout=120)
    errors = [o for o in outcomes if o not in ("done", "refused")]
    assert errors == []
    return outcomes


def ledger(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as c:
        rows = c.execute(select(ledger_entries.c.kind, ledger_entries.c.amount_fen).order_by(ledger_entries.c.id))
        return [(k, a) for k, a in rows]


def live_enrollments(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(enrollments).where(enrollments.c.live)).scalar_one())


def test_concurrent_refunds_of_one_payment_refund_it_once(engine: Engine, database_url: str, processes: Any) -> None:
    app = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])  # 40 yuan + 280 upfront
    pay(engine, _payment(app, "r-1", "40"), "clerk")
    outcomes = race(processes, database_url, [("refund", app["person"]["id_number"], 2022)] * (THREADS + 4))
    assert ledger(engine) == [("payment", 4000), ("assistance_subsidy", 28000), ("refund", 4000),
                              ("assistance_subsidy", -28000)]  # fmt: skip
    assert outcomes.count("done") == 1 and live_enrollments(engine) == 0


def test_concurrent_county_subsidy_records_pay_it_back_once(engine: Engine, database_url: str, processes: Any) -> None:
    veteran = application("340321", "1950-01-01", "regular", "2024-10-02", ["key_entitled"])
    pay(engine, _payment(veteran, "hy-1", "400", HUAIYUAN, township="榴城镇"), "clerk")
    outcomes = race(processes, database_url, [("county", veteran["person"]["id_number"])] * (THREADS + 4))
    assert ledger(engine) == [("payment", 40000), ("county_subsidy_refund", 40000)]
    assert outcomes.count("done") == 1


def test_concurrent_refund_and_county_subsidy_never_pay_the_subsidy_twice(
    engine: Engine, database_url: str, processes: Any
) -> None:
    """Refunding after the county paid its part back returns only the person's own money: whichever comes
    first, the money going out is at most what came in."""
    veteran = application("340321", "1950-01-01", "regular", "2024-10-02", ["key_entitled"])
    pay(engine, _payment(veteran, "hy-2", "400", HUAIYUAN, township="榴城镇"), "clerk")
    id_number = veteran["person"]["id_number"]
    jobs: list[tuple[Any, ...]] = [("county", id_number), ("refund", id_number, 2025)] * ((THREADS + 4) // 2)
    race(processes, database_url, jobs)
    entries = ledger(engine)
    out = sum(a for k, a in entries if k in ("refund", "county_subsidy_refund"))
    assert [k for k, _ in entries].count("refund") <= 1
    assert [k for k, _ in entries].count("county_subsidy_refund") <= 1
    assert out <= 40000


def test_concurrent_suspend_terminate_and_refund_end_the_enrollment_once(
    engine: Engine, database_url: str, processes: Any
) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, _payment(app, "st-1", "320"), "clerk")
    id_number = app["person"]["id_number"]
    kinds = ["terminated", "refund", "suspended", "terminated"]
    jobs: list[tuple[Any, ...]] = [(kinds[i % 4], id_number, 2022) for i in range(THREADS + 4)]
    race(processes, database_url, jobs)
    with engine.connect() as c:
        status, live = c.execute(select(enrollments.c.status, enrollments.c.live)).one()
    refunds = [a for k, a in ledger(engine) if k == "refund"]
    # once refunded or terminated, nothing else happens to the enrollment; a refund is paid only if it won
    assert status in ("refunded", "terminated", "suspended")
    assert refunds == ([32000] if status == "refunded" else [])
    assert live == (status == "suspended")


def test_concurrent_payments_of_one_person_with_different_txns_enroll_once(
    engine: Engine, database_url: str, processes: Any
) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    jobs: list[tuple[Any, ...]] = [("pay", app, f"p-{i}", "320", BENGBU) for i in range(THREADS + 4)]
    outcomes = race(processes, database_url, jobs)
    assert ledger(engine) == [("payment", 32000)]
    assert outcomes.count("done") == 1 and live_enrollments(engine) == 1


def test_one_transaction_replayed_concurrently_is_recorded_once(
    engine: Engine, database_url: str, processes: Any
) -> None:
    app = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    other = application("340322", "1961-03-02", "regular", "2021-10-15", ["dibao"])
    # the same notification many times, and the same transaction id claimed for another person
    jobs: list[tuple[Any, ...]] = [("pay", other if i % 5 == 4 else app, "same", "40", BENGBU)
                                   for i in range(THREADS + 4)]  # fmt: skip
    race(processes, database_url, jobs)
    assert ledger(engine) == [("payment", 4000), ("assistance_subsidy", 28000)]
    assert live_enrollments(engine) == 1


def test_a_refunded_person_paying_again_concurrently_enrolls_once(
    engine: Engine, database_url: str, processes: Any
) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, _payment(app, "again-0", "320"), "clerk")
    id_number = app["person"]["id_number"]
    jobs: list[tuple[Any, ...]] = [
        ("refund", id_number, 2022) if i % 2 else ("pay", app, f"again-{i}", "320", BENGBU) for i in range(THREADS + 4)
    ]
    race(processes, database_url, jobs)
    kinds = [k for k, _ in ledger(engine)]
    with engine.connect() as c:
        statuses = c.execute(select(enrollments.c.status)).scalars().all()
    # every enrollment paid once; each refunded one refunded once; never two live at once
    assert kinds.count("payment") == len(statuses) and kinds.count("refund") == statuses.count("refunded")
    assert live_enrollments(engine) <= 1 and statuses.count("active") + statuses.count("refunded") == len(statuses)


def test_a_row_lock_held_too_long_on_postgresql_is_a_clear_refusal(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another session holds the person's row: a refund and a payment for them wait lock_timeout, then are
    refused with the busy message (nothing written); a payment for someone else does not wait at all."""
    from canbao.store import db
    from canbao.store.tables import persons
    from conftest import fresh_database

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)
    with fresh_database("postgresql", tmp_path) as url:
        engine = db.make_engine(url)
        app = application("340322", "1985-06-15", "regular", "2021-10-15")
        other = application("340322", "1986-06-15", "regular", "2021-10-15")
        pay(engine, _payment(app, "lock-1", "320"), "clerk")
        try:
            with engine.connect() as holder, holder.begin():
                holder.execute(select(persons.c.id).with_for_update())  # e.g. a long import updating persons
                for attempt in (
                    lambda: refund(engine, app["person"]["id_number"], 2022, "death", dt.date(2021, 12, 1), "clerk"),
                    lambda: pay(engine, _payment(app, "lock-2", "320"), "clerk"),
                ):
                    with pytest.raises(CanbaoError, match="数据库正忙"):
                        attempt()
                pay(engine, _payment(other, "lock-3", "320"), "clerk")
            assert ledger(engine) == [("payment", 32000), ("payment", 32000)]
            assert refund(engine, app["person"]["id_number"], 2022, "death", dt.date(2021, 12, 1), "clerk").refundable
        finally:
            engine.dispose()
