"""`Deliverer`: sends notifications to `{base_url}/notify/{kind}/{name}` as the channel does — POST, the
answer read as the channel reads it (schedule.acknowledged), and on anything else a retry on the channel's
published schedule (schedule.SCHEDULES) until acknowledged or the schedule is spent.

`time_scale` shrinks the waits (0.001: WeChat Pay's 24 h 4 min in about 87 s; 0 none at all); `clock` is the
real time the signatures are made at (a WeChat Pay retry is signed anew when it is sent); `sleep` waits. Both
can be injected for tests. Deliveries run in a thread pool; each one's attempts and answers are recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from canbao.simulator.channel import Notification
from canbao.simulator.schedule import SCHEDULES, Schedule, acknowledged

Clock = Callable[[], dt.datetime]
ANSWER_KEPT = 200  # characters of an answer's body recorded


def real_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Attempt:
    number: int  # 1 for the first
    sent_at: dt.datetime  # the real time (the signature's)
    channel_offset: dt.timedelta  # when, on the channel's schedule, from the first attempt
    status: int | None  # None: no answer (refused connection, timeout)
    answer: str  # the answer's body, cut to ANSWER_KEPT characters; or the network error's name
    acknowledged: bool
    elapsed_ms: float


@dataclass
class Delivery:
    notification: Notification
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].acknowledged

    @property
    def statuses(self) -> list[int | None]:
        return [a.status for a in self.attempts]


class Deliverer:
    def __init__(
        self,
        base_url: str,
        *,
        time_scale: float = 1.0,
        clock: Clock = real_clock,
        sleep: Callable[[float], None] = time.sleep,
        workers: int = 8,
        max_attempts: int | None = None,
        transport: httpx.BaseTransport | None = None,
        schedules: dict[str, Schedule] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        """`client`: an httpx client to send with (e.g. a FastAPI TestClient of canbao's app; `base_url` is then
        that client's, "http://testserver"); it is not closed here."""
        if time_scale < 0:
            raise ValueError("time_scale must not be negative")
        self.base_url = base_url.rstrip("/")
        self.time_scale, self.clock, self.sleep = time_scale, clock, sleep
        self.max_attempts = max_attempts
        self.schedules = schedules or SCHEDULES
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        self._own_client = client is None
        self._client = client or httpx.Client(transport=transport, limits=limits)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="canbao-sim")
        self._stopped = threading.Event()
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ one attempt

    def send_once(self, n: Notification, *, number: int = 1, offset: dt.timedelta | None = None) -> Attempt:
        """One POST of `n`, signed (WeChat Pay) at the clock's time; never raises for the network."""
        schedule = self.schedules[n.kind]
        sent_at = self.clock()
        headers, body = n.request(sent_at)
        started = time.perf_counter()
        try:
            r = self._client.post(
                self.base_url + n.path, content=body, headers=headers, timeout=schedule.timeout.total_seconds()
            )
        except httpx.HTTPError as exc:
            ms = (time.perf_counter() - started) * 1000
            return Attempt(number, sent_at, offset or dt.timedelta(), None, type(exc).__name__, False, ms)
        ms = (time.perf_counter() - started) * 1000
        ok = acknowledged(n.kind, r.status_code, r.content)
        answer = r.content.decode("utf-8", "replace")[:ANSWER_KEPT]
        return Attempt(number, sent_at, offset or dt.timedelta(), r.status_code, answer, ok, ms)

    # ------------------------------------------------------------------------------------------ with retries

    def deliver(self, n: Notification) -> Delivery:
        """Send `n` and retry on its channel's schedule until acknowledged (in this thread)."""
        schedule = self.schedules[n.kind]
        delivery = Delivery(n)
        with self._lock:
            self.deliveries.append(delivery)
        offsets = schedule.offsets()
        limit = min(len(offsets), self.max_attempts or len(offsets))
        for i in range(limit):
            if i:
                wait = (offsets[i] - offsets[i - 1]).total_seconds() * self.time_scale
                if wait > 0:
                    self.sleep(wait)
                if self._stopped.is_set():
                    break
            attempt = self.send_once(n, number=i + 1, offset=offsets[i])
            delivery.attempts.append(attempt)
            if attempt.acknowledged:
                break
        return delivery

    def submit(self, n: Notification) -> Future[Delivery]:
        return self._pool.submit(self.deliver, n)

    def deliver_all(self, notifications: Iterable[Notification]) -> list[Delivery]:
        """Deliver every notification concurrently (the pool's workers); the deliveries in the given order."""
        futures = [self.submit(n) for n in notifications]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop retrying (waits already begun finish), wait for the pool and close the connections."""
        self._stopped.set()
        self._pool.shutdown(wait=True)
        if self._own_client:
            self._client.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


async def send_each_once(
    base_url: str,
    notifications: Iterable[Notification],
    *,
    concurrency: int = 64,
    clock: Clock = real_clock,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[Attempt]:
    """One attempt of each notification, `concurrency` in flight at once (asyncio; for a load generator in a
    process of its own — presign the notifications first, SimulatedChannel.presigned). The attempts in the
    given order; no retries (a caller retries what was not acknowledged, e.g. with a Deliverer)."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    base = base_url.rstrip("/")
    async with httpx.AsyncClient(transport=transport, limits=limits) as client:

        async def one(n: Notification) -> Attempt:
            schedule = SCHEDULES[n.kind]
            async with gate:
                sent_at = clock()
                headers, body = n.request(sent_at)
                started = time.perf_counter()
                try:
                    r = await client.post(
                        base + n.path, content=body, headers=headers, timeout=schedule.timeout.total_seconds()
                    )
                except httpx.HTTPError as exc:
                    ms = (time.perf_counter() - started) * 1000
                    return Attempt(1, sent_at, dt.timedelta(), None, type(exc).__name__, False, ms)
                ms = (time.perf_counter() - started) * 1000
            ok = acknowledged(n.kind, r.status_code, r.content)
            answer = r.content.decode("utf-8", "replace")[:ANSWER_KEPT]
            return Attempt(1, sent_at, dt.timedelta(), r.status_code, answer, ok, ms)

        return list(await asyncio.gather(*(one(n) for n in notifications)))
