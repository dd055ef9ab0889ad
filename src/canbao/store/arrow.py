"""Large reads into Polars: a million rows in a second or two.

PostgreSQL is read as Arrow through ADBC (its own connection: a network protocol, nothing shared with
SQLAlchemy's).  SQLite is read through SQLAlchemy's own sqlite3 driver, rows to a frame: an ADBC or
connectorx SQLite driver brings a second copy of the SQLite library into the process, and two copies
break each other's POSIX file locks (a "disk I/O error" here, corruption at worst; see SQLite's "How To
Corrupt An SQLite Database File", 2.2.1).  For read-only scans; writes stay in SQLAlchemy and store.bulk."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Engine


def read_arrow(engine: Engine, sql: str, schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """The rows of `sql` (plain SQL text, no parameters: callers format only integers into it); columns named
    in `schema` are brought to its types (SQLite hands dates over as text and booleans as integers)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            cursor.close()
        finally:
            raw.close()
        given = schema or {}
        if all(n in given for n in names):  # as sqlite3 hands them over: dates as text, booleans as integers
            raw_types = {n: _as_sqlite_gives(given[n]) for n in names}
            frame = pl.DataFrame(rows, schema=raw_types, orient="row")
        else:
            frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    else:
        import adbc_driver_postgresql.dbapi

        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with adbc_driver_postgresql.dbapi.connect(uri) as connection:
            frame = pl.read_database(sql, connection)
    fixes = []
    for name, dtype in (schema or {}).items():
        if name not in frame.columns or frame.schema[name] == dtype:
            continue
        column = pl.col(name)
        if dtype == pl.Date and frame.schema[name] == pl.String:
            fixes.append(column.str.to_date("%Y-%m-%d").alias(name))
        else:
            fixes.append(column.cast(dtype).alias(name))
    return frame.with_columns(fixes) if fixes else frame


def _as_sqlite_gives(dtype: pl.DataType) -> pl.DataType:
    if dtype == pl.Date:
        return pl.String()
    if dtype == pl.Boolean:
        return pl.Int64()
    return dtype


def read_query(engine: Engine, query: Any, schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """The rows of a SQLAlchemy Core select (:func:`read_arrow`); its bound values are rendered inline (they
    are the caller's own integers, dates and identifiers, never user text)."""
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    return read_arrow(engine, sql, schema)
