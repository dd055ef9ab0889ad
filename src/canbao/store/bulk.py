"""Bulk writes of a Polars frame into a table, inside the caller's transaction: COPY on PostgreSQL, executemany
of multi-row INSERTs on the SQLite driver cursor (3-4× faster than SQLAlchemy Core with a dictionary per row).  For
the season's and the imports' million-row writes; single rows go through Core.  `update_rows`: many rows'
updates in one statement."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any

import polars as pl
from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    text,
    update,
)

CHUNK_ROWS = 100_000
ROWS_PER_STATEMENT = 500  # SQLite: rows in one INSERT … VALUES (within the driver's limit of variables)


def bulk_insert(
    connection: Connection,
    table: Table,
    frame: pl.DataFrame,
    on_chunk: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Insert every row of `frame` (its columns named as the table's) into `table`, `chunk_rows` at a time,
    calling `on_chunk(rows)` after each chunk (progress bars); returns the row count."""
    if frame.height == 0:
        return 0
    unknown = [c for c in frame.columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    preparer = connection.dialect.identifier_preparer
    name = preparer.format_table(table)
    columns = ", ".join(preparer.quote(c) for c in frame.columns)
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for chunk in frame.iter_slices(chunk_rows):
                # Unquoted empty is NULL, quoted "" an empty text.
                copy.write(chunk.write_csv(include_header=False, null_value="", quote_style="non_numeric"))
                if on_chunk is not None:
                    on_chunk(chunk.height)
        return frame.height
    # SQLite stores dates as 'YYYY-MM-DD' and datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff', as SQLAlchemy does.
    plain = frame.with_columns(
        pl.col(pl.Datetime).dt.replace_time_zone(None).dt.to_string("%Y-%m-%d %H:%M:%S.%6f"),
        pl.col(pl.Date).dt.to_string("%Y-%m-%d"),
        pl.col(pl.Boolean).cast(pl.Int8),
    )
    # Many rows per statement: a statement that may abort (a table with triggers: the ledger's guard) opens a
    # statement journal each time it runs, which tripled the cost of a row inserted one statement at a time.
    row = f"({', '.join('?' * plain.width)})"
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(ROWS_PER_STATEMENT, limit // plain.width))
    cursor = driver.cursor()
    try:
        for chunk in plain.iter_slices(chunk_rows):
            rows = chunk.rows()
            whole = len(rows) - len(rows) % per
            if whole:
                cursor.executemany(
                    f"INSERT INTO {name} ({columns}) VALUES {', '.join([row] * per)}",
                    (list(chain.from_iterable(rows[at : at + per])) for at in range(0, whole, per)),
                )
            if whole < len(rows):
                rest = rows[whole:]
                cursor.execute(
                    f"INSERT INTO {name} ({columns}) VALUES {', '.join([row] * len(rest))}",
                    list(chain.from_iterable(rest)),
                )
            if on_chunk is not None:
                on_chunk(chunk.height)
    finally:
        cursor.close()
    return frame.height


def allocate_ids(connection: Connection, table: Table, n: int) -> pl.Series:
    """`n` fresh primary keys, ascending, for rows about to be bulk-inserted with their ids.

    PostgreSQL draws them from the table's sequence, named once (pg_get_serial_sequence() in the select list
    would run per row, ~10× slower).  SQLite takes the next ones after the largest: safe because every SQLite
    transaction here holds the database's write lock from its first statement (BEGIN IMMEDIATE, see db.py)."""
    if n == 0:
        return pl.Series("id", [], dtype=pl.Int64)
    if connection.dialect.name == "postgresql":
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        ).scalar_one()
        quoted = str(sequence).replace("'", "''")
        rows = connection.exec_driver_sql(
            f"SELECT nextval('{quoted}'::regclass) FROM generate_series(1, {int(n)})"
        ).scalars()
        return pl.Series("id", list(rows), dtype=pl.Int64).sort()
    largest = connection.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}").scalar_one()
    return pl.int_range(int(largest) + 1, int(largest) + 1 + n, dtype=pl.Int64, eager=True).alias("id")


def one_of(c: Connection, column: Any, values: list[Any], element: Any) -> Any:
    """`column IN (values)`; on PostgreSQL `= ANY(array)`, one parameter instead of thousands (rendering and
    parsing those cost a tenth of a second per day's file)."""
    if c.dialect.name == "postgresql":
        return column == any_(cast(bindparam(None, values, type_=ARRAY(element)), ARRAY(element)))
    return column.in_(values)


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


def json_rows(table: Table, rows: Sequence[Mapping[str, Any]], names: Sequence[str], alias: str = "given") -> Any:
    """PostgreSQL: `rows` as a derived table `json_to_recordset(:rows) AS given(name type, …)` typed as
    `table`'s columns — the rows one JSON text, dumped by the json module's C encoder (a driver's arrays
    are dumped a value at a time in Python: a fifth of the notifications' applier)."""
    payload = json.dumps([{n: _json_value(r[n]) for n in names} for r in rows], ensure_ascii=False)
    return (
        func.json_to_recordset(cast(bindparam(f"{alias}_rows", payload, type_=Text), JSON))
        .table_valued(*(column(n, table.c[n].type) for n in names))
        .render_derived(name=alias, with_types=True)
    )


def update_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    where: Sequence[ColumnElement[bool]] = (),
) -> None:
    """Set each row's other columns where its `keys` columns match (and `where` holds), inside the caller's
    transaction: on PostgreSQL one `UPDATE … FROM json_rows(…)` — one statement, one parameter — instead of a
    statement a row; on SQLite (in-process, no round trips) an executemany."""
    if not rows:
        return
    names = list(rows[0])
    values = [n for n in names if n not in keys]
    if connection.dialect.name == "postgresql":
        given = json_rows(table, rows, names)
        connection.execute(
            update(table)
            .where(*(table.c[k] == given.c[k] for k in keys), *where)
            .values({n: given.c[n] for n in values})
        )
        return
    connection.execute(
        update(table)
        .where(*(table.c[k] == bindparam(f"u_{k}") for k in keys), *where)
        .values({n: bindparam(f"u_{n}") for n in values}),
        [{f"u_{n}": r[n] for n in names} for r in rows],
    )
