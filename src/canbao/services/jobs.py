"""Background jobs (issue 14): long work — a million-row list, season open, a payment file, reconciliation —
runs on a worker thread of the serving process; the request that starts it returns at once with the job's id,
and the page follows the job's progress from the `jobs` table, whether or not the browser stays open.

A job is queued → running → done | failed, with its progress (steps done of a total, and the stage in
Chinese), its result (JSON) or its error (the refusal's Chinese message, or an internal error's reference).
The work a job does is a use case that commits whole or not at all, so a job stopped half-way — the server
restarted, the machine lost power — has written nothing: when a runner starts it marks every job whose
runner is gone (no heartbeat for `STALE_AFTER`) as failed with 服务器重启，任务中断，未写入任何数据，可重新运行,
and runs again the jobs still queued. `rerun` queues a failed job's work anew.

Why not a job library: none keeps its queue on both the embedded SQLite and PostgreSQL through the
SQLAlchemy engine the rest of canbao uses. procrastinate is PostgreSQL only; huey's SQL storage goes
through peewee (a second ORM and pool, with tables made outside the migrations and the PostgreSQL app role's
grants); RQ, dramatiq and Celery need Redis or RabbitMQ, which a county's machine does not run; APScheduler 3
stores schedules, not progress or results, and drops a one-off job from its store when it starts. What is
left to write is small: a table, a claim by conditional UPDATE, a heartbeat, and a thread pool
(concurrent.futures) that does the running.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, desc, insert, or_, select, update

from canbao.errors import CanbaoError
from canbao.services.access import OutOfArea, Staff
from canbao.store.tables import jobs

STALE_AFTER = dt.timedelta(seconds=60)  # a running job whose runner has not beaten for this long is orphaned
HEARTBEAT_SECONDS = 2.0  # a running job's progress reaches the table (and other serving processes) this often
SWEEP_EVERY = 15  # heartbeats between two sweeps for orphaned jobs (30 s, well within STALE_AFTER)
INTERRUPTED = "服务器重启，任务中断，未写入任何数据，可重新运行"
_LIVE: dict[int, tuple[int, int, str]] = {}  # the progress of the jobs running in this process
_LIVE_LOCK = threading.Lock()
STATUS_LABELS = {"queued": "排队中", "running": "运行中", "done": "已完成", "failed": "失败"}


@dataclass(frozen=True)
class JobContext:
    """What a job's work is handed: the engine, who started it, its parameters, the campaign's day, where its
    files go, and `progress(done, total, stage)`."""

    engine: Engine
    staff: Staff
    params: dict[str, Any]
    today: dt.date
    folder: Path
    progress: Callable[[int, int, str], None]


JobWork = Callable[[JobContext], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    label: str  # 名单导入, 开征, …
    work: JobWork
    interrupted: str = INTERRUPTED  # what a job cut off by a restart left (a payment file keeps its whole chunks)


@dataclass
class JobRunner:
    """Runs the jobs of one serving process. `kinds` maps a job kind to its work; `folder` holds each job's
    files (folder/<id>/); `clock` gives aware UTC times."""

    engine: Engine
    kinds: dict[str, JobKind]
    folder: Path
    clock: Callable[[], dt.datetime]
    workers: int = 1
    stale_after: dt.timedelta = STALE_AFTER
    runner_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _pool: ThreadPoolExecutor | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _running: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Fail the orphaned jobs, start the workers and the heartbeat, run the jobs still queued (once)."""
        with self._lock:
            if self._pool is not None:
                return
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="canbao-job")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sweep()
        with self.engine.connect() as c:
            queued = c.execute(select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.id)).scalars().all()
        threading.Thread(target=self._beat, name="canbao-job-heartbeat", daemon=True).start()
        for job_id in queued:
            self._pool.submit(self._run, job_id)

    def sweep(self) -> int:
        """Fail the running jobs of other runners that stopped beating (a restart, a crash); how many. Run at the
        start and every SWEEP_EVERY heartbeats, so a job cut off by a quick restart is failed within a minute and
        a half."""
        now = self.clock()
        stale = or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < now - self.stale_after)
        orphaned = and_(jobs.c.status == "running", jobs.c.runner != self.runner_id, stale)
        swept = 0
        with self.engine.begin() as c:
            for name, kind in self.kinds.items():
                swept += c.execute(
                    update(jobs)
                    .where(orphaned, jobs.c.kind == name)
                    .values(status="failed", error=kind.interrupted, finished_at=now)
                ).rowcount
            swept += c.execute(  # a kind this runner does not know (an older version's)
                update(jobs)
                .where(orphaned, jobs.c.kind.not_in(list(self.kinds)))
                .values(status="failed", error=INTERRUPTED, finished_at=now)
            ).rowcount
        return swept

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def submit(self, kind: str, staff: Staff, params: dict[str, Any], today: dt.date) -> int:
        """Queue a job of `kind` for `staff`; returns its id at once."""
        if kind not in self.kinds:
            raise CanbaoError(f"未知的任务类型：{kind}")
        with self.engine.begin() as c:
            job_id: int = c.execute(
                insert(jobs)
                .values(
                    kind=kind, status="queued", params=json.dumps(params, ensure_ascii=False), today=today,
                    user_id=staff.user_id, actor=staff.actor, staff=json.dumps(dataclasses.asdict(staff)),
                    created_at=self.clock(), done_steps=0, total_steps=0,
                )
                .returning(jobs.c.id)
            ).scalar_one()  # fmt: skip
        self.start()
        assert self._pool is not None
        self._pool.submit(self._run, job_id)
        return job_id

    def rerun(self, staff: Staff, job_id: int) -> int:
        """A failed job's work queued again as a new job."""
        row = _visible_job(self.engine, staff, job_id)
        if row["status"] != "failed":
            raise CanbaoError("只有失败的任务可以重新运行")
        return self.submit(row["kind"], staff, json.loads(row["params"]), row["today"])

    # ------------------------------------------------------------------------------------------ running

    def _claim(self, job_id: int) -> dict[str, Any] | None:
        now = self.clock()
        with self.engine.begin() as c:
            claimed = c.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="running", runner=self.runner_id, started_at=now, heartbeat_at=now)
            ).rowcount
            if claimed != 1:  # another runner has it, or it was failed meanwhile
                return None
            row = c.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
        return dict(row)

    def _run(self, job_id: int) -> None:
        row = self._claim(job_id)
        if row is None:
            return
        with self._lock:
            self._running.add(job_id)

        def progress(done: int, total: int, stage: str) -> None:
            # Kept in memory, not written: the work's own transaction may hold SQLite's one write lock, and a
            # write here would wait on it. The heartbeat writes the latest progress when it can.
            with _LIVE_LOCK:
                _LIVE[job_id] = (done, total, stage[:200])

        folder = self.folder / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        staff = _staff_of(row)
        context = JobContext(self.engine, staff, json.loads(row["params"]), row["today"], folder, progress)
        try:
            result = self.kinds[row["kind"]].work(context)
            values: dict[str, Any] = {"status": "done", "result": json.dumps(result, ensure_ascii=False, default=str)}
        except CanbaoError as exc:
            values = {"status": "failed", "error": str(exc)}
        except Exception as exc:  # a bug: the frames to the error log, the page gets the reference
            from canbao.errorlog import record

            values = {"status": "failed", "error": f"内部错误（编号 {record(exc)}），已记录；请联系管理员"}
        finally:
            with self._lock:
                self._running.discard(job_id)
        with _LIVE_LOCK:
            live = _LIVE.get(job_id)
        if live is not None:
            values |= {"done_steps": live[0], "total_steps": live[1], "stage": live[2]}
        with self.engine.begin() as c:
            c.execute(update(jobs).where(jobs.c.id == job_id).values(finished_at=self.clock(), **values))
        with _LIVE_LOCK:
            _LIVE.pop(job_id, None)

    def _beat(self) -> None:
        beats = 0
        while not self._stop.wait(HEARTBEAT_SECONDS):
            beats += 1
            with self._lock:
                running = sorted(self._running)
            try:
                if running:  # an idle server writes nothing
                    with _LIVE_LOCK:
                        live = {job_id: _LIVE[job_id] for job_id in running if job_id in _LIVE}
                    with self.engine.begin() as c:
                        for job_id in running:
                            values: dict[str, Any] = {"heartbeat_at": self.clock()}
                            if job_id in live:
                                done, total, stage = live[job_id]
                                values |= {"done_steps": done, "total_steps": total, "stage": stage}
                            c.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
                if beats % SWEEP_EVERY == 0:
                    self.sweep()
            except Exception:  # a busy database: the next beat comes well within STALE_AFTER
                pass


