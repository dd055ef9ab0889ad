"""A single payment behind a large payment file (issue 12): one thread applies a file of N payments while
another makes single payments one after another; prints the file's rate and the single payments' wait.

The file is applied three times, to other persons each time (so that a given database may serve all
three): alone in one transaction (CHUNK_ROWS above its size: what a file cost before chunking), alone in
chunks of CHUNK_ROWS, and in chunks with the single payer beside it, who starts once the first chunk is in.

    python benchmarks/payment_wait.py [--payments 100000] [--url sqlite:///… --url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import polars as pl

import canbao.services.payment_batch as batch
from canbao.errors import CanbaoError
from canbao.ids import make_id_number
from canbao.services.payment_batch import apply_payments
from canbao.services.payments import Payment, pay
from canbao.store.db import make_engine, upgrade
from canbao.store.scratch import scratch_database

POLICY = "anhui/bengbu/2022"


def _person(i: int, county: str = "340322") -> dict[str, object]:
    return {
        "id_number": make_id_number(county, dt.date(1940, 1, 1) + dt.timedelta(days=i // 1000), i % 1000),
        "name": "测试",
        "county": county,
        "residency": "local_hukou",
        "categories": ["dibao"] if i % 20 == 0 else [],
    }


def _file(n: int, first: int = 0, prefix: str = "file") -> pl.DataFrame:
    people = [_person(first + i) for i in range(n)]
    return pl.DataFrame(
        [
            {**p, "situation": "regular", "paid_on": "2021-11-01", "channel": "collecting_unit",
             "txn_id": f"{prefix}-{i}", "amount_fen": 4000 if p["categories"] else 32000}
            for i, p in enumerate(people)
        ]
    )  # fmt: skip


@contextmanager
def _database(url: str | None, kind: str) -> Iterator[str]:
    """A fresh database: the given URL, or a temporary SQLite file / PostgreSQL schema."""
    if url is not None:
        upgrade(url)
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp, scratch_database(kind, Path(tmp), prefix="bench") as fresh:
        yield fresh


def _alone_rate(url: str, frame: pl.DataFrame, chunk_rows: int) -> float:
    """The file's rate with no other writer, in chunks of `chunk_rows`."""
    saved = batch.CHUNK_ROWS
    batch.CHUNK_ROWS = dict.fromkeys(saved, chunk_rows)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        apply_payments(engine, POLICY, frame, "bench")
        return frame.height / (time.perf_counter() - started)
    finally:
        batch.CHUNK_ROWS = saved
        engine.dispose()


def _with_single_payer(url: str, frame: pl.DataFrame) -> tuple[float, list[float], int]:
    """The file's rate; each single payment's time from call to answer; single payments refused as busy."""
    engine = make_engine(url)
    file_done = threading.Event()
    first_chunk = threading.Event()
    waits: list[float] = []
    busy = 0

    def payer() -> None:
        nonlocal busy
        first_chunk.wait()
        i = 0
        while not file_done.is_set():
            app = {"person": _person(i, "340321"), "situation": "regular", "paid_on": "2021-11-01"}
            amount = Decimal("40") if i % 20 == 0 else Decimal("320")
            started = time.perf_counter()
            try:
                pay(engine, Payment(POLICY, app, "online", f"single-{i}", amount, channel_name="微信"), "clerk")
            except CanbaoError:
                busy += 1
            waits.append(time.perf_counter() - started)
            i += 1

    thread = threading.Thread(target=payer)
    thread.start()
    try:
        started = time.perf_counter()
        apply_payments(engine, POLICY, frame, "bench", on_chunk=lambda _rows: first_chunk.set())
        seconds = time.perf_counter() - started
    finally:
        file_done.set()
        first_chunk.set()
        thread.join()
        engine.dispose()
    return frame.height / seconds, waits, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--url", action="append", help="a database to use (default: a temporary SQLite file and "
                        "a temporary schema on the local PostgreSQL)")  # fmt: skip
    args = parser.parse_args()
    frame = _file(args.payments)
    others = [_file(args.payments, args.payments * k, f"alone{k}") for k in (1, 2)]  # other persons and txns
    targets = [(u, "sqlite" if u.startswith("sqlite") else "postgresql") for u in args.url or []]
    for url, kind in targets or [(None, "sqlite"), (None, "postgresql")]:
        with _database(url, kind) as fresh:
            whole = _alone_rate(fresh, others[0], args.payments + 1)
        with _database(url, kind) as fresh:
            chunked = _alone_rate(fresh, others[1], batch.CHUNK_ROWS[kind])
        with _database(url, kind) as fresh:
            rate, waits, busy = _with_single_payer(fresh, frame)
        ms = sorted(w * 1000 for w in waits)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))] if ms else float("nan")
        print(f"{kind}: a file of {args.payments:,} payments")
        print(f"  alone, in one transaction (before chunking): {whole:,.0f} payments/s")
        chunks = f"alone, in chunks of {batch.CHUNK_ROWS[kind]:,}:"
        print(f"  {chunks:<45}{chunked:,.0f} payments/s")
        print(f"  in chunks, beside the single payer:         {rate:,.0f} payments/s")
        print(f"  single payments meanwhile: {len(ms)} ({busy} refused as busy), wait p50 "
              f"{statistics.median(ms) if ms else float('nan'):,.0f} ms, p95 {p95:,.0f} ms, "
              f"max {max(ms) if ms else float('nan'):,.0f} ms", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
