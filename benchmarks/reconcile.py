"""Reconciliation at county size (issue 6): 1.1 M enrollments against tax and bank files of the same size.

    python benchmarks/reconcile.py --season DIR [--url DATABASE_URL]

DIR is the output folder of `canbao demo --persons 1100000 --out DIR` (its canbao.db and county/); --url
names another database holding that season (e.g. PostgreSQL).  Prints
the time of each step: reading the tax, bank and collecting-unit CSV files, reading the registry's payments
and refunds from the database, the matching itself, and writing the clerk's workbook.  Goal: under 5 s on this machine,
excluding reading XLSX.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path

from canbao.services.reconcile import (
    list_findings,
    load_refunds,
    load_registry,
    read_many,
    read_other_counties,
    read_records,
    reconcile,
    with_places,
    write_reconciliation,
)
from canbao.store.db import make_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--season", type=Path, required=True, help="output folder of canbao demo")
    parser.add_argument("--url", help="the season's database (default: DIR/canbao.db)")
    args = parser.parse_args()
    data = args.season / "county"
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    engine = make_engine(args.url or f"sqlite:///{args.season / 'canbao.db'}")
    as_of = dt.date.fromisoformat(manifest["season"]["benefit_period"][1])
    steps: dict[str, float] = {}

    def timed(name: str, started: float) -> float:
        now = time.perf_counter()
        steps[name] = now - started
        return now

    t = time.perf_counter()
    tax = read_records(data / "tax_records.csv", "tax")
    t = timed("read tax CSV", t)
    bank = read_records(data / "bank_statement.csv", "bank")
    t = timed("read bank CSV", t)
    units = read_many(sorted((data / "collections").glob("*.csv")), "collecting_unit")
    t = timed("read collecting-unit CSVs", t)
    other = read_other_counties([data / "other_county_roster.csv"], as_of)
    t = timed("read other county roster", t)
    registry = load_registry(engine, manifest["benefit_year"])
    refunds = load_refunds(engine, manifest["benefit_year"])
    t = timed("registry from the database", t)
    result = reconcile(registry, as_of, tax=tax, bank=bank, units=units, other_counties=other, refunds=refunds)
    t = timed("matching", t)
    result = with_places(engine, result)
    t = timed("names and places of the findings", t)
    lists = list_findings(engine, as_of)
    t = timed("list checks from the database", t)
    write_reconciliation(args.season / "reconcile-bench.xlsx", result, lists)
    timed("workbook", t)

    print(f"reconciliation on {engine.dialect.name}: registry {registry.height:,} payments, {refunds.height:,} "
          f"refunds, tax {tax.height:,}, bank {bank.height:,}, collecting units "
          f"{0 if units is None else units.height:,}")  # fmt: skip
    for name, seconds in steps.items():
        print(f"  {seconds:6.2f} s  {name}")
    reading = sum(v for k, v in steps.items() if k.startswith("read"))
    core = steps["registry from the database"] + steps["matching"]
    print(f"  total {sum(steps.values()):.2f} s; reading files {reading:.2f} s; registry + matching {core:.2f} s")
    print(f"  findings: {result.by_kind()}; tests: {result.tests}")
    print(f"  peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
