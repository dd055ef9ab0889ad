"""Helpers for the portal's tests: the app on a database with a clock the test moves, staff accounts, login.

    portal = Portal(engine)
    username, password = add_staff(engine, "township", township="榴城镇")
    csrf = login(portal.client, username, password)
    portal.client.get("/api/v1/me")                       # the session cookie is kept by the client
    portal.client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    portal.advance(minutes=31)                            # the idle timeout passes

`Portal(engine, address="10.0.0.7")` is a client at another address (the login throttle counts per address);
`portal.client_at(address)` gives another client on the same app and clock; `portal.sign_in("village",
township="灵城镇", village="东关社区")` adds an account and logs the client in as it (returns the CSRF token).
Hashing is Argon2id at its real cost (a third of a second); `fast_hashes(monkeypatch)` makes it cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from canbao.bootstrap import Settings
from canbao.services.access import Staff
from canbao.web.app import create_app

START = dt.datetime(2021, 12, 1, 1, 30, tzinfo=dt.UTC)  # 09:30 in Beijing during Lingbi's 2022 campaign
_names = itertools.count(1)


class Portal:
    """create_app over `engine` with a settable clock (`now`, `advance`) and a TestClient (`client`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        now: dt.datetime = START,
        settings: Settings | None = None,
        address: str = "testclient",
        base_url: str = "http://testserver",
        simulator: Path | None = None,
        **setting_changes: Any,
    ) -> None:
        self.now = now
        base = settings or Settings.from_environment({})
        if base.files_dir is None:  # uploads and jobs' files in a folder of their own, never the checkout
            base = dataclasses.replace(base, files_dir=Path(tempfile.mkdtemp(prefix="canbao-files-")))
        self.settings = dataclasses.replace(base, **setting_changes) if setting_changes else base
        self.engine = engine
        gateway = None
        if simulator is not None:  # the channel simulator at /simulator, as `canbao serve --simulator` mounts it
            from canbao.cli.simulator import mounted_gateway

            gateway = mounted_gateway(simulator, self.settings.fixed_today)
        self.app: FastAPI = create_app(self.settings, engine, clock=lambda: self.now, simulator=gateway)
        self.base_url = base_url
        self.client = self.client_at(address)

    def client_at(self, address: str) -> TestClient:
        """Another browser (its own cookies) at `address`, on this app and clock."""
        return TestClient(self.app, base_url=self.base_url, client=(address, 50000), follow_redirects=False)

    def sign_in(self, role: str, client: TestClient | None = None, **area: str) -> str:
        """A new account of `role` and `area` logged in on `client` (default: self.client): its CSRF token."""
        username, password = add_staff(self.engine, role, **area)
        return login(client or self.client, username, password)

    def advance(self, **delta: float) -> dt.datetime:
        """Move the clock on (`advance(minutes=31)`); returns the new time."""
        self.now += dt.timedelta(**delta)
        return self.now


def add_staff(engine: Engine, role: str, **area: str) -> tuple[str, str]:
    """A new account of `role` with the given area (township=…, village=…, school=…, department=…,
    county=…): its (username, password)."""
    from canbao.services.accounts import add_user

    username = f"{role}{next(_names)}_{secrets.token_hex(2)}"
    password = secrets.token_urlsafe(12)
    add_user(engine, username=username, role=role, password=password, actor="test", now=START, **area)
    return username, password


def login(client: TestClient, username: str, password: str) -> str:
    """Log `client` in (its cookie jar keeps the session); the session's CSRF token."""
    answer = client.post("/api/v1/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["csrf_token"]
    return token


def fast_hashes(monkeypatch: Any) -> None:
    """Cheap Argon2id parameters for the rest of a test (the real ones cost a third of a second per hash):
    `fast_hashes(monkeypatch)` in a test or an autouse fixture."""
    from argon2 import PasswordHasher

    from canbao.services import accounts

    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class Desk:
    """The app with the signed-in staff and the CSRF check replaced (the sessions' own tests are
    test_web_auth.py): `desk.as_(staff)` is the client acting as `staff`; `desk.finished(answer)` waits for the
    job a 202 answer started and returns its view (it must end done)."""

    def __init__(self, engine: Engine, folder: Path, today: dt.date) -> None:
        from canbao.web.deps import csrf_checked, current_staff

        self.engine = engine
        self.current_staff = current_staff
        self.app = create_app(Settings(str(engine.url), True, None, today, files_dir=folder), engine)
        self.app.dependency_overrides[csrf_checked] = lambda: None
        self.client = TestClient(self.app)

    def as_(self, staff: Staff) -> TestClient:
        self.app.dependency_overrides[self.current_staff] = lambda: staff
        return self.client

    def finished(self, answer: Any) -> dict[str, Any]:
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            view: dict[str, Any] = self.client.get(f"/api/v1/jobs/{job_id}").json()
            if view["status"] in ("done", "failed"):
                assert view["status"] == "done", view
                return view
            time.sleep(0.05)
        raise AssertionError("the job did not finish")


@contextmanager
def desk_on(engine: Engine, folder: Path, today: dt.date) -> Iterator[Desk]:
    """A Desk whose app is started (its job runner too) and stopped, waiting for a running job: the app's own
    stop does not wait, and the database is dropped next."""
    desk = Desk(engine, folder, today)
    with desk.client:
        yield desk
    desk.app.state.jobs.shutdown(wait=True)
