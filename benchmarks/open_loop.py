"""An open-loop load: raw HTTP/1.1 requests sent at a fixed rate, whatever the server's answers take.

wrk (closed loop) sends a connection's next request only when the last is answered: it measures the most a
server can take, and at that point every latency is the queue's (Little's law: 32 connections at 1,000/s
wait 32 ms on average).  A channel's notifications do not wait for canbao's answers: they arrive at the rate
the payments succeed.  Here request k is due at `start + k / rate`; it goes on the first free connection of
the pool (`connections`, kept alive), and its latency runs from when it was due to when its answer is read,
so a stall of the server counts for every request it held back (no "coordinated omission", as wrk2 does it).

Written with asyncio streams on uvloop: wrk2, which does this in C, is in no registry this machine reaches;
the load is light at these rates (a few percent of a core at 1,000/s, printed beside the figures).
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class OpenLoopResult:
    offered: float  # requests a second asked for
    sent: int
    answered: int
    statuses: Counter[int]
    latencies_ms: list[float]  # sorted, from each request's due time
    seconds: float
    cpu_seconds: float  # the load generator's own CPU time
    worst_by_second: dict[int, float]  # the second of the run a request was due in → its slowest latency, ms

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return self.latencies_ms[min(len(self.latencies_ms) - 1, int(len(self.latencies_ms) * p / 100))]

    @property
    def rate(self) -> float:
        return self.answered / self.seconds


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    host: str, port: int, requests: list[bytes], rate: float, seconds: float, connections: int
) -> OpenLoopResult:
    count = min(len(requests), int(rate * seconds))
    due: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    worst: dict[int, float] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await due.get()) is not None:
                at, request = item
                try:
                    writer.write(request)
                    status = await _read_answer(reader)
                except (OSError, asyncio.IncompleteReadError):
                    statuses[0] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latency = (time.perf_counter() - at) * 1000
                latencies.append(latency)
                statuses[status] += 1
                second = int(at - start)
                worst[second] = max(worst.get(second, 0.0), latency)
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # the connections open before the clock starts
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()  # (read by the connections once requests are due)
    k = 0
    while k < count:
        now = time.perf_counter()
        while k < count and start + k / rate <= now:
            due.put_nowait((start + k / rate, requests[k]))
            k += 1
        await asyncio.sleep(0.001)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return OpenLoopResult(rate, count, len(latencies), statuses, sorted(latencies), elapsed, cpu_seconds, worst)


def open_loop(
    host: str, port: int, requests: list[bytes], *, rate: float, seconds: float, connections: int = 64
) -> OpenLoopResult:
    """`requests` (raw, in order) sent at `rate` a second for `seconds` (fewer if the list is shorter)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # Windows
        runner = asyncio.run
    return runner(_run(host, port, requests, rate, seconds, connections))


def describe(result: OpenLoopResult) -> str:
    answers = ", ".join(f"{s or 'no answer'}: {n:,}" for s, n in sorted(result.statuses.items()))
    return (
        f"offered {result.offered:,.0f}/s for {result.seconds:.0f} s: {result.answered:,} answered ({answers}), "
        f"ack p50 {result.percentile(50):.1f} ms, p99 {result.percentile(99):.1f} ms, "
        f"max {result.latencies_ms[-1] if result.latencies_ms else float('nan'):.0f} ms "
        f"(the load's own CPU {result.cpu_seconds / result.seconds:.0%} of a core, {os.cpu_count()} cores); "
        f"the slowest seconds: "
        + ", ".join(f"{s} s: {ms:.0f} ms" for s, ms in sorted(result.worst_by_second.items(), key=lambda x: -x[1])[:5])
    )
