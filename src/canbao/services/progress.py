"""Progress of the campaign against its targets (参保进度), per county, township and village, and the list of
last year's enrollees not yet renewed (未续保名单) for the door-to-door check (004 五(三), 七(四)).

What counts as of a date D:

- enrolled: a live enrollment (active or suspended; a refunded or ended one no longer counts) of the benefit
  year paid on or before D, counted in the person's registered township and village;
- renewed: one of last year's enrollees (as :func:`canbao.services.last_year.last_year_select`: enrolled in
  the year before in the registry, or on an imported roster of last year's) who is enrolled as of D;
- activated: an e-voucher activation recorded on or before D (:mod:`canbao.services.targets`);
- last week: the same as of D − 7 days.

Rates are kept as exact integers in basis points (1/10,000; floor) for the frames and the thresholds, and
written to the workbooks as the fraction itself (canbao.reports.xlsx: 16/27 shows 59.26%); a rate against a
target of 0 is null.  Ranking (004 七(四) 每周统计公布各村（社区）参保缴费进度): completion rate (exactly, not
the rounded basis points), then the number enrolled, then the code and name — the notices give no rule for ties.

Every count is made by the database (GROUP BY), so a county of a million persons is read as a few hundred
rows; see benchmarks/progress.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, Integer, and_, case, func, select
from sqlalchemy.sql import ColumnElement, Select

from canbao.errors import InputError
from canbao.outputs import OutputGroup, unique_file_names
from canbao.reports import NumberKind, bar_chart, rate, write_workbook
from canbao.services.last_year import last_year_select
from canbao.services.season import DUE_NUMBERS, due_columns, settled
from canbao.services.targets import read_targets
from canbao.store.tables import dues, e_voucher_activations, enrollments, persons

NO_TOWNSHIP = "（未填乡镇）"
NO_VILLAGE = "（未填村）"
RATE_SCALE = 10**12
"""Sort key of a rate: numerator × this // denominator.  Exact for ranking while every target is at most
10^6 (two different fractions then differ by at least 10^-12) and every count below 9.2 × 10^6."""
COUNTS = (
    "enrolled", "enrolled_last_week", "last_year", "renewed", "renewed_last_week", "activated",
    "activated_last_week",
)  # fmt: skip


def rate_bp(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """Basis points, floor; null when the denominator is null or 0."""
    return pl.when(denominator > 0).then(numerator * 10_000 // denominator)


def rate_key(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """An exact integer order of numerator / denominator (see RATE_SCALE); null when it has no rate."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Int64) * RATE_SCALE // denominator)


# -------------------------------------------------------------------------------------------------- counts


def _counted(c: Connection, query: Select[Any], names: list[str]) -> pl.DataFrame:
    rows = c.execute(query).all()
    schema: dict[str, pl.DataType] = {"township": pl.String(), "village": pl.String()}
    schema |= {n: pl.Int64() for n in names}
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def place_counts(c: Connection, benefit_year: int, as_of: dt.date, week_before: dt.date) -> pl.DataFrame:
    """Per registered (township, village): the COUNTS as of `as_of` and `week_before`."""
    e, p, a = enrollments.c, persons.c, e_voucher_activations.c

    def upto(column: ColumnElement[Any], day: dt.date) -> ColumnElement[Any]:
        return func.sum(case((column <= day, 1), else_=0)).cast(Integer)

    current = (
        select(e.person_id, e.paid_on)
        .where(e.benefit_year == benefit_year, e.live, e.paid_on <= as_of)
        .subquery("current")
    )
    enrolled = (
        select(p.township, p.village, func.count().label("n"), upto(current.c.paid_on, week_before))
        .select_from(current.join(persons, p.id == current.c.person_id))
        .group_by(p.township, p.village)
    )
    last = last_year_select(benefit_year).subquery("last")
    # Joined to the table itself, not to `current`: SQLite materializes a subquery without an index and the
    # outer join went quadratic; here each person's enrollment is one lookup in ix_enrollments_year_person.
    renewed = and_(e.person_id == last.c.person_id, e.benefit_year == benefit_year, e.live, e.paid_on <= as_of)
    renewal = (
        select(p.township, p.village, func.count(), func.count(e.paid_on), upto(e.paid_on, week_before))
        .select_from(last.join(persons, p.id == last.c.person_id).outerjoin(enrollments, renewed))
        .group_by(p.township, p.village)
    )
    activated = (
        select(p.township, p.village, func.count(), upto(a.activated_on, week_before))
        .select_from(e_voucher_activations.join(persons, p.id == a.person_id))
        .where(a.activated_on <= as_of)
        .group_by(p.township, p.village)
    )
    frames = [
        _counted(c, enrolled, ["enrolled", "enrolled_last_week"]),
        _counted(c, renewal, ["last_year", "renewed", "renewed_last_week"]),
        _counted(c, activated, ["activated", "activated_last_week"]),
    ]
    out = frames[0]
    for frame in frames[1:]:
        out = out.join(frame, on=["township", "village"], how="full", coalesce=True, nulls_equal=True)
    return out.with_columns(pl.col(*COUNTS).fill_null(0))


