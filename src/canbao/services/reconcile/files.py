"""Reading the tax bureau's, the bank's and the collecting units' files, and other counties' rosters, through the
one reader of office files (:mod:`canbao.tabular`; layouts ``tax``, ``bank``, ``collecting_unit`` and
``other_county`` of :mod:`canbao.tabular.layouts`, rendered in docs/file-layouts.md).

- The header row is found below any title rows; 合计 rows and signature lines are left out; ``row`` is the
  spreadsheet's row.
- ID numbers are read as everywhere (:func:`canbao.tabular.values.id_numbers`): a valid number written with a
  lowercase x, an apostrophe, spaces or full-width digits is the registry's number; a number that is not valid
  is kept as written (without spaces and quotes): it is itself a finding.  An XLSX cell holding the number as
  a number (Excel keeps 15 digits) refuses the file, as the imports refuse it.
- A negative amount is read as it is written (``-320.00``) in the tax bureau's and the bank's files: they write
  a refund (退费) so, and the matching pairs it with the registry's refund.  A collecting unit's list has none.
- A file with a header and no data rows is refused, as the imports refuse it.  Errors name the domain field
  the file came in (`FIELDS`: ``tax``, ``bank``, ``collections``, ``other_counties``), never a command-line
  option, and the file, the row and the column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from canbao.errors import InputError
from canbao.services.cleanup import read_register
from canbao.tabular.layouts import LAYOUTS as FILE_LAYOUTS
from canbao.tabular.layouts import Layout
from canbao.tabular.sheets import read_file
from canbao.tabular.values import EXCEL_NUMBER_REASON, dates, fast_amounts, id_numbers, names, needs_full_width

SOURCES = ("tax", "bank", "collecting_unit")
LAYOUTS: dict[str, Layout] = {source: FILE_LAYOUTS[source] for source in SOURCES}
"""The layouts of the reconciliation's files (canbao.tabular.layouts)."""

# The field of the reconciliation (run_reconciliation's parameter) a file of each source comes in.
FIELDS: dict[str, str] = {
    "tax": "tax",
    "bank": "bank",
    "collecting_unit": "collections",
    "other_county": "other_counties",
}
FIELD_WORDS = {"amount": "金额", "paid_on": "日期", "txn_id": "交易流水号", "id_number": "证件号码", "unit": "代收单位"}
ERRORS_SHOWN = 10
# A day the reconciliation's ID numbers are checked against: birth dates of the files' persons lie before it
# whatever day the reconciliation runs (a payment is never made for a person not yet born).
_ID_CHECK_DAY = dt.date(2100, 1, 1)


def _dates(text: pl.Series) -> pl.Series:
    """Dates as every reader reads them, with a fast path when every one is written YYYY-MM-DD."""
    iso = text.str.to_date("%Y-%m-%d", strict=False)
    if bool((iso.is_not_null() | text.is_null()).all()):
        return iso
    return text.to_frame("t").select(dates(pl.col("t"))).to_series()


def _ids(text: pl.Series) -> pl.DataFrame:
    """(id_number, excel): the registry's form of a valid number, else the number as written (cleaned)."""
    frame = text.to_frame("t")
    if bool(text.str.contains(r"^[0-9]{17}[0-9X]$").fill_null(True).all()):
        return frame.select(pl.col("t").alias("id_number"), pl.lit(False).alias("excel"))  # the usual case: as is
    parsed = frame.select(
        id_numbers(pl.col("t"), _ID_CHECK_DAY, full_width=needs_full_width(text)),
    ).unnest("id")
    parsed = parsed.with_columns(excel=(pl.col("id_error") == EXCEL_NUMBER_REASON).fill_null(False))
    written = pl.col("id_text").str.replace_all(r"[\s'‘’\"`]", "")
    return parsed.select(pl.coalesce("id_number", pl.when(written != "").then(written)).alias("id_number"), "excel")


