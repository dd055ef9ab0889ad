"""用户管理 and 审计日志 through the JSON API (issue 14): the county administrator only, an administrator of a
county adds accounts of that county only, disabling ends the account; the audit log pages newest first and
holds no full ID number. On SQLite and PostgreSQL (staff and CSRF replaced: sessions are test_web_auth.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from canbao.ids import make_id_number
from canbao.services.access import Staff
from canbao.services.accounts import authenticate, list_users
from canbao.store.uow import audit
from conftest import TODAY
from web_support import Desk, desk_on

ADMIN = Staff(user_id=1, username="admin", role="county_admin", county="340322")
CLERK = Staff(user_id=2, username="clerk", role="township", county="340322", township="城关镇")
PASSWORD = "a-long-enough-password"


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    with desk_on(engine, tmp_path, TODAY) as d:
        yield d


def test_the_county_administrator_adds_lists_and_disables_accounts_of_their_county(
    desk: Desk, engine: Engine
) -> None:
    c = desk.as_(ADMIN)
    new = {"username": "weiji", "role": "township", "township": "韦集镇", "password": PASSWORD}
    added = c.post("/api/v1/users", json=new)
    assert added.status_code == 201 and added.json()["username"] == "weiji"
    assert [u.county for u in list_users(engine) if u.username == "weiji"] == ["340322"]  # the admin's county
    elsewhere = c.post("/api/v1/users", json=new | {"username": "other", "county": "341323"})
    assert elsewhere.status_code == 403 and "本县" in elsewhere.json()["detail"]
    taken = c.post("/api/v1/users", json=new)
    assert taken.status_code == 422 and taken.json()["field"] == "username"
    listed = c.get("/api/v1/users").json()["items"]
    assert [(u["username"], u["role_label"], u["disabled"]) for u in listed] == [("weiji", "乡镇（街道）", False)]
    assert "password_hash" not in listed[0]
    assert c.post("/api/v1/users/weiji/disable").status_code == 204
    assert c.get("/api/v1/users").json()["items"][0]["disabled"] is True
    with pytest.raises(Exception, match="停用"):
        authenticate(engine, "weiji", PASSWORD, address="127.0.0.1", now=dt.datetime.now(dt.UTC))
    assert c.post("/api/v1/users/nobody/disable").status_code == 403


def test_the_county_administrator_enables_an_account_again_and_resets_its_password(
    desk: Desk, engine: Engine
) -> None:
    c = desk.as_(ADMIN)
    new = {"username": "weiji", "role": "township", "township": "韦集镇", "password": PASSWORD}
    assert c.post("/api/v1/users", json=new).status_code == 201
    assert c.post("/api/v1/users/weiji/disable").status_code == 204
    assert c.post("/api/v1/users/weiji/enable").status_code == 204
    assert c.get("/api/v1/users").json()["items"][0]["disabled"] is False
    short = c.post("/api/v1/users/weiji/password", json={"password": "short"})
    assert short.status_code == 422 and short.json()["field"] == "password"
    assert c.post("/api/v1/users/weiji/password", json={"password": "another-long-password"}).status_code == 204
    now = dt.datetime.now(dt.UTC)
    assert authenticate(engine, "weiji", "another-long-password", address="127.0.0.1", now=now).username == "weiji"
    for what, body in (("enable", None), ("password", {"password": "another-long-password"})):
        assert c.post(f"/api/v1/users/nobody/{what}", json=body).status_code == 403
        assert desk.as_(CLERK).post(f"/api/v1/users/weiji/{what}", json=body).status_code == 403
    forged = c.post("/api/v1/users/weiji/password", json={"password": "x" * 12}, headers={"X-CSRF-Token": "no"})
    assert forged.status_code == 403


def test_other_roles_may_not_manage_accounts_or_read_the_audit_log(
    desk: Desk,
) -> None:
    c = desk.as_(CLERK)
    assert c.get("/api/v1/users").status_code == 403
    assert c.get("/api/v1/audit").status_code == 403
    added = c.post("/api/v1/users", json={"username": "x1", "role": "township", "township": "城关镇",
                                           "password": PASSWORD})  # fmt: skip
    assert added.status_code == 403 and "县医保局管理员" in added.json()["detail"]


def test_the_audit_log_pages_newest_first_filtered_and_without_full_id_numbers(
    desk: Desk, engine: Engine
) -> None:
    c = desk.as_(ADMIN)
    id_number = make_id_number("340322", dt.date(1980, 1, 1), 7)
    for i in range(5):
        audit(engine, "clerk", "person_view", f"person:{i}", "done", f"查看 {id_number}")
    audit(engine, "admin", "id_reveal", "person:1", "done", None)
    first = c.get("/api/v1/audit", params={"actor": "clerk", "limit": 3}).json()
    assert [line["subject"] for line in first["items"]] == ["person:4", "person:3", "person:2"]
    rest = c.get("/api/v1/audit", params={"actor": "clerk", "limit": 3, "before_id": first["next_before_id"]})
    assert [line["subject"] for line in rest.json()["items"]] == ["person:1", "person:0"]
    assert rest.json()["next_before_id"] is None
    everything = c.get("/api/v1/audit").text
    assert id_number not in everything and id_number[:6] in everything
    assert c.get("/api/v1/audit", params={"action": "id_reveal"}).json()["items"][0]["actor"] == "admin"