# ------------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Progress:
    benefit_year: int
    as_of: dt.date
    week_before: dt.date
    county: pl.DataFrame  # one row: targets, COUNTS, rates
    townships: pl.DataFrame  # ranked: rank, township, township_code, targets, COUNTS, rates
    villages: pl.DataFrame  # ranked in the county and in the township; places outside the targets too


def _with_rates(frame: pl.DataFrame) -> pl.DataFrame:
    target, e_target = pl.col("enrollment_target"), pl.col("e_voucher_target")
    return frame.with_columns(
        enrolled_this_week=pl.col("enrolled") - pl.col("enrolled_last_week"),
        activated_this_week=pl.col("activated") - pl.col("activated_last_week"),
        not_renewed=pl.col("last_year") - pl.col("renewed"),
        enrollment_rate_bp=rate_bp(pl.col("enrolled"), target),
        enrollment_rate_last_week_bp=rate_bp(pl.col("enrolled_last_week"), target),
        renewal_rate_bp=rate_bp(pl.col("renewed"), pl.col("last_year")),
        e_voucher_rate_bp=rate_bp(pl.col("activated"), e_target),
        enrollment_completed=pl.col("enrolled") >= target,
        e_voucher_completed=pl.col("activated") >= e_target,
        _key=rate_key(pl.col("enrolled"), target),
    ).with_columns(
        enrollment_rate_change_bp=pl.col("enrollment_rate_bp") - pl.col("enrollment_rate_last_week_bp"),
    )


def _ranked(frame: pl.DataFrame, name: str, by: list[str] | None = None) -> pl.DataFrame:
    """Rank 1.. within `by` (the whole frame when None): rate exactly, then enrolled, then code and name;
    places without a target last, unranked."""
    order = frame.sort(["_key", "enrolled", "_code", "_name"], descending=[True, True, False, False], nulls_last=True)
    rank = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    if by:
        rank = rank.over(by)
    return order.with_columns(pl.when(pl.col("_key").is_not_null()).then(rank).alias(name))


