"""A whole season at county size (issue 5): time and peak memory of each phase on SQLite and PostgreSQL.

    python benchmarks/season.py [--persons 1100000] [--databases sqlite,postgresql] [--part-size 1100000]

Each database runs in its own process (so each peak memory is its own): synth, imports (roster, schools,
department lists, with feedback), season open (quotes stored as due records), due lists (XLSX per
township), payment files applied day by day.  Goals on this machine: season open under 30 s, the whole
season under 5 minutes, peak memory under 4 GiB.  A county above --part-size persons (the 10,000,000-person
city: `--persons 10000000 --databases postgresql`) is generated, imported and opened part by part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from canbao.synth import PART_SIZE

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def one(database: str, persons: int, seed: int, part_size: int, keep: bool) -> dict[str, object]:
    from rich.console import Console

    from canbao.season_demo import run
    from canbao.store.scratch import scratch_database

    quiet = Console(file=open("/dev/null", "w"), width=140)  # noqa: SIM115 - the summary is not the figure
    schema = ""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = None  # SQLite: the demo's own new file in its folder
        if database == "postgresql":
            url = stack.enter_context(scratch_database(database, Path(tmp), PG_URL, "season", keep=keep))
            schema = url.rsplit("%3D", 1)[1]
        started = time.perf_counter()
        timings = run(persons, seed, Path(tmp), console=quiet, url=url, part_size=part_size)
        total = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"database": database, "timings": timings, "total": total, "peak_mib": peak_mib, "schema": schema}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_100_000)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--part-size", type=int, default=PART_SIZE)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema (audit_log times each step)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.persons, args.seed, args.part_size, args.keep), ensure_ascii=False))
        return
    print(f"season of {args.persons:,} persons")
    for database in args.databases.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--one", database, "--persons", str(args.persons), "--seed", str(args.seed),
             "--part-size", str(args.part_size), *(["--keep"] if args.keep else [])],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            print(f"\n{database}: failed\n{done.stderr[-3000:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if args.keep and database == "postgresql":
            print(f"schema kept: {result['schema']}")
        print(f"\n{database}: whole season {result['total']:.1f} s, peak memory {result['peak_mib']:,.0f} MiB")
        for phase, seconds in result["timings"].items():
            print(f"  {seconds:7.1f} s  {phase}")


if __name__ == "__main__":
    main()
