"""The values of office files, one way everywhere: ID numbers, dates, amounts, names and spreadsheet cells.

Every function here builds Polars expressions over text columns (the readers read every cell as text, see
:mod:`canbao.tabular.sheets`), so a million rows are checked in one pass and no row goes through Python.

- ID numbers (:func:`id_numbers`): spaces (full-width ones too) and quotes anywhere in the cell are ignored,
  so is Excel's leading apostrophe; full-width digits count as digits and a lowercase ``x`` as ``X``; then
  GB 11643 (:func:`canbao.ids.parse_id_numbers`), 15-digit numbers converted.  An XLSX cell holding the number
  as a number (Excel keeps only 15 significant digits) is refused with that reason: :func:`cell_text` marks
  such a cell with :data:`EXCEL_NUMBER` and the ID number's check sees the mark; so is a CSV cell Excel
  wrote from such a column (``3.41323E+17``).
- Dates (:func:`dates`): ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``YYYYMMDD``, ``YYYY年MM月DD日``, month
  and day with one digit or two, a time after the date (ignored), an Excel date cell, an Excel serial day
  number (``44562`` = 2022-01-01); where a field allows it 长期 / 长期有效 / 至今 / 永久 / 无期限 mean open-ended.
- Amounts (:func:`amounts`): yuan with at most two decimals to integer fen, exactly (never a float):
  thousands separators, ``¥``/``￥`` before and ``元`` after are allowed, spaces ignored; a minus sign only
  where the layout allows negative amounts (refund lines of the tax bureau's and the bank's files).
- Names (:func:`names`, :func:`name_problem`): spaces at the ends dropped, runs of spaces inside made one;
  a name that begins like a formula or holds a control character is refused
  (:func:`canbao.rules.columns.not_a_name`).
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from decimal import Decimal
from typing import Any

import polars as pl

from canbao.ids import parse_id_numbers
from canbao.rules.columns import not_a_name, not_a_name_message

__all__ = [
    "DATE_FORMATS",
    "DATE_HINT",
    "EXCEL_EPOCH",
    "EXCEL_NUMBER",
    "EXCEL_NUMBER_REASON",
    "OPEN_ENDED",
    "SUMMARY_WORDS",
    "amount_problem",
    "amounts",
    "cell_text",
    "date_problem",
    "dates",
    "header_key",
    "id_numbers",
    "name_problem",
    "names",
    "needs_full_width",
]

TEXT = pl.String()

EXCEL_NUMBER = "\x00"
"""Prefix :func:`cell_text` gives an XLSX number of 1e15 and above: its digits beyond the 15th are lost (a NUL
cannot come from the file itself: the readers refuse control characters)."""

EXCEL_NUMBER_REASON = "身份证号码：在 Excel 中被存成了数字，第15位以后已丢失，请把该列设为文本后重新填写"

DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
"""Accepted date layouts (month and day may have one digit or two); a time after the date is ignored."""

DATE_HINT = "应为 YYYY-MM-DD、YYYY/MM/DD、YYYY.MM.DD、YYYYMMDD、YYYY年MM月DD日 或 Excel 日期"
OPEN_ENDED: tuple[str, ...] = ("长期", "长期有效", "至今", "永久", "无期限")
EXCEL_EPOCH = dt.date(1899, 12, 30)

SUMMARY_WORDS: tuple[str, ...] = ("合计", "小计", "总计", "共计", "总数")
"""A row whose first words are one of these (spaces ignored) is a total, not a person or a record."""


def header_key(text: str) -> str:
    """How headers (and words such as categories) are compared: NFKC, no spaces, Latin lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


# ---------------------------------------------------------------------------------------------------- cells


