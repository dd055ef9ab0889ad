"""Shared helpers: build applications with valid ID numbers and quote them on a fixed 'today'."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from canbao.ids import make_id_number
from canbao.quote import quote, refund_quote
from canbao.store.db import make_engine, upgrade

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


def q(policy_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return quote(policy_id, application(*args, **kwargs), today=TODAY)


def rq(policy_id: str, app: dict[str, Any], requested_on: str, reason: str, **extra: Any) -> dict[str, Any]:
    return refund_quote(policy_id, {**app, "requested_on": requested_on, "reason": reason, **extra}, today=TODAY)


# Databases: every registry test runs on SQLite and on PostgreSQL (never skipped: CI starts PostgreSQL).
PG_URL = os.environ.get("CANBAO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A freshly migrated database: a SQLite file in `folder`, or a PostgreSQL schema of its own dropped
    afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{folder}/canbao.db"
        upgrade(url)
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL, app_role=False)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (start it: see .ci/run): {exc}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    e = make_engine(database_url)
    yield e
    e.dispose()
