"""The reconciliation's checks beside the transaction-by-transaction match (pure Polars, no database):
transactions repeated in one file, the collecting units' names, the registry's refunds per person, the
bank's and the tax bureau's day totals, and persons enrolled in another county."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping

import polars as pl

from canbao.money import yuan_text
from canbao.services.reconcile.model import FINDING_SCHEMA, SOURCE_LABELS

# A refund line (negative amount) is a transaction of its own even when it repeats the payment's id: some tax
# systems write the refund under the original 交易流水号.
REFUND_MARK = "\x00退费"


def txn_key(frame: pl.DataFrame) -> pl.Expr:
    """The transaction's key in `frame`: its id, marked apart for refund lines (a scan only when needed)."""
    if "amount_fen" in frame.columns and frame.height and bool((frame["amount_fen"] < 0).any()):
        return pl.when(pl.col("amount_fen") < 0).then(pl.col("txn_id") + REFUND_MARK).otherwise(pl.col("txn_id"))
    return pl.col("txn_id")


def _blank(kind: str) -> dict[str, pl.Expr]:
    """Null columns of a finding, by name (overridden by the caller's)."""
    return {c: pl.lit(None, dtype=t).alias(c) for c, t in FINDING_SCHEMA.items()} | {"kind": pl.lit(kind).alias("kind")}


def repeated(frame: pl.DataFrame | None, source: str) -> pl.DataFrame:
    """Transactions that appear more than once in one source's files (a refund line apart from its payment)."""
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema=FINDING_SCHEMA)
    has = set(frame.columns)
    text = {c: (pl.col(c) if c in has else pl.lit(None, dtype=pl.String)) for c in ("id_number", "name")}
    return (
        frame.with_columns(txn_key(frame).alias("_key"))
        .filter(pl.len().over("_key") > 1)
        .group_by("_key", maintain_order=True)
        .agg(
            pl.col("txn_id").first(),
            text["id_number"].first().alias("id_number"),
            text["name"].first().alias("name"),
            pl.col("paid_on").min(),
            pl.col("amount_fen").first(),
            pl.len().alias("_times"),
            pl.format("{} 第{}行", pl.col("file"), pl.col("row")).str.join("、").alias("where"),
        )
        .select(
            pl.lit("counted_twice").alias("kind"),
            "txn_id",
            "id_number",
            "name",
            pl.lit(None, dtype=pl.String).alias("township"),
            pl.lit(None, dtype=pl.String).alias("village"),
            "paid_on",
            *[
                (pl.col("amount_fen") if s == source else pl.lit(None, dtype=pl.Int64)).alias(f"{p}_fen")
                for s, p in (("registry", "registry"), ("tax", "tax"), ("bank", "bank"), ("collecting_unit", "unit"))
            ],
            pl.format("同一笔交易在{}中出现 {} 次", pl.lit(SOURCE_LABELS[source]), pl.col("_times")).alias("detail"),
            "where",
            pl.lit(source == "bank").alias("ledgers_agree"),
            pl.lit(source != "bank").alias("money_agrees"),
            pl.lit(True).alias("persons_agree"),
        )
        .select(list(FINDING_SCHEMA))
    )


# ---------------------------------------------------------------------------------------------------- units


