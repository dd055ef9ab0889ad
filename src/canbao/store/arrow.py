"""Large reads into Polars: a million rows in a second or two, where rows through Python cost several.

PostgreSQL is read as Arrow through ADBC in this process (a network protocol: nothing shared with
SQLAlchemy's connections).  SQLite is read as Arrow through ADBC in a child process: its driver brings a
second copy of the SQLite library, and two copies in one process break each other's POSIX file locks (seen
here as a "disk I/O error"; see SQLite's "How To Corrupt An SQLite Database File", 2.2.1), while two
processes on one WAL database is what SQLite is made for.  For read-only scans; writes stay in SQLAlchemy
and store.bulk."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import polars as pl
from sqlalchemy import Engine

from canbao.errors import CanbaoError

Schema = dict[str, pl.DataType]

# Run by the child: the queries' results as Arrow IPC streams on stdout, each preceded by its length.
_SQLITE_CHILD = r"""
import json, sys
import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
import pyarrow.ipc as ipc
out = sys.stdout.buffer
with adbc.connect(sys.argv[1]) as connection:
    for sql in json.loads(sys.argv[2]):
        cursor = connection.cursor()
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
        cursor.close()
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue().to_pybytes()
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
"""


def _sqlite_frames(path: str, sqls: list[str]) -> list[pl.DataFrame]:
    done = subprocess.run([sys.executable, "-c", _SQLITE_CHILD, path, json.dumps(sqls)], capture_output=True)
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise CanbaoError(f"读取数据库失败：{last[0]}")
    frames, data, at = [], done.stdout, 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 8], "little")
        frames.append(pl.read_ipc_stream(io.BytesIO(data[at + 8 : at + 8 + size])))
        at += 8 + size
    return frames


def _typed(frame: pl.DataFrame, schema: Schema | None) -> pl.DataFrame:
    """Columns named in `schema` brought to its types (SQLite hands dates over as text, booleans as integers,
    and an empty result's columns as nulls)."""
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


def read_arrow_many(engine: Engine, queries: list[tuple[str, Schema | None]]) -> list[pl.DataFrame]:
    """The rows of each (sql, schema): plain SQL text, no parameters (callers format only integers into it)."""
    sqls = [sql for sql, _ in queries]
    if engine.dialect.name == "sqlite":
        frames = _sqlite_frames(engine.url.database or ":memory:", sqls)
    else:
        import adbc_driver_postgresql.dbapi

        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with engine.connect() as c:  # the role the engine's connections run as (store.db: the app role)
            role = c.exec_driver_sql("SELECT current_user <> session_user, quote_ident(current_user)").one()
        with adbc_driver_postgresql.dbapi.connect(uri) as connection:
            if role[0]:
                with connection.cursor() as cursor:
                    cursor.execute(f"SET ROLE {role[1]}")  # for the connection's transaction, where the reads run
            frames = [pl.read_database(sql, connection) for sql in sqls]
    return [_typed(frame, schema) for frame, (_, schema) in zip(frames, queries, strict=True)]


def read_arrow(engine: Engine, sql: str, schema: Schema | None = None) -> pl.DataFrame:
    return read_arrow_many(engine, [(sql, schema)])[0]


def read_query(engine: Engine, query: Any, schema: Schema | None = None) -> pl.DataFrame:
    """The rows of a SQLAlchemy Core select (:func:`read_arrow`); its bound values are rendered inline (they
    are the caller's own integers, dates and identifiers, never user text)."""
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    return read_arrow(engine, sql, schema)
