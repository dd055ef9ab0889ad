"""Sequential single payments through the service layer (issue 4): payments per second on SQLite and on
PostgreSQL.  Each payment is one use case: quote, checks, person, enrollment, ledger entries, audit line.

    python benchmarks/payments.py [--payments N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from canbao.ids import make_id_number
from canbao.services.payments import Payment, pay
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POLICY = "anhui/bengbu/2022"


def _applications(n: int) -> list[dict[str, object]]:
    first = dt.date(1950, 1, 1)
    return [
        {
            "person": {
                "id_number": make_id_number("340322", first + dt.timedelta(days=i // 1000), i % 1000),
                "name": "测试",
                "county": "340322",
                "residency": "local_hukou",
                "categories": ["dibao"] if i % 20 == 0 else [],
            },
            "situation": "regular",
            "paid_on": "2021-11-01",
        }
        for i in range(n)
    ]


def run(url: str, n: int) -> float:
    engine = make_engine(url)
    apps = _applications(n)
    started = time.perf_counter()
    for i, app in enumerate(apps):
        categories = app["person"]["categories"]  # type: ignore[index]
        amount = Decimal("40") if categories else Decimal("320")
        pay(engine, Payment(POLICY, app, "online", f"txn-{i}", amount, channel_name="微信"), "bench")
    seconds = time.perf_counter() - started
    engine.dispose()
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=1000)
    args = parser.parse_args()
    rates = {}
    for kind in ("sqlite", "postgresql"):
        with tempfile.TemporaryDirectory() as tmp, scratch_database(kind, Path(tmp), PG_URL, "bench") as url:
            rates[kind] = run(url, args.payments)
    sqlite_rate, pg_rate = rates["sqlite"], rates["postgresql"]
    print(f"sequential payments through the service layer ({args.payments} each):")
    print(f"  SQLite (WAL):  {sqlite_rate:,.0f} payments/s")
    print(f"  PostgreSQL:    {pg_rate:,.0f} payments/s")


if __name__ == "__main__":
    main()