def cell_text(value: Any, mark_excel_numbers: bool = False) -> str | None:
    """An XLSX cell as text: a date cell as YYYY-MM-DD (its time dropped), an integer as its digits, a float as
    the shortest digits that give it back (``repr``: 1234.5 → ``1234.5``, never ``1234.4999…``).  With
    `mark_excel_numbers`, numbers of 1e15 and above, whose digits beyond the 15th Excel has lost, get the
    :data:`EXCEL_NUMBER` prefix (only the ID number's check looks at it; other fields drop it)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    mark = EXCEL_NUMBER if mark_excel_numbers and isinstance(value, int | float) and abs(value) >= 1e15 else ""
    if isinstance(value, int):
        return mark + str(value)
    if isinstance(value, float) and value.is_integer():
        # Below 1e15 a double is an exact integer; above, its shortest digits are what the spreadsheet shows.
        return mark + (str(int(value)) if abs(value) < 1e15 else format(Decimal(repr(value)), "f"))
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # 1e-05 → 0.00001: digits, never an exponent
    return str(value)


# ---------------------------------------------------------------------------------------------------- ID numbers


def needs_full_width(column: pl.Series) -> bool:
    """Whether any value has a non-ASCII character (full-width digits, Ｘ, a full-width space): only then is
    NFKC worth its cost (0.3 s a million rows)."""
    return bool(column.str.contains(r"[^\x00-\x7f]").any())


def id_numbers(ids: pl.Expr, today: dt.date, *, full_width: bool = True) -> pl.Expr:
    """ID numbers as written in a file, checked: a struct with ``id_number`` (the 18-character number, null
    when refused), ``birth_date``, ``sex``, ``id_text`` (the cell as written, without the Excel mark) and
    ``id_error`` (null, or one Chinese sentence; the Excel-number reason for a numeric XLSX cell).

    `full_width`: normalize full-width characters (pass :func:`needs_full_width` of the column to skip it when
    the file has none)."""
    # An XLSX number cell (marked by cell_text), or a CSV Excel saved from a number column: 3.41323E+17.
    excel = (ids.str.starts_with(EXCEL_NUMBER) | ids.str.contains(r"^\s*\d(?:\.\d+)?[eE]\+?\d+\s*$")).fill_null(False)
    text = ids.str.strip_chars_start(EXCEL_NUMBER)
    cleaned = text.str.replace_all(r"[\s'‘’\"`]", "")
    if full_width:
        cleaned = cleaned.str.normalize("NFKC").str.replace_all(r"[\s'‘’\"`]", "")
    parsed = parse_id_numbers(cleaned, today)
    f = pl.field
    return (
        pl.struct(parsed.alias("p"), excel.alias("excel"), text.alias("id_text"))
        .struct.eval(
            id_number=pl.when(~f("excel")).then(f("p").struct.field("id_number")),
            birth_date=pl.when(~f("excel")).then(f("p").struct.field("birth_date")),
            sex=pl.when(~f("excel")).then(f("p").struct.field("sex")),
            id_text=f("id_text"),
            id_error=pl.when(f("excel"))
            .then(pl.lit(EXCEL_NUMBER_REASON, dtype=TEXT))
            .otherwise(f("p").struct.field("id_error")),
        )
        .alias("id")
    )


# ---------------------------------------------------------------------------------------------------- dates


def dates(text: pl.Expr, *, open_ended: bool = False) -> pl.Expr:
    """Date text (see the module docstring) → Date; null where it is not a date, and for the open-ended words
    when `open_ended` (tell them apart with :func:`date_problem`)."""
    bare = text.str.strip_chars().str.replace(r"(?:[ T]|\s+)\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:\.\d+)?)?$", "")
    serial = pl.when(bare.str.contains(r"^\d{1,5}(?:\.0+)?$")).then(
        bare.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
    )
    from_serial = pl.when(serial.is_between(1, 99_999)).then(
        pl.lit(EXCEL_EPOCH, dtype=pl.Date) + pl.duration(days=serial)
    )
    parsed = pl.coalesce(*[bare.str.to_date(f, strict=False) for f in DATE_FORMATS], from_serial)
    if open_ended:
        return (
            pl.when(text.str.strip_chars().is_in(list(OPEN_ENDED))).then(pl.lit(None, dtype=pl.Date)).otherwise(parsed)
        )
    return parsed


def date_problem(text: pl.Expr, parsed: pl.Expr, *, open_ended: bool = False) -> pl.Expr:
    """The reason a date cell is refused (``“…”不是有效日期（应为 …）``), null when it is fine or empty."""
    allowed = text.str.strip_chars().is_in(list(OPEN_ENDED)) if open_ended else pl.lit(False)
    hint = DATE_HINT + ("，或“长期”" if open_ended else "")
    return pl.when(text.is_not_null() & parsed.is_null() & ~allowed).then(
        pl.concat_str([pl.lit("“"), text, pl.lit(f"”不是有效日期（{hint}）")])
    )


# ---------------------------------------------------------------------------------------------------- amounts

_AMOUNT = r"^-?\d+(?:\.\d{1,2})?$"
_GROUPED = r"^-?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?$"


def _amount_text(text: pl.Expr) -> pl.Expr:
    """Without spaces, currency signs and 元; full-width digits, commas, minus and point made ASCII."""
    clean = text.str.strip_chars().str.replace(r"^[¥￥]\s*", "").str.replace(r"\s*元$", "")
    return clean.str.replace_all("，", ",").str.replace_all("－", "-").str.replace_all("．", ".")


def amounts(text: pl.Expr, *, negative: bool = False) -> pl.Expr:
    """Yuan text ("1,234.50", "¥320", "320元", "-320.00" where `negative`) → integer fen, exactly; null where
    the text is not such an amount."""
    clean = _amount_text(text)
    grouped = clean.str.contains(_GROUPED)
    plain = pl.when(grouped).then(clean.str.replace_all(",", "")).otherwise(clean)
    ok = plain.str.contains(_AMOUNT)
    if not negative:
        ok = ok & ~plain.str.starts_with("-")
    sign = pl.when(plain.str.starts_with("-")).then(-1).otherwise(1)
    digits = plain.str.strip_prefix("-")
    whole = digits.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False)
    cents = digits.str.extract(r"\.(\d{1,2})$", 1).fill_null("0").str.pad_end(2, "0").cast(pl.Int64, strict=False)
    return pl.when(ok).then(sign * (whole * 100 + cents))


def fast_amounts(column: pl.Series, *, negative: bool = False) -> pl.Series:
    """:func:`amounts` over a whole column, with a fast path for the usual "320.00" form (a million amounts in
    a tenth of a second instead of a second)."""
    usual = column.str.contains(r"^-?\d+\.\d\d$" if negative else r"^\d+\.\d\d$")
    if bool((usual | column.is_null()).all()):
        return column.str.replace(".", "", literal=True).cast(pl.Int64).rename(column.name)
    return column.to_frame("t").select(amounts(pl.col("t"), negative=negative)).to_series().rename(column.name)


def amount_problem(text: pl.Expr, fen: pl.Expr, *, negative: bool = False) -> pl.Expr:
    """The reason an amount cell is refused, null when it is fine or empty."""
    hint = "元，最多两位小数" + ("，退费可为负数" if negative else "，不能为负数")
    return pl.when(text.is_not_null() & fen.is_null()).then(
        pl.concat_str([pl.lit("“"), text, pl.lit(f"”不是有效金额（{hint}）")])
    )


# ---------------------------------------------------------------------------------------------------- names


def names(text: pl.Expr) -> pl.Expr:
    """A name with the spaces at its ends dropped and each run of spaces inside made one (full-width ones
    too); tabs and line breaks are left for :func:`name_problem` to refuse."""
    return text.str.replace_all(r"[ \u3000\u00a0]+", " ").str.strip_chars(" ")


def name_problem(text: pl.Expr) -> pl.Expr:
    """Why a (present) name is refused, null when it is fine: a formula-like first character, a control
    character (:func:`canbao.rules.columns.not_a_name`)."""
    return pl.when(not_a_name(text)).then(not_a_name_message(text).cast(TEXT))
