"""Issue 4 figure: import a 1,100,000-row civil-affairs list (CSV) with full validation, into SQLite and into
PostgreSQL; goal under 20 s each on the project's machine (2 cores).

    python benchmarks/import_list.py [--rows 1100000] [--db sqlite] [--db postgresql]

The list is synthetic: valid ID numbers built vectorized (`canbao.ids.check_digits`), a mix of the five
civil-affairs categories written as identifiers, labels and synonyms, ~1 % bad rows (check digit, a category
of another department, missing name, impossible date) and ~0.5 % repeated rows. It is imported with
`accept_valid=True` into a fresh database (a temporary SQLite file; a PostgreSQL schema of its own on
CANBAO_BENCH_PG_URL, dropped afterwards). Then, into the filled database, a rural-revitalization list of a
tenth of the size whose persons are half on the first list (the lookup and dual-identity path), and the first
file once more (a replay).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from canbao.ids import check_digits
from canbao.services.imports import ImportReport, import_department_list
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database

PG_URL = os.environ.get("CANBAO_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POLICY = "anhui/bengbu/2022"
COUNTY = "340322"
TODAY = dt.date.today()  # the day ID numbers are checked against (a benchmark is a front end)
HEADER = ["序号", "姓名", "身份证号码", "身份类别", "认定日期", "乡镇（街道）", "村（社区）"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超"]
CATEGORIES = ["dibao", "低保对象", "低保户", "near_dibao", "低保边缘家庭成员", "destitute", "特困供养人员", "orphan"]
CATEGORY_WEIGHTS = [30, 15, 10, 15, 5, 15, 5, 5]
TOWNSHIPS = ["城关镇", "新集镇", "小溪镇", "双忠庙镇", "朱顶镇", "头铺镇", "大新镇", "临北乡"]


def unique_ids(n: int, seed: int, offset: int = 0) -> pl.Series:
    """n distinct valid 18-character numbers (birth 1935..2004, 1000 sequence codes a day), shuffled."""
    i = pl.int_range(offset, offset + n, dtype=pl.Int64)
    birth = pl.lit(dt.date(1935, 1, 1)) + pl.duration(days=(i // 1000) * 23 % 25_000)
    first17 = pl.concat_str([pl.lit(COUNTY), birth.dt.strftime("%Y%m%d"), (i % 1000).cast(pl.String).str.zfill(3)])
    return (
        pl.select(first17.alias("f"))
        .select((pl.col("f") + check_digits(pl.col("f"))).alias("id"))
        .to_series()
        .shuffle(seed=seed)
    )


def pick(values: list[str], n: int, seed: int, weights: list[int] | None = None) -> pl.Series:
    pool = [v for v, w in zip(values, weights or [1] * len(values), strict=True) for _ in range(w)]
    index = pl.Series(range(n)).shuffle(seed=seed) * 7919 % len(pool)
    return pl.Series(pool).gather(index)


def civil_affairs_list(path: Path, rows: int, seed: int = 4) -> dict[str, int]:
    """Write the list; returns how many rows of each kind of problem it holds."""
    duplicates = rows // 200
    n = rows - duplicates
    frame = pl.DataFrame(
        {
            "姓名": pick(SURNAMES, n, seed) + pick(GIVEN, n, seed + 1),
            "身份证号码": unique_ids(n, seed),
            "身份类别": pick(CATEGORIES, n, seed + 2, CATEGORY_WEIGHTS),
            "认定日期": pick(["2021-03-01", "2021/6/15", "20210901", "2020-12-31"], n, seed + 3),
            "乡镇（街道）": pick(TOWNSHIPS, n, seed + 4),
            "村（社区）": pick([f"{k}村" for k in "东西南北中"], n, seed + 5),
        }
    )
    k = pl.int_range(0, n)
    bad_check = (k % 250) == 7  # 0.4 %
    other_department = (k % 333) == 11  # 0.3 %
    no_name = (k % 500) == 13  # 0.2 %
    bad_date = (k % 1000) == 17  # 0.1 %
    frame = frame.with_columns(
        pl.when(bad_check)
        .then(
            pl.col("身份证号码").str.head(17)
            + pl.when(pl.col("身份证号码").str.ends_with("0")).then(pl.lit("1")).otherwise(pl.lit("0"))
        )
        .otherwise(pl.col("身份证号码"))
        .alias("身份证号码"),
        pl.when(other_department).then(pl.lit("监测对象")).otherwise(pl.col("身份类别")).alias("身份类别"),
        pl.when(no_name).then(pl.lit(None, dtype=pl.String)).otherwise(pl.col("姓名")).alias("姓名"),
        pl.when(bad_date).then(pl.lit("2021-02-30")).otherwise(pl.col("认定日期")).alias("认定日期"),
    )
    repeated = frame.filter(~bad_check & ~other_department & ~no_name & ~bad_date).sample(duplicates, seed=seed)
    frame = pl.concat([frame, repeated]).sample(fraction=1.0, shuffle=True, seed=seed + 6)
    frame = frame.select(pl.int_range(1, pl.len() + 1).alias("序号"), *HEADER[1:])
    frame.write_csv(path, include_bom=True)
    masks = frame.select(
        bad_check=pl.lit(0), other=(pl.col("身份类别") == "监测对象").sum(), no_name=pl.col("姓名").is_null().sum()
    )
    return {
        "rows": frame.height,
        "repeated": duplicates,
        "other_department": int(masks["other"][0]),
        "no_name": int(masks["no_name"][0]),
    }


def monitored_list(path: Path, first: Path, rows: int, seed: int = 9) -> None:
    """Half the persons of the first list, half new ones, as rural revitalization's monitored population."""
    taken = (
        pl.read_csv(first, infer_schema=False)
        .filter(pl.col("姓名").is_not_null() & (pl.col("身份类别") != "监测对象"))
        .unique("身份证号码")
        .head(rows // 2)
    )
    fresh = rows - taken.height
    new = pl.DataFrame(
        {
            "姓名": pick(SURNAMES, fresh, seed) + pick(GIVEN, fresh, seed + 1),
            "身份证号码": unique_ids(fresh, seed, offset=5_000_000),
        }
    )
    both = pl.concat([taken.select("姓名", "身份证号码"), new]).with_columns(
        pl.lit("防止返贫监测对象").alias("人员类别"), pl.lit("2021-05-01").alias("有效期起")
    )
    both.write_csv(path, include_bom=True)


def show(label: str, report: ImportReport, wall: float) -> None:
    """Phases as the service times them. Resolution and the feedback files are computed on a second thread
    while the rows are written, so they overlap `write DB`; a refused or replayed batch writes them after."""
    t = report.timings
    print(f"  {label}: {report.rows_total:,} rows in {wall:.2f} s ({report.rows_total / wall:,.0f} rows/s)")
    tables = ", ".join(
        f"{k.removeprefix('write.')} {v:.2f}" for k, v in t.items() if k.startswith("write.") and v >= 0.005
    )
    print(
        f"    read {t.get('read', 0):.2f} s | validate {t.get('validate', 0):.2f} s | registry lookups "
        f"{t.get('lookup', 0):.2f} s | write DB {t.get('write', 0):.2f} s ({tables}) | beside the write: "
        f"resolution {t.get('resolve', 0):.2f} s, feedback files {t.get('feedback', 0):.2f} s"
    )
    print(
        f"    accepted {report.accepted:,}, rejected {report.rejected:,}, duplicates {report.duplicates:,}, "
        f"already listed {report.already_listed:,}, new persons {report.new_persons:,}, "
        f"dual identities {report.dual_identities:,}"
    )
    if report.feedback_csv_path is not None:
        print(f"    feedback: workbook of the rows needing attention + full CSV ({report.feedback_csv_path.name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_100_000)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    kinds: list[str] = args.db or ["sqlite", "postgresql"]
    python = sys.version.split()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, polars {pl.__version__}, python {python}")
    with tempfile.TemporaryDirectory(prefix="canbao-bench-") as tmp:
        workdir = Path(tmp)
        source = workdir / "民政_低保特困名单.csv"
        t0 = time.perf_counter()
        made = civil_affairs_list(source, args.rows)
        second = workdir / "乡村振兴_监测对象.csv"
        monitored_list(second, source, args.rows // 10)
        print(
            f"list: {made['rows']:,} rows, {source.stat().st_size / 2**20:.0f} MiB, generated in "
            f"{time.perf_counter() - t0:.1f} s ({made['repeated']:,} repeated rows, "
            f"{made['other_department']:,} of another department, {made['no_name']:,} without a name, "
            "~0.4 % bad check digits, 0.1 % impossible dates)"
        )
        for kind in kinds:
            print(f"{kind}:")
            with scratch_database(kind, workdir, PG_URL, prefix="bench") as url:
                engine = make_engine(url)
                try:
                    start = time.perf_counter()
                    report = import_department_list(
                        engine, source, "civil_affairs", COUNTY, POLICY, "bench", True, workdir / f"{kind}_反馈.xlsx",
                        today=TODAY,
                    )  # fmt: skip
                    show("civil-affairs list into an empty registry", report, time.perf_counter() - start)
                    start = time.perf_counter()
                    report = import_department_list(
                        engine,
                        second,
                        "rural_revitalization",
                        COUNTY,
                        POLICY,
                        "bench",
                        True,
                        workdir / f"{kind}_2.xlsx",
                        today=TODAY,
                    )
                    show("monitored list into the filled registry", report, time.perf_counter() - start)
                    start = time.perf_counter()
                    report = import_department_list(
                        engine,
                        source,
                        "civil_affairs",
                        COUNTY,
                        POLICY,
                        "bench",
                        True,
                        today=TODAY,
                        write_feedback=False,
                    )
                    print(f"  the first file again (replay, no feedback): {time.perf_counter() - start:.2f} s")
                finally:
                    engine.dispose()


if __name__ == "__main__":
    main()
