"""Assessment and rewards at the cutoff (考核奖惩, Lingbi 003 四): the work subsidy per township, the prizes
for the townships that completed both targets, and the list of those that did not (通报批评).

Everything the notice fixes is in the policy's ``assessment`` section; a policy without one has no rewards
to compute.  Counted as :mod:`canbao.services.progress` counts as of the cutoff date: enrollments live and
paid on or before it, activations recorded on or before it; work dated after it does not count (003 四(一)).
A township completes when both its targets (the imported 任务分解表, summed over its villages) are reached.

Ranking (the notice gives none): the policy's ``ranking`` keys, each compared exactly, then its
``tie_break`` keys (``ranking_note`` says where they come from).  Completers are ranked and take the tiers in
order (e.g. 3 first prizes, 5 second, 5 third); every completer beyond the tiers gets ``others_amount``.
Money is integer fen, shown as yuan text.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.money import to_fen
from canbao.policy import load_policy
from canbao.policy.schema import Assessment
from canbao.reports import NumberKind, bar_chart, rate, write_workbook
from canbao.services.progress import NO_TOWNSHIP, progress, rate_bp, rate_key

NO_ASSESSMENT = "本政策没有考核奖惩规定"
# Columns assign_prizes needs: one row per township.
FIGURES = ("township", "township_code", "enrollment_target", "enrolled", "e_voucher_target", "activated")


def _sort_key(name: str) -> tuple[pl.Expr, bool]:
    """(expression, descending) of a ranking or tie-break key."""
    return {
        "enrollment_rate": (rate_key(pl.col("enrolled"), pl.col("enrollment_target")), True),
        "e_voucher_rate": (rate_key(pl.col("activated"), pl.col("e_voucher_target")), True),
        "enrolled": (pl.col("enrolled"), True),
        "activated": (pl.col("activated"), True),
        "township_code": (pl.col("township_code").fill_null(""), False),
        "township": (pl.col("township"), False),
    }[name]


def assign_prizes(townships: pl.DataFrame, assessment: Assessment) -> pl.DataFrame:
    """Per township (FIGURES): completion, rank among completers, prize and amount, work subsidy; ranked
    completers first, then the others by the same keys."""
    per_enrollee = to_fen(assessment.work_subsidy.per_enrollee)
    assessable = pl.col("township") != NO_TOWNSHIP
    frame = townships.with_columns(
        enrollment_completed=(pl.col("enrolled") >= pl.col("enrollment_target")).fill_null(False),
        e_voucher_completed=(pl.col("activated") >= pl.col("e_voucher_target")).fill_null(False),
        enrollment_rate_bp=rate_bp(pl.col("enrolled"), pl.col("enrollment_target")),
        e_voucher_rate_bp=rate_bp(pl.col("activated"), pl.col("e_voucher_target")),
        work_subsidy_fen=pl.when(assessable).then(pl.col("enrolled").cast(pl.Int64) * per_enrollee),
    ).with_columns(completed=pl.col("enrollment_completed") & pl.col("e_voucher_completed") & assessable)
    keys = [_sort_key(k) for k in [*assessment.ranking, *assessment.tie_break, "township"]]
    frame = frame.with_columns([k.alias(f"_k{i}") for i, (k, _) in enumerate(keys)]).sort(
        ["completed", *[f"_k{i}" for i in range(len(keys))]],
        descending=[True, *[d for _, d in keys]],
        nulls_last=True,
    )
    tiers = assessment.prizes.tiers
    bounds = list(accumulate(t.count for t in tiers))
    position = pl.int_range(pl.len(), dtype=pl.Int64)
    tier = pl.lit(pl.Series(bounds, dtype=pl.Int64)).search_sorted(position, side="right").cast(pl.Int64)
    names = [t.name for t in tiers] + ["完成任务奖"]
    amounts = [to_fen(t.amount) for t in tiers] + [to_fen(assessment.prizes.others_amount)]
    return frame.with_columns(
        rank=pl.when(pl.col("completed")).then(position + 1),
        prize=pl.when(pl.col("completed")).then(pl.lit(pl.Series(names, dtype=pl.String)).gather(tier)),
        prize_fen=pl.when(pl.col("completed")).then(pl.lit(pl.Series(amounts, dtype=pl.Int64)).gather(tier)),
    ).drop([f"_k{i}" for i in range(len(keys))])


@dataclass(frozen=True)
class Rewards:
    policy: str
    benefit_year: int
    assessment: Assessment
    townships: pl.DataFrame  # assign_prizes' columns
    county_enrolled: int
    county_activated: int

    @property
    def work_subsidy_fen(self) -> int:
        return int(self.townships["work_subsidy_fen"].sum() or 0)

    @property
    def prizes_fen(self) -> int:
        return int(self.townships["prize_fen"].sum() or 0)


def policy_assessment(policy_id: str) -> Assessment:
    assessment = load_policy(policy_id).assessment
    if assessment is None:
        raise InputError("policy_id", f"{NO_ASSESSMENT}（{policy_id}）")
    return assessment


def rewards(engine: Engine, policy_id: str) -> Rewards:
    """The assessment at the policy's cutoff, from the registry and the imported targets."""
    assessment = policy_assessment(policy_id)
    policy = load_policy(policy_id)
    report = progress(engine, policy.benefit_year, assessment.cutoff)
    towns = report.townships.select(FIGURES)
    county = report.county.row(0, named=True)
    return Rewards(
        policy_id,
        policy.benefit_year,
        assessment,
        assign_prizes(towns, assessment),
        int(county["enrolled"]),
        int(county["activated"]),
    )


