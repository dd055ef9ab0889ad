"""Duplicate and invalid enrollments (治理重复参保及无效参保, 000 六(四)): other registers compared with the
registry, and the list of what to stop, refund, or no longer chase.

Registers
---------

Each is a CSV (UTF-8 or GBK, comma- or tab-separated) or XLSX (first sheet) file read by :mod:`canbao.tabular`
in its layout (``deaths``, ``employee_insurance``, ``other_county`` of :mod:`canbao.tabular.layouts`, every
accepted header in docs/file-layouts.md): the header row is found below any title rows, 合计 rows are left
out, headers are matched after NFKC normalisation, ignoring spaces; the identifier is always accepted too.
Other columns are ignored.

=================== ============================================================================================
register (kind)     columns (required unless marked optional)
=================== ============================================================================================
``deaths``          公安死亡人员名单: 身份证号码 (id_number), 姓名 (name), 死亡日期 (died_on → event_date)
``employee_insur…`` 职工医保参保人员名单 (persons currently enrolled in employee insurance): 身份证号码, 姓名,
                    参保单位 (employer, optional), 参保日期 (insured_since → event_date: since when)
``other_county``    其他县（区）居民医保参保名册 for the same benefit year, as ``canbao synth`` writes it:
                    身份证号码, 姓名, 县（区） (county_name), 乡镇 (optional), 村 (optional), 居民类型
                    (optional), 缴费日期 (paid_on → event_date), 缴费金额 (optional, yuan)
=================== ============================================================================================

ID numbers, names, dates and amounts are read as every reader reads them (:mod:`canbao.tabular.values`): ID
numbers GB 11643, names given, dates in every documented form and not after ``today``, amounts yuan of whole
fen.  A file with any bad row is refused whole, naming the file, the row
(spreadsheet row: the header is row 1) and the field: nothing of it is used, nothing is silently dropped.
The same person twice in one register keeps the first row.  Registers are compared, never stored.

The list
--------

:func:`cleanup_list` matches each register against the registry for the policy's benefit year:

- live enrollments (under the policy) of persons on a register whose date falls on or before the end of
  the benefit period: terminate, and whether the personal payment is refunded — the rules engine's refund
  rule (:func:`canbao.rules.refund.refund_frame`) is asked with the reason (death → ``death``, employee
  insurance → ``joined_employee_insurance``, other county → ``joined_elsewhere``) and the date the list is
  drawn up (``as_of``; never before the payment).  Where the policy does not cover the reason (Lingbi lists
  no refund for death, 003 三(六)) the answer is 政策未规定 (``refund_due`` null), never a guess;
- due records of persons with no live enrollment for the year who are on a register: not to be chased.

The notices do not say which of two counties keeps a person enrolled in both (000 一 only forbids it): the
list says so and leaves it to the two agencies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
from sqlalchemy import Connection, Engine, Select, select

from canbao.errors import InputError
from canbao.money import yuan_decimal
from canbao.policy import load_policy
from canbao.reports import write_workbook
from canbao.reports.xlsx import NumberKind
from canbao.rules.refund import refund_frame
from canbao.store.tables import dues, enrollments, ledger_entries, persons
from canbao.tabular.layouts import LAYOUTS
from canbao.tabular.sheets import Sheet, from_frame, read_file
from canbao.tabular.values import (
    amount_problem,
    amounts,
    date_problem,
    dates,
    id_numbers,
    name_problem,
    names,
    needs_full_width,
)
from canbao.vocabulary import REFUND_REASON_LABELS

RegisterKind = Literal["deaths", "employee_insurance", "other_county"]
REGISTER_KINDS: tuple[RegisterKind, ...] = ("deaths", "employee_insurance", "other_county")
REGISTER_LABELS: dict[str, str] = {
    "deaths": "公安死亡人员名单",
    "employee_insurance": "职工医保参保人员名单",
    "other_county": "其他县（区）居民医保参保名册",
}
REASONS: dict[str, str] = {
    "deaths": "死亡",
    "employee_insurance": "已参加职工医保",
    "other_county": "重复参保（另一县）",
}
REFUND_REASONS: dict[str, str] = {
    "deaths": "death",
    "employee_insurance": "joined_employee_insurance",
    "other_county": "joined_elsewhere",
}
EVENT_LABELS: dict[str, str] = {
    "deaths": "死亡日期",
    "employee_insurance": "职工医保参保日期",
    "other_county": "另一县缴费日期",
}
FIELD_NAMES: dict[str, str] = {"deaths": "deaths", "employee_insurance": "employees", "other_county": "other_counties"}
"""The field a register's refusal names: the argument of :func:`cleanup_list` it is given as."""
ACTION_LABELS: dict[str, str] = {
    "terminate_and_refund": "终止参保关系并退还个人缴费",
    "terminate": "终止参保关系（个人缴费不退）",
    "terminate_refund_not_covered": "终止参保关系；退费政策未规定，报请确定",
    "stop_chasing": "停止催缴，移出催缴清单",
}
OTHER_COUNTY_NOTE = "（与另一县核实，只保留一处参保）"
NOT_COVERED = "政策未规定"

