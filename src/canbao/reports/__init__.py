"""Output officials paste into their reports: XLSX workbooks and PNG charts, in Chinese; every file canbao
writes goes through canbao.outputs (atomic, private, no live formulas)."""

from canbao.reports.chart import bar_chart
from canbao.reports.xlsx import NUMBER_FORMATS, NumberKind, number_cell, rate, write_sheet, write_workbook

__all__ = ["NUMBER_FORMATS", "NumberKind", "bar_chart", "number_cell", "rate", "write_sheet", "write_workbook"]