def _missing(frame: pl.DataFrame) -> pl.Expr:
    enrollment_short = (pl.col("enrollment_target") - pl.col("enrolled")).clip(lower_bound=0)
    e_voucher_short = (pl.col("e_voucher_target") - pl.col("activated")).clip(lower_bound=0)
    parts = pl.concat_list(
        pl.when(pl.col("enrollment_target").is_null()).then(pl.lit("任务分解表中没有参保任务"))
        .when(~pl.col("enrollment_completed")).then(pl.format("参保任务差 {} 人", enrollment_short)),
        pl.when(pl.col("e_voucher_target").is_null()).then(pl.lit("任务分解表中没有电子凭证激活任务"))
        .when(~pl.col("e_voucher_completed")).then(pl.format("电子凭证激活任务差 {} 人", e_voucher_short)),
    )  # fmt: skip
    return parts.list.drop_nulls().list.join("；")


REWARDS_NUMBERS: dict[str, NumberKind] = {
    **dict.fromkeys(
        ("参保任务数", "截至考核日参保人数", "电子凭证激活任务数", "截至考核日激活人数", "名次", "人数（个数）"),
        "count",
    ),
    **dict.fromkeys(("参保完成率", "激活率"), "rate"),
    **dict.fromkeys(("补助标准（元/人）", "工作经费补助（元）", "奖励金额（元）", "金额（元）"), "fen"),
}
"""The number columns of the rewards workbook (canbao.reports.xlsx)."""


