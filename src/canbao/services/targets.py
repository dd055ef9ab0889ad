"""Importing the campaign's targets (任务分解表) and e-voucher activation records (医保电子凭证激活记录), the
figures progress and the assessment are measured against (003 四, 004 七(四)).

Targets
-------

An XLSX workbook with two sheets, ``参保任务`` (kind ``enrollment``) and ``电子凭证任务`` (``e_voucher``), each
one row per village: 乡镇, 乡镇代码, 村, 村代码, 任务数 (the codes may be left empty).  Importing a benefit
year's table replaces that year's targets whole, in one transaction.  Refused, with sheet, row and field:
a missing sheet or column, an empty township or village, a target that is not a whole number ≥ 0, the same
village twice in a sheet, a village code under two townships (or not beginning with its township's code),
a township under two codes.  Nothing is written when anything is refused.  The sheets are read by
:mod:`canbao.tabular` (layout ``targets``): a title row above the header and a 合计 row below the villages are
passed over.

E-voucher activations
---------------------

CSV or XLSX (first sheet) in the layout ``e_voucher`` of :mod:`canbao.tabular.layouts`
(docs/file-layouts.md): 姓名, 身份证号码, 激活日期, 激活渠道; ID numbers and dates as every reader takes
them (:mod:`canbao.tabular.values`).  Every person must be registered, with the registered name; an ID number
that fails GB 11643, an unknown person, a name that differs or a date that is not a date refuses the whole
file, naming file, row and field.  A person's first recorded activation is kept: a file imported again, or a
later record of an already activated person, changes nothing (counted as ``already``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine, delete, select

from canbao.errors import InputError
from canbao.store.bulk import bulk_insert
from canbao.store.tables import e_voucher_activations, persons, targets
from canbao.store.uow import UnitOfWork, audit, now
from canbao.tabular.layouts import FIELDS, LAYOUTS
from canbao.tabular.sheets import read_file, read_sheets
from canbao.tabular.values import date_problem, dates, id_numbers, name_problem, names, needs_full_width

TARGET_SHEETS: dict[str, str] = {"参保任务": "enrollment", "电子凭证任务": "e_voucher"}
TARGET_KIND_LABELS: dict[str, str] = {"enrollment": "参保任务", "e_voucher": "电子凭证激活任务"}
TARGET_LAYOUT = LAYOUTS["targets"]
ACTIVATION_LAYOUT = LAYOUTS["e_voucher"]
FIELD_LABELS: dict[str, str] = {
    **{i: FIELDS[i].label for i in (*TARGET_LAYOUT.fields, *ACTIVATION_LAYOUT.fields)},
    "township": "乡镇",
    "village": "村",
}
PROBLEMS_SHOWN = 8
LOOKUP_CHUNK = 5_000


def _refuse(file_name: str, problems: pl.DataFrame) -> InputError:
    """One line naming the first problems (where, field, what) and how many there are."""
    shown = [
        f"{r['where']} {FIELD_LABELS[r['field']]}：{r['problem']}" for r in problems.head(PROBLEMS_SHOWN).to_dicts()
    ]
    more = f"（共 {problems.height} 处，未导入任何数据）" if problems.height > len(shown) else "（未导入任何数据）"
    return InputError("input", f"文件 {file_name}：{'；'.join(shown)}{more}")


# ------------------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class TargetsReport:
    benefit_year: int
    file_name: str
    totals: dict[str, int]  # kind -> sum of targets
    villages: dict[str, int]  # kind -> rows
    townships: int
    replaced: int  # rows of the year's earlier table


def _read_target_sheets(path: Path) -> dict[str, pl.DataFrame]:
    """The two sheets (canbao.tabular: header row found, 合计 rows left out), ``row`` the sheet's row."""
    sheets = read_sheets(path, TARGET_LAYOUT, field_name="input")
    return {name: sheet.frame.rename({"row_number": "row"}) for name, sheet in sheets.items()}


def _with_reference(frame: pl.DataFrame, key: str, value: str, name: str) -> pl.DataFrame:
    """Add `name`: the value most rows give for their key (the earliest on a tie); null without both."""
    given = frame.filter(pl.col(key).is_not_null() & pl.col(value).is_not_null())
    reference = (
        given.group_by(key, value)
        .agg(pl.len().alias("_n"), (pl.col("sheet_order") * 10_000_000 + pl.col("row")).min().alias("_first"))
        .sort(["_n", "_first"], descending=[True, False])
        .unique(key, keep="first")
        .select(key, pl.col(value).alias(name))
    )
    return frame.join(reference, on=key, how="left", maintain_order="left")


