"""Refunds (退费): the personal payment comes back only when the enrollment ends before its benefit period
starts, for a reason the notice lists (000 四(二), 003 三(六), 004 四(二)).

Reads a quoted frame (engine.quote_frame) plus `requested_on`, `reason` and `county_subsidy_refunded`.
"""

from __future__ import annotations

import polars as pl

from canbao.policy import Policy
from canbao.rules.columns import first_match, paid_on
from canbao.vocabulary import REFUND_REASON_LABELS, REFUND_REASONS


def refund_frame(policy: Policy, quoted: pl.DataFrame) -> pl.DataFrame:
    """The refund decision of every quoted row under `policy` (loaded by the caller)."""
    rules = policy.refund
    reason = pl.col("reason")
    requested = pl.col("requested_on")
    start = pl.col("benefit_start")
    label = reason.replace_strict(REFUND_REASON_LABELS, default=reason)

    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("quote", pl.col("error").is_not_null(), pl.col("error")),
        ("reason", reason.is_null(), pl.lit("缺少退费原因 reason")),
        (
            "reason",
            ~reason.is_in(list(REFUND_REASONS)),
            pl.format("未知的退费原因 {}（可选：{}）", reason, pl.lit("、".join(REFUND_REASONS))),
        ),
        ("requested_on", requested.is_null(), pl.lit("缺少申请日期 requested_on，或日期不是 YYYY-MM-DD 格式")),
        ("requested_on", requested < paid_on, pl.lit("申请退费日期早于缴费日期")),
        (
            "reason",
            ~reason.is_in(rules.reasons),
            pl.format(
                "本政策（{}）不覆盖因“{}”退费：{}（{}）",
                pl.lit(policy.policy),
                label,
                pl.lit(rules.unlisted_reason),
                pl.lit(rules.clause),
            ),
        ),
        (
            "quote",
            ~pl.col("eligible"),
            pl.format("此人按本政策不能参保，没有可退的参保缴费：{}", pl.col("reasons").list.join("；")),
        ),
    ]
    field = first_match([(failed, pl.lit(name)) for name, failed, _ in checks])
    message = first_match([(failed, text) for _, failed, text in checks])

    refundable = requested < start
    # A county subsidy already paid back to the person (先缴后补) is not the person's own money.
    refunded_subsidy = (
        pl.when(
            (pl.col("subsidy_timing") == "refund_after_payment") & pl.col("county_subsidy_refunded").fill_null(False)
        )
        .then(pl.col("subsidy_fen"))
        .otherwise(0)
    )
    why = (
        pl.when(refundable)
        .then(
            pl.format(
                "在待遇享受期开始（{}）前因“{}”申请，可在终止参保关系的同时退还个人缴费（{}）",
                start.dt.to_string("%Y-%m-%d"),
                label,
                pl.lit(rules.clause),
            )
        )
        .otherwise(
            pl.format(
                "待遇享受期已于 {} 开始，个人缴费不再退回（{}）", start.dt.to_string("%Y-%m-%d"), pl.lit(rules.clause)
            )
        )
    )
    out = quoted.lazy().with_columns(
        field.alias("refund_error_field"),
        message.alias("refund_error"),
    )
    ok = pl.col("refund_error").is_null()
    return out.with_columns(
        pl.when(ok).then(refundable).alias("refundable"),
        pl.when(ok)
        .then(pl.when(refundable).then(pl.col("amount_due_fen") - refunded_subsidy).otherwise(0))
        .alias("refund_fen"),
        pl.when(ok).then(why).alias("refund_why"),
    ).collect()
