"""One reader for the files real offices send (issue 13 item 1): files built as offices build them, with
openpyxl directly (a merged title row, a date line, a blank row, a 合计 row, numeric ID cells, Excel serial
dates and date cells with a time, amounts written 1,234.50 and -320.00), GBK CSV, a ragged row, an empty file,
a header-only file; for every reader: the imports, the clean-up registers, targets, e-voucher and
reconciliation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select

from canbao.errors import InputError
from canbao.ids import make_id_number
from canbao.outputs import feedback_path
from canbao.services.cleanup import read_register
from canbao.services.imports import import_department_list, import_roster
from canbao.services.reconcile import read_records
from canbao.services.targets import import_activations, import_targets
from canbao.store.db import make_engine
from canbao.store.scratch import scratch_database
from canbao.store.tables import e_voucher_activations, targets
from canbao.tabular.layouts import LAYOUTS, render
from canbao.tabular.sheets import read_file
from canbao.tabular.values import amounts, dates, id_numbers

TODAY = dt.date(2026, 11, 23)
POLICY = "anhui/suzhou/lingbi/2022"
COUNTY = "341323"
A = make_id_number(COUNTY, dt.date(1958, 3, 1), 11)
B = make_id_number(COUNTY, dt.date(1962, 7, 9), 22)
C = make_id_number(COUNTY, dt.date(1975, 1, 30), 35)
D = make_id_number(COUNTY, dt.date(1990, 12, 4), 48)
X = next(i for n in range(1, 200) if (i := make_id_number(COUNTY, dt.date(1980, 5, 5), n)).endswith("X"))
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: the reader is the same for both databases (test_imports covers PostgreSQL)."""
    with scratch_database("sqlite", tmp_path) as url:
        e = make_engine(url)
        yield e
        e.dispose()