def read_records(path: Path, source: str, field: str | None = None) -> pl.DataFrame:
    """One file of `source`'s layout, every row checked: columns by identifier plus ``file`` and ``row`` (the
    spreadsheet row), ``amount_fen`` and ``paid_on`` (Date).  A malformed row refuses the whole file, naming
    file, row and column; so does a file without data rows.  `field` names the input in errors (default: the
    source's, `FIELDS`)."""
    layout = LAYOUTS[source]
    option = field or FIELDS[source]
    path = Path(path)
    sheet = read_file(path, layout, field_name=option)
    text = sheet.frame.rename({"row_number": "row"})
    extra: list[pl.Series] = []
    if "id_number" in layout.fields:
        ids = _ids(text["id_number"])
        extra += [ids["id_number"].alias("id_number"), ids["excel"].alias("_excel")]
    else:
        extra.append(pl.Series("_excel", [False] * text.height, dtype=pl.Boolean))
    if "name" in layout.fields:
        extra.append(text.select(names(pl.col("name"))).to_series().alias("name"))
    frame = text.with_columns(
        *extra,
        pl.lit(path.name).alias("file"),
        fast_amounts(text["amount"], negative=layout.negative_amounts).alias("amount_fen"),
        _dates(text["paid_on"]).alias("paid_on_date"),
    )
    problems: list[tuple[str, pl.Expr]] = [
        ("id_number", pl.col("_excel")),
        ("amount", pl.col("amount").is_not_null() & pl.col("amount_fen").is_null()),
        ("paid_on", pl.col("paid_on").is_not_null() & pl.col("paid_on_date").is_null()),
    ]
    problems += [(i, pl.col(i).is_null() | (pl.col(i) == "")) for i in layout.required]
    bad = frame.select(
        "row",
        *[pl.when(check).then(pl.lit(name)).alias(f"_bad_{n}") for n, (name, check) in enumerate(problems)],
        *[pl.col(i).alias(f"_value_{i}") for i in ("amount", "paid_on")],
        pl.col("_excel").alias("_value__excel"),
    ).filter(pl.any_horizontal(pl.col(f"_bad_{n}").is_not_null() for n in range(len(problems))))
    if bad.height:
        lines = []
        for r in bad.head(ERRORS_SHOWN).iter_rows(named=True):
            seen: set[str] = set()
            for n in range(len(problems)):
                name = r[f"_bad_{n}"]
                if name is None or name in seen:
                    continue
                seen.add(name)
                header = sheet.header(name)
                value = r.get(f"_value_{name}")
                if name == "id_number" and r["_value__excel"]:
                    what = "在 Excel 中被存成了数字，第15位以后已丢失，请把该列设为文本后重新导出"
                elif not value:
                    what = "为空"
                elif name == "amount" and value.strip().startswith("-") and not layout.negative_amounts:
                    what = f"“{value}”是负数（该清单不能有退费行）"
                else:
                    what = f"“{value}”不是有效的{FIELD_WORDS.get(name, name)}"
                lines.append(f"第{r['row']}行“{header}”{what}")
        more = f"等共 {bad.height} 行" if bad.height > ERRORS_SHOWN else f"共 {bad.height} 行"
        raise InputError(option, f"文件 {path.name} 有无法读取的行（{more}），整个文件未使用：{'；'.join(lines)}")
    return frame.drop("amount", "paid_on", "_excel").rename({"paid_on_date": "paid_on"})


def read_other_counties(paths: list[Path], today: dt.date, field: str = FIELDS["other_county"]) -> pl.DataFrame | None:
    """Other counties' rosters, in the layout the clean-up reads (one reader for one layout); `today` bounds
    their dates (cleanup.read_register)."""
    if not paths:
        return None
    frames = []
    for p in paths:
        try:
            frames.append(read_register(p, "other_county", today).with_columns(pl.lit(Path(p).name).alias("file")))
        except InputError as exc:
            raise InputError(field, exc.message) from None
    return pl.concat(frames)


def read_many(paths: list[Path], source: str, field: str | None = None) -> pl.DataFrame | None:
    """Every file of `source`'s layout among `paths` (a folder stands for its .csv and .xlsx files)."""
    option = field or FIELDS[source]
    if not paths:
        return None
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".xlsx"))
        else:
            files.append(path)
    if not files:
        raise InputError(option, f"{'、'.join(map(str, paths))} 中没有 .csv 或 .xlsx 文件")
    return pl.concat([read_records(f, source, option) for f in files], how="diagonal_relaxed")


def read_unit_aliases(path: Path, field: str = "unit_aliases") -> dict[str, str]:
    """A two-column file naming collecting units otherwise (layout ``unit_aliases``): 清单中的名称 (as a unit's
    list writes it, e.g. 灵城镇人民政府) → 代收单位 (the registry's name, 灵城镇).  A row with one of the two
    empty, or a name given twice with two units, is refused, naming the row and the column."""
    sheet = read_file(Path(path), FILE_LAYOUTS["unit_aliases"], field_name=field)
    aliases: dict[str, str] = {}
    problems: list[str] = []
    for row, alias, unit in sheet.frame.select("row_number", "unit_alias", "unit").iter_rows():
        if alias is None or unit is None:
            problems.append(f"第{row}行“{sheet.header('unit_alias' if alias is None else 'unit')}”为空")
        elif aliases.get(alias, unit) != unit:
            problems.append(f"第{row}行“{alias}”已对应“{aliases[alias]}”，又对应“{unit}”")
        else:
            aliases[alias] = unit
    if problems:
        raise InputError(
            field, f"文件 {Path(path).name} 有无法使用的行，整个文件未使用：{'；'.join(problems[:ERRORS_SHOWN])}"
        )
    return aliases


__all__ = [
    "ERRORS_SHOWN",
    "FIELDS",
    "FIELD_WORDS",
    "LAYOUTS",
    "Layout",
    "read_many",
    "read_other_counties",
    "read_records",
    "read_unit_aliases",
]
