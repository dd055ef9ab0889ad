"""Workbooks of several sheets, each a frame whose column names are already the Chinese headers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl
from xlsxwriter import Workbook

AUTOFIT_ROWS = 5_000  # autofit reads every cell: skip it on long detail sheets


def write_workbook(path: Path, sheets: Mapping[str, pl.DataFrame]) -> Path:
    """Write `sheets` (sheet name → frame) into one XLSX at `path`; header row frozen, columns fitted.

    An empty frame still gets its sheet with the headers, so a clerk sees the check was made and found nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Workbook(path) as workbook:
        for name, frame in sheets.items():
            frame.write_excel(
                workbook,
                worksheet=name[:31],  # Excel's limit on sheet names
                autofit=frame.height < AUTOFIT_ROWS,
                freeze_panes=(1, 0),
                header_format={"bold": True, "bg_color": "#DDEBF7"},
            )
    return path
