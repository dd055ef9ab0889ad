"""Large reads as Arrow (ADBC drivers): a million rows in a fraction of a second, where rows through Python
(SQLAlchemy, the DB-API cursors) take tens of seconds.  For read-only scans of the registry; writes stay in
SQLAlchemy and store.bulk."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Engine


def _adbc_connection(engine: Engine) -> Any:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi

        return adbc_driver_sqlite.dbapi.connect(url.database or ":memory:")
    import adbc_driver_postgresql.dbapi

    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return adbc_driver_postgresql.dbapi.connect(uri)


def read_arrow(engine: Engine, sql: str) -> pl.DataFrame:
    """The rows of `sql` (plain SQL text, no parameters: callers format only integers into it)."""
    with _adbc_connection(engine) as connection:
        return pl.read_database(sql, connection)
