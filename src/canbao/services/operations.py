"""The county's long operations from the portal (issue 14): 开征 (season open), 缴费文件入账 (a payment file) and
对账 (reconciliation), each the same use case the CLI runs, with who may run it checked here:

| operation     | who                      | clause                       |
|---------------|--------------------------|------------------------------|
| season open   | county_admin             | 004 五(一) the bureau opens collection |
| payment file  | county_admin, tax        | 000 五 the tax bureau's collection data |
| reconciliation| county_admin, tax        | 000 五, 004 六               |

The portal runs them as background jobs (canbao.services.jobs); each writes its files into the job's folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.services.access import NotAllowed, Staff

OPERATION_ROLES = {
    "season_open": frozenset({"county_admin"}),
    "payment_file": frozenset({"county_admin", "tax"}),
    "reconciliation": frozenset({"county_admin", "tax"}),
}
OPERATION_LABELS = {"season_open": "开征", "payment_file": "缴费文件入账", "reconciliation": "对账"}
Progress = Callable[[int, int, str], None]


def check_may_run(staff: Staff, operation: str) -> None:
    if staff.role not in OPERATION_ROLES[operation]:
        raise NotAllowed(f"此账户不能{OPERATION_LABELS[operation]}")


def open_season_as(
    engine: Engine, staff: Staff, policy_id: str, *, today: dt.date, folder: Path, progress: Progress
) -> dict[str, object]:
    """开征 for the policy's benefit year; those not due, with the reason, go to 未列入应缴人员.csv."""
    from canbao.outputs import write_csv
    from canbao.services.season import open_season

    check_may_run(staff, "season_open")
    report = open_season(
        engine, policy_id, staff.actor, today=today, on_chunk=lambda done, total: progress(done, total, "测算应缴")
    )
    files = []
    if report.not_due.height:
        write_csv(report.not_due, folder / "未列入应缴人员.csv")
        files.append("未列入应缴人员.csv")
    return {
        "policy": report.policy, "benefit_year": report.benefit_year, "candidates": report.candidates,
        "due": report.due, "amount_due_fen": report.amount_due_fen, "not_due": report.not_due.height, "files": files,
    }  # fmt: skip


def apply_payment_file(
    engine: Engine,
    policy_id: str,
    path: Path,
    actor: str,
    *,
    report: Path,
    today: dt.date | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """A payment file (.parquet or .csv, the channels' notifications of a day) applied by
    :func:`canbao.services.payment_batch.apply_payments`, as `canbao season apply-payments` and the portal's job
    run it; every row's outcome written to `report` (CSV, each row with the file's name); the counts of its rows
    by outcome. `on_chunk(rows applied, rows)` after each chunk."""
    from canbao.outputs import write_csv
    from canbao.services.payment_batch import apply_payments
    from canbao.services.quote_batch import read_persons

    frame = read_persons(path, "file")
    if "amount_fen" in frame.columns:
        frame = frame.with_columns(pl.col("amount_fen").cast(pl.Int64, strict=False))
    total = frame.height
    result = apply_payments(
        engine, policy_id, frame, actor, today=today,
        on_chunk=None if on_chunk is None else lambda done: on_chunk(done, total),
    )  # fmt: skip
    write_csv(result.select(pl.lit(path.name).alias("file"), pl.all()), report)  # as the demo's outcome file
    counts = dict(result["outcome"].value_counts().rows())
    return {"rows": total, **{o: int(counts.get(o, 0)) for o in ("enrolled", "replayed", "refused")}}


def apply_payment_file_as(
    engine: Engine, staff: Staff, policy_id: str, path: Path, *, today: dt.date, folder: Path, progress: Progress
) -> dict[str, object]:
    """A payment file (the channels' notifications as a file) recorded; every row's outcome to 逐笔结果.csv."""
    check_may_run(staff, "payment_file")
    counts = apply_payment_file(
        engine, policy_id, path, staff.actor, report=folder / "逐笔结果.csv", today=today,
        on_chunk=lambda done, total: progress(done, total, "入账"),
    )  # fmt: skip
    return {**counts, "files": ["逐笔结果.csv"]}


def reconcile_as(
    engine: Engine,
    staff: Staff,
    *,
    as_of: dt.date,
    benefit_year: int | None,
    files: dict[str, list[Path]],
    today: dt.date,
    folder: Path,
    progress: Progress,
) -> dict[str, object]:
    """对账 of the files sent (`files`: tax, bank, collections, other_counties, deaths, employees, unit_aliases)
    against the registry; the clerk's workbook in the job's folder."""
    from canbao.services import reconcile as r

    check_may_run(staff, "reconciliation")
    year = benefit_year or r.latest_benefit_year(engine, as_of)
    if year is None:
        raise InputError("as_of", f"{as_of} 及以前没有任何参保缴费记录，请填写待遇年度")

    def one(name: str) -> Path | None:
        given = files.get(name) or []
        return given[0] if given else None

    steps = len(r.STEPS) - 1
    run = r.run_reconciliation(
        engine, as_of, year, folder, tax=one("tax"), bank=one("bank"), collections=files.get("collections", []),
        other_counties=files.get("other_counties", []), deaths=one("deaths"), employees=one("employees"),
        unit_aliases=one("unit_aliases"), today=today, on_step=lambda n: progress(n, steps, r.STEPS[n]),
    )  # fmt: skip
    result = run.result
    return {
        "benefit_year": year,
        "as_of": as_of.isoformat(),
        "counts": result.counts,
        "tests": {r.TEST_LABELS[t]: ok for t, ok in result.tests.items()},
        "findings": {r.KIND_LABELS[k]: n for k, n in result.by_kind().items() if n},
        "files": [run.path.name],
    }
