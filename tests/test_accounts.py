"""Accounts of the staff portal (issue 14): adding users and their areas, Argon2id, logins and their throttle,
sessions, disabling, the demo's accounts, and `canbao users` — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from canbao.errors import InputError
from canbao.ids import make_id_number
from canbao.services import accounts
from canbao.services.accounts import (
    ACCOUNT_FAILURES,
    ADDRESS_FAILURES,
    THROTTLE_WINDOW,
    DemoPlaces,
    LoginRefused,
    LoginThrottled,
    add_user,
    authenticate,
    close_session,
    create_demo_accounts,
    demo_places,
    disable_user,
    list_users,
    open_session,
    session_staff,
)
from canbao.store.tables import audit_log, import_batches, login_attempts, persons, users, web_sessions
from conftest import invoke
from web_support import START, fast_hashes

PASSWORD = "correct horse battery"
IDLE = dt.timedelta(minutes=30)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_hashes(monkeypatch)


def _add(engine: Engine, username: str = "clerk", role: str = "township", **area: Any) -> Any:
    if role == "township":
        area.setdefault("township", "榴城镇")
    return add_user(engine, username=username, role=role, password=PASSWORD, actor="admin", now=START, **area)


def _audit(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)))


# --- adding users ---------------------------------------------------------------------------------------------


def test_a_user_is_added_with_its_area_and_an_argon2id_hash(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setattr(accounts, "HASHER", PasswordHasher())  # the real parameters, once
    staff = add_user(
        engine, username="li.si-1", role="village", password=PASSWORD, county="341323", township="灵城镇",
        village="东关社区", actor="admin", now=START,
    )  # fmt: skip
    assert (staff.role, staff.county, staff.township, staff.village, staff.school) == (
        "village", "341323", "灵城镇", "东关社区", None
    )  # fmt: skip
    with engine.connect() as c:
        row = c.execute(select(users).where(users.c.username == "li.si-1")).one()
    assert row.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in row.password_hash
    assert row.created_by == "admin" and not row.disabled
    [line] = _audit(engine, "user_add")
    assert (line.actor, line.subject, line.outcome) == ("admin", "li.si-1", "done") and "village" in line.detail


def test_a_department_is_its_id_or_its_chinese_label(engine: Engine) -> None:
    assert _add(engine, "mz", "department", department="民政局").department == "civil_affairs"
    assert _add(engine, "xc", "department", department="乡村振兴局").department == "rural_revitalization"
    assert _add(engine, "cl", "department", department="disabled_federation").department == "disabled_federation"
    with pytest.raises(InputError) as refused:
        _add(engine, "x1", "department", department="公安局")
    assert refused.value.field == "department" and "未知的认定部门“公安局”" in refused.value.message


@pytest.mark.parametrize(
    ("role", "area", "field", "words"),
    [
        ("boss", {}, "role", "未知的角色“boss”"),
        ("township", {}, "township", "须指定乡镇（街道）"),
        ("village", {"township": "灵城镇"}, "village", "须指定村（社区）"),
        ("village", {"village": "东关社区"}, "township", "须指定乡镇（街道）"),
        ("school", {}, "school", "须指定学校"),
        ("department", {}, "department", "须指定认定部门"),
        ("township", {"township": "灵城镇", "school": "灵城中心小学"}, "school", "不按学校划分区域"),
        ("county_admin", {"township": "灵城镇"}, "township", "不按乡镇（街道）划分区域"),
        ("school", {"school": "灵城中心小学", "department": "民政局"}, "department", "不按认定部门划分区域"),
        ("tax", {"county": "34132"}, "county", "6 位行政区划代码"),
        ("township", {"township": "灵城\x00镇"}, "township", "不含控制字符"),
    ],
)
def test_an_area_that_does_not_fit_the_role_is_refused(
    engine: Engine, role: str, area: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(InputError) as refused:
        add_user(engine, username="u1", role=role, password=PASSWORD, actor="admin", now=START, **area)
    assert refused.value.field == field and words in refused.value.message
    assert list_users(engine) == []


@pytest.mark.parametrize("name", ["a", "x" * 33, "张三", "bad name", "a/b", ""])
def test_a_username_is_2_to_32_letters_digits_and_dot_dash_underscore(engine: Engine, name: str) -> None:
    with pytest.raises(InputError) as refused:
        _add(engine, name)
    assert refused.value.field == "username" and "2–32" in refused.value.message


def test_a_short_password_and_a_taken_name_are_refused(engine: Engine) -> None:
    with pytest.raises(InputError) as refused:
        add_user(engine, username="u1", role="tax", password="123456789", actor="a", now=START)
    assert (refused.value.field, refused.value.message) == ("password", "密码至少 10 个字符")
    _add(engine, "u1")
    with pytest.raises(InputError) as taken:
        _add(engine, "u1", "tax")
    assert (taken.value.field, taken.value.message) == ("username", "用户名 u1 已存在")


# --- logins ---------------------------------------------------------------------------------------------------


def _login(engine: Engine, username: str, password: str = PASSWORD, *, at: dt.datetime = START,
           address: str = "10.0.0.1") -> Any:  # fmt: skip
    return authenticate(engine, username, password, address=address, now=at)


def test_a_wrong_name_and_a_wrong_password_get_the_same_answer(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(engine)
    assert _login(engine, "clerk").username == "clerk"
    from argon2 import PasswordHasher

    verified: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            verified.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "HASHER", Counting(time_cost=1, memory_cost=1024, parallelism=1))
    answers = []
    for name, password in (("clerk", "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(LoginRefused) as refused:
            _login(engine, name, password)
        answers.append(str(refused.value))
    assert answers == ["用户名或密码错误"] * 2
    assert len(verified) == 2  # an unknown name costs a hash verification as well (no enumeration by timing)
    with engine.connect() as c:
        tried = c.execute(select(login_attempts.c.username, login_attempts.c.succeeded).order_by(login_attempts.c.id))
        assert [tuple(r) for r in tried] == [("clerk", True), ("clerk", False), ("nobody", False)]
    assert [(r.subject, r.outcome) for r in _audit(engine, "login")] == [
        ("clerk", "done"), ("clerk", "refused"), ("nobody", "refused")
    ]  # fmt: skip


def test_a_disabled_account_is_named_only_to_who_typed_its_password(engine: Engine) -> None:
    _add(engine)
    disable_user(engine, "clerk", actor="admin", now=START)
    with pytest.raises(LoginRefused, match=r"^用户名或密码错误$"):
        _login(engine, "clerk", "wrong password")
    with pytest.raises(LoginRefused, match="账户已停用"):
        _login(engine, "clerk")
    with pytest.raises(InputError, match="没有用户 ghost"):
        disable_user(engine, "ghost", actor="admin", now=START)


def test_an_account_is_throttled_after_five_failures_even_for_its_password(engine: Engine) -> None:
    _add(engine)
    for i in range(ACCOUNT_FAILURES):
        with pytest.raises(LoginRefused):
            _login(engine, "clerk", "wrong password", at=START + dt.timedelta(minutes=i), address=f"10.0.0.{i}")
    later = START + dt.timedelta(minutes=10)
    with pytest.raises(LoginThrottled) as throttled:
        _login(engine, "clerk", at=later, address="10.9.9.9")
    assert throttled.value.retry_after == 5 * 60  # the first failure leaves the window at START + 15 min
    assert "登录失败次数过多" in str(throttled.value)
    # Refused attempts while throttled do not prolong it; once the first failure has left the window, it works.
    with pytest.raises(LoginThrottled):
        _login(engine, "clerk", at=later + dt.timedelta(minutes=4))
    assert _login(engine, "clerk", at=START + THROTTLE_WINDOW + dt.timedelta(seconds=1)).username == "clerk"
    assert [r.outcome for r in _audit(engine, "login")].count("throttled") == 2
    with engine.connect() as c:
        flagged = c.execute(select(login_attempts.c.throttled).where(login_attempts.c.throttled.is_(True))).all()
    assert len(flagged) == 2


def test_a_successful_login_starts_the_accounts_count_again(engine: Engine) -> None:
    _add(engine)
    at = START
    for _ in range(2):
        for _ in range(ACCOUNT_FAILURES - 1):
            at += dt.timedelta(seconds=10)
            with pytest.raises(LoginRefused):
                _login(engine, "clerk", "wrong password", at=at)
        at += dt.timedelta(seconds=10)
        _login(engine, "clerk", at=at)


def test_an_address_is_throttled_after_twenty_failures_for_any_account(engine: Engine) -> None:
    _add(engine)
    for i in range(ADDRESS_FAILURES):
        with pytest.raises(LoginRefused):
            _login(engine, f"guess{i}", "wrong password", at=START + dt.timedelta(seconds=i))
    with pytest.raises(LoginThrottled) as throttled:
        _login(engine, "clerk", at=START + dt.timedelta(minutes=1))
    assert throttled.value.retry_after == 14 * 60
    assert _login(engine, "clerk", address="10.0.0.2", at=START + dt.timedelta(minutes=1)).username == "clerk"


def test_no_full_id_number_is_recorded_from_a_login(engine: Engine) -> None:
    id_number = make_id_number("341323", dt.date(1980, 5, 1), 7)
    with pytest.raises(LoginRefused):
        _login(engine, id_number, PASSWORD)
    with engine.connect() as c:
        recorded = [*c.execute(select(login_attempts.c.username)).scalars(), *(
            f"{r.actor} {r.subject} {r.detail}" for r in c.execute(select(audit_log)))]  # fmt: skip
    assert recorded and all(id_number not in line for line in recorded)


def test_a_hash_with_old_parameters_is_renewed_at_login(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    _add(engine)
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    _login(engine, "clerk")
    with engine.connect() as c:
        hashed = c.execute(select(users.c.password_hash)).scalar_one()
    assert hashed.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert _login(engine, "clerk").username == "clerk"


# --- sessions -------------------------------------------------------------------------------------------------


def test_a_session_lives_while_used_and_dies_when_idle(engine: Engine) -> None:
    staff = _add(engine)
    token, csrf = open_session(engine, staff, address="10.0.0.1", now=START)
    with engine.connect() as c:
        stored = c.execute(select(web_sessions.c.token_hash)).scalar_one()
    assert token not in stored and len(stored) == 64
    at = START
    for _ in range(3):
        at += dt.timedelta(minutes=29)
        found = session_staff(engine, token, now=at, idle=IDLE)
        assert found is not None and found[0] == staff and found[1] == csrf
    assert session_staff(engine, token, now=at + dt.timedelta(minutes=31), idle=IDLE) is None
    assert session_staff(engine, "no such token", now=START, idle=IDLE) is None


def test_last_seen_is_written_at_most_once_a_minute(engine: Engine) -> None:
    token, _ = open_session(engine, _add(engine), address="10.0.0.1", now=START)

    def seen() -> dt.datetime:
        with engine.connect() as c:
            at = c.execute(select(web_sessions.c.last_seen_at)).scalar_one()
        return at if at.tzinfo else at.replace(tzinfo=dt.UTC)

    session_staff(engine, token, now=START + dt.timedelta(seconds=59), idle=IDLE)
    assert seen() == START
    session_staff(engine, token, now=START + dt.timedelta(seconds=61), idle=IDLE)
    assert seen() == START + dt.timedelta(seconds=61)


def test_a_session_dies_twelve_hours_after_login_however_busy(engine: Engine) -> None:
    token, _ = open_session(engine, _add(engine), address="10.0.0.1", now=START)
    at = START
    while at < START + dt.timedelta(hours=12) - dt.timedelta(minutes=10):
        at += dt.timedelta(minutes=10)
        assert session_staff(engine, token, now=at, idle=IDLE) is not None
    assert session_staff(engine, token, now=START + dt.timedelta(hours=12, seconds=1), idle=IDLE) is None


def test_logout_and_disabling_end_sessions(engine: Engine) -> None:
    staff = _add(engine)
    first, _ = open_session(engine, staff, address="a", now=START)
    second, _ = open_session(engine, staff, address="b", now=START)
    assert close_session(engine, first, now=START) is True
    assert close_session(engine, first, now=START) is False
    assert session_staff(engine, first, now=START, idle=IDLE) is None
    assert session_staff(engine, second, now=START, idle=IDLE) is not None
    assert disable_user(engine, "clerk", actor="admin", now=START) == 1
    assert session_staff(engine, second, now=START, idle=IDLE) is None
    assert [r.outcome for r in _audit(engine, "logout")] == ["done"]
    [line] = _audit(engine, "user_disable")
    assert (line.actor, line.subject) == ("admin", "clerk")
    [user] = list_users(engine)
    assert user.disabled and user.disabled_at is not None


# --- the demo's accounts --------------------------------------------------------------------------------------

PLACES = DemoPlaces("341323", "灵城镇", "东关社区", "灵城中心小学", "civil_affairs")


def test_the_demo_has_one_account_per_role_and_can_run_again(engine: Engine) -> None:
    made = create_demo_accounts(engine, actor="demo", now=START, places=PLACES)
    assert [m[1] for m in made] == ["county_admin", "tax", "township", "village", "school", "department"]
    labels = dict((m[1], m[2]) for m in made)
    assert labels["village"] == "村（社区） · 灵城镇 东关社区" and labels["department"] == "认定部门 · 民政局"
    for username, role, _label, password in made:
        assert _login(engine, username, password).role == role
    again = create_demo_accounts(engine, actor="demo", now=START, places=PLACES)
    assert [m[0] for m in again] == [m[0] for m in made]
    assert all(new[3] != old[3] for new, old in zip(again, made, strict=True))
    with pytest.raises(LoginRefused):
        _login(engine, made[0][0], made[0][3])
    assert _login(engine, again[0][0], again[0][3]).username == again[0][0]


def test_the_demo_places_come_from_the_demo_data(engine: Engine) -> None:
    assert demo_places(engine, "341323") is None
    now = START
    with engine.begin() as c:
        for i, (township, village) in enumerate([("灵城镇", "东关社区"), ("灵城镇", "东关社区"), ("韦集镇", "西村")]):
            c.execute(insert(persons).values(
                id_number=make_id_number("341323", dt.date(1990, 1, 1), i), name="测试", sex="male",
                birth_date=dt.date(1990, 1, 1), county="341323", township=township, village=village,
                residency="local_hukou", created_at=now))  # fmt: skip
        for kind, name in [("school", "灵城中心小学"), ("school", "韦集中学"), ("department_list", "civil_affairs")]:
            c.execute(insert(import_batches).values(
                kind=kind, department=name, file_name=f"{name}.csv", file_sha256=name, rows_total=1,
                rows_accepted=1, rows_rejected=0, actor="t", created_at=now))  # fmt: skip
    assert demo_places(engine, "341323") == DemoPlaces("341323", "灵城镇", "东关社区", "灵城中心小学", "civil_affairs")


# --- canbao users ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    monkeypatch.delenv("CANBAO_TODAY", raising=False)
    return database_url


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_users_add_list_and_disable(cli_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from canbao.store.db import make_engine

    add = ["users", "add", "--username", "lc01", "--role", "village", "--township", "灵城镇", "--village",
           "东关社区", "--county", "341323", "--password-stdin", "--actor", "admin"]  # fmt: skip
    _stdin(monkeypatch, f"{PASSWORD}\n")
    code, out, err = invoke(add)
    assert code == 0, err
    assert "已新增用户 lc01：村（社区） · 灵城镇 东关社区" in out and "数据库：" in err
    _stdin(monkeypatch, f"{PASSWORD}\r\n")
    code, out, err = invoke(["users", "add", "--username", "mz", "--role", "department", "--department", "民政局",
                             "--password-stdin"])  # fmt: skip
    assert code == 0, err
    engine = make_engine(cli_database)
    try:
        assert authenticate(engine, "lc01", PASSWORD, address="cli", now=START).village == "东关社区"
        assert authenticate(engine, "mz", PASSWORD, address="cli", now=START).department == "civil_affairs"
    finally:
        engine.dispose()
    code, out, err = invoke(["users", "list"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["用户名", "角色", "区域", "状态", "创建时间"]
    assert "lc01" in out and "村（社区）" in out and "341323 · 灵城镇 · 东关社区" in out and "启用" in out
    assert "民政局" in out
    code, out, err = invoke(["users", "disable", "lc01", "--actor", "admin"])
    assert (code, out.strip()) == (0, "已停用用户 lc01"), err
    code, out, err = invoke(["users", "disable", "--username", "mz"])
    assert code == 0, err
    code, out, err = invoke(["users", "list"])
    assert out.count("停用") == 2


def test_users_add_refusals_are_one_chinese_line(cli_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["users", "add", "--username", "t1", "--role", "township"]
    code, out, err = invoke([*base, "--township", "灵城镇"])
    assert (code, err.strip().splitlines()[-1]) == (2, "错误：请用 --password-stdin 从标准输入提供密码")
    _stdin(monkeypatch, f"{PASSWORD}\n")
    code, out, err = invoke([*base, "--password-stdin"])
    assert code == 2 and "错误：--township: 角色 township（乡镇（街道））须指定乡镇（街道）" in err
    _stdin(monkeypatch, f"{PASSWORD}\n")
    code, out, err = invoke([*base, "--township", "灵城镇", "--school", "灵城中心小学", "--password-stdin"])
    assert code == 2 and "错误：--school: " in err and "不按学校划分区域" in err
    _stdin(monkeypatch, "short\n")
    code, out, err = invoke([*base, "--township", "灵城镇", "--password-stdin"])
    assert code == 2 and "错误：--password-stdin: 密码至少 10 个字符" in err
    code, out, err = invoke(["users", "disable", "ghost"])
    assert code == 2 and "没有用户 ghost" in err
    code, out, err = invoke(["users", "--help"])
    assert code == 0 and "新增" in out and "停用" in out


# --- canbao serve ---------------------------------------------------------------------------------------------


def test_serve_runs_the_portal_on_the_database_and_logs_no_id_number(
    cli_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    import uvicorn
    from fastapi import FastAPI

    from canbao.cli.serve import LOG_CONFIG, RedactingFormatter

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(app=app, **options))
    code, _out, err = invoke(["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert code == 0, err
    assert "门户地址：http://0.0.0.0:8123/" in err and "数据库：" in err
    assert isinstance(ran["app"], FastAPI) and ran["app"].state.engine.url.render_as_string(False) == cli_database
    assert (ran["host"], ran["port"], ran["access_log"], ran["log_level"]) == ("0.0.0.0", 8123, False, "warning")
    assert ran["log_config"] is LOG_CONFIG
    id_number = make_id_number("341323", dt.date(1985, 6, 15), 3)
    try:
        raise ValueError(f"GET /api/v1/persons?q={id_number}")
    except ValueError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "for %s", (id_number,), sys.exc_info())
    line = RedactingFormatter("%(message)s").format(record)
    assert id_number not in line and id_number[:6] in line and "ValueError" in line
    code, _out, err = invoke(["serve", "--port", "0"])
    assert code == 2 and "--port" in err


def test_the_portals_commands_have_chinese_help() -> None:
    for argv in (["serve", "--help"], ["users", "add", "--help"], ["users", "list", "--help"]):
        code, out, _ = invoke(argv)
        assert code == 0 and "用法：" in out and "选项：" in out
    listing = invoke(["--help"]).out
    assert "serve" in listing and "users" in listing and "门户用户" in listing


def test_serve_in_several_worker_processes_shares_the_sessions_of_the_database(
    database_url: str, tmp_path: Path
) -> None:
    """`canbao serve --workers 2` on PostgreSQL: each worker builds its own app from the environment
    (canbao.web.asgi); a session opened through one worker is good on the other, since sessions live in the
    database. On the embedded SQLite it is refused: one writer at a time (services.jobs' heartbeats)."""
    import os
    import socket
    import subprocess
    import time

    import httpx

    from canbao.store.db import make_engine

    if database_url.startswith("sqlite"):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CANBAO_DATABASE_URL", database_url)
            code, _out, err = invoke(["serve", "--workers", "2"])
        assert code == 2 and "--workers" in err and "PostgreSQL" in err
        return
    engine = make_engine(database_url)
    add_user(engine, username="admin", role="county_admin", password="a-long-password", actor="t", now=START)
    engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CANBAO_DATABASE_URL": database_url, "CANBAO_FILES_DIR": str(tmp_path / "files")}
    server = subprocess.Popen(
        [sys.executable, "-m", "canbao.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/login", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=base) as client:
            assert client.post("/api/v1/login", json={"username": "admin", "password": "a-long-password"}).is_success
            # new connections, so that both workers answer some of them
            answers = [httpx.get(f"{base}/api/v1/me", cookies=client.cookies).status_code for _ in range(10)]
        assert answers == [200] * 10
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert b"Traceback" not in err


# --- re-enabling and an administrator's password reset ---------------------------------------------------------


def test_a_disabled_account_enabled_again_logs_in_with_its_password_and_its_old_sessions_stay_ended(
    engine: Engine,
) -> None:
    staff = _add(engine)
    token, _ = open_session(engine, staff, address="10.0.0.1", now=START)
    disable_user(engine, "clerk", actor="admin", now=START)
    assert accounts.enable_user(engine, "clerk", actor="admin", now=START) is True
    assert accounts.enable_user(engine, "clerk", actor="admin", now=START) is False  # already enabled
    assert authenticate(engine, "clerk", PASSWORD, address="10.0.0.1", now=START).username == "clerk"
    assert session_staff(engine, token, now=START, idle=IDLE) is None
    assert [line.detail for line in _audit(engine, "user_enable")] == ["已启用", "本来就是启用的"]
    with pytest.raises(InputError, match="没有用户 ghost"):
        accounts.enable_user(engine, "ghost", actor="admin", now=START)


def test_a_password_reset_ends_the_sessions_and_forgets_the_failures_that_locked_the_account(
    engine: Engine,
) -> None:
    staff = _add(engine)
    token, _ = open_session(engine, staff, address="10.0.0.1", now=START)
    for k in range(ACCOUNT_FAILURES):  # the forgotten password, tried until the account is locked
        with pytest.raises(LoginRefused):
            authenticate(engine, "clerk", f"not the password {k}", address="10.0.0.2", now=START)
    at = START + dt.timedelta(minutes=1)
    with pytest.raises(LoginThrottled):
        authenticate(engine, "clerk", PASSWORD, address="10.0.0.2", now=at)
    new = "a brand new password"
    with pytest.raises(InputError, match="至少 10 个字符"):
        accounts.set_password(engine, "clerk", "short", actor="admin", now=at)
    assert accounts.set_password(engine, "clerk", new, actor="admin", now=at) == 1
    later = at + dt.timedelta(seconds=1)
    assert session_staff(engine, token, now=later, idle=IDLE) is None
    with pytest.raises(LoginRefused):
        authenticate(engine, "clerk", PASSWORD, address="10.0.0.3", now=later)  # the old one is gone
    assert authenticate(engine, "clerk", new, address="10.0.0.3", now=later).username == "clerk"
    line = _audit(engine, "user_password")[0]
    assert (line.actor, line.subject) == ("admin", "clerk") and new not in (line.detail or "")
    with engine.connect() as c:
        hashed = c.execute(select(users.c.password_hash).where(users.c.username == "clerk")).scalar_one()
    assert new not in hashed and hashed.startswith("$argon2id$")


def test_users_enable_and_reset_password(cli_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from canbao.store.db import make_engine

    _stdin(monkeypatch, f"{PASSWORD}\n")
    assert invoke(["users", "add", "--username", "lc01", "--role", "township", "--township", "灵城镇",
                   "--password-stdin"])[0] == 0  # fmt: skip
    assert invoke(["users", "disable", "lc01"])[0] == 0
    code, out, err = invoke(["users", "enable", "lc01", "--actor", "admin"])
    assert (code, out.strip()) == (0, "已启用用户 lc01"), err
    code, out, err = invoke(["users", "enable", "--username", "lc01"])
    assert (code, out.strip()) == (0, "用户 lc01 本来就是启用的"), err
    code, out, err = invoke(["users", "reset-password", "lc01"])
    assert (code, err.strip().splitlines()[-1]) == (2, "错误：请用 --password-stdin 从标准输入提供密码")
    _stdin(monkeypatch, "short\n")
    code, out, err = invoke(["users", "reset-password", "lc01", "--password-stdin"])
    assert code == 2 and "错误：--password-stdin: 密码至少 10 个字符" in err
    _stdin(monkeypatch, "a brand new password\n")
    code, out, err = invoke(["users", "reset-password", "lc01", "--password-stdin", "--actor", "admin"])
    assert (code, out.strip()) == (0, "已重设用户 lc01 的密码"), err
    code, out, err = invoke(["users", "enable", "ghost"])
    assert code == 2 and "没有用户 ghost" in err
    engine = make_engine(cli_database)
    try:
        assert authenticate(engine, "lc01", "a brand new password", address="cli", now=START).username == "lc01"
    finally:
        engine.dispose()
