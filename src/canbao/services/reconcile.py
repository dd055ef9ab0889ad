"""Reconciliation (对账): the insurance agency's registry, the tax bureau's collection records, the bank's
pending-settlement account statement and the collecting units' lists, matched transaction by transaction and
person by person (000 五, 004 六: 账账相符、账款相符、钱人一致).

Every record is keyed by its channel transaction id (交易流水号), the one number all four carry.  A
transaction is in scope when any record of it is dated on or before the reconciliation date; the records are
then compared wherever they are dated, so a payment recorded on 12-31 by one side and 01-01 by the other is
not a difference.  Each difference is one row of `Reconciliation.findings`, with a kind:

- ``money_without_person`` 有款无人: tax, bank or collecting-unit money for a transaction the registry has
  no enrollment for;
- ``person_without_money`` 有人无款: an enrollment whose payment the tax bureau did not record, a tax record
  whose money never reached the bank, or a collecting-unit payment missing from the unit's list;
- ``amount_mismatch`` 金额不符: the same transaction with different amounts;
- ``person_mismatch`` 人员不符: the same transaction under different ID numbers;
- ``counted_twice`` 重复计数: a transaction twice in one file, or a person who already paid paying again;
- ``daily_total`` 日合计不符: the bank's and the tax bureau's totals of one day differ (the transactions
  above that explain the difference are named, and what they do not explain is shown);
- ``two_places`` 重复参保: a person enrolled here and on another county's roster for the same year.

The three tests hold when no finding breaks them: 账账相符 (registry, tax and collecting units agree),
账款相符 (the tax records agree with the money in the bank), 钱人一致 (every payment belongs to exactly one
enrolled person, and every enrolled person's payment is there).

The matching is pure Polars over frames (no database): :func:`reconcile`; :func:`load_registry` reads the
registry's side and :func:`read_records` reads the files (layouts in docs/file-layouts.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, select

from canbao.errors import InputError
from canbao.money import yuan_series_to_fen, yuan_text
from canbao.reports import write_workbook
from canbao.services.imports import normalized, parse_dates, read_table
from canbao.store.arrow import read_arrow_many
from canbao.store.tables import (
    enrollments,
    identity_memberships,
    import_batches,
    import_rows,
    persons,
)
from canbao.vocabulary import CATEGORY_LABELS, DEPARTMENT_LABELS

KIND_LABELS: dict[str, str] = {
    "money_without_person": "有款无人",
    "person_without_money": "有人无款",
    "amount_mismatch": "金额不符",
    "person_mismatch": "人员不符",
    "counted_twice": "重复计数",
    "daily_total": "日合计不符",
    "two_places": "重复参保",
}
TEST_LABELS: dict[str, str] = {"ledgers_agree": "账账相符", "money_agrees": "账款相符", "persons_agree": "钱人一致"}
SOURCE_LABELS: dict[str, str] = {
    "registry": "医保参保登记",
    "tax": "税务征收明细",
    "bank": "银行待报解账户流水",
    "collecting_unit": "代收单位清单",
    "other_county": "外县参保名册",
}
COLLECTED_CHANNELS = ("collecting_unit", "school")  # the channels whose units hand in lists (000 四(一))


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
    from canbao.services.cleanup import read_register

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


# ---------------------------------------------------------------------------------------------------- registry


REGISTRY_SCHEMA: dict[str, pl.DataType] = {
    "txn_id": pl.String(),
    "amount_fen": pl.Int64(),
    "enrollment_id": pl.Int64(),
    "person_id": pl.Int64(),
    "paid_on": pl.Date(),
    "live": pl.Boolean(),
    "id_number": pl.String(),
    "collected_by": pl.String(),  # the collecting unit, for payments through a unit or a school (else null)
    "name": pl.String(),  # name, township and village may be left null: see with_places
    "township": pl.String(),
    "village": pl.String(),
}


def load_registry(engine: Engine, benefit_year: int) -> pl.DataFrame:
    """The registry's side: every payment entry of the benefit year with its enrollment's day and liveness
    and its person's ID number (REGISTRY_SCHEMA; names and places are added to findings by `with_places`).

    Three plain scans (store.arrow) joined in Polars: at a million payments a join in SQLite walks an index
    row by row, seconds more."""
    year = int(benefit_year)
    plus = "+" if engine.dialect.name == "sqlite" else ""  # SQLite: scan, do not walk an index row by row
    ledger, enrolled, people = read_arrow_many(
        engine,
        [
            (
                "SELECT channel_txn_id AS txn_id, amount_fen, enrollment_id, person_id, "
                "CASE WHEN channel IN ('collecting_unit', 'school') THEN collecting_unit END AS collected_by "
                f"FROM ledger_entries WHERE {plus}kind = 'payment'",
                {"txn_id": pl.String(), "amount_fen": pl.Int64(), "enrollment_id": pl.Int64(),
                 "person_id": pl.Int64(), "collected_by": pl.String()},
            ),
            (
                f"SELECT id AS enrollment_id, paid_on, live FROM enrollments WHERE {plus}benefit_year = {year} "
                "ORDER BY id",
                {"enrollment_id": pl.Int64(), "paid_on": pl.Date(), "live": pl.Boolean()},
            ),
            (
                "SELECT id AS person_id, id_number FROM persons ORDER BY id",
                {"person_id": pl.Int64(), "id_number": pl.String()},
            ),
        ],
    )  # fmt: skip
    # Both come in id order (a rowid scan on SQLite): sorted keys make the joins merge joins.
    enrolled = enrolled.with_columns(pl.col("enrollment_id").set_sorted())
    people = people.with_columns(pl.col("person_id").set_sorted())
    frame = (
        ledger.sort("enrollment_id")
        .join(enrolled, on="enrollment_id", how="inner")
        .sort("person_id")
        .join(people, on="person_id", how="left")
    )
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("name", "township", "village")).select(
        list(REGISTRY_SCHEMA)
    )


def with_places(engine: Engine, result: Reconciliation) -> Reconciliation:
    """Fill in the registry's name, township and village of the persons in the findings (the few rows a
    clerk works through; the matching itself needs only ID numbers)."""
    ids = result.findings["id_number"].drop_nulls().unique().to_list()
    if not ids:
        return result
    p = persons.c
    schema = {"id_number": pl.String, "_name": pl.String, "_township": pl.String, "_village": pl.String}
    rows: list[tuple[Any, ...]] = []
    with engine.connect() as c:
        for start in range(0, len(ids), 5_000):
            query = select(p.id_number, p.name, p.township, p.village).where(
                p.id_number.in_(ids[start : start + 5_000])
            )
            rows.extend(tuple(r) for r in c.execute(query))
    known = pl.DataFrame(rows, schema=schema, orient="row")
    findings = (
        result.findings.join(known, on="id_number", how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("name", "_name").alias("name"),
            pl.coalesce("township", "_township").alias("township"),
            pl.coalesce("village", "_village").alias("village"),
        )
        .drop("_name", "_township", "_village")
    )
    return Reconciliation(result.as_of, findings, result.daily, result.counts, result.tests)


def policy_of_year(engine: Engine, benefit_year: int) -> str:
    """The one policy the benefit year's enrollments were quoted under (a county has one a year)."""
    e = enrollments.c
    with engine.connect() as c:
        found = [r[0] for r in c.execute(select(e.policy).where(e.benefit_year == benefit_year).distinct().limit(2))]
    if len(found) != 1:
        words = "没有参保记录" if not found else f"有多个政策（{'、'.join(found)}）"
        raise InputError("--policy", f"{benefit_year} 年度{words}，请用 --policy 指定政策")
    return str(found[0])