def _target_problems(frame: pl.DataFrame) -> pl.DataFrame:
    """(sheet, row, field, problem) of every refused cell; frame has sheet, row and the target columns."""
    number = pl.col("target").str.replace_all(",", "")
    whole = number.str.contains(r"^\d+$")
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("township", pl.col("township").is_null(), pl.lit("不能为空")),
        ("village", pl.col("village").is_null(), pl.lit("不能为空")),
        ("target", pl.col("target").is_null(), pl.lit("不能为空")),
        (
            "target",
            pl.col("target").is_not_null() & ~whole,
            pl.format("“{}”不是不小于0的整数", pl.col("target")),
        ),
        (
            "village_code",
            pl.col("village_code").is_not_null()
            & pl.col("township_code").is_not_null()
            & ~pl.col("village_code").str.starts_with(pl.col("township_code")),
            pl.format("{} 不在乡镇代码 {} 之下", pl.col("village_code"), pl.col("township_code")),
        ),
    ]
    place = pl.col("township").is_not_null() & pl.col("village").is_not_null()
    repeated = place & (pl.int_range(pl.len()).over("sheet", "township", "village") > 0)
    first_row = pl.col("row").first().over("sheet", "township", "village")
    checks.append(("village", repeated, pl.format("与第{}行重复（同一乡镇的同一个村）", first_row)))
    # The same village code under two townships, or a township under two codes: the rows that disagree
    # with the majority (the earliest row on a tie) are refused.
    frame = _with_reference(frame, "village_code", "township", "_town_of_code")
    frame = _with_reference(frame, "township", "township_code", "_code_of_town")
    checks.append(
        (
            "township",
            pl.col("township") != pl.col("_town_of_code"),
            pl.format("村代码 {} 的村在其他行属于“{}”", pl.col("village_code"), pl.col("_town_of_code")),
        )
    )
    checks.append(
        (
            "township_code",
            pl.col("township_code") != pl.col("_code_of_town"),
            pl.format("“{}”在其他行的代码是 {}", pl.col("township"), pl.col("_code_of_town")),
        )
    )
    parts = [
        frame.filter(condition.fill_null(False)).select(
            pl.format("工作表“{}”第{}行", pl.col("sheet"), pl.col("row")).alias("where"),
            pl.lit(field).alias("field"),
            message.alias("problem"),
            "sheet_order",
            "row",
        )
        for field, condition, message in checks
    ]
    return pl.concat(parts).sort("sheet_order", "row").drop("sheet_order", "row")


def import_targets(engine: Engine, path: Path, benefit_year: int, actor: str) -> TargetsReport:
    """Replace the benefit year's targets by the workbook's (see the module docstring)."""
    sheets = _read_target_sheets(path)
    frame = pl.concat(
        [
            part.with_columns(
                pl.lit(name).alias("sheet"),
                pl.lit(order).alias("sheet_order"),
                pl.lit(TARGET_SHEETS[name]).alias("kind"),
            )
            for order, (name, part) in enumerate(sheets.items())
        ]
    )
    problems = _target_problems(frame)
    if problems.height:
        audit(engine, actor, "import_targets", str(benefit_year), "refused", f"{path.name}: {problems.height} problems")
        raise _refuse(path.name, problems)
    rows = frame.select(
        pl.lit(benefit_year).alias("benefit_year"),
        "kind",
        "township",
        "township_code",
        "village",
        "village_code",
        pl.col("target").str.replace_all(",", "").cast(pl.Int64).alias("target"),
        pl.lit(path.name).alias("file_name"),
        pl.lit(now()).alias("imported_at"),
    )
    with UnitOfWork(engine, actor) as uow:
        result = uow.connection.execute(delete(targets).where(targets.c.benefit_year == benefit_year))
        bulk_insert(uow.connection, targets, rows)
        uow.commit()
    totals = {k: int(rows.filter(pl.col("kind") == k)["target"].sum()) for k in TARGET_SHEETS.values()}
    villages = {k: rows.filter(pl.col("kind") == k).height for k in TARGET_SHEETS.values()}
    report = TargetsReport(benefit_year, path.name, totals, villages, rows["township"].n_unique(), result.rowcount)
    audit(engine, actor, "import_targets", str(benefit_year), "done", f"{path.name}: {totals}")
    return report


def read_targets(c: Connection, benefit_year: int) -> pl.DataFrame:
    """The benefit year's targets: kind, township, township_code, village, village_code, target."""
    t = targets.c
    query = select(t.kind, t.township, t.township_code, t.village, t.village_code, t.target).where(
        t.benefit_year == benefit_year
    )
    schema: dict[str, pl.DataType] = {c: pl.String() for c in ("kind", "township", "township_code", "village")}
    schema |= {"village_code": pl.String(), "target": pl.Int64()}
    rows = c.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