def office_workbook(path: Path, title: str, header: list[str], rows: list[list[Any]], total: list[Any]) -> Path:
    """As an office makes it: a title merged across the columns, a unit and date line, the header on row 3,
    the rows, a blank row, a 合计 row."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append(["填报单位：灵城镇人民政府", None, None, "填报日期：2022年1月5日"])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    sheet.append([])
    sheet.append(total)
    workbook.save(path)
    return path


# ---------------------------------------------------------------------------------------------------- values


def test_one_id_normalizer_trims_apostrophes_full_width_digits_and_lowercase_x() -> None:
    written = [A, f"'{A}", f" {A}\u3000", A.translate(FULL_WIDTH), X.lower(), f"\x00{A}", "123", None, "3.41323E+17"]
    frame = pl.DataFrame({"t": written}).select(id_numbers(pl.col("t"), TODAY)).unnest("id")
    assert frame["id_number"].to_list()[:5] == [A, A, A, A, X]
    errors = frame["id_error"].to_list()
    assert errors[:5] == [None] * 5
    assert "在 Excel 中被存成了数字，第15位以后已丢失" in errors[5] and frame["id_number"][5] is None
    assert errors[6].startswith("身份证号码应为18位") and errors[7] == "身份证号码为空"
    assert "在 Excel 中被存成了数字" in errors[8]  # a CSV saved by Excel from a number column


def test_one_date_parser_reads_every_documented_form() -> None:
    written = ["2022-03-01", "2022/3/1", "2022.03.01", "20220301", "2022年3月1日", "2022-03-01 08:30:00",
               "2022/3/1 8:30", "44621", "44621.0", "长期", "三月", "2022-02-30"]  # fmt: skip
    frame = pl.DataFrame({"t": written}).select(dates(pl.col("t"), open_ended=True))
    day = dt.date(2022, 3, 1)
    assert frame.to_series().to_list() == [day] * 9 + [None, None, None]


def test_one_amount_parser_is_exact_and_allows_refunds_only_where_asked() -> None:
    written = ["1,234.50", "-320.00", "¥320", "320元", "0.1", "1234.5", "12,34", "0.001", "三百", None]
    frame = pl.DataFrame({"t": written}).select(refund=amounts(pl.col("t"), negative=True), plain=amounts(pl.col("t")))
    assert frame["refund"].to_list() == [123450, -32000, 32000, 32000, 10, 123450, None, None, None, None]
    assert frame["plain"][1] is None and frame["plain"][0] == 123450


def test_the_feedback_goes_beside_the_source_by_one_convention(tmp_path: Path) -> None:
    assert feedback_path(tmp_path / "低保名单.csv") == tmp_path / "低保名单_反馈.xlsx"
    assert feedback_path(Path("in/roster_2021.xlsx")) == Path("in/roster_2021_反馈.xlsx")


def test_docs_file_layouts_is_rendered_from_the_layouts_table() -> None:
    doc = Path(__file__).parent.parent / "docs" / "file-layouts.md"
    assert doc.read_text(encoding="utf-8") == render(), "run: python -m canbao.tabular.layouts > docs/file-layouts.md"
    for layout in LAYOUTS.values():  # every layout's glossary identifiers are documented
        assert all(f"`{ident}`" in render() for ident in layout.fields)


# ---------------------------------------------------------------------------------------------------- sheets


def test_a_title_row_a_date_line_a_blank_row_and_a_total_row_are_not_persons(tmp_path: Path) -> None:
    path = office_workbook(
        tmp_path / "低保.xlsx",
        "灵璧县2022年度农村低保对象花名册",
        ["序号", "姓名", "身份证号码", "身份类别", "认定日期"],
        [[1, "王大山", A, "低保对象", "2021-03-01"], [2, "李二", B, "低保对象", "2021-03-01"]],
        ["合计", None, None, "2人", None],
    )
    sheet = read_file(path, LAYOUTS["department_list"])
    assert sheet.header_row == 3
    assert sheet.frame["row_number"].to_list() == [4, 5]  # the sheet's own rows
    assert sheet.skipped == [(7, "合计行")]


def test_a_gbk_csv_with_a_title_line_keeps_the_sheet_rows(tmp_path: Path) -> None:
    path = tmp_path / "名册.csv"
    text = f"灵璧县2021年度参保名册,,\n姓名,身份证号码,乡镇\n王大山,{A},灵城镇\n\n李二,{B},虞姬乡\n小计,,\n"
    path.write_bytes(text.encode("gbk"))
    sheet = read_file(path, LAYOUTS["roster"])
    assert sheet.frame.select("row_number", "name").rows() == [(3, "王大山"), (5, "李二")]
    assert sheet.skipped == [(6, "合计行")]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "文件 f.csv 是空的"),
        ("姓名,身份证号码\n".encode(), "文件 f.csv 没有数据行"),
        ("花名册,,\n姓名,身份证号码\n合计,\n".encode(), "没有数据行（第 2 行是表头，跳过 1 个合计或说明行）"),
        (f"标题\n姓名,身份证号码,乡镇\n王大山,{A},灵城镇\n李二,{B},虞姬乡,多余\n".encode(),
         "文件 f.csv 无法按 CSV 读取：第 4 行有 4 列，多于表头的 3 列（表头在第 2 行）"),
        ("序号,名字,号码\n1,王大山,x\n".encode(),
         "文件 f.csv 缺少必需的列：身份证号码（id_number，可用列名：身份证号码、公民身份号码"),
    ],
)  # fmt: skip
def test_an_empty_header_only_ragged_or_headerless_csv_is_refused_in_chinese_naming_file_and_row(
    tmp_path: Path, data: bytes, words: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as refused:
        read_file(path, LAYOUTS["roster"])
    assert words in refused.value.message and refused.value.field == "input"


def test_an_empty_and_a_header_only_workbook_are_refused(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.save(tmp_path / "空.xlsx")
    with pytest.raises(InputError, match=r"文件 空\.xlsx 是空的"):
        read_file(tmp_path / "空.xlsx", LAYOUTS["roster"])
    workbook.active.append(["姓名", "身份证号码"])
    workbook.save(tmp_path / "表头.xlsx")
    with pytest.raises(InputError, match=r"文件 表头\.xlsx 没有数据行"):
        read_file(tmp_path / "表头.xlsx", LAYOUTS["roster"])


# ---------------------------------------------------------------------------------------------------- imports


def test_a_department_workbook_with_a_merged_title_imports_and_reports_its_total_row(
    engine: Engine, tmp_path: Path
) -> None:
    path = office_workbook(
        tmp_path / "低保.xlsx",
        "灵璧县2022年度农村低保对象花名册",
        ["序号", "姓名", "身份证号码", "身份类别", "认定日期", "有效期止"],
        [
            [1, "王大山", A, "低保对象", dt.datetime(2021, 3, 1, 9, 30), "长期"],  # a date cell with a time
            [2, "李二", f"'{B}", "低保对象", 44256, None],  # apostrophe; an Excel serial day (2021-03-01)
            [3, "赵六", C.translate(FULL_WIDTH), "低保户", "2021年3月1日", None],  # full-width digits
            [4, "钱七", int(D), "低保对象", "2021-03-01", None],  # stored as a number: Excel kept 15 digits
            [5, "孙八", X.lower(), "低保对象", "2021/3/1", None],  # lowercase x
        ],
        ["合计", None, None, "5人", None, None],
    )
    report = import_department_list(
        engine, path, "civil_affairs", COUNTY, POLICY, "clerk", accept_valid=True, today=TODAY
    )
    assert (report.rows_total, report.accepted, report.rejected) == (5, 4, 1)
    assert report.header_row == 3 and report.skipped == [(10, "合计行")]
    rows = {r["row_number"]: r for r in report.rows.iter_rows(named=True)}
    assert [rows[n]["id_number"] for n in (4, 5, 6, 8)] == [A, B, C, X]
    assert "在 Excel 中被存成了数字" in rows[7]["reason"] and "第10行" not in report.summary()
    assert "跳过 1 行（不是人员）：第 10 行（合计行）" in report.summary()
    assert report.feedback_path == tmp_path / "低保_反馈.xlsx" and report.feedback_path.exists()


def test_a_header_only_list_is_refused_and_audited(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "名册.csv"
    path.write_text("灵璧县2021年度参保名册\n姓名,身份证号码\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        import_roster(engine, path, COUNTY, 2021, "clerk", today=TODAY)
    assert refused.value.field == "input" and "文件 名册.csv 没有数据行（第 2 行是表头）" in refused.value.message


def test_the_actor_is_required_of_the_service(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "名册.csv"
    path.write_text(f"姓名,身份证号码\n王大山,{A}\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        import_roster(engine, path, COUNTY, 2021, "  ", today=TODAY)
    assert refused.value.field == "actor"


# ---------------------------------------------------------------------------------------------------- registers


def test_a_register_workbook_with_a_title_and_a_total_is_read_as_every_reader_reads(tmp_path: Path) -> None:
    path = office_workbook(
        tmp_path / "死亡.xlsx",
        "灵璧县公安局2021年死亡人员名单",
        ["序号", "姓名", "身份证号码", "死亡日期"],
        [[1, "王大山", f"'{A}", 44440], [2, "孙八", X.lower(), dt.datetime(2021, 9, 2, 23, 59)]],
        ["合计", "2人", None, None],
    )
    read = read_register(path, "deaths", TODAY)
    assert read.select("row_number", "id_number", "event_date").rows() == [
        (4, A, dt.date(2021, 9, 1)),
        (5, X, dt.date(2021, 9, 2)),
    ]


def test_a_register_with_a_numeric_id_cell_is_refused_naming_row_and_column(tmp_path: Path) -> None:
    path = office_workbook(
        tmp_path / "职工.xlsx", "职工医保参保人员名单", ["姓名", "身份证号码", "参保单位", "参保日期"],
        [["王大山", int(A), "某厂", "2021-11-02"]], ["合计", None, None, None],
    )  # fmt: skip
    with pytest.raises(InputError) as refused:
        read_register(path, "employee_insurance", TODAY)
    message = refused.value.message
    assert refused.value.field == "employees" and "文件 职工.xlsx" in message
    assert "第4行 身份证号码：身份证号码：在 Excel 中被存成了数字" in message


def test_a_gbk_other_county_roster_with_amounts_written_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "外县.csv"
    text = (
        "泗县2022年度居民医保参保名册,,,,\n身份证号码,姓名,县（区）,缴费日期,缴费金额\n"
        f'{A},王大山,泗县,2021/11/1,"1,234.50"\n'
    )
    path.write_bytes(text.encode("gbk"))
    read = read_register(path, "other_county", TODAY)
    assert read.select("row_number", "amount_fen", "event_date").rows() == [(3, 123450, dt.date(2021, 11, 1))]


# ----------------------------------------------------------------------------------------- targets, e-vouchers


def test_targets_with_title_rows_and_total_rows_are_read(engine: Engine, tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in ("参保任务", "电子凭证任务"):
        sheet = workbook.create_sheet(name)
        sheet.append([f"灵璧县2022年度{name}分解表"])
        sheet.merge_cells("A1:E1")
        sheet.append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
        sheet.append(["灵城镇", "341323100", "东村", "341323100001", 1200])
        sheet.append(["灵城镇", "341323100", "西村", "341323100002", "1,300"])
        sheet.append(["合计", None, None, None, 2500])
    workbook.save(tmp_path / "任务.xlsx")
    report = import_targets(engine, tmp_path / "任务.xlsx", 2022, "clerk")
    assert report.totals == {"enrollment": 2500, "e_voucher": 2500}
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(targets)).scalar_one() == 4


def test_e_voucher_activations_in_an_office_csv(engine: Engine, tmp_path: Path) -> None:
    roster = tmp_path / "名册.csv"
    roster.write_text(f"姓名,身份证号码\n王大山,{A}\n孙八,{X}\n", encoding="utf-8")
    import_roster(engine, roster, COUNTY, 2021, "clerk", accept_valid=True, today=TODAY)
    path = tmp_path / "激活.csv"
    text = (
        "医保电子凭证激活记录（灵城镇）,,,\n姓名,身份证号码,激活时间,激活渠道\n"
        f"王大山,'{A},2021-11-01 10:22:33,微信\n孙八,{X.lower()},44501,支付宝\n合计,,,\n"
    )
    path.write_bytes(text.encode("gbk"))
    report = import_activations(engine, path, "clerk", today=TODAY)
    assert (report.rows, report.recorded) == (2, 2)
    with engine.connect() as c:
        days = sorted(r[0] for r in c.execute(select(e_voucher_activations.c.activated_on)))
    assert days == [dt.date(2021, 11, 1), dt.date(2021, 11, 1)]
    bad = tmp_path / "坏.csv"
    bad.write_text(f"姓名,身份证号码,激活日期,激活渠道\n王大山,{A},十一月,微信\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        import_activations(engine, bad, "clerk", today=TODAY)
    assert "文件 坏.csv：第2行 激活日期：“十一月”不是有效日期" in refused.value.message


# ---------------------------------------------------------------------------------------------------- reconciliation


def test_a_tax_workbook_with_a_title_refund_lines_and_numbers_as_amounts(tmp_path: Path) -> None:
    path = office_workbook(
        tmp_path / "税务.xlsx",
        "国家税务总局灵璧县税务局 城乡居民医保征收明细",
        ["缴费人姓名", "证件号码", "缴费金额(元)", "缴费日期", "交易流水号"],
        [
            ["王大山", f"'{A}", "1,234.50", "2021-12-01", "T1"],
            ["孙八", X.lower(), 320.0, dt.datetime(2021, 12, 2, 15, 0), "T2"],  # an amount cell; lowercase x
            ["王大山", A.translate(FULL_WIDTH), "-320.00", 44533, "T3"],  # a refund line, a serial day
            ["李二", "34132219", 1234.5, "2021/12/3", "T4"],  # not a valid number: kept as written
        ],
        ["合计", None, 2469, None, None],
    )
    frame = read_records(path, "tax")
    assert frame.select("row", "id_number", "amount_fen", "paid_on").rows() == [
        (4, A, 123450, dt.date(2021, 12, 1)),
        (5, X, 32000, dt.date(2021, 12, 2)),
        (6, A, -32000, dt.date(2021, 12, 3)),
        (7, "34132219", 123450, dt.date(2021, 12, 3)),
    ]


def test_a_unit_list_with_numeric_id_cells_or_no_rows_is_refused(tmp_path: Path) -> None:
    header = ["代收单位", "姓名", "身份证号码", "缴费金额(元)", "缴费日期", "交易流水号"]
    path = office_workbook(
        tmp_path / "灵城镇.xlsx", "灵城镇代收明细", header,
        [["灵城镇", "王大山", int(A), "320.00", "2021-12-01", "T1"]], ["合计", None, None, 320, None, None],
    )  # fmt: skip
    with pytest.raises(InputError) as refused:
        read_records(path, "collecting_unit")
    assert refused.value.field == "collections"
    assert "文件 灵城镇.xlsx 有无法读取的行" in refused.value.message
    assert "第4行“身份证号码”在 Excel 中被存成了数字" in refused.value.message
    empty = tmp_path / "bank.csv"
    empty.write_text("交易日期,交易流水号,金额(元)\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"文件 bank\.csv 没有数据行"):
        read_records(empty, "bank")
    refund = tmp_path / "unit.csv"
    refund.write_text(f"代收单位,身份证号码,缴费金额(元),缴费日期,交易流水号\n灵城镇,{A},-320.00,2021-12-01,T1\n")
    with pytest.raises(InputError, match=r"第2行“缴费金额\(元\)”“-320\.00”是负数"):
        read_records(refund, "collecting_unit")
