"""`canbao synth` (issue 5): a reproducible synthetic county whose files agree with each other, with the
policy and with the manifest, except for the faults the manifest lists."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from click.testing import CliRunner

from canbao.errors import InputError
from canbao.ids import parse_id_numbers
from canbao.policy import load_policy
from canbao.rules.engine import quote_frame
from canbao.synth import (
    CATEGORY_WORDS,
    EVENT_COLUMNS,
    FAULT_KINDS,
    LINGBI,
    Manifest,
    build_county,
    choose_policies,
)
from canbao.vocabulary import RESIDENCIES

N = 20_000
SEED = 11
TODAY = dt.date(2026, 11, 23)
ID_COLUMNS = ("身份证号码", "公民身份号码", "身份证号", "证件号码", "id_number")
LIST_SHARES = {
    "destitute": 0.01,
    "dibao": 0.04,
    "monitored": 0.02,
    "relapsed_poor": 0.005,
    "near_dibao": 0.01,
    "key_entitled": 0.003,
    "family_planning": 0.01,
    "severe_disability": 0.015,
}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return build_county(LINGBI, N, SEED, tmp_path_factory.mktemp("county"))


@pytest.fixture(scope="module")
def events(county: Manifest) -> pl.DataFrame:
    files = sorted((county.directory / "payments").glob("*.parquet"))
    return pl.concat([pl.read_parquet(f).with_columns(_file=pl.lit(f"payments/{f.name}")) for f in files])


def _csv(manifest: Manifest, path: str) -> pl.DataFrame:
    return pl.read_csv(manifest.directory / path, infer_schema=False)


def _row(manifest: Manifest, place: dict[str, Any]) -> dict[str, Any]:
    """The row a fault location names: CSV rows are spreadsheet rows (header = 1), Parquet rows 0-based."""
    if "row" in place:
        frame = _csv(manifest, place["file"])
        return frame.row(place["row"] - 2, named=True)
    return pl.read_parquet(manifest.directory / place["file"]).row(place["index"], named=True)


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _id_of(row: dict[str, Any]) -> str:
    return next(str(row[c]) for c in ID_COLUMNS if c in row)


def test_same_seed_same_bytes_different_seed_differs(county: Manifest, tmp_path: Path) -> None:
    again = build_county(LINGBI, N, SEED, tmp_path / "again")
    assert _files(again.directory) == _files(county.directory)
    other = build_county(LINGBI, N, SEED + 1, tmp_path / "other")
    first, second = _files(county.directory), _files(other.directory)
    for path in ("roster_2021.csv", "lists/civil_affairs.csv", "tax_records.csv", "manifest.json"):
        assert first[path] != second[path]


def test_rebuild_replaces_a_previous_output_and_refuses_other_directories(tmp_path: Path) -> None:
    out = tmp_path / "county"
    build_county(LINGBI, 1_000, 1, out)
    stale = out / "payments" / "1999-01-01.parquet"
    stale.write_bytes(b"old")
    build_county(LINGBI, 1_000, 1, out)
    assert not stale.exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        build_county(LINGBI, 1_000, 1, foreign)
    with pytest.raises(InputError):
        build_county("99999", 1_000, 1, tmp_path / "bad")
    with pytest.raises(InputError):
        build_county("110101", 1_000, 1, tmp_path / "uncovered")


def test_manifest_describes_the_files(county: Manifest) -> None:
    data = county.data
    assert data["county"] == {"code": LINGBI, "name": "灵璧县"}
    assert (data["policy"], data["last_policy"]) == ("anhui/suzhou/lingbi/2022", "anhui/suzhou/2021")
    assert choose_policies(LINGBI) == ("anhui/suzhou/lingbi/2022", "anhui/suzhou/2021")
    assert (data["seed"], data["persons"]) == (SEED, N)
    assert data["counts"]["unquotable"]["rows"] == 0
    listed = {f["path"] for f in county.files}
    on_disk = set(_files(county.directory)) - {"manifest.json"}
    assert listed == on_disk
    for entry in county.files:
        path = county.directory / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        if entry["path"].endswith(".csv"):
            assert path.read_bytes().startswith(b"\xef\xbb\xbf")
            assert _csv(county, entry["path"]).height == entry["rows"]
        elif entry["path"].endswith(".parquet"):
            assert pl.read_parquet(path).height == entry["rows"]
    assert {p.split("/")[0] for p in listed} >= {"lists", "schools", "payments", "roster_2021.csv", "targets.xlsx"}


def test_township_and_village_codes_and_targets(county: Manifest) -> None:
    workbook = openpyxl.load_workbook(county.directory / "targets.xlsx", read_only=True)
    assert workbook.sheetnames == ["参保任务", "电子凭证任务"]
    totals = {}
    for name in workbook.sheetnames:
        rows = list(workbook[name].iter_rows(values_only=True))
        assert rows[0] == ("乡镇", "乡镇代码", "村", "村代码", "任务数")
        body = rows[1:]
        totals[name] = sum(int(r[4]) for r in body)
        townships = {(r[0], r[1]) for r in body}
        assert len(townships) == 20
        assert {t for t, _ in townships} >= {"灵城镇", "韦集镇", "虞姬镇", "经济开发区"}
        for _township, township_code, village, village_code, _ in body:
            assert len(township_code) == 9 and township_code.startswith(LINGBI)
            assert len(village_code) == 12 and village_code.startswith(township_code)
            assert village.endswith(("村", "社区"))
        assert len({r[3] for r in body}) == len(body)
    assert totals["参保任务"] == county.data["targets"]["enrollment"] == round(1_100_000 * N / 1_100_000)
    assert totals["电子凭证任务"] == county.data["targets"]["e_voucher"] == round(171_250 * N / 1_100_000)


def test_targets_sum_exactly_for_any_size(tmp_path: Path) -> None:
    manifest = build_county(LINGBI, 1_234, 3, tmp_path / "c", target=999_983, e_voucher_target=7)
    workbook = openpyxl.load_workbook(manifest.directory / "targets.xlsx", read_only=True)
    sums = [sum(int(r[4]) for r in list(workbook[s].iter_rows(values_only=True))[1:]) for s in workbook.sheetnames]
    assert sums == [999_983, 7]


def test_id_numbers_valid_everywhere_except_the_injected_ones(county: Manifest, events: pl.DataFrame) -> None:
    invalid: set[str] = set()
    seen = 0
    for entry in county.files:
        path = entry["path"]
        if not path.endswith(".csv") or path == "bank_statement.csv":
            continue  # the parquet files are checked below; a bank statement names no persons
        frame = _csv(county, path)
        column = next(c for c in ID_COLUMNS if c in frame.columns)
        parsed = frame.select(parse_id_numbers(pl.col(column), TODAY).struct.unnest())
        bad = frame.filter(parsed["id_error"].is_not_null())[column].to_list()
        invalid.update(bad)
        seen += frame.height
    parsed = events.select(parse_id_numbers(pl.col("id_number"), TODAY).struct.unnest())
    assert parsed["id_error"].null_count() == events.height
    assert seen > 2 * N
    injected = {f["bad_id_number"] for f in county.faults["bad_check_digit"]}
    assert invalid == injected
    for fault in county.faults["bad_check_digit"]:
        error = pl.select(parse_id_numbers(pl.lit(fault["bad_id_number"]), TODAY)).item()["id_error"]
        assert error.startswith("身份证号码校验位错误")
        assert fault["bad_id_number"][:17] == fault["id_number"][:17]


def test_sex_birth_and_school_grades_agree_with_the_ids(county: Manifest) -> None:
    grade_age = {"小班": 3, "一年级": 6, "六年级": 11, "七年级": 12, "九年级": 14, "高一": 15, "高三": 17}
    reference = dt.date(2021, 10, 7)  # the day before the window opens
    checked = 0
    for path in (county.directory / "schools").glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        assert frame.columns == ["姓名", "身份证号码", "学校", "年级", "班级"]
        if frame.height == 0:
            continue
        assert (frame["学校"] == path.stem).all()
        births = frame.select(parse_id_numbers(pl.col("身份证号码"), TODAY).struct.field("birth_date"))
        for grade, birth in zip(frame["年级"].to_list(), births.to_series().to_list(), strict=True):
            if grade in grade_age:
                age = reference.year - birth.year - ((reference.month, reference.day) < (birth.month, birth.day))
                assert age == grade_age[grade]
                checked += 1
    assert checked > 100
    # Household roles of the health commission: parents are adults.
    health = _csv(county, "lists/health_commission.csv")
    parents = health.filter(pl.col("家庭角色") == "父母")
    latest = parents.select(parse_id_numbers(pl.col("身份证号"), TODAY).struct.field("birth_date").max()).item()
    assert latest < dt.date(2004, 1, 1)


def test_population_households_sex_and_birth(county: Manifest, events: pl.DataFrame) -> None:
    population = pl.read_parquet(county.directory / "population.parquet")
    assert population.height == N and population["id_number"].n_unique() == N
    parsed = population.select(parse_id_numbers(pl.col("id_number"), TODAY).struct.unnest())
    assert (parsed["sex"] == population["sex"]).all()
    assert (parsed["birth_date"] == population["birth_date"]).all()
    local = (parsed["division"] == LINGBI).mean()
    assert 0.9 < local < 0.99  # type: ignore[operator]
    sizes = population.group_by("household_id").len()["len"]
    assert 2.8 < sizes.mean() < 3.6 and sizes.max() <= 10  # type: ignore[operator]
    heads = population.filter(pl.col("household_relation") == "户主")
    assert heads["household_id"].n_unique() == heads.height == population["household_id"].n_unique()
    spouses = population.filter(pl.col("household_relation") == "配偶").join(
        heads.select("household_id", pl.col("sex").alias("head_sex")), on="household_id"
    )
    assert (spouses["sex"] != spouses["head_sex"]).all()
    # The same household lives in one village.
    assert population.group_by("household_id").agg(pl.col("village_code").n_unique())["village_code"].max() == 1
    assert set(population.filter(pl.col("enrolled"))["id_number"]) == set(events["id_number"])


def test_roster_renewal_and_residency(county: Manifest, events: pl.DataFrame) -> None:
    roster = _csv(county, "roster_2021.csv")
    assert roster.columns == ["身份证号码", "姓名", "乡镇", "村", "居民类型", "联系电话", "缴费金额"]
    assert 0.94 * N < roster.height < 0.98 * N
    assert set(roster["居民类型"].unique()) <= set(RESIDENCIES)
    shares = roster["居民类型"].value_counts(normalize=True)
    local = shares.filter(pl.col("居民类型") == "local_hukou")["proportion"].item()
    assert local > 0.85
    assert set(roster["居民类型"]) >= {"local_hukou", "long_term_resident", "student"}
    assert roster["联系电话"].str.contains(r"^1[3-9][0-9]{9}$").all()
    # Last year's amount: 280 yuan (001 三) for plain residents; empty where the 2021 notice does not say.
    amounts = roster["缴费金额"].drop_nulls()
    assert set(amounts.unique()) == {"280.00"}
    assert 0.85 * roster.height < amounts.len() < roster.height
    renewed = roster.filter(pl.col("身份证号码").is_in(events["id_number"].implode())).height
    assert 0.95 < renewed / roster.height < 0.985
    not_renewed = roster.height - renewed
    assert not_renewed == county.data["counts"]["not_renewed"] > 0
    # Names agree across files.
    joined = roster.join(events.select("id_number", "name"), left_on="身份证号码", right_on="id_number")
    assert (joined["姓名"] == joined["name"]).all()


def test_every_payment_is_what_the_policy_says_is_due(county: Manifest, events: pl.DataFrame) -> None:
    assert events.drop("_file").schema == pl.Schema(EVENT_COLUMNS)
    assert events["txn_id"].n_unique() == events.height
    assert events["txn_id"].str.contains(r"^(WX|ZFB|WST|YH|DS|XX)20[0-9]{6}[0-9]{8}$").all()
    day_file = pl.format("payments/{}.parquet", pl.col("paid_on").dt.to_string("%Y-%m-%d"))
    assert events.select((pl.col("_file") == day_file).all()).item()
    policy = load_policy(county.data["policy"])
    quoted = quote_frame(policy, events.drop("_file"), policy.benefit_period.end)
    assert quoted["error"].null_count() == events.height
    assert quoted["eligible"].all()
    assert (quoted["amount_due_fen"] == events["amount_fen"]).all()
    assert events["id_number"].n_unique() == events.height
    assert (events["county"] == LINGBI).all()


def test_channels_and_dates_follow_the_season(county: Manifest, events: pl.DataFrame) -> None:
    channels = events["channel"].value_counts(normalize=True)
    share = dict(zip(channels["channel"], channels["proportion"], strict=True))
    assert 0.7 < share["online"] < 0.9
    assert 0.005 < share["bank_debit"] < 0.06
    assert share["collecting_unit"] > 0.03 and share["school"] > 0.02
    online = events.filter(pl.col("channel") == "online")
    assert set(online["channel_name"]) == {"微信", "支付宝", "皖事通"}
    unit = events.filter(pl.col("channel") == "collecting_unit")
    assert (unit["collecting_unit"] == unit["township"]).all()
    assert (unit["categories"].list.len() > 0).all()
    school = events.filter(pl.col("channel") == "school")
    assert (school["residency"] == "student").all()
    schools = {p.stem for p in (county.directory / "schools").glob("*.csv")}
    assert set(school["collecting_unit"]) <= schools
    window = (dt.date(2021, 10, 8), dt.date(2021, 12, 31))
    parts = events.partition_by("situation", as_dict=True, maintain_order=True)
    by = {str(key[0]): part["paid_on"] for key, part in parts.items()}
    assert by["regular"].is_between(*window).all()
    assert by["migrant_late"].is_between(dt.date(2022, 1, 1), dt.date(2022, 2, 28)).all()
    for name in ("special_group", "from_employee_insurance"):
        assert (by[name] > window[1]).all()
    assert by["newborn"].max() > window[1]  # type: ignore[operator]
    regular = events.filter(pl.col("situation") == "regular")
    first_days = regular.filter(pl.col("paid_on") < dt.date(2021, 10, 18)).height
    last_days = regular.filter(pl.col("paid_on") > dt.date(2021, 12, 21)).height
    assert last_days > 3 * first_days > 0
    # Special groups enroll late only when they hold a qualifying category.
    special = events.filter(pl.col("situation") == "special_group")
    assert special["categories"].list.eval(pl.element().is_in(["destitute", "dibao", "relapsed_poor"])).list.any().all()


def test_department_lists_layouts_and_shares(county: Manifest) -> None:
    layouts = {
        "civil_affairs": ["序号", "姓名", "公民身份号码", "人员类别", "乡镇（街道）", "村（社区）", "认定日期"],
        "rural_revitalization": ["序号", "户主姓名", "姓名", "身份证号码", "人员类别", "乡镇", "村", "纳入监测时间"],
        "health_commission": ["姓名", "身份证号", "类别", "家庭角色", "乡镇"],
        "veterans_affairs": ["姓名", "身份证号码", "优抚类别", "乡镇"],
        "disabled_federation": ["姓名", "身份证号码", "残疾类别", "残疾等级", "残疾人证号", "乡镇"],
    }
    word_to_category = {w: c for c, words in CATEGORY_WORDS.items() for w in words}
    counts: dict[str, set[str]] = {}
    for department, columns in layouts.items():
        frame = _csv(county, f"lists/{department}.csv")
        assert frame.columns == columns
        if department == "disabled_federation":
            categories = ["severe_disability"] * frame.height
            assert set(frame["残疾等级"]) == {"一级", "二级"}
        else:
            column = next(c for c in ("人员类别", "类别", "优抚类别") if c in frame.columns)
            categories = [word_to_category[w] for w in frame[column].to_list()]
        for category, id_number in zip(categories, frame[columns[2] if "序号" in columns else columns[1]], strict=True):
            counts.setdefault(category, set()).add(id_number)
        if "序号" in columns:
            assert frame["序号"].to_list() == [str(k) for k in range(1, frame.height + 1)]
    assert set(_csv(county, "lists/health_commission.csv")["家庭角色"]) == {"父母", "子女"}
    for category, expected in LIST_SHARES.items():
        share = len(counts[category]) / N
        assert 0.6 * expected < share < 1.5 * expected, (category, share)


def test_tax_and_bank_agree_with_the_events_except_the_faults(county: Manifest, events: pl.DataFrame) -> None:
    tax = _csv(county, "tax_records.csv")
    bank = _csv(county, "bank_statement.csv")
    assert tax.columns == ["缴费人姓名", "证件号码", "缴费金额(元)", "缴费日期", "交易流水号", "渠道"]
    assert bank.columns == ["交易日期", "交易流水号", "金额(元)", "摘要"]
    faults = county.faults
    missing = {f["txn_id"] for f in faults["enrollment_without_payment"]}
    ghosts = {f["txn_id"] for f in faults["tax_without_enrollment"]}
    mismatched = {f["txn_id"] for f in faults["amount_mismatch"]}
    assert set(tax["交易流水号"]) == (set(events["txn_id"]) - missing) | ghosts
    assert tax["交易流水号"].n_unique() == tax.height
    event_yuan = events.select("txn_id", (pl.col("amount_fen") / 100).round(2).alias("yuan"))
    joined = tax.join(event_yuan, left_on="交易流水号", right_on="txn_id")
    assert (joined["缴费金额(元)"].cast(pl.Float64) == joined["yuan"]).all()
    paid = tax.filter(pl.col("缴费金额(元)") != "0.00")
    assert bank["交易流水号"].to_list() == paid["交易流水号"].to_list()
    differs = bank.filter(pl.col("金额(元)") != paid["缴费金额(元)"])["交易流水号"]
    assert set(differs) == mismatched


def test_collections_list_exactly_the_collected_payments(county: Manifest, events: pl.DataFrame) -> None:
    files = sorted((county.directory / "collections").glob("*.csv"))
    rows = pl.concat([_csv(county, f"collections/{f.name}").with_columns(_unit=pl.lit(f.stem)) for f in files])
    assert rows.columns == ["代收单位", "姓名", "身份证号码", "缴费金额(元)", "缴费日期", "交易流水号", "_unit"]
    assert (rows["代收单位"] == rows["_unit"]).all()
    collected = events.filter(pl.col("channel").is_in(["collecting_unit", "school"]))
    assert rows.height == collected.height and set(rows["交易流水号"]) == set(collected["txn_id"])
    joined = rows.join(collected, left_on="交易流水号", right_on="txn_id")
    assert (joined["代收单位"] == joined["collecting_unit"]).all()
    assert (joined["身份证号码"] == joined["id_number"]).all()
    assert (joined["缴费日期"] == joined["paid_on"].dt.to_string("%Y-%m-%d")).all()
    fen = joined["缴费金额(元)"].str.replace(".", "", literal=True).cast(pl.Int64)
    assert (fen == joined["amount_fen"]).all()
    assert {"灵城镇", "灵城中心小学"} <= {f.stem for f in files}


def test_e_voucher_activations_by_township_and_after_the_window(county: Manifest) -> None:
    activations = _csv(county, "e_voucher_activations.csv")
    assert activations.columns == ["姓名", "身份证号码", "激活日期", "激活渠道"]
    assert activations["身份证号码"].n_unique() == activations.height
    assert activations["激活日期"].to_list() == sorted(activations["激活日期"].to_list())
    population = pl.read_parquet(county.directory / "population.parquet")
    joined = activations.join(population, left_on="身份证号码", right_on="id_number")
    assert joined.height == activations.height and (joined["姓名"] == joined["name"]).all()
    assert joined["died_on"].is_null().all() and (joined["household_relation"] != "新生儿").all()
    assert (joined["on_roster_2021"] | joined["enrolled"]).all()  # persons the registry knows
    window_end = county.data["season"]["window"][1]
    in_time = activations.filter(pl.col("激活日期") <= window_end)
    late = activations.height - in_time.height
    assert 0.01 * N < late < 0.03 * N  # work after the cutoff (003 四(一))
    target = county.data["targets"]["e_voucher"]
    assert 0.9 * target < in_time.height < 1.2 * target
    targets = pl.read_excel(county.directory / "targets.xlsx", sheet_name="电子凭证任务", engine="openpyxl")
    per_town = targets.group_by("乡镇").agg(pl.col("任务数").sum().alias("target"))
    done = (
        in_time.join(population, left_on="身份证号码", right_on="id_number")
        .group_by("township")
        .len()
        .join(per_town, left_on="township", right_on="乡镇")
    )
    completed = (done["len"] >= done["target"]).sum()
    assert 0 < completed < done.height  # some townships complete, some do not


def test_every_manifest_fault_is_in_the_files(county: Manifest, events: pl.DataFrame) -> None:
    faults = county.faults
    assert list(faults) == list(FAULT_KINDS)
    for kind, entries in faults.items():
        assert len(entries) >= 4, kind
    people = [f["id_number"] for entries in faults.values() for f in entries]
    assert len(people) == len(set(people)), "one fault per person"
    paid_ids = set(events["id_number"])

    for f in faults["bad_check_digit"]:
        (place,) = f["rows"]
        assert _id_of(_row(county, place)) == f["bad_id_number"] != f["id_number"]
    for f in faults["dual_identity"]:
        files = {p["file"] for p in f["rows"]}
        assert files == {"lists/civil_affairs.csv", "lists/rural_revitalization.csv"}
        assert all(_id_of(_row(county, p)) == f["id_number"] for p in f["rows"])
        assert sorted(f["categories"]) == ["dibao", "monitored"]
        mine = events.filter(pl.col("id_number") == f["id_number"])
        if mine.height:
            assert sorted(mine["categories"][0].to_list()) == ["dibao", "monitored"]
    for f in faults["duplicate_row"]:
        first, second = f["rows"]
        assert first["file"] == second["file"] and second["row"] == first["row"] + 1
        a, b = _row(county, first), _row(county, second)
        a.pop("序号", None), b.pop("序号", None)
        assert a == b and _id_of(a) == f["id_number"]
    for f in faults["tax_without_enrollment"]:
        tax_place, bank_place = f["rows"]
        tax_row, bank_row = _row(county, tax_place), _row(county, bank_place)
        assert tax_row["证件号码"] == f["id_number"] and tax_row["交易流水号"] == bank_row["交易流水号"] == f["txn_id"]
        assert f["id_number"] not in paid_ids and f["txn_id"] not in set(events["txn_id"])
    tax_txns = set(_csv(county, "tax_records.csv")["交易流水号"])
    bank_txns = set(_csv(county, "bank_statement.csv")["交易流水号"])
    for f in faults["enrollment_without_payment"]:
        (place,) = f["rows"]
        row = _row(county, place)
        assert (row["id_number"], row["txn_id"], row["amount_fen"]) == (f["id_number"], f["txn_id"], f["amount_fen"])
        assert f["txn_id"] not in tax_txns and f["txn_id"] not in bank_txns
    for f in faults["amount_mismatch"]:
        tax_place, bank_place, event_place = f["rows"]
        tax_row, bank_row, event = _row(county, tax_place), _row(county, bank_place), _row(county, event_place)
        assert tax_row["交易流水号"] == bank_row["交易流水号"] == event["txn_id"] == f["txn_id"]
        assert round(float(tax_row["缴费金额(元)"]) * 100) == event["amount_fen"] == f["tax_amount_fen"]
        assert round(float(bank_row["金额(元)"]) * 100) == f["bank_amount_fen"] != f["tax_amount_fen"]
    for f in faults["enrolled_in_two_counties"]:
        other_place, event_place = f["rows"]
        other = _row(county, other_place)
        assert other["身份证号码"] == f["id_number"] == _row(county, event_place)["id_number"]
        assert other["县（区）"] == f["other_county"]["name"] != "灵璧县"
    statuses = set()
    for f in faults["dead_on_roster"]:
        deaths_place, roster_place, *payment = f["rows"]
        death = _row(county, deaths_place)
        assert death["身份证号码"] == f["id_number"] == _row(county, roster_place)["身份证号码"]
        assert death["死亡日期"] == f["died_on"]
        statuses.add(f["status"])
        if f["status"] == "paid":
            event = _row(county, payment[0])
            assert event["id_number"] == f["id_number"] and event["paid_on"] > dt.date.fromisoformat(f["died_on"])
        else:
            assert not payment and f["id_number"] not in paid_ids
    assert statuses == {"paid", "due"}
    other_roster = _csv(county, "other_county_roster.csv")
    assert set(other_roster["身份证号码"]) & paid_ids == {f["id_number"] for f in faults["enrolled_in_two_counties"]}


def test_other_counties_are_generated_generically(tmp_path: Path) -> None:
    manifest = build_county("340322", 1_500, 2, tmp_path / "wuhe")
    assert manifest.data["county"]["name"] == "五河县"
    assert manifest.data["policy"] == "anhui/bengbu/2022"
    assert manifest.data["counts"]["unquotable"]["rows"] == 0
    roster = _csv(manifest, "roster_2021.csv")
    assert roster["缴费金额"].null_count() == roster.height  # no policy for last year: no amounts
    assert "新入学" not in "".join(manifest.data["counts"]["payments_by_situation"])
    assert manifest.data["counts"]["payments_by_situation"].get("new_student", 0) > 0


def test_cli(tmp_path: Path) -> None:
    from canbao.cli.synth import synth_command

    out = tmp_path / "cli"
    result = CliRunner().invoke(synth_command, ["--persons", "800", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "灵璧县" in result.output and "manifest.json" in result.output
    assert Manifest.load(out).data["persons"] == 800
    refused = CliRunner().invoke(synth_command, ["--persons", "10", "--out", str(tmp_path / "x")])
    assert refused.exit_code != 0


def test_a_county_in_parts_is_one_county(tmp_path: Path) -> None:
    """Above the part size a county is written in parts: persons, ID numbers and transactions unique across
    the parts, the targets whole, every fault where the top manifest says, the counts the parts' sums."""
    whole = build_county(LINGBI, 3_000, SEED, tmp_path, part_size=1_000)
    folders = whole.folders
    assert [f.relative_to(tmp_path).as_posix() for f in folders] == ["parts/00", "parts/01", "parts/02"]
    parts = [Manifest.load(f) for f in folders]
    assert [p.data["persons"] for p in parts] == [1_000] * 3
    population = pl.concat([pl.read_parquet(f / "population.parquet") for f in folders])
    assert population.height == 3_000 == population["id_number"].n_unique()
    taxes = pl.concat([pl.read_csv(f / "tax_records.csv", infer_schema=False) for f in folders])
    assert taxes["交易流水号"].n_unique() == taxes.height
    assert whole.data["counts"]["payments"] == sum(p.data["counts"]["payments"] for p in parts)
    assert whole.data["counts"]["townships"] == parts[0].data["counts"]["townships"]
    sheet = openpyxl.load_workbook(tmp_path / "targets.xlsx", read_only=True)["参保任务"]
    assert sum(row[4] for row in sheet.iter_rows(min_row=2, values_only=True)) == whole.data["targets"]["enrollment"]
    for kind, entries in whole.faults.items():
        assert len(entries) == sum(len(p.faults[kind]) for p in parts) >= 3 * 4
        assert all((tmp_path / place["file"]).is_file() for entry in entries for place in entry["rows"])
    for f in whole.faults["duplicate_row"]:
        assert all(_id_of(_row(whole, place)) == f["id_number"] for place in f["rows"])
    assert not (tmp_path / "payments").exists()
