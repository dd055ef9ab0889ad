"""The portal's background jobs: what each kind runs (a service) and what it keeps for the page.

A submission (名单报送) keeps, in its job's folder, the feedback workbook(s) the import wrote and the row
results as `rows.parquet` with ID numbers masked — the page pages and filters them without reading the file
sent again."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import polars as pl

from canbao.ids import mask_id_numbers
from canbao.outputs import feedback_path
from canbao.services.imports import ImportReport
from canbao.services.jobs import JobContext, JobKind
from canbao.services.submissions import KIND_LABELS, Submission, send_list

ROWS_FILE = "rows.parquet"
ROW_COLUMNS = ("row_number", "name", "id_number", "category", "outcome", "reason", "resolved")


def _rows(report: ImportReport) -> pl.DataFrame:
    rows = report.rows
    present = [c for c in ROW_COLUMNS if c in rows.columns]
    frame = rows.select(present)
    if "id_number" in frame.columns:
        frame = frame.with_columns(mask_id_numbers(pl.col("id_number").cast(pl.String)).alias("id_number"))
    return frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns if c != "row_number")


def submission(context: JobContext) -> dict[str, Any]:
    """名单报送: the list imported as `staff` (services.submissions), its rows and feedback kept."""
    p = context.params
    feedback = context.folder / feedback_path(Path(p["file_name"])).name
    report = send_list(
        context.engine,
        context.staff,
        Submission(**p["submission"]),
        Path(p["path"]),
        today=context.today,
        feedback_path=feedback,
        accept_valid=bool(p.get("accept_valid")),
        progress=lambda stage, done, total: context.progress(done, total, stage),
    )
    kind = p["submission"]["kind"]
    result: dict[str, Any] = {"kind": kind, "kind_label": KIND_LABELS[kind], "file_name": p["file_name"]}
    if not isinstance(report, ImportReport):  # targets and e-voucher records: all or nothing, no row feedback
        return result | {"committed": True, **dataclasses.asdict(report)}
    _rows(report).write_parquet(context.folder / ROWS_FILE)
    files = [f.name for f in (report.feedback_path, report.feedback_csv_path) if f is not None and f.exists()]
    return result | {
        "committed": report.committed,
        "replayed": report.replayed,
        "batch_id": report.batch_id,
        "rows_total": report.rows_total,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "duplicates": report.duplicates,
        "new_persons": report.new_persons,
        "not_covered": report.not_covered,
        "skipped": report.skipped_text(),
        "summary": report.summary(),
        "files": files,
    }


KINDS: dict[str, JobKind] = {"submission": JobKind("名单报送", submission)}
