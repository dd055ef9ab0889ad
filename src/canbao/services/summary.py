"""The season at a glance: enrolled against target per township, who has not renewed, money collected by
channel, subsidies by category.  Every figure is derived from the registry and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import Engine, and_, select

from canbao.services.season import last_year_enrollees
from canbao.store.tables import enrollments, ledger_entries, persons


@dataclass(frozen=True)
class SeasonSummary:
    by_township: pl.DataFrame  # township, enrolled, target, rate, last_year, not_renewed
    by_channel: pl.DataFrame  # channel, channel_name, payments, amount_fen
    by_category: pl.DataFrame  # subsidy_category, subsidy_kind, subsidy_timing, persons, amount_fen
    enrolled: int
    collected_fen: int


def season_summary(engine: Engine, benefit_year: int, targets: pl.DataFrame | None = None) -> SeasonSummary:
    """`targets`: township and target columns (the 任务分解表), optional."""
    e, p, le = enrollments.c, persons.c, ledger_entries.c
    with engine.connect() as c:
        enrolled = pl.read_database(
            select(p.township, e.person_id, e.subsidy_category, e.subsidy_kind, e.subsidy_timing, e.subsidy_fen)
            .join(persons, p.id == e.person_id)
            .where(e.benefit_year == benefit_year, e.live),
            c,
            schema_overrides={
                "person_id": pl.Int64,
                "subsidy_fen": pl.Int64,
                "township": pl.String,
                "subsidy_category": pl.String,
                "subsidy_kind": pl.String,
                "subsidy_timing": pl.String,
            },
        )
        last_year = last_year_enrollees(c, benefit_year)
        money = pl.read_database(
            select(le.channel, le.channel_name, le.kind, le.amount_fen)
            .join(enrollments, and_(e.id == le.enrollment_id, e.benefit_year == benefit_year))
            .where(le.kind.in_(["payment", "refund"])),
            c,
            schema_overrides={
                "amount_fen": pl.Int64,
                "channel": pl.String,
                "channel_name": pl.String,
                "kind": pl.String,
            },
        )
    renewed = last_year.filter(pl.col("person_id").is_in(enrolled["person_id"].implode()))
    town = pl.col("township").fill_null("（未填乡镇）")
    by_township = (
        enrolled.group_by(town).agg(pl.len().alias("enrolled"))
        .join(last_year.group_by(town).agg(pl.len().alias("last_year")), on="township", how="full", coalesce=True)
        .join(renewed.group_by(town).agg(pl.len().alias("renewed")), on="township", how="left")
        .with_columns(pl.col("enrolled", "last_year", "renewed").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("last_year") - pl.col("renewed")).alias("not_renewed"))
    )  # fmt: skip
    if targets is not None:
        per_town = targets.group_by("township").agg(pl.col("target").sum().cast(pl.Int64))
        by_township = by_township.join(per_town, on="township", how="full", coalesce=True).with_columns(
            pl.col("enrolled", "last_year", "renewed", "not_renewed").fill_null(0)
        )
    else:
        by_township = by_township.with_columns(pl.lit(None, dtype=pl.Int64).alias("target"))
    by_township = by_township.with_columns(
        (pl.col("enrolled") * 10_000 // pl.col("target")).alias("rate_bp")  # basis points: exact, no float
    ).sort("township")
    signed = pl.when(pl.col("kind") == "refund").then(-pl.col("amount_fen")).otherwise(pl.col("amount_fen"))
    by_channel = (
        money.group_by("channel", "channel_name")
        .agg((pl.col("kind") == "payment").sum().alias("payments"), signed.sum().alias("amount_fen"))
        .sort("amount_fen", descending=True)
    )
    by_category = (
        enrolled.filter(pl.col("subsidy_category").is_not_null())
        .group_by("subsidy_category", "subsidy_kind", "subsidy_timing")
        .agg(pl.len().alias("persons"), pl.col("subsidy_fen").sum().alias("amount_fen"))
        .sort("amount_fen", descending=True)
    )
    return SeasonSummary(
        by_township, by_channel, by_category, enrolled.height, int(by_channel["amount_fen"].sum() or 0)
    )
