"""Every layout of the files other offices send, in one table: for each kind of file its fields, which are
required and the column headers accepted for each field.  docs/file-layouts.md is rendered from it
(``python -m canbao.tabular.layouts > docs/file-layouts.md``; a test fails when the two differ).

A field has one set of accepted headers wherever it appears (:data:`FIELDS`); a layout only says which fields
it reads, which of them are required, and which header it documents first.  Headers are compared after NFKC
normalisation (full-width brackets equal half-width ones), ignoring spaces and the case of Latin letters
(:func:`canbao.tabular.values.header_key`); the field's identifier (``id_number``) is always accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from canbao.tabular.values import DATE_HINT, OPEN_ENDED, header_key

ValueKind = Literal["id", "name", "text", "date", "amount", "count", "code"]
TwoColumns = Literal["refuse", "first"]


@dataclass(frozen=True)
class Field:
    """One field of the files: its Chinese label (what messages call it), the headers accepted, what it holds."""

    ident: str
    label: str
    aliases: tuple[str, ...]
    kind: ValueKind = "text"
    meaning: str = ""


@dataclass(frozen=True)
class Use:
    """A field as one layout reads it: required or not, the header documented first (default: the field's
    first alias), what it means in this layout when that says more than the field's meaning."""

    ident: str
    required: bool = False
    header: str | None = None
    meaning: str = ""


@dataclass(frozen=True)
class Layout:
    """One kind of file.

    `two_columns`: what happens when two columns of the file are headers of the same field: ``refuse`` (the
    imports and the clean-up registers: which one did the sender mean?) or ``first`` (the reconciliation
    files, whose systems export several dates or amounts: the header listed first wins)."""

    kind: str
    title: str
    uses: tuple[Use, ...]
    command: str = ""
    two_columns: TwoColumns = "refuse"
    negative_amounts: bool = False
    open_ended_dates: tuple[str, ...] = ()
    sheets: tuple[str, ...] = ()  # XLSX sheets read (by name); empty: the first sheet
    xlsx_only: bool = False
    notes: str = ""
    section: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(u.ident for u in self.uses)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(u.ident for u in self.uses if u.required)

    def use(self, ident: str) -> Use:
        return next(u for u in self.uses if u.ident == ident)

    def headers(self, ident: str) -> tuple[str, ...]:
        """The headers accepted for `ident`, in order of preference (the documented header first)."""
        first = self.use(ident).header
        aliases = FIELDS[ident].aliases
        return (first, *(a for a in aliases if a != first)) if first else aliases

    def index(self) -> dict[str, tuple[str, int]]:
        """Normalized header → (field, preference: 0 for the identifier and the documented header)."""
        out: dict[str, tuple[str, int]] = {}
        for ident in self.fields:
            for rank, header in enumerate((ident, *self.headers(ident))):
                out.setdefault(header_key(header), (ident, max(rank - 1, 0)))
        return out

    def label(self, ident: str) -> str:
        return FIELDS[ident].label

    def without_required(self, *idents: str) -> Layout:
        """The layout with `idents` optional (e.g. a department that certifies one category only may leave the
        category column out)."""
        uses = tuple(Use(u.ident, u.required and u.ident not in idents, u.header, u.meaning) for u in self.uses)
        return replace(self, uses=uses)


_ID_NUMBER = (
    "GB 11643 居民身份证号码（18位，或15位旧号码）；空格、引号和 Excel 的前导撇号（'）忽略，"
    "小写 x 视为 X，全角数字可用；"
    "XLSX 中存成数字的号码（Excel 只保留15位）被退回"
)

