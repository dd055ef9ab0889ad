"""Channels' notifications under the 12-31 rush (issue 15), on PostgreSQL, the load from a second process.

    python benchmarks/notifications.py [--rate 1000] [--seconds 60] [--workers 2] [--connections 64]

1. Orders for new residents of 灵璧 (2022) are written in bulk (the benchmark's own setup: the order path
   itself is one resident at a time), and the simulator's WeChat Pay channel (canbao.simulator) registered
   with keys made here.
2. The simulator signs every notification ahead of the run (inside WeChat's 5-minute window, so that signing
   does not compete with the server for the two cores), as raw HTTP requests: 89 % first deliveries, 10 %
   replays (a request already sent, sent again as it was), 1 % tampered (the body changed after signing).
3. The rush: they are sent at `--rate` a second for `--seconds` over `--connections` kept-alive connections
   to `canbao serve --workers N`, open loop (benchmarks/open_loop.py: each request due at its time, its
   latency counted from then, whatever the answers before it took): printed are the answers (204 / 401) and
   the acknowledgement latency p50/p99; then, once the inbox is empty, the p99 from receipt to the
   enrollment committed (`applied_at - received_at`: the applier stamps `applied_at` after the enrollment's
   transaction commits) and the check that each acknowledged transaction has exactly one enrollment and one
   payment entry, the tampered none.
4. The most it takes: wrk (C, closed loop) sends fresh first deliveries for `--wrk-seconds`; beside it the
   ceilings, the same requests and server setup: an endpoint answering 204 at once, and one doing only a
   bare `INSERT … ON CONFLICT DO NOTHING` (benchmarks/notify_ceiling.py).
5. `kill -9` in the middle: a Python sender (threads) delivers `--crash-orders` fresh notifications, the
   server is killed with SIGKILL halfway, started again, and every notification not acknowledged is sent
   again freshly signed (the channel's retry); then every acknowledged one must be applied, each exactly once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select, text

from canbao.clock import CAMPAIGN_ZONE
from canbao.simulator.channel import Notification, SimulatedChannel
from canbao.simulator.keys import ChannelKeys
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database
from canbao.store.tables import channel_notifications, enrollments, ledger_entries
from canbao.synth.orders import AMOUNT, TODAY, open_orders
from open_loop import describe, open_loop  # benchmarks/open_loop.py
from portal import answering, free_port  # benchmarks/portal.py

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAID_AT = dt.datetime(2021, 12, 31, 15, 59, 58, tzinfo=CAMPAIGN_ZONE)  # the 12-31 rush
_CHANNEL: SimulatedChannel | None = None  # the simulated WeChat Pay channel, set before the signers fork


def _signed(job: tuple[str, bool]) -> tuple[dict[str, str], bytes, str]:
    """The simulated channel's notification of one payment of an order, signed now: headers, body and the
    channel's transaction id; `tampered`: its body changed after signing (canbao.simulator)."""
    out_trade_no, tampered = job
    assert _CHANNEL is not None
    n = _CHANNEL.notification(_CHANNEL.pay(out_trade_no, AMOUNT, PAID_AT))
    if tampered:
        n = _CHANNEL.tampered(n)
    headers, body = n.request(dt.datetime.now(dt.UTC))
    return headers, body, n.payment.transaction_id


def sign_all(jobs: list[tuple[str, bool]]) -> list[tuple[dict[str, str], bytes, str]]:
    """Every job signed, on every core (forked processes share the channel's keys)."""
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        return pool.map(_signed, jobs, chunksize=500)


def raw_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