# The layouts (canbao.tabular.layouts): each register's date field is the clean-up's event_date.
EVENT_FIELDS: dict[str, str] = {"deaths": "died_on", "employee_insurance": "insured_since", "other_county": "paid_on"}
REGISTER_SCHEMA: dict[str, pl.DataType] = {
    "register": pl.String(),
    "row_number": pl.Int64(),
    "id_number": pl.String(),
    "register_name": pl.String(),
    "event_date": pl.Date(),
    "detail": pl.String(),
    "amount_fen": pl.Int64(),
}
SHOWN_ERRORS = 3

CLEANUP_SCHEMA: dict[str, pl.DataType] = {
    "id_number": pl.String(),
    "name": pl.String(),
    "township": pl.String(),
    "village": pl.String(),
    "register": pl.String(),
    "reason": pl.String(),
    "register_row": pl.Int64(),
    "register_name": pl.String(),
    "name_differs": pl.Boolean(),  # the register's name is not the registry's: check the ID number first
    "event_date": pl.Date(),
    "detail": pl.String(),
    "enrollment_id": pl.Int64(),
    "status": pl.String(),
    "enrollment_status": pl.String(),
    "paid_on": pl.Date(),
    "benefit_start": pl.Date(),
    "amount_fen": pl.Int64(),
    "action": pl.String(),
    "action_label": pl.String(),
    "refund_due": pl.Boolean(),
    "refund_fen": pl.Int64(),
    "refund_note": pl.String(),
}


def _check_kind(kind: str) -> RegisterKind:
    for known in REGISTER_KINDS:
        if kind == known:
            return known
    raise InputError("kind", f"未知的名单类型 {kind}（可选：{'、'.join(REGISTER_KINDS)}）")


def normalize_register(frame: pl.DataFrame, kind: str, source: str, *, today: dt.date) -> pl.DataFrame:
    """Validate a register read as text (Chinese headers or identifiers) into REGISTER_SCHEMA.

    Raises InputError naming `source`, the row and the field when any row is bad: then nothing is used.
    A frame already in REGISTER_SCHEMA (from :func:`read_register`) is returned as it is."""
    register = _check_kind(kind)
    if dict(frame.schema) == REGISTER_SCHEMA:
        return frame
    sheet = from_frame(frame, LAYOUTS[register], source, field_name=FIELD_NAMES[register])
    return _validated(sheet, register, today)