FIELDS: dict[str, Field] = {
    f.ident: f
    for f in (
        Field(
            "id_number",
            "身份证号码",
            ("身份证号码", "公民身份号码", "居民身份证号码", "身份证号", "身份证件号码", "证件号码"),
            "id",
            _ID_NUMBER,
        ),
        Field(
            "name",
            "姓名",
            ("姓名", "缴费人姓名", "参保人姓名"),
            "name",
            "首尾空格去掉，中间连续空格算一个；不能以 = + - @ 开头，不能含制表符或控制字符",
        ),
        Field(
            "category",
            "身份类别",
            ("身份类别", "人员类别", "类别", "身份", "救助类别", "人员身份", "认定类别", "优抚类别"),
            meaning="标识符（`dibao`）、术语表的中文名（低保对象）或常用说法（低保户、特困供养人员、防止返贫监测对象……）；"
            "须是该部门认定的类别",
        ),
        Field(
            "valid_from",
            "有效期起（认定日期）",
            ("认定日期", "认定时间", "有效期起", "有效期开始", "起始日期", "开始日期", "纳入监测时间", "纳入时间"),
            "date",
            "认定有效期的开始",
        ),
        Field(
            "valid_to",
            "有效期止",
            ("有效期止", "有效期至", "有效期结束", "截止日期", "终止日期", "结束日期"),
            "date",
            "认定有效期的结束；不早于有效期起；" + "、".join(OPEN_ENDED) + " 表示长期有效",
        ),
        Field(
            "household_role",
            "家庭角色",
            ("家庭角色", "与持证人关系", "家庭成员角色", "父母或子女"),
            meaning="父母 或 子女（也可写 父亲、母亲、持证人 / 女儿、儿子、长女、次女，或 `parent` / `child`）；"
            "空着表示未注明",
        ),
        Field(
            "county",
            "县（区）",
            ("县（区）", "县区", "区县", "县", "县（区）代码", "行政区划代码"),
            "code",
            "填写时须是导入的县（区）行政区划代码",
        ),
        Field(
            "township", "乡镇（街道）", ("乡镇", "乡镇（街道）", "乡镇街道", "街道", "乡镇名称"), meaning="最多64个字"
        ),
        Field("village", "村（社区）", ("村", "村（社区）", "村社区", "社区", "村居", "村名称"), meaning="最多64个字"),
        Field(
            "residency",
            "参保人员类型",
            ("参保人员类型", "居民类型", "参保身份", "人员类型"),
            meaning="术语表的标识符或中文名，或 本地户籍、学生、常住……；空着：新登记人员为本地户籍，已登记人员不变",
        ),
        Field(
            "phone",
            "联系电话",
            ("联系电话", "电话", "电话号码", "手机", "手机号码", "联系方式"),
            meaning="最多20个字符",
        ),
        Field("school", "学校", ("学校", "学校名称"), meaning="填写时须是导入的学校"),
        Field("grade", "年级", ("年级",)),
        Field("class", "班级", ("班级", "class_name")),
        Field(
            "amount",
            "金额",
            ("缴费金额(元)", "缴费金额", "金额(元)", "金额", "实缴金额", "交易金额", "贷方金额"),
            "amount",
            "元，最多两位小数；可带千分位逗号、¥ 或“元”",
        ),
        Field(
            "paid_on",
            "缴费日期",
            ("缴费日期", "征收日期", "入库日期", "交易日期", "日期", "记账日期", "代收日期", "参保缴费日期"),
            "date",
        ),
        Field("txn_id", "交易流水号", ("交易流水号", "流水号", "缴费流水号"), "code", "渠道的交易流水号，各方共有的键"),
        Field(
            "channel",
            "渠道",
            ("渠道", "缴费渠道", "激活渠道"),
            meaning="微信、支付宝、皖事通、银行批扣、乡镇代收、学校代收……",
        ),
        Field("memo", "摘要", ("摘要", "备注")),
        Field(
            "unit",
            "代收单位",
            ("代收单位", "单位", "医保登记的代收单位", "登记的代收单位"),
            meaning="乡镇、村或学校（000 四(一)）",
        ),
        Field(
            "unit_alias",
            "清单中的名称",
            ("清单中的名称", "别名", "单位别名", "清单中的代收单位"),
            meaning="代收单位清单中写的名称（如 灵城镇人民政府）",
        ),
        Field("died_on", "死亡日期", ("死亡日期", "死亡时间"), "date", "不能晚于今天"),
        Field(
            "insured_since",
            "职工医保参保日期",
            ("参保日期", "职工医保参保日期", "参保时间"),
            "date",
            "自何时参加职工医保；不能晚于今天",
        ),
        Field("employer", "参保单位", ("参保单位", "单位名称", "工作单位")),
        Field("county_name", "县（区）", ("县（区）", "县区", "区县", "参保地"), meaning="另一县（区）的名称"),
        Field("activated_on", "激活日期", ("激活日期", "激活时间", "激活日"), "date", "不能晚于今天"),
        Field("township_code", "乡镇代码", ("乡镇代码", "乡镇（街道）代码", "乡镇编码"), "code", "可空"),
        Field("village_code", "村代码", ("村代码", "村（社区）代码", "村编码"), "code", "可空；须以乡镇代码开头"),
        Field("target", "任务数", ("任务数", "任务", "目标任务数", "任务人数"), "count", "不小于0的整数"),
    )
}

_IMPORTS = "Department lists, rosters and school rosters (`canbao import …`)"
_RECONCILE = "Reconciliation inputs (`canbao reconcile`)"
_REGISTERS = "Other registers (`canbao cleanup`, `canbao reconcile --deaths/--employee/--other-county`)"
_PROGRESS = "Targets and e-voucher activations (`canbao targets import`, `canbao e-voucher import`)"

