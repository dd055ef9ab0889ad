"""Throwaway databases for the tests and the benchmarks: a SQLite file in a folder, or a PostgreSQL schema of
its own on a server, migrated, and the schema dropped afterwards (unless kept).  Not for a county's registry."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import OperationalError

from canbao.errors import CanbaoError
from canbao.store.db import make_engine, upgrade

LOCAL_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
