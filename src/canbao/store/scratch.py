"""Throwaway databases for the tests and the benchmarks: a SQLite file in a folder, or a PostgreSQL schema of
its own on a server, migrated, and the schema dropped afterwards (unless kept).  Not for a county's registry."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from canbao.errors import CanbaoError
from canbao.store.db import make_engine, upgrade

LOCAL_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEADLOCK = "40P01"  # SQLSTATE deadlock_detected
DROP_TRIES = 30


def scratch_pg_url() -> str:
    """The PostgreSQL server scratch schemas go on: `CANBAO_TEST_PG_URL`, else the local one."""
    return os.environ.get("CANBAO_TEST_PG_URL", LOCAL_PG_URL)


@contextmanager
def scratch_database(
    kind: str, folder: Path, pg_url: str | None = None, prefix: str = "t", keep: bool = False
) -> Iterator[str]:
    """The URL of a freshly migrated database: `canbao.db` in `folder` (kind "sqlite"), or a new schema
    `<prefix>_<random>` on `pg_url` (kind "postgresql", created and dropped as the login of `pg_url`, the
    owner; the schema is kept when `keep`)."""
    if kind == "sqlite":
        url = f"sqlite:///{folder}/canbao.db"
        upgrade(url)
        yield url
        return
    pg_url = pg_url or scratch_pg_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_url, app_role=False)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except OperationalError as exc:
        admin.dispose()
        raise CanbaoError(f"PostgreSQL is not reachable at {pg_url} (start it: see .ci/run): {exc}") from exc
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            _drop(admin, schema)
        admin.dispose()


def _drop(admin: Engine, schema: str) -> None:
    """DROP SCHEMA … CASCADE, tried again a moment later when PostgreSQL chose it as a deadlock's victim: a test
    may leave a connection at work in its schema (a portal job still running after its app stopped), which
    holds a table's lock the drop needs while waiting for one the drop already took."""
    for attempt in range(DROP_TRIES):
        try:
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            return
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DROP_TRIES - 1:
                raise
            time.sleep(0.5)
