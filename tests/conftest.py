"""Shared helpers: build applications with valid ID numbers and quote them on a fixed 'today'."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine

from canbao.ids import make_id_number
from canbao.quote import quote, refund_quote
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database, scratch_pg_url

TODAY = dt.date(2026, 11, 23)
_seq = itertools.count(1)


def application(
    county: str,
    birth: str,
    situation: str,
    paid_on: str,
    categories: list[str] | None = None,
    residency: str = "local_hukou",
    **person: Any,
) -> dict[str, Any]:
    id_number = make_id_number(county, dt.date.fromisoformat(birth), next(_seq) % 1000)
    return {
        "person": {
            "id_number": id_number,
            "name": "测试",
            "county": county,
            "residency": residency,
            "categories": categories or [],
            **person,
        },
        "situation": situation,
        "paid_on": paid_on,
    }


class Run(NamedTuple):
    """What `canbao …` did, run in this process: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str


def invoke(argv: list[str]) -> Run:
    """`canbao.cli.main(argv)` in this process (fast enough for thousands of fuzz cases); SystemExit's code as
    the shell would see it (None is 0, a message is 1)."""
    from canbao.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
    return Run(0 if code is None else code if isinstance(code, int) else 1, out.getvalue(), err.getvalue())


def q(policy_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return quote(policy_id, application(*args, **kwargs), today=TODAY)


def rq(policy_id: str, app: dict[str, Any], requested_on: str, reason: str, **extra: Any) -> dict[str, Any]:
    return refund_quote(policy_id, {**app, "requested_on": requested_on, "reason": reason, **extra}, today=TODAY)


# Databases: every registry test runs on SQLite and on PostgreSQL (never skipped: CI starts PostgreSQL; an
# unreachable server is an error naming it).
PG_URL = scratch_pg_url()


def fresh_database(kind: str, folder: Path) -> AbstractContextManager[str]:
    """A freshly migrated database: a SQLite file in `folder`, or a PostgreSQL schema of its own dropped
    afterwards."""
    return scratch_database(kind, folder)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    e = make_engine(database_url)
    yield e
    e.dispose()
