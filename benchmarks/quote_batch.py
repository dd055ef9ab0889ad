"""Quote 1,100,000 synthetic persons (Lingbi's target size, 003 二) across every situation through
`quote_frame`, and compare with calling `quote` one person at a time on a sample.

    python benchmarks/quote_batch.py [--persons N] [--sample N] [--policy ID]

Prints persons per second for both and their ratio.  Goal (issue 3): the whole 1.1 million in under 2 s
on a 2-core machine, and at least 100 times the one-at-a-time rate.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import time

import polars as pl

from canbao import quote, quote_frame
from canbao.errors import InputError
from canbao.ids import check_digits
from canbao.policy import load_policy

# Shares of each situation in the synthetic population (they sum to 1000 per mille).
SITUATION_SHARES = {
    "regular": 800,
    "new_student": 30,
    "newborn": 20,
    "migrant_late": 40,
    "from_employee_insurance": 30,
    "lapsed": 30,
    "special_group": 20,
    "discharged_soldier": 10,
    "severe_mental_illness": 8,
    "retired_fisherman": 6,
    "released_prisoner": 6,
}
# Per mille of persons on each list; a few hold two identities.
CATEGORY_SHARES = {"destitute": 10, "dibao": 40, "relapsed_poor": 10, "monitored": 20, "near_dibao": 10}


def _uniform(seed: int, n: int) -> pl.Expr:
    """A reproducible pseudo-random integer in [0, n) per row."""
    return (pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed) % n).cast(pl.Int64)


def _day(first: dt.date, last: dt.date, seed: int) -> pl.Expr:
    return pl.lit(first) + pl.duration(days=_uniform(seed, (last - first).days + 1))


def synthetic_persons(policy_id: str, persons: int) -> pl.DataFrame:
    """Persons of every situation, with valid ID numbers and payment dates each situation allows."""
    policy = load_policy(policy_id)
    window, period = policy.collection_window, policy.benefit_period
    counties = list(policy.region.counties)
    after_window = window.end + dt.timedelta(days=1)

    bounds, situation_of = 0, pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    pick = _uniform(1, 1000)
    for name, share in SITUATION_SHARES.items():
        bounds += share
        situation_of = situation_of.when(pick < bounds).then(pl.lit(name))
    cat_pick = _uniform(2, 1000)
    cat_bounds, category_of = 0, pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for name, share in CATEGORY_SHARES.items():
        cat_bounds += share
        category_of = category_of.when(cat_pick < cat_bounds).then(pl.lit(name))

    frame = pl.DataFrame({"i": pl.int_range(persons, eager=True)}).with_columns(
        situation=situation_of.otherwise(pl.lit("regular")),
        county=pl.lit(pl.Series(counties)).gather(_uniform(3, len(counties))),
        adult_birth=_day(dt.date(1940, 1, 1), dt.date(2005, 12, 31), 4),
        child_birth=_day(dt.date(2006, 1, 1), dt.date(2016, 12, 31), 5),
        newborn_birth=_day(period.start - dt.timedelta(days=60), period.start + dt.timedelta(days=200), 6),
        category=category_of,
        second_category=pl.when(_uniform(7, 100) < 3).then(pl.lit("monitored")),
    )
    sit = pl.col("situation")
    birth = (
        pl.when(sit == "newborn")
        .then(pl.col("newborn_birth"))
        .when(sit == "new_student")
        .then(pl.col("child_birth"))
        .otherwise(pl.col("adult_birth"))
    )
    newborn_paid = pl.col("birth_date") + pl.duration(days=_uniform(8, 150))
    extension_end = policy.migrant_extension.end if policy.migrant_extension else window.end
    paid = (
        pl.when(sit.is_in(["regular", "new_student"]))
        .then(_day(window.start, window.end, 9))
        .when(sit == "newborn")
        .then(pl.max_horizontal(newborn_paid, pl.lit(window.start)))
        .when(sit == "migrant_late")
        .then(_day(after_window, extension_end, 10))
        .otherwise(_day(after_window, period.end - dt.timedelta(days=60), 11))
    )
    first17 = pl.concat_str(
        pl.col("county"),
        pl.col("birth_date").dt.to_string("%Y%m%d"),
        (pl.col("i") % 1000).cast(pl.String).str.zfill(3),
    )
    special = sit == "special_group"
    categories = pl.concat_list(
        pl.when(special).then(pl.lit("dibao")).otherwise(pl.col("category")), pl.col("second_category")
    ).list.drop_nulls()
    return (
        frame.with_columns(birth_date=birth)
        .with_columns(paid_on=paid, first17=first17)
        .select(
            id_number=pl.concat_str(pl.col("first17"), check_digits(pl.col("first17"))),
            name=pl.lit("测试"),
            county=pl.col("county"),
            residency=pl.when(sit == "new_student").then(pl.lit("student")).otherwise(pl.lit("local_hukou")),
            categories=categories,
            employee_insurance_active=pl.lit(False),
            employee_insurance_years=pl.when(sit == "from_employee_insurance").then(_uniform(12, 6).cast(pl.Int32)),
            employee_insurance_gap_months=pl.when(sit == "from_employee_insurance").then(
                _uniform(13, 8).cast(pl.Int32)
            ),
            lapsed_years=_uniform(14, 4).cast(pl.Int32),
            repaid_years=pl.lit(0, dtype=pl.Int32),
            situation=sit,
            paid_on=pl.col("paid_on"),
        )
    )


def _application(row: dict[str, object]) -> dict[str, object]:
    person = {k: row[k] for k in ("id_number", "name", "county", "residency", "categories")}
    for key in ("employee_insurance_years", "employee_insurance_gap_months", "lapsed_years"):
        if row[key] is not None:
            person[key] = row[key]
    paid_on = row["paid_on"]
    assert isinstance(paid_on, dt.date)
    return {"person": person, "situation": row["situation"], "paid_on": paid_on.isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_100_000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--policy", default="anhui/bengbu/2022", help="the policy covering every situation")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of quote_frame; the median is reported")
    args = parser.parse_args()

    persons = synthetic_persons(args.policy, args.persons)
    policy = load_policy(args.policy)
    today = policy.benefit_period.end  # the day ID numbers are checked against
    quote_frame(policy, persons.head(1000), today)  # compile the policy's expressions once

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        quoted = quote_frame(policy, persons, today)
        timings.append(time.perf_counter() - started)
    frame_seconds = statistics.median(timings)
    frame_rate = persons.height / frame_seconds

    sample = [_application(r) for r in persons.head(args.sample).iter_rows(named=True)]
    started = time.perf_counter()
    for application in sample:
        # A refused application costs the same work; the benchmark counts it alike.
        with contextlib.suppress(InputError):
            quote(args.policy, application, today)
    single_seconds = time.perf_counter() - started
    single_rate = len(sample) / single_seconds

    errors = quoted["error"].is_not_null().sum()
    eligible = quoted["eligible"].fill_null(False).sum()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, polars {pl.__version__}")
    print(f"policy: {args.policy}")
    print(f"persons: {persons.height:,} ({eligible:,} eligible, {errors:,} refused or not covered)")
    runs = ", ".join(f"{t:.2f}" for t in timings)
    print(f"quote_frame: {frame_seconds:.2f} s (median of {runs}), {frame_rate:,.0f} persons/s")
    print(f"quote one at a time ({len(sample)} persons): {single_seconds:.2f} s, {single_rate:,.0f} persons/s")
    print(f"ratio quote_frame / one at a time: {frame_rate / single_rate:,.0f}x")
    print("by situation:")
    summary = quoted.group_by("situation").agg(
        pl.len().alias("persons"),
        pl.col("eligible").fill_null(False).sum().alias("eligible"),
        pl.col("error").is_not_null().sum().alias("refused"),
    )
    for row in summary.sort("persons", descending=True).iter_rows(named=True):
        print(f"  {row['situation']:<24}{row['persons']:>10,}{row['eligible']:>10,}{row['refused']:>10,}")


if __name__ == "__main__":
    main()
