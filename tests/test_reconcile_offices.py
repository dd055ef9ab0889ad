"""Reconciliation on files shaped as the tax bureau, the bank and a collecting unit make them (written here with
csv and openpyxl, not with canbao's generator): refund lines, money in transit, unit names spelled otherwise,
a unit claiming another channel's payment, files without data rows; and on a registry holding two policies
of one benefit year (000 五, 004 六: 账账相符、账款相符、钱人一致)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, insert

from canbao.errors import InputError
from canbao.ids import make_id_number
from canbao.services.payments import Payment, pay, refund
from canbao.services.reconcile import (
    REFUND_SCHEMA,
    REGISTRY_SCHEMA,
    list_findings,
    load_refunds,
    read_many,
    read_records,
    read_unit_aliases,
    reconcile,
    run_reconciliation,
    write_reconciliation,
)
from canbao.store.tables import identity_memberships, persons
from canbao.store.uow import now
from conftest import application

DAY = dt.date(2021, 12, 1)
A, B, C = (make_id_number("341323", dt.date(1970 + n, 3, 3), n) for n in range(3))
TAX_HEADER = ["缴费人姓名", "证件号码", "缴费金额(元)", "缴费日期", "交易流水号", "渠道"]
BANK_HEADER = ["交易日期", "交易流水号", "金额(元)", "摘要"]
UNIT_HEADER = ["代收单位", "姓名", "身份证号码", "缴费金额(元)", "缴费日期", "交易流水号"]


def _csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _registry(*rows: tuple[str, str, int, str | None, str]) -> pl.DataFrame:
    """(txn_id, id_number, amount_fen, collecting unit or None, channel) rows, paid on DAY, live."""
    return pl.DataFrame(
        [
            {"txn_id": t, "amount_fen": a, "enrollment_id": n + 1, "person_id": n + 1, "paid_on": DAY, "live": True,
             "id_number": i, "collected_by": unit, "channel": ch, "name": "张三", "township": "灵城镇",
             "village": "东关村"}
            for n, (t, i, a, unit, ch) in enumerate(rows)
        ],
        schema=REGISTRY_SCHEMA,
    )  # fmt: skip


def _refunds(*rows: tuple[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"enrollment_id": n + 1, "id_number": i, "refund_fen": f, "refunded_on": DAY}
            for n, (i, f) in enumerate(rows)
        ],
        schema=REFUND_SCHEMA,
    )


def _kinds(result: Any) -> list[tuple[str, str | None]]:
    return sorted((r["kind"], r["txn_id"]) for r in result.findings.iter_rows(named=True))


# ---------------------------------------------------------------------------------------------------- refunds


def test_a_refund_line_in_the_tax_and_bank_files_is_the_registrys_refund_not_a_second_payment(tmp_path: Path) -> None:
    tax = _csv(tmp_path / "税务征收明细.csv", TAX_HEADER, [
        ["张三", A, "320.00", "2021-12-01", "WX001", "微信"],
        ["张三", A, "-320.00", "2021-12-01", "TF001", "退费"],  # the refund under its own 流水号
        ["李四", B, "320.00", "2021-12-01", "WX002", "微信"],
        ["李四", B, "-320.00", "2021-12-01", "WX002", "退费"],  # the refund under the payment's 流水号
    ])  # fmt: skip
    bank = _csv(tmp_path / "待报解账户流水.csv", BANK_HEADER, [
        ["2021-12-01", "WX001", "320.00", "居民医保"], ["2021-12-01", "TF001", "-320.00", "退费"],
        ["2021-12-01", "WX002", "320.00", "居民医保"], ["2021-12-01", "WX002", "-320.00", "退费"],
    ])  # fmt: skip
    registry = _registry(("WX001", A, 32000, None, "online"), ("WX002", B, 32000, None, "online"))
    tax_frame, bank_frame = read_records(tax, "tax"), read_records(bank, "bank")
    assert tax_frame["amount_fen"].to_list() == [32000, -32000, 32000, -32000]  # the reader lets refunds through
    result = reconcile(registry, DAY, tax=tax_frame, bank=bank_frame, refunds=_refunds((A, 32000), (B, 32000)))
    assert result.findings.is_empty(), result.findings
    assert all(result.tests.values())


def test_a_refund_line_matching_no_refund_of_the_registry_is_its_own_finding(tmp_path: Path) -> None:
    tax = _csv(tmp_path / "tax.csv", TAX_HEADER, [
        ["张三", A, "320.00", "2021-12-01", "WX001", "微信"],
        ["张三", A, "-320.00", "2021-12-01", "TF001", "退费"],  # the registry has no refund of 张三
        ["李四", B, "320.00", "2021-12-01", "WX002", "微信"],
        ["李四", B, "-300.00", "2021-12-01", "TF002", "退费"],  # the registry refunded 320
    ])  # fmt: skip
    bank = _csv(tmp_path / "bank.csv", BANK_HEADER, [
        ["2021-12-01", "WX001", "320.00", ""], ["2021-12-01", "TF001", "-320.00", ""],
        ["2021-12-01", "WX002", "320.00", ""], ["2021-12-01", "TF002", "-300.00", ""],
        ["2021-12-01", "TF009", "-40.00", "退费"],  # a bank refund the tax bureau has no line of
    ])  # fmt: skip
    registry = _registry(("WX001", A, 32000, None, "online"), ("WX002", B, 32000, None, "online"))
    result = reconcile(
        registry, DAY, tax=read_records(tax, "tax"), bank=read_records(bank, "bank"), refunds=_refunds((B, 32000))
    )
    kinds = _kinds(result)
    assert ("refund_unmatched", "TF001") in kinds and ("refund_unmatched", "TF009") in kinds
    assert ("amount_mismatch", "TF002") in kinds
    assert not any(k == "counted_twice" or k == "money_without_person" for k, _ in kinds)
    mismatch = result.findings.filter(pl.col("txn_id") == "TF002").row(0, named=True)
    assert (mismatch["registry_fen"], mismatch["tax_fen"]) == (-32000, -30000)
    assert "医保退费 320.00 元" in mismatch["detail"]
    assert not result.tests["ledgers_agree"] and not result.tests["persons_agree"]


# ---------------------------------------------------------------------------------------------------- in transit


def _pair(tmp_path: Path, bank_day: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    tax = _csv(tmp_path / "tax.csv", TAX_HEADER, [
        ["张三", A, "320.00", "2021-12-01", "WX001", "微信"], ["李四", B, "320.00", "2021-12-01", "WX002", "微信"],
    ])  # fmt: skip
    rows = [["2021-12-01", "WX001", "320.00", ""]] + ([[bank_day, "WX002", "320.00", ""]] if bank_day else [])
    return read_records(tax, "tax"), read_records(_csv(tmp_path / "bank.csv", BANK_HEADER, rows), "bank")


def test_a_payment_the_bank_books_the_next_day_is_in_transit_not_a_money_difference(tmp_path: Path) -> None:
    registry = _registry(("WX001", A, 32000, None, "online"), ("WX002", B, 32000, None, "online"))
    tax, bank = _pair(tmp_path, "2021-12-02")
    result = reconcile(registry, dt.date(2021, 12, 5), tax=tax, bank=bank)
    assert _kinds(result) == [("in_transit", "WX002")]
    assert "相隔 1 天" in result.findings["detail"][0]
    assert all(result.tests.values())
    days = {r["paid_on"]: r for r in result.daily.iter_rows(named=True)}
    assert days[DAY]["difference_fen"] == days[DAY]["in_transit_fen"] == -32000
    # the reverse (the bank before the tax bureau's date) is in transit too
    early_tax, early_bank = _pair(tmp_path, "2021-11-30")
    assert _kinds(reconcile(registry, dt.date(2021, 12, 5), tax=early_tax, bank=early_bank)) == [
        ("in_transit", "WX002")
    ]


def test_money_in_transit_breaks_the_test_only_beyond_the_clearing_window(tmp_path: Path) -> None:
    registry = _registry(("WX001", A, 32000, None, "online"), ("WX002", B, 32000, None, "online"))
    tax, bank = _pair(tmp_path, "2021-12-06")  # five days
    late = reconcile(registry, dt.date(2021, 12, 10), tax=tax, bank=bank)
    assert ("in_transit", "WX002") in _kinds(late) and ("daily_total", None) in _kinds(late)
    assert not late.tests["money_agrees"] and late.tests["ledgers_agree"] and late.tests["persons_agree"]
    assert all(reconcile(registry, dt.date(2021, 12, 10), tax=tax, bank=bank, clearing_days=7).tests.values())
    # not booked by the bank yet: in transit while within the window, then a person without money
    tax, bank = _pair(tmp_path, None)
    pending = reconcile(registry, dt.date(2021, 12, 2), tax=tax, bank=bank)
    assert _kinds(pending) == [("in_transit", "WX002")] and all(pending.tests.values())
    overdue = reconcile(registry, dt.date(2021, 12, 9), tax=tax, bank=bank)
    assert ("person_without_money", "WX002") in _kinds(overdue) and not overdue.tests["money_agrees"]


# ---------------------------------------------------------------------------------------------------- units


def _unit_registry() -> pl.DataFrame:
    return _registry(
        ("DS001", A, 32000, "灵城镇", "collecting_unit"),
        ("DS002", B, 32000, "灵城镇", "collecting_unit"),
        ("DS003", C, 32000, "灵城镇", "collecting_unit"),
    )


def test_a_unit_name_matching_no_collecting_unit_is_a_finding_and_its_rows_do_not_vanish(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "灵城镇代收清单.xlsx", UNIT_HEADER, [
        ["灵城镇人民政府", "张三", A, "320.00", "2021-12-01", "DS001"],
        ["灵城镇人民政府", "李四", B, "320.00", "2021-12-01", "DS002"],
    ])  # fmt: skip
    units = read_many([path], "collecting_unit")
    result = reconcile(_unit_registry(), DAY, units=units)
    assert _kinds(result) == [("unknown_unit", None)]
    finding = result.findings.row(0, named=True)
    assert "灵城镇人民政府" in finding["detail"] and "2 行" in finding["detail"]
    assert finding["where"] == "灵城镇代收清单.xlsx 第2至3行" and finding["unit_fen"] == 64000
    assert not result.tests["ledgers_agree"]
    # with the alias the unit's list is checked, and its missing payment (DS003) is found
    aliased = reconcile(_unit_registry(), DAY, units=units, unit_aliases={"灵城镇人民政府": "灵城镇"})
    assert _kinds(aliased) == [("person_without_money", "DS003")]
    # the same name written with full-width letters or spaces is the same unit
    spaced = units.with_columns(pl.lit(" 灵城镇 ").alias("unit"))
    assert _kinds(reconcile(_unit_registry(), DAY, units=spaced)) == [("person_without_money", "DS003")]


def test_unit_aliases_are_read_from_a_two_column_file(tmp_path: Path) -> None:
    path = _csv(tmp_path / "单位别名.csv", ["清单中的名称", "代收单位"], [["灵城镇人民政府", "灵城镇"], ["", ""]])
    assert read_unit_aliases(path) == {"灵城镇人民政府": "灵城镇"}
    bad = _csv(
        tmp_path / "坏.csv", ["清单中的名称", "代收单位"], [["灵城镇人民政府", "灵城镇"], ["灵城镇人民政府", "娄庄镇"]]
    )
    with pytest.raises(InputError) as error:
        read_unit_aliases(bad)
    assert error.value.field == "unit_aliases" and "第3行" in error.value.message


def test_a_unit_listing_a_payment_made_through_another_channel_is_a_finding(tmp_path: Path) -> None:
    registry = _registry(
        ("DS001", A, 32000, "灵城镇", "collecting_unit"),
        ("WX002", B, 32000, None, "online"),  # 李四 paid online himself
        ("WX003", C, 32000, None, "online"),
    )
    path = _csv(tmp_path / "灵城镇.csv", UNIT_HEADER, [
        ["灵城镇", "张三", A, "320.00", "2021-12-01", "DS001"],
        ["灵城镇", "李四", B, "320.00", "2021-12-01", "WX002"],  # the online payment claimed by the unit
        ["灵城镇", "王五", C, "320.00", "2021-12-01", "DS009"],  # a unit payment for a person who paid online
    ], encoding="gbk")  # fmt: skip
    result = reconcile(registry, DAY, units=read_records(path, "collecting_unit"))
    assert _kinds(result) == [("other_channel", "DS009"), ("other_channel", "WX002")]
    details = dict(zip(result.findings["txn_id"], result.findings["detail"], strict=True))
    assert "医保登记为线上自助缴费缴费" in details["WX002"] and "WX003" in details["DS009"]
    assert not result.tests["ledgers_agree"] and not result.tests["persons_agree"]


# ---------------------------------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_file_with_a_header_and_no_rows_is_refused_naming_the_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"税务征收明细{suffix}"
    (_csv if suffix == ".csv" else _xlsx)(path, TAX_HEADER, [])
    with pytest.raises(InputError) as error:
        read_records(path, "tax")
    assert error.value.field == "tax" and error.value.message == f"文件 {path.name} 没有数据行"


def test_file_errors_name_the_reconciliations_fields_not_options(tmp_path: Path) -> None:
    bank = _csv(tmp_path / "bank.csv", ["日期", "金额"], [["2021-12-01", "320"]])
    units = _csv(tmp_path / "u.csv", UNIT_HEADER, [["灵城镇", "张三", A, "三百", "2021-12-01", "DS1"]])
    for call, field in ((lambda: read_records(bank, "bank"), "bank"),
                        (lambda: read_many([units], "collecting_unit"), "collections"),
                        (lambda: read_many([tmp_path / "nowhere"], "tax"), "tax")):  # fmt: skip
        with pytest.raises(InputError) as error:
            call()
        assert error.value.field == field and "--" not in error.value.message


def test_the_run_names_the_register_a_bad_file_came_in(tmp_path: Path) -> None:
    deaths = _csv(tmp_path / "deaths.csv", ["姓名", "身份证号码", "死亡日期"], [["甲", A, "2021-13-40"]])
    with pytest.raises(InputError) as error:
        run_reconciliation(None, DAY, 2022, tmp_path, deaths=deaths)  # type: ignore[arg-type]  # files come first
    assert error.value.field == "deaths" and "deaths.csv" in error.value.message and "--" not in error.value.message


# ---------------------------------------------------------------------------------------------------- registry


LINGBI, BENGBU = "anhui/suzhou/lingbi/2022", "anhui/bengbu/2022"


def _pay(engine: Engine, policy: str, county: str, txn: str, amount: str, **kw: Any) -> str:
    app = application(county, "1970-03-03", "regular", "2021-11-01")
    pay(engine, Payment(policy, app, kw.pop("channel", "online"), txn, Decimal(amount), **kw), "clerk")
    return str(app["person"]["id_number"])


def test_reconcile_needs_no_policy_when_the_year_has_two_and_matches_the_registrys_refunds(
    engine: Engine, tmp_path: Path
) -> None:
    here = _pay(engine, LINGBI, "341323", "WX1", "320", township="灵城镇", village="东关村")
    unit = _pay(engine, LINGBI, "341323", "DS1", "320", channel="collecting_unit", collecting_unit="灵城镇")
    there = _pay(engine, BENGBU, "340322", "WX123", "320")  # the README's pay example: another policy, same year
    gone = _pay(engine, LINGBI, "341323", "WX2", "320")
    refund(engine, gone, 2022, "duplicate_payment", dt.date(2021, 12, 1), "clerk")
    refunds = load_refunds(engine, 2022)
    assert refunds.select("id_number", "refund_fen").rows() == [(gone, 32000)]
    tax = _csv(tmp_path / "tax.csv", TAX_HEADER, [
        ["甲", here, "320.00", "2021-11-01", "WX1", "微信"], ["乙", unit, "320.00", "2021-11-01", "DS1", "乡镇代收"],
        ["丙", there, "320.00", "2021-11-01", "WX123", "微信"], ["丁", gone, "320.00", "2021-11-01", "WX2", "微信"],
        ["丁", gone, "-320.00", "2021-12-01", "TF2", "退费"],
    ])  # fmt: skip
    bank = _csv(tmp_path / "bank.csv", BANK_HEADER, [
        ["2021-11-01", "WX1", "320.00", ""], ["2021-11-01", "DS1", "320.00", ""], ["2021-11-01", "WX123", "320.00", ""],
        ["2021-11-01", "WX2", "320.00", ""], ["2021-12-02", "TF2", "-320.00", ""],  # the refund paid out next day
    ])  # fmt: skip
    units = _csv(
        tmp_path / "灵城镇人民政府.csv", UNIT_HEADER, [["灵城镇人民政府", "乙", unit, "320.00", "2021-11-01", "DS1"]]
    )
    aliases = _csv(tmp_path / "别名.csv", ["清单中的名称", "代收单位"], [["灵城镇人民政府", "灵城镇"]])
    deaths = _csv(tmp_path / "deaths.csv", ["姓名", "身份证号码", "死亡日期"], [["甲", here, "2021-11-20"]])
    out = tmp_path / "out"
    out.mkdir()
    run = run_reconciliation(
        engine, dt.date(2021, 12, 31), 2022, out, tax=tax, bank=bank, collections=[units], deaths=deaths,
        unit_aliases=aliases, today=dt.date(2021, 12, 31),
    )  # fmt: skip
    assert _kinds(run.result) == [("in_transit", "TF2")], run.result.findings
    assert all(run.result.tests.values())
    assert run.cleanup is not None and run.cleanup["id_number"].to_list() == [here]
    assert run.path.name == "对账-2022年度-截至2021-12-31.xlsx"
    # rerun later for the same date: the same answer (no "today" inside)
    again = run_reconciliation(engine, dt.date(2021, 12, 31), 2022, out, tax=tax, bank=bank, collections=[units],
                               unit_aliases={"灵城镇人民政府": "灵城镇"})  # fmt: skip
    assert again.result.findings.equals(run.result.findings)


def test_dual_identities_are_those_held_on_the_reconciliation_date(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(insert(persons).values(id=1, id_number=A, name="张三", sex="male", birth_date=dt.date(1970, 3, 3),
                                         county="341323", residency="local_hukou", created_at=now()))  # fmt: skip
        for n, (category, department) in enumerate((("dibao", "civil_affairs"), ("disabled", "disabled_persons"))):
            c.execute(insert(identity_memberships).values(person_id=1, category=category, department=department,
                                                          valid_to=dt.date(2021, 12, 31), batch_id=n + 1))  # fmt: skip
    held = list_findings(engine, dt.date(2021, 12, 31))
    assert held.filter(pl.col("kind") == "dual_identity")["id_number"].to_list() == [A]
    assert list_findings(engine, dt.date(2022, 1, 1)).filter(pl.col("kind") == "dual_identity").is_empty()


# ---------------------------------------------------------------------------------------------------- workbook


def test_the_workbook_writes_amounts_and_counts_as_numbers(tmp_path: Path) -> None:
    registry = _registry(("WX001", A, 32000, None, "online"))
    result = reconcile(registry, DAY, tax=read_records(_csv(tmp_path / "t.csv", TAX_HEADER, [
        ["张三", A, "300.50", "2021-12-01", "WX001", "微信"]]), "tax"))  # fmt: skip
    book = load_workbook(write_reconciliation(tmp_path / "r.xlsx", result), read_only=True)
    rows = list(book["金额不符"].iter_rows(values_only=True))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["医保登记金额（元）"] == 320 and row["税务金额（元）"] == 300.5
    summary = {item: (text, n) for item, text, n in book["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["差异：金额不符"] == (None, 1) and summary["比对记录数：税务征收明细"] == (None, 1)
    assert summary["账账相符"] == ("不相符", None)