def unit_key(name: str) -> str:
    """How unit names are compared: NFKC (full-width letters and digits), no whitespace."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def resolve_units(
    units: pl.DataFrame, registry_units: list[str], aliases: Mapping[str, str] | None, as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The units' rows with ``unit`` the registry's name of their collecting unit (``unit_written`` as the
    file has it, ``unit_known`` whether it is one), and one ``unknown_unit`` finding per file and name that
    is no collecting unit of the registry (its rows dated on or before `as_of`): its rows are not dropped, and
    账账相符 does not hold.

    A name is a unit's when it is the registry's name written the same way up to width and spaces, or an
    alias given in `aliases` (alias → the registry's name, e.g. 灵城镇人民政府 → 灵城镇)."""
    known = {unit_key(u): u for u in registry_units}
    lookup = dict(known)
    for alias, unit in (aliases or {}).items():
        target = known.get(unit_key(unit), unit.strip())
        lookup[unit_key(alias)] = target
    names = units["unit"].unique().to_list()
    resolved = {n: lookup.get(unit_key(n)) for n in names if n is not None}
    canonical = pl.col("unit").replace_strict(resolved, default=None, return_dtype=pl.String)
    marked = units.with_columns(
        pl.col("unit").alias("unit_written"),
        canonical.is_in(registry_units).fill_null(False).alias("unit_known"),
    ).with_columns(pl.when(pl.col("unit_known")).then(canonical).otherwise(pl.col("unit")).alias("unit"))
    blank = _blank("unknown_unit")
    unknown = (
        marked.filter(~pl.col("unit_known") & (pl.col("paid_on") <= as_of))
        .group_by("file", "unit_written", maintain_order=True)
        .agg(
            pl.col("paid_on").min(),
            pl.col("amount_fen").sum().alias("unit_fen"),
            pl.len().alias("_rows"),
            pl.col("row").min().alias("_first"),
            pl.col("row").max().alias("_last"),
        )
        .select(
            **blank
            | {
                "paid_on": pl.col("paid_on"),
                "unit_fen": pl.col("unit_fen"),
                "detail": pl.format(
                    "代收单位“{}”不是医保登记中的代收单位，其清单 {} 行未能按单位核对；请核对单位名称，"
                    "或给出单位别名（清单中的名称 → 医保登记的代收单位）",
                    pl.col("unit_written"),
                    pl.col("_rows"),
                ).alias("detail"),
                "where": pl.format("{} 第{}至{}行", pl.col("file"), pl.col("_first"), pl.col("_last")).alias("where"),
                "ledgers_agree": pl.lit(False).alias("ledgers_agree"),
                "money_agrees": pl.lit(True).alias("money_agrees"),
                "persons_agree": pl.lit(True).alias("persons_agree"),
            }
        )
        .select(list(FINDING_SCHEMA))
    )
    return marked, unknown


# ---------------------------------------------------------------------------------------------------- days


