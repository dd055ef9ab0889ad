"""What canbao writes: no live formulas, written whole or not at all, private (0600), leftovers removed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from sqlalchemy import Engine

from canbao.cli import cli
from canbao.errors import InputError
from canbao.outputs import (
    TEMP_SUFFIX,
    OutputGroup,
    atomic_output,
    safe_file_name,
    unique_file_names,
    write_csv,
)
from canbao.quote import quote
from canbao.reports import bar_chart, write_workbook
from canbao.season_demo import Applied
from canbao.services import quote_batch
from canbao.services.payment_batch import apply_payments
from canbao.services.payments import Payment, pay
from canbao.services.renewal import renew
from canbao.services.season import write_due_lists
from conftest import TODAY, application

# What an attacker would put in a name, a place, a transaction id; each must come out as the text it was.
HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"]
BENGBU = "anhui/bengbu/2022"
SRC = str(Path(__file__).resolve().parents[1] / "src")
HUAIYUAN = "anhui/bengbu/huaiyuan/2025"


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(TEMP_SUFFIX) or p.name.endswith(".part"))


def killed_run_temporary(folder: Path, final: str) -> Path:
    """What a writer killed mid-write leaves: a temporary of the recognisable pattern, full of personal data."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{final}.k1ll3d{TEMP_SUFFIX}"
    path.write_text("110101199003077777,张三\n")
    return path


def xlsx_text(path: Path, sheet: str | None = None) -> dict[str, tuple[str, bool]]:
    """Every string cell of a workbook (value as Excel shows it → (openpyxl data type, quote prefix)); formula
    cells would show as data type 'f'."""
    workbook = load_workbook(path)
    cells: dict[str, tuple[str, bool]] = {}
    for ws in [workbook[sheet]] if sheet else workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cells[unescape(cell.value)] = (cell.data_type, bool(cell.quotePrefix))
    return cells


def assert_xlsx_keeps(path: Path, values: list[str], sheet: str | None = None) -> None:
    cells = xlsx_text(path, sheet)
    for value in values:
        assert cells.get(value) == ("s", True), (value, cells.get(value))
    assert all(kind == "s" for kind, _ in cells.values())  # not one formula anywhere


def csv_cells(path: Path) -> list[str]:
    table = pl.read_csv(path, infer_schema=False)
    return [v for c in table.columns for v in table[c].drop_nulls().to_list()]


def assert_csv_keeps(path: Path, values: list[str]) -> None:
    cells = csv_cells(path)
    for value in values:
        assert "'" + value in cells, (value, cells)
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)


# ------------------------------------------------------------------------------------------------ the helper


def test_csv_text_a_spreadsheet_would_run_gets_a_quote_and_numbers_stay_numbers(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"text": [*HOSTILE, "张三", None], "fen": [-100, 1, 2, 3, 4, 5, -6, 7]},
        schema_overrides={"fen": pl.Int64},
    ).with_columns(place=pl.col("text").cast(pl.Categorical), **{"=cmd": pl.lit("x")})
    path = write_csv(frame, tmp_path / "out" / "list.csv")
    back = pl.read_csv(path, infer_schema=False)
    assert back.columns == ["text", "fen", "place", "'=cmd"]  # a header from the sender's file too
    assert back["text"].to_list() == ["'" + v for v in HOSTILE] + ["张三", None]
    assert back["place"].to_list() == back["text"].to_list()
    assert back["fen"].to_list() == ["-100", "1", "2", "3", "4", "5", "-6", "7"]  # numbers untouched
    assert private(path) and leftovers(tmp_path) == []


def test_workbook_text_that_looks_like_a_formula_stays_quoted_text(tmp_path: Path) -> None:
    frame = pl.DataFrame({"姓名": [*HOSTILE, "http://example.com"], "金额": list(range(7))})
    path = write_workbook(tmp_path / "report.xlsx", {"清单": frame, "空": frame.clear()})
    assert_xlsx_keeps(path, HOSTILE)
    sheet = load_workbook(path)["清单"]
    assert sheet["A8"].value == "http://example.com" and sheet["A8"].hyperlink is None  # text, not a link
    assert sheet["B2"].data_type == "n"
    assert private(path) and leftovers(tmp_path) == []


