"""Background jobs (services.jobs, issue 14): queued → running → done or failed, progress readable while it
runs, a restart fails what was cut off and runs what was queued, and a job is seen only by its starter and the
county roles. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from canbao.errors import CanbaoError
from canbao.services.access import OutOfArea, Staff
from canbao.services.jobs import INTERRUPTED, STALE_AFTER, JobContext, JobKind, JobRunner, job_status, recent_jobs
from canbao.store.tables import jobs

TODAY = dt.date(2026, 11, 23)
CLERK = Staff(user_id=7, username="clerk", role="township", township="城关镇")
OTHER = Staff(user_id=8, username="other", role="township", township="杨疃镇")
ADMIN = Staff(user_id=1, username="admin", role="county_admin")
release = threading.Event()


def counting(context: JobContext) -> dict[str, Any]:
    total = int(context.params["n"])
    for i in range(total):
        context.progress(i + 1, total, f"第 {i + 1} 步")
    (context.folder / "out.txt").write_text("ok", encoding="utf-8")
    return {"counted": total, "township": context.staff.township}


def waiting(context: JobContext) -> dict[str, Any]:
    context.progress(1, 2, "等待中")
    release.wait(20)
    return {}


def refusing(context: JobContext) -> dict[str, Any]:
    raise CanbaoError("名单第 3 行：身份证号码校验位不对")


def buggy(context: JobContext) -> dict[str, Any]:
    raise ZeroDivisionError("secret 341323199001011234")


KINDS = {
    name: JobKind(name, work)
    for name, work in (("count", counting), ("wait", waiting), ("refuse", refusing), ("bug", buggy))
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def runner(engine: Engine, folder: Path) -> JobRunner:
    r = JobRunner(engine, KINDS, folder, utc_now)
    r.start()
    return r


def finished(engine: Engine, staff: Staff, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = job_status(engine, staff, job_id)
        if view["status"] in ("done", "failed"):
            return view
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_runs_to_done_with_its_result_progress_and_files(engine: Engine, tmp_path: Path) -> None:
    r = runner(engine, tmp_path)
    try:
        job_id = r.submit("count", CLERK, {"n": 5}, TODAY)
        view = finished(engine, CLERK, job_id)
    finally:
        r.shutdown()
    assert view["status"] == "done" and view["status_label"] == "已完成"
    assert view["result"] == {"counted": 5, "township": "城关镇"}
    assert (view["done"], view["total"]) == (5, 5)  # the last step is always written
    assert (tmp_path / str(job_id) / "out.txt").read_text(encoding="utf-8") == "ok"
    assert [j["job_id"] for j in recent_jobs(engine, CLERK)] == [job_id]


def test_progress_is_readable_while_the_job_runs(engine: Engine, tmp_path: Path) -> None:
    release.clear()
    r = runner(engine, tmp_path)
    try:
        job_id = r.submit("wait", CLERK, {}, TODAY)
        deadline = time.monotonic() + 20
        while job_status(engine, CLERK, job_id)["stage"] != "等待中" and time.monotonic() < deadline:
            time.sleep(0.05)
        view = job_status(engine, CLERK, job_id)
        assert (view["status"], view["done"], view["total"]) == ("running", 1, 2)
        release.set()
        assert finished(engine, CLERK, job_id)["status"] == "done"
    finally:
        release.set()
        r.shutdown()


def test_a_refusal_fails_the_job_with_its_chinese_message_and_a_bug_with_a_reference_only(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANBAO_LOG_FILE", str(tmp_path / "errors.log"))
    r = runner(engine, tmp_path)
    try:
        refused = finished(engine, CLERK, r.submit("refuse", CLERK, {}, TODAY))
        bug = finished(engine, CLERK, r.submit("bug", CLERK, {}, TODAY))
    finally:
        r.shutdown()
    assert refused["status"] == "failed" and refused["error"] == "名单第 3 行：身份证号码校验位不对"
    assert bug["status"] == "failed" and bug["error"].startswith("内部错误（编号 ")
    assert "341323199001011234" not in json.dumps(bug) + (tmp_path / "errors.log").read_text(encoding="utf-8")


def _orphan(engine: Engine, status: str, heartbeat: dt.datetime | None) -> int:
    with engine.begin() as c:
        job_id: int = c.execute(
            insert(jobs)
            .values(
                kind="count", status=status, params=json.dumps({"n": 2}), today=TODAY, user_id=CLERK.user_id,
                actor=CLERK.actor, staff=json.dumps({"user_id": 7, "username": "clerk", "role": "township",
                                                      "township": "城关镇"}),
                runner=None if status == "queued" else "gone", done_steps=0, total_steps=0, created_at=utc_now(),
                heartbeat_at=heartbeat,
            )
            .returning(jobs.c.id)
        ).scalar_one()  # fmt: skip
    return job_id


def test_a_restart_fails_the_job_it_cut_off_and_runs_the_queued_ones(engine: Engine, tmp_path: Path) -> None:
    cut_off = _orphan(engine, "running", utc_now() - STALE_AFTER - dt.timedelta(seconds=1))
    alive = _orphan(engine, "running", utc_now())  # another runner still beating: left alone
    queued = _orphan(engine, "queued", None)
    r = runner(engine, tmp_path)
    try:
        assert finished(engine, CLERK, queued)["result"] == {"counted": 2, "township": "城关镇"}
        view = job_status(engine, CLERK, cut_off)
        assert (view["status"], view["error"]) == ("failed", INTERRUPTED)
        assert job_status(engine, CLERK, alive)["status"] == "running"
        rerun = r.rerun(CLERK, cut_off)
        assert finished(engine, CLERK, rerun)["status"] == "done"
        with pytest.raises(CanbaoError, match="只有失败的任务"):
            r.rerun(CLERK, queued)
    finally:
        r.shutdown()


def test_a_job_is_seen_by_its_starter_and_the_county_roles_only(engine: Engine, tmp_path: Path) -> None:
    r = runner(engine, tmp_path)
    try:
        job_id = r.submit("count", CLERK, {"n": 1}, TODAY)
        finished(engine, CLERK, job_id)
        assert job_status(engine, ADMIN, job_id)["job_id"] == job_id
        with pytest.raises(OutOfArea):
            job_status(engine, OTHER, job_id)
        with pytest.raises(OutOfArea):
            r.rerun(OTHER, job_id)
        assert recent_jobs(engine, OTHER) == []
        with engine.connect() as c:
            assert c.execute(select(jobs.c.actor).where(jobs.c.id == job_id)).scalar_one() == "clerk"
    finally:
        r.shutdown()
