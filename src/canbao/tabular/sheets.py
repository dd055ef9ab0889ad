"""One reader for the files other offices send: a CSV or XLSX file (or a frame already read) in one of the
layouts of :mod:`canbao.tabular.layouts`, as a frame of text columns named by field.

- The header row is the first row that holds a column for every required field (title rows, a date or unit
  line and blank rows above it are passed over; a merged title is one cell with the others empty).
- ``row_number`` is the spreadsheet's row (the CSV's line) of each row, whatever lies above the header.
- Rows of totals (合计, 小计, 总计 … with no ID number) and signature lines below the data (制表人、审核人 …) are
  left out and reported in :attr:`Sheet.skipped`; entirely blank rows are left out.
- Every cell is text, stripped, an empty one null; the ID number keeps the Excel-number mark of
  :func:`canbao.tabular.values.cell_text` for its check, the other fields drop it.
- Every refusal is an :class:`InputError` of the caller's `field` with a Chinese message naming the file, and
  the row and the column where there is one.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from canbao.errors import InputError
from canbao.ids import redact_id_numbers
from canbao.tabular.layouts import FIELDS, Layout
from canbao.tabular.textfiles import CONTROL, control_refusal, csv_bytes, read_csv_text, separator_of
from canbao.tabular.values import EXCEL_NUMBER, SUMMARY_WORDS, cell_text, header_key

__all__ = ["HEADER_SCAN_ROWS", "Sheet", "from_frame", "read_bytes", "read_file", "read_sheets"]

TEXT = pl.String()
HEADER_SCAN_ROWS = 30
"""How many rows from the top the header is looked for in."""

_SUMMARY = re.compile(r"^\s*(?:" + "|".join(r"\s*".join(w) for w in SUMMARY_WORDS) + ")")
_SUMMARY_PATTERN = _SUMMARY.pattern
_FOOTER_PATTERN = r"^\s*(?:制表|填表|填报|审核|审批|负责人|单位负责人|经办人|联系人|打印|备注[:：]|说明[:：]|注[:：])"
_ID_LIKE = r"[0-9０-９]{6}"


@dataclass
class Sheet:
    """A file read in a layout: `frame` has ``row_number`` (Int64) and one text column per field of the layout
    (null where the file has no such column), in the layout's order."""

    file_name: str
    data: bytes
    frame: pl.DataFrame
    header_row: int
    columns: dict[str, str]  # field → the header as written in the file
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (row, why): summary and signature rows
    sheet: str | None = None

    @property
    def summary_rows(self) -> list[int]:
        return [r for r, _ in self.skipped]

    source: str | None = None  # what messages call a frame given as read (from_frame), instead of 文件 X

    def where(self) -> str:
        """How messages name it: ``文件 X `` or ``文件 X 的工作表“Y”`` (or the source of a frame given as read)."""
        if self.source:
            return f"{self.source} "
        return f"文件 {self.file_name} " + (f"的工作表“{self.sheet}”" if self.sheet else "")

    def header(self, ident: str) -> str:
        """The column a field is in, as the file writes it (else the field's label)."""
        return self.columns.get(ident, FIELDS[ident].label)

    def skipped_text(self) -> str:
        """第 12 行（合计行）… for a report, or empty."""
        return "、".join(f"第 {r} 行（{why}）" for r, why in self.skipped)


def _refuse(field_name: str, message: str) -> InputError:
    return InputError(field_name, message)


def _header_text(headers: Iterable[str], most: int = 20, width: int = 20) -> str:
    """Header cells for a message: at most `most`, each cut at `width` characters, ID-like runs masked (a file
    without its header row would otherwise show a person)."""
    cells = [h for h in headers if h]
    cut = [h if len(h) <= width else h[:width] + "…" for h in cells[:most]]
    more = f" 等 {len(cells)} 列" if len(cells) > most else ""
    return redact_id_numbers("、".join(cut)) + more if cut else "（无）"


# ---------------------------------------------------------------------------------------------------- header


def _match(cells: list[str], layout: Layout) -> dict[str, list[tuple[int, int]]]:
    """Field → [(rank, column index)] of the cells that are its headers."""
    index = layout.index()
    found: dict[str, list[tuple[int, int]]] = {}
    for i, cell in enumerate(cells):
        key = header_key(re.sub(r"(?:__\d+|_duplicated_\d+)$", "", cell)) if cell else ""
        hit = index.get(key)
        if hit is not None:
            found.setdefault(hit[0], []).append((hit[1], i))
    return found


def _find_header(rows: list[list[str]], layout: Layout) -> int | None:
    """Index (in `rows`) of the first row with a column for every required field."""
    for n, cells in enumerate(rows):
        if all(ident in _match(cells, layout) for ident in layout.required):
            return n
    return None


