"""Duplicate and invalid enrollments (000 六(四)): deaths, employee insurance and other counties' rosters against
the registry; refunds as the policy's refund rule decides them (000 四(二), 003 三(六), 004 四(二))."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.reports import write_workbook
from canbao.services import cleanup
from canbao.services.cleanup import NOT_COVERED, cleanup_list, read_register
from canbao.services.payments import Payment, pay, record_county_subsidy_refund
from canbao.services.season import open_season
from conftest import application, fresh_database
from county import Season, run_season

BENGBU = "anhui/bengbu/2022"
LINGBI = "anhui/suzhou/lingbi/2022"
HUAIYUAN = "anhui/bengbu/huaiyuan/2025"
CANBAO = [sys.executable, "-m", "canbao.cli"]

TODAY = dt.date(2026, 12, 1)  # the day the registers are checked against (no date after it)


@pytest.fixture(
    scope="module",
    params=[("sqlite", "341323", 1), ("sqlite", "341323", 2), ("postgresql", "341323", 3),
            ("postgresql", "340321", 4)],
    ids=lambda p: f"{p[0]}-{p[1]}-seed{p[2]}",
)  # fmt: skip
def season(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    kind, county, seed = request.param
    folder = tmp_path_factory.mktemp(f"cleanup-{kind}-{county}-{seed}")
    with fresh_database(kind, folder) as url:
        s = run_season(folder, 2000, seed, url, county=county)
        yield s
        s.engine.dispose()


def _synthetic_list(s: Season, as_of: dt.date) -> pl.DataFrame:
    return cleanup_list(
        s.engine,
        s.manifest.data["policy"],
        deaths=read_register(s.data / "deaths.csv", "deaths", TODAY),
        other_counties=read_register(s.data / "other_county_roster.csv", "other_county", TODAY),
        as_of=as_of,
        today=TODAY,
    )


def _listed_dead_off_roster(s: Season) -> set[tuple[str, str, str]]:
    """From the generator's truth: dead persons not on last year's roster who are on a department list, so due
    for the year (the manifest's dead_on_roster counts roster persons only), unless their list row was refused."""
    refused = {f["id_number"] for f in s.manifest.data["faults"]["bad_check_digit"]}
    truth = pl.read_parquet(s.data / "population.parquet").filter(
        pl.col("died_on").is_not_null(), ~pl.col("on_roster_2021"), ~pl.col("enrolled"),
        pl.col("categories").list.len() > 0, ~pl.col("id_number").is_in(sorted(refused)),
    )  # fmt: skip
    return {(i, "deaths", "due") for i in truth["id_number"]}


def test_the_manifests_dead_and_doubly_enrolled_are_found_and_nothing_else(season: Season) -> None:
    found = _synthetic_list(season, dt.date(2030, 1, 1))
    faults = season.manifest.data["faults"]
    expected = {(f["id_number"], "deaths", f["status"]) for f in faults["dead_on_roster"]}
    expected |= {(f["id_number"], "other_county", "paid") for f in faults["enrolled_in_two_counties"]}
    expected |= _listed_dead_off_roster(season)
    assert set(found.select("id_number", "register", "status").iter_rows()) == expected
    assert found.height == len(expected)
    assert {"due", "paid"} <= set(found["status"]) and found["township"].null_count() == 0
    paid, due = found.filter(pl.col("status") == "paid"), found.filter(pl.col("status") == "due")
    assert paid["enrollment_id"].null_count() == 0 and due["enrollment_id"].null_count() == due.height
    # The dead who paid did so after dying (bank debits that kept running): the list says so.
    dead_paid = paid.filter(pl.col("register") == "deaths")
    assert dead_paid.height > 0 and (dead_paid["paid_on"] > dead_paid["event_date"]).all()
    assert dead_paid["detail"].str.contains("死亡后仍有缴费").all()
    assert set(found["action"]) <= {"stop_chasing", "terminate", "terminate_refund_not_covered"}  # after the start


def test_big_registers_read_the_whole_year_and_find_the_same(season: Season, monkeypatch: pytest.MonkeyPatch) -> None:
    by_number = _synthetic_list(season, dt.date(2030, 1, 1))
    monkeypatch.setattr(cleanup, "LOOKUP_LIMIT", 0)
    assert _synthetic_list(season, dt.date(2030, 1, 1)).equals(by_number)


def test_refunds_are_the_policys_before_and_after_the_benefit_period_starts(season: Season) -> None:
    start = dt.date.fromisoformat(season.manifest.data["season"]["benefit_period"][0])
    before = _synthetic_list(season, start - dt.timedelta(days=1)).filter(pl.col("status") == "paid")
    after = _synthetic_list(season, start).filter(pl.col("status") == "paid")
    death_covered = season.manifest.data["policy"] == HUAIYUAN  # 004 四(二) lists death; 003 三(六) does not
    for frame, refundable in ((before, True), (after, False)):
        elsewhere = frame.filter(pl.col("register") == "other_county")
        assert elsewhere.height > 0 and elsewhere["refund_due"].to_list() == [refundable] * elsewhere.height
        expected = elsewhere["amount_fen"] if refundable else pl.zeros(elsewhere.height, dtype=pl.Int64, eager=True)
        assert elsewhere["refund_fen"].to_list() == expected.to_list()
        dead = frame.filter(pl.col("register") == "deaths")
        if death_covered:
            assert dead["refund_due"].to_list() == [refundable] * dead.height
        else:
            assert dead["refund_due"].null_count() == dead["refund_fen"].null_count() == dead.height
            assert dead["refund_note"].str.starts_with(NOT_COVERED).all()
            assert (dead["action"] == "terminate_refund_not_covered").all()
    assert (before.filter(pl.col("refund_due"))["action"] == "terminate_and_refund").all()


# ---------------------------------------------------------------------------------------------------- by hand


def _pay(engine: Engine, policy: str, county: str, paid_on: str, txn: str, amount: str, *categories: str) -> str:
    app = application(county, "1970-03-03", "regular", paid_on, list(categories))
    pay(engine, Payment(policy, app, "online", txn, Decimal(amount), township="城关镇", village="东村"), "t")
    return str(app["person"]["id_number"])


def test_employee_insurance_is_refunded_before_the_start_and_later_events_are_ignored(engine: Engine) -> None:
    joined = _pay(engine, BENGBU, "340322", "2021-10-01", "e1", "320")
    later = _pay(engine, BENGBU, "340322", "2021-10-02", "e2", "320")
    _pay(engine, BENGBU, "340322", "2021-10-03", "e3", "320")  # on no register
    employees = pl.DataFrame(
        {
            "身份证号码": [joined, later],
            "姓名": ["测试", "测试"],
            "参保单位": ["某某公司", "另一公司"],
            "参保日期": ["2021-12-01", "2023-02-01"],  # the second joined after the benefit year: no concern of it
        }
    )
    found = cleanup_list(engine, BENGBU, employees=employees, as_of=dt.date(2021, 12, 10), today=TODAY)
    assert found.select("id_number", "reason", "status", "refund_due", "refund_fen").rows() == [
        (joined, "已参加职工医保", "paid", True, 32000)
    ]
    row = found.row(0, named=True)
    assert (
        row["action"] == "terminate_and_refund" and row["detail"] == "某某公司" and "000 四(二)" in row["refund_note"]
    )
    assert row["event_date"] == dt.date(2021, 12, 1) and row["register"] == "employee_insurance"
    assert row["name_differs"] is False
    late = cleanup_list(engine, BENGBU, employees=employees, as_of=dt.date(2022, 3, 1), today=TODAY).row(0, named=True)
    assert (late["refund_due"], late["refund_fen"], late["action"]) == (False, 0, "terminate")


def test_a_county_subsidy_already_paid_back_is_not_refunded_to_the_person(engine: Engine) -> None:
    # 004 二(三): a key entitled person pays 400 first and the township pays the 400 back.
    person = _pay(engine, HUAIYUAN, "340321", "2024-10-10", "k1", "400", "key_entitled")
    plain = _pay(engine, HUAIYUAN, "340321", "2024-10-10", "k2", "400")
    record_county_subsidy_refund(engine, person, 2025, "城关镇", "t")
    roster = pl.DataFrame(
        {
            "身份证号码": [person, plain],
            "姓名": ["测试"] * 2,
            "县（区）": ["五河县"] * 2,
            "缴费日期": ["2024-11-01"] * 2,
        }
    )
    found = cleanup_list(engine, HUAIYUAN, other_counties=roster, as_of=dt.date(2024, 12, 1), today=TODAY)
    refunds = dict(found.select("id_number", "refund_fen").iter_rows())
    assert refunds == {person: 0, plain: 40000} and found["refund_due"].all()
    assert (found["action_label"].str.contains("另一县")).all()


def test_dead_persons_still_due_are_not_chased(engine: Engine) -> None:
    due_ids = []
    for i, birth in enumerate(("1940-01-01", "1941-01-01")):
        app = application("341323", birth, "regular", "2020-10-10")
        pay(engine, Payment("anhui/suzhou/2021", app, "online", f"y{i}", Decimal("280"), township="韦集镇"), "t")
        due_ids.append(str(app["person"]["id_number"]))
    open_season(engine, LINGBI, "t")
    deaths = pl.DataFrame({"姓名": ["张三"], "身份证号码": [due_ids[0]], "死亡日期": ["2021-08-08"]})
    found = cleanup_list(engine, LINGBI, deaths=deaths, as_of=TODAY, today=TODAY)
    assert found.select("id_number", "status", "action", "amount_fen", "township").rows() == [
        (due_ids[0], "due", "stop_chasing", 32000, "韦集镇")
    ]
    assert found["enrollment_id"].to_list() == [None] and found["refund_due"].to_list() == [None]
    assert found["name_differs"].to_list() == [True]  # registered as 测试: the clerk checks the number first


# ---------------------------------------------------------------------------------------------------- files


def test_a_bad_register_file_names_file_row_and_field_and_is_not_used(tmp_path: Path) -> None:
    good = "341323193810286367"
    path = tmp_path / "死亡.csv"
    path.write_text(f"姓名,身份证号码,死亡日期\n甲,{good},2021-01-01\n乙,{good[:-1]}8,2021-01-01\n", encoding="utf-8")
    with pytest.raises(InputError) as bad:
        read_register(path, "deaths", TODAY)
    assert bad.value.field == "deaths"
    assert "死亡.csv" in bad.value.message and "第3行 身份证号码" in bad.value.message

    path.write_text(f"姓名,身份证号码,死亡日期\n甲,{good},2021-02-30\n", encoding="utf-8")
    with pytest.raises(InputError, match="第2行 死亡日期：“2021-02-30”不是有效日期"):
        read_register(path, "deaths", TODAY)
    path.write_text(f"姓名,身份证号码,死亡日期\n,{good},2999-01-01\n", encoding="utf-8")
    with pytest.raises(InputError, match="第2行 姓名：缺少姓名；第2行 死亡日期：日期 2999-01-01 晚于今天"):
        read_register(path, "deaths", TODAY)
    path.write_text(f"身份证号码,姓名\n{good},甲\n", encoding="utf-8")
    with pytest.raises(InputError, match="缺少必需的列：职工医保参保日期（insured_since，可用列名：参保日期"):
        read_register(path, "employee_insurance", TODAY)
    other = tmp_path / "外县.csv"
    other.write_text(f"身份证号码,姓名,县（区）,缴费日期,缴费金额\n{good},甲,泗县,2021-11-01,三百\n", encoding="utf-8")
    with pytest.raises(InputError, match="第2行 缴费金额：“三百”不是有效金额") as bad:
        read_register(other, "other_county", TODAY)
    assert bad.value.field == "other_counties"


def test_registers_are_read_from_xlsx_in_their_own_layouts(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "序号": ["1", "2"],
            "身份证号码": ["341323193810286367", "341323193810286367"],  # the same person twice keeps the first
            "姓 名": ["甲", "甲"],
            "参保单位": ["某厂", "某厂"],
            "参保日期": ["2021/11/02", "2021-12-01"],
        }
    )
    path = write_workbook(tmp_path / "职工.xlsx", {"Sheet1": frame})
    read = read_register(path, "employee_insurance", TODAY)
    assert read.select("register", "row_number", "id_number", "event_date", "detail").rows() == [
        ("employee_insurance", 2, "341323193810286367", dt.date(2021, 11, 2), "某厂")
    ]


