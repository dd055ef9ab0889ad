"""Progress report from the database at county size (issue 6): goal under 1 s at 1,100,000 persons.

    python benchmarks/progress.py [--persons 1100000] [--databases sqlite,postgresql] [--repeat 3]

The registry is filled straight from a synthetic county (canbao synth), in bulk, without the season's
services (which take minutes at this size, see season.py): every person with township and village, last
year's roster as an accepted roster import (import_rows, as `canbao import roster` leaves it), one live
enrollment per payment event with its paid_on, the e-voucher activations, and the targets through
`canbao targets import`.  Then, timed: `progress()` (the counts in the database and the ranking in Polars,
the figure the goal is about), writing its workbook and chart, and `not_renewed()` with its workbooks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from canbao.services.progress import not_renewed, progress, write_not_renewed, write_progress
from canbao.services.targets import import_targets
from canbao.store.bulk import bulk_insert
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database
from canbao.store.tables import e_voucher_activations, enrollments, import_batches, import_rows, persons
from canbao.store.uow import now
from canbao.synth import build_county

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
YEAR = 2022
AS_OF = dt.date(2021, 12, 24)


def fill(url: str, county: Path) -> dict[str, float]:
    """Load the synthetic county into the registry; returns seconds per table."""
    engine = make_engine(url, app_role=False)  # the owner: it moves sequences and runs ANALYZE
    stamp = now()
    seconds: dict[str, float] = {}
    population = pl.read_parquet(county / "population.parquet").with_row_index("id", offset=1)
    people = population.select(
        pl.col("id").cast(pl.Int64), "id_number", "name", "sex", pl.col("birth_date"),
        pl.lit("341323").alias("county"), "township", "village", "residency", "phone",
        pl.lit(stamp).alias("created_at"),
    )  # fmt: skip
    events = pl.concat([pl.read_parquet(f) for f in sorted((county / "payments").glob("*.parquet"))])
    events = events.join(population.select("id_number", pl.col("id").cast(pl.Int64).alias("person_id")), on="id_number")
    enrolled = events.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("id"), "person_id",
        pl.lit("anhui/suzhou/lingbi/2022").alias("policy"), pl.lit(YEAR).alias("benefit_year"), "situation",
        pl.lit("active").alias("status"), pl.lit(True).alias("live"), "paid_on",
        pl.lit(dt.date(2022, 1, 1)).alias("benefit_start"), pl.lit(dt.date(2022, 12, 31)).alias("benefit_end"),
        pl.lit(0).alias("waiting_months"), pl.lit("benchmark").alias("rule"),
        pl.lit(32_000).alias("personal_standard_fen"), "amount_fen", pl.col("amount_fen").alias("net_personal_fen"),
        "channel", pl.lit(stamp).alias("created_at"),
    ).rename({"amount_fen": "amount_due_fen"})  # fmt: skip
    roster = pl.read_csv(county / "roster_2021.csv", infer_schema=False)
    rows = roster.select(
        pl.lit(1, dtype=pl.Int64).alias("batch_id"), pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("row_number"),
        pl.col("身份证号码").alias("id_number"), pl.lit("accepted").alias("outcome"),
    ).join(
        population.select("id_number", pl.col("id").cast(pl.Int64).alias("person_id")), on="id_number", how="left",
        maintain_order="left",
    )  # fmt: skip
    records = pl.read_csv(county / "e_voucher_activations.csv", infer_schema=False)
    activations = records.join(
        population.select("id_number", pl.col("id").cast(pl.Int64).alias("person_id")),
        left_on="身份证号码",
        right_on="id_number",
    ).select(
        "person_id", pl.col("激活日期").str.to_date().alias("activated_on"), pl.col("激活渠道").alias("channel"),
        pl.lit("e_voucher_activations.csv").alias("file_name"), pl.lit(stamp).alias("imported_at"),
    )  # fmt: skip
    with engine.begin() as c:
        c.execute(
            import_batches.insert().values(
                id=1, kind="roster", file_name="roster_2021.csv", file_sha256="benchmark", rows_total=roster.height,
                rows_accepted=roster.height, rows_rejected=0, actor="benchmark", created_at=stamp,
                benefit_year=YEAR - 1,
            )
        )  # fmt: skip
        for table, frame in ((persons, people), (enrollments, enrolled), (import_rows, rows)):
            started = time.perf_counter()
            bulk_insert(c, table, frame)
            seconds[table.name] = time.perf_counter() - started
        started = time.perf_counter()
        bulk_insert(c, e_voucher_activations, activations)
        seconds["e_voucher_activations"] = time.perf_counter() - started
        if c.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in ("persons", "enrollments", "import_batches"):
                c.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
    with engine.connect() as c:
        c.exec_driver_sql("ANALYZE")
        if c.dialect.name == "postgresql":
            c.commit()
    import_targets(engine, county / "targets.xlsx", YEAR, "benchmark")
    engine.dispose()
    return seconds


def measure(url: str, repeat: int, out: Path) -> None:
    engine = make_engine(url)
    times = []
    report = None
    for _ in range(repeat):
        started = time.perf_counter()
        report = progress(engine, YEAR, AS_OF)
        times.append(time.perf_counter() - started)
    assert report is not None
    started = time.perf_counter()
    write_progress(report, out / "progress")
    writing = time.perf_counter() - started
    started = time.perf_counter()
    frame = not_renewed(engine, YEAR, AS_OF)
    listing = time.perf_counter() - started
    started = time.perf_counter()
    files = write_not_renewed(frame, out / "not_renewed", YEAR, AS_OF)
    list_writing = time.perf_counter() - started
    county = report.county.row(0, named=True)
    print(
        f"  progress as of {AS_OF}: {statistics.median(times):.2f} s (median of "
        f"{', '.join(f'{t:.2f}' for t in times)}); enrolled {county['enrolled']:,}, last year {county['last_year']:,}, "
        f"renewed {county['renewed']:,}, activated {county['activated']:,}; "
        f"{report.townships.height} townships, {report.villages.height} villages"
    )
    print(f"  writing its workbook and chart: {writing:.2f} s")
    print(f"  not renewed: {frame.height:,} persons in {listing:.2f} s; {len(files)} workbooks in {list_writing:.2f} s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_100_000)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        build_county("341323", args.persons, args.seed, folder / "county")
        print(f"progress benchmark: {args.persons:,} persons (synth {time.perf_counter() - started:.1f} s)")
        for database in args.databases.split(","):
            with scratch_database(database, folder, PG_URL, "progress") as url:
                loaded = fill(url, folder / "county")
                print(f"{database}: registry filled ({', '.join(f'{k} {v:.1f} s' for k, v in loaded.items())})")
                measure(url, args.repeat, folder / database)


if __name__ == "__main__":
    main()