def _missing(rows: list[list[str]], first_row: int, layout: Layout, where: str, field_name: str) -> InputError:
    """The refusal of a file whose header is not found: the required columns the closest row lacks."""
    best, best_n = -1, 0
    for n, cells in enumerate(rows):
        matched = sum(1 for ident in layout.required if ident in _match(cells, layout))
        if matched > best and any(cells):
            best, best_n = matched, n
    cells = rows[best_n] if rows else []
    found = _match(cells, layout)
    missing = [ident for ident in layout.required if ident not in found]
    parts = "；".join(f"{FIELDS[m].label}（{m}，可用列名：{'、'.join(layout.headers(m))}）" for m in missing)
    return _refuse(
        field_name,
        f"{where}缺少必需的列：{parts}。文件第 {first_row + best_n} 行的列：{_header_text(cells)}",
    )


def _columns(cells: list[str], layout: Layout, where: str, field_name: str) -> dict[str, int]:
    """Field → the column index holding it."""
    out: dict[str, int] = {}
    for ident, hits in _match(cells, layout).items():
        if len(hits) > 1 and layout.two_columns == "refuse":
            (_, a), (_, b) = sorted(hits, key=lambda h: h[1])[:2]
            raise _refuse(
                field_name,
                f"{where}中“{cells[a]}”和“{cells[b]}”都是{FIELDS[ident].label}列（{ident}），只能保留一列",
            )
        out[ident] = min(hits)[1]
    return out


# ---------------------------------------------------------------------------------------------------- frame