# ------------------------------------------------------------------------------------- e-voucher activations


@dataclass(frozen=True)
class ActivationsReport:
    file_name: str
    rows: int
    recorded: int
    already: int  # activated before (an earlier file, or earlier in this one)


def _registered(c: Connection, ids: list[str]) -> pl.DataFrame:
    schema = {"person_id": pl.Int64, "id_number": pl.String, "reg_name": pl.String}
    frames = [pl.DataFrame(schema=schema)]
    p = persons.c
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        rows = c.execute(select(p.id, p.id_number, p.name).where(p.id_number.in_(chunk))).all()
        frames.append(pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row"))
    return pl.concat(frames)


def _activated(c: Connection, person_ids: list[int]) -> pl.Series:
    a = e_voucher_activations.c
    found: list[int] = []
    for start in range(0, len(person_ids), LOOKUP_CHUNK):
        chunk = person_ids[start : start + LOOKUP_CHUNK]
        found += [int(r[0]) for r in c.execute(select(a.person_id).where(a.person_id.in_(chunk)))]
    return pl.Series("person_id", found, dtype=pl.Int64)


def import_activations(engine: Engine, path: Path, actor: str, *, today: dt.date) -> ActivationsReport:
    """Record the file's e-voucher activations (see the module docstring); all or nothing."""
    path = Path(path)
    sheet = read_file(path, ACTIVATION_LAYOUT, field_name="input")
    frame = sheet.frame.rename({"row_number": "row"})
    ids = id_numbers(pl.col("id_number"), today, full_width=needs_full_width(frame["id_number"]))
    parsed = frame.select(ids).unnest("id")
    frame = frame.with_columns(
        parsed["id_number"].alias("normalized"),
        parsed["id_error"].alias("id_error"),
        dates(pl.col("activated_on")).alias("on"),
        names(pl.col("name")).alias("name"),
    )
    with UnitOfWork(engine, actor) as uow:
        c = uow.connection
        known = _registered(c, frame["normalized"].drop_nulls().unique().sort().to_list())
        frame = frame.join(known, left_on="normalized", right_on="id_number", how="left", maintain_order="left")
        checks: list[tuple[str, pl.Expr, pl.Expr]] = [
            ("id_number", pl.col("id_error").is_not_null(), pl.col("id_error")),
            (
                "id_number",
                pl.col("id_error").is_null() & pl.col("person_id").is_null(),
                pl.lit("未登记的人员（登记库中没有这个身份证号码）"),
            ),
            (
                "name",
                pl.col("person_id").is_not_null() & (pl.col("name") != pl.col("reg_name")),
                pl.format("“{}”与登记的姓名“{}”不一致", pl.col("name"), pl.col("reg_name")),
            ),
            ("name", pl.col("name").is_null(), pl.lit("不能为空")),
            ("name", name_problem(pl.col("name")).is_not_null(), name_problem(pl.col("name"))),
            ("activated_on", pl.col("activated_on").is_null(), pl.lit("不能为空")),
            (
                "activated_on",
                date_problem(pl.col("activated_on"), pl.col("on")).is_not_null(),
                date_problem(pl.col("activated_on"), pl.col("on")),
            ),
            ("activated_on", pl.col("on") > today, pl.format("{} 晚于今天", pl.col("on"))),
        ]
        problems = pl.concat(
            [
                frame.filter(cond.fill_null(False)).select(
                    pl.format("第{}行", pl.col("row")).alias("where"), pl.lit(field).alias("field"),
                    msg.alias("problem"), "row",
                )
                for field, cond, msg in checks
            ]
        ).sort("row", maintain_order=True)  # fmt: skip
        if problems.is_empty():
            first = frame.sort("on", "row").unique("person_id", keep="first", maintain_order=True)
            before = _activated(c, first["person_id"].to_list())
            rows = first.filter(~pl.col("person_id").is_in(before.implode())).select(
                "person_id",
                pl.col("on").alias("activated_on"),
                pl.col("channel"),
                pl.lit(path.name).alias("file_name"),
                pl.lit(now()).alias("imported_at"),
            )
            bulk_insert(c, e_voucher_activations, rows)
            uow.commit()
    if problems.height:  # the transaction is rolled back: the audit line is the only trace
        audit(engine, actor, "import_e_vouchers", path.name, "refused", f"{problems.height} problems")
        raise _refuse(path.name, problems)
    report = ActivationsReport(path.name, frame.height, rows.height, frame.height - rows.height)
    audit(
        engine, actor, "import_e_vouchers", path.name, "done", f"{report.recorded} recorded, {report.already} already"
    )
    return report
