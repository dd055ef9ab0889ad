"""Output officials paste into their reports: XLSX workbooks and PNG charts, in Chinese."""

from canbao.reports.chart import bar_chart
from canbao.reports.xlsx import write_workbook

__all__ = ["bar_chart", "write_workbook"]