def latest_benefit_year(engine: Engine, as_of: dt.date) -> int | None:
    """The benefit year of the newest enrollment paid on or before `as_of`: what a clerk means by "this
    season" when they give only a date."""
    e = enrollments.c
    with engine.connect() as c:
        year = c.execute(
            select(e.benefit_year).where(e.paid_on <= as_of).order_by(e.paid_on.desc(), e.id.desc()).limit(1)
        ).scalar()
    return int(year) if year is not None else None


# ---------------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Reconciliation:
    as_of: dt.date
    findings: pl.DataFrame  # one row per difference (FINDING_SCHEMA)
    daily: pl.DataFrame  # paid_on, tax_fen, bank_fen, difference_fen, explained_by
    counts: dict[str, int]  # records compared per source
    tests: dict[str, bool]  # ledgers_agree, money_agrees, persons_agree

    def by_kind(self) -> dict[str, int]:
        counts = dict(self.findings.group_by("kind").len().rows())
        return {k: int(counts.get(k, 0)) for k in KIND_LABELS}


FINDING_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "txn_id": pl.String(),
    "id_number": pl.String(),
    "name": pl.String(),
    "township": pl.String(),
    "village": pl.String(),
    "paid_on": pl.Date(),
    "registry_fen": pl.Int64(),
    "tax_fen": pl.Int64(),
    "bank_fen": pl.Int64(),
    "unit_fen": pl.Int64(),
    "detail": pl.String(),
    "where": pl.String(),
    "ledgers_agree": pl.Boolean(),
    "money_agrees": pl.Boolean(),
    "persons_agree": pl.Boolean(),
}


def _where(prefix: str) -> pl.Expr:
    return pl.when(pl.col(f"{prefix}_row").is_not_null()).then(
        pl.format("{} 第{}行", pl.col(f"{prefix}_file"), pl.col(f"{prefix}_row"))
    )


# Transactions are matched on two independent 64-bit hashes of their id (a join on a million text keys costs
# ten times more); should two different ids ever share both, the match is redone with other seeds.
_SEEDS: tuple[tuple[int, int], ...] = ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0))