def progress(engine: Engine, benefit_year: int, as_of: dt.date) -> Progress:
    week_before = as_of - dt.timedelta(days=7)
    with engine.connect() as c:
        counts = place_counts(c, benefit_year, as_of, week_before)
        goals = read_targets(c, benefit_year)
    if goals.is_empty():
        raise InputError("benefit_year", f"尚未导入 {benefit_year} 年度的任务分解表（canbao targets import）")
    wide = goals.pivot(on="kind", index=["township", "township_code", "village", "village_code"], values="target")
    wide = wide.rename({"enrollment": "enrollment_target", "e_voucher": "e_voucher_target"}, strict=False)
    for column in ("enrollment_target", "e_voucher_target"):
        if column not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Int64).alias(column))
    counts = counts.with_columns(pl.col("township").fill_null(NO_TOWNSHIP), pl.col("village").fill_null(NO_VILLAGE))
    villages = wide.join(counts, on=["township", "village"], how="full", coalesce=True).with_columns(
        pl.col(*COUNTS).fill_null(0),
        in_targets=pl.col("township_code").is_not_null() | pl.col("village_code").is_not_null(),
    )
    villages = villages.with_columns(
        pl.col("township_code").fill_null(pl.col("township_code").drop_nulls().first().over("township")),
        in_targets=pl.col("enrollment_target").is_not_null() | pl.col("e_voucher_target").is_not_null(),
    )
    sums = [pl.col(*COUNTS).sum(), pl.col("enrollment_target", "e_voucher_target").sum()]
    townships = (
        villages.group_by("township")
        .agg(pl.col("township_code").drop_nulls().first(), *sums, pl.col("in_targets").any())
        .with_columns(
            pl.when(pl.col("in_targets")).then(pl.col(c)).alias(c) for c in ("enrollment_target", "e_voucher_target")
        )
    )
    county = villages.select(*sums)
    villages = _with_rates(villages).with_columns(
        _code=pl.col("village_code").fill_null(""), _name=pl.concat_str("township", "village")
    )
    villages = _ranked(villages, "township_rank", ["township"])
    villages = _ranked(villages, "rank").sort("rank", "township", "village", nulls_last=True)
    townships = _with_rates(townships).with_columns(_code=pl.col("township_code").fill_null(""), _name="township")
    townships = _ranked(townships, "rank").sort("rank", "township", nulls_last=True)
    drop = ["_key", "_code", "_name"]
    return Progress(
        benefit_year,
        as_of,
        week_before,
        _with_rates(county).drop("_key"),
        townships.drop(drop),
        villages.drop(drop),
    )


# ------------------------------------------------------------------------------------------------- writing


def _yes_no(flag: pl.Expr) -> pl.Expr:
    return pl.when(flag.is_null()).then(pl.lit("—")).when(flag).then(pl.lit("是")).otherwise(pl.lit("否"))


def _figures(frame: pl.DataFrame) -> list[pl.Expr]:
    """The figures of a place, as numbers (PROGRESS_NUMBERS): counts, rates as fractions (16/27 shows 59.26%),
    the week's change of the completion rate in percentage points."""
    target, e_target = pl.col("enrollment_target"), pl.col("e_voucher_target")
    change = (rate(pl.col("enrolled"), target) - rate(pl.col("enrolled_last_week"), target)) * 100
    return [
        target.alias("参保任务数"),
        pl.col("enrolled").alias("已参保人数"),
        rate(pl.col("enrolled"), target).alias("参保完成率"),
        pl.col("enrolled_last_week").alias("上周同期已参保"),
        pl.col("enrolled_this_week").alias("本周新增参保"),
        change.alias("完成率周变化（百分点）"),
        pl.col("last_year").alias("上年度参保人数"),
        pl.col("renewed").alias("已续保人数"),
        rate(pl.col("renewed"), pl.col("last_year")).alias("续保率"),
        pl.col("not_renewed").alias("未续保人数"),
        e_target.alias("电子凭证激活任务数"),
        pl.col("activated").alias("已激活人数"),
        rate(pl.col("activated"), e_target).alias("激活率"),
        pl.col("activated_this_week").alias("本周新增激活"),
        _yes_no(pl.col("enrollment_completed") & pl.col("e_voucher_completed")).alias("两项任务均完成"),
    ]


PROGRESS_NUMBERS: dict[str, NumberKind] = {
    **dict.fromkeys(
        ("参保任务数", "已参保人数", "上周同期已参保", "本周新增参保", "上年度参保人数", "已续保人数", "未续保人数",
         "电子凭证激活任务数", "已激活人数", "本周新增激活", "名次", "全县名次", "乡镇内名次"),
        "count",
    ),
    **dict.fromkeys(("参保完成率", "续保率", "激活率"), "rate"),
    "完成率周变化（百分点）": "points",
}  # fmt: skip
"""The number columns of the progress workbook (canbao.reports.xlsx)."""


