"""Fund accounting (000 二(一), 001 六(四), 004 二(三)): the fiscal subsidy per level, the category subsidies from
the ledger, county subsidy refunds and the transfer lists; totals agree with each other and with the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine, func, insert, select

from canbao.cli import cli
from canbao.money import to_yuan
from canbao.services.funds import NOT_STATED, fund_report, write_fund_report
from canbao.services.payments import (
    Payment,
    county_subsidy_refunds_owed,
    pay,
    record_county_subsidy_refund,
    refund,
)
from canbao.store.tables import enrollments, ledger_entries
from canbao.store.uow import now
from conftest import application, fresh_database
from county import Season, run_season

BENGBU = "anhui/bengbu/2022"
LINGBI = "anhui/suzhou/lingbi/2022"
LEVELS = ("central", "province", "city", "county", "total")


def _pay(engine: Engine, policy: str, county: str, township: str, txn: str, amount: str, *categories: str) -> str:
    app = application(county, "1960-05-05", "regular", "2021-11-01", list(categories))
    channel = "collecting_unit" if categories else "online"
    pay(engine, Payment(policy, app, channel, txn, Decimal(amount), township=township, collecting_unit=township), "t")
    return str(app["person"]["id_number"])


def _ledger_sum(engine: Engine, kind: str, benefit_year: int) -> int:
    with engine.connect() as c:
        total = c.execute(
            select(func.sum(ledger_entries.c.amount_fen))
            .join(enrollments, enrollments.c.id == ledger_entries.c.enrollment_id)
            .where(ledger_entries.c.kind == kind, enrollments.c.benefit_year == benefit_year)
        ).scalar_one()
    return int(total or 0)


# ---------------------------------------------------------------------------------------------------- by hand


def test_each_level_split_of_the_notice_is_summed_per_township_and_county(engine: Engine) -> None:
    # 000 二(一): 怀远 464/116; 五河、固镇 348/174/县58; 市辖区 348/174/市29/区29 (yuan per person).
    _pay(engine, BENGBU, "340321", "榴城镇", "h1", "320")
    _pay(engine, BENGBU, "340321", "榴城镇", "h2", "320")
    _pay(engine, BENGBU, "340322", "城关镇", "w1", "320")
    _pay(engine, BENGBU, "340302", "李楼乡", "l1", "320")
    report = fund_report(engine, 2022)
    towns = {r["township"]: r for r in report.fiscal_by_township.iter_rows(named=True)}
    assert towns["榴城镇"]["persons"] == 2
    assert [towns["榴城镇"][f"fiscal_{lvl}_fen"] for lvl in LEVELS] == [92800, 23200, 0, 0, 116000]
    assert [towns["城关镇"][f"fiscal_{lvl}_fen"] for lvl in LEVELS] == [34800, 17400, 0, 5800, 58000]
    assert [towns["李楼乡"][f"fiscal_{lvl}_fen"] for lvl in LEVELS] == [34800, 17400, 2900, 2900, 58000]
    county = report.fiscal_county.row(0, named=True)
    assert [county[f"fiscal_{lvl}_fen"] for lvl in LEVELS] == [
        2 * 46400 + 2 * 34800, 2 * 11600 + 2 * 17400, 2900, 5800 + 2900, 4 * 58000
    ]  # fmt: skip
    assert county["unsplit"] == 0 and report.notes == []
    # The levels add up to the total, per township and for the county.
    for row in [*towns.values(), county]:
        assert sum(row[f"fiscal_{lvl}_fen"] for lvl in LEVELS[:4]) == row["fiscal_total_fen"]


def test_a_policy_without_a_split_says_so_instead_of_inventing_one(engine: Engine, tmp_path: Path) -> None:
    _pay(engine, LINGBI, "341323", "灵城镇", "a", "320")
    _pay(engine, LINGBI, "341323", "韦集镇", "b", "40", "dibao")
    report = fund_report(engine, 2022)
    county = report.fiscal_county.row(0, named=True)
    assert county["fiscal_total_fen"] == 2 * 58000  # 003 三(二): 580 yuan per person
    assert all(county[f"fiscal_{lvl}_fen"] is None for lvl in LEVELS[:4]) and county["unsplit"] == 2
    assert len(report.notes) == 1 and "未分" in report.notes[0] and "003 三(二)" in report.notes[0]
    files = write_fund_report(report, tmp_path)
    sheet = load_workbook(files[0])["财政补助-全县"]
    cells = {row[0]: row[2] for row in sheet.iter_rows(min_row=2, values_only=True)}
    notes = {row[0]: row[3] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells["中央"] is None and notes["中央"] == NOT_STATED and notes["县级"] == NOT_STATED
    total = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == "合计")[2]
    assert (total.value, total.data_type, total.number_format) == (1160, "n", "#,##0.00")


def test_a_policy_without_amounts_leaves_the_total_unstated(engine: Engine) -> None:
    app = application("341323", "1970-01-01", "regular", "2020-10-10")
    pay(engine, Payment("anhui/suzhou/2021", app, "online", "s", Decimal("280")), "t")
    report = fund_report(engine, 2021)
    assert report.fiscal_county["fiscal_total_fen"].to_list() == [None]
    assert "未列金额" in report.notes[0]


def test_category_subsidies_come_from_the_ledger_net_of_refunds_and_are_checked(engine: Engine) -> None:
    kept = _pay(engine, BENGBU, "340322", "城关镇", "d1", "40", "dibao")
    gone = _pay(engine, BENGBU, "340322", "城关镇", "d2", "40", "dibao")
    _pay(engine, BENGBU, "340322", "朱顶镇", "m1", "160", "monitored")
    _pay(engine, BENGBU, "340322", "朱顶镇", "x1", "0", "destitute")
    refund(engine, gone, 2022, "death", dt.date(2021, 12, 1), "t")  # reversal appended
    report = fund_report(engine, 2022)
    rows = {r["subsidy_category"]: r for r in report.subsidies_by_category.iter_rows(named=True)}
    # 000 二(三): 低保 280, 监测 160, 特困 320 (全额); the refunded one counts for nothing.
    assert (rows["dibao"]["persons"], rows["dibao"]["ledger_fen"]) == (1, 28000)
    assert (rows["monitored"]["ledger_fen"], rows["destitute"]["ledger_fen"]) == (16000, 32000)
    assert rows["dibao"]["payer"] == "医疗救助资金"
    assert report.ledger_subsidy_fen == _ledger_sum(engine, "assistance_subsidy", 2022) == 76000
    assert report.subsidy_differences.height == 0
    assert report.subsidies_by_category["difference_fen"].to_list() == [0, 0, 0]
    # 001 六(四): the transfer list has the persons, with their full ID numbers, and adds up per township.
    detail = report.transfer_detail
    assert kept in detail["id_number"].to_list() and gone not in detail["id_number"].to_list()
    towns = report.transfers_by_township.group_by("township").agg(pl.col("amount_fen").sum()).sort("township")
    assert dict(towns.iter_rows()) == {"城关镇": 28000, "朱顶镇": 48000}

    # A ledger entry with no reason behind it is shown as a difference, per enrollment and per category.
    with engine.begin() as c:
        row = c.execute(select(enrollments.c.id, enrollments.c.person_id).where(enrollments.c.subsidy_fen == 16000))
        enrollment_id, person_id = row.one()
        c.execute(
            insert(ledger_entries).values(
                enrollment_id=enrollment_id, person_id=person_id, kind="assistance_subsidy", amount_fen=500,
                recorded_at=now(), actor="t",
            )
        )  # fmt: skip
    report = fund_report(engine, 2022)
    assert report.subsidy_differences.select("enrollment_id", "difference_fen").rows() == [(enrollment_id, 500)]
    rows = {r["subsidy_category"]: r for r in report.subsidies_by_category.iter_rows(named=True)}
    assert (rows["monitored"]["ledger_fen"], rows["monitored"]["difference_fen"]) == (16500, 500)


def test_the_command_writes_the_workbook_and_the_charts(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pay(engine, BENGBU, "340321", "榴城镇", "c1", "40", "dibao")
    _pay(engine, BENGBU, "340323", "新马桥镇", "c2", "320")
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["funds", "--benefit-year", "2022", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1160.00 元" in result.output and "中央 812.00 元" in result.output  # 464 + 348
    assert (tmp_path / "财政补助-按乡镇-2022.png").stat().st_size > 1000
    assert (tmp_path / "分类资助-按身份-2022.png").is_file()
    book = load_workbook(tmp_path / "资金核算-2022.xlsx")
    assert {"说明", "财政补助-乡镇", "分类资助-按身份", "资助划拨明细", "先缴后补-按乡镇"} <= set(book.sheetnames)
    detail = list(book["资助划拨明细"].iter_rows(values_only=True))
    assert detail[0][:4] == ("乡镇", "村（社区）", "姓名", "身份证号码") and len(detail) == 2
    assert detail[1][0] == "榴城镇" and len(str(detail[1][3])) == 18 and detail[1][7] == 280

    wrong = CliRunner().invoke(cli, ["funds", "--benefit-year", "2023", "--policy", BENGBU, "--out", str(tmp_path)])
    assert wrong.exit_code != 0 and "2023" in str(wrong.exception or wrong.output)


# ---------------------------------------------------------------------------------------------------- a season


@pytest.fixture(
    scope="module",
    params=[("sqlite", "340321", 1), ("postgresql", "340321", 2), ("postgresql", "341323", 3)],
    ids=lambda p: f"{p[0]}-{p[1]}-seed{p[2]}",
)
def season(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    """A county's season; for Huaiyuan (004 二(三) 先缴后补) a few townships pay their county subsidy back."""
    kind, county, seed = request.param
    folder = tmp_path_factory.mktemp(f"funds-{kind}-{county}-{seed}")
    with fresh_database(kind, folder) as url:
        s = run_season(folder, 2000, seed, url, county=county)
        benefit_year = int(s.manifest.data["benefit_year"])
        owed = county_subsidy_refunds_owed(s.engine, benefit_year)
        for row in owed.head(max(1, owed.height // 3)).iter_rows(named=True):
            record_county_subsidy_refund(s.engine, row["id_number"], benefit_year, row["township"], "t")
        yield s
        s.engine.dispose()


def test_fund_totals_agree_with_each_other_and_with_the_ledger(season: Season, tmp_path: Path) -> None:
    benefit_year = int(season.manifest.data["benefit_year"])
    report = fund_report(season.engine, benefit_year)
    county = report.fiscal_county.row(0, named=True)
    towns = report.fiscal_by_township
    with season.engine.connect() as c:
        live = c.execute(
            select(func.count(), func.sum(enrollments.c.fiscal_total_fen)).where(
                enrollments.c.benefit_year == benefit_year, enrollments.c.live
            )
        ).one()
    assert (county["persons"], county["fiscal_total_fen"]) == (live[0], live[1])
    assert int(towns["persons"].sum()) == county["persons"]
    for lvl in LEVELS:
        column = towns[f"fiscal_{lvl}_fen"]
        if county[f"fiscal_{lvl}_fen"] is None:
            assert column.null_count() == towns.height  # not stated anywhere
        else:
            assert int(column.sum()) == county[f"fiscal_{lvl}_fen"]

    assert report.ledger_subsidy_fen == _ledger_sum(season.engine, "assistance_subsidy", benefit_year) > 0
    assert report.subsidy_differences.height == 0
    assert int(report.subsidies_by_category["enrollment_fen"].sum()) == report.ledger_subsidy_fen
    detail, by_town = report.transfer_detail, report.transfers_by_township
    assert int(detail["amount_fen"].sum()) == int(by_town["amount_fen"].sum()) == report.ledger_subsidy_fen
    assert int(by_town["persons"].sum()) == detail.height == int(report.subsidies_by_category["persons"].sum())
    assert detail["id_number"].is_unique().all()

    subsidy = report.county_subsidy_by_township
    owed = county_subsidy_refunds_owed(season.engine, benefit_year)
    assert int(subsidy["owed_fen"].sum()) == int(owed["subsidy_fen"].sum())
    assert int(subsidy["owed_persons"].sum()) == owed.height
    assert int(subsidy["paid_fen"].sum()) == _ledger_sum(season.engine, "county_subsidy_refund", benefit_year)
    assert (subsidy["entitled_fen"] == subsidy["paid_fen"] + subsidy["owed_fen"]).all()
    if season.manifest.data["policy"] == "anhui/bengbu/huaiyuan/2025":
        assert int(subsidy["paid_persons"].sum()) > 0 and int(subsidy["owed_persons"].sum()) > 0
        assert report.notes == []  # 004 二(一) gives the split: 536 central, 134 province
        assert county["fiscal_central_fen"] == 53600 * county["persons"]
    else:
        assert subsidy.height == 0 and county["fiscal_central_fen"] is None

    # The workbook's 合计 rows say the same as the frames.
    book = load_workbook(write_fund_report(report, tmp_path)[0])
    transfers = list(book["资助划拨-按乡镇"].iter_rows(values_only=True))
    assert transfers[-1][0] == "合计" and transfers[-1][-1] == float(to_yuan(report.ledger_subsidy_fen))
    fiscal = {r[0]: r for r in book["财政补助-乡镇"].iter_rows(min_row=2, values_only=True)}
    assert fiscal["合计"][1] == county["persons"] and fiscal["合计"][6] == float(to_yuan(county["fiscal_total_fen"]))