def transit_by_day(transit: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """What the transactions in transit that clear within the window add to each day's bank-minus-tax
    difference (columns t_paid_on, b_paid_on, t_amount_fen, b_amount_fen, in_t, in_b)."""
    parts = [
        transit.filter(pl.col("in_b")).select(pl.col("b_paid_on").alias("paid_on"), pl.col("b_amount_fen").alias("f")),
        transit.filter(pl.col("in_t")).select(pl.col("t_paid_on").alias("paid_on"), -pl.col("t_amount_fen").alias("f")),
    ]
    return (
        pl.concat(parts)
        .filter(pl.col("paid_on") <= as_of)
        .group_by("paid_on")
        .agg(pl.col("f").sum().alias("in_transit_fen"))
    )


DAILY_SCHEMA: dict[str, pl.DataType] = {
    "paid_on": pl.Date(),
    "tax_fen": pl.Int64(),
    "bank_fen": pl.Int64(),
    "difference_fen": pl.Int64(),
    "in_transit_fen": pl.Int64(),  # the part of the difference that transactions in transit explain
    "explained_by": pl.String(),
}


def daily(
    odd: pl.DataFrame,
    tax: pl.DataFrame | None,
    bank: pl.DataFrame | None,
    transit: pl.DataFrame,
    as_of: dt.date,
) -> pl.DataFrame:
    """Bank total against tax total per day, and the transactions whose bank and tax lines differ on that day
    (`odd`: another amount, a line missing or repeated, another day on each side; with t_/b_ txn_id and
    paid_on): the clerk's starting points.  `transit` (:func:`transit_by_day`) is what money in transit
    explains of each day's difference."""
    if tax is None or bank is None:
        return pl.DataFrame(schema=DAILY_SCHEMA)
    totals = [
        frame.filter(pl.col("paid_on") <= as_of).group_by("paid_on").agg(pl.col("amount_fen").sum().alias(name))
        for frame, name in ((tax, "tax_fen"), (bank, "bank_fen"))
    ]
    odd = odd.with_columns(pl.coalesce("t_txn_id", "b_txn_id").alias("txn_id"))
    per_day = (
        pl.concat(
            [
                odd.select(pl.col("t_paid_on").alias("paid_on"), "txn_id"),
                odd.select(pl.col("b_paid_on").alias("paid_on"), "txn_id"),
            ]
        )
        .drop_nulls("paid_on")
        .unique()
    )
    return (
        totals[0]
        .join(totals[1], on="paid_on", how="full", coalesce=True)
        .with_columns(pl.col("tax_fen", "bank_fen").fill_null(0))
        .with_columns((pl.col("bank_fen") - pl.col("tax_fen")).alias("difference_fen"))
        .join(transit, on="paid_on", how="left")
        .with_columns(pl.col("in_transit_fen").fill_null(0))
        .join(
            per_day.group_by("paid_on").agg(pl.col("txn_id").sort().str.join("、").alias("explained_by")),
            on="paid_on",
            how="left",
        )
        .select(list(DAILY_SCHEMA))
        .sort("paid_on")
    )


def daily_findings(days: pl.DataFrame) -> pl.DataFrame:
    """A day whose bank and tax totals differ by more than its money in transit."""
    blank = _blank("daily_total")
    transit = pl.when(pl.col("in_transit_fen") != 0).then(
        pl.format("，其中在途 {} 元", yuan_text(pl.col("in_transit_fen")))
    )
    return days.filter(pl.col("difference_fen") != pl.col("in_transit_fen")).select(
        **blank
        | {
            "paid_on": pl.col("paid_on"),
            "tax_fen": pl.col("tax_fen"),
            "bank_fen": pl.col("bank_fen"),
            "detail": pl.concat_str(
                [
                    pl.format(
                        "银行合计 {} 元，税务合计 {} 元，相差 {} 元",
                        *[yuan_text(pl.col(c)) for c in ("bank_fen", "tax_fen", "difference_fen")],
                    ),
                    transit,
                    pl.lit("；逐笔核对相关交易"),
                ],
                ignore_nulls=True,
            ).alias("detail"),
            "where": pl.col("explained_by").alias("where"),
            "ledgers_agree": pl.lit(True).alias("ledgers_agree"),
            "money_agrees": pl.lit(False).alias("money_agrees"),
            "persons_agree": pl.lit(True).alias("persons_agree"),
        }
    )


# ---------------------------------------------------------------------------------------------------- places


def two_places(registry: pl.DataFrame, other: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Live enrollments here of persons on another county's roster (read by cleanup.read_register)."""
    here = registry.filter(
        pl.col("live") & (pl.col("paid_on") <= as_of) & pl.col("id_number").is_in(other["id_number"].implode())
    ).unique("id_number")
    file = pl.col("file") if "file" in other.columns else pl.lit(SOURCE_LABELS["other_county"])
    there = other.select(
        "id_number",
        pl.col("detail").alias("_there"),
        pl.format("{} 第{}行", file, pl.col("row_number")).alias("_row"),
    )
    return here.join(there, on="id_number", how="inner").select(
        pl.lit("two_places").alias("kind"),
        "txn_id",
        "id_number",
        "name",
        "township",
        "village",
        "paid_on",
        pl.col("amount_fen").alias("registry_fen"),
        *[pl.lit(None, dtype=pl.Int64).alias(c) for c in ("tax_fen", "bank_fen", "unit_fen")],
        pl.format("本县已参保（参保记录 {}），同一年度又在{}参保", pl.col("enrollment_id"), pl.col("_there")).alias(
            "detail"
        ),
        pl.format("参保记录 {}；{}", pl.col("enrollment_id"), pl.col("_row")).alias("where"),
        pl.lit(True).alias("ledgers_agree"),
        pl.lit(True).alias("money_agrees"),
        pl.lit(False).alias("persons_agree"),
    )
