"""Fuzzing the command line in-process (issue 12): hostile or odd input to `quote`, `refund-quote`,
`import list|roster|school` and `season apply-payments` ends in exit 0 or 2 — never 1 (a bug) — with no
traceback, no full ID number of the input on stderr, and no live formula in any file canbao writes.

Inputs are valid small documents and files mutated by hypothesis (wrong types, huge numbers, deep nesting,
encodings, line ends, NUL, ragged rows, title rows, formula-like names, …). Derandomized, so CI sees the same
cases every run; the registry commands run on SQLite and, with fewer cases, on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from canbao.ids import make_id_number
from conftest import Run, fresh_database, invoke

COUNTY = "340322"
POLICY = "anhui/bengbu/2022"
IDS = [make_id_number(COUNTY, dt.date(1950 + 9 * i, 1 + i, 3 + i), 17 * i) for i in range(5)]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULAS = ['=HYPERLINK("http://x.example","点我")', "@SUM(A1)", "+1+1", "-2+3", "\t=1+1", "\r=1", "=1+1"]
_ID_LIKE = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------------------------------------------- checks


def ids_in(data: bytes) -> set[str]:
    """Every ID-number-like run in `data`, however it is decoded."""
    found: set[str] = set()
    for encoding in ("utf-8", "gb18030", "utf-16"):
        found |= set(_ID_LIKE.findall(data.decode(encoding, "ignore")))
    return found


def assert_no_formula(path: Path) -> None:
    """No cell of a written CSV or XLSX file can run as a formula: a CSV text cell starting with = + - @ tab or
    CR must start with ' (OWASP); an XLSX cell is never of the formula type."""
    if path.suffix.lower() == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            for cell in row:
                if cell.startswith(FORMULA_START) and not _NUMBER.fullmatch(cell):
                    pytest.fail(f"{path.name} row {number}: unescaped formula-like cell {cell!r}")
    elif path.suffix.lower() == ".xlsx":
        workbook = load_workbook(path)
        try:
            for sheet in workbook.worksheets:
                for row in sheet.iter_rows():
                    for cell in row:
                        assert cell.data_type != "f", f"{path.name} {sheet.title}!{cell.coordinate}: {cell.value!r}"
        finally:
            workbook.close()


def check(run: Run, given_bytes: bytes, folder: Path, inputs: set[Path]) -> None:
    assert run.code in (0, 2), f"exit {run.code}: {run.err[-400:]}"
    assert "Traceback" not in run.err and "Traceback" not in run.out
    for id_number in ids_in(given_bytes):
        assert id_number not in run.err, f"full ID number on stderr: {run.err[-400:]}"
    for path in sorted(folder.iterdir()):
        if path not in inputs and path.is_file():
            assert_no_formula(path)


def test_assert_no_formula_tells_a_formula_from_escaped_text(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("姓名,金额\n'=HYPERLINK(1),-400\n'@SUM(A1),+3.5\n", encoding="utf-8")
    bad.write_text('姓名,金额\n"\t=1",1\n', encoding="utf-8")
    assert_no_formula(good)
    with pytest.raises(pytest.fail.Exception, match="unescaped formula-like cell"):
        assert_no_formula(bad)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["'=1", "=1+1"])  # openpyxl stores a text starting with = as a formula
    workbook.save(tmp_path / "bad.xlsx")
    with pytest.raises(AssertionError, match="B1"):
        assert_no_formula(tmp_path / "bad.xlsx")


# ---------------------------------------------------------------------------------------------------- strategies

