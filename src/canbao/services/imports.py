"""Importing lists into the registry: department lists of identity categories, last year's roster and school
rosters (认定名单导入、上年度参保名册导入、学校学生名册导入), each answered by a feedback workbook for whoever sent
the list (认定结果反馈相关部门).

Public use cases
----------------

- :func:`import_department_list` — a certifying department's list (民政、乡村振兴、卫健、退役军人事务、残联).
- :func:`import_roster` — last year's enrollees of a county: registers new persons and updates the address,
  phone and residency of known ones; enrollments come from other use cases.
- :func:`import_school_roster` — students entered by a school's staff and reviewed by the county; they are
  registered with residency ``student``.

Each returns an :class:`ImportReport`.

Files
-----

CSV (UTF-8 with or without BOM; GBK/GB18030 is detected and read too; comma- or tab-separated) or XLSX (the
first sheet). The first row holds the column names; every other row is one person. Every value is read as
text. Row numbers (行号) are spreadsheet row numbers: the header is row 1, the first person row 2. Rows that
are entirely empty are skipped. Columns not listed below are ignored; a column the import needs twice (e.g.
both 身份证号码 and 公民身份号码) is refused.

Column names are matched after NFKC normalisation (full-width brackets equal half-width ones), ignoring spaces
and the case of Latin letters. The glossary identifier is always accepted as a column name:

============== ============================================================================ ==================
identifier     Chinese column names accepted                                                used by
============== ============================================================================ ==================
id_number      身份证号码, 公民身份号码, 居民身份证号码, 身份证号, 身份证件号码, 证件号码         all (required)
name           姓名                                                                         all (required)
category       身份类别, 人员类别, 类别, 身份, 救助类别, 人员身份, 认定类别                     lists (required)
valid_from     认定日期, 认定时间, 有效期起, 有效期开始, 起始日期, 开始日期                      lists
valid_to       有效期止, 有效期至, 有效期结束, 截止日期, 终止日期, 结束日期                      lists
household_role 家庭角色, 与持证人关系, 家庭成员角色, 父母或子女                                 lists
county         县（区）, 县区, 区县, 县, 县（区）代码, 行政区划代码                               roster
township       乡镇, 乡镇（街道）, 乡镇街道, 街道                                              lists, roster
village        村, 村（社区）, 村社区, 社区, 村居                                              lists, roster
residency      参保人员类型, 居民类型, 参保身份, 人员类型                                       roster
phone          联系电话, 电话, 电话号码, 手机, 手机号码, 联系方式                                lists, roster
school         学校, 学校名称                                                               school
grade          年级                                                                         school
class          班级                                                                         school
============== ============================================================================ ==================

Values
------

- ``id_number``: GB 11643 (:func:`canbao.ids.parse_id_numbers`); spaces and a leading apostrophe are ignored,
  15-digit numbers are converted. An XLSX cell holding the number as a floating-point number (Excel keeps only
  15 digits) is refused with that reason.
- ``category``: the identifier (``dibao``), the Chinese label of the glossary (低保对象) or a common synonym
  (低保户, 特困供养人员, 防止返贫监测对象, …, see ``CATEGORY_SYNONYMS``). It must be a category the importing
  department certifies (``DEPARTMENT_CATEGORIES``).
- dates: YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD, YYYY年MM月DD日, a time after the date is ignored, an
  Excel date cell or an Excel serial day number; 长期 / 长期有效 / 至今 as ``valid_to`` means open-ended.
  ``valid_from`` must not come after ``valid_to``.
- ``household_role`` (lists): whether the person is a parent or the child of a daughter/son household
  (004 二(三)): ``parent`` / ``child``, the glossary's 父母 / 子女, or 父亲, 母亲, 持证人, 女儿, 儿子 …
  (``HOUSEHOLD_ROLE_SYNONYMS``); empty means not said.  Any other word refuses the row.  Stored on the
  membership (``identity_memberships.household_role``) whatever the category; only the categories whose
  subsidy depends on it (a ``child_age_below`` in the policy) use it.
- ``residency`` (roster): identifier or label of the glossary, or 本地户籍 / 学生 / 常住 …; empty means
  ``local_hukou`` for a new person and "unchanged" for a known one.
- ``county`` (roster), ``school`` (school roster): when given, must be the county code / school imported.
- name at most 64 characters, township and village at most 64, phone at most 20 (the registry's columns).

Rules
-----

Validation is vectorized (Polars) and names, for each refused row, the field and the rule. Within a file the
same person (and, for lists, the same category) given twice keeps the first valid row; later ones are
``duplicate`` and name the row they repeat. The same ID number with two different names in one file, or a
name that disagrees with the registered person, is refused. A person who already holds the category from an
earlier list (another file) is accepted with the note 已在其他名单中: memberships belong to a batch.

A batch is all or nothing: if any row is refused and ``accept_valid`` is false, nothing is written but an
audit line, and the feedback workbook is still written so the department can fix its file. Duplicates do not
block a batch. The same file (same bytes, same kind) imported again writes nothing but an audit line and
answers the earlier batch's report with ``replayed=True``.

After a department list is imported, every person on it gets the single most favourable subsidy category
under the policy, across all their memberships of every batch and department whose validity overlaps the
policy's benefit period (:func:`canbao.rules.contribution.best_subsidy`), with the household role the
person's household-list memberships give (the latest batch that gives one); a category the policy leaves
uncovered, an adult on a household list whose role no list gives (parent or child?), or a child of the
household past the policy's age, is reported in the feedback, never a failure. An accepted row whose
validity does not overlap the benefit period is noted.

Registered persons: ``sex`` and ``birth_date`` from the ID number, ``county`` from the argument, township,
village and phone from the file; residency ``local_hukou`` (lists), from the file or ``local_hukou`` (roster),
``student`` (school rosters, which also set it on known persons). Department lists never change a known
person. ``import_batches.department`` holds the department, the school, or nothing for a roster (whose
benefit year is in the audit line and the feedback).

Feedback
--------

An XLSX workbook for whoever sent the list: sheet 反馈 (行号, 姓名, 身份证号码 in full, then 身份类别 /
乡镇、村 / 学校、年级、班级 by kind, 结果 接收/退回/重复, 原因, and for lists 最终认定资助身份: the resolved
identity with its amount and payer) and sheet 汇总 (counts). Above ``FEEDBACK_XLSX_MAX_ROWS`` rows the
workbook lists only the rows that are not plainly accepted and the full feedback goes to a CSV (UTF-8 with
BOM) of the same name beside it.

Writing
-------

One transaction (:class:`canbao.store.uow.UnitOfWork`), in bulk: PostgreSQL ``COPY``, SQLite
``executemany`` on the driver cursor; new persons get their ids before they are written. The resolution and
the feedback files are computed on a second thread while the rows are written, under temporary names that
are renamed only after the commit. See benchmarks/README.md for the figures.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import io
import math
import re
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, Select, String, Table, cast, insert, select
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.exc import IntegrityError

from canbao.errors import CanbaoError, InputError
from canbao.ids import mask_id_numbers, parse_id_numbers, redact_id_numbers
from canbao.money import to_fen, to_yuan
from canbao.outputs import OutputGroup, csv_safe, formula_like
from canbao.policy import Policy, load_policy
from canbao.rules.columns import first_match, not_a_name, not_a_name_message
from canbao.rules.contribution import (
    best_subsidy,
    household_categories,
    household_child_too_old,
    household_role_missing,
    household_roles,
    not_covered_category,
)
from canbao.store.bulk import allocate_ids, bulk_insert
from canbao.store.db import refresh_statistics, table_size
from canbao.store.tables import audit_log, identity_memberships, import_batches, import_rows, persons
from canbao.store.uow import UnitOfWork, audit, now
from canbao.tabular.textfiles import CONTROL, control_refusal, csv_bytes, read_csv_text
from canbao.vocabulary import (
    CATEGORIES,
    CATEGORY_LABELS,
    DEPARTMENT_CATEGORIES,
    DEPARTMENT_LABELS,
    HOUSEHOLD_ROLE_LABELS,
    HOUSEHOLD_ROLES,
    RESIDENCIES,
    RESIDENCY_LABELS,
    SUBSIDY_KIND_LABELS,
)

__all__ = [
    "CATEGORY_SYNONYMS",
    "COLUMN_ALIASES",
    "FEEDBACK_XLSX_MAX_ROWS",
    "HOUSEHOLD_ROLE_SYNONYMS",
    "ImportReport",
    "ProgressHook",
    "import_department_list",
    "import_roster",
    "import_school_roster",
    "read_table",
    "resolve_department",
]

KIND_DEPARTMENT = "department_list"
KIND_ROSTER = "roster"
KIND_SCHOOL = "school"

ProgressHook = Callable[[str, int, int], None]
"""Called as (phase, done, total); phases are 读取文件, 校验, 写入数据库, 写反馈文件."""

PHASE_READ = "读取文件"
PHASE_VALIDATE = "校验"
PHASE_WRITE = "写入数据库"
PHASE_FEEDBACK = "写反馈文件"

FEEDBACK_XLSX_MAX_ROWS = 50_000
"""Above this many rows the workbook lists only the rows that are not plainly accepted (openpyxl writes ~13,000
rows/s, and a sheet holds at most 1,048,576 rows); the full feedback then goes to a CSV beside it."""

WRITE_CHUNK_ROWS = 100_000
LOOKUP_CHUNK = 5_000
FULL_SCAN_FACTOR = 4  # read a whole table when it is at most this many times the keys looked up

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号码", "公民身份号码", "居民身份证号码", "身份证号", "身份证件号码", "证件号码"),
    "name": ("姓名",),
    "category": ("身份类别", "人员类别", "类别", "身份", "救助类别", "人员身份", "认定类别", "优抚类别"),
    "valid_from": (
        "认定日期",
        "认定时间",
        "有效期起",
        "有效期开始",
        "起始日期",
        "开始日期",
        "纳入监测时间",
        "纳入时间",
    ),
    "valid_to": ("有效期止", "有效期至", "有效期结束", "截止日期", "终止日期", "结束日期"),
    "household_role": ("家庭角色", "与持证人关系", "家庭成员角色", "父母或子女"),  # 004 二(三)
    "county": ("县（区）", "县区", "区县", "县", "县（区）代码", "行政区划代码"),
    "township": ("乡镇", "乡镇（街道）", "乡镇街道", "街道"),
    "village": ("村", "村（社区）", "村社区", "社区", "村居"),
    "residency": ("参保人员类型", "居民类型", "参保身份", "人员类型"),
    "phone": ("联系电话", "电话", "电话号码", "手机", "手机号码", "联系方式"),
    "school": ("学校", "学校名称"),
    "grade": ("年级",),
    "class": ("班级",),
}

FIELD_LABELS: dict[str, str] = {
    "id_number": "身份证号码",
    "name": "姓名",
    "category": "身份类别",
    "valid_from": "有效期起（认定日期）",
    "valid_to": "有效期止",
    "household_role": "家庭角色",
    "county": "县（区）",
    "township": "乡镇（街道）",
    "village": "村（社区）",
    "residency": "参保人员类型",
    "phone": "联系电话",
    "school": "学校",
    "grade": "年级",
    "class": "班级",
}

CATEGORY_SYNONYMS: dict[str, str] = {
    "特困": "destitute",
    "特困供养": "destitute",
    "特困供养人员": "destitute",
    "特困供养对象": "destitute",
    "农村特困供养人员": "destitute",
    "城市特困人员": "destitute",
    "五保户": "destitute",
    "事实无人抚养": "unsupported_child",
    "低保": "dibao",
    "低保户": "dibao",
    "低保人员": "dibao",
    "低保对象（含低保户成员）": "dibao",
    "城乡低保对象": "dibao",
    "农村低保": "dibao",
    "农村低保对象": "dibao",
    "城市低保": "dibao",
    "城市低保对象": "dibao",
    "最低生活保障对象": "dibao",
    "低保边缘": "near_dibao",
    "低保边缘户": "near_dibao",
    "低保边缘家庭": "near_dibao",
    "低边": "near_dibao",
    "返贫致贫": "relapsed_poor",
    "返贫人口": "relapsed_poor",
    "致贫人口": "relapsed_poor",
    "监测对象": "monitored",
    "防止返贫监测对象": "monitored",
    "脱贫不稳定户": "monitored",
    "边缘易致贫户": "monitored",
    "突发严重困难户": "monitored",
    "计划生育特殊家庭": "family_planning",
    "计划生育特殊家庭成员": "family_planning",
    "计生特殊家庭": "family_planning",
    "计生代缴": "family_planning",
    "重点优抚": "key_entitled",
    "优抚对象": "key_entitled",
    "重度残疾": "severe_disability",
    "一二级残疾人": "severe_disability",
    "重度残疾人（一、二级）": "severe_disability",
    "独女户": "daughter_household",
    "双女户": "daughter_household",
    "农村独女户": "daughter_household",
    "农村双女户": "daughter_household",
    "独男户": "son_household",
}

# 004 二(三): 女儿（至18周岁）及父母 of a daughter household, 儿子 and 父母 of a son household.  The holder of the
# household certificate (持证人) is a parent.  The glossary's labels (HOUSEHOLD_ROLE_LABELS) and the
# identifiers are accepted too.
HOUSEHOLD_ROLE_SYNONYMS: dict[str, str] = {
    "父亲": "parent",
    "母亲": "parent",
    "父母亲": "parent",
    "持证人": "parent",
    "女儿": "child",
    "儿子": "child",
    "长女": "child",
    "次女": "child",
}

RESIDENCY_SYNONYMS: dict[str, str] = {
    "本地户籍": "local_hukou",
    "户籍居民": "local_hukou",
    "本地户籍居民": "local_hukou",
    "城乡居民": "local_hukou",
    "常住": "long_term_resident",
    "常住人口": "long_term_resident",
    "长期居住": "long_term_resident",
    "非本地户籍": "long_term_resident",
    "流动人员": "long_term_resident",
    "学生": "student",
    "在校学生": "student",
    "在园幼儿": "student",
    "留学生": "foreign_student",
    "港澳台居民": "hmt_resident",
}

DEPARTMENT_SYNONYMS: dict[str, str] = {
    "民政": "civil_affairs",
    "民政局": "civil_affairs",
    "乡村振兴": "rural_revitalization",
    "乡村振兴局": "rural_revitalization",
    "农业农村": "rural_revitalization",
    "农业农村局": "rural_revitalization",
    "卫健": "health_commission",
    "卫健委": "health_commission",
    "卫生健康委": "health_commission",
    "卫生健康委员会": "health_commission",
    "退役军人": "veterans_affairs",
    "退役军人事务局": "veterans_affairs",
    "残联": "disabled_federation",
    "残疾人联合会": "disabled_federation",
}

OUTCOME_LABELS: dict[str, str] = {"accepted": "接收", "rejected": "退回", "duplicate": "重复"}
TIMING_LABELS: dict[str, str] = {"upfront": "缴费时直接抵扣", "refund_after_payment": "先缴后补"}
OPEN_ENDED = ("长期", "长期有效", "至今", "永久", "无期限")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_FLOAT = "\x00"  # prefix of an XLSX number read as float: its digits beyond the 15th are lost
MAX_LENGTHS: dict[str, int] = {"name": 64, "township": 64, "village": 64, "phone": 20}
TEXT = pl.String()


def normalized(text: str) -> str:
    """How headers and category values are compared: NFKC, no spaces, Latin lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


