"""Output officials paste into their reports: XLSX workbooks and PNG charts, in Chinese; every file canbao
writes goes through canbao.outputs (atomic, private, no live formulas)."""

from canbao.reports.chart import bar_chart
from canbao.reports.xlsx import write_workbook

__all__ = ["bar_chart", "write_workbook"]