def test_a_writer_that_fails_midway_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    kept = tmp_path / "kept.csv"
    kept.write_text("earlier\n")
    for final in (tmp_path / "new.csv", kept):
        with pytest.raises(RuntimeError), atomic_output(final) as temporary:
            temporary.write_text("half of it")
            raise RuntimeError("disk full")
    assert not (tmp_path / "new.csv").exists()
    assert kept.read_text() == "earlier\n"  # the old file stays whole
    assert leftovers(tmp_path) == []


def test_a_killed_runs_temporary_is_removed_when_the_next_write_starts_but_not_a_live_writers(
    tmp_path: Path,
) -> None:
    dead = killed_run_temporary(tmp_path, "other.csv")
    with OutputGroup() as live:
        held = live.temporary(tmp_path / "live.csv")  # a writer still at work in the same folder
        write_csv(pl.DataFrame({"a": [1]}), tmp_path / "next.csv")
        assert not dead.exists() and held.exists()
        held.write_text("a\n1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.csv", "next.csv"]


def test_a_writer_killed_mid_write_leaves_only_a_temporary_that_the_next_run_removes(tmp_path: Path) -> None:
    child = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from canbao.outputs import atomic_output\n"
        "with atomic_output(Path(sys.argv[1])) as temporary:\n"
        "    temporary.write_text('id_number\\n110101199003077777\\n')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    final = tmp_path / "roster.csv"
    done = subprocess.run([sys.executable, "-c", child, str(final)], env={**os.environ, "PYTHONPATH": SRC})
    assert done.returncode == -signal.SIGKILL
    assert not final.exists() and len(leftovers(tmp_path)) == 1
    write_csv(pl.DataFrame({"a": [1]}), tmp_path / "next.csv")  # the next run, in the same folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next.csv"]


