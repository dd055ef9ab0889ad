"""The portal's login, sessions and CSRF over HTTP (issue 14): cookie flags, throttling, idle and absolute
expiry, disabled users, logout, the Origin check and the audit log — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pytest
from fastapi import Depends, Form
from sqlalchemy import Engine, select

from canbao.bootstrap import Settings
from canbao.errors import CanbaoError
from canbao.ids import make_id_number
from canbao.services.access import Staff
from canbao.services.accounts import ACCOUNT_FAILURES, ADDRESS_FAILURES, disable_user
from canbao.store.tables import audit_log, users
from canbao.web.deps import csrf_checked, page_staff
from web_support import Portal, add_staff, fast_hashes, login

LOGIN = "/api/v1/login"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_hashes(monkeypatch)


@pytest.fixture
def portal(engine: Engine) -> Portal:
    return Portal(engine)


def test_login_sets_a_strict_httponly_cookie_and_answers_the_csrf_token(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "village", township="灵城镇", village="东关社区")
    answer = portal.client.post(LOGIN, json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"username", "role", "area", "csrf_token"}
    assert (body["username"], body["role"], body["area"]) == (username, "village", "村（社区） · 灵城镇 东关社区")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("canbao_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert portal.client.get("/api/v1/me").json() == body
    with engine.connect() as c:
        assert c.execute(select(users.c.password_hash)).scalar_one().startswith("$argon2id$")


def test_over_https_the_cookie_is_secure(engine: Engine) -> None:
    portal = Portal(engine, base_url="https://testserver")
    username, password = add_staff(engine, "tax")
    answer = portal.client.post(LOGIN, json={"username": username, "password": password})
    assert answer.status_code == 200 and "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_or_name_is_401_and_no_session(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    for name, word in ((username, "wrong password"), ("nobody", password)):
        answer = portal.client.post(LOGIN, json={"username": name, "password": word})
        assert (answer.status_code, answer.json()) == (401, {"detail": "用户名或密码错误"})
        assert "set-cookie" not in answer.headers
    assert portal.client.get("/api/v1/me").json() == {"detail": "请先登录"}


def test_an_account_is_throttled_even_for_its_password_until_the_window_passes(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "township", township="灵城镇")
    for i in range(ACCOUNT_FAILURES):
        client = portal.client_at(f"10.1.0.{i}")  # from different addresses: the account's own count
        assert client.post(LOGIN, json={"username": username, "password": "wrong password"}).status_code == 401
    portal.advance(minutes=1)
    answer = portal.client.post(LOGIN, json={"username": username, "password": password})
    assert answer.status_code == 429 and "登录失败次数过多" in answer.json()["detail"]
    assert 0 < int(answer.headers["Retry-After"]) <= 15 * 60
    portal.advance(minutes=15)
    assert portal.client.post(LOGIN, json={"username": username, "password": password}).status_code == 200


def test_an_address_is_throttled_for_every_account(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    guesser = portal.client_at("10.2.0.9")
    for i in range(ADDRESS_FAILURES):
        assert guesser.post(LOGIN, json={"username": f"guess{i}", "password": "wrong password"}).status_code == 401
    answer = guesser.post(LOGIN, json={"username": username, "password": password})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert portal.client.post(LOGIN, json={"username": username, "password": password}).status_code == 200


def test_an_idle_session_expires(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "school", school="灵城中心小学")
    login(portal.client, username, password)
    for _ in range(3):
        portal.advance(minutes=29)
        assert portal.client.get("/api/v1/me").status_code == 200
    portal.advance(minutes=31)
    answer = portal.client.get("/api/v1/me")
    assert (answer.status_code, answer.json()) == (401, {"detail": "请先登录"})


def test_the_idle_timeout_is_a_setting(engine: Engine) -> None:
    assert Settings.from_environment({}).session_idle_minutes == 30
    assert Settings.from_environment({"CANBAO_SESSION_IDLE_MINUTES": "5"}).session_idle_minutes == 5
    for bad in ("0", "abc", "-3", "1441", "５"):
        with pytest.raises(CanbaoError, match="CANBAO_SESSION_IDLE_MINUTES 应为 1 到 1440 之间的整数"):
            Settings.from_environment({"CANBAO_SESSION_IDLE_MINUTES": bad})
    portal = Portal(engine, settings=Settings.from_environment({"CANBAO_SESSION_IDLE_MINUTES": "5"}))
    username, password = add_staff(engine, "tax")
    login(portal.client, username, password)
    portal.advance(minutes=4)
    assert portal.client.get("/api/v1/me").status_code == 200
    portal.advance(minutes=6)
    assert portal.client.get("/api/v1/me").status_code == 401


def test_a_session_dies_twelve_hours_after_login_however_busy(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    login(portal.client, username, password)
    for _ in range(35):  # 11 h 40 min of work, a request every 20 minutes
        portal.advance(minutes=20)
        assert portal.client.get("/api/v1/me").status_code == 200
    portal.advance(minutes=20, seconds=1)
    assert portal.client.get("/api/v1/me").status_code == 401


def test_a_disabled_user_is_refused_and_their_session_dies(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "department", department="civil_affairs")
    login(portal.client, username, password)
    disable_user(engine, username, actor="admin", now=portal.now)
    assert portal.client.get("/api/v1/me").status_code == 401
    answer = portal.client_at("10.3.0.1").post(LOGIN, json={"username": username, "password": password})
    assert answer.status_code == 401 and "账户已停用" in answer.json()["detail"]


def test_logout_needs_the_csrf_token_and_ends_the_session(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    csrf = login(portal.client, username, password)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        answer = portal.client.post("/api/v1/logout", headers=headers)
        assert answer.status_code == 403 and "CSRF" in answer.json()["detail"]
    assert portal.client.get("/api/v1/me").status_code == 200
    other = portal.client_at("10.4.0.1")  # another session's token is not this session's
    theirs = login(other, username, password)
    assert portal.client.post("/api/v1/logout", headers={"X-CSRF-Token": theirs}).status_code == 403
    answer = portal.client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204
    assert "canbao_session=" in answer.headers["set-cookie"] and "Max-Age=0" in answer.headers["set-cookie"]
    assert portal.client.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me").status_code == 200
    assert portal.client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf}).status_code == 401


def test_a_stolen_cookie_value_after_logout_opens_nothing(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    csrf = login(portal.client, username, password)
    token = portal.client.cookies["canbao_session"]
    portal.client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    thief = portal.client_at("10.5.0.1")
    thief.cookies.set("canbao_session", token)
    assert thief.get("/api/v1/me").status_code == 401


def test_a_login_from_a_foreign_origin_is_refused(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    body = {"username": username, "password": password}
    for origin in ("http://evil.example", "http://testserver:8080", "null", "https://testserver"):
        answer = portal.client.post(LOGIN, json=body, headers={"Origin": origin})
        assert answer.status_code == 403 and "Origin" in answer.json()["detail"], origin
    assert portal.client.post(LOGIN, json=body, headers={"Origin": "http://testserver"}).status_code == 200
    assert portal.client.post(LOGIN, json=body, headers={"Origin": "http://TestServer:80"}).status_code == 200


def test_pages_redirect_to_the_login_and_forms_carry_the_csrf_field(portal: Portal, engine: Engine) -> None:
    @portal.app.get("/probe/page")
    def page(staff: Annotated[Staff, Depends(page_staff)]) -> dict[str, str]:
        return {"who": staff.username}

    @portal.app.post("/probe/form", dependencies=[Depends(csrf_checked)])
    def form(note: Annotated[str, Form()]) -> dict[str, str]:
        return {"note": note}

    answer = portal.client.get("/probe/page")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/probe/page"
    username, password = add_staff(engine, "tax")
    csrf = login(portal.client, username, password)
    assert portal.client.get("/probe/page").json() == {"who": username}
    assert portal.client.post("/probe/form", data={"note": "x"}).status_code == 403
    assert portal.client.post("/probe/form", data={"note": "x", "csrf_token": "forged"}).status_code == 403
    assert portal.client.post("/probe/form", data={"note": "x", "csrf_token": csrf}).json() == {"note": "x"}


def test_logins_are_audited_without_a_full_id_number(portal: Portal, engine: Engine) -> None:
    username, password = add_staff(engine, "tax")
    id_number = make_id_number("341323", dt.date(1985, 6, 15), 12)
    portal.client.post(LOGIN, json={"username": id_number, "password": "x"})
    csrf = login(portal.client, username, password)
    portal.client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    with engine.connect() as c:
        lines = c.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert [(r.action, r.outcome) for r in lines] == [
        ("user_add", "done"), ("login", "refused"), ("login", "done"), ("logout", "done")
    ]  # fmt: skip
    assert lines[2].actor == username and "testclient" in lines[2].detail
    assert all(id_number not in f"{r.actor} {r.subject} {r.detail}" for r in lines)
    assert id_number[:6] in lines[1].subject  # masked, not dropped


def test_the_openapi_document_describes_login_and_the_csrf_header(portal: Portal) -> None:
    document = portal.client.get("/api/openapi.json").json()
    paths = document["paths"]
    assert {"/api/v1/login", "/api/v1/logout", "/api/v1/me"} <= set(paths)
    schemes = document["components"]["securitySchemes"]
    assert schemes["csrf"] == {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                               "description": schemes["csrf"]["description"]}  # fmt: skip
    assert {"csrf": []} in paths["/api/v1/logout"]["post"]["security"]
    assert "security" not in paths["/api/v1/login"]["post"]
    login_schema = paths["/api/v1/login"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert login_schema["$ref"].endswith("/Signed")
    assert set(document["components"]["schemas"]["Signed"]["properties"]) == {"username", "role", "area", "csrf_token"}


def test_logging_in_again_ends_the_browsers_previous_session(portal: Portal, engine: Engine) -> None:
    first, first_password = add_staff(engine, "tax")
    second, second_password = add_staff(engine, "school", school="灵城中心小学")
    login(portal.client, first, first_password)
    old = portal.client.cookies["canbao_session"]
    login(portal.client, second, second_password)
    assert portal.client.get("/api/v1/me").json()["username"] == second
    replay = portal.client_at("10.6.0.1")
    replay.cookies.set("canbao_session", old)
    assert replay.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("username", "password"),
    [("\ud800", "x"), ("tax\x00", "x"), ("x" * 10_000, "x"), ("nobody", "\ud800" * 3), ("nobody", "p" * 100_000)],
)
def test_a_strange_login_is_a_plain_refusal(portal: Portal, username: str, password: str) -> None:
    import json

    body = json.dumps({"username": username, "password": password})  # lone surrogates as JSON escapes
    answer = portal.client.post(LOGIN, content=body, headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()) == (401, {"detail": "用户名或密码错误"})


def test_a_login_page_sends_the_browser_back_only_within_the_site() -> None:
    from canbao.web.deps import safe_next

    assert safe_next("/persons/12?tab=ledger") == "/persons/12?tab=ledger"
    for bad in (None, "", "//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:x", "/a\r\nb"):
        assert safe_next(bad) == "/"


def test_the_portal_helper_signs_in_a_role(portal: Portal) -> None:
    csrf = portal.sign_in("village", township="灵城镇", village="东关社区")
    me = portal.client.get("/api/v1/me").json()
    assert me["role"] == "village" and me["csrf_token"] == csrf
