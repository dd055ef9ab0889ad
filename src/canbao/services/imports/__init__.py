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

Read by :mod:`canbao.tabular` in the layouts ``department_list``, ``roster`` and ``school_roster`` of
:mod:`canbao.tabular.layouts` (rendered in docs/file-layouts.md, with every header accepted): CSV (UTF-8 with
or without BOM, GBK/GB18030, UTF-16; comma- or tab-separated) or XLSX (the first sheet). The header row is
the first row holding the required columns (title rows above it are passed over); every other row is one
person. Row numbers (行号) are spreadsheet row numbers. Rows of totals (合计, 小计 …) and signature lines are
not persons: they are left out and listed in the report and the feedback (``ImportReport.skipped``). Rows
that are entirely empty are skipped. Columns not in the layout are ignored; a column the import needs twice
(e.g. both 身份证号码 and 公民身份号码) is refused.

Values
------

- ``id_number``: GB 11643 (:func:`canbao.tabular.values.id_numbers`); spaces, quotes and a leading apostrophe
  are ignored, a lowercase x is X, full-width digits are digits, 15-digit numbers are converted. An XLSX cell
  holding the number as a number (Excel keeps only 15 digits) is refused with that reason.
- ``category``: the identifier (``dibao``), the Chinese label of the glossary (低保对象) or a common synonym
  (低保户, 特困供养人员, 防止返贫监测对象, …, see ``CATEGORY_SYNONYMS``). It must be a category the importing
  department certifies (``DEPARTMENT_CATEGORIES``).
- dates (:func:`canbao.tabular.values.dates`): YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD, YYYY年MM月DD日
  (one-digit month and day too), a time after the date is ignored, an Excel date cell or an Excel serial day
  number; 长期 / 长期有效 / 至今 as ``valid_to`` means open-ended.
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

An XLSX workbook for whoever sent the list, at the path given or else :func:`canbao.outputs.feedback_path`
(``<stem>_反馈.xlsx`` beside the file): sheet 反馈 (行号, 姓名, 身份证号码 in full, then 身份类别 /
乡镇、村 / 学校、年级、班级 by kind, 结果 接收/退回/重复, 原因, and for lists 最终认定资助身份: the resolved
identity with its amount and payer) and sheet 汇总 (counts, the header row when it is not row 1, the summary
rows passed over). Above ``FEEDBACK_XLSX_MAX_ROWS`` rows the
workbook lists only the rows that are not plainly accepted and the full feedback goes to a CSV (UTF-8 with
BOM) of the same name beside it.

Writing
-------

One transaction (:class:`canbao.store.uow.UnitOfWork`), in bulk: PostgreSQL ``COPY``, SQLite
``executemany`` on the driver cursor; new persons get their ids before they are written. The resolution and
the feedback files are computed on a second thread while the rows are written, under temporary names that
are renamed only after the commit. See benchmarks/README.md for the figures.
"""

from canbao.services.imports.database import FULL_SCAN_FACTOR, LOOKUP_CHUNK, WRITE_CHUNK_ROWS, Writer
from canbao.services.imports.feedback import FEEDBACK_XLSX_MAX_ROWS
from canbao.services.imports.report import (
    KIND_DEPARTMENT,
    KIND_ROSTER,
    KIND_SCHOOL,
    PHASE_FEEDBACK,
    PHASE_READ,
    PHASE_VALIDATE,
    PHASE_WRITE,
    ImportReport,
    ProgressHook,
)
from canbao.services.imports.usecases import import_department_list, import_roster, import_school_roster
from canbao.services.imports.words import (
    CATEGORY_SYNONYMS,
    COLUMN_ALIASES,
    FIELD_LABELS,
    HOUSEHOLD_ROLE_SYNONYMS,
    RESIDENCY_SYNONYMS,
    resolve_department,
)

__all__ = [
    "CATEGORY_SYNONYMS",
    "COLUMN_ALIASES",
    "FEEDBACK_XLSX_MAX_ROWS",
    "FIELD_LABELS",
    "FULL_SCAN_FACTOR",
    "HOUSEHOLD_ROLE_SYNONYMS",
    "KIND_DEPARTMENT",
    "KIND_ROSTER",
    "KIND_SCHOOL",
    "LOOKUP_CHUNK",
    "PHASE_FEEDBACK",
    "PHASE_READ",
    "PHASE_VALIDATE",
    "PHASE_WRITE",
    "RESIDENCY_SYNONYMS",
    "WRITE_CHUNK_ROWS",
    "ImportReport",
    "ProgressHook",
    "Writer",
    "import_department_list",
    "import_roster",
    "import_school_roster",
    "resolve_department",
]