def test_the_command_writes_the_workbook_and_refuses_a_bad_file_in_one_line(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    person = _pay(engine, BENGBU, "340322", "2021-10-01", "c1", "320")
    deaths = tmp_path / "deaths.csv"
    deaths.write_text(f"姓名,身份证号码,死亡日期\n测试,{person},2021-11-11\n", encoding="utf-8")
    env = {**os.environ, "CANBAO_DATABASE_URL": database_url}
    args = ["cleanup", "--benefit-year", "2022", "--policy", BENGBU, "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [*CANBAO, *args, "--deaths", str(deaths), "--as-of", "2021-12-01"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "应退费 1 人 320.00 元" in done.stdout and person not in done.stdout
    book = load_workbook(tmp_path / "out" / "清理清单-2022.xlsx")
    assert book.sheetnames == ["汇总", "应终止或退费的参保", "停止催缴", "说明"]
    rows = list(book["应终止或退费的参保"].iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][3] == person and rows[1][4] == "死亡"
    money = dict(zip(rows[0], rows[1], strict=True))
    assert money["缴费金额（元）"] == 320 and money["退费金额（元）"] == 320  # numbers, not text (issue 13)
    cell = book["应终止或退费的参保"].cell(row=2, column=rows[0].index("退费金额（元）") + 1)
    assert cell.data_type == "n" and cell.number_format == "#,##0.00"

    deaths.write_text(f"姓名,身份证号码,死亡日期\n测试,{person[:-1]}0,2021-11-11\n", encoding="utf-8")
    if person.endswith("0"):
        deaths.write_text(f"姓名,身份证号码,死亡日期\n测试,{person[:-1]}1,2021-11-11\n", encoding="utf-8")
    bad = subprocess.run([*CANBAO, *args, "--deaths", str(deaths)], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stdout == ""
    refusal = [line for line in bad.stderr.splitlines() if not line.startswith("数据库：")]
    assert len(refusal) == 1 and "deaths.csv" in refusal[0] and "第2行 身份证号码" in refusal[0]
