"""A day's payment file applied in bulk through the same rules as one payment; replaying it changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from canbao.services.payment_batch import apply_payments
from canbao.store.tables import enrollments, ledger_entries, persons
from conftest import application
from policy_edit import edited_policies

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


def _file_with_repeats_far_apart() -> pl.DataFrame:
    """Twenty payments in which the rows judged together lie far apart: a person paying twice (rows 1 and 18),
    a notification repeated (3, 15), a transaction id reused for someone else (5, 19) who pays again (17, 20):
    rows 5, 17, 19 and 20 are linked through a transaction and an ID number."""
    people = [application("340322", f"19{60 + i}-03-02", "regular", "2021-10-15") for i in range(16)]
    rows = [row(p, f"c{i}", 32000) for i, p in enumerate(people)]
    rows.insert(16, row(people[0], "c-again", 32000))  # row 17: people[0] again, another txn
    rows.insert(14, row(people[2], "c2", 32000))  # row 15: the notification of row 3 again
    rows.insert(18, row(people[15], "c4", 32000))  # row 19: row 5's txn for someone else
    rows.append(row(people[15], "c15b", 32000))  # people[15] again, linked to row 5 through c4
    return pl.DataFrame(rows)


def test_a_file_applied_in_chunks_gives_every_row_the_whole_files_answer(
    database_url: str, tmp_path: Any, monkeypatch: Any
) -> None:
    import canbao.services.payment_batch as batch
    from canbao.store.db import make_engine
    from conftest import fresh_database

    frame = _file_with_repeats_far_apart()
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    answers = []
    for chunk_rows in (10_000, 3):
        monkeypatch.setattr(batch, "CHUNK_ROWS", dict.fromkeys(("sqlite", "postgresql"), chunk_rows))
        monkeypatch.setattr(batch, "SQLITE_PAUSE_S", 0)
        (tmp_path / str(chunk_rows)).mkdir()
        with fresh_database(kind, tmp_path / str(chunk_rows)) as url:
            engine = make_engine(url)
            chunks: list[int] = []
            out = apply_payments(engine, P, frame, "clerk", on_chunk=chunks.append)
            again = apply_payments(engine, P, frame, "clerk")
            answers.append((out.drop("enrollment_id", "person_id"), again["outcome"], totals(engine), len(chunks)))
            # a repeat names the same enrollment as the row it repeats
            assert out["enrollment_id"][14] == out["enrollment_id"][2]
            engine.dispose()
    (whole, whole_again, whole_totals, one), (chunked, chunked_again, chunked_totals, many) = answers
    assert one == 1 and many > 3
    assert chunked.equals(whole) and chunked_again.equals(whole_again) and chunked_totals == whole_totals
    assert whole["outcome"].to_list()[14:] == ["replayed", "enrolled", "enrolled", "refused", "refused", "refused"]
    assert whole["outcome"].to_list()[:14] == ["enrolled"] * 14
    assert "第 1 行" in whole["reason"][17] and "第 5 行" in whole["reason"][18] and "第 17 行" in whole["reason"][19]


def test_a_single_payment_goes_through_while_a_large_file_is_being_applied(engine: Engine, monkeypatch: Any) -> None:
    """The file holds the write lock only for a chunk at a time: a payment from another clerk, started after
    the file's first chunk, is done before the file is."""
    import threading
    from decimal import Decimal

    import canbao.services.payment_batch as batch
    from canbao.services.payments import Payment, pay

    monkeypatch.setattr(batch, "CHUNK_ROWS", dict.fromkeys(("sqlite", "postgresql"), 20))
    monkeypatch.setattr(batch, "SQLITE_PAUSE_S", 0)  # the clerk gets its turn in on_chunk below
    file = pl.DataFrame([row(application("340322", "1970-01-01", "regular", "2021-10-15"), f"f{i}", 32000)
                         for i in range(200)])  # fmt: skip
    single = application("340322", "1999-09-09", "regular", "2021-10-15")
    events: list[str] = []
    single_done = threading.Event()

    def clerk() -> None:
        pay(engine, Payment(P, single, "online", "single", Decimal("320")), "clerk-2")
        events.append("single payment done")
        single_done.set()

    thread = threading.Thread(target=clerk)

    def on_chunk(applied: int) -> None:
        events.append(f"chunk {applied}")
        if applied == 20:
            thread.start()
        else:  # give the clerk its chance; a file holding its lock throughout would make this wait in vain
            single_done.wait(timeout=0.5)

    out = apply_payments(engine, P, file, "clerk", on_chunk=on_chunk)
    events.append("file done")
    thread.join()
    assert out["outcome"].value_counts().rows() == [("enrolled", 200)]
    assert events.index("single payment done") < events.index("file done")
    assert events.index("single payment done") < events.index("chunk 200")


def test_texts_longer_than_their_columns_are_refused_naming_the_field(engine: Engine) -> None:
    a = application("340322", "1985-06-15", "regular", "2021-10-16")
    b = application("340322", "1986-06-15", "regular", "2021-10-16")
    c_ = application("340322", "1987-06-15", "regular", "2021-10-16")
    frame = pl.DataFrame([row(a, "x" * 65, 32000), row(b, "ok-b", 32000, village="村" * 65),
                          row(c_, "ok-c", 32000, phone="1" * 21)])  # fmt: skip
    out = apply_payments(engine, P, frame, "clerk")
    assert out["outcome"].to_list() == ["refused"] * 3
    assert out["error_field"].to_list() == ["txn_id", "village", "phone"]
    assert out["reason"][0] == "交易流水号超过64个字符"
    assert totals(engine) == (0, 0, 0, 0)
    ok = apply_payments(engine, P, pl.DataFrame([row(a, "y" * 64, 32000, village="村" * 64)]), "clerk")
    assert ok["outcome"].to_list() == ["enrolled"]


def test_the_channels_are_the_policys_value(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The channels a policy names: a payment through another one is refused naming the clause."""
    a = application("340322", "1985-06-15", "regular", "2021-10-15")
    b = application("340322", "1986-06-15", "regular", "2021-10-15")

    def no_bank(raw: dict[str, Any]) -> None:
        raw["collection"]["channels"] = ["online", "collecting_unit", "school"]

    with edited_policies(tmp_path, monkeypatch, P, no_bank):
        out = apply_payments(engine, P, pl.DataFrame([row(a, "b1", 32000, channel="bank_debit")]), "clerk")
        assert out["outcome"].to_list() == ["refused"] and out["error_field"].to_list() == ["channel"]
        assert "不经由“银行批扣”征收" in out["reason"][0] and "000 四(一)" in out["reason"][0]
        assert "bank_debit" not in out["reason"][0].split("可选")[0]
    out = apply_payments(engine, P, pl.DataFrame([row(b, "b2", 32000, channel="bank_debit")]), "clerk")
    assert out["outcome"].to_list() == ["enrolled"]
    unknown = apply_payments(engine, P, pl.DataFrame([row(a, "b3", 32000, channel="pigeon")]), "clerk")
    assert unknown["reason"][0].startswith("未知的缴费渠道 pigeon") and "online（线上自助缴费）" in unknown["reason"][0]
