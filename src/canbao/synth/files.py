"""Writing the offices' files: CSV as an office sends it, spreadsheet row numbers, dates as text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from canbao.outputs import atomic_output


def payment_place(row: dict[str, Any]) -> dict[str, Any]:
    """Where a payment event is: its day's file and its 0-based row index there."""
    return {"file": f"payments/{row['paid_on'].isoformat()}.parquet", "index": row["_index"]}


def write_csv(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """UTF-8 with a BOM; a lazy frame is streamed to the file.  Atomic and 0600 like every output
    (canbao.outputs), but not formula-escaped: these are the inputs an office would send, as sent."""
    with atomic_output(path) as temporary:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_csv(temporary, include_bom=True)
        else:
            frame.write_csv(temporary, include_bom=True)


def csv_rows(frame: pl.DataFrame, key: str, values: Sequence[str]) -> dict[str, list[int]]:
    """Spreadsheet row numbers (header = 1) of the rows whose `key` is in `values`."""
    found = (
        frame.select(pl.col(key), (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row"))
        .filter(pl.col(key).is_in(list(values)))
        .group_by(key, maintain_order=True)
        .agg("row")
    )
    return {k: list(rows) for k, rows in found.iter_rows()}


def date_text(expr: pl.Expr, fmt: str = "%Y-%m-%d") -> pl.Expr:
    return expr.dt.to_string(fmt)
