"""Hostile or odd input (issue 12): every refusal is exit 2 and one Chinese line naming the field or the file,
row and column; a bug is exit 1, a reference and a log entry without data; no full ID number anywhere."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

import canbao.cli.policy
from canbao.cli import main
from canbao.errors import InputError
from canbao.ids import make_id_number, mask_id_number
from canbao.services.imports import import_department_list, import_roster
from canbao.store.tables import audit_log, persons
from canbao.store.uow import audit
from conftest import TODAY, invoke

COUNTY = "340322"
POLICY = "anhui/bengbu/2022"
WANG = make_id_number(COUNTY, dt.date(1958, 3, 1), 11)
LI = make_id_number(COUNTY, dt.date(1962, 7, 9), 22)
EXAMPLE: dict[str, Any] = {
    "person": {"id_number": WANG, "name": "张三", "county": COUNTY, "residency": "local_hukou", "categories": []},
    "situation": "regular",
    "paid_on": "2021-10-15",
}


def refused_line(argv: list[str]) -> str:
    code, _, err = invoke(argv)
    # A command that uses a database names it first (数据库：…); the refusal is the one line after it.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("数据库：")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("错误："), err
    return lines[0]


@pytest.fixture(autouse=True)
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "errors.log"
    monkeypatch.setenv("CANBAO_LOG_FILE", str(path))
    monkeypatch.delenv("CANBAO_DEBUG", raising=False)
    return path


# ---------------------------------------------------------------------------------------------------- JSON


def _with(change: Any) -> bytes:
    app = json.loads(json.dumps(EXAMPLE))
    change(app)
    return json.dumps(app).encode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (json.dumps(EXAMPLE, ensure_ascii=False).encode("gbk"), "--input: 不是 UTF-8 编码的 JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "--input: JSON 嵌套层次过深"),
        (b"9" * 5000, "--input: JSON 中的数字过长"),
        (_with(lambda a: a["person"].update(lapsed_years=2**64)), "person.lapsed_years: 数值过大"),
        (_with(lambda a: a["person"].update(repaid_years=2**31)), "person.repaid_years: 数值过大"),
        (_with(lambda a: a["person"].update(lapsed_years=1.0)), "person.lapsed_years: 应为整数"),
        (_with(lambda a: a["person"].update(name="张\u0000三")), "--input: JSON 中含有空字符"),
        (b'["person"]', "(input): 输入须为一个 JSON 对象"),
        (_with(lambda a: a["person"].update(categories="dibao")), "person.categories: 应为列表"),
        (_with(lambda a: a["person"].update(id_number="")), "person.id_number: 身份证号码为空"),
    ],
)
def test_quote_input_is_refused_naming_the_field(data: bytes, words: str, tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_bytes(data)
    assert words in refused_line(["quote", "--policy", POLICY, "--input", str(source)])


def test_a_json_with_a_bom_is_read(tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_bytes(json.dumps(EXAMPLE, ensure_ascii=False).encode("utf-8-sig"))
    code, out, err = invoke(["quote", "--policy", POLICY, "--input", str(source)])
    assert code == 0, err
    assert json.loads(out)["id_number"] == mask_id_number(WANG)


def test_a_refusal_quoting_an_id_number_shows_it_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> Any:
        raise InputError("person", f"第 2 行 {WANG} 与第 3 行重复")

    monkeypatch.setattr(canbao.cli.policy, "read_json", refuse)
    line = refused_line(["quote", "--policy", POLICY, "--input", "x.json"])
    assert WANG not in line and mask_id_number(WANG) in line


# ---------------------------------------------------------------------------------------------------- catch-all


def _failing(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    def fail(*_: Any) -> Any:
        raise exc

    monkeypatch.setattr(canbao.cli.policy, "read_json", fail)


def test_a_bug_is_one_line_with_a_reference_and_a_log_entry_without_data(
    monkeypatch: pytest.MonkeyPatch, log_file: Path
) -> None:
    statement = f"INSERT INTO audit_log (detail) VALUES (%(detail)s) {{'detail': '{WANG}'}}"
    _failing(monkeypatch, IntegrityError(statement, {"detail": WANG}, Exception(f"duplicate key {WANG}")))
    code, out, err = invoke(["quote", "--policy", POLICY, "--input", "x.json"])
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("内部错误（编号 ") and line.endswith("），已记录；请联系管理员")
    reference = line.removeprefix("内部错误（编号 ")[:8]
    assert len(reference) == 8 and all(c in "0123456789ABCDEF" for c in reference)
    assert WANG not in err and "INSERT" not in err and "Traceback" not in err
    text = log_file.read_text(encoding="utf-8")
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    entry = json.loads(text.splitlines()[-1])
    assert entry["reference"] == reference
    assert entry["exceptions"][0]["type"] == "sqlalchemy.exc.IntegrityError"
    frames = entry["exceptions"][0]["frames"]
    assert any(f["function"] == "quote" and f["file"].endswith("cli/policy.py") for f in frames)
    assert WANG not in text and "INSERT" not in text and "duplicate" not in text and mask_id_number(WANG) not in text


def test_the_log_goes_to_the_state_directory_and_never_fails_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CANBAO_LOG_FILE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    _failing(monkeypatch, RecursionError("deep"))
    assert invoke(["quote", "--policy", POLICY, "--input", "x.json"])[0] == 1
    assert "RecursionError" in (tmp_path / "xdg" / "canbao" / "errors.log").read_text(encoding="utf-8")

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CANBAO_LOG_FILE", str(blocker / "errors.log"))  # cannot be created
    code, _, err = invoke(["quote", "--policy", POLICY, "--input", "x.json"])
    assert code == 1 and err.startswith("内部错误（编号 ")


def test_debugging_still_raises_and_usage_errors_stay_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing(monkeypatch, ZeroDivisionError("x"))
    monkeypatch.setenv("CANBAO_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["quote", "--policy", POLICY, "--input", "x.json"])
    code, _, err = invoke(["quote", "--policy", POLICY])
    assert code == 2 and "--input" in err
    assert invoke(["--help"])[0] == 0


# ---------------------------------------------------------------------------------------------------- files


def _list(engine: Engine, path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("feedback_path", path.with_name(path.stem + "_反馈.xlsx"))
    return import_department_list(engine, path, "civil_affairs", COUNTY, POLICY, "tester", today=TODAY, **kwargs)


def _audit_details(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [str(r) for r in connection.execute(select(audit_log.c.detail).order_by(audit_log.c.id)).scalars()]


def test_a_gbk_csv_with_cr_only_line_ends_is_read_row_by_row(engine: Engine, tmp_path: Path) -> None:
    # As Excel for Mac saves it; read as one line, the "missing columns" refusal listed every ID number.
    path = tmp_path / "mac.csv"
    path.write_bytes(f"姓名,身份证号码,身份类别\r王大山,{WANG},低保对象\r李二,{LI},特困供养人员\r".encode("gbk"))
    report = _list(engine, path)
    assert report.committed and report.rows_total == 2 and report.accepted == 2
    utf16 = tmp_path / "unicode.csv"  # Excel's "Unicode text": UTF-16 with a BOM, tab-separated, CRLF
    utf16.write_bytes(f"姓名\t身份证号码\t身份类别\r\n王大山\t{WANG}\t低保对象\r\n".encode("utf-16"))
    assert _list(engine, utf16).committed


def test_a_file_without_its_header_row_is_refused_without_showing_anyone(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "no-header.csv"
    rows = [f"王大山{'很长的地址' * 10},{WANG},低保对象", f"李二,{LI},特困供养人员"]
    path.write_bytes("\n".join(rows).encode("utf-8"))
    with pytest.raises(InputError) as refused:
        _list(engine, path)
    message = str(refused.value)
    assert "缺少必需的列" in message and WANG not in message and mask_id_number(WANG) in message
    assert LI not in message and "很长的地址" * 4 not in message  # a header cell is cut at 20 characters
    (detail,) = _audit_details(engine)
    assert WANG not in detail and LI not in detail


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (f"姓名,身份证号码,身份类别\x00\n王大山,{WANG},低保对象\n".encode(), "第 1 行第 3 列含有空字符（NUL）"),
        (f"姓名,身份证号码,身份类别\n王大山,{WANG},低\x00保\n".encode("gbk"), "第 2 行第 3 列含有空字符（NUL）"),
        (f"姓名,身份证号码,身份类别\n王大山,{WANG},低保\x1f\n".encode(), "第 2 行第 3 列含有控制字符（U+001F）"),
        (
            f"姓名,身份证号码,身份类别\n王大山,{WANG},低保\n李二,{LI},低保,x,y\n".encode(),
            "第 3 行有 5 列，多于表头的 3 列",
        ),
        (f'姓名,身份证号码,身份类别\n"王大山,{WANG},低保\n'.encode(), "引号不成对"),
        (f'姓名,身份证号码,身份类别\n王"大山,{WANG},低保\n'.encode(), "第 2 行第 1 列的引号用法有误"),
        (b"", "是空的"),
        (b"\xef\xbb\xbf\r\n \r\n", "是空的"),
        (bytes(range(256)) * 8, "编码无法识别"),
        (b"\x7fELF" + bytes(200), "不是文本文件"),
        (b"PK\x03\x04" + bytes(100), "是 XLSX（ZIP） 文件，不是 CSV 文本"),
    ],
)
def test_a_broken_csv_is_refused_naming_the_file_row_and_column(
    engine: Engine, tmp_path: Path, data: bytes, words: str
) -> None:
    path = tmp_path / "名单.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"名单\.csv") as refused:
        _list(engine, path)
    assert words in str(refused.value) and WANG not in str(refused.value)
    (detail,) = _audit_details(engine)  # the audit line is written on PostgreSQL too (no NUL reaches it)
    assert words in detail


def test_a_csv_named_xlsx_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "名单.xlsx"
    path.write_bytes(f"姓名,身份证号码,身份类别\n王大山,{WANG},低保对象\n".encode())
    with pytest.raises(InputError, match="不是 XLSX 工作簿"):
        _list(engine, path)


def test_xlsx_numbers_in_text_columns_are_their_exact_digits(engine: Engine, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["姓名", "身份证号码", "乡镇（街道）", "村（社区）", "联系电话"])
    sheet.append(["王大山", WANG, 1.5e18, 2.5e16, 13800000000])
    sheet.append(["李二", int(LI[:17] + "0"), "城关镇", "东村", None])  # a numeric ID cell: Excel lost digits
    path = tmp_path / "名册.xlsx"
    workbook.save(path)
    report = import_roster(engine, path, COUNTY, 2022, "tester", accept_valid=True, today=TODAY)
    assert report.committed and report.accepted == 1 and report.rejected == 1
    assert "在 Excel 中被存成了数字" in report.rejections()[0]
    with engine.connect() as connection:
        row = connection.execute(select(persons).where(persons.c.id_number == WANG)).mappings().one()
    assert (row["township"], row["village"], row["phone"]) == (
        "1500000000000000000",
        "25000000000000000",
        "13800000000",
    )


def test_empty_and_short_id_numbers_are_refused_rows_not_a_crash(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "名单.csv"
    path.write_bytes(f"姓名,身份证号码,身份类别\n王大山,,低保对象\n李二,1,低保对象\n赵六,{WANG},低保对象\n".encode())
    report = _list(engine, path)
    assert not report.committed and report.rejected == 2
    lines = report.rejections()
    assert lines[0].startswith("第2行 王大山 （无身份证号码）：身份证号码为空")
    assert lines[1].startswith("第3行 李二 *：")


def test_the_audit_log_never_holds_a_full_id_number_or_a_nul(engine: Engine) -> None:
    audit(engine, "tester", "probe", f"person {WANG}", "refused", f"第 2 行 {WANG} 有误\x00；{LI[:15]}")
    with engine.connect() as connection:
        row = connection.execute(select(audit_log)).mappings().one()
    assert row["subject"] == f"person {mask_id_number(WANG)}"
    assert row["detail"] == f"第 2 行 {mask_id_number(WANG)} 有误\ufffd；{mask_id_number(LI[:15])}"


def test_apply_payments_refuses_a_payment_file_with_a_nul(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    path = tmp_path / "pay.csv"
    header = "id_number,name,county,residency,situation,paid_on,channel,txn_id,amount_fen"
    path.write_bytes(f"{header}\r{WANG},王\x00大山,{COUNTY},local_hukou,regular,2021-10-15,online,t1,32000\r".encode())
    line = refused_line(["season", "apply-payments", "--policy", POLICY, "--file", str(path)])
    assert "--file" in line and "第 2 行第 2 列含有空字符（NUL）" in line
    path.write_bytes(f"{header}\r{WANG},王大山,{COUNTY},local_hukou,regular,2021-10-15,online,t1,32000\r".encode("gbk"))
    code, out, err = invoke(["season", "apply-payments", "--policy", POLICY, "--file", str(path)])
    assert code == 0 and "入账 1 笔" in out, err


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["import", "list", "--actor", "a\x00b"], "--actor"),
        (["import", "school", "--school=实验\x1f小学"], "--school"),
        (["season", "apply-payments", "--policy", POLICY, "--actor", "\x00"], "--actor"),
    ],
)
def test_a_control_character_in_an_option_is_refused_naming_it(argv: list[str], option: str) -> None:
    assert refused_line(argv).startswith(f"错误：{option}: 含有控制字符")


def test_the_services_refuse_a_control_character_in_the_actor_or_school(engine: Engine, tmp_path: Path) -> None:
    from canbao.services.imports import import_school_roster

    path = tmp_path / "名单.csv"
    path.write_bytes(f"姓名,身份证号码,身份类别\n王大山,{WANG},低保对象\n".encode())
    with pytest.raises(InputError, match="actor"):
        import_department_list(engine, path, "civil_affairs", COUNTY, POLICY, "clerk\x00", today=TODAY)
    with pytest.raises(InputError, match="school"):
        import_school_roster(engine, path, "实验\x00小学", COUNTY, "clerk", today=TODAY)


def test_a_parquet_payment_file_with_a_nested_column_is_refused(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    path = tmp_path / "pay.parquet"
    row = {"id_number": WANG, "name": "王大山", "county": COUNTY, "residency": "local_hukou", "situation": "regular"}
    pl.DataFrame(
        [{**row, "paid_on": "2021-10-15", "channel": "online", "txn_id": "t1", "amount_fen": {"x": 1}}]
    ).write_parquet(path)
    line = refused_line(["season", "apply-payments", "--policy", POLICY, "--file", str(path)])
    assert "“amount_fen”列是 Struct" in line and "应为文本或数字" in line


def test_utf8_is_checked_in_pieces_split_anywhere() -> None:
    from canbao.tabular.textfiles import _check_utf8

    text = ("姓名,身份证号码\n张三," + WANG + "\n").encode()
    for chunk in (1, 2, 3, 5, 7):
        _check_utf8(text, chunk)
        with pytest.raises(UnicodeDecodeError):
            _check_utf8(text[:-2] + "张".encode("gbk"), chunk)
        with pytest.raises(UnicodeDecodeError):
            _check_utf8(text + "张".encode()[:2], chunk)  # cut in the middle of the last character


def test_exceptions_outside_the_command_flow_go_to_the_log_not_the_screen(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from canbao.cli.main import _quiet_stray_exceptions

    class Failing:
        def __del__(self) -> None:
            raise ValueError(WANG)  # Python prints "Exception ignored in …" and a traceback

    restore = _quiet_stray_exceptions()
    try:
        Failing()
        worker = threading.Thread(target=lambda: 1 / 0)
        worker.start()
        worker.join()
    finally:
        restore()
    assert capsys.readouterr().err == ""
    text = log_file.read_text(encoding="utf-8")
    assert "builtins.ValueError" in text and "builtins.ZeroDivisionError" in text and WANG not in text


def test_an_unwritable_feedback_path_is_refused_and_nothing_is_imported(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    path = tmp_path / "名单.csv"
    path.write_bytes(f"姓名,身份证号码,身份类别\n王大山,{WANG},低保对象\n".encode())
    base = ["import", "list", "--department", "civil_affairs", "--policy", POLICY, "--county", COUNTY]
    line = refused_line([*base, "--file", str(path), "--feedback", str(tmp_path)])
    assert line.startswith("错误：--feedback: ") and "是一个文件夹" in line
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = refused_line([*base, "--file", str(path), "--feedback", str(blocker / "sub" / "fb.xlsx")])
    assert line.startswith("错误：--feedback: 无法写入反馈文件") and "本次未导入" in line
    with engine.connect() as connection:
        assert connection.execute(select(persons.c.id)).first() is None


def test_an_accepted_batch_with_empty_and_short_id_numbers_reports_them_masked(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The crash came after the commit: printing the refused rows padded a short ID to ~4e9 stars.
    monkeypatch.setenv("CANBAO_DATABASE_URL", database_url)
    path = tmp_path / "名单.csv"
    path.write_bytes(
        f"姓名,身份证号码,身份类别\n王大山,{WANG},低保对象\n李二,,低保对象\n赵六,12345,低保对象\n".encode()
    )
    argv = ["import", "list", "--department", "civil_affairs", "--policy", POLICY, "--county", COUNTY]
    code, out, err = invoke([*argv, "--file", str(path), "--accept-valid"])
    assert code == 0, err
    assert "第3行 李二 （无身份证号码）：身份证号码为空" in out and "第4行 赵六 *****：" in out
