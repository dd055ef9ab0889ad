"""Fund accounting and the cleanup list at county size (issue 6).

    python benchmarks/funds_cleanup.py --season DIR [--employees 150000]

DIR is the output folder of `canbao demo --persons 1100000 --out DIR` (its canbao.db and county/); it is only
read.  An employee-insurance register of EMPLOYEES persons (drawn from the county's population, so most are
enrolled residents and each needs a refund decision) is written to a temporary CSV first.  Prints the time of
each step, the sizes and the peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import tempfile
import time
from pathlib import Path

import polars as pl

from canbao.reports import write_workbook
from canbao.services.cleanup import CLEANUP_NUMBERS, cleanup_list, cleanup_sheets, read_register
from canbao.services.funds import fund_report, write_fund_report
from canbao.store.db import make_engine

TODAY = dt.date.today()  # the day the registers are checked against (a benchmark is a front end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--season", type=Path, required=True, help="output folder of canbao demo")
    parser.add_argument("--employees", type=int, default=150_000, help="rows of the employee-insurance register")
    args = parser.parse_args()
    data = args.season / "county"
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    policy_id, benefit_year = manifest["policy"], int(manifest["benefit_year"])
    engine = make_engine(f"sqlite:///{args.season / 'canbao.db'}")
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def timed(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = now - t
        t = now

    report = fund_report(engine, benefit_year)
    timed("fund report from SQLite")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        write_fund_report(report, out)
        timed("fund workbook and charts")
        people = pl.read_parquet(data / "population.parquet", columns=["id_number", "name"])
        employees = people.sample(min(args.employees, people.height), seed=1).select(
            pl.col("id_number").alias("身份证号码"),
            pl.col("name").alias("姓名"),
            pl.lit("某某有限公司").alias("参保单位"),
            pl.lit("2021-12-15").alias("参保日期"),
        )
        employees.write_csv(out / "employees.csv")
        t = time.perf_counter()
        registers = {
            "deaths": read_register(data / "deaths.csv", "deaths", TODAY),
            "other_counties": read_register(data / "other_county_roster.csv", "other_county", TODAY),
            "employees": read_register(out / "employees.csv", "employee_insurance", TODAY),
        }
        timed(f"read and validate registers ({sum(f.height for f in registers.values()):,} rows)")
        as_of = dt.date.fromisoformat(manifest["season"]["benefit_period"][0]) - dt.timedelta(days=1)
        small = cleanup_list(engine, policy_id, as_of=as_of, today=TODAY, deaths=registers["deaths"],
                             other_counties=registers["other_counties"])  # fmt: skip
        timed(f"cleanup list, deaths and other county only (looked up by ID number): {small.height:,} rows")
        found = cleanup_list(engine, policy_id, as_of=as_of, today=TODAY, **registers)
        timed("cleanup list, all three registers (the whole year read once)")
        write_workbook(out / "cleanup.xlsx", cleanup_sheets(found, policy_id, as_of), numbers=CLEANUP_NUMBERS)
        timed("cleanup workbook")
    county = report.fiscal_county.row(0, named=True)
    print(f"season {args.season} ({manifest['persons']:,} persons, {policy_id})")
    print(f"enrolled (live): {county['persons']:,}; transfer list: {report.transfer_detail.height:,} persons")
    print(f"cleanup list: {found.height:,} rows ({(found['status'] == 'paid').sum():,} enrollments)")
    for name, seconds in steps.items():
        print(f"  {seconds:7.2f} s  {name}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak memory: {peak:,} MiB")


if __name__ == "__main__":
    main()
