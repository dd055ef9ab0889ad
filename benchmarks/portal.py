"""The staff portal under load (issue 14): 工作台 and its API p95 under 300 ms, person search p95 under 100 ms,
with 20 concurrent users, at 1,100,000 persons on PostgreSQL.

    python benchmarks/portal.py [--persons 1100000] [--databases postgresql] [--users 20] [--requests 40]

The registry is filled in bulk as benchmarks/progress.py does (persons, last year's roster, the enrollments,
e-voucher activations, targets). `canbao serve` then runs in its own process on that database, and this
process sends the load: `--users` threads, each signed in with an account of its own (county and township
roles, half each), each making `--requests` requests of every kind in turn:

- dashboard: the 工作台 page (`GET /`) and its data (`GET /api/v1/progress`), the first view after the start
  timed on its own (it computes the progress; later views are served from the cache until the data changes);
- search: `GET /api/v1/persons?q=` with a registered name (half) or a full ID number (half), drawn at random.

Printed: per kind, the number of requests, p50, p95 and the slowest, and the time of the first (cold)
dashboard view. Then a department sends a list of `--list-rows` rows (民政局's 低保 list of registered persons,
one row in a thousand with a wrong check digit, so it is answered row by row and imported whole only on
request) and the time is taken from the upload to its row results' first page (the rejected rows, as the
page shows them) — the issue's "100,000-row list validated and its row results on screen within 15 s".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import polars as pl

from canbao.services.accounts import add_user
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database
from canbao.synth import build_county
from progress import AS_OF, PG_URL, YEAR, fill  # benchmarks/progress.py: the same registry

PASSWORD = "benchmark-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def department_list(population: pl.DataFrame, rows: int, path: Path) -> Path:
    """民政局's list of `rows` registered persons as 低保对象, one in a thousand with a wrong check digit."""
    people = population.head(rows).with_row_index("i")
    broken = pl.col("id_number").str.head(17) + pl.when(pl.col("id_number").str.tail(1) == "0").then(
        pl.lit("1")
    ).otherwise(pl.lit("0"))
    people.select(
        pl.col("name").alias("姓名"),
        pl.when(pl.col("i") % 1000 == 999).then(broken).otherwise(pl.col("id_number")).alias("身份证号码"),
        pl.lit("低保对象").alias("人员类别"),
    ).write_csv(path)
    return path


def list_to_screen(base: str, username: str, path: Path) -> tuple[float, dict[str, object]]:
    """Seconds from sending the list to its rejected rows' first page, and the job's result."""
    client = signed_in(base, username)
    try:
        csrf = client.get("/api/v1/me").json()["csrf_token"]
        started = time.perf_counter()
        with path.open("rb") as f:
            answer = client.post(
                "/api/v1/submissions/department_list", files={"file": (path.name, f, "text/csv")},
                data={"policy": "anhui/suzhou/lingbi/2022"}, headers={"X-CSRF-Token": csrf},
            )  # fmt: skip
        answer.raise_for_status()
        job = answer.json()["job_id"]
        while (view := client.get(f"/api/v1/jobs/{job}").json())["status"] not in ("done", "failed"):
            time.sleep(0.2)
        client.get(f"/api/v1/jobs/{job}/rows", params={"outcome": "rejected", "per_page": 50}).raise_for_status()
        return time.perf_counter() - started, view["result"] or {"error": view["error"]}
    finally:
        client.close()


