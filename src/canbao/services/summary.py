"""The season at a glance: enrolled against target per township, who has not renewed, money collected by
channel, subsidies by category.  Every figure is derived from the registry and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import Engine, and_, case, func, select

from canbao.services.last_year import last_year_select
from canbao.store.db import plan_for_whole_tables
from canbao.store.tables import enrollments, ledger_entries, persons


@dataclass(frozen=True)
class SeasonSummary:
    by_township: pl.DataFrame  # township, enrolled, target, rate, last_year, not_renewed
    by_channel: pl.DataFrame  # channel, channel_name, payments, amount_fen
    by_category: pl.DataFrame  # subsidy_category, subsidy_kind, subsidy_timing, persons, amount_fen
    enrolled: int
    collected_fen: int


def season_summary(engine: Engine, benefit_year: int, targets: pl.DataFrame | None = None) -> SeasonSummary:
    """`targets`: township and target columns (the 任务分解表), optional.  The database counts and adds up;
    only the totals per township, channel and category come back (a city's season is millions of rows)."""
    e, p, le = enrollments.c, persons.c, ledger_entries.c
    live = and_(e.benefit_year == benefit_year, e.live)
    last = last_year_select(benefit_year).subquery("last")
    renewed = select(e.person_id).where(live).subquery("renewed")  # one live enrollment a person and year
    signed = case((le.kind == "refund", -le.amount_fen), else_=le.amount_fen)
    text = pl.String
    with engine.connect() as c:
        plan_for_whole_tables(c)
        enrolled = pl.read_database(
            select(p.township, func.count().label("enrolled"))
            .select_from(enrollments.join(persons, p.id == e.person_id))
            .where(live)
            .group_by(p.township),
            c,
            schema_overrides={"township": text, "enrolled": pl.Int64},
        )
        last_year = pl.read_database(
            select(
                p.township,
                func.count().label("last_year"),
                func.count(renewed.c.person_id).label("renewed"),
            )
            .select_from(
                last.join(persons, p.id == last.c.person_id).outerjoin(renewed, renewed.c.person_id == last.c.person_id)
            )
            .group_by(p.township),
            c,
            schema_overrides={"township": text, "last_year": pl.Int64, "renewed": pl.Int64},
        )
        by_channel = pl.read_database(
            select(
                le.channel,
                le.channel_name,
                func.sum(case((le.kind == "payment", 1), else_=0)).label("payments"),
                func.sum(signed).label("amount_fen"),
            )
            .select_from(
                ledger_entries.join(enrollments, and_(e.id == le.enrollment_id, e.benefit_year == benefit_year))
            )
            .where(le.kind.in_(["payment", "refund"]))
            .group_by(le.channel, le.channel_name),
            c,
            schema_overrides={"channel": text, "channel_name": text, "payments": pl.Int64, "amount_fen": pl.Int64},
        ).sort("amount_fen", "channel", "channel_name", descending=[True, False, False])
        by_category = pl.read_database(
            select(
                e.subsidy_category,
                e.subsidy_kind,
                e.subsidy_timing,
                func.count().label("persons"),
                func.sum(e.subsidy_fen).label("amount_fen"),
            )
            .where(live, e.subsidy_category.is_not(None))
            .group_by(e.subsidy_category, e.subsidy_kind, e.subsidy_timing),
            c,
            schema_overrides={
                "subsidy_category": text, "subsidy_kind": text, "subsidy_timing": text,
                "persons": pl.Int64, "amount_fen": pl.Int64,
            },
        ).sort("amount_fen", "subsidy_category", descending=[True, False])  # fmt: skip
    town = pl.col("township").fill_null("（未填乡镇）")
    by_township = (
        enrolled.group_by(town).agg(pl.col("enrolled").sum())
        .join(last_year.group_by(town).agg(pl.col("last_year", "renewed").sum()), on="township", how="full",
              coalesce=True)
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
    return SeasonSummary(
        by_township, by_channel, by_category, int(enrolled["enrolled"].sum()), int(by_channel["amount_fen"].sum() or 0)
    )