_CATEGORY_LOOKUP: dict[str, str] = {
    **{normalized(c): c for c in CATEGORIES},
    **{normalized(label): c for c, label in CATEGORY_LABELS.items()},
    **{normalized(s): c for s, c in CATEGORY_SYNONYMS.items()},
}
_HOUSEHOLD_ROLE_LOOKUP: dict[str, str] = {
    **{normalized(r): r for r in HOUSEHOLD_ROLES},
    **{normalized(label): r for r, label in HOUSEHOLD_ROLE_LABELS.items()},
    **{normalized(s): r for s, r in HOUSEHOLD_ROLE_SYNONYMS.items()},
}
_RESIDENCY_LOOKUP: dict[str, str] = {
    **{normalized(r): r for r in RESIDENCIES},
    **{normalized(label): r for r, label in RESIDENCY_LABELS.items()},
    **{normalized(s): r for s, r in RESIDENCY_SYNONYMS.items()},
}


def resolve_department(department: str) -> str:
    """The department identifier for an identifier, its label (民政局) or a short name (民政)."""
    key = normalized(department)
    for ident, label in DEPARTMENT_LABELS.items():
        if key in (normalized(ident), normalized(label)):
            return ident
    if key in {normalized(s) for s in DEPARTMENT_SYNONYMS}:
        return next(v for s, v in DEPARTMENT_SYNONYMS.items() if normalized(s) == key)
    known = "、".join(f"{i}（{label}）" for i, label in DEPARTMENT_LABELS.items())
    raise InputError("--department", f"未知的认定部门“{department}”，可选：{known}")


# ---------------------------------------------------------------------------------------------------- report


