"""Workbooks of several sheets, each a frame whose column names are already the Chinese headers.

No text becomes a formula, a link or a number: xlsxwriter is told so (its default turns any text starting with
`=` into a formula and `http://…` into a link), and a text a spreadsheet would run on editing (OWASP's leading
characters, canbao.outputs) is also given Excel's quote prefix, so that it stays text when a clerk edits
the cell.  openpyxl (the import feedback) gets the same through :func:`text_cells`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import polars as pl
from xlsxwriter import Workbook
from xlsxwriter.worksheet import Worksheet

from canbao.outputs import FORMULA_START, OutputGroup, formula_like

AUTOFIT_ROWS = 5_000  # autofit reads every cell: skip it on long detail sheets
WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def safe_workbook(path: Path) -> Workbook:
    """An xlsxwriter workbook that writes text as text (the caller makes the path atomic)."""
    return Workbook(path, WORKBOOK_OPTIONS)


def write_sheet(workbook: Workbook, name: str, frame: pl.DataFrame, **options: Any) -> None:
    """`frame` as sheet `name` (header row first) of `workbook`; formula-like text kept as quoted text."""
    frame.write_excel(workbook, worksheet=name, **options)
    _quote_prefix(workbook, workbook.get_worksheet_by_name(name), frame)


def _quote_prefix(workbook: Workbook, sheet: Worksheet, frame: pl.DataFrame) -> None:
    """Rewrite the (few) formula-like text cells with Excel's quote prefix; polars wrote them as text."""
    text = [i for i, dtype in enumerate(frame.dtypes) if dtype == pl.String]
    if not text:
        return
    names = [frame.columns[i] for i in text]
    marked = pl.any_horizontal(formula_like(pl.col(n)) for n in names).fill_null(False).arg_true()
    rows = frame.select(marked).to_series()
    if rows.len() == 0:
        return
    quoted = workbook.add_format({"quote_prefix": True})
    for r in rows:
        for c in text:
            value = frame[r, c]
            if isinstance(value, str) and value.startswith(FORMULA_START):
                sheet.write_string(r + 1, c, value, quoted)  # row 0 is the header


def write_workbook(path: Path, sheets: Mapping[str, pl.DataFrame], group: OutputGroup | None = None) -> Path:
    """Write `sheets` (sheet name → frame) into one XLSX at `path` (atomic, 0600; as part of `group` when
    given, which then publishes it); header row frozen, columns fitted.

    An empty frame still gets its sheet with the headers, so a clerk sees the check was made and found nothing."""
    with (
        OutputGroup() if group is None else nullcontext(group) as files,
        safe_workbook(files.temporary(path)) as workbook,
    ):
        for name, frame in sheets.items():
            write_sheet(
                workbook,
                name[:31],  # Excel's limit on sheet names
                frame,
                autofit=frame.height < AUTOFIT_ROWS,
                freeze_panes=(1, 0),
                header_format={"bold": True, "bg_color": "#DDEBF7"},
            )
    return path


def text_cells(sheet: Any, row: Sequence[Any]) -> list[Any]:
    """An openpyxl write-only row in which formula-like text is a text cell with the quote prefix (openpyxl
    takes any text starting with `=` for a formula)."""
    from openpyxl.cell import WriteOnlyCell

    cells: list[Any] = []
    for value in row:
        if isinstance(value, str) and value.startswith(FORMULA_START):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            cell.quotePrefix = True
            cells.append(cell)
        else:
            cells.append(value)
    return cells
