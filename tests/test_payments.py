"""Enroll and pay, replay, refunds, suspension and county subsidy refunds — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from canbao.errors import InputError
from canbao.services.payments import (
    Payment,
    county_subsidy_refunds_owed,
    end_enrollment,
    ledger_of,
    pay,
    record_county_subsidy_refund,
    refund,
)
from canbao.store.tables import audit_log, enrollments, ledger_entries, persons
from conftest import application

BENGBU = "anhui/bengbu/2022"
HUAIYUAN = "anhui/bengbu/huaiyuan/2025"


def payment(app: dict[str, Any], txn: str, amount: str, policy: str = BENGBU, **kw: Any) -> Payment:
    return Payment(policy, app, kw.pop("channel", "online"), txn, Decimal(amount), channel_name="微信", **kw)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_payment_enrolls_with_the_quoted_amounts(engine: Engine) -> None:
    app = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    result = pay(engine, payment(app, "wx-1", "40"), "clerk")
    assert not result.replayed and result.amount_fen == 4000
    assert (result.benefit_start, result.benefit_end) == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    ledger = ledger_of(engine, app["person"]["id_number"])
    assert ledger["kind"].to_list() == ["payment", "assistance_subsidy"]
    assert ledger["amount_fen"].to_list() == [4000, 28000]
    with engine.connect() as c:
        row = c.execute(select(enrollments)).one()
    assert (row.amount_due_fen, row.net_personal_fen, row.subsidy_category, row.fiscal_county_fen) == (
        4000,
        4000,
        "dibao",
        5800,
    )


def test_the_same_transaction_twice_is_recorded_once(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    first = pay(engine, payment(app, "wx-2", "320"), "clerk")
    again = pay(engine, payment(app, "wx-2", "320"), "clerk")
    assert again.replayed and again.enrollment_id == first.enrollment_id
    assert count(engine, ledger_entries) == 1 and count(engine, enrollments) == 1


def test_a_transaction_id_cannot_pay_for_someone_else(engine: Engine) -> None:
    pay(engine, payment(application("340322", "1985-06-15", "regular", "2021-10-15"), "wx-3", "320"), "clerk")
    other = application("340322", "1986-06-15", "regular", "2021-10-15")
    with pytest.raises(InputError) as err:
        pay(engine, payment(other, "wx-3", "320"), "clerk")
    assert err.value.field == "txn_id" and "另一人" in err.value.message


def test_a_wrong_amount_is_refused_naming_the_due(engine: Engine) -> None:
    app = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    with pytest.raises(InputError) as err:
        pay(engine, payment(app, "wx-4", "320"), "clerk")
    assert err.value.field == "amount" and "应缴 40.00 元" in err.value.message
    assert count(engine, persons) == 0 and count(engine, ledger_entries) == 0
    with engine.connect() as c:
        outcome = c.execute(select(audit_log.c.outcome)).scalars().all()
    assert outcome == ["refused"]  # nothing half-written but the audit line


def test_a_second_enrollment_in_the_year_is_refused_with_where_the_first_is(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, payment(app, "wx-5", "320", collecting_unit="新马桥镇"), "clerk")
    with pytest.raises(InputError) as err:
        pay(engine, payment(app, "bank-5", "320", channel="bank_debit"), "clerk")
    assert "新马桥镇" in err.value.message and "2021-10-15" in err.value.message
    assert "340322********" in err.value.message
    assert count(engine, enrollments) == 1


def test_name_and_id_number_must_agree(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, payment(app, "wx-6", "320"), "clerk")
    renamed = {**app, "person": {**app["person"], "name": "别人"}}
    with pytest.raises(InputError) as err:
        pay(engine, payment(renamed, "wx-6b", "320"), "clerk")
    assert err.value.field == "person.name"


def test_ineligible_persons_cannot_pay(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15", employee_insurance_active=True)
    with pytest.raises(InputError) as err:
        pay(engine, payment(app, "wx-7", "320"), "clerk")
    assert "职工医保" in err.value.message


def test_refund_before_the_benefit_period_ends_the_enrollment_and_appends_entries(engine: Engine) -> None:
    app = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    pay(engine, payment(app, "wx-8", "40"), "clerk")
    result = refund(engine, app["person"]["id_number"], 2022, "death", dt.date(2021, 12, 1), "clerk")
    assert result.refundable and result.amount_fen == 4000
    ledger = ledger_of(engine, app["person"]["id_number"])
    assert ledger["kind"].to_list() == ["payment", "assistance_subsidy", "refund", "assistance_subsidy"]
    assert ledger["amount_fen"].to_list() == [4000, 28000, 4000, -28000]
    with engine.connect() as c:
        assert c.execute(select(enrollments.c.status, enrollments.c.live)).one() == ("refunded", False)
    # the year is free again: the person may enroll anew
    pay(engine, payment(app, "wx-8b", "40"), "clerk")


def test_no_refund_once_benefits_have_started(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, payment(app, "wx-9", "320"), "clerk")
    result = refund(engine, app["person"]["id_number"], 2022, "duplicate_payment", dt.date(2022, 3, 1), "clerk")
    assert not result.refundable and result.amount_fen == 0 and "不再退回" in result.why
    assert count(engine, ledger_entries) == 1


def test_suspend_and_terminate_keep_the_reason(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, payment(app, "wx-10", "320"), "clerk")
    end_enrollment(engine, app["person"]["id_number"], 2022, "suspended", "moved_away", dt.date(2022, 5, 1), "clerk")
    with pytest.raises(InputError):  # still the person's enrollment for the year
        pay(engine, payment(app, "wx-10b", "320"), "clerk")
    end_enrollment(engine, app["person"]["id_number"], 2022, "terminated", "death", dt.date(2022, 6, 1), "clerk")
    with engine.connect() as c:
        assert c.execute(select(enrollments.c.status, enrollments.c.end_reason)).one() == ("terminated", "death")


def test_county_subsidy_refunds_are_listed_per_township_and_recorded_once(engine: Engine) -> None:
    parent = application("340321", "1975-05-01", "regular", "2024-10-01", ["son_household"], household_role="parent")
    veteran = application("340321", "1950-01-01", "regular", "2024-10-02", ["key_entitled"])
    plain = application("340321", "1985-01-01", "regular", "2024-10-03")
    for i, app in enumerate((parent, veteran, plain)):
        pay(engine, payment(app, f"hy-{i}", "400", HUAIYUAN, township="榴城镇"), "clerk")
    owed = county_subsidy_refunds_owed(engine, 2025, "榴城镇")
    assert sorted(owed["subsidy_fen"].to_list()) == [20000, 40000]
    record_county_subsidy_refund(engine, veteran["person"]["id_number"], 2025, "榴城镇", "township")
    with pytest.raises(InputError):
        record_county_subsidy_refund(engine, veteran["person"]["id_number"], 2025, "榴城镇", "township")
    assert county_subsidy_refunds_owed(engine, 2025)["subsidy_fen"].to_list() == [20000]
    # refunding the veteran now returns only their own money: the county's part was already paid back
    result = refund(engine, veteran["person"]["id_number"], 2025, "death", dt.date(2024, 12, 1), "clerk")
    assert result.amount_fen == 0


def test_the_ledger_refuses_updates_and_deletes(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    pay(engine, payment(app, "wx-11", "320"), "clerk")
    for statement in ("UPDATE ledger_entries SET amount_fen = 1", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError), engine.begin() as c:
            c.execute(text(statement))
    assert ledger_of(engine, app["person"]["id_number"])["amount_fen"].to_list() == [32000]


def test_many_threads_paying_for_one_person_make_one_enrollment(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")

    def attempt(i: int) -> str:
        txn = "same-txn" if i % 2 else f"txn-{i}"
        try:
            result = pay(engine, payment(app, txn, "320"), f"clerk-{i}")
        except InputError:
            return "refused"
        return "replayed" if result.replayed else "enrolled"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(16)))
    assert outcomes.count("enrolled") == 1
    assert count(engine, enrollments) == 1 and count(engine, ledger_entries) == 1
    with engine.connect() as c:
        txns = c.execute(select(ledger_entries.c.channel_txn_id)).scalars().all()
    replays = outcomes.count("replayed")
    assert replays == (7 if txns == ["same-txn"] else 0)


def _pay_in_process(args: tuple[str, dict[str, Any], str]) -> str:
    from canbao.store.db import make_engine

    url, app, txn = args
    engine = make_engine(url)
    try:
        result = pay(engine, payment(app, txn, "320"), "process")
        return "replayed" if result.replayed else "enrolled"
    except InputError:
        return "refused"
    finally:
        engine.dispose()


def test_many_processes_replaying_one_transaction_make_one_entry(database_url: str) -> None:
    import multiprocessing

    from canbao.store.db import make_engine

    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    jobs = [(database_url, app, "proc-txn" if i < 4 else f"proc-{i}") for i in range(6)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        outcomes = pool.map(_pay_in_process, jobs)
    assert outcomes.count("enrolled") == 1
    engine = make_engine(database_url)
    assert count(engine, enrollments) == 1 and count(engine, ledger_entries) == 1
    engine.dispose()


def test_bad_input_is_refused_naming_the_field(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    app["person"]["id_number"] = app["person"]["id_number"][:-1] + (
        "0" if app["person"]["id_number"][-1] != "0" else "1"
    )
    with pytest.raises(InputError) as err:
        pay(engine, payment(app, "wx-bad", "320"), "clerk")
    assert err.value.field == "person.id_number" and "校验位" in err.value.message
    assert count(engine, persons) == 0


def test_a_transaction_id_longer_than_the_ledger_keeps_is_refused(engine: Engine) -> None:
    app = application("340322", "1985-06-15", "regular", "2021-10-15")
    with pytest.raises(InputError) as err:
        pay(engine, payment(app, "t" * 65, "320"), "clerk")
    assert (err.value.field, err.value.message) == ("txn_id", "交易流水号超过64个字符")
    assert count(engine, persons) == 0
    with engine.connect() as c:
        assert c.execute(select(audit_log.c.outcome)).scalars().all() == ["refused"]


def test_004_二_三_one_definition_of_the_county_subsidy_owed(engine: Engine) -> None:
    """Owed back (先缴后补): active, paid in full first, with a county subsidy, nothing paid back yet — the
    townships' list, the recording and the fund accounting agree (a suspended enrollment is owed nothing)."""
    from canbao.services.funds import fund_report

    held = application("340321", "1975-05-02", "regular", "2024-10-01", ["son_household"], household_role="parent")
    owed = application("340321", "1950-01-02", "regular", "2024-10-02", ["key_entitled"])
    for i, app in enumerate((held, owed)):
        pay(engine, payment(app, f"ow-{i}", "400", HUAIYUAN, township="榴城镇"), "clerk")
    end_enrollment(engine, held["person"]["id_number"], 2025, "suspended", "other", dt.date(2024, 11, 1), "clerk")
    listed = county_subsidy_refunds_owed(engine, 2025)
    assert listed["id_number"].to_list() == [owed["person"]["id_number"]]
    report = fund_report(engine, 2025).county_subsidy_by_township.row(0, named=True)
    assert (report["owed_persons"], report["owed_fen"]) == (1, int(listed["subsidy_fen"].sum()))
    with pytest.raises(InputError) as err:
        record_county_subsidy_refund(engine, held["person"]["id_number"], 2025, "榴城镇", "township")
    assert "暂停" in str(err.value) and "suspended" not in str(err.value)


