"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (production), and schema migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///canbao.db"


def database_url() -> str:
    """`CANBAO_DATABASE_URL`, else a SQLite file `canbao.db` in the working directory."""
    return os.environ.get("CANBAO_DATABASE_URL", DEFAULT_URL)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL for readers beside the writer; every transaction takes the write lock at BEGIN (IMMEDIATE), so two
    writers queue instead of both reading and then failing to upgrade their lock."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Create or migrate the database to `revision`."""
    from alembic import command

    command.upgrade(_alembic_config(url or database_url()), revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


STALE_FRACTION = 0.1  # re-ANALYZE a table once a tenth of it changed since its statistics were gathered


def refresh_statistics(connection: Any, *tables: str) -> list[str]:
    """PostgreSQL only: ANALYZE those of `tables` that changed by more than STALE_FRACTION since their last
    statistics; returns their names.

    A season writes a million rows in a few minutes, far ahead of autovacuum: with the statistics of an empty
    ledger the planner hash-joins whole tables to look up a day's few thousand transactions, and every file
    costs more than the last.  Checking is one catalog query; an ANALYZE samples, a fraction of a second."""
    if connection.dialect.name != "postgresql" or not tables:
        return []
    rows = connection.execute(
        text(
            "SELECT s.relname, s.n_mod_since_analyze, GREATEST(c.reltuples, 0) FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.relid = ANY(CAST(:tables AS regclass[]))"
        ),
        {"tables": list(tables)},
    ).all()
    stale = [name for name, changed, size in rows if changed > max(1_000, STALE_FRACTION * size)]
    for name in stale:
        connection.exec_driver_sql(f'ANALYZE "{name}"')
    return stale


EXACT_COUNT_BELOW = 100_000  # below the planner's estimate of this many rows, count them


def table_size(connection: Any, table: str) -> int:
    """About how many rows `table` has, for choosing how to look keys up in it (either way finds the same
    rows).  PostgreSQL: the planner's estimate (kept fresh by refresh_statistics), as counting a city's 10 M
    persons takes half a second for every small import; a count where the estimate is small, missing or
    stale-empty, so that a filled table is never taken for an empty one.  SQLite: a count."""
    if connection.dialect.name == "postgresql":
        estimate = connection.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"), {"table": table}
        ).scalar()
        if estimate is not None and estimate >= EXACT_COUNT_BELOW:
            return int(estimate)
    return int(connection.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar_one())


def plan_for_whole_tables(connection: Any) -> None:
    """PostgreSQL, for the rest of the transaction: no nested-loop joins, for reports that add up whole tables.
    The planner takes every import batch to be of average size, so it cannot know that a few roster batches
    hold millions of rows, and probes an index for each of them: a 10 M city's summary took 165 s that way
    and 28 s with hash joins."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
