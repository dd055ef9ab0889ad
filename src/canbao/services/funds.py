"""Fund accounting for a benefit year (资金核算): the fiscal subsidy due per level, the category subsidies paid
upfront (医疗救助资助 and department subsidies) from the ledger, the county subsidies paid back by townships
(先缴后补), and the lists finance needs to transfer the subsidies (统计清册, 001 六(四), 003 三(五)3).

Every figure comes from the registry and the ledger, read once into Polars frames:

- fiscal subsidy (000 二(一), 003 三(二), 004 二(一)): the enrollment's quoted `fiscal_*_fen`, summed over the
  enrolled population (live enrollments) per township and for the county.  Where the policy gives no split
  by level (Lingbi gives only the total) the level is null — "not stated" — never an invented split;
- category subsidies deducted upfront: the ledger's `assistance_subsidy` entries net of their reversals
  (a refund appends a negative one), per enrollment, checked against what the enrollment says
  (`subsidy_fen` when its timing is `upfront` and it was not refunded);
- county subsidies (004 二(三)): entitled live enrollments, `county_subsidy_refund` entries paid, and what is
  still owed (the one definition, `canbao.services.payments.county_subsidy_owed`, that the townships' list
  uses too), per township.

Money is integer fen throughout; the workbook shows yuan as numbers (#,##0.00).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy import BigInteger, Engine, func, select

from canbao.errors import InputError
from canbao.policy import load_policy
from canbao.reports.xlsx import NumberKind
from canbao.services.payments import county_subsidy_owed
from canbao.store.arrow import read_query
from canbao.store.tables import enrollments, ledger_entries, persons
from canbao.vocabulary import CATEGORY_LABELS, ENROLLMENT_STATUS_LABELS, FISCAL_LEVELS, SUBSIDY_KIND_LABELS

NO_TOWNSHIP = "（未填乡镇）"
TOTAL = "合计"
LEVEL_LABELS: dict[str, str] = {
    "central": "中央",
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "total": "合计",
}
NOT_STATED = "未分级"  # a level the policy does not state (never a guess)
_LEVELS_AND_TOTAL = (*FISCAL_LEVELS, "total")
_TEXT = ("township", "village", "name", "id_number", "policy", "status", "subsidy_category", "subsidy_kind",
         "subsidy_timing", "channel", "collecting_unit", "kind")  # fmt: skip
_INTS = ("enrollment_id", "subsidy_fen", "amount_fen", "ledger_fen", "amount_due_fen",
         *(f"fiscal_{lvl}_fen" for lvl in _LEVELS_AND_TOTAL))  # fmt: skip


@dataclass(frozen=True)
class FundReport:
    benefit_year: int
    policies: list[str]
    # township, persons, fiscal_<level>_fen for central/province/city/county/total (null: not stated), unsplit
    fiscal_by_township: pl.DataFrame
    fiscal_county: pl.DataFrame  # one row, the same columns, township = 合计 (computed from the persons, not the rows)
    # subsidy_kind, subsidy_category, payer, persons, ledger_fen, enrollment_fen, difference_fen
    subsidies_by_category: pl.DataFrame
    subsidy_differences: pl.DataFrame  # per enrollment whose ledger and subsidy_fen disagree
    # township, subsidy_kind, subsidy_category, payer, persons, amount_fen: what finance transfers
    transfers_by_township: pl.DataFrame
    transfer_detail: pl.DataFrame  # one row per person, full ID numbers (finance transfers per person)
    # township, entitled_persons, entitled_fen, paid_persons, paid_fen, owed_persons, owed_fen
    county_subsidy_by_township: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def ledger_subsidy_fen(self) -> int:
        return int(self.subsidies_by_category["ledger_fen"].sum() or 0)


def _read(engine: Engine, benefit_year: int, policy_id: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    e, p, le = enrollments.c, persons.c, ledger_entries.c
    where = [e.benefit_year == benefit_year]
    if policy_id is not None:
        where.append(e.policy == policy_id)
    rows = (
        select(
            e.id.label("enrollment_id"), e.policy, e.status, e.live, e.paid_on, e.amount_due_fen,
            e.subsidy_category, e.subsidy_kind, e.subsidy_timing, e.subsidy_fen,
            *(getattr(e, f"fiscal_{lvl}_fen") for lvl in _LEVELS_AND_TOTAL),
            e.channel, e.collecting_unit, p.township, p.village, p.name, p.id_number,
        )
        .join(persons, p.id == e.person_id)
        .where(*where)
    )  # fmt: skip
    # The ledger summed per enrollment and kind in the database: a few rows per enrollment at most.  The sum
    # is cast back to bigint: PostgreSQL's numeric would reach Arrow as an opaque type.
    money = (
        select(le.enrollment_id, le.kind, func.sum(le.amount_fen).cast(BigInteger).label("amount_fen"))
        .join(enrollments, e.id == le.enrollment_id)
        .where(*where, le.kind.in_(["assistance_subsidy", "county_subsidy_refund"]))
        .group_by(le.enrollment_id, le.kind)
    )
    types: dict[str, pl.DataType] = {**dict.fromkeys(_TEXT, pl.String()), **dict.fromkeys(_INTS, pl.Int64())}
    types["live"] = pl.Boolean()
    types["paid_on"] = pl.Date()
    frame = read_query(engine, rows, types)  # a million rows: store.arrow reads them fast
    ledger = read_query(engine, money, types)
    frame = frame.with_columns(pl.col("township").fill_null(NO_TOWNSHIP))
    return frame, ledger


def _fiscal(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Persons and fiscal subsidy per level; a level no person has a figure for is null (not stated)."""
    sums = []
    for lvl in _LEVELS_AND_TOTAL:
        col = pl.col(f"fiscal_{lvl}_fen")
        sums.append(pl.when(col.is_not_null().any()).then(col.sum()).alias(f"fiscal_{lvl}_fen"))
    unsplit = pl.col("fiscal_central_fen").is_null().sum().cast(pl.Int64).alias("unsplit")
    aggs = [pl.len().cast(pl.Int64).alias("persons"), *sums, unsplit]
    if not by:
        return frame.select(pl.lit(TOTAL).alias("township"), *aggs)
    return frame.group_by(by).agg(*aggs).sort(by)