def _staff_of(row: Any) -> Staff:
    """The job's starter with the role and area they had when they queued it: the work is scoped by it."""
    return Staff(**json.loads(row["staff"]))


# ---------------------------------------------------------------------------------------------- reading


def _visible_job(engine: Engine, staff: Staff, job_id: int) -> dict[str, Any]:
    """A job its starter or a county role may see (a township user does not see another's jobs)."""
    with engine.connect() as c:
        row = c.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None or not (row["user_id"] == staff.user_id or staff.county_wide):
        raise OutOfArea("任务")
    return dict(row)


def job_view(row: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it: a job running in this process with its progress of this moment."""
    with _LIVE_LOCK:
        live = _LIVE.get(row["id"]) if row["status"] == "running" else None
    if live is not None:
        row = row | {"done_steps": live[0], "total_steps": live[1], "stage": live[2]}
    return {
        "job_id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "status_label": STATUS_LABELS[row["status"]],
        "done": row["done_steps"],
        "total": row["total_steps"],
        "stage": row["stage"],
        "result": json.loads(row["result"]) if row["result"] else None,
        "error": row["error"],
        "actor": row["actor"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
    }


def job_status(engine: Engine, staff: Staff, job_id: int) -> dict[str, Any]:
    return job_view(_visible_job(engine, staff, job_id))


def job_params(engine: Engine, staff: Staff, job_id: int) -> dict[str, Any]:
    """What a job was started with (to start its work again with a change, e.g. only the valid rows)."""
    params: dict[str, Any] = json.loads(_visible_job(engine, staff, job_id)["params"])
    return params


def recent_jobs(engine: Engine, staff: Staff, limit: int = 20) -> list[dict[str, Any]]:
    query = select(jobs).order_by(desc(jobs.c.id)).limit(limit)
    if not staff.county_wide:
        query = query.where(jobs.c.user_id == staff.user_id)
    with engine.connect() as c:
        return [job_view(dict(r)) for r in c.execute(query).mappings()]