def progress_sheets(report: Progress) -> dict[str, pl.DataFrame]:
    county = report.county.select(
        pl.lit(report.as_of).alias("统计截止日期"),
        pl.lit(report.week_before).alias("上周同期（对比日期）"),
        *_figures(report.county),
    )
    summary = county
    townships = report.townships.select(
        pl.col("rank").alias("名次"), pl.col("township").alias("乡镇"), pl.col("township_code").alias("乡镇代码"),
        *_figures(report.townships),
    )  # fmt: skip
    villages = report.villages.filter(pl.col("in_targets")).select(
        pl.col("rank").alias("全县名次"), pl.col("township_rank").alias("乡镇内名次"),
        pl.col("township").alias("乡镇"), pl.col("village").alias("村（社区）"), pl.col("village_code").alias("村代码"),
        *_figures(report.villages),
    )  # fmt: skip
    outside = report.villages.filter(~pl.col("in_targets")).select(
        pl.col("township").alias("乡镇"), pl.col("village").alias("村（社区）"),
        pl.col("enrolled").alias("已参保人数"), pl.col("last_year").alias("上年度参保人数"),
        pl.col("renewed").alias("已续保人数"), pl.col("activated").alias("已激活人数"),
    )  # fmt: skip
    notes = pl.DataFrame(
        {
            "说明": [
                f"{report.benefit_year}年度参保进度，截至 {report.as_of.isoformat()}（含当日）。",
                "已参保：本年度有效（未退费、未终止）且缴费日期不晚于截止日期的参保，按登记的乡镇、村统计。",
                "续保：上年度参保人员（登记库中上年度参保或导入的上年度参保名册）中本年度已参保的人数。",
                "已激活：激活日期不晚于截止日期的医保电子凭证激活记录。",
                f"上周同期：截至 {report.week_before.isoformat()} 的同一口径；本周新增 = 本期 − 上周同期。",
                "完成率、续保率、激活率为数值（人数之比），以百分数显示两位小数（四舍五入）；排名按精确比较。",
                "排名：完成率（精确比较）高者在前，相同时已参保人数多者在前，再按代码、名称（通知未规定并列规则）。",
                "未列入任务分解表：有参保或激活记录、但其乡镇或村不在任务分解表中的人员所在地，计入乡镇和全县合计。",
            ]
        }
    )
    return {"全县": summary, "乡镇排名": townships, "村排名": villages, "未列入任务分解表": outside, "说明": notes}


def write_progress(report: Progress, out: Path) -> list[Path]:
    """The workbook (全县, 乡镇排名, 村排名, …) and the chart of township completion rates."""
    stem = f"参保进度-{report.benefit_year}年度-截至{report.as_of.isoformat()}"
    workbook = write_workbook(out / f"{stem}.xlsx", progress_sheets(report), numbers=PROGRESS_NUMBERS)
    ranked = report.townships.filter(pl.col("rank").is_not_null())
    rates = ranked.select(
        pl.col("township"),
        (pl.col("enrollment_rate_bp") / 100).alias("enrollment"),  # float only for drawing
        (pl.col("e_voucher_rate_bp") / 100).alias("e_voucher"),
    )
    chart = bar_chart(
        out / f"{stem}-乡镇完成率.png",
        f"{report.benefit_year}年度各乡镇参保任务完成率（截至 {report.as_of.isoformat()}）",
        rates["township"].to_list(),
        {
            "参保完成率": rates["enrollment"].fill_null(0).to_list(),
            "电子凭证激活率": rates["e_voucher"].fill_null(0).to_list(),
        },
        value_label="完成率（%）",
        reference=100.0,
        reference_label="100%",
    )
    return [workbook, chart]


# --------------------------------------------------------------------------------------------- not renewed


