"""The use case: read the files, match them with the registry, write the workbook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.services.cleanup import cleanup_list, cleanup_sheets, read_register
from canbao.services.reconcile.files import read_many, read_other_counties, read_unit_aliases
from canbao.services.reconcile.matching import reconcile
from canbao.services.reconcile.model import CLEARING_DAYS, Reconciliation
from canbao.services.reconcile.registry import (
    list_findings,
    load_refunds,
    load_registry,
    policies_of_year,
    with_places,
)
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
    unit_aliases: Path | Mapping[str, str] | None = None,
    clearing_days: int = CLEARING_DAYS,
    today: dt.date | None = None,
    on_step: Callable[[int], None] | None = None,
) -> ReconciliationRun:
    """Read the files, match them with the registry (its payments and refunds of `benefit_year`, under every
    policy of the year), and write the workbook (with the clean-up of the dead and the doubly insured when
    their registers are given); `on_step(n)` after each of STEPS.

    `unit_aliases` names collecting units otherwise (a mapping, or a file read by :func:`read_unit_aliases`);
    `clearing_days` is how long money may be in transit between the tax bureau and the bank (CLEARING_DAYS);
    `today` bounds the registers' dates (default: `as_of`).  The answer depends on `as_of` and the
    registry only, not on the day it is asked.  The clean-up answers per policy of the year, or for
    `policy_id` alone when given.  Errors name the parameter a file came in (``tax``, ``bank``, …)."""
    step = on_step or (lambda n: None)
    today = today or as_of  # the registers' dates may not lie after it
    aliases = read_unit_aliases(unit_aliases) if isinstance(unit_aliases, Path) else unit_aliases
    files = {
        "tax": read_many([tax] if tax else [], "tax", "tax"),
        "bank": read_many([bank] if bank else [], "bank", "bank"),
        "units": read_many(collections or [], "collecting_unit", "collections"),
        "other_counties": read_other_counties(other_counties or [], today, "other_counties"),
    }
    registers = {
        "deaths": _register(deaths, "deaths", "deaths", today),
        "employees": _register(employees, "employee_insurance", "employees", today),
    }
    step(1)
    registry = load_registry(engine, benefit_year)
    refunds = load_refunds(engine, benefit_year)
    step(2)
    matched = reconcile(registry, as_of, **files, refunds=refunds, unit_aliases=aliases, clearing_days=clearing_days)
    result = with_places(engine, matched)
    step(3)
    extra: dict[str, pl.DataFrame] = {}
    cleanup = None
    if deaths or employees:
        policies = [policy_id] if policy_id else policies_of_year(engine, benefit_year)
        if not policies:
            raise InputError("benefit_year", f"{benefit_year} 年度没有参保记录，无法核对死亡和职工医保名单")
        lists = []
        for n, policy in enumerate(policies, start=1):
            found = cleanup_list(engine, policy, **registers, as_of=as_of, today=today)
            lists.append(found)
            prefix = "清理-" if len(policies) == 1 else f"清理{n}-"
            extra |= {f"{prefix}{name}": sheet for name, sheet in cleanup_sheets(found, policy, as_of).items()}
        cleanup = pl.concat(lists).sort("township", "village", "id_number", "register", nulls_last=True)
    path = out / f"对账-{benefit_year}年度-截至{as_of}.xlsx"
    write_reconciliation(path, result, list_findings(engine, as_of), extra)
    step(4)
    return ReconciliationRun(result, cleanup, path)


def _register(path: Path | None, kind: str, field: str, today: dt.date) -> pl.DataFrame | None:
    if path is None:
        return None
    try:
        return read_register(path, kind, today)
    except InputError as exc:
        raise InputError(field, exc.message) from None
