"""The dashboard's figures (工作台, issue 14): progress against the targets for the caller's area and the levels
below it, from :func:`canbao.services.progress.progress`, cached.

Who sees which rows (:func:`canbao.services.access.place_in_area`): the county roles the county row, every
township and every village (the unplaced ones too, （未填乡镇）); a township its row and its villages'; a
village its own row; schools and departments have no dashboard (NotAllowed).  Village rows carry the rank in
the county (`rank`, 004 七(四) 每周统计公布各村参保缴费进度) and in their township (`township_rank`).

Caching.  `canbao progress` takes 3.7 s at 1.1 M persons, so a view must not recompute it: the report is
kept per (database URL, benefit year, as_of) with the data stamp it was computed under, and recomputed only
when the stamp has changed.  The stamp is a handful of index-only reads (`max(id)` and the like, one round
trip) that change whenever a write could change the report:

- a payment, a payment file, an enrollment: new `enrollments` rows (and persons, ledger entries);
- a refund, a suspension, a termination change an enrollment in place: the refund appends `ledger_entries`,
  and every one of them — as every use case — writes an audit line after its transaction has committed;
- a roster import (which updates known persons' township and village) or a list import: a new
  `import_batches` row, and an audit line in the batch's transaction;
- a targets import replaces the year's rows (on SQLite new rows may reuse the old ids): its `imported_at`
  and row count per year; e-voucher records: new `e_voucher_activations` rows.

The audit log part is the newest line that is not one of the portal's reads (`READ_ACTIONS`: a person
viewed, an ID revealed, a login…), so that looking at persons does not throw the dashboard away, plus the
number of such lines among the 1,000 ids below it: on PostgreSQL ids are drawn before commit, so a
transaction may commit a line below the newest one; the count sees it.  A stamp is read *before* the report
is computed, so a write that commits during the computation leaves a stamp that differs next time: a report
may be cached under a stamp older than its data (one needless recomputation), never under a newer one.
A year without targets is refused from the stamp (its count of the year's targets), before any counting.

Limits: the report counts the whole registry (as `canbao progress` does), so a county role of a database
holding several counties sees them all; while payments stream in, each write makes the next view recompute
(3.7 s at county size) and the views meanwhile get the report before; a long run of the portal's reads after
the last write makes the audit part of the stamp scan back over them.

Single flight: one lock per key; the first view of a changed key computes, the views of the same key that
come meanwhile wait for it when nothing was cached yet, or are answered with the report cached before (one
write behind) rather than wait 3.7 s.  At most `CACHE_SIZE` keys are kept (least recently used dropped).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.sql import ColumnElement

from canbao.errors import InputError
from canbao.services.access import NotAllowed, Staff, place_in_area
from canbao.services.progress import Progress, progress
from canbao.store.tables import (
    audit_log,
    e_voucher_activations,
    enrollments,
    identity_memberships,
    import_batches,
    ledger_entries,
    persons,
    targets,
)

CACHE_SIZE = 32
AUDIT_WINDOW = 1_000
READ_ACTIONS: tuple[str, ...] = (
    "login",
    "logout",
    "person_view",
    "person_search",
    "id_reveal",
    "out_of_area",
    "user_add",
    "user_disable",
    "user_enable",
    "user_password",
    "purge",
)
"""Audit actions that change nothing the progress report reads (the portal's reads and its accounts)."""

FIGURES: tuple[str, ...] = (
    "enrollment_target",
    "enrolled",
    "enrolled_last_week",
    "enrolled_this_week",
    "enrollment_rate_bp",
    "enrollment_rate_change_bp",
    "last_year",
    "renewed",
    "renewal_rate_bp",
    "e_voucher_target",
    "activated",
    "e_voucher_rate_bp",
)
"""The figures of every dashboard row (ints, or null: a place without a target has no rate)."""


# ------------------------------------------------------------------------------------------------ stamp


_GROWING = (enrollments, ledger_entries, persons, import_batches, identity_memberships, e_voucher_activations, targets)


_TARGET_ROWS = len(_GROWING)  # the stamp's count of the year's targets


def data_stamp(engine: Engine, benefit_year: int) -> tuple[Any, ...]:
    """What the progress report of `benefit_year` was computed from, cheaply (see the module docstring)."""
    a = audit_log.c
    writes = a.action.not_in(READ_ACTIONS)
    newest_write = select(a.id).where(writes).order_by(a.id.desc()).limit(1).scalar_subquery()
    near_writes = (
        select(func.count())
        .select_from(audit_log)
        .where(a.id > newest_write - AUDIT_WINDOW, a.id <= newest_write, writes)
        .scalar_subquery()
    )
    t = targets.c
    year = t.benefit_year == benefit_year
    parts: list[ColumnElement[Any]] = [
        *(select(func.max(table.c.id)).scalar_subquery() for table in _GROWING),
        select(func.count()).select_from(targets).where(year).scalar_subquery(),
        select(func.max(t.imported_at)).where(year).scalar_subquery(),
        newest_write,
        near_writes,
    ]
    with engine.connect() as c:
        row = c.execute(select(*parts)).one()
    return tuple(row)


# ------------------------------------------------------------------------------------------------ cache


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[Any, ...]
    report: Progress
    rows: list[dict[str, Any]]  # every row of the report (county, townships, villages), made once


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    cached: _Cached | None = None  # replaced whole: a reader never sees one report with another's rows


_entries: OrderedDict[tuple[str, int, dt.date], _Entry] = OrderedDict()
_entries_lock = threading.Lock()


def _entry(key: tuple[str, int, dt.date]) -> _Entry:
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry()
            while len(_entries) > CACHE_SIZE:
                _entries.popitem(last=False)
        else:
            _entries.move_to_end(key)
        return entry


def clear_cache() -> None:
    """Forget every cached report (tests; a front end never needs to)."""
    with _entries_lock:
        _entries.clear()


def _cached(engine: Engine, benefit_year: int, as_of: dt.date) -> _Cached:
    """The cached report and its rows, recomputed when the stamp has changed (see the module docstring)."""
    key = (engine.url.render_as_string(hide_password=True), benefit_year, as_of)
    entry = _entry(key)
    stamp = data_stamp(engine, benefit_year)
    if stamp[_TARGET_ROWS] == 0:  # refused before the 3.7 s of counting, as progress() would after it
        raise InputError("benefit_year", f"尚未导入 {benefit_year} 年度的任务分解表（canbao targets import）")
    cached = entry.cached
    if cached is not None and cached.stamp == stamp:
        return cached
    if cached is not None:
        if not entry.lock.acquire(blocking=False):
            return cached  # another view is computing it: the report of one write before, not a 3.7 s wait
    else:
        entry.lock.acquire()
    try:
        stamp = data_stamp(engine, benefit_year)  # again: whoever held the lock may have computed it
        if entry.cached is not None and entry.cached.stamp == stamp:
            return entry.cached
        report = progress(engine, benefit_year, as_of)
        rows = _rows(report.county, "county") + _rows(report.townships, "township") + _rows(report.villages, "village")
        entry.cached = _Cached(stamp, report, rows)
        return entry.cached
    finally:
        entry.lock.release()


# ------------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Dashboard:
    benefit_year: int
    as_of: dt.date
    week_before: dt.date
    rows: list[dict[str, Any]]  # level, township, village, rank, township_rank, FIGURES


def _rows(frame: pl.DataFrame, level: str) -> list[dict[str, Any]]:
    out = []
    for r in frame.iter_rows(named=True):
        out.append(
            {
                "level": level,
                "township": r.get("township"),
                "village": r.get("village"),
                "rank": r.get("rank"),
                "township_rank": r.get("township_rank"),
                **{name: r.get(name) for name in FIGURES},
            }
        )
    return out


def dashboard_rows(engine: Engine, staff: Staff, benefit_year: int, as_of: dt.date) -> Dashboard:
    """The progress rows of `staff`'s area and the levels below it (see the module docstring), cached."""
    if staff.role in ("school", "department"):
        raise NotAllowed("学校、认定部门的账号没有参保进度工作台")
    cached = _cached(engine, benefit_year, as_of)
    report = cached.report
    rows = [
        dict(r)  # a copy: the cached rows are every view's
        for r in cached.rows
        if staff.county_wide or (r["level"] != "county" and place_in_area(staff, r["township"], r["village"]))
    ]
    return Dashboard(report.benefit_year, report.as_of, report.week_before, rows)


# ------------------------------------------------------------------------------------------- benefit years


@dataclass(frozen=True)
class BenefitYears:
    years: list[int]  # newest first
    default: int | None  # the newest year with targets, else the newest with enrollments
    today: dt.date


def _distinct_years(engine: Engine, column: Any) -> list[int]:
    """The distinct years of an indexed column, one index probe each (a loose index scan)."""
    found: list[int] = []
    with engine.connect() as c:
        while True:
            query = select(func.min(column))
            if found:
                query = query.where(column > found[-1])
            year = c.execute(query).scalar()
            if year is None:
                return found
            found.append(int(year))


def benefit_years(engine: Engine, today: dt.date) -> BenefitYears:
    """The benefit years the dashboard can show: with targets or with enrollments, newest first."""
    with_targets = _distinct_years(engine, targets.c.benefit_year)
    with_enrollments = _distinct_years(engine, enrollments.c.benefit_year)
    years = sorted(set(with_targets) | set(with_enrollments), reverse=True)
    default = max(with_targets) if with_targets else (max(with_enrollments) if with_enrollments else None)
    return BenefitYears(years, default, today)


def default_benefit_year(engine: Engine, today: dt.date) -> int:
    """The year a dashboard opens on; InputError when the database has neither targets nor enrollments."""
    year = benefit_years(engine, today).default
    if year is None:
        raise InputError("benefit_year", "尚无任务分解表或参保记录，无法显示参保进度（请先导入任务分解表）")
    return year