def not_renewed(
    engine: Engine, benefit_year: int, as_of: dt.date, area: ColumnElement[bool] | None = None
) -> pl.DataFrame:
    """Last year's enrollees not renewed and not otherwise settled as of `as_of` (no enrollment of the year
    paid on or before it, live or since terminated or refunded: :func:`canbao.services.season.settled`), with
    what each owes (the season's due record; null when the season gave them none); `area`: only the persons
    it holds (a condition over `persons`, canbao.services.access.person_in_area)."""
    p, d = persons.c, dues.c
    last = last_year_select(benefit_year).subquery("last")
    query = (
        select(
            p.township, p.village, p.name, p.id_number, p.phone, d.amount_due_fen, d.subsidy_category,
            d.subsidy_fen, d.subsidy_timing, d.net_personal_fen, d.how_to_pay,
        )
        .select_from(
            last.join(persons, p.id == last.c.person_id).outerjoin(
                dues, and_(d.person_id == last.c.person_id, d.benefit_year == benefit_year)
            )
        )
        .where(~settled(last.c.person_id, benefit_year, as_of))
    )  # fmt: skip
    if area is not None:
        query = query.where(area)
    text = pl.String()
    schema: dict[str, pl.DataType] = {
        "township": text, "village": text, "name": text, "id_number": text, "phone": text,
        "amount_due_fen": pl.Int64(), "subsidy_category": text, "subsidy_fen": pl.Int64(), "subsidy_timing": text,
        "net_personal_fen": pl.Int64(), "how_to_pay": text,
    }  # fmt: skip
    with engine.connect() as c:
        rows = c.execute(query).all()
    frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    return frame.with_columns(pl.col("township").fill_null(NO_TOWNSHIP), pl.col("village").fill_null(NO_VILLAGE)).sort(
        "township", "village", "phone", "name", "id_number", nulls_last=True
    )


NOT_RENEWED_NUMBERS: dict[str, NumberKind] = {
    **DUE_NUMBERS,
    "应缴合计（元）": "fen",
    **dict.fromkeys(("序号", "未续保人数", "已测算应缴人数"), "count"),
}
SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def write_not_renewed(frame: pl.DataFrame, out: Path, benefit_year: int, as_of: dt.date) -> list[Path]:
    """One workbook per township: 汇总 (per village) and one sheet per village, for the clerk going door to
    door (004 五(三)); members sharing a phone number (usually one household) stand together."""
    readable = frame.select(
        "township", "village",
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        pl.col("phone").alias("联系电话"),
        pl.col("amount_due_fen").alias("应缴金额（元）"),
        *due_columns(),
        pl.lit(None, dtype=pl.String).alias("核查情况（已外出/已死亡/参加职工医保/外地参保/拒绝参保/其他）"),
        pl.when(pl.col("amount_due_fen").is_null()).then(pl.lit("应缴金额未测算（开征时不在应缴名单）"))
        .otherwise(pl.lit(None, dtype=pl.String)).alias("备注"),
    )  # fmt: skip
    parts = readable.partition_by("township", maintain_order=True)
    stems = [f"未续保名单-{benefit_year}年度-{p['township'][0]}-截至{as_of.isoformat()}" for p in parts]
    files = [out / f"{stem}.xlsx" for stem in unique_file_names(stems)]  # a `/` in a name makes no folder
    with OutputGroup() as group:  # every township's workbook or none
        for path, township_frame in zip(files, parts, strict=True):
            write_workbook(path, _not_renewed_sheets(frame, township_frame), group, NOT_RENEWED_NUMBERS)
    return files


def _not_renewed_sheets(frame: pl.DataFrame, township_frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The 汇总 sheet (per village) and one sheet per village of one township's workbook."""
    township = township_frame["township"][0]
    summary = _village_summary(frame.filter(pl.col("township") == township))
    sheets: dict[str, pl.DataFrame] = {"汇总": summary}
    used: set[str] = {"汇总"}
    for village_frame in township_frame.partition_by("village", maintain_order=True):
        name = village_frame["village"][0].translate(SHEET_FORBIDDEN)[:31]
        suffix = 2
        while name in used:
            name = f"{name[:28]}_{suffix}"
            suffix += 1
        used.add(name)
        sheets[name] = village_frame.drop("township", "village").with_row_index("序号", offset=1)
    return sheets


def _village_summary(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.group_by("village", maintain_order=True)
        .agg(
            pl.len().alias("未续保人数"),
            pl.col("amount_due_fen").is_not_null().sum().alias("已测算应缴人数"),
            pl.col("amount_due_fen").sum().alias("_fen"),
        )
        .select(
            pl.col("village").alias("村（社区）"),
            "未续保人数",
            "已测算应缴人数",
            pl.col("_fen").alias("应缴合计（元）"),
        )
    )
