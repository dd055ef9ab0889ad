"""Workbooks store numbers as numbers (issue 13 item 7): amounts, counts and rates are numeric cells with a
number format an official can sum and sort in Excel; text keeps its formula guard."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from canbao.reports import number_cell, rate, write_workbook


def _cells(path: Path, sheet: str) -> list[list[openpyxl.cell.Cell]]:
    return [list(row) for row in openpyxl.load_workbook(path)[sheet].iter_rows(min_row=2)]


def test_issue_13_money_counts_and_rates_are_numeric_cells(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "乡镇": ["灵城镇", '=HYPERLINK("x")', "合计"],
            "应缴金额（元）": [32000, 4001, None],  # fen
            "标准（元）": [Decimal("320.00"), Decimal("0.01"), Decimal("1234567.89")],
            "人数": [16, 1_234_567, 0],
            "已参保": [16, 1, 0],
            "任务": [27, 3, 0],
        },
        schema_overrides={"标准（元）": pl.Decimal(12, 2)},
    ).with_columns(rate(pl.col("已参保"), pl.col("任务")).alias("完成率"))
    numbers = {"应缴金额（元）": "fen", "标准（元）": "yuan", "人数": "count", "完成率": "rate"}
    path = write_workbook(tmp_path / "t.xlsx", {"表": frame}, numbers=numbers)  # type: ignore[arg-type]
    rows = _cells(path, "表")
    money, standard, count, done = rows[0][1], rows[0][2], rows[0][3], rows[0][6]
    assert (money.data_type, money.number_format, money.value) == ("n", "#,##0.00", 320)
    assert (rows[1][1].value, standard.value, rows[2][2].value) == (40.01, 320, 1234567.89)
    assert standard.number_format == "#,##0.00"
    assert (count.data_type, count.number_format, rows[1][3].value) == ("n", "#,##0", 1_234_567)
    # 16/27 = 59.259…%: stored as the fraction, shown 59.26% (Excel rounds), not the truncated 59.25%
    assert (done.data_type, done.number_format) == ("n", "0.00%") and done.value == pytest.approx(16 / 27, abs=1e-15)
    assert f"{done.value:.2%}" == "59.26%"
    assert rows[2][1].value is None and rows[2][6].value is None  # no amount, no rate (target 0): empty cells
    formula = rows[1][0]
    assert formula.data_type == "s" and formula.value.startswith("=") and formula.quotePrefix  # text stays text


def test_a_text_column_named_as_a_number_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_workbook(tmp_path / "t.xlsx", {"表": pl.DataFrame({"金额": ["320.00"]})}, numbers={"金额": "fen"})


def test_number_cell_for_openpyxl_writers(tmp_path: Path) -> None:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("反馈")
    sheet.append([number_cell(sheet, 32001, "fen"), number_cell(sheet, Decimal("40.00"), "yuan")])
    book.save(tmp_path / "f.xlsx")
    a, b = next(openpyxl.load_workbook(tmp_path / "f.xlsx")["反馈"].iter_rows())
    assert (a.value, a.number_format, b.value, b.data_type) == (320.01, "#,##0.00", 40, "n")
