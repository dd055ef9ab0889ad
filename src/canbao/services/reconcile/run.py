"""The use case: read the files, match them with the registry, write the workbook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.services.cleanup import cleanup_list, cleanup_sheets, read_register
from canbao.services.reconcile.files import read_many, read_other_counties
from canbao.services.reconcile.matching import reconcile
from canbao.services.reconcile.model import Reconciliation
from canbao.services.reconcile.registry import list_findings, load_registry, policy_of_year, with_places
from canbao.services.reconcile.workbook import write_reconciliation

# ---------------------------------------------------------------------------------------------------- use case

STEPS = ("读取税务、银行和代收单位文件", "读取医保参保登记", "逐笔比对", "写出明细工作簿", "完成")


@dataclass(frozen=True)
class ReconciliationRun:
    result: Reconciliation
    cleanup: pl.DataFrame | None  # the dead and doubly insured still enrolled or chased, when registers were given
    path: Path  # the clerk's workbook


def run_reconciliation(
    engine: Engine,
    as_of: dt.date,
    benefit_year: int,
    out: Path,
    *,
    tax: Path | None = None,
    bank: Path | None = None,
    collections: list[Path] | None = None,
    other_counties: list[Path] | None = None,
    deaths: Path | None = None,
    employees: Path | None = None,
    policy_id: str | None = None,
    on_step: Callable[[int], None] | None = None,
    today: dt.date | None = None,
) -> ReconciliationRun:
    """Read the files, match them with the registry, and write the workbook (with the clean-up of the dead
    and the doubly insured when their registers are given); `on_step(n)` after each of STEPS."""
    step = on_step or (lambda n: None)
    today = today or as_of  # the registers' dates may not lie after it
    files = {
        "tax": read_many([tax] if tax else [], "tax", "--tax"),
        "bank": read_many([bank] if bank else [], "bank", "--bank"),
        "units": read_many(collections or [], "collecting_unit", "--collections"),
        "other_counties": read_other_counties(other_counties or [], today),
    }
    step(1)
    registry = load_registry(engine, benefit_year)
    step(2)
    result = with_places(engine, reconcile(registry, as_of, **files))
    step(3)
    extra: dict[str, pl.DataFrame] = {}
    cleanup = None
    if deaths or employees:
        policy_id = policy_id or policy_of_year(engine, benefit_year)
        cleanup = cleanup_list(
            engine,
            policy_id,
            deaths=read_register(deaths, "deaths", today) if deaths else None,
            employees=read_register(employees, "employee_insurance", today) if employees else None,
            as_of=as_of,
            today=today,
        )
        extra = {f"清理-{name}": sheet for name, sheet in cleanup_sheets(cleanup, policy_id, as_of).items()}
    path = out / f"对账-{benefit_year}年度-截至{as_of}.xlsx"
    write_reconciliation(path, result, list_findings(engine), extra)
    step(4)
    return ReconciliationRun(result, cleanup, path)