@dataclass
class ImportReport:
    """What an import did. ``rows`` has one row per file row: row_number, name, id_number (as given when
    invalid), category (list imports), outcome (accepted/rejected/duplicate), reason, resolved (the most
    favourable identity, list imports)."""

    kind: str
    source: str | None
    file: Path
    file_sha256: str
    batch_id: int | None
    committed: bool
    replayed: bool
    rows_total: int
    accepted: int
    rejected: int
    duplicates: int
    already_listed: int = 0
    new_persons: int = 0
    updated_persons: int = 0
    dual_identities: int = 0
    not_covered: int = 0
    feedback_path: Path | None = None
    feedback_csv_path: Path | None = None
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)

    def rejections(self, limit: int | None = 20) -> list[str]:
        """Refused rows, one line each: row, name, masked ID number, field and rule."""
        if self.rows.is_empty():
            return []
        bad = self.rows.filter(pl.col("outcome") == "rejected")
        if limit is not None:
            bad = bad.head(limit)
        bad = bad.with_columns(masked=mask_id_numbers(pl.col("id_number").fill_null("")))
        return [
            f"第{r['row_number']}行 {r['name'] or '（无姓名）'} {r['masked'] or '（无身份证号码）'}：{r['reason']}"
            for r in bad.iter_rows(named=True)
        ]

    def summary(self) -> str:
        """A few Chinese lines for the CLI."""
        what = {KIND_DEPARTMENT: "认定名单", KIND_ROSTER: "参保名册", KIND_SCHOOL: "学生名册"}[self.kind]
        source = self.source or ""
        if self.kind == KIND_DEPARTMENT and self.source:
            source = DEPARTMENT_LABELS.get(self.source, self.source)
        lines = [
            f"{source}{what} {self.file.name}：共 {self.rows_total} 行，接收 {self.accepted} 行，"
            f"退回 {self.rejected} 行，重复 {self.duplicates} 行"
        ]
        if self.replayed:
            lines.append(f"该文件已于此前导入（批次 {self.batch_id}），本次未写入任何数据")
        elif self.committed:
            extra = f"已写入批次 {self.batch_id}：新登记人员 {self.new_persons} 人"
            if self.kind != KIND_DEPARTMENT:
                extra += f"，更新人员信息 {self.updated_persons} 人"
            lines.append(extra)
        else:
            lines.append(f"存在 {self.rejected} 行退回，整批未导入（修正后重新导入，或加 --accept-valid 只导入有效行）")
        if self.kind == KIND_DEPARTMENT and (self.committed or self.replayed):
            lines.append(
                f"已在其他名单中 {self.already_listed} 行；双重（多重）身份按最优资助认定 {self.dual_identities} 人；"
                f"身份不在政策资助范围 {self.not_covered} 人"
            )
        if self.feedback_path is not None:
            lines.append(f"反馈文件：{self.feedback_path}")
        if self.feedback_csv_path is not None:
            lines.append(f"完整反馈清单（CSV）：{self.feedback_csv_path}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- reading


def _cell_text(value: Any, mark_excel_numbers: bool = False) -> str | None:
    """A cell as text; a number as its exact digits (`mark_excel_numbers`: those of 1e15 and above, whose digits
    beyond the 15th Excel has lost, marked with the `_EXCEL_FLOAT` prefix for the ID number's check)."""
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
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    mark = _EXCEL_FLOAT if mark_excel_numbers and isinstance(value, int | float) and abs(value) >= 1e15 else ""
    if isinstance(value, int):
        return mark + str(value)
    if isinstance(value, float) and value.is_integer():
        # Below 1e15 a double is an exact integer; above, its shortest digits are what the spreadsheet shows.
        return mark + (str(int(value)) if abs(value) < 1e15 else format(Decimal(repr(value)), "f"))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _read_xlsx(data: bytes, name: str, mark_excel_numbers: bool = False) -> pl.DataFrame:
    from openpyxl import load_workbook

    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError("--file", f"文件 {name} 是旧版 .xls 工作簿，请在 Excel 中另存为 .xlsx")
    if not data.startswith(b"PK\x03\x04"):
        raise InputError("--file", f"文件 {name} 不是 XLSX 工作簿（可能是改了扩展名的 CSV 或其他文件）")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file; their text may quote the file
        raise InputError("--file", f"文件 {name} 不是有效的 XLSX 工作簿（文件已损坏或不是 Excel 保存的）") from None
    try:
        if not workbook.worksheets:
            raise InputError("--file", f"文件 {name} 没有工作表")
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise InputError("--file", f"文件 {name} 的第一个工作表是空的")
        width = len(header)
        columns: list[list[str | None]] = [[] for _ in range(width)]
        for number, row in enumerate(rows, start=2):
            cells = list(row[:width]) + [None] * (width - len(row))
            for i, value in enumerate(cells):
                text = _cell_text(value, mark_excel_numbers)
                if isinstance(value, str) and (control := CONTROL.search(value)):
                    raise control_refusal(name, number, i + 1, control.group())
                columns[i].append(text)
    except InputError:
        raise
    except Exception:  # a damaged sheet fails while it is read, not when it is opened
        raise InputError("--file", f"文件 {name} 不是有效的 XLSX 工作簿（文件已损坏或不是 Excel 保存的）") from None
    finally:
        workbook.close()
    texts = [_cell_text(h) or "" for h in header]
    for i, text in enumerate(texts):
        if control := CONTROL.search(text):
            raise control_refusal(name, 1, i + 1, control.group())
    headers = _unique_headers(texts)
    return pl.DataFrame({h: pl.Series(h, c, dtype=TEXT) for h, c in zip(headers, columns, strict=True)})


def _unique_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        h = h.strip().lstrip("\ufeff")
        n = seen.get(h, 0)
        seen[h] = n + 1
        out.append(h if n == 0 else f"{h}__{n}")
    return out


def _read_csv(data: bytes, name: str) -> pl.DataFrame:
    # UTF-8, GBK/GB18030 or UTF-16, any line ends; see canbao.tabular.textfiles.
    frame = read_csv_text(csv_bytes(data, name), name)
    return frame.rename(dict(zip(frame.columns, _unique_headers(frame.columns), strict=True)))


def read_table(path: Path, mark_excel_numbers: bool = False) -> tuple[bytes, pl.DataFrame]:
    """The file's bytes and its rows, every column as text, headers as written (stripped); see _cell_text for
    `mark_excel_numbers`."""
    if not path.is_file():
        raise InputError("--file", f"文件不存在：{path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError("--file", f"无法读取文件 {path}：{exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return data, _read_xlsx(data, path.name, mark_excel_numbers)
    if suffix in (".csv", ".txt"):
        return data, _read_csv(data, path.name)
    if suffix == ".xls":
        raise InputError("--file", f"不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx：{path.name}")
    raise InputError("--file", f"只支持 .csv 或 .xlsx 文件：{path.name}")


def _header_text(headers: list[str], most: int = 20, width: int = 20) -> str:
    """The header cells for a message: at most `most` of them, each cut at `width` characters, ID-like runs
    masked (a file without its header row would otherwise show a person)."""
    cut = [h if len(h) <= width else h[:width] + "…" for h in headers[:most]]
    more = f" 等 {len(headers)} 列" if len(headers) > most else ""
    return redact_id_numbers("、".join(cut)) + more if cut else "（无）"


def _map_columns(raw: pl.DataFrame, name: str, required: tuple[str, ...], optional: tuple[str, ...]) -> pl.DataFrame:
    """Rename the columns the import uses to their identifiers, add absent optional ones, number the rows."""
    wanted = (*required, *optional)
    index: dict[str, str] = {}
    for ident in wanted:
        for alias in (ident, *COLUMN_ALIASES[ident]):
            index[normalized(alias)] = ident
    if "class" in wanted:
        index[normalized("class_name")] = "class"
    found: dict[str, str] = {}
    for header in raw.columns:
        matched = index.get(normalized(re.sub(r"(__\d+|_duplicated_\d+)$", "", header)))
        if matched is None:
            continue
        if matched in found:
            raise InputError(
                "--file",
                f"文件 {name} 中“{found[matched]}”和“{header}”都是{FIELD_LABELS[matched]}列（{matched}），只能保留一列",
            )
        found[matched] = header
    missing = [ident for ident in required if ident not in found]
    if missing:
        parts = "；".join(f"{FIELD_LABELS[m]}（{m}，可用列名：{'、'.join(COLUMN_ALIASES[m])}）" for m in missing)
        raise InputError("--file", f"文件 {name} 缺少必需的列：{parts}。文件第 1 行的列：{_header_text(raw.columns)}")
    frame = raw.select(
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("row_number"),
        *[
            # The Excel-number mark matters for the ID number only; elsewhere the number's digits are the text.
            pl.col(header).cast(TEXT).alias(ident)
            if ident == "id_number"
            else pl.col(header).cast(TEXT).str.strip_chars_start(_EXCEL_FLOAT).alias(ident)
            for ident, header in found.items()
        ],
    ).with_columns(pl.lit(None, dtype=TEXT).alias(ident) for ident in wanted if ident not in found)
    blank = {
        ident: pl.when(pl.col(ident).str.strip_chars() != "").then(pl.col(ident).str.strip_chars()).otherwise(None)
        for ident in wanted
    }
    frame = frame.with_columns(**blank)
    frame = frame.filter(pl.any_horizontal([pl.col(ident).is_not_null() for ident in wanted]))
    if frame.is_empty():
        raise InputError("--file", f"文件 {name} 没有数据行")
    return frame


# ---------------------------------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Job:
    kind: str
    action: str
    source: str | None  # import_batches.department: the department, the school, or none for a roster
    county: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    department: str | None = None
    school: str | None = None
    policy: Policy | None = None
    benefit_year: int | None = None
    residency: str | None = None  # fixed residency of the persons on the file, if any

    @property
    def keys(self) -> list[str]:
        return ["id_number", "category"] if self.kind == KIND_DEPARTMENT else ["id_number"]

    def source_text(self) -> str:
        if self.kind == KIND_DEPARTMENT and self.department:
            return f"{DEPARTMENT_LABELS[self.department]}认定名单"
        if self.kind == KIND_SCHOOL:
            return f"学校“{self.school}”学生名册"
        return f"{self.benefit_year}年度参保名册（县区 {self.county}）"


def parse_dates(text: pl.Expr, open_ended: bool) -> pl.Expr:
    bare = text.str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "")
    serial = pl.when(bare.str.contains(r"^\d{1,5}(\.0+)?$")).then(
        bare.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
    )
    from_serial = pl.when(serial.is_between(1, 99_999)).then(
        pl.lit(EXCEL_EPOCH, dtype=pl.Date) + pl.duration(days=serial)
    )
    parsed = pl.coalesce(*[bare.str.to_date(f, strict=False) for f in DATE_FORMATS], from_serial)
    if open_ended:
        return pl.when(text.is_in(list(OPEN_ENDED))).then(pl.lit(None, dtype=pl.Date)).otherwise(parsed)
    return parsed


def _reasons(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    joined = pl.concat_str([pl.when(c).then(m) for c, m in checks], separator="；", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def _lit(text: str) -> pl.Expr:
    return pl.lit(text, dtype=TEXT)


def _lookup_values(frame: pl.DataFrame, column: str, lookup: dict[str, str]) -> pl.Expr:
    """The identifier each distinct value of `column` stands for (null when unknown); few distinct values, so
    they are normalised in Python once each."""
    distinct = frame[column].drop_nulls().unique().to_list()
    mapping = {value: lookup.get(normalized(value)) for value in distinct}
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=TEXT)


def _validate_static(frame: pl.DataFrame, job: _Job, today: dt.date) -> pl.DataFrame:
    """Checks that need no database: ID number, name, category, dates, lengths, fixed values."""
    frame = frame.with_columns(
        pl.lit(None, dtype=TEXT).alias(c) for c in ("township", "village", "phone") if c not in frame.columns
    )
    cleaned = pl.col("id_number").str.replace_all(r"[\s'‘’\"]", "").str.strip_chars_start(_EXCEL_FLOAT)
    if frame.select(pl.col("id_number").str.contains(r"[^\x00-\x7f]").any()).item():
        cleaned = cleaned.str.normalize("NFKC")  # full-width digits; costs 0.3 s a million rows, so only if needed
    excel_float = pl.col("_excel_number")
    out = frame.with_columns(
        _excel_number=pl.col("id_number").str.starts_with(_EXCEL_FLOAT).fill_null(False),
        id_text=pl.col("id_number").str.strip_chars_start(_EXCEL_FLOAT),
        _id=parse_id_numbers(cleaned, today),
    ).drop("id_number")
    out = out.with_columns(pl.col("_id").struct.unnest()).drop("_id", "division")
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (
            excel_float,
            _lit("身份证号码：在 Excel 中被存成了数字，第15位以后已丢失，请把该列设为文本后重新填写"),
        ),
        (~excel_float & pl.col("id_error").is_not_null(), pl.col("id_error")),
        (pl.col("name").is_null(), _lit("姓名：未填写")),
        (not_a_name(pl.col("name")), not_a_name_message(pl.col("name")).cast(TEXT)),
    ]
    for col, limit in MAX_LENGTHS.items():
        checks.append(
            (pl.col(col).str.len_chars() > limit, _lit(f"{FIELD_LABELS[col]}：超过{limit}个字（登记库限制）"))
        )
    new_columns: dict[str, pl.Expr] = {}
    if job.kind == KIND_DEPARTMENT:
        assert job.department is not None
        own = DEPARTMENT_CATEGORIES[job.department]
        dept_label = DEPARTMENT_LABELS[job.department]
        category_text = pl.col("category")
        new_columns["category_text"] = category_text
        new_columns["category"] = _lookup_values(out, "category", _CATEGORY_LOOKUP)
        new_columns["valid_from"] = parse_dates(pl.col("valid_from"), open_ended=False)
        new_columns["valid_to"] = parse_dates(pl.col("valid_to"), open_ended=True)
        new_columns["valid_from_text"] = pl.col("valid_from")
        new_columns["valid_to_text"] = pl.col("valid_to")
        new_columns["household_role_text"] = pl.col("household_role")  # 004 二(三)
        new_columns["household_role"] = _lookup_values(out, "household_role", _HOUSEHOLD_ROLE_LOOKUP)
        out = out.with_columns(**new_columns)
        foreign = {
            c: f"身份类别：{CATEGORY_LABELS[c]}（{c}）不由{dept_label}认定；{dept_label}认定："
            + "、".join(CATEGORY_LABELS[o] for o in own)
            for c in CATEGORIES
            if c not in own
        }
        checks += [
            (pl.col("category_text").is_null(), _lit("身份类别：未填写")),
            (
                pl.col("category_text").is_not_null() & pl.col("category").is_null(),
                pl.concat_str([_lit("身份类别：“"), pl.col("category_text"), _lit("”不是已知的身份类别")]),
            ),
            (
                pl.col("category").is_in(list(foreign)),
                pl.col("category").replace_strict(foreign, default=None, return_dtype=TEXT),
            ),
            (
                pl.col("valid_from_text").is_not_null() & pl.col("valid_from").is_null(),
                pl.concat_str(
                    [
                        _lit("有效期起（认定日期）：“"),
                        pl.col("valid_from_text"),
                        _lit("”不是有效日期（应为 YYYY-MM-DD、YYYY/MM/DD、YYYYMMDD 或 Excel 日期）"),
                    ]
                ),
            ),
            (
                pl.col("valid_to_text").is_not_null()
                & ~pl.col("valid_to_text").is_in(list(OPEN_ENDED))
                & pl.col("valid_to").is_null(),
                pl.concat_str(
                    [
                        _lit("有效期止：“"),
                        pl.col("valid_to_text"),
                        _lit("”不是有效日期（应为 YYYY-MM-DD、YYYY/MM/DD、YYYYMMDD、Excel 日期或“长期”）"),
                    ]
                ),
            ),
            (pl.col("valid_from") > pl.col("valid_to"), _lit("有效期止：早于有效期起（认定日期）")),
            (
                pl.col("household_role_text").is_not_null() & pl.col("household_role").is_null(),
                pl.concat_str(
                    [
                        _lit(f"{FIELD_LABELS['household_role']}：“"),
                        pl.col("household_role_text"),
                        _lit("”不是已知的家庭角色（应为 "),
                        _lit("、".join(f"{label}（{r}）" for r, label in HOUSEHOLD_ROLE_LABELS.items())),
                        _lit("，或空着）"),
                    ]
                ),
            ),
        ]
    elif job.kind == KIND_ROSTER:
        out = out.with_columns(
            residency_text=pl.col("residency"),
            residency=_lookup_values(out, "residency", _RESIDENCY_LOOKUP),
            county_text=pl.col("county"),
        )
        checks += [
            (
                pl.col("residency_text").is_not_null() & pl.col("residency").is_null(),
                pl.concat_str(
                    [
                        _lit("参保人员类型：“"),
                        pl.col("residency_text"),
                        _lit("”不是已知类型（如 本地户籍城乡居民、在校学生、本地长期居住或流动就业人员）"),
                    ]
                ),
            ),
            (
                pl.col("county_text").is_not_null() & (pl.col("county_text") != job.county),
                pl.concat_str(
                    [_lit("县（区）：“"), pl.col("county_text"), _lit(f"”与导入的县（区）代码 {job.county} 不一致")]
                ),
            ),
        ]
    else:
        checks.append(
            (
                pl.col("school").is_not_null() & (pl.col("school") != job.school),
                pl.concat_str([_lit("学校：“"), pl.col("school"), _lit(f"”与导入的学校“{job.school}”不一致")]),
            )
        )
    return out.with_columns(reason=_reasons(checks)).drop("_excel_number")


def _validate_in_file(frame: pl.DataFrame, job: _Job) -> pl.DataFrame:
    """One name per ID number; the first row of each person (and category) kept, later ones duplicates."""
    ok = pl.col("reason").is_null()
    # Only ID numbers given more than once can disagree: look at those rows alone (a hash pass, not a join of
    # the whole file).
    repeated = frame.filter(ok & pl.col("id_number").is_duplicated())
    firsts = repeated.group_by("id_number", maintain_order=True).agg(
        pl.col("name").first().alias("_first_name"), pl.col("row_number").first().alias("_first_name_row")
    )
    conflicts = (
        repeated.join(firsts, on="id_number")
        .filter(pl.col("name") != pl.col("_first_name"))
        .select(
            "row_number",
            _conflict=pl.concat_str(
                [
                    _lit("姓名：与第"),
                    pl.col("_first_name_row").cast(TEXT),
                    _lit("行同一身份证号码的姓名“"),
                    pl.col("_first_name"),
                    _lit("”不一致"),
                ]
            ),
        )
    )
    if conflicts.is_empty():
        return frame
    frame = frame.join(conflicts, on="row_number", how="left", maintain_order="left")
    return frame.with_columns(reason=pl.coalesce("reason", "_conflict")).drop("_conflict")


def _outcomes(frame: pl.DataFrame, job: _Job) -> pl.DataFrame:
    ok = pl.col("reason").is_null()
    first = pl.when(ok).then(pl.col("row_number")).min().over(job.keys)
    what = "同一人同一身份类别" if job.kind == KIND_DEPARTMENT else "同一人"
    frame = frame.with_columns(_first=first)
    duplicate = ok & (pl.col("row_number") != pl.col("_first"))
    return frame.with_columns(
        outcome=pl.when(~ok).then(_lit("rejected")).when(duplicate).then(_lit("duplicate")).otherwise(_lit("accepted")),
        note=pl.when(duplicate).then(
            pl.concat_str([_lit("重复：与第"), pl.col("_first").cast(TEXT), _lit(f"行为{what}，只保留第一行")])
        ),
    ).drop("_first")


# ---------------------------------------------------------------------------------------------------- database


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _is_pg(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _select_all(connection: Connection, stmt: Select[Any], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A SELECT (bound values: integers only, inlined) as a frame: COPY … TO STDOUT on PostgreSQL, the driver
    cursor on SQLite. Text comes back as text: select dates cast to strings."""
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if _is_pg(connection):
        return _select_all_sql(connection, sql, schema)
    cursor = _driver(connection).cursor()
    try:
        rows = cursor.execute(sql).fetchall()
    finally:
        cursor.close()
    return pl.DataFrame(rows, schema=schema, orient="row")


def _select_keys(
    connection: Connection,
    table: Table,
    stmt: Select[Any],
    key: Any,
    keys: pl.Series,
    schema: dict[str, pl.DataType],
) -> pl.DataFrame:
    """The rows whose `key` is among `keys`: the whole table read and joined when that is cheaper, otherwise
    chunked IN queries."""
    if keys.is_empty():
        return pl.DataFrame(schema=schema)
    size = table_size(connection, table.name)
    if size == 0:
        return pl.DataFrame(schema=schema)
    key_name = key.key
    if size <= FULL_SCAN_FACTOR * keys.len():
        everything = _select_all(connection, stmt, schema)
        return everything.join(keys.unique().to_frame(key_name), on=key_name, how="semi")
    if _is_pg(connection):
        # COPY the keys into a temporary table (dropped at the end of the transaction) and join.
        name = f"canbao_keys_{'text' if keys.dtype == TEXT else 'bigint'}"
        sql_type = "text" if keys.dtype == TEXT else "bigint"
        with _driver(connection).cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (k {sql_type}) ON COMMIT DROP")
            cursor.execute(f"TRUNCATE {name}")
            with cursor.copy(f"COPY {name} (k) FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(keys.unique().to_frame("k").write_csv(include_header=False).encode("utf-8"))
        return _select_all(connection, stmt.where(key.in_(select(sql_table(name, sql_column("k"))))), schema)
    frames: list[pl.DataFrame] = []
    values = keys.unique().to_list()
    for start in range(0, len(values), LOOKUP_CHUNK):
        rows = connection.execute(stmt.where(key.in_(values[start : start + LOOKUP_CHUNK]))).all()
        frames.append(pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row"))
    return pl.concat(frames)


_PERSON_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int64(),
    "id_number": TEXT,
    "reg_name": TEXT,
    "reg_county": TEXT,
    "reg_township": TEXT,
    "reg_village": TEXT,
    "reg_residency": TEXT,
    "reg_phone": TEXT,
}

_MEMBERSHIP_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int64(),
    "category": TEXT,
    "department": TEXT,
    "valid_from": TEXT,
    "valid_to": TEXT,
    "batch_id": pl.Int64(),
    "household_role": TEXT,  # 004 二(三), migration 0008
}


def _registered(connection: Connection, ids: pl.Series, kind: str) -> pl.DataFrame:
    """The registered persons among `ids`: person_id, id_number, reg_name (and, for a roster, the details it
    may update; for a school roster, the residency). Reading fewer columns matters for a million rows."""
    p = persons.c
    wanted = {
        KIND_DEPARTMENT: [p.id, p.id_number, p.name],
        KIND_SCHOOL: [p.id, p.id_number, p.name, p.residency],
        KIND_ROSTER: [p.id, p.id_number, p.name, p.county, p.township, p.village, p.residency, p.phone],
    }[kind]
    names = {"id": "person_id", "name": "reg_name", "id_number": "id_number"}
    schema = {names.get(c.key, f"reg_{c.key}"): _PERSON_SCHEMA[names.get(c.key, f"reg_{c.key}")] for c in wanted}
    found = _select_keys(connection, persons, select(*wanted), p.id_number, ids, schema)
    return found.with_columns(pl.lit(None, dtype=TEXT).alias(c) for c in _PERSON_SCHEMA if c not in schema)


def _memberships(connection: Connection, person_ids: pl.Series) -> pl.DataFrame:
    m = identity_memberships.c
    stmt = select(
        m.person_id,
        m.category,
        m.department,
        cast(m.valid_from, String),
        cast(m.valid_to, String),
        m.batch_id,
        m.household_role,
    )
    found = _select_keys(connection, identity_memberships, stmt, m.person_id, person_ids, _MEMBERSHIP_SCHEMA)
    return found.with_columns(
        pl.col("valid_from").str.to_date("%Y-%m-%d", strict=False),
        pl.col("valid_to").str.to_date("%Y-%m-%d", strict=False),
    )


class _Writer:
    """Bulk rows into one table: COPY on PostgreSQL, executemany on the SQLite driver cursor (measured: 3-4×
    faster than SQLAlchemy Core executemany with dictionaries, which spends its time building and processing
    one dictionary per row)."""

    def __init__(self, connection: Connection, total: int, progress: ProgressHook | None) -> None:
        self.connection = connection
        self.total = total
        self.done = 0
        self.progress = progress
        self.created = now()
        self.timings: dict[str, float] = {}

    def _took(self, what: str, since: float) -> None:
        key = f"write.{what}"
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - since

    def _advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(PHASE_WRITE, min(self.done, self.total), self.total)

    def _prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        dates = [c for c, t in frame.schema.items() if t == pl.Date]
        return frame.with_columns(pl.col(c).dt.to_string("%Y-%m-%d") for c in dates)

    def created_at(self) -> Any:
        if _is_pg(self.connection):
            return self.created.isoformat()
        dialect = self.connection.dialect
        processor = persons.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        return processor(self.created) if processor else self.created

    def insert(self, table: Table, frame: pl.DataFrame) -> None:
        started = time.perf_counter()
        try:
            self._insert(table, frame)
        finally:
            self._took(table.name, started)

    def _insert(self, table: Table, frame: pl.DataFrame) -> None:
        bulk_insert(self.connection, table, self._prepare(frame), self._advance, WRITE_CHUNK_ROWS)

    def allocate_person_ids(self, n: int) -> pl.Series:
        started = time.perf_counter()
        try:
            return self._allocate_person_ids(n)
        finally:
            self._took("allocate_ids", started)

    def _allocate_person_ids(self, n: int) -> pl.Series:
        return allocate_ids(self.connection, persons, n).alias("person_id")

    def update_persons(self, frame: pl.DataFrame) -> None:
        """Set the given columns of persons by id (`frame` has person_id and the columns)."""
        started = time.perf_counter()
        try:
            self._update_persons(frame)
        finally:
            self._took("person_updates", started)

    def _update_persons(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        columns = [c for c in frame.columns if c != "person_id"]
        if _is_pg(self.connection):
            driver = _driver(self.connection)
            definitions = ", ".join(f"{c} text" for c in columns)
            with driver.cursor() as cursor:
                cursor.execute(
                    f"CREATE TEMP TABLE canbao_person_updates (person_id bigint, {definitions}) ON COMMIT DROP"
                )
                with cursor.copy("COPY canbao_person_updates FROM STDIN WITH (FORMAT csv)") as cp:
                    for chunk in frame.iter_slices(WRITE_CHUNK_ROWS):
                        cp.write(chunk.write_csv(include_header=False).encode("utf-8"))
                        self._advance(chunk.height)
                assignments = ", ".join(f"{c} = u.{c}" for c in columns)
                cursor.execute(
                    f"UPDATE persons SET {assignments} FROM canbao_person_updates u WHERE persons.id = u.person_id"
                )
            return
        assignments = ", ".join(f"{c} = ?" for c in columns)
        cursor = _driver(self.connection).cursor()
        try:
            for chunk in frame.select(*columns, "person_id").iter_slices(WRITE_CHUNK_ROWS):
                cursor.executemany(f"UPDATE persons SET {assignments} WHERE id = ?", chunk.iter_rows())
                self._advance(chunk.height)
        finally:
            cursor.close()


def _select_all_sql(connection: Connection, sql: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    buffer = bytearray()
    with _driver(connection).cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as cp:
        for block in cp:
            buffer += block
    if not buffer:
        return pl.DataFrame(schema=schema)
    return pl.read_csv(io.BytesIO(bytes(buffer)), has_header=False, schema=schema)


# ---------------------------------------------------------------------------------------------------- resolution


def _yuan_text(amount: Decimal) -> str:
    fen = to_fen(amount)
    return str(fen // 100) if fen % 100 == 0 else str(to_yuan(fen))


def _resolve(policy: Policy, people: pl.DataFrame, memberships: pl.DataFrame) -> pl.DataFrame:
    """For each person (person_id, birth_date): the single most favourable subsidy over all memberships whose
    validity overlaps the benefit period; columns categories, resolved_category, not_covered, resolved."""
    start, end = policy.benefit_period.start, policy.benefit_period.end
    current = memberships.filter(
        (pl.col("valid_from").is_null() | (pl.col("valid_from") <= end))
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= start))
    )
    # Most persons hold one category: only the others go through a group-by (per-group list work in Polars
    # costs ~1 µs a group, 1 s a million).
    several = current["person_id"].is_duplicated()
    held = pl.concat(
        [
            current.filter(~several).select("person_id", categories=pl.concat_list("category")),
            current.filter(several)
            .select("person_id", "category")
            .unique()
            .sort("category")
            .group_by("person_id")
            .agg(pl.col("category").alias("categories")),
        ]
    )
    roles = household_roles(current, policy)  # 004 二(三)
    frame = (
        people.unique("person_id")
        .join(held, on="person_id", how="left")
        .join(roles, on="person_id", how="left")
        .with_columns(pl.col("categories").fill_null(pl.lit([], dtype=pl.List(TEXT))))
    )
    subsidy = best_subsidy(policy)
    frame = frame.with_columns(resolved_category=subsidy.category.cast(TEXT), _fen=subsidy.amount_fen)
    texts: dict[str, str] = {}
    for category, rule in policy.categories.items():
        if rule.not_covered is None and rule.amount is not None and rule.kind is not None:
            timing = TIMING_LABELS.get(rule.timing or "", rule.timing or "")
            texts[category] = (
                f"{CATEGORY_LABELS[category]}（{category}）：{SUBSIDY_KIND_LABELS[rule.kind]}"
                f"{_yuan_text(rule.amount)}元（{rule.payer}，{timing}）"
            )
    labels = pl.col("categories").list.eval(
        pl.element().replace_strict(CATEGORY_LABELS, default=pl.element(), return_dtype=TEXT)
    )
    main = pl.col("resolved_category").replace_strict(texts, default=None, return_dtype=TEXT).fill_null("无分类资助")
    multiple = pl.when(pl.col("categories").list.len() >= 2).then(
        pl.concat_str([_lit("多重身份（"), labels.list.join("、"), _lit("）只享受此一项")])
    )
    # 004 二(三): an adult on a household list is subsidised as a parent, not as the child; a list that does not
    # say which leaves the subsidy out, and the feedback asks for the role.
    role = pl.when(household_role_missing(policy)).then(
        _lit(
            f"家庭类身份（独女户、双女户、独男户）的成年人须注明是父母还是子女（名单的“{FIELD_LABELS['household_role']}”列），"
            "未计入该项资助"
        )
    )
    too_old = first_match(
        [
            (
                household_child_too_old(policy, category, rule),
                _lit(
                    f"{CATEGORY_LABELS[category]}的子女已满{rule.child_age_below}周岁，不享受该项资助（{rule.clause}）"
                ),
            )
            for category, rule in household_categories(policy)
        ]
    ).cast(TEXT)
    frame = frame.with_columns(not_covered=not_covered_category(policy, pl.col("_fen")))
    frame = frame.with_columns(
        resolved=pl.concat_str(
            [main, multiple, pl.col("not_covered"), role, too_old], separator="；", ignore_nulls=True
        ),
    )
    return frame.select("person_id", "categories", "resolved_category", "not_covered", "resolved")


# ---------------------------------------------------------------------------------------------------- feedback


def _feedback_columns(kind: str) -> list[tuple[str, str]]:
    head = [("行号", "row_number"), ("姓名", "name"), ("身份证号码", "id_number")]
    tail = [("结果", "result"), ("原因", "reason")]
    if kind == KIND_DEPARTMENT:
        return [*head, ("身份类别", "category_label"), *tail, ("最终认定资助身份", "resolved")]
    if kind == KIND_ROSTER:
        return [*head, ("乡镇（街道）", "township"), ("村（社区）", "village"), *tail]
    return [*head, ("学校", "school"), ("年级", "grade"), ("班级", "class"), *tail]


def _feedback_frame(rows: pl.DataFrame, kind: str) -> pl.DataFrame:
    columns = _feedback_columns(kind)
    ready = rows.with_columns(result=pl.col("outcome").replace_strict(OUTCOME_LABELS, return_dtype=TEXT))
    return ready.select([pl.col(c).alias(h) for h, c in columns])


def _remove_old_parts(path: Path) -> None:
    """Feedback files a killed import of an earlier version left as `<name>.part` (full ID numbers in them);
    today's temporaries are removed by canbao.outputs."""
    for final in (path, path.with_suffix(".csv")):
        final.with_name(f"{final.name}.part").unlink(missing_ok=True)


def _write_feedback(
    report: ImportReport, job: _Job, path: Path, progress: ProgressHook | None, files: OutputGroup
) -> None:
    """反馈 (per row) and 汇总 (counts); the full list also as CSV when it is too long for a workbook.

    Written as temporaries of `files` (canbao.outputs), which the caller publishes after the commit, so that
    a batch whose commit fails leaves no feedback claiming it was imported; no cell can run as a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    from canbao.reports.xlsx import text_cells

    _remove_old_parts(path)
    table = _feedback_frame(report.rows, job.kind)
    csv_path: Path | None = None
    shown = table
    if table.height > FEEDBACK_XLSX_MAX_ROWS:
        csv_path = path.with_suffix(".csv")
        csv_safe(table).write_csv(files.temporary(csv_path), include_bom=True)
        notable = (pl.col("结果") != "接收") | pl.col("原因").is_not_null()
        shown = table.filter(notable).head(FEEDBACK_XLSX_MAX_ROWS)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("反馈")
    widths = {"行号": 8, "姓名": 12, "身份证号码": 21, "原因": 60, "最终认定资助身份": 60}
    for i, header in enumerate(table.columns):
        sheet.column_dimensions[chr(ord("A") + i)].width = widths.get(header, 14)
    bold = Font(bold=True)

    def cell(value: Any) -> Any:
        c = WriteOnlyCell(sheet, value=value)
        c.font = bold
        return c

    sheet.append([cell(h) for h in table.columns])
    step = max(shown.height // 100, 1000)
    text = [c for c, t in shown.schema.items() if t == pl.String]
    risky = shown.select(pl.any_horizontal(formula_like(pl.col(c)) for c in text).fill_null(False)).to_series()
    for i, (row, quote) in enumerate(zip(shown.iter_rows(), risky, strict=True)):
        sheet.append(text_cells(sheet, row) if quote else list(row))
        if progress is not None and i % step == 0:
            progress(PHASE_FEEDBACK, i, shown.height)
    summary = workbook.create_sheet("汇总")
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 70
    if report.replayed:
        state = f"该文件此前已导入（批次 {report.batch_id}），本次未重复写入"
    elif report.committed:
        state = f"已导入（批次 {report.batch_id}）"
    else:
        state = "未导入：存在退回行，整批未写入，请修正后重新报送"
    lines: list[tuple[str, Any]] = [
        ("名单", job.source_text()),
        ("文件", report.file.name),
        ("文件 SHA-256", report.file_sha256),
        ("导入结果", state),
        ("总行数", report.rows_total),
        ("接收", report.accepted),
        ("退回", report.rejected),
        ("重复", report.duplicates),
    ]
    if job.kind == KIND_DEPARTMENT:
        assert job.policy is not None
        lines += [
            ("已在其他名单中", report.already_listed),
            ("多重身份按最优资助认定（人）", report.dual_identities),
            ("身份不在政策资助范围（人）", report.not_covered),
            ("资助认定所依政策", f"{job.policy.policy}（{job.policy.notice.number}）"),
        ]
    else:
        lines += [("新登记人员", report.new_persons), ("更新人员信息", report.updated_persons)]
    if csv_path is not None:
        lines.append(
            (
                "说明",
                f"共 {table.height} 行，本工作簿只列出退回、重复及有提示的 {shown.height} 行；"
                f"全部行的反馈见 CSV 文件 {csv_path.name}（UTF-8，身份证号码列请按文本导入）",
            )
        )
    lines.append(("生成时间", now().astimezone().strftime("%Y-%m-%d %H:%M:%S")))
    summary.append([cell("项目"), cell("内容")])
    for key, value in lines:
        summary.append(text_cells(summary, [key, value]))  # the file's name is the sender's
    workbook.save(files.temporary(path))
    if progress is not None:
        progress(PHASE_FEEDBACK, shown.height, shown.height)
    report.feedback_path = path
    report.feedback_csv_path = csv_path


# ---------------------------------------------------------------------------------------------------- the use case


def _report_rows(frame: pl.DataFrame, job: _Job) -> pl.DataFrame:
    """The per-row outcome the report and the feedback show."""
    columns: list[pl.Expr] = [
        pl.col("row_number"),
        pl.col("name"),
        pl.coalesce(pl.col("id_number"), pl.col("id_text")).alias("id_number"),
        pl.col("outcome"),
        pl.coalesce(pl.col("reason"), pl.col("note")).alias("reason"),
    ]
    if job.kind == KIND_DEPARTMENT:
        columns += [
            pl.col("category"),
            pl.coalesce(
                pl.col("category").replace_strict(CATEGORY_LABELS, default=None, return_dtype=TEXT),
                pl.col("category_text"),
            ).alias("category_label"),
            pl.col("resolved") if "resolved" in frame.columns else pl.lit(None, dtype=TEXT).alias("resolved"),
        ]
    elif job.kind == KIND_ROSTER:
        columns += [pl.col("township"), pl.col("village")]
    else:
        columns += [pl.col("school").fill_null(job.school or ""), pl.col("grade"), pl.col("class")]
    return frame.select(columns)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, phase: str, into: str | None = None) -> None:
        """Add the time since the last lap to `phase` (and to `into`, a phase it is part of)."""
        t = time.perf_counter()
        for key in (phase, into) if into else (phase,):
            self.timings[key] = self.timings.get(key, 0.0) + (t - self._start)
        self._start = t


def _find_batch(engine: Engine, kind: str, sha: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = (
            connection.execute(
                select(import_batches).where(import_batches.c.kind == kind, import_batches.c.file_sha256 == sha)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def _subject(sha: str) -> str:
    return f"sha256:{sha[:16]}"


def _refusal_detail(job: _Job, path: Path, report: ImportReport) -> str:
    head = (
        f"{job.source_text()} {path.name}：共 {report.rows_total} 行，退回 {report.rejected} 行，"
        f"重复 {report.duplicates} 行，整批未导入"
    )
    lines = report.rejections(limit=20)
    more = report.rejected - len(lines)
    return "\n".join([head, *lines, *([f"……另有 {more} 行退回，见反馈文件"] if more > 0 else [])])


def _run(
    engine: Engine,
    path: Path,
    job: _Job,
    actor: str,
    accept_valid: bool,
    feedback_path: Path | None,
    today: dt.date | None,
    progress: ProgressHook | None,
) -> ImportReport:
    path = Path(path)
    today = today or dt.date.today()
    timer = _Timer()
    if progress is not None:
        progress(PHASE_READ, 0, 1)
    try:
        data, raw = read_table(path, mark_excel_numbers=True)
        sha = hashlib.sha256(data).hexdigest()
        frame = _map_columns(raw, path.name, job.required, job.optional)
        if job.department and "category" not in job.required:
            frame = frame.with_columns(pl.col("category").fill_null(DEPARTMENT_CATEGORIES[job.department][0]))
    except CanbaoError as exc:
        audit(engine, actor, job.action, None, "refused", f"{job.source_text()} {path.name}：{exc}")
        raise
    del raw, data
    if progress is not None:
        progress(PHASE_READ, 1, 1)
    timer.lap("read")

    earlier = _find_batch(engine, job.kind, sha)
    if earlier is not None:
        return _replay(engine, path, job, actor, earlier, frame, feedback_path, today, timer, progress)

    if progress is not None:
        progress(PHASE_VALIDATE, 0, 3)
    frame = _validate_in_file(_validate_static(frame, job, today), job)
    if progress is not None:
        progress(PHASE_VALIDATE, 1, 3)
    timer.lap("validate")

    committed = False
    report: ImportReport
    feedback = OutputGroup()  # feedback files written beside the database write, published after commit
    try:
        with UnitOfWork(engine, actor) as uow:
            connection = uow.connection
            refresh_statistics(connection, "persons", "identity_memberships", "import_rows")
            ok_ids = frame.filter(pl.col("reason").is_null())["id_number"]
            registered = _registered(connection, ok_ids, job.kind)
            frame = frame.join(registered, on="id_number", how="left", maintain_order="left")
            mismatch = (
                pl.col("reason").is_null() & pl.col("reg_name").is_not_null() & (pl.col("name") != pl.col("reg_name"))
            )
            frame = frame.with_columns(
                reason=pl.when(mismatch)
                .then(pl.concat_str([_lit("姓名：与登记库中该身份证号码的姓名“"), pl.col("reg_name"), _lit("”不一致")]))
                .otherwise(pl.col("reason"))
            )
            frame = _outcomes(frame, job)
            timer.lap("lookup")
            if progress is not None:
                progress(PHASE_VALIDATE, 2, 3)

            existing = pl.DataFrame(schema=_MEMBERSHIP_SCHEMA).with_columns(
                pl.col("valid_from").cast(pl.Date), pl.col("valid_to").cast(pl.Date)
            )
            if job.kind == KIND_DEPARTMENT:
                known = frame.filter(pl.col("outcome") != "rejected")["person_id"].drop_nulls()
                existing = _memberships(connection, known)
                frame = _note_other_lists(frame, existing, job)
            timer.lap("lookup")

            counts = frame["outcome"].value_counts()
            by_outcome = dict(zip(counts["outcome"].to_list(), counts["count"].to_list(), strict=True))
            rejected = int(by_outcome.get("rejected", 0))
            report = ImportReport(
                kind=job.kind,
                source=job.source,
                file=path,
                file_sha256=sha,
                batch_id=None,
                committed=False,
                replayed=False,
                rows_total=frame.height,
                accepted=int(by_outcome.get("accepted", 0)),
                rejected=rejected,
                duplicates=int(by_outcome.get("duplicate", 0)),
            )
            if job.kind == KIND_DEPARTMENT:
                report.already_listed = int(frame["_listed"].sum())
            if progress is not None:
                progress(PHASE_VALIDATE, 3, 3)
            if rejected and not accept_valid:
                report.rows = _report_rows(frame, job)
                timer.lap("validate")
            else:
                _write(connection, frame, existing, job, report, actor, feedback_path, feedback, progress, timer)
                uow.commit()
                committed = True
                timer.lap("write.commit", into="write")
    except IntegrityError:
        feedback.discard()
        audit(engine, actor, job.action, _subject(sha), "failed", f"{job.source_text()} {path.name}：写入冲突，已回滚")
        raise InputError(
            "--file", f"文件 {path.name} 写入时与另一次导入冲突（可能是同一文件正在导入），已回滚，请稍后重试"
        ) from None
    except BaseException as exc:
        feedback.discard()
        audit(
            engine,
            actor,
            job.action,
            _subject(sha),
            "failed",
            # The type only: an exception's text may quote rows or a driver's SQL parameters.
            f"{job.source_text()} {path.name}：{type(exc).__name__}"[:2000],
        )
        raise

    if committed:
        feedback.publish()  # after the commit: a failure here is not the batch's (its audit line says done)
    else:
        audit(engine, actor, job.action, _subject(sha), "refused", _refusal_detail(job, path, report))
        if feedback_path is not None:
            with OutputGroup() as files:
                _write_feedback(report, job, Path(feedback_path), progress, files)
            timer.lap("feedback")
    report.timings = timer.timings
    return report


def _note_other_lists(frame: pl.DataFrame, existing: pl.DataFrame, job: _Job) -> pl.DataFrame:
    """Notes on accepted rows, which do not refuse them: the person already holds the category from an earlier
    list (another file); the validity does not overlap the policy's benefit period (then the row does not
    count when the most favourable identity is resolved)."""
    earliest = (
        existing.sort("batch_id")
        .group_by("person_id", "category")
        .agg(pl.col("batch_id").first().alias("_other_batch"), pl.col("department").first().alias("_other_dept"))
    )
    frame = frame.join(earliest, on=["person_id", "category"], how="left", maintain_order="left")
    listed = (pl.col("outcome") == "accepted") & pl.col("_other_batch").is_not_null()
    dept_label = pl.col("_other_dept").replace_strict(
        DEPARTMENT_LABELS, default=pl.col("_other_dept"), return_dtype=TEXT
    )
    note = pl.concat_str(
        [_lit("已在其他名单中（"), dept_label, _lit("，批次 "), pl.col("_other_batch").cast(TEXT), _lit("）")]
    )
    assert job.policy is not None
    period = job.policy.benefit_period
    outside = (pl.col("outcome") == "accepted") & (
        (pl.col("valid_to") < period.start) | (pl.col("valid_from") > period.end)
    ).fill_null(False)
    outside_note = _lit(
        f"提示：有效期与{job.policy.benefit_year}年度待遇期（{period.start}至{period.end}）不重叠，"
        "不参与本年度资助身份认定"
    )
    return (
        frame.with_columns(
            _listed=listed,
            note=pl.concat_str(
                [pl.col("note"), pl.when(listed).then(note), pl.when(outside).then(outside_note)],
                separator="；",
                ignore_nulls=True,
            ),
        )
        .with_columns(note=pl.when(pl.col("note") != "").then(pl.col("note")))
        .drop("_other_batch", "_other_dept")
    )


def _write(
    connection: Connection,
    frame: pl.DataFrame,
    existing: pl.DataFrame,
    job: _Job,
    report: ImportReport,
    actor: str,
    feedback_path: Path | None,
    feedback: OutputGroup,
    progress: ProgressHook | None,
    timer: _Timer,
) -> None:
    """Everything of one batch, in the caller's transaction; the caller commits.

    Once person ids are known, the resolution, the report rows and the feedback files (under temporary names)
    are computed on a second thread while the rows are written: the database does its share of the work
    (PostgreSQL's per-row foreign-key triggers, SQLite's b-trees with the GIL released) meanwhile, into
    `feedback`, which the caller publishes after the commit.
    """
    kept = pl.col("outcome") == "accepted"
    new_people = (
        frame.filter(kept & pl.col("person_id").is_null())
        .unique("id_number", keep="first", maintain_order=True)
        .sort("id_number")
    )
    if job.residency is not None:
        residency = pl.lit(job.residency, dtype=TEXT)
    else:
        residency = pl.col("residency").fill_null("local_hukou")
    updates = _person_updates(frame, job)
    memberships_count = int(frame.select(kept.sum()).item()) if job.kind == KIND_DEPARTMENT else 0
    writer = _Writer(connection, new_people.height + updates.height + memberships_count + frame.height, progress)

    batch_id: int = connection.execute(
        insert(import_batches)
        .values(
            kind=job.kind,
            department=job.source,
            file_name=report.file.name[:255],
            file_sha256=report.file_sha256,
            rows_total=report.rows_total,
            rows_accepted=report.accepted,
            rows_rejected=report.rejected,
            actor=actor,
            created_at=writer.created,
            benefit_year=job.benefit_year if job.kind == KIND_ROSTER else None,
        )
        .returning(import_batches.c.id)
    ).scalar_one()
    ids = writer.allocate_person_ids(new_people.height)
    new_people = new_people.with_columns(ids.alias("new_person_id"))
    frame = frame.join(
        new_people.select("id_number", "new_person_id"), on="id_number", how="left", maintain_order="left"
    ).with_columns(person_id=pl.coalesce("person_id", "new_person_id"))
    new_memberships = pl.DataFrame()
    if job.kind == KIND_DEPARTMENT:
        assert job.department is not None
        new_memberships = (
            frame.filter(kept)
            .select(
                "person_id",
                "category",
                department=pl.lit(job.department, dtype=TEXT),
                valid_from=pl.col("valid_from"),
                valid_to=pl.col("valid_to"),
                batch_id=pl.lit(batch_id, dtype=pl.Int64),
                household_role=pl.col("household_role"),  # 004 二(三)
            )
            .sort("person_id")
        )
    report.batch_id = batch_id
    report.new_persons = new_people.height
    report.updated_persons = updates.height
    report.committed = True  # what the feedback says; it is published only once the commit succeeded
    timer.lap("write")

    side_timer = _Timer()

    def beside() -> None:
        side_timer.lap("write")  # not counted: waiting to start
        rows = frame
        if job.kind == KIND_DEPARTMENT:
            everything = pl.concat([existing, new_memberships], how="vertical_relaxed")
            rows = _with_resolution(frame, everything, job, report)
        report.rows = _report_rows(rows, job)
        side_timer.lap("resolve")
        if feedback_path is not None:
            _write_feedback(report, job, Path(feedback_path), progress, feedback)
        side_timer.lap("feedback")

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="canbao-feedback") as pool:
        side = pool.submit(beside)
        try:
            writer.insert(
                persons,
                new_people.select(
                    pl.col("new_person_id").alias("id"),
                    "id_number",
                    "name",
                    "sex",
                    "birth_date",
                    county=pl.lit(job.county, dtype=TEXT),
                    township=pl.col("township"),
                    village=pl.col("village"),
                    residency=residency,
                    phone=pl.col("phone"),
                    created_at=pl.lit(writer.created_at()),
                ),
            )
            writer.update_persons(updates)
            writer.insert(identity_memberships, new_memberships)
            stored_id = pl.coalesce(
                pl.col("id_number"), pl.when(pl.col("id_text").str.len_chars() <= 18).then(pl.col("id_text"))
            )
            writer.insert(
                import_rows,
                frame.select(
                    batch_id=pl.lit(batch_id, dtype=pl.Int64),
                    row_number=pl.col("row_number"),
                    id_number=stored_id,
                    outcome=pl.col("outcome"),
                    reason=pl.coalesce(pl.col("reason"), pl.col("note")),
                    person_id=pl.when(pl.col("outcome") == "accepted").then(pl.col("person_id")),
                ),
            )
            timer.lap("write")
        except BaseException:
            wait([side])
            feedback.discard()
            raise
        try:
            side.result()
        except BaseException:
            feedback.discard()
            raise
        timer.lap("write.wait_for_feedback")
    for phase in ("resolve", "feedback"):
        timer.timings[phase] = timer.timings.get(phase, 0.0) + side_timer.timings.get(phase, 0.0)
    timer.timings.update(writer.timings)
    try:
        connection.execute(
            insert(audit_log).values(
                at=now(),
                actor=actor,
                action=job.action,
                subject=f"batch:{batch_id}",
                outcome="done",
                detail=(
                    f"{job.source_text()} {report.file.name}（{_subject(report.file_sha256)}）："
                    f"共 {report.rows_total} 行，接收 {report.accepted}，退回 {report.rejected}，"
                    f"重复 {report.duplicates}，"
                    f"新登记 {report.new_persons}，更新 {report.updated_persons}"
                    + (f"，多重身份 {report.dual_identities} 人" if job.kind == KIND_DEPARTMENT else "")
                ),
            )
        )
    except BaseException:
        feedback.discard()
        raise


def _with_resolution(frame: pl.DataFrame, memberships: pl.DataFrame, job: _Job, report: ImportReport) -> pl.DataFrame:
    assert job.policy is not None
    people = frame.filter(pl.col("outcome") != "rejected").select("person_id", "birth_date")
    resolved = _resolve(job.policy, people, memberships)
    report.dual_identities = int(resolved.select((pl.col("categories").list.len() >= 2).sum()).item())
    report.not_covered = int(resolved["not_covered"].is_not_null().sum())
    frame = frame.join(resolved.select("person_id", "resolved"), on="person_id", how="left", maintain_order="left")
    return frame.with_columns(
        resolved=pl.when(pl.col("outcome") != "rejected").then(pl.col("resolved")),
    )


def _person_updates(frame: pl.DataFrame, job: _Job) -> pl.DataFrame:
    """Known persons whose registered details the roster changes: person_id and the new values."""
    known = frame.filter((pl.col("outcome") == "accepted") & pl.col("person_id").is_not_null())
    if job.kind == KIND_ROSTER:
        new = known.select(
            "person_id",
            county=pl.lit(job.county, dtype=TEXT),
            township=pl.coalesce("township", "reg_township"),
            village=pl.coalesce("village", "reg_village"),
            residency=pl.coalesce("residency", "reg_residency"),
            phone=pl.coalesce("phone", "reg_phone"),
            _changed=pl.any_horizontal(
                [
                    pl.col("reg_county") != job.county,
                    *[
                        pl.col(c).is_not_null() & (pl.col(c) != pl.col(f"reg_{c}")).fill_null(True)
                        for c in ("township", "village", "residency", "phone")
                    ],
                ]
            ),
        )
    elif job.kind == KIND_SCHOOL:
        new = known.select(
            "person_id", residency=pl.lit("student", dtype=TEXT), _changed=pl.col("reg_residency") != "student"
        )
    else:
        return pl.DataFrame(schema={"person_id": pl.Int64()})
    return new.filter(pl.col("_changed")).drop("_changed")


def _replay(
    engine: Engine,
    path: Path,
    job: _Job,
    actor: str,
    earlier: dict[str, Any],
    frame: pl.DataFrame,
    feedback_path: Path | None,
    today: dt.date,
    timer: _Timer,
    progress: ProgressHook | None,
) -> ImportReport:
    """The same file again: nothing written but the audit line; the earlier batch's outcome per row."""
    batch_id = int(earlier["id"])
    if earlier["department"] != job.source:
        was = earlier["department"]
        if job.kind == KIND_DEPARTMENT and was in DEPARTMENT_LABELS:
            was = DEPARTMENT_LABELS[was]
        message = f"文件 {path.name} 已于批次 {batch_id} 作为“{was}”的名单导入，不能再作为“{job.source_text()}”导入"
        audit(engine, actor, job.action, _subject(earlier["file_sha256"]), "refused", message)
        raise InputError("--file", message)
    frame = _validate_static(frame, job, today)
    with engine.connect() as connection:
        r = import_rows.c
        stored = _select_all(
            connection,
            select(r.row_number, r.id_number, r.outcome, r.reason).where(r.batch_id == batch_id),
            {"row_number": pl.Int64(), "stored_id": TEXT, "outcome": TEXT, "stored_reason": TEXT},
        )
        frame = frame.join(stored, on="row_number", how="left", maintain_order="left").with_columns(
            reason=pl.when(pl.col("outcome") == "rejected").then(pl.col("stored_reason")),
            note=pl.when(pl.col("outcome") != "rejected").then(pl.col("stored_reason")),
            outcome=pl.col("outcome").fill_null("rejected"),
        )
        report = ImportReport(
            kind=job.kind,
            source=job.source,
            file=path,
            file_sha256=earlier["file_sha256"],
            batch_id=batch_id,
            committed=False,
            replayed=True,
            rows_total=int(earlier["rows_total"]),
            accepted=int(earlier["rows_accepted"]),
            rejected=int(earlier["rows_rejected"]),
            duplicates=int(earlier["rows_total"]) - int(earlier["rows_accepted"]) - int(earlier["rows_rejected"]),
        )
        if job.kind == KIND_DEPARTMENT:
            report.already_listed = int(
                frame.select((pl.col("outcome") == "accepted") & pl.col("note").str.starts_with("已在其他名单中"))
                .to_series()
                .sum()
            )
            registered = _registered(connection, frame.filter(pl.col("outcome") != "rejected")["id_number"], job.kind)
            frame = frame.join(
                registered.select("person_id", "id_number"), on="id_number", how="left", maintain_order="left"
            )
            memberships = _memberships(connection, registered["person_id"])
            frame = _with_resolution(frame, memberships, job, report)
    report.rows = _report_rows(frame, job)
    audit(
        engine,
        actor,
        job.action,
        f"batch:{batch_id}",
        "replayed",
        f"{job.source_text()} {path.name}：与批次 {batch_id} 为同一文件，未重复写入",
    )
    timer.lap("validate")
    if feedback_path is not None:
        with OutputGroup() as files:
            _write_feedback(report, job, Path(feedback_path), progress, files)
        timer.lap("feedback")
    report.timings = timer.timings
    return report


def _check_county(county: str) -> str:
    county = county.strip()
    if len(county) != 6 or not county.isascii() or not county.isdigit():
        raise InputError("--county", f"县（区）应为6位行政区划代码，而不是“{county}”")
    return county


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _check_actor(actor: str | None) -> str:
    actor = (actor or "").strip() or _login()
    if len(actor) > 64:
        raise InputError("--actor", "操作人不能超过64个字符")
    if CONTROL.search(actor):
        raise InputError("--actor", "操作人含有控制字符（如 NUL）")
    return actor


def import_department_list(
    engine: Engine,
    path: Path,
    department: str,
    county: str,
    policy_id: str,
    actor: str,
    accept_valid: bool = False,
    feedback_path: Path | None = None,
    *,
    today: dt.date | None = None,
    progress: ProgressHook | None = None,
) -> ImportReport:
    """Import one certifying department's list of identity categories (see the module docstring)."""
    department = resolve_department(department)
    county = _check_county(county)
    policy = load_policy(policy_id)
    if county not in policy.region.counties:
        known = "、".join(f"{c} {n}" for c, n in policy.region.counties.items())
        raise InputError("--county", f"县（区）{county} 不在政策 {policy_id} 的地区内（{known}）")
    # A department that certifies one category only (残联: 重度残疾人) may send its list without a category
    # column: every row is that category.
    sole = DEPARTMENT_CATEGORIES[department] if len(DEPARTMENT_CATEGORIES[department]) == 1 else None
    job = _Job(
        kind=KIND_DEPARTMENT,
        action="import_department_list",
        source=department,
        county=county,
        required=("id_number", "name") if sole else ("id_number", "name", "category"),
        optional=(
            "valid_from",
            "valid_to",
            "household_role",  # 004 二(三)
            "township",
            "village",
            "phone",
            *(("category",) if sole else ()),
        ),
        department=department,
        policy=policy,
        residency="local_hukou",
    )
    return _run(engine, Path(path), job, _check_actor(actor), accept_valid, feedback_path, today, progress)


def import_roster(
    engine: Engine,
    path: Path,
    county: str,
    benefit_year: int,
    actor: str,
    accept_valid: bool = False,
    feedback_path: Path | None = None,
    *,
    today: dt.date | None = None,
    progress: ProgressHook | None = None,
) -> ImportReport:
    """Import last year's enrollees of `county` (the roster of `benefit_year`): registers new persons and
    updates county, township, village, residency and phone of known ones. No enrollment is written."""
    county = _check_county(county)
    if not 2000 <= int(benefit_year) <= 2100:
        raise InputError("--year", f"待遇年度应为四位年份，而不是“{benefit_year}”")
    job = _Job(
        kind=KIND_ROSTER,
        action="import_roster",
        source=None,
        county=county,
        required=("id_number", "name"),
        optional=("county", "township", "village", "residency", "phone"),
        benefit_year=int(benefit_year),
    )
    return _run(engine, Path(path), job, _check_actor(actor), accept_valid, feedback_path, today, progress)


def import_school_roster(
    engine: Engine,
    path: Path,
    school: str,
    county: str,
    actor: str,
    accept_valid: bool = False,
    feedback_path: Path | None = None,
    *,
    today: dt.date | None = None,
    progress: ProgressHook | None = None,
) -> ImportReport:
    """Import a school's students (entered by the school, reviewed by the county): registered with residency
    ``student``; known persons' residency becomes ``student``."""
    county = _check_county(county)
    school = (school or "").strip()
    if not school or len(school) > 40 or CONTROL.search(school):
        raise InputError("--school", "须填写学校名称（不超过40个字，不含控制字符）")
    job = _Job(
        kind=KIND_SCHOOL,
        action="import_school",
        source=school,
        county=county,
        required=("id_number", "name"),
        optional=("school", "grade", "class"),
        school=school,
        residency="student",
    )
    return _run(engine, Path(path), job, _check_actor(actor), accept_valid, feedback_path, today, progress)