def fund_report(engine: Engine, benefit_year: int, policy_id: str | None = None) -> FundReport:
    """The fund accounting of `benefit_year` (all enrollments of that year, or only `policy_id`'s)."""
    if policy_id is not None and load_policy(policy_id).benefit_year != benefit_year:
        raise InputError("policy_id", f"政策 {policy_id} 不是 {benefit_year} 待遇年度的政策")
    frame, ledger = _read(engine, benefit_year, policy_id)
    policies = sorted(frame["policy"].unique().to_list()) if frame.height else ([policy_id] if policy_id else [])
    notes: list[str] = []
    payers: list[dict[str, str | None]] = []
    for pid in policies:
        policy = load_policy(pid)
        fs = policy.fiscal_subsidy
        if fs.total is None:
            notes.append(f"{pid}：{fs.note or '政策未规定财政补助金额'}（{fs.clause}）")
        elif not fs.splits:
            notes.append(f"{pid}：{fs.note or '政策只给出财政补助合计，未分中央、省、市、县各级'}（{fs.clause}）")
        for category, rule in policy.categories.items():
            payers.append({"policy": pid, "subsidy_category": category, "payer": rule.payer})
    payer_frame = pl.DataFrame(payers, schema={"policy": pl.String, "subsidy_category": pl.String, "payer": pl.String})

    live = frame.filter(pl.col("live"))
    fiscal_by_township = _fiscal(live, ["township"])
    fiscal_county = _fiscal(live, [])

    kind = pl.col("kind")
    per_kind = ledger.group_by("enrollment_id").agg(
        pl.col("amount_fen").filter(kind == "assistance_subsidy").sum().alias("assistance_subsidy"),
        pl.col("amount_fen").filter(kind == "county_subsidy_refund").sum().alias("county_subsidy_refund"),
    )
    frame = (
        frame.join(per_kind, on="enrollment_id", how="left")
        .join(payer_frame, on=["policy", "subsidy_category"], how="left")
        .with_columns(
            pl.col("assistance_subsidy").fill_null(0).alias("ledger_fen"),
            pl.col("county_subsidy_refund").fill_null(0).alias("paid_back_fen"),
            # What the ledger should hold for an upfront subsidy: all of it unless the enrollment was refunded
            # (the refund appends the reversal, payments.refund).
            pl.when((pl.col("subsidy_timing") == "upfront") & (pl.col("status") != "refunded"))
            .then(pl.col("subsidy_fen").fill_null(0))
            .otherwise(0)
            .alias("enrollment_fen"),
        )
    )
    upfront = frame.filter((pl.col("ledger_fen") != 0) | (pl.col("enrollment_fen") != 0))
    key = ["subsidy_kind", "subsidy_category", "payer"]
    subsidies_by_category = (
        upfront.group_by(key)
        .agg(
            (pl.col("ledger_fen") != 0).sum().cast(pl.Int64).alias("persons"),
            pl.col("ledger_fen").sum(),
            pl.col("enrollment_fen").sum(),
        )
        .with_columns((pl.col("ledger_fen") - pl.col("enrollment_fen")).alias("difference_fen"))
        .sort(key, nulls_last=True)
    )
    subsidy_differences = upfront.filter(pl.col("ledger_fen") != pl.col("enrollment_fen")).select(
        "township", "village", "name", "id_number", "enrollment_id", "status", *key,
        "subsidy_fen", "enrollment_fen", "ledger_fen",
        (pl.col("ledger_fen") - pl.col("enrollment_fen")).alias("difference_fen"),
    ).sort("township", "village", "enrollment_id")  # fmt: skip

    # 001 六(四): finance transfers the subsidy of everyone in a subsidised group who has paid their share.
    transfer_detail = (
        upfront.filter(pl.col("ledger_fen") != 0)
        .select(
            "township", "village", "name", "id_number", *key, pl.col("ledger_fen").alias("amount_fen"),
            "paid_on", "channel", "collecting_unit", "enrollment_id", "status",
        )
        .sort("township", "village", "subsidy_category", "id_number")
    )  # fmt: skip
    transfers_by_township = (
        transfer_detail.group_by("township", *key)
        .agg(pl.len().cast(pl.Int64).alias("persons"), pl.col("amount_fen").sum())
        .sort("township", *key, nulls_last=True)
    )

    # 004 二(三) 先缴后补: entitled (live), paid back (the ledger), owed (active, not yet paid back).
    after = frame.filter(pl.col("subsidy_timing") == "refund_after_payment")
    entitled = after.filter(pl.col("live") & (pl.col("subsidy_fen").fill_null(0) > 0))
    owed = frame.filter(county_subsidy_owed())
    paid = frame.filter(pl.col("paid_back_fen") != 0)

    def per_township(part: pl.DataFrame, name: str, money: str) -> pl.DataFrame:
        return part.group_by("township").agg(
            pl.len().alias(f"{name}_persons"), pl.col(money).sum().alias(f"{name}_fen")
        )

    county_subsidy_by_township = (
        per_township(entitled, "entitled", "subsidy_fen")
        .join(per_township(paid, "paid", "paid_back_fen"), on="township", how="full", coalesce=True)
        .join(per_township(owed, "owed", "subsidy_fen"), on="township", how="full", coalesce=True)
        .with_columns(pl.exclude("township").fill_null(0).cast(pl.Int64))
        .select("township", "entitled_persons", "entitled_fen", "paid_persons", "paid_fen", "owed_persons", "owed_fen")
        .sort("township")
    )
    return FundReport(
        benefit_year, policies, fiscal_by_township, fiscal_county, subsidies_by_category, subsidy_differences,
        transfers_by_township, transfer_detail, county_subsidy_by_township, notes,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- output


FUNDS_NUMBERS: dict[str, NumberKind] = {
    **dict.fromkeys(("参保人数", "未分级人数", "人数", "应补人数", "已退补人数", "待退补人数", "参保记录号"), "count"),
    **dict.fromkeys(
        (*(f"{label}（元）" for label in LEVEL_LABELS.values()), "应到位金额（元）", "台账金额（元）",
         "参保记录资助金额（元）", "差额（元）", "划拨金额（元）", "应补金额（元）", "已退补金额（元）",
         "待退补金额（元）"),
        "fen",
    ),
}  # fmt: skip
"""The number columns of the fund workbook (canbao.reports.xlsx); a level the policy does not state is an
empty cell, said so beside it (未分级)."""


def _labels() -> list[pl.Expr]:
    return [
        pl.col("subsidy_kind").replace_strict(SUBSIDY_KIND_LABELS, default=pl.col("subsidy_kind")).alias("资助类型"),
        pl.col("subsidy_category")
        .replace_strict(CATEGORY_LABELS, default=pl.col("subsidy_category"))
        .alias("身份类别"),
        pl.col("payer").fill_null("").alias("出资渠道"),
    ]


def _with_total(frame: pl.DataFrame, label_column: str, sum_columns: list[str]) -> pl.DataFrame:
    """The frame with a 合计 row summing `sum_columns` (other columns empty)."""

    def cell(c: str) -> pl.Expr:
        if c in sum_columns:
            return pl.col(c).sum()
        return (pl.lit(TOTAL) if c == label_column else pl.lit(None)).cast(frame.schema[c]).alias(c)

    total = frame.select(cell(c) for c in frame.columns)
    return pl.concat([frame, total])


def workbook_sheets(report: FundReport) -> dict[str, pl.DataFrame]:
    """The report as sheets with Chinese headers; amounts in fen, written as yuan numbers (FUNDS_NUMBERS)."""
    fiscal_cols = [f"fiscal_{lvl}_fen" for lvl in _LEVELS_AND_TOTAL]
    towns = pl.concat([report.fiscal_by_township, report.fiscal_county])
    fiscal = towns.select(
        pl.col("township").alias("乡镇"),
        pl.col("persons").alias("参保人数"),
        *[pl.col(c).alias(f"{LEVEL_LABELS[c[7:-4]]}（元）") for c in fiscal_cols],
        pl.col("unsplit").alias("未分级人数"),
    )
    county = report.fiscal_county.row(0, named=True)
    fiscal_levels = pl.DataFrame(
        {
            "级次": [LEVEL_LABELS[lvl] for lvl in _LEVELS_AND_TOTAL],
            "参保人数": [county["persons"]] * len(_LEVELS_AND_TOTAL),
            "应到位金额（元）": [county[f"fiscal_{lvl}_fen"] for lvl in _LEVELS_AND_TOTAL],
        },
        schema={"级次": pl.String, "参保人数": pl.Int64, "应到位金额（元）": pl.Int64},
    ).with_columns(pl.when(pl.col("应到位金额（元）").is_null()).then(pl.lit(NOT_STATED)).alias("备注"))

    by_category = _with_total(
        report.subsidies_by_category, "subsidy_kind", ["persons", "ledger_fen", "enrollment_fen", "difference_fen"]
    )
    categories = by_category.select(
        *_labels(),
        pl.col("persons").alias("人数"),
        pl.col("ledger_fen").alias("台账金额（元）"),
        pl.col("enrollment_fen").alias("参保记录资助金额（元）"),
        pl.col("difference_fen").alias("差额（元）"),
    )
    differences = report.subsidy_differences.select(
        pl.col("township").alias("乡镇"), pl.col("village").alias("村（社区）"), pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"), pl.col("enrollment_id").alias("参保记录号"),
        pl.col("status").replace_strict(ENROLLMENT_STATUS_LABELS, default=pl.col("status")).alias("参保状态"),
        *_labels(),
        pl.col("enrollment_fen").alias("参保记录资助金额（元）"),
        pl.col("ledger_fen").alias("台账金额（元）"),
        pl.col("difference_fen").alias("差额（元）"),
    )  # fmt: skip
    transfers = _with_total(report.transfers_by_township, "township", ["persons", "amount_fen"])
    transfer_sheet = transfers.select(
        pl.col("township").alias("乡镇"), *_labels(), pl.col("persons").alias("人数"),
        pl.col("amount_fen").alias("划拨金额（元）"),
    )  # fmt: skip
    detail = report.transfer_detail.select(
        pl.col("township").alias("乡镇"), pl.col("village").alias("村（社区）"), pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"), *_labels(),
        pl.col("amount_fen").alias("划拨金额（元）"), pl.col("paid_on").alias("缴费日期"),
        pl.col("collecting_unit").alias("代收单位"), pl.col("enrollment_id").alias("参保记录号"),
    )  # fmt: skip
    county_subsidy = _with_total(
        report.county_subsidy_by_township, "township", [c for c in report.county_subsidy_by_township.columns[1:]]
    ).select(
        pl.col("township").alias("乡镇"),
        pl.col("entitled_persons").alias("应补人数"), pl.col("entitled_fen").alias("应补金额（元）"),
        pl.col("paid_persons").alias("已退补人数"), pl.col("paid_fen").alias("已退补金额（元）"),
        pl.col("owed_persons").alias("待退补人数"), pl.col("owed_fen").alias("待退补金额（元）"),
    )  # fmt: skip
    notes = pl.DataFrame(
        {
            "项目": ["待遇年度", "政策", *["说明"] * len(report.notes), "说明"],
            "内容": [
                str(report.benefit_year),
                "、".join(report.policies) or "（无参保记录）",
                *report.notes,
                "财政补助按有效参保人数计；分类资助按台账（缴费时抵扣的资助，扣除退费冲回）计，并与参保记录核对；"
                "先缴后补的待退补人数为有效参保且尚未退补的人员",
            ],
        }
    )
    return {
        "说明": notes,
        "财政补助-全县": fiscal_levels,
        "财政补助-乡镇": fiscal,
        "分类资助-按身份": categories,
        "分类资助-核对差异": differences,
        "资助划拨-按乡镇": transfer_sheet,
        "资助划拨明细": detail,
        "先缴后补-按乡镇": county_subsidy,
    }


def write_fund_report(report: FundReport, out: Path) -> list[Path]:
    """The workbook and the charts into `out`; returns the files written."""
    from canbao.reports import bar_chart, write_workbook

    out.mkdir(parents=True, exist_ok=True)
    files = [
        write_workbook(out / f"资金核算-{report.benefit_year}.xlsx", workbook_sheets(report), numbers=FUNDS_NUMBERS)
    ]
    towns = report.fiscal_by_township
    if towns.height:
        stated = [lvl for lvl in FISCAL_LEVELS if towns[f"fiscal_{lvl}_fen"].is_not_null().any()]
        levels = stated or (["total"] if towns["fiscal_total_fen"].is_not_null().any() else [])
        # Float only for drawing: the workbook beside it is exact.
        series: dict[str, Sequence[float]] = {
            f"{LEVEL_LABELS[lvl]}": [(v or 0) / 1_000_000 for v in towns[f"fiscal_{lvl}_fen"].to_list()]
            for lvl in levels
        }
        if series:
            files.append(
                bar_chart(
                    out / f"财政补助-按乡镇-{report.benefit_year}.png",
                    f"{report.benefit_year}年度各乡镇财政补助应到位金额（万元）"
                    + ("" if stated else "：政策未分级，仅合计"),
                    towns["township"].to_list(),
                    series,
                    value_label="万元",
                )
            )
    categories = report.subsidies_by_category
    if categories.height:
        labels = [
            f"{CATEGORY_LABELS.get(c or '', c or '')}（{SUBSIDY_KIND_LABELS.get(k or '', k or '')}）"
            for k, c in zip(categories["subsidy_kind"], categories["subsidy_category"], strict=True)
        ]
        files.append(
            bar_chart(
                out / f"分类资助-按身份-{report.benefit_year}.png",
                f"{report.benefit_year}年度分类资助划拨金额（元）",
                labels,
                {"划拨金额": [v / 100 for v in categories["ledger_fen"].to_list()]},
                value_label="元",
            )
        )
    return files