LAYOUTS: dict[str, Layout] = {
    layout.kind: layout
    for layout in (
        Layout(
            "department_list",
            "部门认定名单 — a certifying department's list of identity categories",
            (
                Use("id_number", True),
                Use("name", True),
                Use("category", True),
                Use("valid_from"),
                Use("valid_to"),
                Use("household_role"),
                Use("township"),
                Use("village"),
                Use("phone"),
            ),
            command="canbao import list --department …",
            open_ended_dates=("valid_to",),
            section=_IMPORTS,
            notes=(
                "民政、乡村振兴、卫健、退役军人事务、残联. One row per person and category. A department that "
                "certifies one category only (残联: 重度残疾人) may leave the category column out.\n\n"
                "家庭角色 says whether a person on a daughter/son household list is a parent or the household's "
                "daughter or son (004 二(三): parents are subsidised at any age, the daughter or son until the age the "
                "policy names, 18 in Huaiyuan 2025). It is stored with the membership "
                "(`identity_memberships.household_role`: `parent`, `child`, or empty when not given) and the "
                "import's feedback resolves each person's subsidy with it: an adult whose role no household list "
                "gives is told to give it (须注明是父母还是子女) and gets no household subsidy meanwhile; "
                "a daughter or "
                "son past the age gets none, and the feedback says why. Any other word refuses the row, naming the "
                "row and the column (家庭角色：“配偶”不是已知的家庭角色…)."
            ),
        ),
        Layout(
            "roster",
            "上年度参保名册 — last year's enrollees of a county",
            (
                Use("id_number", True),
                Use("name", True),
                Use("county"),
                Use("township"),
                Use("village"),
                Use("residency"),
                Use("phone"),
            ),
            command="canbao import roster",
            section=_IMPORTS,
            notes="Registers new persons and updates the address, phone and residency of known ones.",
        ),
        Layout(
            "school_roster",
            "学校学生名册 — a school's students (entered by the school, reviewed by the county)",
            (Use("id_number", True), Use("name", True), Use("school"), Use("grade"), Use("class")),
            command="canbao import school",
            section=_IMPORTS,
        ),
        Layout(
            "tax",
            "税务征收明细 — the tax bureau's collection records",
            (
                Use("name", header="缴费人姓名", meaning="the payer"),
                Use(
                    "id_number",
                    True,
                    header="证件号码",
                    meaning="the payer's ID number, written as in any file (a number that is not valid is kept "
                    "as given: "
                    "it is itself a finding)",
                ),
                Use(
                    "amount",
                    True,
                    header="缴费金额(元)",
                    meaning="amount collected; 0.00 for a fully subsidized person; negative for a refund (退费), "
                    "under its own 流水号 or the payment's",
                ),
                Use("paid_on", True, header="缴费日期"),
                Use("txn_id", True, header="交易流水号"),
                Use("channel", header="渠道"),
            ),
            command="canbao reconcile --tax",
            two_columns="first",
            negative_amounts=True,
            section=_RECONCILE,
        ),
        Layout(
            "bank",
            "银行待报解账户流水 — the pending-settlement account statement",
            (
                Use("paid_on", True, header="交易日期"),
                Use("txn_id", True, header="交易流水号"),
                Use("amount", True, header="金额(元)", meaning="negative for money paid back (退费)"),
                Use("memo"),
            ),
            command="canbao reconcile --bank",
            two_columns="first",
            negative_amounts=True,
            section=_RECONCILE,
            notes="One line per payment that moved money (0.00 payments move none); a refund paid out is a "
            "negative amount.",
        ),
        Layout(
            "collecting_unit",
            "代收单位清单 — a collecting unit's list of what it collected",
            (
                Use("unit", True),
                Use("name"),
                Use("id_number", True),
                Use("amount", True, header="缴费金额(元)"),
                Use("paid_on", True, header="缴费日期"),
                Use("txn_id", True),
            ),
            command="canbao reconcile --collections (files or a folder)",
            two_columns="first",
            section=_RECONCILE,
            notes="One file per unit (township, village or school, 000 四(一)); only units whose list is given are "
            "checked. 代收单位 must name a collecting unit of the registry (compared without spaces, full-width "
            "letters as half-width); a list under another name (`灵城镇人民政府` for `灵城镇`) is reported as "
            "代收单位不符 until an alias is given (`unit_aliases`, below). No refund lines.",
        ),
        Layout(
            "unit_aliases",
            "代收单位别名表 — other names of the collecting units",
            (Use("unit_alias", True), Use("unit", True, meaning="医保登记的代收单位名称（如 灵城镇）")),
            command="canbao reconcile --unit-aliases",
            two_columns="first",
            section=_RECONCILE,
            notes="A unit's list may write its name otherwise (灵城镇人民政府 for 灵城镇): each row names one such "
            "name and the registry's unit. A name given twice with two units is refused.",
        ),
        Layout(
            "deaths",
            "公安死亡人员名单 — deaths reported by the police",
            (Use("id_number", True), Use("name", True), Use("died_on", True)),
            command="canbao cleanup --deaths",
            section=_REGISTERS,
        ),
        Layout(
            "employee_insurance",
            "职工医保参保人员名单 — persons currently enrolled in employee insurance",
            (Use("id_number", True), Use("name", True), Use("employer"), Use("insured_since", True)),
            command="canbao cleanup --employee",
            section=_REGISTERS,
        ),
        Layout(
            "other_county",
            "其他县（区）居民医保参保名册 — another county's resident roster for the same benefit year",
            (
                Use("id_number", True),
                Use("name", True),
                Use("county_name", True),
                Use("township"),
                Use("village"),
                Use("residency"),
                Use("paid_on", True),
                Use("amount", header="缴费金额"),
            ),
            command="canbao cleanup --other-county, canbao reconcile --other-county",
            section=_REGISTERS,
        ),
        Layout(
            "targets",
            "任务分解表 — targets per township and village",
            (
                Use("township", True),
                Use("township_code"),
                Use("village", True),
                Use("village_code"),
                Use("target", True),
            ),
            command="canbao targets import",
            two_columns="first",
            sheets=("参保任务", "电子凭证任务"),
            xlsx_only=True,
            section=_PROGRESS,
            notes=(
                "An XLSX workbook with two sheets, `参保任务` (enrollment) and `电子凭证任务` (e-voucher activation), "
                "each one row per village. Importing a benefit year's table replaces that year's targets whole. "
                "Refused, naming sheet, row and field: a missing sheet or column, an empty township or village, a "
                "target that is not a whole number ≥ 0, the same village twice in a sheet, a village code under two "
                "townships (or not beginning with its township's code), a township under two codes."
            ),
        ),
        Layout(
            "e_voucher",
            "医保电子凭证激活记录 — e-voucher activations",
            (
                Use("name", True),
                Use("id_number", True),
                Use("activated_on", True),
                Use("channel", header="激活渠道"),
            ),
            command="canbao e-voucher import",
            two_columns="first",
            section=_PROGRESS,
            notes="Every person must be registered, under the registered name. A person's first activation is kept: "
            "a file imported again changes nothing.",
        ),
    )
}