def _build(
    raw: pl.DataFrame,
    cells: list[str],
    columns: dict[str, int],
    layout: Layout,
    first_data_row: int,
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """The frame of fields, summary and signature rows left out (and listed), blank rows dropped."""
    names = raw.columns
    wanted = layout.fields
    frame = raw.select(
        pl.int_range(first_data_row, pl.len() + first_data_row, dtype=pl.Int64).alias("row_number"),
        *[
            (
                pl.col(names[columns[ident]]).cast(TEXT).str.strip_chars()
                if FIELDS[ident].kind == "id"
                else pl.col(names[columns[ident]]).cast(TEXT).str.strip_chars_start(EXCEL_NUMBER).str.strip_chars()
            ).alias(ident)
            for ident in wanted
            if ident in columns
        ],
    ).with_columns(pl.lit(None, dtype=TEXT).alias(ident) for ident in wanted if ident not in columns)
    frame = frame.with_columns(pl.when(pl.col(i) != "").then(pl.col(i)).alias(i) for i in wanted).select(
        "row_number", *wanted
    )
    skipped = _skipped(raw, frame, layout)
    if skipped:
        frame = frame.filter(~pl.col("row_number").is_in([r for r, _ in skipped]))
    frame = frame.filter(pl.any_horizontal(pl.col(i).is_not_null() for i in wanted))
    return frame, skipped


def _skipped(raw: pl.DataFrame, frame: pl.DataFrame, layout: Layout) -> list[tuple[int, str]]:
    """Rows of totals and signature lines: (row, why)."""
    if "id_number" in layout.fields:
        # Only a row without an ID number can be a total: look at those alone (a million rows, one pass).
        candidate = pl.col("id_number").is_null() | ~pl.col("id_number").str.contains(_ID_LIKE)
    else:
        candidate = pl.lit(True)
    text_columns = [f"_raw_{n}" for n, (c, t) in enumerate(raw.schema.items()) if t == pl.String]
    if not text_columns:
        return []
    raw_text = raw.select(pl.col(c).alias(f"_raw_{n}") for n, (c, t) in enumerate(raw.schema.items()) if t == pl.String)
    both = pl.concat([frame.select("row_number", *layout.required), raw_text], how="horizontal")
    rows = both.filter(candidate) if "id_number" in layout.fields else both
    if rows.is_empty():
        return []
    required_given = pl.sum_horizontal(pl.col(i).is_not_null() for i in layout.required)
    summary = pl.any_horizontal(pl.col(c).str.contains(_SUMMARY_PATTERN) for c in text_columns).fill_null(False)
    footer = pl.any_horizontal(pl.col(c).str.contains(_FOOTER_PATTERN) for c in text_columns).fill_null(False)
    found = rows.select(
        "row_number",
        why=pl.when(summary).then(pl.lit("合计行")).when(footer & (required_given <= 1)).then(pl.lit("表尾说明行")),
    ).filter(pl.col("why").is_not_null())
    return [(int(r), str(w)) for r, w in found.iter_rows()]


def _finish(
    raw: pl.DataFrame,
    cells: list[str],
    header_row: int,
    layout: Layout,
    name: str,
    where: str,
    data: bytes,
    field_name: str,
    allow_empty: bool,
    sheet: str | None = None,
) -> Sheet:
    columns = _columns(cells, layout, where, field_name)
    frame, skipped = _build(raw, cells, columns, layout, header_row + 1)
    if frame.is_empty() and not allow_empty:
        extra = (
            f"（第 {header_row} 行是表头" + (f"，跳过 {len(skipped)} 个合计或说明行" if skipped else "") + "）"
            if header_row != 1 or skipped
            else ""
        )
        raise _refuse(field_name, f"{where}没有数据行{extra}")
    return Sheet(name, data, frame, header_row, {i: cells[c] for i, c in columns.items()}, skipped, sheet)


# ---------------------------------------------------------------------------------------------------- XLSX


def _open_workbook(data: bytes, name: str, field_name: str) -> Any:
    from openpyxl import load_workbook

    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _refuse(field_name, f"文件 {name} 是旧版 .xls 工作簿，请在 Excel 中另存为 .xlsx")
    if not data.startswith(b"PK\x03\x04"):
        raise _refuse(field_name, f"文件 {name} 不是 XLSX 工作簿（可能是改了扩展名的 CSV 或其他文件）")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file; their text may quote the file
        raise _refuse(field_name, f"文件 {name} 不是有效的 XLSX 工作簿（文件已损坏或不是 Excel 保存的）") from None


def _xlsx_sheet(
    worksheet: Any, layout: Layout, name: str, where: str, data: bytes, field_name: str, allow_empty: bool,
    sheet: str | None, mark_excel_numbers: bool,
) -> Sheet:  # fmt: skip
    rows: Iterator[tuple[Any, ...]] = worksheet.iter_rows(min_row=1, values_only=True)
    top: list[list[str]] = []
    header_at: int | None = None
    for number, row in enumerate(rows, start=1):
        cells = [_checked(cell_text(v), name, number, i + 1, field_name) or "" for i, v in enumerate(row)]
        top.append([c.strip().lstrip("\ufeff") for c in cells])
        if all(ident in _match(top[-1], layout) for ident in layout.required):
            header_at = number
            break
        if number >= HEADER_SCAN_ROWS:
            break
    if not top or not any(any(c for c in r) for r in top):
        raise _refuse(field_name, f"{where}是空的")
    if header_at is None:
        raise _missing(top, 1, layout, where, field_name)
    header = top[-1]
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    for number, row in enumerate(rows, start=header_at + 1):
        cells = list(row[:width]) + [None] * (width - len(row))
        for i, value in enumerate(cells):
            text = cell_text(value, mark_excel_numbers)
            if isinstance(value, str):
                _checked(value, name, number, i + 1, field_name)
            columns[i].append(text)
    names = _unique(header)
    raw = pl.DataFrame({h: pl.Series(h, c, dtype=TEXT) for h, c in zip(names, columns, strict=True)})
    return _finish(raw, header, header_at, layout, name, where, data, field_name, allow_empty, sheet)


def _checked(text: str | None, name: str, row: int, column: int, field_name: str) -> str | None:
    if text is not None and (control := CONTROL.search(text)):
        raise control_refusal(name, row, column, control.group(), field_name)
    return text


def _unique(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for k, h in enumerate(headers):
        h = h or f"列{k + 1}"
        n = seen.get(h, 0)
        seen[h] = n + 1
        out.append(h if n == 0 else f"{h}__{n}")
    return out


def _read_xlsx(
    data: bytes, name: str, layout: Layout, field_name: str, allow_empty: bool, mark_excel_numbers: bool,
    sheets: tuple[str, ...] = (),
) -> dict[str | None, Sheet]:  # fmt: skip
    workbook = _open_workbook(data, name, field_name)
    try:
        if not workbook.worksheets:
            raise _refuse(field_name, f"文件 {name} 没有工作表")
        if sheets:
            missing = [s for s in sheets if s not in workbook.sheetnames]
            if missing:
                present = "、".join(workbook.sheetnames)
                raise _refuse(field_name, f"文件 {name} 缺少工作表：{'、'.join(missing)}（现有：{present}）")
            chosen: list[tuple[str | None, Any]] = [(s, workbook[s]) for s in sheets]
        else:
            chosen = [(None, workbook.worksheets[0])]
        out: dict[str | None, Sheet] = {}
        for sheet, worksheet in chosen:
            where = f"文件 {name} 的工作表“{sheet}”" if sheet else f"文件 {name} "
            out[sheet] = _xlsx_sheet(
                worksheet, layout, name, where, data, field_name, allow_empty, sheet, mark_excel_numbers
            )
        return out
    except InputError:
        raise
    except Exception:  # a damaged sheet fails while it is read, not when it is opened
        raise _refuse(field_name, f"文件 {name} 不是有效的 XLSX 工作簿（文件已损坏或不是 Excel 保存的）") from None
    finally:
        workbook.close()


# ---------------------------------------------------------------------------------------------------- CSV


def _read_csv(data: bytes, name: str, layout: Layout, field_name: str, allow_empty: bool) -> Sheet:
    text = csv_bytes(data, name, field_name)  # UTF-8, LF line ends (or CRLF)
    where = f"文件 {name} "
    prefix = text[: 1 << 16].decode("utf-8-sig", "replace")
    lines = prefix.split("\n")[:HEADER_SCAN_ROWS]
    top: list[list[str]] = []
    header_at: int | None = None
    for n, line in enumerate(lines):
        if line.count('"') % 2:  # a quoted cell across lines above the header: not a title row, stop looking
            break
        cells = next(csv.reader([line.rstrip("\r")], delimiter=separator_of(line)), [])
        top.append([c.strip().lstrip("\ufeff") for c in cells])
        if all(ident in _match(top[-1], layout) for ident in layout.required):
            header_at = n
            break
    if header_at is None:
        if not any(any(c for c in r) for r in top):
            raise _refuse(field_name, f"{where}是空的")
        raise _missing(top, 1, layout, where, field_name)
    offset = 0
    if header_at:
        offset = sum(len(line.encode("utf-8")) + 1 for line in lines[:header_at])
        if text.startswith(b"\xef\xbb\xbf"):
            offset += 3
    raw = read_csv_text(text[offset:], name, field_name, first_row=header_at + 1)
    cells = top[header_at]
    if len(cells) != raw.width:  # the csv module and Polars disagree on the header: trust Polars's
        cells = [c.strip().lstrip("\ufeff") for c in raw.columns]
    return _finish(raw, cells, header_at + 1, layout, name, where, data, field_name, allow_empty)


# ---------------------------------------------------------------------------------------------------- entry points


def read_bytes(path: Path, field_name: str = "input") -> bytes:
    if not path.is_file():
        raise _refuse(field_name, f"文件不存在：{path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _refuse(field_name, f"无法读取文件 {path}：{exc.strerror}") from None


def read_file(
    path: Path,
    layout: Layout,
    *,
    field_name: str = "input",
    allow_empty: bool = False,
    mark_excel_numbers: bool = True,
) -> Sheet:
    """A CSV (UTF-8/GBK/UTF-16) or XLSX (first sheet) file in `layout` (see the module docstring)."""
    path = Path(path)
    data = read_bytes(path, field_name)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(data, path.name, layout, field_name, allow_empty, mark_excel_numbers)[None]
    if layout.xlsx_only:
        raise _refuse(field_name, f"文件 {path.name} 应为 .xlsx 工作簿")
    if suffix in (".csv", ".txt"):
        return _read_csv(data, path.name, layout, field_name, allow_empty)
    if suffix == ".xls":
        raise _refuse(field_name, f"不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx：{path.name}")
    raise _refuse(field_name, f"只支持 .csv 或 .xlsx 文件：{path.name}")


def read_sheets(
    path: Path, layout: Layout, *, field_name: str = "input", allow_empty: bool = False
) -> dict[str, Sheet]:
    """The named sheets of an XLSX workbook (``layout.sheets``), each in `layout`."""
    path = Path(path)
    data = read_bytes(path, field_name)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        wanted = "、".join(f"“{s}”" for s in layout.sheets)
        raise _refuse(field_name, f"文件 {path.name} 应为 .xlsx 工作簿（含{wanted}工作表）")
    found = _read_xlsx(data, path.name, layout, field_name, allow_empty, False, layout.sheets)
    return {str(k): v for k, v in found.items()}


def from_frame(
    raw: pl.DataFrame, layout: Layout, source: str, *, field_name: str = "input", allow_empty: bool = False
) -> Sheet:
    """A frame already read as text (its columns the header, in row 1) in `layout`; `source` names it in
    messages (e.g. ``文件 a.csv`` or a register's label)."""
    cells = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    where = f"{source} "
    if not all(ident in _match(cells, layout) for ident in layout.required):
        raise _missing([cells], 1, layout, where, field_name)
    sheet = _finish(
        raw.with_columns(pl.all().cast(TEXT)), cells, 1, layout, source, where, b"", field_name, allow_empty
    )
    sheet.source = source
    return sheet