def test_a_group_appears_all_together_or_not_at_all(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), OutputGroup() as group:
        group.temporary(tmp_path / "a.csv").write_text("a")
        group.temporary(tmp_path / "b.csv").write_text("b")
        raise RuntimeError("the second list failed")
    assert list(tmp_path.iterdir()) == []
    with OutputGroup() as group:
        group.temporary(tmp_path / "a.csv").write_text("a")
        group.temporary(tmp_path / "b.csv").write_text("b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
    assert all(private(p) for p in tmp_path.iterdir())


def test_names_from_data_make_safe_distinct_file_names() -> None:
    assert safe_file_name('城关/东:区*?"<>|\\') == "城关_东_区_______"
    assert safe_file_name("..隐藏\x00\t") == "__隐藏__"
    assert safe_file_name("") == "_" and safe_file_name(" ..x") == "__x"
    assert len(safe_file_name("镇" * 200).encode()) <= 200
    assert unique_file_names(["城关/东", "城关_东", "城关:东", "Town", "town", "新集镇"]) == [
        "城关_东", "城关_东-2", "城关_东-3", "Town", "town-2", "新集镇",
    ]  # fmt: skip


def test_a_chart_is_written_whole_and_private(tmp_path: Path) -> None:
    path = bar_chart(tmp_path / "charts" / "进度.png", "进度", ["城关镇", "新集镇"], {"参保率": [0.9, 0.8]})
    assert path.read_bytes().startswith(b"\x89PNG") and private(path) and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------ due lists


def _dues(townships: list[str], names: list[str]) -> pl.DataFrame:
    n = len(townships)
    return pl.DataFrame(
        {
            "township": townships, "village": HOSTILE[:n], "name": names, "id_number": ["110101199003077777"] * n,
            "phone": ["+86 138"] * n, "amount_due_fen": [38000] * n, "subsidy_category": [None] * n,
            "subsidy_fen": [0] * n, "subsidy_timing": [None] * n, "net_personal_fen": [38000] * n,
            "how_to_pay": ["online"] * n,
        },
        schema_overrides={"subsidy_category": pl.String, "subsidy_timing": pl.String},
    )  # fmt: skip


def test_due_lists_of_places_named_with_a_slash_are_all_written_under_safe_distinct_names(tmp_path: Path) -> None:
    killed_run_temporary(tmp_path / "lists", "催缴清单-城关_东.xlsx")
    frame = _dues(["城关/东", "城关_东", "新集镇"], HOSTILE[:3])
    files = write_due_lists(frame, tmp_path / "lists")
    assert [p.name for p in files] == ["催缴清单-城关_东.xlsx", "催缴清单-城关_东-2.xlsx", "催缴清单-新集镇.xlsx"]
    assert sorted(tmp_path.joinpath("lists").iterdir()) == sorted(files)  # no folder "城关", no leftovers
    assert load_workbook(files[0]).active["A2"].value == "城关/东"  # the place as it is called, inside
    for path, name, village in zip(files, HOSTILE, HOSTILE, strict=False):
        assert_xlsx_keeps(path, [name, village, "+86 138"])
        assert private(path)


def test_not_renewed_workbooks_of_places_named_with_a_slash_are_all_written_under_safe_names(tmp_path: Path) -> None:
    from canbao.services.progress import write_not_renewed

    frame = _dues(["城关/东", "城关_东"], HOSTILE[:2])
    files = write_not_renewed(frame, tmp_path, 2022, dt.date(2022, 2, 1))
    assert [p.name for p in files] == ["未续保名单-2022年度-城关_东-截至2022-02-01.xlsx",
                                       "未续保名单-2022年度-城关_东-截至2022-02-01-2.xlsx"]  # fmt: skip
    assert sorted(tmp_path.iterdir()) == sorted(files)
    for path, name in zip(files, HOSTILE, strict=False):
        assert_xlsx_keeps(path, [name])
        assert private(path)


def test_due_lists_are_written_all_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from canbao.services import season

    original, calls = season.write_sheet, []

    def failing(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        original(*args, **kwargs)

    monkeypatch.setattr(season, "write_sheet", failing)
    with pytest.raises(OSError, match="disk full"):
        write_due_lists(_dues(["城关镇", "新集镇"], ["张三", "李四"]), tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- the imports

LIST_HEADER = ["姓名", "身份证号码", "身份类别", "认定日期"]
ROSTER_HEADER = ["姓名", "身份证号码", "县（区）", "乡镇（街道）", "村（社区）", "参保人员类型", "联系电话"]
COUNTY = "340322"


def _id(birth: str, seq: int) -> str:
    from canbao.ids import make_id_number

    return make_id_number(COUNTY, dt.date.fromisoformat(birth), seq)


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    frame = pl.DataFrame(rows, schema=header, orient="row")
    frame.write_csv(path, include_bom=True)  # the sender's file: exactly what they typed
    return path


@pytest.mark.parametrize("name", [*HOSTILE[:4], " =1", "张\t三", "李\r四"])
def test_a_name_that_looks_like_a_formula_is_refused_at_import_and_the_rest_go_in(
    engine: Engine, tmp_path: Path, name: str
) -> None:
    from canbao.services.imports import import_department_list

    good, bad = _id("1960-01-01", 11), _id("1961-01-01", 22)
    path = _csv(
        tmp_path / "民政.csv",
        LIST_HEADER,
        [["王五", good, "低保对象", "2021-03-01"], [name, bad, "低保对象", "2021-03-01"]],
    )
    feedback = tmp_path / "反馈.xlsx"
    report = import_department_list(
        engine, path, "civil_affairs", COUNTY, BENGBU, "tester", accept_valid=True, feedback_path=feedback, today=TODAY
    )
    assert report.committed and (report.accepted, report.rejected) == (1, 1)
    reason = report.rows.filter(pl.col("row_number") == 3)["reason"][0]
    assert reason.startswith("姓名“") and "不像人名（不能以 = + - @ 开头，不能含制表符或控制字符）" in reason
    assert "\t" not in reason and "\r" not in reason
    sheet = load_workbook(feedback)["反馈"]
    refused = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == 3)
    assert unescape(refused[1].value) == name.strip().replace("\r", "\n")  # XML reads a CR inside text as LF
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)


def test_the_feedback_of_an_import_holds_no_formula_and_replaces_a_killed_runs_leftovers(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canbao.services import imports

    monkeypatch.setattr(imports.feedback, "FEEDBACK_XLSX_MAX_ROWS", 1)  # the full feedback goes to a CSV as well
    out = tmp_path / "feedback"
    dead = killed_run_temporary(out, "roster.csv")
    out.joinpath("roster.csv.part").write_text("110101199003077777\n")  # what an earlier version left
    rows = [
        ["张三", _id("1970-01-01", 31), COUNTY, HOSTILE[0], HOSTILE[1], "本地户籍", "+8613800000000"],
        ["李四", _id("1971-01-01", 42), COUNTY, HOSTILE[2], HOSTILE[3], "本地户籍", "-"],
        ["王五", "=1+1", COUNTY, HOSTILE[4], HOSTILE[5], "本地户籍", ""],
    ]
    path = _csv(tmp_path / "roster.csv", ROSTER_HEADER, rows)
    report = imports.import_roster(
        engine, path, COUNTY, 2025, "tester", accept_valid=True, feedback_path=out / "roster.xlsx", today=TODAY
    )
    assert report.committed and report.accepted == 2 and report.feedback_csv_path == out / "roster.csv"
    assert not dead.exists() and leftovers(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == ["roster.csv", "roster.xlsx"]
    assert all(private(p) for p in out.iterdir())
    assert_csv_keeps(out / "roster.csv", [*HOSTILE[:4], "=1+1"])  # places are trimmed at import: \tx is x
    cells = xlsx_text(out / "roster.xlsx")
    assert all(kind == "s" for kind, _ in cells.values())
    assert cells["=1+1"] == ("s", True)  # the refused row's ID number, shown as sent


def test_a_refused_imports_feedback_also_replaces_leftovers(engine: Engine, tmp_path: Path) -> None:
    from canbao.services.imports import import_department_list

    dead = killed_run_temporary(tmp_path, "反馈.xlsx")
    path = _csv(tmp_path / "=cmd.csv", LIST_HEADER, [["@SUM(A1)", _id("1960-01-01", 11), "低保对象", "2021-03-01"]])
    report = import_department_list(
        engine, path, "civil_affairs", COUNTY, BENGBU, "tester", feedback_path=tmp_path / "反馈.xlsx", today=TODAY
    )
    assert not report.committed and not dead.exists()
    assert_xlsx_keeps(tmp_path / "反馈.xlsx", ["@SUM(A1)", "=cmd.csv"])
    assert private(tmp_path / "反馈.xlsx")


# ---------------------------------------------------------------------------------------- names in payments


def test_quote_refuses_a_name_that_looks_like_a_formula() -> None:
    app = application(COUNTY, "1985-06-15", "regular", "2021-10-15")
    assert quote(BENGBU, app, today=TODAY)["eligible"]
    for name in ("@SUM(A1)", "=1+1", "张\x1b[31m三"):
        app["person"]["name"] = name
        with pytest.raises(InputError) as refused:
            quote(BENGBU, app, today=TODAY)
        assert refused.value.field == "person.name" and "不像人名" in str(refused.value)
        assert "\x1b" not in str(refused.value)


def test_pay_and_payment_files_refuse_a_name_that_looks_like_a_formula(engine: Engine, tmp_path: Path) -> None:
    app = application(COUNTY, "1985-06-15", "regular", "2021-10-15", name="@SUM(A1)")
    with pytest.raises(InputError) as refused:
        pay(engine, Payment(BENGBU, app, "online", "wx-1", Decimal("320"), channel_name="微信"), "clerk")
    assert refused.value.field == "person.name"
    with pytest.raises(InputError) as refused:  # canbao enroll: a new enrollee
        renew(engine, BENGBU, "=1+1", _id("1987-01-01", 5), dt.date(2021, 10, 15), "online", "wx-3",
              Decimal("320"), "clerk", "微信", {"county": COUNTY, "residency": "local_hukou"})  # fmt: skip
    assert refused.value.field == "person.name"
    good = application(COUNTY, "1986-06-15", "regular", "2021-10-15")
    rows = [
        {**a["person"], "situation": a["situation"], "paid_on": a["paid_on"], "channel": "online",
         "channel_name": "微信", "txn_id": t, "amount_fen": 32000}
        for a, t in ((app, "wx-2"), (good, "=HYPERLINK(\"http://x\",\"y\")"))
    ]  # fmt: skip
    out = apply_payments(engine, BENGBU, pl.DataFrame(rows), "clerk")
    assert out["outcome"].to_list() == ["refused", "enrolled"]
    assert out["error_field"][0] == "person.name"


# ------------------------------------------------------------------------------------------ the CLI's writers


def test_the_cli_writes_csv_and_xlsx_lists_without_formulas(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    from canbao.store.db import make_engine

    engine = make_engine(database_url)
    veteran = application("340321", "1950-01-01", "regular", "2024-10-02", ["key_entitled"], name="张三")
    pay(engine, Payment(HUAIYUAN, veteran, "online", "hy-1", Decimal("400"), channel_name="微信",
                        township=HOSTILE[0], village=HOSTILE[3]), "clerk")  # fmt: skip
    engine.dispose()
    runner = CliRunner()
    for suffix in (".csv", ".xlsx"):
        target = tmp_path / f"owed{suffix}"
        done = runner.invoke(cli, ["county-subsidy", "list", "--benefit-year", "2025", "--output", str(target)])
        assert done.exit_code == 0, done.output
        assert private(target)
    assert_csv_keeps(tmp_path / "owed.csv", [HOSTILE[0], HOSTILE[3]])
    assert_xlsx_keeps(tmp_path / "owed.xlsx", [HOSTILE[0], HOSTILE[3]])

    bad = application(COUNTY, "1985-06-15", "regular", "2021-10-15", name="@SUM(A1)")
    row = {**bad["person"], "situation": "regular", "paid_on": "2021-10-15", "channel": "online",
           "channel_name": "微信", "txn_id": "t-1", "amount_fen": "32000", "categories": ""}  # fmt: skip
    source = tmp_path / "day.csv"
    pl.DataFrame([row]).write_csv(source)
    done = runner.invoke(cli, ["season", "apply-payments", "--policy", BENGBU, "--file", str(source)])
    assert done.exit_code == 0, done.output
    outcome = tmp_path / "day.outcome.csv"
    assert private(outcome) and pl.read_csv(outcome)["error_field"].to_list() == ["person.name"]
    assert leftovers(tmp_path) == []


def test_the_not_due_list_of_season_open_is_private_and_holds_no_formula(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canbao.services import season
    from canbao.services.season import SeasonReport

    not_due = pl.DataFrame({"id_number": ["1101**********7777"], "name": [HOSTILE[0]], "township": [HOSTILE[1]],
                            "village": [HOSTILE[2]], "reason": ["缺少必填项"]})  # fmt: skip
    monkeypatch.setattr(season, "open_season", lambda *a, **k: SeasonReport(BENGBU, 2022, 1, 0, not_due, 0))
    monkeypatch.setattr("canbao.cli.season.engine", lambda **_: None)
    target = tmp_path / "not_due.csv"
    done = CliRunner().invoke(cli, ["season", "open", "--policy", BENGBU, "--not-due", str(target)])
    assert done.exit_code == 0, done.output
    assert private(target)
    assert_csv_keeps(target, HOSTILE[:3])


def test_quote_batch_writes_both_files_privately_and_its_rejects_without_formulas(tmp_path: Path) -> None:
    good = application(COUNTY, "1985-06-15", "regular", "2021-10-15")
    bad = application(COUNTY, "1986-06-15", "regular", "2021-10-15", name=HOSTILE[0])
    rows = [{**a["person"], "categories": "", "situation": "regular", "paid_on": "2021-10-15"} for a in (good, bad)]
    source = tmp_path / "persons.csv"
    pl.DataFrame(rows).write_csv(source)
    quote_batch.run(BENGBU, source, tmp_path / "out" / "quoted.parquet")
    rejects = tmp_path / "out" / "quoted.rejects.csv"
    assert private(tmp_path / "out" / "quoted.parquet") and private(rejects)
    assert pl.read_csv(rejects)["error_field"].to_list() == ["person.name"]
    assert_csv_keeps(rejects, [HOSTILE[0]])
    assert leftovers(tmp_path) == []


# -------------------------------------------------------------------------------------------- the season demo


def test_the_demos_payment_outcomes_appear_only_when_the_season_is_applied(tmp_path: Path) -> None:
    day = pl.DataFrame({"payment_row": [0], "outcome": ["refused"], "error_field": ["txn_id"], "reason": HOSTILE[:1]})
    dead = killed_run_temporary(tmp_path, "payments_outcome.csv")
    final = tmp_path / "payments_outcome.csv"
    with pytest.raises(KeyboardInterrupt), Applied(final) as applied:  # killed after its first day
        applied.add(day)
        assert not dead.exists() and not final.exists()
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with Applied(final) as applied:
        applied.add(day)
        applied.add(day)
    assert private(final) and applied.rows == 2
    assert pl.read_csv(final)["reason"].to_list() == ["'" + HOSTILE[0]] * 2
    assert os.listdir(tmp_path) == ["payments_outcome.csv"]