def rewards_sheets(result: Rewards) -> dict[str, pl.DataFrame]:
    a = result.assessment
    t = result.townships.filter(pl.col("township") != NO_TOWNSHIP)
    figures = [
        pl.col("enrollment_target").alias("参保任务数"),
        pl.col("enrolled").alias("截至考核日参保人数"),
        rate(pl.col("enrolled"), pl.col("enrollment_target")).alias("参保完成率"),
        pl.col("e_voucher_target").alias("电子凭证激活任务数"),
        pl.col("activated").alias("截至考核日激活人数"),
        rate(pl.col("activated"), pl.col("e_voucher_target")).alias("激活率"),
    ]
    subsidy = result.townships.select(
        pl.col("township").alias("乡镇"),
        pl.col("enrolled").alias("截至考核日参保人数"),
        pl.lit(to_fen(a.work_subsidy.per_enrollee), dtype=pl.Int64).alias("补助标准（元/人）"),
        pl.col("work_subsidy_fen").alias("工作经费补助（元）"),
        pl.when(pl.col("work_subsidy_fen").is_null()).then(pl.lit("未登记乡镇，无法发放")).alias("备注"),
    ).sort("乡镇")  # fmt: skip
    total = pl.DataFrame(
        {
            "乡镇": ["合计"],
            "截至考核日参保人数": [int(subsidy["截至考核日参保人数"].sum())],
            "补助标准（元/人）": [to_fen(a.work_subsidy.per_enrollee)],
            "工作经费补助（元）": [result.work_subsidy_fen],
            "备注": [None],
        },
        schema=subsidy.schema,
    )
    prizes = t.filter(pl.col("completed")).select(
        pl.col("rank").alias("名次"), pl.col("township").alias("乡镇"), pl.col("township_code").alias("乡镇代码"),
        *figures, pl.col("prize").alias("奖项"), pl.col("prize_fen").alias("奖励金额（元）"),
    )  # fmt: skip
    prize_total = pl.DataFrame(
        {"乡镇": ["合计"], "奖励金额（元）": [result.prizes_fen]},
        schema={"乡镇": pl.String, "奖励金额（元）": pl.Int64},
    )
    criticized = t.filter(~pl.col("completed")).select(
        pl.col("township").alias("乡镇"), pl.col("township_code").alias("乡镇代码"), *figures,
        _missing(t).alias("未完成情况"),
    )  # fmt: skip
    goals = result.townships.select(pl.col("enrollment_target").sum(), pl.col("e_voucher_target").sum()).row(0)
    counts = [
        ("全县参保人数（截至考核日）", result.county_enrolled), ("通知参保任务数", a.targets.enrollment),
        ("任务分解表参保任务合计", goals[0] or 0), ("全县电子凭证激活人数（截至考核日）", result.county_activated),
        ("通知电子凭证激活任务数", a.targets.e_voucher), ("任务分解表激活任务合计", goals[1] or 0),
        ("完成两项任务的乡镇数", int(t["completed"].sum())), ("未完成的乡镇数", int((~t["completed"]).sum())),
    ]  # fmt: skip
    money = [("工作经费补助合计（元）", result.work_subsidy_fen), ("奖励合计（元）", result.prizes_fen)]
    summary = pl.DataFrame(
        {
            "项目": ["政策", "考核截止日期", *(k for k, _ in counts), *(k for k, _ in money)],
            "内容": [result.policy, a.cutoff.isoformat(), *[None] * (len(counts) + len(money))],
            "人数（个数）": [None, None, *(int(v) for _, v in counts), *[None] * len(money)],
            "金额（元）": [None, None, *[None] * len(counts), *(int(v) for _, v in money)],
        },
        schema={"项目": pl.String, "内容": pl.String, "人数（个数）": pl.Int64, "金额（元）": pl.Int64},
    )
    tiers = "，".join(f"{tier.name}{tier.count}名各{tier.amount}元" for tier in a.prizes.tiers)
    notes = pl.DataFrame(
        {
            "说明": [
                f"考核截止 {a.cutoff.isoformat()}（含当日）：缴费日期、激活日期在此之后的不计入（{a.cutoff_clause}）。",
                f"已参保：本年度有效（未退费、未终止）且缴费日期不晚于考核截止日的参保。任务：{a.targets.clause}。",
                f"工作经费补助：每参保缴费一人 {a.work_subsidy.per_enrollee} 元（{a.work_subsidy.clause}）。",
                f"奖励：按时全面完成参保和电子凭证激活两项任务的乡镇，{tiers}，其余完成的各 {a.prizes.others_amount} 元"
                f"（{a.prizes.clause}）。",
                f"排名规则：{a.ranking_note}",
                f"未完成名单：{a.criticized_clause}。",
            ]
        }
    )
    return {
        "汇总": summary,
        "工作补助": pl.concat([subsidy, total]),
        "奖励": pl.concat([prizes, prize_total], how="diagonal"),
        "未完成名单": criticized,
        "说明": notes,
    }


def write_rewards(result: Rewards, out: Path) -> list[Path]:
    stem = f"考核奖惩-{result.benefit_year}年度-截至{result.assessment.cutoff.isoformat()}"
    workbook = write_workbook(out / f"{stem}.xlsx", rewards_sheets(result), numbers=REWARDS_NUMBERS)
    towns = result.townships.filter(pl.col("township") != NO_TOWNSHIP)
    label = pl.concat_str(
        pl.col("township"),
        pl.when(pl.col("completed")).then(pl.format("（{}）", pl.col("prize"))).otherwise(pl.lit("")),
    )
    drawn = towns.select(
        label.alias("label"),
        (pl.col("enrollment_rate_bp") / 100).fill_null(0).alias("enrollment"),  # float only for drawing
        (pl.col("e_voucher_rate_bp") / 100).fill_null(0).alias("e_voucher"),
    )
    chart = bar_chart(
        out / f"{stem}.png",
        f"{result.benefit_year}年度考核：各乡镇任务完成率（截至 {result.assessment.cutoff.isoformat()}）",
        drawn["label"].to_list(),
        {"参保完成率": drawn["enrollment"].to_list(), "电子凭证激活率": drawn["e_voucher"].to_list()},
        value_label="完成率（%）",
        reference=100.0,
        reference_label="100%",
    )
    return [workbook, chart]