REGISTER_LAYOUTS = ("deaths", "employee_insurance", "other_county")


# ---------------------------------------------------------------------------------------------------- the doc

INTRO = f"""# File layouts

<!-- Generated by `python -m canbao.tabular.layouts > docs/file-layouts.md` from src/canbao/tabular/layouts.py;
tests/test_tabular.py fails when this file differs. Edit the table there, not here. -->

What canbao reads from other offices, column by column. Every file may be CSV (UTF-8, with or without BOM,
GBK/GB18030, or UTF-16 with BOM as Excel's "Unicode text"; comma- or tab-separated; lines ended by CRLF, LF
or CR alone as Excel for Mac saves them) or XLSX (the first sheet, unless the layout names its sheets). Every
cell is read as text. One reader reads them all (`src/canbao/tabular/`).

**The header row** is found, not assumed: it is the first row that holds a column for every required field
of the layout. Title rows above it (`灵璧县2022年度农村低保对象花名册`, merged across the columns or not), a
date or unit line and blank rows are passed over. Rows are numbered as in the spreadsheet (行号: the
spreadsheet's own row, whatever lies above the header). A row of totals (a cell beginning with
合计、小计、总计、共计, spaces ignored, with no ID number) is not a person or a record: it is skipped and
reported as a summary row with its row number; so is a signature line below the data (制表人、审核人、填表日期 …)
that leaves the required fields empty. Entirely blank rows are skipped.

**Headers** are matched after Unicode normalization (NFKC), without spaces and ignoring the case of Latin
letters, so `金额(元)` and `金额（元）` are the same column; the first name given is the one canbao writes and
documents, the others are accepted, and so is the field's identifier (`id_number`). Columns canbao does not
know are ignored. Where a layout says *two columns refused*, a file with two columns for one field (both
身份证号码 and 公民身份号码) is refused: which did the sender mean? Elsewhere the header listed first wins.

**Values**, the same for every file:

- ID numbers: {_ID_NUMBER}.
- Dates: {DATE_HINT.removeprefix("应为 ")}; month and day may have one digit (`2021-3-1`); a time after the date
  is ignored; an Excel date cell (with or without a time) or an Excel serial day number (`44562` =
  2022-01-01). Where a field says so, {"、".join(OPEN_ENDED)} mean open-ended.
- Amounts: yuan with at most two decimals, read exactly into fen (an XLSX number cell too): thousands
  separators (`1,234.50`), `¥` before and `元` after are allowed; a minus sign only where the layout says
  *refund lines* (`-320.00`).
- Names: spaces at the ends dropped, runs of spaces inside made one; a name beginning with = + - @ or holding
  a control character is refused.

**Refusals** are Chinese and name the file, the row and the column: an empty file, a file with a header but
no data rows, a file that has no row with the required columns (the message lists the columns of the row
that came closest), a CSV row longer than its header, broken quoting, a control character (NUL and the
like; tab and line ends are fine), a binary file, an old .xls workbook, a file whose content does not match
its suffix.
"""

