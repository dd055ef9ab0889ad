"""Bulk writes of a Polars frame into a table, inside the caller's transaction: COPY on PostgreSQL, one
executemany of plain tuples on SQLite.  For the season's million-row writes; single rows go through Core."""

from __future__ import annotations

import io

import polars as pl
from sqlalchemy import Connection, Table


def bulk_insert(connection: Connection, table: Table, frame: pl.DataFrame) -> int:
    """Insert every row of `frame` (its columns named as the table's) into `table`; returns the row count."""
    if frame.height == 0:
        return 0
    columns = frame.columns
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        frame.write_csv(buffer, include_header=False, null_value="", quote_style="non_numeric")
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            names = ", ".join(columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
        return frame.height
    # SQLite stores dates as 'YYYY-MM-DD' and datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff', as SQLAlchemy does.
    text_times = frame.with_columns(
        pl.col(pl.Datetime).dt.replace_time_zone(None).dt.to_string("%Y-%m-%d %H:%M:%S.%6f"),
        pl.col(pl.Date).dt.to_string("%Y-%m-%d"),
        pl.col(pl.Boolean).cast(pl.Int8),
    )
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
    connection.exec_driver_sql(statement, text_times.rows())
    return frame.height


def allocate_ids(connection: Connection, table: Table, n: int) -> pl.Series:
    """`n` fresh primary keys for rows about to be bulk-inserted with their ids.

    PostgreSQL draws them from the table's sequence.  SQLite takes the next ones after the largest: safe
    because every SQLite transaction here holds the database's write lock from its first statement
    (BEGIN IMMEDIATE, see db.py)."""
    if n == 0:
        return pl.Series("id", [], dtype=pl.Int64)
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, {int(n)})"
        ).scalars()
        return pl.Series("id", list(rows), dtype=pl.Int64)
    largest = connection.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}").scalar_one()
    return pl.Series("id", range(int(largest) + 1, int(largest) + 1 + n), dtype=pl.Int64)
