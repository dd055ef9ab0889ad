"""名单报送 through the JSON API (issue 14): a department sends a list with a bad row, reads every row's result
page by page, downloads the feedback, imports only the valid rows or sends the fixed file; roles that may not
send a list, or see another's job, are refused. On SQLite and PostgreSQL.

The signed-in staff and the CSRF check are replaced here (dependency overrides): the session and CSRF tests
are tests/test_web_auth.py."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from canbao.ids import make_id_number
from canbao.services.access import Staff
from canbao.store.tables import identity_memberships
from conftest import TODAY
from web_support import Desk, desk_on

COUNTY = "340322"
POLICY = "anhui/bengbu/2022"
CIVIL = Staff(user_id=3, username="minzheng", role="department", department="civil_affairs")
HEALTH = Staff(user_id=4, username="weijian", role="department", department="health_commission")
TOWNSHIP = Staff(user_id=5, username="clerk", role="township", township="城关镇")
ADMIN = Staff(user_id=1, username="admin", role="county_admin")
PEOPLE = [make_id_number(COUNTY, dt.date(1950 + i, 1 + i % 12, 1 + i), i) for i in range(6)]


@pytest.fixture
def portal(engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    with desk_on(engine, tmp_path / "files", TODAY) as desk:
        yield desk


def csv_list(rows: list[tuple[str, str, str]]) -> bytes:
    lines = ["姓名,身份证号码,身份类别"] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def send(client: TestClient, body: bytes, name: str = "低保名单.csv", **form: Any) -> Any:
    files = {"file": (name, io.BytesIO(body), "text/csv")}
    return client.post("/api/v1/submissions/department_list", files=files, data={"policy": POLICY, **form})


def memberships(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(identity_memberships)).scalar_one())


def test_a_list_with_a_bad_row_is_answered_row_by_row_then_imported_valid_rows_only(portal: Desk) -> None:
    client = portal.as_(CIVIL)
    bad = PEOPLE[2][:-1] + ("0" if PEOPLE[2][-1] != "0" else "1")
    rows = [("张一", PEOPLE[0], "低保对象"), ("李二", PEOPLE[1], "特困人员"), ("王三", bad, "低保对象")]
    answer = send(client, csv_list(rows), county=COUNTY)
    assert answer.status_code == 202
    view = portal.finished(answer)
    result = view["result"]
    assert view["status"] == "done" and result["committed"] is False
    assert (result["rows_total"], result["accepted"], result["rejected"]) == (3, 2, 1)
    assert memberships(portal.engine) == 0  # all or nothing: nothing written
    assert "反馈文件" not in result["summary"] and "/" not in result["summary"]  # no server path
    job = view["job_id"]
    refused = client.get(f"/api/v1/jobs/{job}/rows", params={"outcome": "rejected"}).json()
    assert refused["total"] == 1 and refused["items"][0]["row_number"] == 4
    assert refused["items"][0]["outcome_label"] == "退回" and "校验" in refused["items"][0]["reason"]
    assert refused["items"][0]["id_number"] == bad[:6] + "********" + bad[-4:]  # masked on the page
    first = client.get(f"/api/v1/jobs/{job}/rows", params={"page": 1, "per_page": 2}).json()
    second = client.get(f"/api/v1/jobs/{job}/rows", params={"page": 2, "per_page": 2}).json()
    assert [r["row_number"] for r in first["items"] + second["items"]] == [2, 3, 4]
    feedback = client.get(f"/api/v1/jobs/{job}/files/{result['files'][0]}")
    assert feedback.status_code == 200 and result["files"][0] == "低保名单_反馈.xlsx"
    sheet = load_workbook(io.BytesIO(feedback.content))["反馈"]
    assert sheet.max_row == 4  # the header and the three rows, for the department to fix its file
    valid_only = client.post(f"/api/v1/jobs/{job}/import-valid")
    assert valid_only.status_code == 202
    done = portal.finished(valid_only)["result"]
    assert done["committed"] is True and done["accepted"] == 2
    assert memberships(portal.engine) == 2
    replay = client.post(f"/api/v1/jobs/{job}/import-valid")  # the file once more: a replay
    assert replay.status_code == 202
    portal.finished(replay)  # ended before the test's database is dropped
    again = client.post(f"/api/v1/jobs/{valid_only.json()['job_id']}/import-valid")
    assert again.status_code == 422 and "整批未导入" in again.json()["detail"]


def test_the_fixed_file_sent_again_is_imported_whole(portal: Desk) -> None:
    client = portal.as_(CIVIL)
    rows = [("张一", PEOPLE[3], "低保对象"), ("李二", PEOPLE[4], "不存在的身份")]
    first = portal.finished(send(client, csv_list(rows), county=COUNTY))
    assert first["result"]["committed"] is False
    fixed = [("张一", PEOPLE[3], "低保对象"), ("李二", PEOPLE[4], "特困人员")]
    second = portal.finished(send(client, csv_list(fixed), county=COUNTY))
    assert second["result"]["committed"] is True and second["result"]["accepted"] == 2


def test_who_may_send_and_see_a_list(portal: Desk) -> None:
    body = csv_list([("张一", PEOPLE[5], "低保对象")])
    refused = send(portal.as_(TOWNSHIP), body, county=COUNTY)
    assert refused.status_code == 403 and "不能报送" in refused.json()["detail"]
    other_department = send(portal.as_(CIVIL), body, county=COUNTY, department="health_commission")
    assert other_department.status_code == 403
    job = portal.finished(send(portal.as_(CIVIL), body, county=COUNTY))["job_id"]
    assert portal.as_(HEALTH).get(f"/api/v1/jobs/{job}").status_code == 404
    assert portal.as_(HEALTH).get(f"/api/v1/jobs/{job}/rows").status_code == 404
    assert portal.as_(HEALTH).get(f"/api/v1/jobs/{job}/files/低保名单_反馈.xlsx").status_code == 404
    assert portal.as_(ADMIN).get(f"/api/v1/jobs/{job}").json()["actor"] == "minzheng"
    assert portal.as_(CIVIL).get(f"/api/v1/jobs/{job}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404
    choices = portal.as_(CIVIL).get("/api/v1/submissions").json()
    assert [k["kind"] for k in choices["kinds"]] == ["department_list"]
    assert portal.as_(TOWNSHIP).get("/api/v1/submissions").json()["kinds"] == []


def test_a_missing_form_field_is_named_in_chinese(portal: Desk) -> None:
    answer = portal.as_(CIVIL).post("/api/v1/submissions/department_list", data={"policy": POLICY})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "缺少提交内容中的 file", "field": "file"}
