"""Housekeeping (services.housekeeping): the throttles' attempts and dead sessions purged once nothing reads
them, the throttles still holding what they count — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import Engine, func, select

from canbao.services import resident_access
from canbao.services.accounts import (
    ACCOUNT_FAILURES,
    SESSION_LIFETIME,
    LoginRefused,
    LoginThrottled,
    add_user,
    authenticate,
    open_session,
    session_staff,
)
from canbao.services.housekeeping import Housekeeper, purge
from canbao.services.resident_access import ID_FAILURES, WINDOW, TooManyAttempts
from canbao.store.tables import audit_log, login_attempts, resident_attempts, web_sessions
from web_support import START, fast_hashes

PASSWORD = "correct horse battery"
ID = "341323198506150012"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_hashes(monkeypatch)


def count(engine: Engine, table: object) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def fail_for_id(engine: Engine, at: dt.datetime, address: str = "10.0.0.1") -> None:
    resident_access.record_attempt(engine, address=address, id_number=ID, action="lookup", failed=True, now=at)


def test_attempts_older_than_their_throttles_window_go_and_the_throttle_still_counts_the_rest(engine: Engine) -> None:
    now = START + dt.timedelta(days=3)
    for k in range(3):  # three failures a day ago: past the window
        fail_for_id(engine, now - dt.timedelta(days=1, minutes=k))
    for k in range(ID_FAILURES):  # the ID's limit reached within the window
        fail_for_id(engine, now - WINDOW + dt.timedelta(minutes=1 + k))
    add_user(engine, username="clerk", role="township", township="榴城镇", password=PASSWORD, actor="admin", now=START)
    for k in range(2):
        with pytest.raises(LoginRefused):
            authenticate(engine, "clerk", "wrong password!", address="10.0.0.2", now=START + dt.timedelta(minutes=k))
    for k in range(ACCOUNT_FAILURES):
        with pytest.raises(LoginRefused):
            authenticate(engine, "clerk", "wrong password!", address="10.0.0.2", now=now - dt.timedelta(minutes=k))

    purged = purge(engine, now=now)

    assert (purged.resident_attempts, purged.login_attempts) == (3, 2)
    assert count(engine, resident_attempts) == ID_FAILURES
    assert count(engine, login_attempts) == ACCOUNT_FAILURES
    with pytest.raises(TooManyAttempts):  # what is within the window still throttles
        resident_access.throttle(engine, address="10.0.0.3", id_number=ID, action="lookup", now=now)
    with pytest.raises(LoginThrottled):
        authenticate(engine, "clerk", PASSWORD, address="10.0.0.4", now=now)
    with engine.connect() as c:
        line = c.execute(select(audit_log).where(audit_log.c.action == "purge")).one()
    assert (line.actor, line.outcome) == ("system:housekeeping", "done")
    assert "居民访问记录 3 条" in line.detail and "登录尝试 2 条" in line.detail
    assert purge(engine, now=now).login_attempts == 0  # nothing more: no second audit line
    with engine.connect() as c:
        assert c.execute(select(func.count()).where(audit_log.c.action == "purge")).scalar_one() == 1


def test_a_session_goes_once_it_is_dead_for_certain_and_a_live_one_stays(engine: Engine) -> None:
    staff = add_user(
        engine, username="clerk", role="township", township="榴城镇", password=PASSWORD, actor="admin", now=START
    )
    old, _ = open_session(engine, staff, address="10.0.0.1", now=START)
    later = START + SESSION_LIFETIME + dt.timedelta(minutes=5)
    live, _ = open_session(engine, staff, address="10.0.0.1", now=later - dt.timedelta(minutes=1))

    assert purge(engine, now=later).web_sessions == 1

    assert count(engine, web_sessions) == 1
    assert session_staff(engine, old, now=later, idle=dt.timedelta(minutes=30)) is None
    found = session_staff(engine, live, now=later, idle=dt.timedelta(minutes=30))
    assert found is not None and found[0].username == "clerk"


def test_the_housekeeper_purges_every_round_by_the_clock_it_is_given(engine: Engine) -> None:
    now = START + dt.timedelta(days=1)
    fail_for_id(engine, now - dt.timedelta(hours=1))
    fail_for_id(engine, now)
    keeper = Housekeeper(engine, clock=lambda: now)
    keeper.EVERY_S = 0.05
    keeper.start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while count(engine, resident_attempts) != 1 and dt.datetime.now() < deadline:
            time.sleep(0.01)
    finally:
        keeper.stop()
    assert count(engine, resident_attempts) == 1