def _validated(sheet: Sheet, register: RegisterKind, today: dt.date) -> pl.DataFrame:
    source, field_name = sheet.where(), FIELD_NAMES[register]
    layout = LAYOUTS[register]
    event = EVENT_FIELDS[register]
    text = sheet.frame.rename({event: "event_date"})
    parsed = text.with_columns(
        id_numbers(pl.col("id_number"), today, full_width=needs_full_width(text["id_number"])).alias("_id"),
        dates(pl.col("event_date")).alias("_date"),
        names(pl.col("name")).alias("name"),
        (amounts(pl.col("amount")) if "amount" in layout.fields else pl.lit(None, dtype=pl.Int64)).alias("_amount"),
    )
    shown_as = {ident: sheet.header(ident) for ident in layout.fields} | {"event_date": sheet.header(event)}
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("id_number", pl.col("_id").struct.field("id_error").is_not_null(), pl.col("_id").struct.field("id_error")),
        ("name", pl.col("name").is_null(), pl.lit("缺少姓名")),
        ("name", pl.col("name").str.len_chars() > 64, pl.lit("姓名超过64个字符")),
        ("name", name_problem(pl.col("name")).is_not_null(), name_problem(pl.col("name"))),
        ("event_date", pl.col("event_date").is_null(), pl.lit("缺少日期")),
        ("event_date", date_problem(pl.col("event_date"), pl.col("_date")).is_not_null(),
         date_problem(pl.col("event_date"), pl.col("_date"))),
        ("event_date", pl.col("_date") > pl.lit(today), pl.format("日期 {} 晚于今天", pl.col("event_date"))),
    ]  # fmt: skip
    if register == "other_county":
        checks += [
            ("county_name", pl.col("county_name").is_null(), pl.lit("缺少县（区）")),
            ("amount", amount_problem(pl.col("amount"), pl.col("_amount")).is_not_null(),
             amount_problem(pl.col("amount"), pl.col("_amount"))),
        ]  # fmt: skip
    problems = pl.concat(
        [
            parsed.filter(failed.fill_null(False)).select(
                "row_number", pl.lit(shown_as[ident]).alias("field"), message.alias("message")
            )
            for ident, failed, message in checks
        ]
    ).sort("row_number", maintain_order=True)
    if problems.height:
        rows = problems["row_number"].n_unique()
        shown = "；".join(f"第{r}行 {f}：{m}" for r, f, m in problems.head(SHOWN_ERRORS).iter_rows())
        more = f"；等共 {rows} 行有误" if problems.height > SHOWN_ERRORS else ""
        raise InputError(field_name, f"{source}有错误，整个文件未使用：{shown}{more}")
    if register == "employee_insurance":
        detail = pl.col("employer")
    elif register == "other_county":
        detail = pl.concat_str(["county_name", "township", "village"], separator=" ", ignore_nulls=True)
    else:
        detail = pl.lit(None, dtype=pl.String)
    return (
        parsed.select(
            pl.lit(register).alias("register"),
            "row_number",
            pl.col("_id").struct.field("id_number").alias("id_number"),
            pl.col("name").alias("register_name"),
            pl.col("_date").alias("event_date"),
            detail.alias("detail"),
            pl.col("_amount").alias("amount_fen"),
        )
        .unique("id_number", keep="first", maintain_order=True)
        .cast(REGISTER_SCHEMA)  # type: ignore[arg-type]
    )


def read_register(path: Path, kind: str, today: dt.date) -> pl.DataFrame:
    """Read and validate one register file (CSV or XLSX, in its kind's layout of canbao.tabular.layouts: header
    row found below any title rows, 合计 rows left out) into REGISTER_SCHEMA."""
    register = _check_kind(kind)
    sheet = read_file(Path(path), LAYOUTS[register], field_name=FIELD_NAMES[register])
    return _validated(sheet, register, today)


# Registers up to this many persons are looked up by ID number in chunks; bigger ones read the whole year once.
LOOKUP_LIMIT = 20_000
_CHUNK = 2_000


def _chunked(c: Connection, query: Select[Any], column: Any, values: list[Any], types: Any) -> pl.DataFrame:
    """`query` restricted to `column` IN `values`, a chunk at a time (bound parameters are limited)."""
    parts = [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)] or [[]]
    frames = [pl.read_database(query.where(column.in_(part)), c, schema_overrides=types) for part in parts]
    return pl.concat(frames, how="vertical_relaxed")