OUTRO = """## What `canbao reconcile` reports

The workbook `对账-<year>年度-截至<date>.xlsx` has 汇总 (the three tests and the counts), then one sheet
per kind of difference (有款无人, 有人无款, 金额不符, 人员不符, 重复计数, 退费无对应, 渠道不符, 代收单位不符,
在途, 重复参保), 银行税务日对账 (every day's bank and tax totals, the part of a difference money in transit
explains, and the transactions behind a difference) and 名单核查 (rows the department
lists' imports refused or found twice, and persons on more than one department's list). Each row says
where the records are (`tax_records.csv 第2490行`, `参保记录 2042`) and leaves a 核实结果 column for the
clerk; amounts and counts are numbers. Money the bank books on another day than the tax bureau is 在途 and
breaks 账款相符 only when it does not clear within the clearing window (3 days unless the reconciliation is
given another: no notice gives one). See `src/canbao/services/reconcile/` for the exact rules. A
reconciliation file with a malformed row (an amount that is not an amount, a date that is not a date, a
required cell left empty, an ID number stored as a number) is refused as a whole, and the message names the
file, the row and the column; nothing of it is used.

## What the clean-up does with the registers

ID numbers must pass GB 11643, names must be given, dates may not lie in the future. The same person twice
in one register keeps the first row. Registers are compared with the registry, never stored. See the
docstring of `src/canbao/services/cleanup.py` for what the list decides.

## What the imports do with the lists

Each import answers with a feedback workbook beside the file (`<name>_反馈.xlsx`): every row with its result
(接收/退回/重复) and the reason, naming the column. See the docstring of `src/canbao/services/imports/` for
the rules (duplicates, persons already registered, the most favourable subsidy).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_layout(layout: Layout) -> str:
    lines = [f"### {layout.title}", ""]
    facts = [f"`{layout.kind}`"]
    if layout.command:
        facts.append(f"`{layout.command}`")
    facts.append("XLSX only" if layout.xlsx_only else "CSV or XLSX")
    if layout.sheets:
        facts.append("sheets " + ", ".join(f"`{s}`" for s in layout.sheets))
    facts.append("two columns refused" if layout.two_columns == "refuse" else "the header listed first wins")
    if layout.negative_amounts:
        facts.append("refund lines (negative amounts) allowed")
    lines += ["; ".join(facts) + ".", ""]
    if layout.notes:
        lines += [layout.notes, ""]
    lines += ["| column | also accepted | identifier | required | value |", "|---|---|---|---|---|"]
    for use in layout.uses:
        f = FIELDS[use.ident]
        headers = layout.headers(use.ident)
        meaning = use.meaning or f.meaning
        if use.ident in layout.open_ended_dates and "长期" not in meaning:
            meaning = (meaning + "；" if meaning else "") + "、".join(OPEN_ENDED) + " 表示长期有效"
        if f.kind == "date" and not meaning:
            meaning = "日期"
        if f.kind == "amount" and use.meaning:
            meaning = f"{f.meaning}; {use.meaning}"
        row = [headers[0], ", ".join(headers[1:]), f"`{f.ident}`", "yes" if use.required else "no", meaning]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """docs/file-layouts.md."""
    parts = [INTRO]
    section = None
    for layout in LAYOUTS.values():
        if layout.section != section:
            section = layout.section
            parts.append(f"## {section}\n")
        parts.append(render_layout(layout))
    parts.append(OUTRO)
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover - `python -m canbao.tabular.layouts > docs/file-layouts.md`
    import sys

    sys.stdout.write(render())
