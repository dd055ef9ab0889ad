"""A server stopped while a job runs (issue 14): the process serving the portal is killed (SIGKILL) while a
roster of 20,000 persons is being written; the next runner fails the job as interrupted, nothing of the
roster is in the registry, and the job rerun imports it whole. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from canbao.ids import make_id_number
from canbao.services.access import Staff
from canbao.services.jobs import INTERRUPTED, JobRunner, job_status
from canbao.store.db import make_engine
from canbao.store.tables import persons
from canbao.web.job_kinds import KINDS

ADMIN = Staff(user_id=1, username="admin", role="county_admin", county="341323")
ROWS = 20_000

# The serving process: a runner with the portal's job kinds, whose progress is also printed, so that the test
# kills it at a known stage and not at a guessed moment.
VICTIM = """
import datetime as dt, json, sys, time
from pathlib import Path
from canbao.services.access import Staff
from canbao.services.jobs import JobKind, JobRunner
from canbao.store.db import make_engine
from canbao.web.job_kinds import KINDS

url, folder, params = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
work = KINDS["submission"].work

def loud(context):
    def progress(done, total, stage):
        sys.stdout.write(f"{stage}\\n")  # one write a line: print() writes the end apart, and two threads print here
        context.progress(done, total, stage)
    return work(type(context)(context.engine, context.staff, context.params, context.today, context.folder, progress))

runner = JobRunner(make_engine(url), {"submission": JobKind("名单报送", loud)}, folder, lambda: dt.datetime.now(dt.UTC))
runner.start()
staff = Staff(user_id=1, username="admin", role="county_admin", county="341323")
job_id = runner.submit("submission", staff, params, dt.date(2021, 12, 20))
sys.stdout.write(f"job {job_id}\\n")
time.sleep(600)
"""


def roster(path: Path) -> Path:
    lines = ["姓名,身份证号码,乡镇,村"]
    for i in range(ROWS):
        birth = dt.date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
        lines.append(f"居民{i},{make_id_number('341323', birth, i % 1000)},灵城镇,城东社区")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def registered(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(persons)).scalar_one())
    finally:
        engine.dispose()


def test_a_job_cut_off_by_a_restart_wrote_nothing_is_failed_and_reruns_whole(database_url: str, tmp_path: Path) -> None:
    params = {
        "submission": {"kind": "roster", "county": "341323", "policy_id": None, "department": None, "school": None,
                       "benefit_year": 2021},
        "path": str(roster(tmp_path / "上年度参保名册.csv")), "file_name": "上年度参保名册.csv", "accept_valid": False,
    }  # fmt: skip
    jobs_folder = tmp_path / "jobs"
    victim = subprocess.Popen(
        [sys.executable, "-c", VICTIM, database_url, str(jobs_folder), json.dumps(params, ensure_ascii=False)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert victim.stdout is not None
    job_id = None
    try:
        for line in victim.stdout:
            if line.startswith("job "):
                job_id = int(line.split()[1])
            if line.strip() == "写入数据库":  # the rows are being written: cut the server off here
                victim.send_signal(signal.SIGKILL)
                break
    finally:
        victim.kill()
        victim.wait()
    assert job_id is not None
    assert registered(database_url) == 0  # nothing half-written

    engine = make_engine(database_url)
    runner = JobRunner(engine, KINDS, jobs_folder, lambda: dt.datetime.now(dt.UTC), stale_after=dt.timedelta(0))
    try:
        runner.start()
        view = job_status(engine, ADMIN, job_id)
        assert (view["status"], view["error"]) == ("failed", INTERRUPTED)
        again = runner.rerun(ADMIN, job_id)
        deadline = time.monotonic() + 120
        while job_status(engine, ADMIN, again)["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
        result = job_status(engine, ADMIN, again)
        assert result["status"] == "done" and result["result"]["committed"] is True, result
    finally:
        runner.shutdown()
        engine.dispose()
    assert registered(database_url) == ROWS
