"""Reading the tax bureau's, the bank's and the collecting units' files, and other counties' rosters (layouts in
docs/file-layouts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from canbao.errors import InputError
from canbao.money import yuan_series_to_fen
from canbao.services.cleanup import read_register
from canbao.services.imports import normalized, parse_dates, read_table
from canbao.services.reconcile.model import SOURCE_LABELS

# ---------------------------------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Layout:
    """A file's columns: identifier → accepted headers (the first is the one we write and document)."""

    source: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]


_ID = ("证件号码", "身份证号码", "公民身份号码", "身份证号")
_NAME = ("姓名", "缴费人姓名", "参保人姓名")
LAYOUTS: dict[str, Layout] = {
    "tax": Layout(
        "tax",
        {
            "name": ("缴费人姓名", *_NAME[0:1], "参保人姓名"),
            "id_number": _ID,
            "amount": ("缴费金额(元)", "缴费金额", "金额(元)", "金额", "实缴金额"),
            "paid_on": ("缴费日期", "征收日期", "入库日期", "交易日期"),
            "txn_id": ("交易流水号", "流水号", "缴费流水号"),
            "channel": ("渠道", "缴费渠道"),
        },
        ("id_number", "amount", "paid_on", "txn_id"),
    ),
    "bank": Layout(
        "bank",
        {
            "paid_on": ("交易日期", "日期", "记账日期"),
            "txn_id": ("交易流水号", "流水号"),
            "amount": ("金额(元)", "交易金额", "金额", "贷方金额"),
            "memo": ("摘要", "备注"),
        },
        ("paid_on", "txn_id", "amount"),
    ),
    "collecting_unit": Layout(
        "collecting_unit",
        {
            "unit": ("代收单位", "单位"),
            "name": _NAME,
            "id_number": _ID,
            "amount": ("缴费金额(元)", "缴费金额", "金额(元)", "金额"),
            "paid_on": ("缴费日期", "代收日期"),
            "txn_id": ("交易流水号", "流水号"),
        },
        ("unit", "id_number", "amount", "paid_on", "txn_id"),
    ),
}
FIELD_WORDS = {"amount": "金额", "paid_on": "日期", "txn_id": "交易流水号", "id_number": "证件号码", "unit": "代收单位"}
ERRORS_SHOWN = 10


def read_records(path: Path, source: str, option: str) -> pl.DataFrame:
    """One file of `source`'s layout, every row checked: columns by identifier plus ``file`` and ``row`` (the
    spreadsheet row).  A malformed row refuses the whole file, naming file, row and column (`option` is the
    command-line option the file came from)."""
    layout = LAYOUTS[source]
    try:
        _, raw = read_table(path)
    except InputError as exc:
        raise InputError(option, exc.message) from None
    by_header = {normalized(h): h for h in raw.columns}
    found: dict[str, str] = {}
    for ident, headers in layout.columns.items():
        header = next((by_header[normalized(h)] for h in headers if normalized(h) in by_header), None)
        if header is not None:
            found[ident] = header
    missing = [layout.columns[i][0] for i in layout.required if i not in found]
    if missing:
        raise InputError(
            option,
            f"文件 {path.name} 不是{SOURCE_LABELS[source]}的格式：缺少列 {'、'.join(missing)}"
            f"（文件中的列：{'、'.join(raw.columns) or '无'}）",
        )
    text = raw.select(
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("row"),
        *[pl.col(h).str.strip_chars().alias(i) for i, h in found.items()],
    ).with_columns(pl.lit(None, dtype=pl.String).alias(i) for i in layout.columns if i not in found)
    text = text.filter(pl.any_horizontal(pl.col(i).is_not_null() & (pl.col(i) != "") for i in layout.columns))
    frame = text.with_columns(
        pl.lit(path.name).alias("file"),
        yuan_series_to_fen(text["amount"]).alias("amount_fen"),
        _dates(text["paid_on"]).alias("paid_on_date"),
    )
    problems: list[tuple[str, pl.Expr]] = [
        ("amount", pl.col("amount").is_not_null() & pl.col("amount_fen").is_null()),
        ("paid_on", pl.col("paid_on").is_not_null() & pl.col("paid_on_date").is_null()),
    ]
    problems += [(i, pl.col(i).is_null() | (pl.col(i) == "")) for i in layout.required]
    bad = frame.select(
        "row",
        *[pl.when(check).then(pl.lit(field)).alias(f"_bad_{n}") for n, (field, check) in enumerate(problems)],
        *[pl.col(i).alias(f"_value_{i}") for i in ("amount", "paid_on")],
    ).filter(pl.any_horizontal(pl.col(f"_bad_{n}").is_not_null() for n in range(len(problems))))
    if bad.height:
        lines = []
        for r in bad.head(ERRORS_SHOWN).iter_rows(named=True):
            for n in range(len(problems)):
                field = r[f"_bad_{n}"]
                if field is None:
                    continue
                header = found.get(field, layout.columns[field][0])
                value = r.get(f"_value_{field}")
                what = "为空" if not value else f"“{value}”不是有效的{FIELD_WORDS.get(field, field)}"
                lines.append(f"第{r['row']}行“{header}”{what}")
        more = f"等共 {bad.height} 行" if bad.height > ERRORS_SHOWN else f"共 {bad.height} 行"
        raise InputError(option, f"文件 {path.name} 有无法读取的行（{more}），整个文件未使用：{'；'.join(lines)}")
    return frame.drop("amount", "paid_on").rename({"paid_on_date": "paid_on"})


def _dates(text: pl.Series) -> pl.Series:
    """Dates as the import reads them, with a fast path when every one is written YYYY-MM-DD."""
    iso = text.str.to_date("%Y-%m-%d", strict=False)
    if bool((iso.is_not_null() | text.is_null()).all()):
        return iso
    return text.to_frame("t").select(parse_dates(pl.col("t"), open_ended=False)).to_series()


def read_other_counties(paths: list[Path]) -> pl.DataFrame | None:
    """Other counties' rosters, in the layout the clean-up reads (one reader for one layout)."""
    if not paths:
        return None
    return pl.concat([read_register(p, "other_county").with_columns(pl.lit(p.name).alias("file")) for p in paths])


def read_many(paths: list[Path], source: str, option: str) -> pl.DataFrame | None:
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
