"""The feedback workbook for whoever sent the list: sheet 反馈 (one row per file row) and 汇总 (counts),
and above :data:`FEEDBACK_XLSX_MAX_ROWS` rows the full feedback as a CSV beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from canbao.clock import local_time
from canbao.outputs import OutputGroup, csv_safe, formula_like
from canbao.services.imports.report import KIND_DEPARTMENT, KIND_ROSTER, PHASE_FEEDBACK, ImportReport, ProgressHook
from canbao.services.imports.validation import Job
from canbao.services.imports.words import OUTCOME_LABELS, TEXT
from canbao.store.uow import now

FEEDBACK_XLSX_MAX_ROWS = 50_000
"""Above this many rows the workbook lists only the rows that are not plainly accepted (openpyxl writes ~13,000
rows/s, and a sheet holds at most 1,048,576 rows); the full feedback then goes to a CSV beside it."""


def _feedback_columns(kind: str) -> list[tuple[str, str]]:
    head = [("行号", "row_number"), ("姓名", "name"), ("身份证号码", "id_number")]
    tail = [("结果", "result"), ("原因", "reason")]
    if kind == KIND_DEPARTMENT:
        return [*head, ("身份类别", "category_label"), *tail, ("最终认定资助身份", "resolved")]
    if kind == KIND_ROSTER:
        return [*head, ("乡镇（街道）", "township"), ("村（社区）", "village"), *tail]
    return [*head, ("学校", "school"), ("年级", "grade"), ("班级", "class"), *tail]


def _feedback_frame(rows: pl.DataFrame, kind: str) -> pl.DataFrame:
    columns = _feedback_columns(kind)
    ready = rows.with_columns(result=pl.col("outcome").replace_strict(OUTCOME_LABELS, return_dtype=TEXT))
    return ready.select([pl.col(c).alias(h) for h, c in columns])


def _remove_old_parts(path: Path) -> None:
    """Feedback files a killed import of an earlier version left as `<name>.part` (full ID numbers in them);
    today's temporaries are removed by canbao.outputs."""
    for final in (path, path.with_suffix(".csv")):
        final.with_name(f"{final.name}.part").unlink(missing_ok=True)


def write_feedback_files(
    report: ImportReport, job: Job, path: Path, progress: ProgressHook | None, files: OutputGroup
) -> None:
    """反馈 (per row) and 汇总 (counts); the full list also as CSV when it is too long for a workbook.

    Written as temporaries of `files` (canbao.outputs), which the caller publishes after the commit, so that
    a batch whose commit fails leaves no feedback claiming it was imported; no cell can run as a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    from canbao.reports.xlsx import text_cells

    _remove_old_parts(path)
    table = _feedback_frame(report.rows, job.kind)
    csv_path: Path | None = None
    shown = table
    if table.height > FEEDBACK_XLSX_MAX_ROWS:
        csv_path = path.with_suffix(".csv")
        csv_safe(table).write_csv(files.temporary(csv_path), include_bom=True)
        notable = (pl.col("结果") != "接收") | pl.col("原因").is_not_null()
        shown = table.filter(notable).head(FEEDBACK_XLSX_MAX_ROWS)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("反馈")
    widths = {"行号": 8, "姓名": 12, "身份证号码": 21, "原因": 60, "最终认定资助身份": 60}
    for i, header in enumerate(table.columns):
        sheet.column_dimensions[chr(ord("A") + i)].width = widths.get(header, 14)
    bold = Font(bold=True)

    def cell(value: Any) -> Any:
        c = WriteOnlyCell(sheet, value=value)
        c.font = bold
        return c

    sheet.append([cell(h) for h in table.columns])
    step = max(shown.height // 100, 1000)
    text = [c for c, t in shown.schema.items() if t == pl.String]
    risky = shown.select(pl.any_horizontal(formula_like(pl.col(c)) for c in text).fill_null(False)).to_series()
    for i, (row, quote) in enumerate(zip(shown.iter_rows(), risky, strict=True)):
        sheet.append(text_cells(sheet, row) if quote else list(row))
        if progress is not None and i % step == 0:
            progress(PHASE_FEEDBACK, i, shown.height)
    summary = workbook.create_sheet("汇总")
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 70
    if report.replayed:
        state = f"该文件此前已导入（批次 {report.batch_id}），本次未重复写入"
    elif report.committed:
        state = f"已导入（批次 {report.batch_id}）"
    else:
        state = "未导入：存在退回行，整批未写入，请修正后重新报送"
    lines: list[tuple[str, Any]] = [
        ("名单", job.source_text()),
        ("文件", report.file.name),
        ("文件 SHA-256", report.file_sha256),
        ("导入结果", state),
        ("总行数", report.rows_total),
        ("接收", report.accepted),
        ("退回", report.rejected),
        ("重复", report.duplicates),
    ]
    if report.header_row != 1:
        lines.append(("表头所在行", f"第 {report.header_row} 行（其上的标题行未读取）"))
    if report.skipped:
        lines.append(("跳过的合计或说明行（不是人员）", report.skipped_text()))
    if job.kind == KIND_DEPARTMENT:
        assert job.policy is not None
        lines += [
            ("已在其他名单中", report.already_listed),
            ("多重身份按最优资助认定（人）", report.dual_identities),
            ("身份不在政策资助范围（人）", report.not_covered),
            ("资助认定所依政策", f"{job.policy.policy}（{job.policy.notice.number}）"),
        ]
    else:
        lines += [("新登记人员", report.new_persons), ("更新人员信息", report.updated_persons)]
    if csv_path is not None:
        lines.append(
            (
                "说明",
                f"共 {table.height} 行，本工作簿只列出退回、重复及有提示的 {shown.height} 行；"
                f"全部行的反馈见 CSV 文件 {csv_path.name}（UTF-8，身份证号码列请按文本导入）",
            )
        )
    lines.append(("生成时间（北京时间）", local_time(now()).strftime("%Y-%m-%d %H:%M:%S")))
    summary.append([cell("项目"), cell("内容")])
    for key, value in lines:
        summary.append(text_cells(summary, [key, value]))  # the file's name is the sender's
    workbook.save(files.temporary(path))
    if progress is not None:
        progress(PHASE_FEEDBACK, shown.height, shown.height)
    report.feedback_path = path
    report.feedback_csv_path = csv_path
