"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (production), and schema migrations.

Which database to use is the composition root's business (canbao.bootstrap): every function here takes its
URL.  Opening an engine never creates a database; only `upgrade` (the explicit migration step) does."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from canbao.errors import CanbaoError

BUSY_TIMEOUT_MS = 10_000  # a writer waits this long for a lock (SQLite busy_timeout, PostgreSQL lock_timeout)
APP_ROLE = "canbao_app"


def app_role_name() -> str:
    """The PostgreSQL role the application runs as (`CANBAO_DB_ROLE`, default canbao_app)."""
    name = os.environ.get("CANBAO_DB_ROLE", APP_ROLE)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise CanbaoError(f"CANBAO_DB_ROLE 应为小写字母、数字和下划线组成的数据库角色名：{name!r}")
    return name


def make_engine(url: str, app_role: bool = True, create: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`.  SQLite: a missing database file is an error at the first connection, never a
    new empty file, unless `create` (migrations: the new file is made 0600).  PostgreSQL: every connection
    switches to the application role (see `_use_app_role`) unless `app_role` is False (migrations, which run
    as the owner)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        database = parsed.database
        if create:
            _create_private(database)
        elif database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).resolve()

            def existing_only() -> sqlite3.Connection:  # mode=rw: SQLite opens the file but never creates it
                connection: sqlite3.Connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, **connect_args)
                return connection

            kwargs = {"creator": existing_only, **kwargs}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if app_role:
        _use_app_role(engine, app_role_name())
    return engine


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600) before SQLite creates it 0644; its -wal and
    -shm files take the database file's mode.  Only migrations (`upgrade`) create a database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL for readers beside the writer; every transaction takes the write lock at BEGIN (IMMEDIATE), so two
    writers queue instead of both reading and then failing to upgrade their lock.  recursive_triggers: a
    REPLACE's implicit delete fires the ledger's delete trigger (0010 refuses REPLACE on the ledger anyway)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA recursive_triggers=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# Switch when the role exists, the login may use it, and `upgrade` has granted it this schema (a database not
# yet upgraded, or an administrator's connection to another schema, keeps the login's own rights).
_SHOULD_SWITCH = """
SELECT r.rolname <> current_user AND pg_has_role(session_user, r.oid, 'MEMBER')
       AND to_regclass('alembic_version') IS NOT NULL
       AND has_table_privilege(r.oid, to_regclass('alembic_version'), 'SELECT')
FROM pg_roles r WHERE r.rolname = %s
"""


def _use_app_role(engine: Engine, role: str) -> None:
    """`SET ROLE` on every new connection: the application then has the app role's rights only (no UPDATE,
    DELETE or TRUNCATE of the ledger, no DDL), even when it logs in as the owner or a superuser.  And a
    lock_timeout as SQLite's busy timeout: a row lock not had in that time is a clear refusal (uow.py), and
    custom plans only."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET in a transaction would end with its rollback
        with dbapi_connection.cursor() as cursor:
            cursor.execute(_SHOULD_SWITCH, (role,))
            row = cursor.fetchone()
            if row is not None and row[0]:
                cursor.execute(f'SET ROLE "{role}"')
            cursor.execute(f"SET lock_timeout = {int(BUSY_TIMEOUT_MS)}")
            # A pooled connection's prepared statement (psycopg prepares what it runs often) otherwise keeps the
            # generic plan made when its tables were small: the inbox filling from empty in the 12-31 rush, with
            # no ANALYZE in between, was still scanned whole to find a replay's first copy.  A custom plan is
            # made with the tables' current size, for a fraction of a millisecond.
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.autocommit = autocommit


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the database to `revision`, as the login of `url` (the tables' owner).  PostgreSQL:
    then create the application role if missing and grant it what the application needs (again on every
    upgrade, so that new tables are covered)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
    if make_url(url).get_backend_name() == "postgresql":
        grant_app_role(url)


APPEND_ONLY = ("ledger_entries", "audit_log")  # the app role may read and append these, nothing else


def grant_app_role(url: str) -> None:
    """Ensure the application role and its rights on the current schema: all rows of the registry tables;
    SELECT and INSERT only on the ledger and the audit log; SELECT on alembic_version; the sequences;
    EXECUTE on canbao_analyze.  Runs as the owner of `url`."""
    from canbao.store.tables import metadata

    role = app_role_name()
    engine = make_engine(url, app_role=False)
    try:
        with engine.begin() as c:
            owner = c.execute(
                text(
                    "SELECT pg_has_role(current_user, tableowner, 'USAGE') FROM pg_tables "
                    "WHERE schemaname = current_schema() AND tablename = 'ledger_entries'"
                )
            ).scalar()
            if not owner:  # the application's own login (not the owner): the owner grants at `canbao db upgrade`
                return
            # Concurrent GRANTs on one object fail ("tuple concurrently updated"): one upgrade at a time.
            c.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('canbao.grant_app_role'))")
            try:
                with c.begin_nested():
                    c.exec_driver_sql(
                        "DO $$ BEGIN "
                        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                        f'CREATE ROLE "{role}" NOLOGIN; END IF; '
                        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                    )
            except DBAPIError as exc:
                raise CanbaoError(
                    f"无法创建数据库角色 {role}（{type(exc.orig).__name__}）：请由数据库管理员创建该角色"
                    f"（CREATE ROLE {role} NOLOGIN）并授予表的所有者（GRANT {role} TO 所有者），"
                    "再运行 canbao db upgrade"
                ) from exc
            member = c.execute(
                text(
                    "SELECT rolsuper OR pg_has_role(current_user, :role, 'MEMBER') FROM pg_roles "
                    "WHERE rolname = current_user"
                ),
                {"role": role},
            ).scalar_one()
            if not member:  # the owner must be able to SET ROLE to it when it runs the application
                c.exec_driver_sql(f'GRANT "{role}" TO CURRENT_USER')
            schema = c.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
            present = set(
                c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars()
            )
            tables = [t for t in metadata.tables if t in present]
            c.exec_driver_sql(f'GRANT USAGE ON SCHEMA {schema} TO "{role}"')
            for table in tables:
                c.exec_driver_sql(f'REVOKE ALL ON {schema}."{table}" FROM "{role}"')
                rights = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT, INSERT, UPDATE, DELETE"
                c.exec_driver_sql(f'GRANT {rights} ON {schema}."{table}" TO "{role}"')
            c.exec_driver_sql(f'REVOKE ALL ON {schema}.alembic_version FROM "{role}"')
            c.exec_driver_sql(f'GRANT SELECT ON {schema}.alembic_version TO "{role}"')
            c.exec_driver_sql(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO "{role}"')
            if c.exec_driver_sql("SELECT to_regprocedure('canbao_analyze(text[])')").scalar() is not None:
                c.exec_driver_sql(f'GRANT EXECUTE ON FUNCTION {schema}.canbao_analyze(text[]) TO "{role}"')
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema's migration revision (None: no tables yet).  Never creates the database."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


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
    if stale:  # ANALYZE needs the owner: canbao_analyze (0010) runs it with the owner's rights
        connection.execute(text("SELECT canbao_analyze(CAST(:tables AS text[]))"), {"tables": stale})
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