def test_an_unknown_end_reason_is_named_with_its_label(engine: Engine) -> None:
    app = application("340322", "1985-06-16", "regular", "2021-10-15")
    pay(engine, payment(app, "wx-er", "320"), "clerk")
    with pytest.raises(InputError) as err:
        end_enrollment(engine, app["person"]["id_number"], 2022, "terminated", "left", dt.date(2022, 5, 1), "clerk")
    assert err.value.field == "reason" and "moved_away（迁出本地）" in str(err.value)


def test_the_county_subsidy_list_is_written_in_chinese_with_yuan_as_numbers(engine: Engine, tmp_path: Path) -> None:
    """county-subsidy list --output wrote English headers and fen, and CSV for any suffix (issue 13)."""
    import openpyxl

    from canbao.services.payments import write_county_subsidy_refunds

    parent = application("340321", "1975-05-03", "regular", "2024-10-01", ["son_household"], household_role="parent")
    pay(engine, payment(parent, "cs-1", "400", HUAIYUAN, township="榴城镇"), "clerk")
    owed = county_subsidy_refunds_owed(engine, 2025)
    path = write_county_subsidy_refunds(owed, tmp_path / "退补.xlsx")
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]][:6] == [
        "乡镇",
        "村（社区）",
        "姓名",
        "身份证号码",
        "补贴身份",
        "应退补金额（元）",
    ]
    amount = sheet.cell(row=2, column=6)
    assert (amount.value, amount.data_type, amount.number_format) == (200, "n", "#,##0.00")
    assert sheet.cell(row=2, column=5).value == "农村独男户"
    text = write_county_subsidy_refunds(owed, tmp_path / "退补.csv").read_text(encoding="utf-8")
    assert "应退补金额（元）" in text and "200.00" in text
    with pytest.raises(InputError) as err:
        write_county_subsidy_refunds(owed, tmp_path / "退补.txt")
    assert err.value.field == "output"