WRK_SCRIPT = r"""
local requests, n = {}, 0
local f = assert(io.open("%(file)s", "rb"))
local data = f:read("*a")
f:close()
for r in string.gmatch(data, "(.-)\n@@END@@\n") do n = n + 1; requests[n] = r end
local threads, counter = {}, 0
function setup(thread) counter = counter + 1; thread:set("tid", counter); table.insert(threads, thread) end
local i, statuses = 0, {}
function init(args) i = tid - 1 end
function request() i = i + %(threads)d; if i > n then i = tid end; return requests[i] end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def run_wrk(
    base: str, path: str, requests: list[bytes], seconds: int, connections: int, folder: Path
) -> dict[str, float]:
    data = folder / f"requests-{path.strip('/').replace('/', '-')}.txt"
    data.write_bytes(b"".join(r + b"\n@@END@@\n" for r in requests))
    lua = folder / "notify.lua"
    lua.write_text(WRK_SCRIPT % {"file": data, "threads": 2}, encoding="utf-8")
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(lua), base]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, errors, p50, p99, slowest = (int(v) for v in line.split()[1:])
    return {
        "requests": n,
        "rate": n / seconds,
        "errors": errors,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": slowest / 1000,
    }


def serve(url: str, port: int, workers: int, files: Path, app: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CANBAO_DATABASE_URL": url, "CANBAO_FILES_DIR": str(files)}
    if app is None:
        command = [
            sys.executable,
            "-m",
            "canbao.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--today",
            TODAY.isoformat(),
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent
    )
    return answering(server, lambda: httpx.post(f"http://127.0.0.1:{port}/notify/wechatpay_v3/none", timeout=1))


def wait_applied(engine: Engine, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as c:
            pending = c.execute(
                select(func.count())
                .select_from(channel_notifications)
                .where(channel_notifications.c.status == "pending")
            ).scalar_one()
        if pending == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"{pending} notifications still pending after {timeout:.0f} s")


def check_exactly_once(engine: Engine, expected: set[str], tampered: set[str]) -> str:
    with engine.connect() as c:
        entries = list(
            c.execute(select(ledger_entries.c.channel_txn_id).where(ledger_entries.c.kind == "payment")).scalars()
        )
        enrolled = c.execute(select(func.count()).select_from(enrollments)).scalar_one()
        flagged = c.execute(
            select(func.count()).select_from(channel_notifications).where(channel_notifications.c.status == "flagged")
        ).scalar_one()
    found = set(entries)
    problems = []
    if len(entries) != len(found):
        problems.append(f"{len(entries) - len(found)} transactions with more than one payment entry")
    if not expected <= found:
        problems.append(f"{len(expected - found)} acknowledged transactions not applied")
    if found & tampered:
        problems.append(f"{len(found & tampered)} tampered transactions applied")
    if enrolled != len(found):
        problems.append(f"{enrolled} enrollments for {len(found)} payment entries")
    if flagged:
        problems.append(f"{flagged} notifications flagged")
    return "; ".join(problems) or f"exactly once: {len(found):,} transactions, {enrolled:,} enrollments, tampered none"


def visibility_p99(engine: Engine, since: dt.datetime | None = None) -> float:
    """The p99 from receipt to the enrollment committed, of the notifications received `since` (all: None)."""
    n = channel_notifications.c
    query = select(n.received_at, n.applied_at).where(n.status == "applied")
    if since is not None:
        query = query.where(n.received_at >= since)
    with engine.connect() as c:
        seconds = sorted((r.applied_at - r.received_at).total_seconds() for r in c.execute(query))
    return seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))] if seconds else float("nan")


def notification_requests(numbers: list[str], path: str, *, replays: bool) -> tuple[list[bytes], set[str]]:
    """The raw requests of one notification for each order, signed now: about 1 % tampered (for an order of
    its own), and with `replays` about 10 % more that are a request already sent, sent again as it was."""
    tampered_every = 89
    started = time.perf_counter()
    signed = sign_all([(n, k % tampered_every == tampered_every - 1) for k, n in enumerate(numbers)])
    print(f"  signed {len(signed):,} notifications in {time.perf_counter() - started:.0f} s (ahead of the run)")
    rng = random.Random(7)
    sent: list[tuple[dict[str, str], bytes, str]] = []
    for k, notification in enumerate(signed):
        sent.append(notification)
        if replays and k % 9 == 8:
            sent.append(signed[rng.randrange(max(1, k - 200), k)])
    tampered = {t for k, (_, _, t) in enumerate(signed) if k % tampered_every == tampered_every - 1}
    return [raw_request(path, h, b) for h, b, _ in sent], tampered


def rush(args: argparse.Namespace, url: str, engine: Engine, folder: Path) -> None:
    """The 12-31 rush at `--rate` (open loop), then the most /notify takes (wrk) beside its ceilings."""
    path = "/notify/wechatpay_v3/wx"
    first = int(args.rate * args.seconds * 0.9) + 1  # the first deliveries; the replays make up the rate
    raw, tampered = notification_requests(open_orders(engine, first), path, replays=True)
    port = free_port()
    server = serve(url, port, args.workers, folder)
    try:
        result = open_loop("127.0.0.1", port, raw, rate=args.rate, seconds=args.seconds, connections=args.connections)
        print(f"  canbao /notify ({args.workers} workers, {args.connections} connections): {describe(result)}")
        wait_applied(engine)
        print(f"  receipt → enrollment committed: p99 {visibility_p99(engine) * 1000:.0f} ms")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    with engine.connect() as c:  # every notification answered success is an inbox row (recorded first)
        expected = set(c.execute(select(channel_notifications.c.transaction_id)).scalars())
    print(f"  {check_exactly_once(engine, expected, tampered)}")

    # the most it takes: wrk, closed loop, fresh first deliveries (a replay costs less than a new payment)
    raw, _ = notification_requests(open_orders(engine, args.most_orders, start=5_000_000), path, replays=False)
    port = free_port()
    server = serve(url, port, args.workers, folder)
    try:
        since = dt.datetime.now(dt.UTC)
        most = run_wrk(f"http://127.0.0.1:{port}", path, raw, args.wrk_seconds, args.wrk_connections, folder)
        wait_applied(engine)
        most_visible = visibility_p99(engine, since)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    print(
        f"  the most (wrk, {args.wrk_connections} connections, {args.wrk_seconds} s, first deliveries): "
        f"{most['rate']:,.0f}/s, {most['errors']:,} non-2xx or errors, ack p50 {most['p50_ms']:.1f} ms, "
        f"p99 {most['p99_ms']:.1f} ms; receipt → enrollment committed p99 {most_visible * 1000:.0f} ms"
    )
    for name in ("empty", "insert"):
        port = free_port()
        server = serve(url, port, args.workers, folder, app="notify_ceiling:app")
        try:
            ceiling = run_wrk(
                f"http://127.0.0.1:{port}",
                f"/ceiling/{name}",
                [r.replace(path.encode(), f"/ceiling/{name}".encode(), 1) for r in raw],
                args.wrk_seconds,
                args.wrk_connections,
                folder,
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        print(
            f"  ceiling, {name} handler: {ceiling['rate']:,.0f}/s, p99 {ceiling['p99_ms']:.1f} ms "
            f"(canbao's most at {most['rate'] / ceiling['rate']:.0%} of it)"
        )


def crash(args: argparse.Namespace, url: str, engine: Engine, folder: Path) -> None:
    """Deliveries from threads, the server killed with SIGKILL halfway and started again, the rest retried."""
    assert _CHANNEL is not None
    channel = _CHANNEL
    numbers = open_orders(engine, args.crash_orders, start=10_000_000)
    jobs = [channel.notification(channel.pay(n, AMOUNT, PAID_AT)) for n in numbers]
    acknowledged: set[str] = set()  # out_trade_no
    lock = threading.Lock()
    port = free_port()
    server = serve(url, port, args.workers, folder)
    base = f"http://127.0.0.1:{port}/notify/wechatpay_v3/wx"

    def deliver(part: list[Notification]) -> None:
        with httpx.Client(timeout=5) as client:
            for n in part:
                if n.payment.out_trade_no in acknowledged:
                    continue
                headers, body = n.request(dt.datetime.now(dt.UTC))  # signed when sent, as WeChat Pay re-signs
                try:
                    if client.post(base, content=body, headers=headers).status_code in (200, 204):
                        with lock:
                            acknowledged.add(n.payment.out_trade_no)
                except httpx.HTTPError:
                    pass

    def round_of_deliveries() -> None:
        threads = [threading.Thread(target=deliver, args=(jobs[k::8],)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    killer = threading.Timer(args.crash_after, lambda: server.send_signal(signal.SIGKILL))
    killer.start()
    round_of_deliveries()
    killer.join()
    before = len(acknowledged)
    server.wait(10)
    server = serve(url, port, args.workers, folder)
    try:
        round_of_deliveries()  # the channel's retries of every notification not acknowledged
        wait_applied(engine)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    print(
        f"  kill -9 after {args.crash_after:.0f} s: {before:,} of {len(jobs):,} acknowledged before, "
        f"{len(acknowledged) - before:,} after the restart"
    )
    with engine.connect() as c:
        mine = ledger_entries.c.out_trade_no.in_(numbers)
        ours = set(c.execute(select(ledger_entries.c.out_trade_no).where(mine)).scalars())
        entries = c.execute(select(func.count()).select_from(ledger_entries).where(mine)).scalar_one()
    ok = acknowledged <= ours and entries == len(ours) == len(jobs)
    print(
        f"  {'every acknowledged notification applied, each once' if ok else 'NOT exactly once'}: "
        f"{len(ours):,} transactions, {entries:,} payment entries"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="the rush's notifications a second")
    parser.add_argument("--seconds", type=int, default=60, help="the rush's length")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64, help="the channel's connections in the rush")
    parser.add_argument("--wrk-seconds", type=int, default=15, help="the most it takes, and the ceilings")
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--most-orders", type=int, default=40_000, help="first deliveries for wrk (more than it sends)")
    parser.add_argument("--crash-orders", type=int, default=6_000)
    parser.add_argument("--crash-after", type=float, default=3.0)
    args = parser.parse_args()
    global _CHANNEL
    keys = ChannelKeys.generate("wechatpay_v3", "wx")
    _CHANNEL = SimulatedChannel(keys)
    with tempfile.TemporaryDirectory() as tmp, scratch_database("postgresql", Path(tmp), PG_URL, prefix="bn") as url:
        engine = make_engine(url)
        keys.register(engine, actor="bench", now=dt.datetime.now(dt.UTC))
        owner = make_engine(url, app_role=False)  # the schema's owner: canbao's own role may not create tables
        with owner.begin() as c:
            c.execute(text("CREATE TABLE IF NOT EXISTS bench_inbox (txn text PRIMARY KEY, body text)"))
        owner.dispose()
        print(f"PostgreSQL, {os.cpu_count()} cores; notifications of WeChat Pay API v3 (RSA-2048, AES-256-GCM)")
        rush(args, url, engine, Path(tmp))
        crash(args, url, engine, Path(tmp))
        engine.dispose()


if __name__ == "__main__":
    main()
