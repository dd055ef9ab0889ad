"""The portal's background jobs: what each kind runs (a service) and what it keeps for the page.

A submission (名单报送) keeps, in its job's folder, the feedback workbook(s) the import wrote and the row
results as `rows.parquet` with ID numbers masked — the page pages and filters them without reading the file
sent again."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from canbao.ids import mask_id_numbers
from canbao.outputs import feedback_path
from canbao.services.imports import ImportReport
from canbao.services.jobs import JobContext, JobKind
from canbao.services.operations import apply_payment_file_as, open_season_as, reconcile_as
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
        "summary": report.summary(files=False),
        "files": files,
    }


def season_open(context: JobContext) -> dict[str, Any]:
    """开征 (services.operations)."""
    return open_season_as(
        context.engine, context.staff, context.params["policy"], today=context.today, folder=context.folder,
        progress=context.progress,
    )  # fmt: skip


def payment_file(context: JobContext) -> dict[str, Any]:
    """缴费文件入账 (services.operations): applied in chunks, each committed; a rerun replays what was applied."""
    p = context.params
    return apply_payment_file_as(
        context.engine, context.staff, p["policy"], Path(p["path"]), today=context.today, folder=context.folder,
        progress=context.progress,
    )  # fmt: skip


def reconciliation(context: JobContext) -> dict[str, Any]:
    """对账 (services.operations)."""
    p = context.params
    return reconcile_as(
        context.engine, context.staff, as_of=dt.date.fromisoformat(p["as_of"]), benefit_year=p.get("benefit_year"),
        files={k: [Path(v) for v in vs] for k, vs in p["files"].items()}, today=context.today,
        folder=context.folder, progress=context.progress,
    )  # fmt: skip


def cleanup(context: JobContext) -> dict[str, Any]:
    """重复参保及无效参保清理 (services.money_desk): the registers sent against the registry; 清理清单 kept."""
    from canbao.services.money_desk import cleanup_as

    p = context.params
    registers = {name: Path(path) if path else None for name, path in p["files"].items()}
    as_of = dt.date.fromisoformat(p["as_of"]) if p.get("as_of") else None
    return cleanup_as(
        context.engine, context.staff, benefit_year=p["benefit_year"], policy_id=p.get("policy"),
        registers=registers, as_of=as_of, today=context.today, folder=context.folder, progress=context.progress,
    )  # fmt: skip


PAYMENTS_INTERRUPTED = "服务器重启，任务中断：已入账的缴费保留，重新运行时按重复通知跳过，其余继续入账"
KINDS: dict[str, JobKind] = {
    "submission": JobKind("名单报送", submission),
    "season_open": JobKind("开征", season_open),
    "payment_file": JobKind("缴费文件入账", payment_file, interrupted=PAYMENTS_INTERRUPTED),
    "reconciliation": JobKind("对账", reconciliation),
    "cleanup": JobKind("重复参保及无效参保清理", cleanup),
}
