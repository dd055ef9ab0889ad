"""Issue 6 (progress part): targets and e-voucher imports, the progress report, the not-renewed list and the
assessment at the cutoff, checked on a synthetic county's season against counts made independently from
its own files (population.parquet, the payment files, the roster, the activation records, targets.xlsx)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from canbao.errors import InputError
from canbao.ids import make_id_number
from canbao.policy import load_policy
from canbao.services.assessment import rewards, rewards_sheets, write_rewards
from canbao.services.payments import Payment, pay, refund
from canbao.services.progress import (
    NO_TOWNSHIP,
    not_renewed,
    progress,
    progress_sheets,
    write_not_renewed,
    write_progress,
)
from canbao.services.season import due_list
from canbao.services.targets import import_activations, import_targets, read_targets
from canbao.store.tables import e_voucher_activations, enrollments, ledger_entries, persons, targets
from conftest import application, fresh_database
from county import Season, run_season

P = "anhui/suzhou/lingbi/2022"
YEAR = 2022
PERSONS = 3_000
SEED = 7
AS_OF = dt.date(2021, 12, 15)
CUTOFF = dt.date(2021, 12, 31)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def season(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    folder = tmp_path_factory.mktemp(f"progress_{request.param}")
    with fresh_database(request.param, folder) as url:
        s = run_season(folder, PERSONS, SEED, url)
        import_targets(s.engine, s.data / "targets.xlsx", YEAR, "test")
        import_activations(s.engine, s.data / "e_voucher_activations.csv", "test", today=dt.date(2022, 6, 1))
        yield s
        s.engine.dispose()


# ----------------------------------------------------------------------------------- independent counts


def _population(s: Season) -> pl.DataFrame:
    return pl.read_parquet(s.data / "population.parquet").select("id_number", "township", "village", "phone")


def _events(s: Season) -> pl.DataFrame:
    days = sorted((s.data / "payments").glob("*.parquet"))
    return pl.concat([pl.read_parquet(d).select("id_number", "paid_on") for d in days])


def _unplaced(s: Season) -> list[str]:
    """Persons the registry holds without a township (e.g. a new student registered by the school roster,
    whose payment does not change the registration): the report counts them under （未填乡镇）."""
    with s.engine.connect() as c:
        return list(c.execute(select(persons.c.id_number).where(persons.c.township.is_(None))).scalars())


def _paid_by(s: Season, day: dt.date) -> pl.DataFrame:
    paid = _events(s).filter(pl.col("paid_on") <= day).join(_population(s), on="id_number")
    return paid.with_columns(
        pl.when(pl.col("id_number").is_in(_unplaced(s)))
        .then(pl.lit(NO_TOWNSHIP))
        .otherwise("township")
        .alias("township")
    )


def _activated_by(s: Season, day: dt.date) -> pl.DataFrame:
    records = pl.read_csv(s.data / "e_voucher_activations.csv", infer_schema=False)
    activated = records.filter(pl.col("激活日期") <= day.isoformat()).join(
        _population(s), left_on="身份证号码", right_on="id_number"
    )
    unplaced = pl.col("身份证号码").is_in(_unplaced(s))
    return activated.with_columns(pl.when(unplaced).then(pl.lit(NO_TOWNSHIP)).otherwise("township").alias("township"))


def _roster(s: Season) -> pl.Series:
    return pl.read_csv(s.data / "roster_2021.csv", infer_schema=False)["身份证号码"]


def _per_township(frame: pl.DataFrame, name: str) -> dict[str, int]:
    return dict(frame.group_by("township").len(name).rows())


def _township_targets(s: Season, sheet: str) -> dict[str, int]:
    rows = list(openpyxl.load_workbook(s.data / "targets.xlsx", read_only=True)[sheet].iter_rows(values_only=True))
    out: dict[str, int] = {}
    for township, _, _, _, target in rows[1:]:
        out[township] = out.get(township, 0) + int(target)
    return out


# ------------------------------------------------------------------------------------------------ imports


def test_targets_import_matches_the_workbook_and_replaces_the_year(season: Season, tmp_path: Path) -> None:
    with season.engine.connect() as c:
        goals = read_targets(c, YEAR)
    for kind, sheet in (("enrollment", "参保任务"), ("e_voucher", "电子凭证任务")):
        mine = goals.filter(pl.col("kind") == kind).group_by("township").agg(pl.col("target").sum())
        assert dict(mine.rows()) == _township_targets(season, sheet)
    assert goals.filter(pl.col("kind") == "enrollment")["target"].sum() == season.manifest.data["targets"]["enrollment"]
    # Another year's table does not touch 2022's; a re-import of 2022 replaces it whole.
    changed = tmp_path / "changed.xlsx"
    workbook = openpyxl.load_workbook(season.data / "targets.xlsx")
    workbook["参保任务"]["E2"] = 999
    workbook.save(changed)
    import_targets(season.engine, changed, 2023, "test")
    report = import_targets(season.engine, changed, YEAR, "test")
    assert report.replaced == goals.height
    with season.engine.connect() as c:
        again = read_targets(c, YEAR)
        other = c.execute(select(func.count()).where(targets.c.benefit_year == 2023)).scalar_one()
    assert again.height == goals.height and other == goals.height
    first = again.filter(pl.col("kind") == "enrollment").sort("village_code").row(0, named=True)
    assert first["target"] == 999
    import_targets(season.engine, season.data / "targets.xlsx", YEAR, "test")  # back to the county's own


def _bad_targets(source: Path, out: Path, edit: str) -> Path:
    workbook = openpyxl.load_workbook(source)
    sheet = workbook["参保任务"]
    if edit == "negative":
        sheet["E3"] = -5
    elif edit == "fraction":
        sheet["E4"] = 12.5
    elif edit == "text":
        sheet["E4"] = "十二"
    elif edit == "two_townships":
        sheet["A5"] = "灵城镇" if sheet["A5"].value != "灵城镇" else "韦集镇"  # same village code, other township
    elif edit == "missing_sheet":
        del workbook["电子凭证任务"]
    elif edit == "duplicate":
        sheet.append([c.value for c in sheet[2]])
    workbook.save(out)
    return out


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ("negative", ["工作表“参保任务”第3行", "任务数", "“-5”不是不小于0的整数"]),
        ("fraction", ["第4行", "“12.5”不是不小于0的整数"]),
        ("text", ["第4行", "“十二”"]),
        ("two_townships", ["第5行", "属于"]),
        ("missing_sheet", ["缺少工作表：电子凭证任务"]),
        ("duplicate", ["重复"]),
    ],
)
def test_bad_targets_are_refused_naming_sheet_row_and_field_and_change_nothing(
    season: Season, tmp_path: Path, edit: str, words: list[str]
) -> None:
    with season.engine.connect() as c:
        before = read_targets(c, YEAR)
    bad = _bad_targets(season.data / "targets.xlsx", tmp_path / f"{edit}.xlsx", edit)
    with pytest.raises(InputError) as refused:
        import_targets(season.engine, bad, YEAR, "test")
    for word in words:
        assert word in refused.value.message
    with season.engine.connect() as c:
        assert read_targets(c, YEAR).equals(before)


def test_e_voucher_import_replays_nothing_and_refuses_bad_files_whole(season: Season, tmp_path: Path) -> None:
    source = season.data / "e_voucher_activations.csv"
    records = pl.read_csv(source, infer_schema=False)
    with season.engine.connect() as c:
        count = c.execute(select(func.count()).select_from(e_voucher_activations)).scalar_one()
    assert count == records.height
    again = import_activations(season.engine, source, "test", today=dt.date(2022, 6, 1))
    assert (again.recorded, again.already) == (0, records.height)
    # An XLSX of the same records (other headers) is a replay too.
    xlsx = tmp_path / "激活.xlsx"
    records.rename({"身份证号码": "证件号码", "激活日期": "激活时间"}).write_excel(xlsx)
    assert import_activations(season.engine, xlsx, "test", today=dt.date(2022, 6, 1)).recorded == 0
    # A bad check digit, an unknown person, a wrong name, a bad date: nothing of the file is written.
    population = pl.read_parquet(season.data / "population.parquet")
    not_yet = _roster(season).filter(~_roster(season).is_in(records["身份证号码"].implode()))
    newcomer = population.filter(pl.col("id_number") == not_yet[0]).row(0, named=True)  # registered, not activated
    good = records.row(0, named=True)["身份证号码"]
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    unknown = make_id_number("110101", dt.date(1960, 5, 5), 123)  # well formed, nobody registered
    bad = pl.DataFrame(
        {
            "姓名": [newcomer["name"], "某人", "某人", "张冒名", newcomer["name"]],
            "身份证号码": [newcomer["id_number"], wrong_check, unknown, newcomer["id_number"], newcomer["id_number"]],
            "激活日期": ["2021-11-01", "2021-11-01", "2021-11-01", "2021-11-01", "十一月"],
            "激活渠道": ["微信"] * 5,
        }
    )
    path = tmp_path / "bad.csv"
    bad.write_csv(path)
    with pytest.raises(InputError) as refused:
        import_activations(season.engine, path, "test", today=dt.date(2022, 6, 1))
    message = refused.value.message
    assert "文件 bad.csv" in message
    assert "第3行 身份证号码" in message and "校验" in message
    assert "第4行 身份证号码：未登记的人员" in message
    assert "第5行 姓名：“张冒名”与登记的姓名" in message
    assert "第6行 激活日期：“十一月”不是有效日期" in message
    with season.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(e_voucher_activations)).scalar_one() == records.height


# ----------------------------------------------------------------------------------------------- progress


def test_progress_counts_agree_with_the_county_files(season: Season) -> None:
    report = progress(season.engine, YEAR, AS_OF)
    towns = {r["township"]: r for r in report.townships.iter_rows(named=True)}
    enrolled = _per_township(_paid_by(season, AS_OF), "n")
    last_week = _per_township(_paid_by(season, AS_OF - dt.timedelta(days=7)), "n")
    activated = _per_township(_activated_by(season, AS_OF), "n")
    roster = _population(season).filter(pl.col("id_number").is_in(_roster(season).implode()))
    assert roster.filter(pl.col("id_number").is_in(_unplaced(season))).is_empty()  # the roster gives places
    renewed = roster.filter(pl.col("id_number").is_in(_paid_by(season, AS_OF)["id_number"].implode()))
    targets_ = _township_targets(season, "参保任务")
    e_targets = _township_targets(season, "电子凭证任务")
    assert towns.get(NO_TOWNSHIP, {"enrolled": 0})["enrolled"] == enrolled.get(NO_TOWNSHIP, 0)
    for township, target in targets_.items():
        row = towns[township]
        assert row["enrollment_target"] == target and row["e_voucher_target"] == e_targets[township]
        assert row["enrolled"] == enrolled.get(township, 0)
        assert row["enrolled_last_week"] == last_week.get(township, 0)
        assert row["enrolled_this_week"] == enrolled.get(township, 0) - last_week.get(township, 0)
        assert row["activated"] == activated.get(township, 0)
        assert row["last_year"] == _per_township(roster, "n")[township]
        assert row["renewed"] == _per_township(renewed, "n").get(township, 0)
        assert row["enrollment_rate_bp"] == enrolled.get(township, 0) * 10_000 // target
        assert row["renewal_rate_bp"] == row["renewed"] * 10_000 // row["last_year"]
    county = report.county.row(0, named=True)
    assert county["enrolled"] == _paid_by(season, AS_OF).height
    assert county["activated"] == _activated_by(season, AS_OF).height
    assert county["renewed"] == renewed.height and county["last_year"] == roster.height
    # Villages add up to their townships.
    by_village = report.villages.group_by("township").agg(pl.col("enrolled", "activated", "renewed").sum())
    for township, n, a, r in by_village.rows():
        assert (towns[township]["enrolled"], towns[township]["activated"], towns[township]["renewed"]) == (n, a, r)


def test_ranking_by_exact_rate_then_enrolled(season: Season) -> None:
    report = progress(season.engine, YEAR, AS_OF)
    ranked = report.townships.filter(pl.col("rank").is_not_null()).sort("rank")
    keys = [(Fraction(r["enrolled"], r["enrollment_target"]), r["enrolled"]) for r in ranked.iter_rows(named=True)]
    assert keys == sorted(keys, reverse=True)
    assert ranked["rank"].to_list() == list(range(1, ranked.height + 1))
    villages = report.villages.filter(pl.col("rank").is_not_null())
    for _, part in villages.group_by("township"):
        part = part.sort("township_rank")
        assert part["township_rank"].to_list() == list(range(1, part.height + 1))
        fractions = [Fraction(r["enrolled"], r["enrollment_target"]) for r in part.iter_rows(named=True)]
        assert fractions == sorted(fractions, reverse=True)


def test_progress_totals_agree_with_the_ledger(season: Season) -> None:
    report = progress(season.engine, YEAR, dt.date(2022, 12, 31))
    with season.engine.connect() as c:
        live = c.execute(
            select(func.count()).where(enrollments.c.benefit_year == YEAR, enrollments.c.live)
        ).scalar_one()
        paid = c.execute(
            select(func.count(func.distinct(ledger_entries.c.enrollment_id)))
            .join(enrollments, enrollments.c.id == ledger_entries.c.enrollment_id)
            .where(ledger_entries.c.kind == "payment", enrollments.c.benefit_year == YEAR, enrollments.c.live)
        ).scalar_one()
    assert int(report.townships["enrolled"].sum()) == int(report.county["enrolled"][0]) == live == paid
    assert live == season.outcomes.filter(pl.col("outcome") == "enrolled").height


def test_progress_workbook_and_chart(season: Season, tmp_path: Path) -> None:
    report = progress(season.engine, YEAR, AS_OF)
    files = write_progress(report, tmp_path)
    assert [f.suffix for f in files] == [".xlsx", ".png"] and all(f.stat().st_size > 1000 for f in files)
    workbook = openpyxl.load_workbook(files[0], read_only=True)
    assert workbook.sheetnames[:3] == ["全县", "乡镇排名", "村排名"]
    sheets = progress_sheets(report)
    assert sheets["村排名"].height == report.villages.filter(pl.col("in_targets")).height
    first = sheets["乡镇排名"].row(0, named=True)
    assert first["名次"] == 1 and first["参保完成率"] == first["已参保人数"] / first["参保任务数"]
    # issue 13: counts and rates are numeric cells; a rate is the fraction, correctly rounded by its format
    book = openpyxl.load_workbook(files[0])
    sheet = book["乡镇排名"]
    header = [c.value for c in sheet[1]]
    rate_cell = sheet.cell(row=2, column=header.index("参保完成率") + 1)
    count_cell = sheet.cell(row=2, column=header.index("已参保人数") + 1)
    assert (rate_cell.data_type, rate_cell.number_format) == ("n", "0.00%")
    assert rate_cell.value == pytest.approx(first["已参保人数"] / first["参保任务数"])
    assert (count_cell.data_type, count_cell.number_format, count_cell.value) == ("n", "#,##0", first["已参保人数"])
    assert "参保完成率（万分之）" not in header  # the truncated basis points are gone
    county = book["全县"]
    assert county.cell(row=2, column=3).value == report.county["enrollment_target"][0]


def test_refunded_enrollment_no_longer_counts_and_unknown_year_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="尚未导入 2022 年度的任务分解表"):
        progress(engine, YEAR, AS_OF)
    workbook = openpyxl.Workbook()
    workbook.active.title = "参保任务"
    workbook["参保任务"].append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
    workbook["参保任务"].append(["灵城镇", "341323100", "城东社区", "341323100001", 2])
    workbook.create_sheet("电子凭证任务").append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
    workbook["电子凭证任务"].append(["灵城镇", "341323100", "城东社区", "341323100001", 1])
    workbook.save(tmp_path / "t.xlsx")
    import_targets(engine, tmp_path / "t.xlsx", YEAR, "test")
    ids = []
    for k, day in enumerate(["2021-11-01", "2021-12-10"]):
        app = application("341323", "1980-01-01", "regular", day)
        payment = Payment(P, app, "online", f"TX{k}", Decimal("320"), township="灵城镇", village="城东社区")
        pay(engine, payment, "test")
        ids.append(str(app["person"]["id_number"]))
    report = progress(engine, YEAR, dt.date(2021, 12, 12))
    row = report.villages.row(0, named=True)
    assert (row["enrolled"], row["enrolled_last_week"], row["enrollment_rate_bp"]) == (2, 1, 10_000)
    assert row["enrollment_completed"]
    refund(engine, ids[0], YEAR, "duplicate_payment", dt.date(2021, 12, 11), "test")
    row = progress(engine, YEAR, dt.date(2021, 12, 12)).villages.row(0, named=True)
    assert (row["enrolled"], row["enrolled_last_week"], row["enrollment_rate_bp"]) == (1, 0, 5_000)


# -------------------------------------------------------------------------------------------- not renewed


def test_not_renewed_is_last_years_roster_minus_the_renewed(season: Season, tmp_path: Path) -> None:
    frame = not_renewed(season.engine, YEAR, AS_OF)
    renewed = set(_paid_by(season, AS_OF)["id_number"])
    expected = set(_roster(season)) - renewed
    assert set(frame["id_number"]) == expected and frame.height == len(expected)
    population = _population(season).filter(pl.col("id_number").is_in(list(expected)))
    joined = frame.join(population, on="id_number", suffix="_truth")
    assert (joined["township"] == joined["township_truth"]).all() and (joined["phone"] == joined["phone_truth"]).all()
    owed = due_list(season.engine, YEAR, unpaid_only=False).select("id_number", "amount_due_fen")
    amounts = frame.join(owed, on="id_number", how="left", suffix="_due")
    assert amounts["amount_due_fen"].equals(amounts["amount_due_fen_due"], null_equal=True)
    assert frame["amount_due_fen"].null_count() < frame.height // 10
    files = write_not_renewed(frame, tmp_path, YEAR, AS_OF)
    assert len(files) == frame["township"].n_unique()
    rows = 0
    for path in files:
        workbook = openpyxl.load_workbook(path, read_only=True)
        township = path.name.split("-")[2]
        villages = set(frame.filter(pl.col("township") == township)["village"])
        assert workbook.sheetnames[0] == "汇总" and set(workbook.sheetnames[1:]) == villages
        for name in workbook.sheetnames[1:]:
            sheet = list(workbook[name].iter_rows(values_only=True))
            assert sheet[0][:5] == ("序号", "姓名", "身份证号码", "联系电话", "应缴金额（元）")
            assert all(r[4] is None or isinstance(r[4], int | float) for r in sheet[1:])  # yuan as numbers
            rows += len(sheet) - 1
    assert rows == frame.height


# ------------------------------------------------------------------------------------------------ rewards


def test_rewards_count_only_work_done_by_the_cutoff(season: Season, tmp_path: Path) -> None:
    result = rewards(season.engine, P)
    enrolled = _per_township(_paid_by(season, CUTOFF), "n")
    activated = _per_township(_activated_by(season, CUTOFF), "n")
    after = _events(season).filter(pl.col("paid_on") > CUTOFF).height
    late = pl.read_csv(season.data / "e_voucher_activations.csv", infer_schema=False)
    assert after > 0 and (late["激活日期"] > CUTOFF.isoformat()).sum() > 0  # there is work to leave out
    goals, e_goals = _township_targets(season, "参保任务"), _township_targets(season, "电子凭证任务")
    completers = {
        t for t in goals if enrolled.get(t, 0) >= goals[t] and activated.get(t, 0) >= e_goals[t]
    }  # fmt: skip
    rows = {r["township"]: r for r in result.townships.iter_rows(named=True)}
    for township in goals:
        assert rows[township]["enrolled"] == enrolled.get(township, 0)
        assert rows[township]["activated"] == activated.get(township, 0)
        assert rows[township]["work_subsidy_fen"] == 100 * enrolled.get(township, 0)  # 1 yuan each, 003 四(二)1
    assert {t for t, r in rows.items() if r["completed"]} == completers
    assert 0 < len(completers) < len(goals)  # the synthetic county has both kinds
    policy = load_policy(P).assessment
    assert policy is not None
    amounts = [to_amount for tier in policy.prizes.tiers for to_amount in [int(tier.amount) * 100] * tier.count]
    ranked = result.townships.filter(pl.col("completed")).sort("rank")
    expected = (amounts + [3_000_000] * len(completers))[: len(completers)]
    assert ranked["prize_fen"].to_list() == expected
    sheets = rewards_sheets(result)
    assert set(sheets["未完成名单"]["乡镇"]) == set(goals) - completers
    files = write_rewards(result, tmp_path)
    assert openpyxl.load_workbook(files[0], read_only=True).sheetnames[:4] == ["汇总", "工作补助", "奖励", "未完成名单"]
    prizes = openpyxl.load_workbook(files[0])["奖励"]
    header = [c.value for c in prizes[1]]
    prize = prizes.cell(row=2, column=header.index("奖励金额（元）") + 1)
    done = prizes.cell(row=2, column=header.index("参保完成率") + 1)
    assert (prize.data_type, prize.number_format, prize.value) == ("n", "#,##0.00", expected[0] / 100)
    assert (done.data_type, done.number_format) == ("n", "0.00%")
    assert files[1].suffix == ".png"


def test_policy_without_assessment_is_refused(season: Season) -> None:
    with pytest.raises(InputError, match="本政策没有考核奖惩规定"):
        rewards(season.engine, "anhui/bengbu/2022")


def test_cli_progress_not_renewed_rewards(season: Season, tmp_path: Path) -> None:
    import subprocess
    import sys

    url = season.engine.url.render_as_string(hide_password=False)
    env = {"CANBAO_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:  # the code under test, also when it runs from a source tree (PYTHONPATH=src)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "canbao.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    done = run("progress", "--benefit-year", "2022", "--as-of", "2021-12-15", "--out", str(tmp_path / "p"))
    assert done.returncode == 0, done.stderr
    assert "已写入" in done.stdout and len(list((tmp_path / "p").iterdir())) == 2
    done = run("not-renewed", "--benefit-year", "2022", "--as-of", "2021-12-15", "--out", str(tmp_path / "n"))
    assert done.returncode == 0 and list((tmp_path / "n").glob("未续保名单-*.xlsx"))
    done = run("rewards", "--policy", P, "--out", str(tmp_path / "r"))
    assert done.returncode == 0 and "奖励" in done.stdout
    done = run("rewards", "--policy", "anhui/bengbu/2022", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "本政策没有考核奖惩规定" in done.stderr and "Traceback" not in done.stderr
    done = run("progress", "--benefit-year", "2022", "--as-of", "2021-13-01", "--out", str(tmp_path / "p"))
    assert done.returncode == 2 and "--as-of" in done.stderr
    shutil.rmtree(tmp_path)
