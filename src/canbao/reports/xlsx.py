"""Workbooks of several sheets, each a frame whose column names are already the Chinese headers.

No text becomes a formula, a link or a number: xlsxwriter is told so (its default turns any text starting with
`=` into a formula and `http://…` into a link), and a text a spreadsheet would run on editing (OWASP's leading
characters, canbao.outputs) is also given Excel's quote prefix, so that it stays text when a clerk edits
the cell.  openpyxl (the import feedback) gets the same through :func:`text_cells`.

Amounts, counts and rates are numbers an official can sum and sort, each with its number format (one
mechanism for every workbook): give :func:`write_workbook` / :func:`write_sheet` ``numbers={column: kind}``,
kind one of NUMBER_FORMATS —

- ``"fen"``: integer fen, written as yuan (fen / 100: the double nearest the exact amount), ``#,##0.00``;
- ``"yuan"``: Decimal (or float) yuan, ``#,##0.00``;
- ``"count"``: integers, ``#,##0``;
- ``"rate"``: a fraction (build it with :func:`rate`: 16/27 is stored as 0.5926 and shows 59.26%, correctly
  rounded by Excel), ``0.00%``;
- ``"points"``: a change of rate in percentage points (e.g. +1.25), ``+0.00;-0.00;0.00``.

A null is an empty cell.  Text columns stay text with the formula guard above; a column named in ``numbers``
that is not numeric is refused (a programming error, never silently text).  For openpyxl writers
:func:`number_cell` makes one such cell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl
from xlsxwriter import Workbook
from xlsxwriter.worksheet import Worksheet

from canbao.outputs import FORMULA_START, OutputGroup, formula_like

AUTOFIT_ROWS = 5_000  # autofit reads every cell: skip it on long detail sheets
WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


NumberKind = Literal["fen", "yuan", "count", "rate", "points"]
NUMBER_FORMATS: dict[str, str] = {
    "fen": "#,##0.00",
    "yuan": "#,##0.00",
    "count": "#,##0",
    "rate": "0.00%",
    "points": "+0.00;-0.00;0.00",
}


def rate(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator as a fraction for a ``"rate"`` cell; null when the denominator is null or 0
    (no rate).  Only for showing: ranking and thresholds compare the integers themselves."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))


def _numeric(frame: pl.DataFrame, numbers: Mapping[str, NumberKind]) -> tuple[pl.DataFrame, dict[str, str]]:
    """`frame` with its number columns as Excel numbers (fen → yuan), and each column's number format."""
    formats: dict[str, str] = {}
    exprs: list[pl.Expr] = []
    for column, kind in numbers.items():
        if column not in frame.columns:
            continue
        dtype = frame.schema[column]
        if not (dtype.is_numeric() or dtype == pl.Null):
            raise TypeError(f"column {column!r} is {dtype}, not a number: it cannot be written as {kind}")
        formats[column] = NUMBER_FORMATS[kind]
        if kind == "fen":
            if not (dtype.is_integer() or dtype == pl.Null):
                raise TypeError(f"column {column!r} is {dtype}: fen are integers")
            exprs.append((pl.col(column).cast(pl.Int64).cast(pl.Float64) / 100).alias(column))
        elif kind in ("yuan", "rate", "points") and dtype != pl.Float64:
            exprs.append(pl.col(column).cast(pl.Float64).alias(column))
    return (frame.with_columns(exprs) if exprs else frame), formats


def safe_workbook(path: Path) -> Workbook:
    """An xlsxwriter workbook that writes text as text (the caller makes the path atomic)."""
    return Workbook(path, WORKBOOK_OPTIONS)


def write_sheet(
    workbook: Workbook,
    name: str,
    frame: pl.DataFrame,
    numbers: Mapping[str, NumberKind] | None = None,
    **options: Any,
) -> None:
    """`frame` as sheet `name` (header row first) of `workbook`; formula-like text kept as quoted text, the
    columns named in `numbers` as numbers with their format (module docstring)."""
    frame, formats = _numeric(frame, numbers or {})
    if formats:
        options["column_formats"] = {**formats, **options.get("column_formats", {})}
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


def write_workbook(
    path: Path,
    sheets: Mapping[str, pl.DataFrame],
    group: OutputGroup | None = None,
    numbers: Mapping[str, NumberKind] | None = None,
) -> Path:
    """Write `sheets` (sheet name → frame) into one XLSX at `path` (atomic, 0600; as part of `group` when
    given, which then publishes it); header row frozen, columns fitted; `numbers` (column header → kind, in
    whichever sheet the header appears) written as numbers with their format.

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
                numbers,
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


def number_cell(sheet: Any, value: int | float | Decimal | None, kind: NumberKind) -> Any:
    """An openpyxl write-only cell holding `value` as a number of `kind` (fen are written as yuan)."""
    from openpyxl.cell import WriteOnlyCell

    if value is not None and kind == "fen":
        value = Decimal(int(value)) / 100
    number = float(value) if isinstance(value, Decimal) else value
    cell = WriteOnlyCell(sheet, value=number)
    cell.number_format = NUMBER_FORMATS[kind]
    return cell
