"""Reconciliation (000 五, 004 六): every injected fault of the synthetic county is found, nothing else is
flagged; and each kind of difference on records built by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from canbao.cli import cli
from canbao.errors import InputError
from canbao.services.cleanup import cleanup_list, read_register
from canbao.services.reconcile import (
    CLEARING_DAYS,
    REGISTRY_SCHEMA,
    list_findings,
    load_registry,
    read_many,
    read_other_counties,
    read_records,
    reconcile,
    write_reconciliation,
)
from conftest import fresh_database
from county import Season, run_season

PERSONS = 2500


@pytest.fixture(
    scope="module",
    params=[("sqlite", 1), ("sqlite", 2), ("sqlite", 3), ("postgresql", 4)],
    ids=lambda p: f"{p[0]}-seed{p[1]}",
)
def season(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    kind, seed = request.param
    folder = tmp_path_factory.mktemp(f"county-{kind}-{seed}")
    with fresh_database(kind, folder) as url:
        s = run_season(folder, PERSONS, seed, url)
        yield s
        s.engine.dispose()


def _files(s: Season) -> dict[str, Any]:
    d = s.data
    units = sorted((d / "collections").glob("*.csv")) if (d / "collections").is_dir() else []
    return {
        "tax": read_records(d / "tax_records.csv", "tax"),
        "bank": read_records(d / "bank_statement.csv", "bank"),
        "units": read_many(units, "collecting_unit"),
        "other_counties": read_other_counties([d / "other_county_roster.csv"], dt.date(2026, 12, 1)),
    }


def _expected(s: Season) -> set[tuple[Any, ...]]:
    """What the manifest says was injected, in the terms a finding is reported in."""
    faults = s.manifest.faults
    expected: set[tuple[Any, ...]] = set()
    expected |= {("money_without_person", f["txn_id"]) for f in faults["tax_without_enrollment"]}
    expected |= {("person_without_money", f["txn_id"]) for f in faults["enrollment_without_payment"]}
    expected |= {("amount_mismatch", f["txn_id"]) for f in faults["amount_mismatch"]}
    expected |= {("two_places", f["id_number"]) for f in faults["enrolled_in_two_counties"]}
    # The bank's wrong amount also makes its day's bank total differ from the tax total.
    for f in faults["amount_mismatch"]:
        day = next(r["file"] for r in f["rows"] if r["file"].startswith("payments/"))
        expected.add(("daily_total", dt.date.fromisoformat(Path(day).stem)))
    expected |= {("list_rejected", Path(f["rows"][0]["file"]).name, f["rows"][0]["row"]) for f in
                 faults["bad_check_digit"]}  # fmt: skip
    expected |= {("list_duplicate", Path(f["rows"][1]["file"]).name, f["rows"][1]["row"]) for f in
                 faults["duplicate_row"]}  # fmt: skip
    expected |= {("dual_identity", f["id_number"]) for f in faults["dual_identity"]}
    return expected


def _flagged(findings: pl.DataFrame, lists: pl.DataFrame) -> set[tuple[Any, ...]]:
    flagged: set[tuple[Any, ...]] = set()
    for r in findings.iter_rows(named=True):
        if r["kind"] == "two_places":
            flagged.add(("two_places", r["id_number"]))
        elif r["kind"] == "daily_total":
            flagged.add(("daily_total", r["paid_on"]))
        else:
            flagged.add((r["kind"], r["txn_id"]))
    for r in lists.iter_rows(named=True):
        flagged.add((r["kind"], r["id_number"]) if r["kind"] == "dual_identity" else (r["kind"], r["file"], r["row"]))
    return flagged


def test_every_injected_fault_is_found_and_nothing_else(season: Season) -> None:
    end = dt.date.fromisoformat(season.manifest.data["season"]["benefit_period"][1])
    result = reconcile(load_registry(season.engine, season.manifest.data["benefit_year"]), end, **_files(season))
    lists = list_findings(season.engine, end)
    assert _flagged(result.findings, lists) == _expected(season)
    mismatched = {f["txn_id"] for f in season.manifest.faults["amount_mismatch"]}
    for related in result.findings.filter(pl.col("kind") == "daily_total")["where"]:
        assert set(related.split("、")) <= mismatched  # each day's difference is the wrong bank amounts of that day
    days = {e for e in _expected(season) if e[0] == "daily_total"}
    assert result.daily.filter(pl.col("difference_fen") != 0).height == len(days)
    assert result.tests == {"ledgers_agree": False, "money_agrees": False, "persons_agree": False}
    # The police's deaths: who paid after dying is to be stopped, who did not renew is no longer chased.
    deaths = cleanup_list(season.engine, season.manifest.data["policy"],
                          deaths=read_register(season.data / "deaths.csv", "deaths", dt.date(2026, 12, 1)), as_of=end,
                          today=dt.date(2026, 12, 1))  # fmt: skip
    dead = {(f["id_number"], f["status"]) for f in season.manifest.faults["dead_on_roster"]}
    # (test_cleanup checks the list exactly: it also holds the dead off the roster who are due from a list)
    assert dead <= set(deaths.select("id_number", "status").iter_rows())
    # every payment the registry holds was compared, and every tax record
    assert result.counts["registry"] == season.outcomes.filter(pl.col("outcome") == "enrolled").height
    assert result.counts["tax"] == pl.read_csv(season.data / "tax_records.csv").height


def test_the_reconciliation_date_limits_what_is_compared(season: Season) -> None:
    registry = load_registry(season.engine, season.manifest.data["benefit_year"])
    window_start = dt.date.fromisoformat(season.manifest.data["season"]["window"][0])
    before = reconcile(registry, window_start - dt.timedelta(days=1), **_files(season))
    assert before.findings.is_empty() and all(before.tests.values())
    mid = dt.date.fromisoformat(season.manifest.data["season"]["window"][1])
    result = reconcile(registry, mid, **_files(season))
    assert result.findings["paid_on"].max() <= mid  # type: ignore[operator]
    assert result.counts["registry"] == registry.filter(pl.col("paid_on") <= mid).height


def test_clean_records_agree_on_all_three_tests(season: Season) -> None:
    """Take the injected faults out of the files and every test holds."""
    registry = load_registry(season.engine, season.manifest.data["benefit_year"])
    files = _files(season)
    tax, bank = files["tax"], files["bank"]
    ghosts = [f["txn_id"] for f in season.manifest.faults["tax_without_enrollment"]]
    missing = [f["txn_id"] for f in season.manifest.faults["enrollment_without_payment"]]
    wrong = {f["txn_id"]: f["tax_amount_fen"] for f in season.manifest.faults["amount_mismatch"]}
    tax = tax.filter(~pl.col("txn_id").is_in(ghosts))
    bank = bank.filter(~pl.col("txn_id").is_in(ghosts)).with_columns(
        pl.col("txn_id").replace_strict(wrong, default=pl.col("amount_fen"), return_dtype=pl.Int64).alias("amount_fen")
    )
    registry = registry.filter(~pl.col("txn_id").is_in(missing))
    end = dt.date.fromisoformat(season.manifest.data["season"]["benefit_period"][1])
    result = reconcile(registry, end, tax=tax, bank=bank, units=files["units"])
    assert result.findings.is_empty()
    assert all(result.tests.values())


# ---------------------------------------------------------------------------------------------------- by hand

DAY = dt.date(2021, 12, 1)


def _registry(*rows: tuple[str, str, int, str]) -> pl.DataFrame:
    """(txn_id, id_number, amount_fen, channel) rows, all paid on DAY by live enrollments."""
    return pl.DataFrame(
        [
            {"txn_id": t, "amount_fen": a, "enrollment_id": n + 1, "person_id": n + 1, "paid_on": DAY, "live": True,
             "id_number": i, "collected_by": "娄庄镇" if ch == "collecting_unit" else None, "name": "张三",
             "township": "娄庄镇", "village": "东村"}
            for n, (t, i, a, ch) in enumerate(rows)
        ],
        schema=REGISTRY_SCHEMA,
    )  # fmt: skip


def _records(rows: list[dict[str, Any]], file: str) -> pl.DataFrame:
    schema = {"txn_id": pl.String, "amount_fen": pl.Int64, "paid_on": pl.Date}
    frame = (pl.DataFrame(rows) if rows else pl.DataFrame(schema=schema)).with_columns(
        pl.lit(file).alias("file"), pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("row")
    )
    return frame.with_columns(pl.col("paid_on").cast(pl.Date), pl.col("amount_fen").cast(pl.Int64))


A, B, C = "341323199001011234", "341323198502023456", "341323197003035678"


def _tax(*rows: tuple[str, str, int]) -> pl.DataFrame:
    rows_ = [{"txn_id": t, "id_number": i, "name": "张三", "amount_fen": a, "paid_on": DAY} for t, i, a in rows]
    return _records(rows_, "tax.csv")


def _bank(*rows: tuple[str, int]) -> pl.DataFrame:
    return _records([{"txn_id": t, "amount_fen": a, "paid_on": DAY} for t, a in rows], "bank.csv")


def _kinds(result: Any) -> list[tuple[str, str | None]]:
    return sorted((r["kind"], r["txn_id"]) for r in result.findings.iter_rows(named=True))


def test_a_transaction_twice_in_the_tax_file_is_counted_twice() -> None:
    registry = _registry(("T1", A, 32000, "online"))
    result = reconcile(registry, DAY, tax=_tax(("T1", A, 32000), ("T1", A, 32000)), bank=_bank(("T1", 32000)))
    assert _kinds(result) == [("counted_twice", "T1"), ("daily_total", None)]
    assert result.findings["where"][0] == "tax.csv 第2行、tax.csv 第3行"
    assert result.daily.row(0, named=True)["explained_by"] == "T1"  # the tax total counts it twice, the bank once
    assert result.tests == {"ledgers_agree": False, "money_agrees": False, "persons_agree": True}


def test_a_person_who_paid_twice_is_counted_twice_not_money_without_person() -> None:
    registry = _registry(("T1", A, 32000, "online"))
    tax = _tax(("T1", A, 32000), ("T2", A, 32000))
    result = reconcile(registry, DAY, tax=tax, bank=_bank(("T1", 32000), ("T2", 32000)))
    assert _kinds(result) == [("counted_twice", "T2")]
    assert not result.tests["persons_agree"]


def test_bank_money_without_a_tax_record_breaks_money_and_persons() -> None:
    registry = _registry(("T1", A, 32000, "online"))
    result = reconcile(registry, DAY, tax=_tax(("T1", A, 32000)), bank=_bank(("T1", 32000), ("X9", 5000)))
    assert _kinds(result) == [("daily_total", None), ("money_without_person", "X9")]
    daily = result.daily.row(0, named=True)
    assert (daily["difference_fen"], daily["explained_by"]) == (5000, "X9")
    assert result.tests == {"ledgers_agree": True, "money_agrees": False, "persons_agree": False}


def test_a_tax_record_whose_money_never_reached_the_bank() -> None:
    registry = _registry(("T1", A, 32000, "online"), ("T2", B, 0, "online"))
    later = DAY + dt.timedelta(days=CLEARING_DAYS + 1)  # past the clearing window: no longer in transit
    result = reconcile(registry, later, tax=_tax(("T1", A, 32000), ("T2", B, 0)), bank=_bank())
    assert _kinds(result) == [("daily_total", None), ("person_without_money", "T1")]  # a 0.00 payment moves no money
    assert result.tests == {"ledgers_agree": True, "money_agrees": False, "persons_agree": False}


def test_the_same_transaction_under_two_id_numbers_is_a_person_mismatch() -> None:
    registry = _registry(("T1", A, 32000, "online"))
    result = reconcile(registry, DAY, tax=_tax(("T1", B, 32000)), bank=_bank(("T1", 32000)))
    assert _kinds(result) == [("person_mismatch", "T1")]
    assert A in result.findings["detail"][0] and B in result.findings["detail"][0]


def test_collecting_unit_lists_are_checked_against_the_registry() -> None:
    registry = _registry(("U1", A, 32000, "collecting_unit"), ("U2", B, 32000, "collecting_unit"),
                         ("U3", C, 32000, "collecting_unit"))  # fmt: skip
    units = _records(
        [{"unit": "娄庄镇", "txn_id": "U1", "id_number": A, "name": "张三", "amount_fen": 32000, "paid_on": DAY},
         {"unit": "娄庄镇", "txn_id": "U2", "id_number": B, "name": "李四", "amount_fen": 30000, "paid_on": DAY}],
        "娄庄镇.csv",
    )  # fmt: skip
    result = reconcile(registry, DAY, units=units)
    assert _kinds(result) == [("amount_mismatch", "U2"), ("person_without_money", "U3")]
    assert result.tests == {"ledgers_agree": False, "money_agrees": True, "persons_agree": True}
    # a unit whose list was not handed in is not checked
    assert reconcile(_registry(("U1", A, 32000, "collecting_unit")), DAY, units=units.head(0)).findings.is_empty()


def test_enrolled_in_another_county_counts_only_live_enrollments() -> None:
    registry = _registry(("T1", A, 32000, "online"), ("T2", B, 32000, "online")).with_columns(
        (pl.col("txn_id") != "T2").alias("live")  # T2 was refunded
    )
    other = pl.DataFrame({"id_number": [A, B], "detail": ["泗县", "泗县"], "row_number": [2, 3], "file": "泗县.csv"})
    result = reconcile(registry, DAY, other_counties=other)
    assert _kinds(result) == [("two_places", "T1")]
    assert result.tests == {"ledgers_agree": True, "money_agrees": True, "persons_agree": False}


# ---------------------------------------------------------------------------------------------------- files


def test_a_malformed_row_refuses_the_file_naming_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "税务.csv"
    path.write_text(
        "缴费人姓名,证件号码,缴费金额(元),缴费日期,交易流水号,渠道\n"
        f"张三,{A},320.00,2021-12-01,T1,微信\n"
        f"李四,{B},三百二,2021-12-01,T2,微信\n"
        f"王五,{C},320.00,2021-13-01,,微信\n",
        encoding="utf-8-sig",
    )
    with pytest.raises(InputError) as error:
        read_records(path, "tax")
    message = str(error.value)
    assert "税务.csv" in message and "第3行“缴费金额(元)”“三百二”不是有效的金额" in message
    assert "第4行“缴费日期”“2021-13-01”不是有效的日期" in message and "第4行“交易流水号”为空" in message


def test_a_file_in_another_layout_is_refused_with_the_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("日期,金额\n2021-12-01,320\n", encoding="utf-8")
    with pytest.raises(InputError, match="缺少必需的列：交易流水号"):
        read_records(path, "bank")


def test_headers_in_full_width_and_xlsx_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "bank.xlsx"
    pl.DataFrame({"交易日期": ["2021/12/01"], "交易流水号": ["T1"], "金额（元）": ["1,320.5"]}).write_excel(path)
    frame = read_records(path, "bank")
    assert frame.select("txn_id", "amount_fen", "paid_on", "row").row(0) == ("T1", 132050, DAY, 2)


# ---------------------------------------------------------------------------------------------------- command


@pytest.fixture(scope="module")
def one_season(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    folder = tmp_path_factory.mktemp("county-cli")
    with fresh_database("sqlite", folder) as url:
        s = run_season(folder, 1500, 5, url)
        yield s
        s.engine.dispose()


def test_the_command_prints_the_three_tests_and_writes_the_workbook(
    one_season: Season, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    season, d = one_season, one_season.data
    monkeypatch.setenv("CANBAO_DATABASE_URL", str(season.engine.url))
    out = tmp_path / "out"
    args = ["reconcile", "--date", season.manifest.data["season"]["benefit_period"][1], "--tax",
            str(d / "tax_records.csv"), "--bank", str(d / "bank_statement.csv"), "--other-county",
            str(d / "other_county_roster.csv"), "--deaths", str(d / "deaths.csv"), "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "账账相符：否" in result.output and "账款相符：否" in result.output and "钱人一致：否" in result.output
    workbook = load_workbook(next(out.glob("*.xlsx")), read_only=True)
    assert workbook.sheetnames[0] == "汇总" and "有款无人" in workbook.sheetnames and "名单核查" in workbook.sheetnames
    assert "死亡或已参加职工医保" in result.output
    cleanup_sheets = [name for name in workbook.sheetnames if name.startswith("清理-")]
    listed = "".join(str(cell) for name in cleanup_sheets for row in workbook[name].iter_rows(values_only=True)
                     for cell in row)  # fmt: skip
    assert all(f["id_number"] in listed for f in season.manifest.faults["dead_on_roster"])
    rows = list(workbook["有款无人"].iter_rows(values_only=True))
    assert len(rows) - 1 == len(season.manifest.faults["tax_without_enrollment"])
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["乡镇"] and first["村（社区）"]  # the registry's places of the person, for the township to follow up


def test_the_workbook_has_a_sheet_for_each_check_even_when_it_found_nothing(tmp_path: Path) -> None:
    result = reconcile(
        _registry(("T1", A, 32000, "online")), DAY, tax=_tax(("T1", A, 32000)), bank=_bank(("T1", 32000))
    )
    path = write_reconciliation(tmp_path / "r.xlsx", result)
    workbook = load_workbook(path, read_only=True)
    summary = {item: value for item, value, _ in workbook["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["账账相符"] == "相符" and summary["账款相符"] == "相符" and summary["钱人一致"] == "相符"
    assert len(list(workbook["有人无款"].iter_rows(values_only=True))) == 1  # the header only