class _HashCollision(Exception):
    pass


def _lean(
    frame: pl.DataFrame | None, p: str, seeds: tuple[int, int], who: bool, flag: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One source as (firsts, repeats), both sorted by key ``k``: per transaction its first record's amount,
    day, person (hashed ID number), row index ``{p}_i`` and boolean column `flag`, if any; and the row
    indexes of records repeating one."""
    k1, k2 = seeds
    columns = {"k": pl.UInt64(), f"{p}_k2": pl.UInt64(), f"{p}_amount_fen": pl.Int64(), f"{p}_paid_on": pl.Date(),
               f"{p}_i": pl.UInt32()}  # fmt: skip
    columns |= ({f"{p}_who": pl.UInt64()} if who else {}) | ({flag: pl.Boolean()} if flag else {})
    if frame is None:
        empty = pl.DataFrame(schema=columns)
        return empty, empty
    lean = frame.select(
        pl.col("txn_id").hash(k1).alias("k"),
        pl.col("txn_id").hash(k2).alias(f"{p}_k2"),
        pl.col("amount_fen").alias(f"{p}_amount_fen"),
        pl.col("paid_on").alias(f"{p}_paid_on"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(f"{p}_i"),
        *([pl.col("id_number").hash(k1).alias(f"{p}_who")] if who else []),
        *([pl.col(flag)] if flag else []),
    ).sort("k", maintain_order=True)
    again = (pl.col("k") == pl.col("k").shift(1)).fill_null(False)
    if lean.select((again & (pl.col(f"{p}_k2") != pl.col(f"{p}_k2").shift(1))).any()).item():
        raise _HashCollision
    repeat = lean.select(again).to_series()
    return lean.filter(~repeat), lean.filter(repeat)


def _match(
    sides: dict[str, tuple[pl.DataFrame | None, bool, str | None]], seeds: tuple[int, int]
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Every transaction of every source, one row each: key, then per source (prefix) its first record's
    columns; and per source the repeated records."""
    firsts, repeats = {}, {}
    for p, (frame, who, flag) in sides.items():
        firsts[p], repeats[p] = _lean(frame, p, seeds, who, flag)
    keys = pl.concat([f.select("k") for f in firsts.values()]).sort("k")
    m = keys.filter((pl.col("k") != pl.col("k").shift(1)).fill_null(True))
    for first in firsts.values():
        m = m.join(first, on="k", how="left")
    k2 = pl.coalesce(*[f"{p}_k2" for p in sides])
    if m.select(pl.any_horizontal((pl.col(f"{p}_k2") != k2).fill_null(False) for p in sides).any()).item():
        raise _HashCollision
    return m.with_columns(pl.col(f"{p}_i").is_not_null().alias(f"in_{p}") for p in sides), repeats


def _gather(small: pl.DataFrame, frame: pl.DataFrame | None, p: str, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add `frame`'s `columns` (prefixed) to the few matched rows in `small`, by their row index in it."""
    names = [f"{p}_{c}" for c in columns]
    if frame is None:
        return small.with_columns(pl.lit(None, dtype=t).alias(f"{p}_{c}") for c, t in columns.items())
    have = [c for c in columns if c in frame.columns]
    wanted = small[f"{p}_i"].drop_nulls()
    picked = frame.select(have).with_row_index(f"{p}_i")[wanted.cast(pl.Int64).to_list()] if wanted.len() else None
    if picked is None:
        return small.with_columns(pl.lit(None, dtype=t).alias(f"{p}_{c}") for c, t in columns.items())
    picked = picked.rename({c: f"{p}_{c}" for c in have}).with_columns(
        pl.lit(None, dtype=t).alias(f"{p}_{c}") for c, t in columns.items() if c not in have
    )
    return small.join(picked.select(f"{p}_i", *names).cast({f"{p}_i": pl.UInt32}), on=f"{p}_i", how="left")


def _repeated(frame: pl.DataFrame | None, source: str) -> pl.DataFrame:
    """Transactions that appear more than once in one source's files."""
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema=FINDING_SCHEMA)
    has = set(frame.columns)
    text = {c: (pl.col(c) if c in has else pl.lit(None, dtype=pl.String)) for c in ("id_number", "name")}
    return (
        frame.filter(pl.len().over("txn_id") > 1)
        .group_by("txn_id", maintain_order=True)
        .agg(
            text["id_number"].first().alias("id_number"),
            text["name"].first().alias("name"),
            pl.col("paid_on").min(),
            pl.col("amount_fen").first(),
            pl.len().alias("_times"),
            pl.format("{} 第{}行", pl.col("file"), pl.col("row")).str.join("、").alias("where"),
        )
        .select(
            pl.lit("counted_twice").alias("kind"),
            "txn_id",
            "id_number",
            "name",
            pl.lit(None, dtype=pl.String).alias("township"),
            pl.lit(None, dtype=pl.String).alias("village"),
            "paid_on",
            *[
                (pl.col("amount_fen") if s == source else pl.lit(None, dtype=pl.Int64)).alias(f"{p}_fen")
                for s, p in (("registry", "registry"), ("tax", "tax"), ("bank", "bank"), ("collecting_unit", "unit"))
            ],
            pl.format("同一笔交易在{}中出现 {} 次", pl.lit(SOURCE_LABELS[source]), pl.col("_times")).alias("detail"),
            "where",
            pl.lit(source == "bank").alias("ledgers_agree"),
            pl.lit(source != "bank").alias("money_agrees"),
            pl.lit(True).alias("persons_agree"),
        )
        .select(list(FINDING_SCHEMA))
    )


def reconcile(
    registry: pl.DataFrame,
    as_of: dt.date,
    *,
    tax: pl.DataFrame | None = None,
    bank: pl.DataFrame | None = None,
    units: pl.DataFrame | None = None,
    other_counties: pl.DataFrame | None = None,
) -> Reconciliation:
    """Match the registry's payments (:func:`load_registry`) against whichever files are given (frames of
    :func:`read_records`), as of `as_of`.  A source not given is not compared."""
    tax_given, unit_given = tax is not None, units is not None
    unit_names = units["unit"].unique().to_list() if units is not None else []
    registry = registry.with_columns(
        (pl.col("collected_by").is_in(unit_names) if unit_given else pl.lit(False)).alias("_unit_due")
    )
    sides = {
        "r": (registry, True, "_unit_due"),
        "t": (tax, True, None),
        "b": (bank, False, None),
        "u": (units, True, None),
    }
    for seeds in _SEEDS:
        try:
            m, repeats = _match(sides, seeds)
            break
        except _HashCollision:
            continue
    else:  # pragma: no cover - three independent 128-bit coincidences
        raise RuntimeError("transaction ids could not be told apart by hashing")
    m = m.with_columns(pl.min_horizontal("r_paid_on", "t_paid_on", "b_paid_on", "u_paid_on").alias("paid_on")).filter(
        pl.col("paid_on") <= as_of
    )
    amount = pl.coalesce("r_amount_fen", "t_amount_fen", "u_amount_fen", "b_amount_fen")
    bank_due = pl.lit(bank is not None) & (amount > 0)
    pairs = [("r_amount_fen", "t_amount_fen"), ("r_amount_fen", "u_amount_fen"), ("t_amount_fen", "u_amount_fen"),
             ("t_amount_fen", "b_amount_fen"), ("r_who", "t_who"), ("r_who", "u_who"), ("t_who", "u_who")]  # fmt: skip
    differ = [(pl.col(a) != pl.col(b)).fill_null(False) for a, b in pairs]
    candidate = pl.any_horizontal(
        ~pl.col("in_r"),
        pl.lit(tax_given) & ~pl.col("in_t"),
        pl.col("in_t") & bank_due & ~pl.col("in_b"),
        *differ,
    )
    m = m.with_columns(pl.col("_unit_due").fill_null(False))
    candidate = candidate | (pl.col("_unit_due") & ~pl.col("in_u"))
    small = m.filter(candidate)
    small = _gather(small, registry, "r", {"txn_id": pl.String(), "id_number": pl.String(), "name": pl.String(),
                                           "collected_by": pl.String(), "township": pl.String(),
                                           "village": pl.String(), "enrollment_id": pl.Int64()})  # fmt: skip
    small = _gather(small, tax, "t", {"txn_id": pl.String(), "id_number": pl.String(), "name": pl.String(),
                                      "file": pl.String(), "row": pl.Int64()})  # fmt: skip
    small = _gather(small, bank, "b", {"txn_id": pl.String(), "file": pl.String(), "row": pl.Int64()})
    small = _gather(small, units, "u", {"txn_id": pl.String(), "unit": pl.String(), "id_number": pl.String(),
                                        "name": pl.String(), "file": pl.String(), "row": pl.Int64()})  # fmt: skip
    person = pl.coalesce("r_id_number", "t_id_number", "u_id_number")
    enrolled_ids = registry["id_number"].implode()
    small = small.with_columns(
        pl.coalesce("r_txn_id", "t_txn_id", "b_txn_id", "u_txn_id").alias("txn_id"),
        person.alias("id_number"),
        pl.coalesce("r_name", "t_name", "u_name").alias("name"),
        pl.col("r_township").alias("township"),
        pl.col("r_village").alias("village"),
        pl.col("r_enrollment_id").alias("enrollment_id"),
        pl.col("r_collected_by").alias("r_unit"),
        bank_due.alias("_bank_due"),
        (~pl.col("in_r") & person.is_in(enrolled_ids)).fill_null(False).alias("_paid_again"),
    )
    fen = [
        pl.col("r_amount_fen").alias("registry_fen"),
        pl.col("t_amount_fen").alias("tax_fen"),
        pl.col("b_amount_fen").alias("bank_fen"),
        pl.col("u_amount_fen").alias("unit_fen"),
    ]
    where = pl.concat_str(
        [
            pl.when("in_r").then(pl.format("参保记录 {}", pl.col("enrollment_id"))),
            _where("t"),
            _where("b"),
            _where("u"),
        ],
        separator="；",
        ignore_nulls=True,
    )
    have = pl.concat_str(
        [
            pl.when(f"in_{k}").then(pl.lit(SOURCE_LABELS[s]))
            for k, s in (("r", "registry"), ("t", "tax"), ("b", "bank"), ("u", "collecting_unit"))
        ],
        separator="、",
        ignore_nulls=True,
    )
    rules: list[tuple[str, pl.Expr, pl.Expr, pl.Expr, pl.Expr, pl.Expr]] = []  # kind, when, detail, 3 tests
    no_reg = ~pl.col("in_r") & (pl.col("in_t") | pl.col("in_b") | pl.col("in_u"))
    rules.append(
        (
            "money_without_person",
            no_reg & ~pl.col("_paid_again"),
            pl.format("{}有此笔，医保无对应参保记录", have),
            pl.col("in_t") | pl.col("in_u"),
            pl.col("in_b") & ~pl.col("in_t") if tax_given else pl.lit(False),
            pl.lit(True),
        )
    )
    rules.append(
        (
            "counted_twice",
            no_reg & pl.col("_paid_again"),
            pl.format("此人本年度已有另一笔缴费入账，{}又有此笔", have),
            pl.lit(True),
            pl.lit(False),
            pl.lit(True),
        )
    )
    if tax_given:
        rules.append(
            (
                "person_without_money",
                pl.col("in_r") & ~pl.col("in_t"),
                pl.lit("医保已登记参保，税务无此笔征收记录"),
                pl.lit(True),
                pl.lit(False),
                pl.lit(True),
            )
        )
        rules.append(
            (
                "person_without_money",
                pl.col("in_t") & pl.col("_bank_due") & ~pl.col("in_b"),
                pl.lit("税务有征收记录，银行待报解账户无此笔到账"),
                pl.lit(False),
                pl.lit(True),
                pl.lit(True),
            )
        )
    if unit_given:
        rules.append(
            (
                "person_without_money",
                pl.col("in_r") & pl.col("_unit_due") & ~pl.col("in_u"),
                pl.format("代收单位“{}”的清单中没有此笔", pl.col("r_unit")),
                pl.lit(True),
                pl.lit(False),
                pl.lit(False),
            )
        )
    ledger_amounts = ["r_amount_fen", "t_amount_fen", "u_amount_fen"]
    ledger_differ = pl.concat_list(ledger_amounts).list.drop_nulls().list.n_unique() > 1
    bank_differs = (
        pl.col("in_b") & pl.col("t_amount_fen").is_not_null() & (pl.col("b_amount_fen") != pl.col("t_amount_fen"))
    )
    rules.append(
        (
            "amount_mismatch",
            ledger_differ | bank_differs,
            pl.concat_str(
                [
                    pl.when(pl.col(c).is_not_null()).then(pl.format("{} {} 元", pl.lit(label), yuan_text(pl.col(c))))
                    for c, label in (
                        ("r_amount_fen", "医保"),
                        ("t_amount_fen", "税务"),
                        ("b_amount_fen", "银行"),
                        ("u_amount_fen", "代收单位"),
                    )
                ],
                separator="，",
                ignore_nulls=True,
            ),
            ledger_differ,
            bank_differs,
            pl.lit(False),  # the person is the right one; how much is the ledgers' or the bank's question
        )
    )
    ids = ["r_id_number", "t_id_number", "u_id_number"]
    ids_differ = pl.concat_list(ids).list.drop_nulls().list.n_unique() > 1
    rules.append(
        (
            "person_mismatch",
            ids_differ,
            pl.format(
                "同一笔交易的证件号码不一致：医保 {}，税务 {}，代收单位 {}", *[pl.col(c).fill_null("—") for c in ids]
            ),
            pl.lit(True),
            pl.lit(False),
            pl.lit(True),
        )
    )

    parts = [
        small.filter(when).select(
            pl.lit(kind).alias("kind"),
            "txn_id",
            "id_number",
            "name",
            "township",
            "village",
            "paid_on",
            *fen,
            detail.alias("detail"),
            where.alias("where"),
            (~ledgers).alias("ledgers_agree"),
            (~money).alias("money_agrees"),
            (~people).alias("persons_agree"),
        )
        for kind, when, detail, ledgers, money, people in rules
    ]
    for frame, p, source in ((tax, "t", "tax"), (bank, "b", "bank"), (units, "u", "collecting_unit")):
        if frame is not None and repeats[p].height:
            repeated = frame.filter(pl.col("txn_id").is_in(frame[repeats[p][f"{p}_i"]]["txn_id"].implode()))
            parts.append(_repeated(repeated, source).filter(pl.col("paid_on") <= as_of))
    daily = _daily(m, repeats, tax, bank, as_of)
    parts.append(
        daily.filter(pl.col("difference_fen") != 0).select(
            pl.lit("daily_total").alias("kind"),
            *[
                pl.lit(None, dtype=FINDING_SCHEMA[c]).alias(c)
                for c in ("txn_id", "id_number", "name", "township", "village")
            ],
            "paid_on",
            pl.lit(None, dtype=pl.Int64).alias("registry_fen"),
            pl.col("tax_fen"),
            pl.col("bank_fen"),
            pl.lit(None, dtype=pl.Int64).alias("unit_fen"),
            pl.format(
                "银行合计 {} 元，税务合计 {} 元，相差 {} 元；逐笔核对相关交易",
                *[yuan_text(pl.col(c)) for c in ("bank_fen", "tax_fen", "difference_fen")],
            ).alias("detail"),
            pl.col("explained_by").alias("where"),
            pl.lit(True).alias("ledgers_agree"),
            pl.lit(False).alias("money_agrees"),
            pl.lit(True).alias("persons_agree"),
        )
    )
    if other_counties is not None:
        parts.append(_two_places(registry, other_counties, as_of))
    findings = pl.concat([p.select(list(FINDING_SCHEMA)).cast(FINDING_SCHEMA) for p in parts]).sort(  # type: ignore[arg-type]
        "kind", "paid_on", "txn_id", "id_number", nulls_last=True
    )
    tests = {test: bool(findings[test].all()) for test in TEST_LABELS}
    counts = {
        "registry": int(m["in_r"].sum()),
        "tax": int(m["in_t"].sum()),
        "bank": int(m["in_b"].sum()),
        "collecting_unit": int(m["in_u"].sum()),
        "other_county": other_counties.height if other_counties is not None else 0,
    }
    return Reconciliation(as_of, findings, daily, counts, tests)


def _daily(
    m: pl.DataFrame,
    repeats: dict[str, pl.DataFrame],
    tax: pl.DataFrame | None,
    bank: pl.DataFrame | None,
    as_of: dt.date,
) -> pl.DataFrame:
    """Bank total against tax total per day, and the transactions whose bank and tax lines differ on that day
    (another amount, a line missing or repeated, another day on each side): the clerk's starting points."""
    schema = {"paid_on": pl.Date(), "tax_fen": pl.Int64(), "bank_fen": pl.Int64(), "difference_fen": pl.Int64(),
              "explained_by": pl.String()}  # fmt: skip
    if tax is None or bank is None:
        return pl.DataFrame(schema=schema)
    totals = [
        frame.filter(pl.col("paid_on") <= as_of).group_by("paid_on").agg(pl.col("amount_fen").sum().alias(name))
        for frame, name in ((tax, "tax_fen"), (bank, "bank_fen"))
    ]
    differs = (
        (pl.col("t_amount_fen").fill_null(0) != pl.col("b_amount_fen").fill_null(0))
        | (pl.col("t_paid_on") != pl.col("b_paid_on")).fill_null(False)
        | pl.col("k").is_in(pl.concat([repeats["t"]["k"], repeats["b"]["k"]]).implode())
    )
    odd = m.filter(differs & (pl.col("in_t") | pl.col("in_b")))
    odd = _gather(_gather(odd, tax, "t", {"txn_id": pl.String()}), bank, "b", {"txn_id": pl.String()})
    odd = odd.with_columns(pl.coalesce("t_txn_id", "b_txn_id").alias("txn_id"))
    per_day = (
        pl.concat(
            [
                odd.select(pl.col("t_paid_on").alias("paid_on"), "txn_id"),
                odd.select(pl.col("b_paid_on").alias("paid_on"), "txn_id"),
            ]
        )
        .drop_nulls("paid_on")
        .unique()
    )
    return (
        totals[0]
        .join(totals[1], on="paid_on", how="full", coalesce=True)
        .with_columns(pl.col("tax_fen", "bank_fen").fill_null(0))
        .with_columns((pl.col("bank_fen") - pl.col("tax_fen")).alias("difference_fen"))
        .join(
            per_day.group_by("paid_on").agg(pl.col("txn_id").sort().str.join("、").alias("explained_by")),
            on="paid_on",
            how="left",
        )
        .select(list(schema))
        .sort("paid_on")
    )


def _two_places(registry: pl.DataFrame, other: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Live enrollments here of persons on another county's roster (read by cleanup.read_register)."""
    here = registry.filter(
        pl.col("live") & (pl.col("paid_on") <= as_of) & pl.col("id_number").is_in(other["id_number"].implode())
    ).unique("id_number")
    file = pl.col("file") if "file" in other.columns else pl.lit(SOURCE_LABELS["other_county"])
    there = other.select(
        "id_number",
        pl.col("detail").alias("_there"),
        pl.format("{} 第{}行", file, pl.col("row_number")).alias("_row"),
    )
    return here.join(there, on="id_number", how="inner").select(
        pl.lit("two_places").alias("kind"),
        "txn_id",
        "id_number",
        "name",
        "township",
        "village",
        "paid_on",
        pl.col("amount_fen").alias("registry_fen"),
        *[pl.lit(None, dtype=pl.Int64).alias(c) for c in ("tax_fen", "bank_fen", "unit_fen")],
        pl.format("本县已参保（参保记录 {}），同一年度又在{}参保", pl.col("enrollment_id"), pl.col("_there")).alias(
            "detail"
        ),
        pl.format("参保记录 {}；{}", pl.col("enrollment_id"), pl.col("_row")).alias("where"),
        pl.lit(True).alias("ledgers_agree"),
        pl.lit(True).alias("money_agrees"),
        pl.lit(False).alias("persons_agree"),
    )


# ---------------------------------------------------------------------------------------------------- lists


LIST_KIND_LABELS: dict[str, str] = {
    "list_rejected": "名单退回行",
    "list_duplicate": "名单重复行",
    "dual_identity": "双重（多重）身份",
}


def list_findings(engine: Engine) -> pl.DataFrame:
    """What the department lists' imports found (000 六(四)): rows refused (a wrong check digit …), rows given
    twice, and persons certified by more than one department (resolved to the most favourable subsidy; the
    departments should know).  Columns: kind, file, row, id_number, name, detail."""
    r, b, m, p = import_rows.c, import_batches.c, identity_memberships.c, persons.c
    schema = {
        "kind": pl.String(),
        "file": pl.String(),
        "row": pl.Int64(),
        "id_number": pl.String(),
        "name": pl.String(),
        "detail": pl.String(),
    }
    with engine.connect() as c:
        rows = pl.read_database(
            select(b.file_name.label("file"), r.row_number.label("row"), r.id_number, r.outcome, r.reason)
            .join(import_batches, b.id == r.batch_id)
            .where(b.kind == "department_list", r.outcome != "accepted")
            .order_by(b.id, r.row_number),
            c,
            schema_overrides={
                "file": pl.String,
                "row": pl.Int64,
                "id_number": pl.String,
                "outcome": pl.String,
                "reason": pl.String,
            },
        )
        held = pl.read_database(
            select(m.person_id, m.category, m.department, p.id_number, p.name)
            .join(persons, p.id == m.person_id)
            .where(m.valid_to.is_(None) | (m.valid_to >= dt.date.today())),
            c,
            schema_overrides={
                "person_id": pl.Int64,
                "category": pl.String,
                "department": pl.String,
                "id_number": pl.String,
                "name": pl.String,
            },
        )
    refused = rows.select(
        pl.when(pl.col("outcome") == "duplicate")
        .then(pl.lit("list_duplicate"))
        .otherwise(pl.lit("list_rejected"))
        .alias("kind"),
        "file",
        "row",
        "id_number",
        pl.lit(None, dtype=pl.String).alias("name"),
        pl.col("reason").alias("detail"),
    )
    label = pl.col("category").replace_strict(CATEGORY_LABELS, default=pl.col("category"))
    department = pl.col("department").replace_strict(DEPARTMENT_LABELS, default=pl.col("department"))
    dual = (
        held.unique(["person_id", "category", "department"])
        .filter(pl.col("department").n_unique().over("person_id") > 1)
        .sort("person_id", "department", "category")
        .group_by("person_id", maintain_order=True)
        .agg(
            pl.col("id_number").first(),
            pl.col("name").first(),
            pl.format("{}（{}）", label, department).str.join("、").alias("detail"),
        )
        .select(
            pl.lit("dual_identity").alias("kind"),
            pl.lit(None, dtype=pl.String).alias("file"),
            pl.lit(None, dtype=pl.Int64).alias("row"),
            "id_number",
            "name",
            pl.format("同时在多个部门名单中：{}；按最优资助认定一种身份", pl.col("detail")).alias("detail"),
        )
    )
    return pl.concat([refused.cast(schema), dual.cast(schema)])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- workbook


def _finding_sheet(findings: pl.DataFrame) -> pl.DataFrame:
    return findings.select(
        pl.col("kind").replace_strict(KIND_LABELS, default=pl.col("kind")).alias("差异类型"),
        pl.col("paid_on").dt.to_string("%Y-%m-%d").alias("日期"),
        pl.col("txn_id").alias("交易流水号"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        pl.col("township").alias("乡镇"),
        pl.col("village").alias("村（社区）"),
        yuan_text(pl.col("registry_fen")).alias("医保登记金额（元）"),
        yuan_text(pl.col("tax_fen")).alias("税务金额（元）"),
        yuan_text(pl.col("bank_fen")).alias("银行金额（元）"),
        yuan_text(pl.col("unit_fen")).alias("代收单位金额（元）"),
        pl.col("detail").alias("说明"),
        pl.col("where").alias("所在记录"),
        pl.lit("").alias("核实结果"),
    )


def write_reconciliation(
    path: Path,
    result: Reconciliation,
    lists: pl.DataFrame | None = None,
    extra: dict[str, pl.DataFrame] | None = None,
) -> Path:
    """The clerk's workbook: 汇总 first (the three tests, counts), then one sheet per kind of difference, the
    day-by-day bank/tax totals, and the list checks; an empty sheet says the check found nothing."""
    summary = pl.DataFrame(
        {
            "项目": [f"{label}" for label in TEST_LABELS.values()]
            + [f"差异：{label}" for label in KIND_LABELS.values()]
            + [f"比对记录数：{SOURCE_LABELS[s]}" for s in result.counts],
            "结果": ["相符" if result.tests[t] else "不相符" for t in TEST_LABELS]
            + [str(n) for n in result.by_kind().values()]
            + [str(n) for n in result.counts.values()],
        }
    )
    summary = pl.concat([pl.DataFrame({"项目": ["对账截止日期"], "结果": [result.as_of.isoformat()]}), summary])
    sheets: dict[str, pl.DataFrame] = {"汇总": summary}
    for kind, label in KIND_LABELS.items():
        if kind != "daily_total":
            sheets[label] = _finding_sheet(result.findings.filter(pl.col("kind") == kind))
    sheets["银行税务日对账"] = result.daily.select(
        pl.col("paid_on").dt.to_string("%Y-%m-%d").alias("日期"),
        yuan_text(pl.col("tax_fen")).alias("税务合计（元）"),
        yuan_text(pl.col("bank_fen")).alias("银行合计（元）"),
        yuan_text(pl.col("difference_fen")).alias("差额（元）"),
        pl.col("explained_by").alias("银行与税务不一致的交易流水号"),
        pl.when(pl.col("difference_fen") == 0).then(pl.lit("相符")).otherwise(pl.lit("不相符")).alias("结果"),
    )
    if lists is not None:
        sheets["名单核查"] = lists.select(
            pl.col("kind").replace_strict(LIST_KIND_LABELS, default=pl.col("kind")).alias("类型"),
            pl.col("file").alias("文件"),
            pl.col("row").alias("行号"),
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码（原文）"),
            pl.col("detail").alias("说明"),
        )
    return write_workbook(path, sheets | (extra or {}))


# ---------------------------------------------------------------------------------------------------- use case

STEPS = ("读取税务、银行和代收单位文件", "读取医保参保登记", "逐笔比对", "写出明细工作簿", "完成")


@dataclass(frozen=True)
class ReconciliationRun:
    result: Reconciliation
    cleanup: pl.DataFrame | None  # the dead and doubly insured still enrolled or chased, when registers were given
    path: Path  # the clerk's workbook


def run_reconciliation(
    engine: Engine,
    as_of: dt.date,
    benefit_year: int,
    out: Path,
    *,
    tax: Path | None = None,
    bank: Path | None = None,
    collections: list[Path] | None = None,
    other_counties: list[Path] | None = None,
    deaths: Path | None = None,
    employees: Path | None = None,
    policy_id: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> ReconciliationRun:
    """Read the files, match them with the registry, and write the workbook (with the clean-up of the dead
    and the doubly insured when their registers are given); `on_step(n)` after each of STEPS."""
    from canbao.services.cleanup import cleanup_list, cleanup_sheets, read_register

    step = on_step or (lambda n: None)
    files = {
        "tax": read_many([tax] if tax else [], "tax", "--tax"),
        "bank": read_many([bank] if bank else [], "bank", "--bank"),
        "units": read_many(collections or [], "collecting_unit", "--collections"),
        "other_counties": read_other_counties(other_counties or []),
    }
    step(1)
    registry = load_registry(engine, benefit_year)
    step(2)
    result = with_places(engine, reconcile(registry, as_of, **files))
    step(3)
    extra: dict[str, pl.DataFrame] = {}
    cleanup = None
    if deaths or employees:
        policy_id = policy_id or policy_of_year(engine, benefit_year)
        cleanup = cleanup_list(
            engine,
            policy_id,
            deaths=read_register(deaths, "deaths") if deaths else None,
            employees=read_register(employees, "employee_insurance") if employees else None,
            as_of=as_of,
        )
        extra = {f"清理-{name}": sheet for name, sheet in cleanup_sheets(cleanup, policy_id, as_of).items()}
    path = out / f"对账-{benefit_year}年度-截至{as_of}.xlsx"
    write_reconciliation(path, result, list_findings(engine), extra)
    step(4)
    return ReconciliationRun(result, cleanup, path)