odd_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=10)
huge = st.sampled_from(["1e400", "99999999999999999999999", "-0", "NaN", "1E15", "123456789012345678901234567890"])
id_cells = st.one_of(
    st.sampled_from(IDS),
    st.sampled_from(["", " ", "1", "123456789", IDS[0][:10], IDS[0][:17], IDS[0][:15], IDS[1] + "0", IDS[2] * 2]),
    st.sampled_from([IDS[3].lower(), f" {IDS[4]} ", f"'{IDS[0]}", "３４０３２２１９５０", IDS[1][:17] + "Y"]),
    st.text("0123456789X", max_size=20),
    odd_text,
)
name_cells = st.one_of(st.sampled_from(["王大山", "李四", "赵六", "", "A" * 70]), st.sampled_from(FORMULAS), odd_text)
any_cells = st.one_of(
    odd_text, huge, st.sampled_from([*FORMULAS, '"', "'", ",", " ", "a\x00b", "\x1f", "\ufeff", "\u202e"])
)


def mostly(usual: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`usual` three times in four, any odd cell otherwise (one_of draws its branches evenly)."""
    return st.one_of(usual, usual, usual, any_cells)


def cells_for(column: str) -> st.SearchStrategy[str]:
    by_column: dict[str, st.SearchStrategy[str]] = {
        "身份证号码": id_cells,
        "id_number": id_cells,
        "姓名": name_cells,
        "name": name_cells,
        "身份类别": st.sampled_from(["低保对象", "dibao", "特困供养人员", "五好家庭", "监测人口", ""]),
        "认定日期": st.sampled_from(["2021-03-01", "2021/03/01", "20210301", "44000", "2021-02-30", "长期", ""]),
        "县（区）": st.sampled_from([COUNTY, "340321", ""]),
        "参保人员类型": st.sampled_from(["本地户籍城乡居民", "在校学生", "外星人", ""]),
        "学校": st.sampled_from(["实验小学", "第二小学", ""]),
    }
    return mostly(by_column[column]) if column in by_column else mostly(odd_text)


@dataclass
class Table:
    rows: list[list[str]]  # the header first

    def csv_bytes(self, encoding: str, line_end: str, title: bool) -> bytes:
        lines = [",".join(r) for r in self.rows]
        if title:
            lines.insert(0, "2022年度名单（县医保局）")
        text = line_end.join(lines) + line_end
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            return text.encode("utf-8")

    def xlsx_bytes(self, numbers: bool, title: bool) -> bytes:
        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        if title:
            sheet.append(["2022年度名单（县医保局）"])
        for row in self.rows:
            sheet.append([_xlsx_value(v, numbers) for v in row])
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()


def _xlsx_value(value: str, numbers: bool) -> Any:
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if numbers and _NUMBER.fullmatch(value.strip()):
        return float(value) if "." in value else int(value)  # numbers as Excel stores them, huge ones included
    return value


@st.composite
def tables(draw: st.DrawFn, header: list[str]) -> Table:
    variant = draw(st.sampled_from(["as is"] * 4 + ["dropped", "duplicated", "shuffled", "odd"]))
    head = list(header)
    if variant == "dropped":
        head.pop(draw(st.integers(0, len(head) - 1)))
    elif variant == "duplicated":
        head.append("公民身份号码" if "身份证号码" in head else head[0])
    elif variant == "shuffled":
        head = draw(st.permutations(head))
    elif variant == "odd":
        head[draw(st.integers(0, len(head) - 1))] = draw(st.sampled_from(["身份\x00类别", "", "身份证号码"]) | odd_text)
    rows = [head]
    for _ in range(draw(st.integers(0, 4))):
        row = [draw(cells_for(column)) for column in head]
        ragged = draw(st.sampled_from([0] * 8 + [-2, -1, 1, 2]))
        rows.append(row[:ragged] if ragged < 0 else row + [draw(odd_text) for _ in range(ragged)])
    return Table(rows)


@st.composite
def table_files(draw: st.DrawFn, header: list[str]) -> tuple[str, bytes]:
    """(suffix, bytes): a CSV or XLSX file of a few rows, mutated."""
    table = draw(tables(header))
    title = draw(st.booleans()) and draw(st.booleans())
    kind = draw(st.sampled_from(["csv"] * 4 + ["xlsx"] * 3 + ["wrong suffix"]))
    if kind == "xlsx":
        data = table.xlsx_bytes(draw(st.booleans()), title)
        if draw(st.integers(0, 9)) == 0:  # a damaged workbook
            # where, as a fraction: the workbook's size varies with the time openpyxl stamps on it, and a draw
            # bounded by it would make Hypothesis's replay of a failure draw differently (FlakyStrategyDefinition)
            at = draw(st.integers(0, 999)) * (len(data) - 1) // 999
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at + 8 :]
        return ".xlsx", data
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"]))
    data = table.csv_bytes(encoding, draw(st.sampled_from(["\n", "\r\n", "\r"])), title)
    if draw(st.integers(0, 9)) == 0:  # a few bytes of damage somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    if kind == "wrong suffix":
        return draw(st.sampled_from([".xlsx", ".txt", ".xls", ".json"])), data
    return ".csv", data


# ---------------------------------------------------------------------------------------------------- quotes

EXAMPLE: dict[str, Any] = {
    "person": {
        "id_number": IDS[0],
        "name": "张三",
        "county": COUNTY,
        "residency": "local_hukou",
        "categories": ["dibao"],
        "employee_insurance_active": False,
        "employee_insurance_years": 3,
        "employee_insurance_gap_months": 5,
        "lapsed_years": 0,
        "repaid_years": 0,
    },
    "situation": "from_employee_insurance",
    "paid_on": "2022-04-15",
}
REFUND = {**EXAMPLE, "requested_on": "2022-05-20", "reason": "death", "county_subsidy_refunded": False}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**30, 2**31])
    | st.floats()
    | odd_text
    | st.sampled_from(IDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def documents(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 3))):
        target = doc["person"] if isinstance(doc.get("person"), dict) and draw(st.booleans()) else doc
        keys = sorted(target) or ["x"]
        what = draw(st.sampled_from(["set", "set", "delete", "add"]))
        key = draw(st.sampled_from(keys)) if what != "add" else draw(odd_text)
        if what == "delete":
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    shape = draw(st.sampled_from(["object"] * 6 + ["any value", "deep", "deep object"]))
    if shape == "any value":
        doc = draw(json_values)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if shape == "deep":
        text = "[" * 10_000 + "]" * 10_000
    elif shape == "deep object":
        text = text[:-1] + ', "nest": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}"
    data = text.encode(draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "gbk", "utf-16"])), "replace")
    damage = draw(st.sampled_from([None] * 8 + [b"\x00", b"\xff\xfe", b"\\u0000", b"\xe4\xb8"]))
    if damage is not None:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + damage + data[at:]
    return data


_counter = itertools.count()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / f"case{next(_counter)}"
    folder.mkdir()
    return folder


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "errors.log"
    monkeypatch.setenv("CANBAO_LOG_FILE", str(path))
    monkeypatch.delenv("CANBAO_DEBUG", raising=False)
    return path


@pytest.mark.parametrize(("command", "base", "examples"), [("quote", EXAMPLE, 1200), ("refund-quote", REFUND, 800)])
def test_quote_commands_refuse_any_input_plainly(
    command: str, base: dict[str, Any], examples: int, tmp_path: Path, log_file: Path
) -> None:
    @fuzz(examples)
    @given(documents(base))
    def one(data: bytes) -> None:
        folder = _folder(tmp_path)
        source = folder / "application.json"
        source.write_bytes(data)
        check(invoke([command, "--policy", POLICY, "--input", str(source)]), data, folder, {source})

    one()
    assert not log_file.exists()  # no internal error was logged either


# ---------------------------------------------------------------------------------------------------- registry

LIST_HEADER = ["序号", "姓名", "身份证号码", "身份类别", "认定日期", "乡镇（街道）", "村（社区）"]
ROSTER_HEADER = ["姓名", "身份证号码", "县（区）", "乡镇（街道）", "村（社区）", "参保人员类型", "联系电话"]
SCHOOL_HEADER = ["学校", "年级", "班级", "姓名", "身份证号码"]
IMPORTS: dict[str, tuple[list[str], list[str]]] = {
    "list": (LIST_HEADER, ["--department", "civil_affairs", "--policy", POLICY]),
    "roster": (ROSTER_HEADER, ["--year", "2022"]),
    "school": (SCHOOL_HEADER, ["--school", "实验小学"]),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A fresh migrated database for the whole test (imports are idempotent per file); yields how many cases
    to try on it: PostgreSQL gets fewer, each costs a connection's round trips."""
    with fresh_database(request.param, tmp_path) as url:
        monkeypatch.setenv("CANBAO_DATABASE_URL", url)
        yield 150 if request.param == "sqlite" else 25


@pytest.mark.parametrize("kind", list(IMPORTS))
def test_imports_refuse_any_file_plainly(kind: str, registry: int, tmp_path: Path, log_file: Path) -> None:
    header, options = IMPORTS[kind]

    @fuzz(registry)
    @given(table_files(header), st.booleans(), mostly(st.just("fuzz")), mostly(st.just(COUNTY)))
    def one(file: tuple[str, bytes], accept_valid: bool, actor: str, county: str) -> None:
        suffix, data = file
        folder = _folder(tmp_path)
        source = folder / f"名单{suffix}"
        source.write_bytes(data)
        argv = ["import", kind, *options, "--county", county, "--file", str(source), f"--actor={actor}"]
        check(invoke(argv + (["--accept-valid"] if accept_valid else [])), data, folder, {source})

    one()
    assert not log_file.exists()


PAYMENT_HEADER = ["id_number", "name", "county", "residency", "categories", "situation", "paid_on", "channel"]
PAYMENT_HEADER += ["txn_id", "amount_fen"]
PAYMENT_CELLS: dict[str, Callable[[int], st.SearchStrategy[str]]] = {
    "county": lambda _: st.sampled_from([COUNTY, "110101", ""]),
    "residency": lambda _: st.sampled_from(["local_hukou", "student", "martian", ""]),
    "categories": lambda _: st.sampled_from(["", "dibao", "dibao;destitute", "rich"]),
    "situation": lambda _: st.sampled_from(["regular", "newborn", "flying", ""]),
    "paid_on": lambda _: st.sampled_from(["2021-10-15", "2022-03-01", "2021-02-30", "yesterday", ""]),
    "channel": lambda _: st.sampled_from(["online", "bank_debit", "school", "pigeon", ""]),
    # At most 64 characters: a longer transaction id is another part of issue 12 (the money helper's).
    "txn_id": lambda i: st.one_of(st.sampled_from([f"t{i}", "t1", "", "x" * 64]), odd_text),
    "amount_fen": lambda _: st.one_of(st.sampled_from(["32000", "4000", "0", "-32000", "320.00", "1e9"]), huge),
}


@st.composite
def payment_files(draw: st.DrawFn) -> bytes:
    rows = [list(PAYMENT_HEADER)]
    for i in range(draw(st.integers(0, 4))):
        row = [draw(mostly(id_cells)), draw(mostly(name_cells))]
        row += [draw(mostly(PAYMENT_CELLS[c](i))) for c in PAYMENT_HEADER[2:]]
        ragged = draw(st.sampled_from([0] * 8 + [-2, -1, 1]))
        rows.append(row[:ragged] if ragged < 0 else row + ["x"] * ragged)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]))
    data = Table(rows).csv_bytes(encoding, draw(st.sampled_from(["\n", "\r\n", "\r"])), title=False)
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


def test_apply_payments_refuses_any_file_plainly(registry: int, tmp_path: Path, log_file: Path) -> None:
    @fuzz(registry)
    @given(payment_files(), mostly(st.just("fuzz")))
    def one(data: bytes, actor: str) -> None:
        folder = _folder(tmp_path)
        source = folder / "payments.csv"
        source.write_bytes(data)
        argv = ["season", "apply-payments", "--policy", POLICY, "--file", str(source), f"--actor={actor}"]
        check(invoke(argv), data, folder, {source})

    one()
    assert not log_file.exists()