def _registry(engine: Engine, policy_id: str, benefit_year: int, ids: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Live enrollments under the policy (with any county subsidy paid back), and due records of persons with no
    live enrollment that year, of the persons whose ID number is in `ids`.

    Up to LOOKUP_LIMIT persons are looked up by key only (ID number, person, enrollment), the year filtered
    here: with a long IN list and a year condition, SQLite plans through the year index and reads the whole
    year per chunk.  Bigger registers read the year once."""
    e, p, d, le = enrollments.c, persons.c, dues.c, ledger_entries.c
    text = ("id_number", "name", "township", "village", "status", "subsidy_timing", "policy")
    ints = ("person_id", "enrollment_id", "amount_due_fen", "subsidy_fen", "amount_fen", "benefit_year")
    types: Any = {**dict.fromkeys(text, pl.String()), **dict.fromkeys(ints, pl.Int64()), "live": pl.Boolean(),
                  "paid_on": pl.Date(), "benefit_start": pl.Date()}  # fmt: skip
    people = select(p.id.label("person_id"), p.id_number, p.name, p.township, p.village)
    enrolled = select(
        e.person_id, e.id.label("enrollment_id"), e.policy, e.benefit_year, e.live, e.status, e.paid_on,
        e.benefit_start, e.amount_due_fen, e.subsidy_timing, e.subsidy_fen,
    )  # fmt: skip
    due = select(d.person_id, d.policy, d.benefit_year, d.township, d.village, d.amount_due_fen)
    paid_back = select(le.enrollment_id, le.amount_fen).where(le.kind == "county_subsidy_refund")
    wanted = ids.unique().sort().to_list()
    with engine.connect() as c:
        if len(wanted) <= LOOKUP_LIMIT:
            people_frame = _chunked(c, people, p.id_number, wanted, types)
            keys = people_frame["person_id"].to_list()
            enrolled_frame = _chunked(c, enrolled, e.person_id, keys, types)
            due_frame = _chunked(c, due, d.person_id, keys, types)
        else:
            people_frame = pl.read_database(people, c, schema_overrides=types).filter(pl.col("id_number").is_in(wanted))
            year = e.benefit_year == benefit_year
            enrolled_frame = pl.read_database(enrolled.where(year, e.live), c, schema_overrides=types)
            due_frame = pl.read_database(due.where(d.benefit_year == benefit_year), c, schema_overrides=types)
        this_year = (pl.col("benefit_year") == benefit_year) & pl.col("person_id").is_in(
            people_frame["person_id"].implode()
        )
        enrolled_frame = enrolled_frame.filter(this_year & pl.col("live"))
        live_frame = enrolled_frame.filter(pl.col("policy") == policy_id)
        if len(wanted) <= LOOKUP_LIMIT:
            paid_frame = _chunked(c, paid_back, le.enrollment_id, live_frame["enrollment_id"].to_list(), types)
        else:
            paid_frame = pl.read_database(paid_back, c, schema_overrides=types)
    paid_frame = paid_frame.group_by("enrollment_id").agg(pl.col("amount_fen").sum().alias("paid_back_fen"))
    live_frame = (
        people_frame.join(live_frame, on="person_id")
        .join(paid_frame, on="enrollment_id", how="left")
        .drop("person_id", "policy", "benefit_year", "live")
    )
    # A due record of someone enrolled that year (under any policy) is no longer chased.
    due_frame = (
        due_frame.filter(this_year & (pl.col("policy") == policy_id))
        .join(enrolled_frame.select("person_id"), on="person_id", how="anti")
        .join(people_frame.drop("township", "village"), on="person_id")
        .select("id_number", "name", "township", "village", "amount_due_fen")
    )
    return live_frame, due_frame


def cleanup_list(
    engine: Engine,
    policy_id: str,
    *,
    deaths: pl.DataFrame | None = None,
    employees: pl.DataFrame | None = None,
    other_counties: pl.DataFrame | None = None,
    as_of: dt.date,
    today: dt.date,
) -> pl.DataFrame:
    """Enrollments to stop or refund and dues not to chase, one row per person and register (CLEANUP_SCHEMA).

    Each register is a frame as read (Chinese headers, text) or from :func:`read_register`.  `as_of` is the
    day the list is drawn up, taken as the refund's request date.  `today`: the day a register given as read
    (not from :func:`read_register`) is checked against (no date after it)."""
    policy = load_policy(policy_id)
    given = [(k, f) for k, f in zip(REGISTER_KINDS, (deaths, employees, other_counties), strict=True) if f is not None]
    frames = [normalize_register(f, k, REGISTER_LABELS[k], today=today) for k, f in given]
    found = pl.concat(frames) if frames else pl.DataFrame(schema=REGISTER_SCHEMA)
    # An event after the benefit period does not touch this year's enrollment.
    found = found.filter(pl.col("event_date") <= policy.benefit_period.end)
    live, due = _registry(engine, policy_id, policy.benefit_year, found["id_number"].unique())

    enrolled = found.join(live, on="id_number", how="inner")
    asked = enrolled.select(
        pl.lit(None, dtype=pl.String).alias("error"),
        pl.lit(True).alias("eligible"),
        pl.lit([], dtype=pl.List(pl.String)).alias("reasons"),
        "paid_on", "benefit_start", "amount_due_fen", "subsidy_timing", "subsidy_fen",
        pl.col("register").replace_strict(REFUND_REASONS).alias("reason"),
        # One cannot ask for a refund before paying: a payment after the list's date counts from its own day.
        pl.max_horizontal(pl.lit(as_of), pl.col("paid_on")).alias("requested_on"),
        (pl.col("paid_back_fen").fill_null(0) > 0).alias("county_subsidy_refunded"),
        pl.lit(policy_id).alias("policy"),
        "id_number",
    )  # fmt: skip
    decided = refund_frame(load_policy(policy_id), asked) if asked.height else None
    if decided is not None:
        error, field = decided["refund_error"], decided["refund_error_field"]
        enrolled = enrolled.with_columns(
            decided["refundable"].alias("refund_due"),
            decided["refund_fen"].alias("refund_fen"),
            # A reason the policy does not list is 政策未规定 (e.g. death in Lingbi, 003 三(六)), never a guess.
            pl.when(field == "reason")
            .then(pl.format("{}：{}", pl.lit(NOT_COVERED), error))
            .when(error.is_not_null())
            .then(pl.format("无法判断退费：{}", error))
            .otherwise(decided["refund_why"])
            .alias("refund_note"),
        )
    else:
        enrolled = enrolled.with_columns(
            pl.lit(None, dtype=pl.Boolean).alias("refund_due"),
            pl.lit(None, dtype=pl.Int64).alias("refund_fen"),
            pl.lit(None, dtype=pl.String).alias("refund_note"),
        )
    paid_after_death = (pl.col("register") == "deaths") & (pl.col("paid_on") > pl.col("event_date"))
    action = (
        pl.when(pl.col("refund_due").is_null())
        .then(pl.lit("terminate_refund_not_covered"))
        .when(pl.col("refund_due"))
        .then(pl.lit("terminate_and_refund"))
        .otherwise(pl.lit("terminate"))
    )
    paid_rows = enrolled.select(
        "id_number", "name", "township", "village", "register",
        pl.col("row_number").alias("register_row"), "register_name", "event_date",
        pl.when(paid_after_death).then(pl.concat_str([pl.col("detail"), pl.lit("死亡后仍有缴费")], ignore_nulls=True))
        .otherwise(pl.col("detail")).alias("detail"),
        "enrollment_id", pl.lit("paid").alias("status"), pl.col("status").alias("enrollment_status"),
        "paid_on", "benefit_start", pl.col("amount_due_fen").alias("amount_fen"), action.alias("action"),
        "refund_due", "refund_fen", "refund_note",
    )  # fmt: skip
    due_rows = found.join(due, on="id_number", how="inner").select(
        "id_number", "name", "township", "village", "register",
        pl.col("row_number").alias("register_row"), "register_name", "event_date", "detail",
        pl.lit(None, dtype=pl.Int64).alias("enrollment_id"), pl.lit("due").alias("status"),
        pl.lit(None, dtype=pl.String).alias("enrollment_status"),
        pl.lit(None, dtype=pl.Date).alias("paid_on"), pl.lit(None, dtype=pl.Date).alias("benefit_start"),
        pl.col("amount_due_fen").alias("amount_fen"), pl.lit("stop_chasing").alias("action"),
        pl.lit(None, dtype=pl.Boolean).alias("refund_due"), pl.lit(None, dtype=pl.Int64).alias("refund_fen"),
        pl.lit(None, dtype=pl.String).alias("refund_note"),
    )  # fmt: skip
    both = pl.concat([paid_rows.cast(_PARTS), due_rows.cast(_PARTS)])  # type: ignore[arg-type]
    label = pl.col("action").replace_strict(ACTION_LABELS)
    return (
        both.with_columns(
            pl.col("register").replace_strict(REASONS).alias("reason"),
            (pl.col("register_name") != pl.col("name")).alias("name_differs"),
            pl.when(pl.col("register") == "other_county")
            .then(label + pl.lit(OTHER_COUNTY_NOTE))
            .otherwise(label)
            .alias("action_label"),
        )
        .select(list(CLEANUP_SCHEMA))
        .sort("township", "village", "id_number", "register", nulls_last=True)
    )


_PARTS = {k: v for k, v in CLEANUP_SCHEMA.items() if k not in ("reason", "action_label", "name_differs")}


# ---------------------------------------------------------------------------------------------------- output


CLEANUP_NUMBERS: dict[str, NumberKind] = {
    "缴费金额（元）": "yuan", "退费金额（元）": "yuan", "应缴金额（元）": "yuan", "应退金额（元）": "yuan",
    "人数": "count", "名单行号": "count", "参保记录号": "count",
}  # fmt: skip


def cleanup_sheets(frame: pl.DataFrame, policy_id: str, as_of: dt.date) -> dict[str, pl.DataFrame]:
    """The list as sheets with Chinese headers: a summary, the enrollments, the dues, and a note."""
    policy = load_policy(policy_id)
    register_label = pl.col("register").replace_strict(REGISTER_LABELS)
    refund_text = (
        pl.when(pl.col("refund_due").is_null())
        .then(pl.lit(NOT_COVERED))
        .when(pl.col("refund_due"))
        .then(pl.lit("是"))
        .otherwise(pl.lit("否"))
    )
    paid = frame.filter(pl.col("status") == "paid")
    enrollments_sheet = paid.select(
        pl.col("township").alias("乡镇"), pl.col("village").alias("村（社区）"), pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"), pl.col("reason").alias("原因"), register_label.alias("来源名单"),
        pl.col("register_row").alias("名单行号"), pl.col("register_name").alias("名单中的姓名"),
        pl.when(pl.col("name_differs")).then(pl.lit("姓名不一致，请核实")).alias("核实"),
        pl.col("event_date").alias("名单日期（死亡/职工医保参保/另一县缴费）"), pl.col("detail").alias("名单信息"),
        pl.col("enrollment_id").alias("参保记录号"), pl.col("paid_on").alias("缴费日期"),
        pl.col("benefit_start").alias("待遇开始日期"), yuan_decimal(pl.col("amount_fen")).alias("缴费金额（元）"),
        pl.col("action_label").alias("处理"), refund_text.alias("应退费"),
        pl.when(pl.col("refund_due").is_not_null()).then(yuan_decimal(pl.col("refund_fen"))).alias("退费金额（元）"),
        pl.col("refund_note").alias("退费依据"),
    )  # fmt: skip
    dues_sheet = frame.filter(pl.col("status") == "due").select(
        pl.col("township").alias("乡镇"), pl.col("village").alias("村（社区）"), pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"), pl.col("reason").alias("原因"), register_label.alias("来源名单"),
        pl.col("register_row").alias("名单行号"), pl.col("register_name").alias("名单中的姓名"),
        pl.when(pl.col("name_differs")).then(pl.lit("姓名不一致，请核实")).alias("核实"),
        pl.col("event_date").alias("名单日期"),
        pl.col("detail").alias("名单信息"), yuan_decimal(pl.col("amount_fen")).alias("应缴金额（元）"),
        pl.col("action_label").alias("处理"),
    )  # fmt: skip
    summary = (
        frame.group_by("reason", "status", "action_label")
        .agg(
            pl.len().cast(pl.Int64).alias("persons"),
            pl.col("refund_fen").sum().alias("refund_fen"),
        )
        .sort("reason", "status", "action_label")
        .select(
            pl.col("reason").alias("原因"),
            pl.col("status").replace_strict({"paid": "已缴费参保", "due": "催缴中"}).alias("状态"),
            pl.col("action_label").alias("处理"),
            pl.col("persons").alias("人数"),
            yuan_decimal(pl.col("refund_fen")).alias("应退金额（元）"),
        )
    )
    reasons = "、".join(REFUND_REASON_LABELS.get(r, r) for r in policy.refund.reasons)
    notes = pl.DataFrame(
        {
            "项目": ["政策", "待遇年度", "清单日期（按此日申请退费判断）", "退费规则", "说明"],
            "内容": [
                policy_id,
                str(policy.benefit_year),
                as_of.isoformat(),
                f"{policy.refund.clause}：可退费原因 {reasons or '（无）'}；其他原因：{policy.refund.unlisted_reason}",
                "名单日期在待遇期结束之后的人员不列入；同一人在另一县也参保时，通知未规定保留哪一处，须两地核实",
            ],
        }
    )
    return {"汇总": summary, "应终止或退费的参保": enrollments_sheet, "停止催缴": dues_sheet, "说明": notes}


@dataclass(frozen=True)
class CleanupRun:
    frame: pl.DataFrame  # cleanup_list's rows
    path: Path  # the workbook written
    as_of: dt.date  # the day the list was drawn up (the one given, or the default)
    defaulted: bool  # as_of was not given


def cleanup_day(policy_id: str, today: dt.date) -> dt.date:
    """The day a list is drawn up when none is given.  It is drawn up during the campaign (000 六(四)), and a
    refund is due only when asked for before the benefit period starts, so a review of a past season on the
    machine's date would make every refund lapse: the campaign's today, but no later than the end of the
    policy's collection window."""
    return min(today, load_policy(policy_id).collection_window.end)


def run_cleanup(
    engine: Engine,
    policy_id: str,
    benefit_year: int,
    out: Path,
    *,
    deaths: Path | None = None,
    employees: Path | None = None,
    other_counties: Path | None = None,
    as_of: dt.date | None = None,
    today: dt.date,
) -> CleanupRun:
    """The clean-up of duplicate and invalid enrollments (000 六(四)) from the registers' files: read them,
    list who to stop or refund and whom not to chase, and write the workbook 清理清单-<year>.xlsx in `out`."""
    if load_policy(policy_id).benefit_year != benefit_year:
        raise InputError("policy_id", f"政策 {policy_id} 不是 {benefit_year} 待遇年度的政策")
    if deaths is None and employees is None and other_counties is None:
        raise InputError("deaths", "至少给出一个名单：公安死亡人员名单、职工医保参保人员名单或其他县（区）参保名册")
    day = as_of or cleanup_day(policy_id, today)
    registers = {
        "deaths": read_register(deaths, "deaths", today) if deaths else None,
        "employees": read_register(employees, "employee_insurance", today) if employees else None,
        "other_counties": read_register(other_counties, "other_county", today) if other_counties else None,
    }
    frame = cleanup_list(engine, policy_id, as_of=day, today=today, **registers)
    sheets = cleanup_sheets(frame, policy_id, day)
    path = write_workbook(out / f"清理清单-{benefit_year}.xlsx", sheets, numbers=CLEANUP_NUMBERS)
    return CleanupRun(frame, path, day, as_of is None)