def accounts(url: str, users: int, townships: list[str]) -> list[str]:
    """`users` accounts: even ones county_admin, odd ones a township user (townships in turn)."""
    engine = make_engine(url)
    names = []
    stamp = dt.datetime.now(dt.UTC)
    add_user(
        engine, username="minzheng", role="department", department="civil_affairs", password=PASSWORD,
        actor="benchmark", now=stamp,
    )  # fmt: skip
    for i in range(users):
        name = f"bench{i:02d}"
        if i % 2 == 0:
            add_user(engine, username=name, role="county_admin", password=PASSWORD, actor="benchmark", now=stamp)
        else:
            township = townships[(i // 2) % len(townships)]
            add_user(
                engine, username=name, role="township", township=township, password=PASSWORD, actor="benchmark",
                now=stamp,
            )  # fmt: skip
        names.append(name)
    engine.dispose()
    return names


def serve(url: str, port: int, workers: int, files: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CANBAO_DATABASE_URL": url, "CANBAO_TODAY": AS_OF.isoformat(), "CANBAO_FILES_DIR": str(files)}
    command = [sys.executable, "-m", "canbao.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return answering(server, lambda: httpx.get(f"http://127.0.0.1:{port}/login", timeout=1))


def answering(server: subprocess.Popen[bytes], probe: Callable[[], object]) -> subprocess.Popen[bytes]:
    """`server` once `probe` (a request to it) gets any answer, within 60 s; killed and the run ended otherwise."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            probe()
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer within 60 s")


def signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    answer = client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
    answer.raise_for_status()
    return client


def load(base: str, users: list[str], requests: int, names: list[str], id_numbers: list[str]) -> dict[str, list[float]]:
    """Every user's thread makes `requests` rounds of: the page, its data, a name search, an ID search."""
    timings: dict[str, list[float]] = {"工作台页面 GET /": [], "工作台数据 GET /api/v1/progress": [], "人员查询": []}
    lock = threading.Lock()
    clients = [signed_in(base, u) for u in users]
    start = threading.Barrier(len(clients))
    progress_path = f"/api/v1/progress?benefit_year={YEAR}&as_of={AS_OF.isoformat()}"

    def timed(kind: str, client: httpx.Client, path: str, params: dict[str, str] | None = None) -> None:
        started = time.perf_counter()
        answer = client.get(path, params=params)
        seconds = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"{path}: HTTP {answer.status_code} {answer.text[:200]}")
        with lock:
            timings[kind].append(seconds)

    def user(index: int, client: httpx.Client) -> None:
        rng = random.Random(index)
        start.wait()
        for _ in range(requests):
            timed("工作台页面 GET /", client, "/")
            timed("工作台数据 GET /api/v1/progress", client, progress_path)
            timed("人员查询", client, "/api/v1/persons", {"q": rng.choice(names)})
            timed("人员查询", client, "/api/v1/persons", {"q": rng.choice(id_numbers)})

    threads = [threading.Thread(target=user, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return timings


WRK_SCRIPT = """
local cookies = {%(cookies)s}
local paths = {%(paths)s}
math.randomseed(%(seed)d)
request = function()
  local headers = {}
  headers["Cookie"] = cookies[math.random(#cookies)]
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(95), latency.max))
end
"""


def wrk_load(base: str, users: list[str], seconds: int, kinds: dict[str, list[str]], folder: Path) -> None:
    """The same kinds of request sent by wrk (C, from a second process: the load costs the machine little),
    `len(users)` connections, each request with one of the users' session cookies, for `seconds` per kind."""
    cookies = []
    for u in users:
        client = signed_in(base, u)
        cookies.append(f"canbao_session={client.cookies['canbao_session']}")
        client.close()
    for kind, paths in kinds.items():
        lua = folder / "load.lua"
        lua.write_text(
            WRK_SCRIPT % {
                "cookies": ", ".join(f'"{c}"' for c in cookies),
                "paths": ", ".join('"' + q.replace('"', "") + '"' for q in paths),
                "seed": 7,
            },
            encoding="utf-8",
        )  # fmt: skip
        command = ["wrk", "-t", "2", "-c", str(len(users)), "-d", f"{seconds}s", "-s", str(lua), base]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("RESULT"))
        n, errors, p50, p95, slowest = (int(v) for v in line.split()[1:])
        print(
            f"  {kind} (wrk, {len(users)} connections, {seconds} s): {n:,} requests ({n / seconds:.0f}/s), "
            f"{errors} errors, p50 {p50 / 1000:.0f} ms, p95 {p95 / 1000:.0f} ms, slowest {slowest / 1000:.0f} ms"
        )


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_100_000)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--databases", default="postgresql")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=40, help="rounds per user (4 requests a round)")
    parser.add_argument("--list-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="canbao serve --workers")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="seconds of wrk load per kind (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        build_county("341323", args.persons, args.seed, folder / "county")
        columns = ["name", "id_number", "township"]
        population = pl.read_parquet(folder / "county" / "population.parquet", columns=columns)
        sample = population.sample(min(5_000, population.height), seed=args.seed)
        townships = sorted(population["township"].drop_nulls().unique().to_list())
        print(f"portal benchmark: {args.persons:,} persons (synth {time.perf_counter() - started:.1f} s)")
        for database in args.databases.split(","):
            with scratch_database(database, folder, PG_URL, "portal") as url:
                started = time.perf_counter()
                fill(url, folder / "county")
                users = accounts(url, args.users, townships)
                print(f"{database}: registry filled and {len(users)} accounts in {time.perf_counter() - started:.1f} s")
                port = free_port()
                server = serve(url, port, args.workers, folder / "files")
                base = f"http://127.0.0.1:{port}"
                try:
                    first = signed_in(base, users[0])
                    started = time.perf_counter()
                    first.get(f"/api/v1/progress?benefit_year={YEAR}&as_of={AS_OF.isoformat()}").raise_for_status()
                    print(f"  first dashboard view (computes the progress): {time.perf_counter() - started:.2f} s")
                    first.close()
                    started = time.perf_counter()
                    timings = load(base, users, args.requests, sample["name"].to_list(), sample["id_number"].to_list())
                    wall = time.perf_counter() - started
                    if shutil.which("wrk") and args.wrk_seconds:
                        from urllib.parse import quote

                        queries = [f"/api/v1/persons?q={quote(q)}" for q in sample["name"].to_list()[:500]]
                        queries += [f"/api/v1/persons?q={q}" for q in sample["id_number"].to_list()[:500]]
                        progress_path = f"/api/v1/progress?benefit_year={YEAR}&as_of={AS_OF.isoformat()}"
                        kinds = {"工作台页面 GET /": ["/"], "工作台数据 GET /api/v1/progress": [progress_path],
                                 "人员查询": queries}  # fmt: skip
                        wrk_load(base, users, args.wrk_seconds, kinds, folder)
                    listed = department_list(population, args.list_rows, folder / "低保名单.csv")
                    seconds, result = list_to_screen(base, "minzheng", listed)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                total = sum(len(v) for v in timings.values())
                print(f"  {len(users)} concurrent users, {total:,} requests in {wall:.1f} s ({total / wall:.0f}/s)")
                for kind, values in timings.items():
                    print(
                        f"  {kind}: {len(values):,} requests, p50 {p(values, 50) * 1000:.0f} ms, "
                        f"p95 {p(values, 95) * 1000:.0f} ms, slowest {max(values) * 1000:.0f} ms"
                    )
                print(
                    f"  a {args.list_rows:,}-row department list sent, validated and its rejected rows' first page "
                    f"read: {seconds:.1f} s (rows {result.get('rows_total')}, rejected {result.get('rejected')}, "
                    f"imported {result.get('committed')})"
                )


if __name__ == "__main__":
    main()
