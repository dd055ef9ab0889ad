"""A day's payment file applied in bulk through the same rules as one payment; replaying it changes nothing."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from canbao.services.payment_batch import apply_payments
from canbao.store.tables import enrollments, ledger_entries, persons
from conftest import application

P = "anhui/bengbu/2022"


def row(app: dict[str, Any], txn: str, fen: int, channel: str = "online", **extra: Any) -> dict[str, Any]:
    return {**app["person"], "situation": app["situation"], "paid_on": app["paid_on"], "channel": channel,
            "txn_id": txn, "amount_fen": fen, **extra}  # fmt: skip


def totals(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as c:
        return (
            c.execute(select(func.count()).select_from(persons)).scalar_one(),
            c.execute(select(func.count()).select_from(enrollments)).scalar_one(),
            c.execute(select(func.count()).select_from(ledger_entries)).scalar_one(),
            c.execute(select(func.coalesce(func.sum(ledger_entries.c.amount_fen), 0))).scalar_one(),
        )


def test_a_day_file_with_every_kind_of_problem(engine: Engine) -> None:
    a = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    b = application("340322", "1985-06-15", "regular", "2021-10-16")
    c_ = application("340322", "1990-01-01", "regular", "2021-10-17")
    d = application("340322", "1991-01-01", "regular", "2021-10-18")
    e = application("340322", "1992-01-01", "regular", "2022-03-01")  # outside the window
    rows = [
        row(a, "t1", 4000, collecting_unit="新马桥镇"),
        row(b, "t2", 32000),
        row(b, "t2", 32000),  # the same notification twice in the file
        row(c_, "t3", 4000),  # wrong amount
        row(b, "t4", 32000, channel="bank_debit"),  # b pays again through the bank
        row(d, "t2", 32000),  # t2 again, for someone else
        row(e, "t5", 32000),
    ]
    frame = pl.DataFrame(rows)
    out = apply_payments(engine, P, frame, "clerk")
    assert out["outcome"].to_list() == ["enrolled", "enrolled", "replayed", "refused", "refused", "refused", "refused"]
    assert out["error_field"].to_list()[3:] == ["amount", "person", "txn_id", "paid_on"]
    assert "应缴 320.00 元" in out["reason"][3] and "第 2 行" in out["reason"][4] and "第 2 行" in out["reason"][5]
    assert out["enrollment_id"][1] == out["enrollment_id"][2]
    assert totals(engine) == (2, 2, 3, 4000 + 28000 + 32000)

    again = apply_payments(engine, P, frame, "clerk")  # replaying the day's file changes nothing
    assert again["outcome"].to_list()[:3] == ["replayed", "replayed", "replayed"]
    assert again["enrollment_id"].to_list()[:3] == out["enrollment_id"].to_list()[:3]
    assert totals(engine) == (2, 2, 3, 64000)


def test_a_file_matches_single_payments(engine: Engine) -> None:
    from decimal import Decimal

    from canbao.services.payments import Payment, pay

    first = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    single = pay(engine, Payment(P, first, "online", "s1", Decimal("40")), "clerk")
    out = apply_payments(engine, P, pl.DataFrame([row(first, "s1", 4000), row(first, "s2", 4000)]), "clerk")
    assert out["outcome"].to_list() == ["replayed", "refused"]
    assert out["enrollment_id"][0] == single.enrollment_id
    assert "已参加 2022 年度" in out["reason"][1]


def test_rows_without_channel_or_amount_are_refused_not_written(engine: Engine) -> None:
    a = application("340322", "1985-06-15", "regular", "2021-10-16")
    b = application("340322", "1986-06-15", "regular", "2021-10-16")
    frame = pl.DataFrame([row(a, "n1", 32000), row(b, "n2", 32000)]).with_columns(
        pl.when(pl.col("txn_id") == "n1").then(None).otherwise(pl.col("channel")).alias("channel"),
        pl.when(pl.col("txn_id") == "n2").then(None).otherwise(pl.col("amount_fen")).alias("amount_fen"),
    )
    out = apply_payments(engine, P, frame, "clerk")
    assert out["outcome"].to_list() == ["refused", "refused"]
    assert out["error_field"].to_list() == ["channel", "amount"]
    assert totals(engine) == (0, 0, 0, 0)


def test_a_person_registered_without_a_township_takes_the_one_their_payment_names(engine: Engine) -> None:
    """School rosters name the school, not where the student lives: the school's payment says it."""
    a = application("340322", "2010-03-02", "regular", "2021-10-15", residency="student")
    b = application("340322", "2011-03-02", "regular", "2021-10-15", residency="student")
    first = pl.DataFrame([row(a, "s1", 32000, channel="school", township=None, village=None)])
    assert apply_payments(engine, P, first, "clerk")["outcome"].to_list() == ["enrolled"]
    # a is now registered with no township; b is new.  Next year's payment (or a late one) places a.
    with engine.begin() as c:
        c.execute(enrollments.update().values(live=False, status="refunded"))
    later = pl.DataFrame([row(a, "s2", 32000, channel="school", township="新马桥镇", village="东村"),
                          row(b, "s3", 32000, channel="school", township="新马桥镇", village="西村")])  # fmt: skip
    assert apply_payments(engine, P, later, "clerk")["outcome"].to_list() == ["enrolled", "enrolled"]
    with engine.connect() as c:
        places = {i: t for i, t in c.execute(select(persons.c.id_number, persons.c.township))}
    assert places == {a["person"]["id_number"]: "新马桥镇", b["person"]["id_number"]: "新马桥镇"}
