"""The registry's side of the reconciliation, read from the database: the benefit year's payments, the names and
places of the persons in the findings, the year's policy and season, and what the department lists' imports
found."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from canbao.errors import InputError
from canbao.services.reconcile.model import REFUND_SCHEMA, REGISTRY_SCHEMA, Reconciliation
from canbao.store.arrow import read_arrow_many
from canbao.store.tables import (
    enrollments,
    identity_memberships,
    import_batches,
    import_rows,
    ledger_entries,
    persons,
)
from canbao.vocabulary import CATEGORY_LABELS, DEPARTMENT_LABELS

# ---------------------------------------------------------------------------------------------------- registry


def load_registry(engine: Engine, benefit_year: int) -> pl.DataFrame:
    """The registry's side: every payment entry of the benefit year with its enrollment's day and liveness
    and its person's ID number (REGISTRY_SCHEMA; names and places are added to findings by `with_places`).

    Three plain scans (store.arrow) joined in Polars: at a million payments a join in SQLite walks an index
    row by row, seconds more."""
    year = int(benefit_year)
    plus = "+" if engine.dialect.name == "sqlite" else ""  # SQLite: scan, do not walk an index row by row
    ledger, enrolled, people = read_arrow_many(
        engine,
        [
            (
                "SELECT channel_txn_id AS txn_id, amount_fen, enrollment_id, person_id, "
                "CASE WHEN channel IN ('collecting_unit', 'school') THEN collecting_unit END AS collected_by, "
                f"channel FROM ledger_entries WHERE {plus}kind = 'payment'",
                {"txn_id": pl.String(), "amount_fen": pl.Int64(), "enrollment_id": pl.Int64(),
                 "person_id": pl.Int64(), "collected_by": pl.String(), "channel": pl.String()},
            ),
            (
                f"SELECT id AS enrollment_id, paid_on, live FROM enrollments WHERE {plus}benefit_year = {year} "
                "ORDER BY id",
                {"enrollment_id": pl.Int64(), "paid_on": pl.Date(), "live": pl.Boolean()},
            ),
            (
                "SELECT id AS person_id, id_number FROM persons ORDER BY id",
                {"person_id": pl.Int64(), "id_number": pl.String()},
            ),
        ],
    )  # fmt: skip
    # Both come in id order (a rowid scan on SQLite): sorted keys make the joins merge joins.
    enrolled = enrolled.with_columns(pl.col("enrollment_id").set_sorted())
    people = people.with_columns(pl.col("person_id").set_sorted())
    frame = (
        ledger.sort("enrollment_id")
        .join(enrolled, on="enrollment_id", how="inner")
        .sort("person_id")
        .join(people, on="person_id", how="left")
    )
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("name", "township", "village")).select(
        list(REGISTRY_SCHEMA)
    )


def with_places(engine: Engine, result: Reconciliation) -> Reconciliation:
    """Fill in the registry's name, township and village of the persons in the findings (the few rows a
    clerk works through; the matching itself needs only ID numbers)."""
    ids = result.findings["id_number"].drop_nulls().unique().to_list()
    if not ids:
        return result
    p = persons.c
    schema = {"id_number": pl.String, "_name": pl.String, "_township": pl.String, "_village": pl.String}
    rows: list[tuple[Any, ...]] = []
    with engine.connect() as c:
        for start in range(0, len(ids), 5_000):
            query = select(p.id_number, p.name, p.township, p.village).where(
                p.id_number.in_(ids[start : start + 5_000])
            )
            rows.extend(tuple(r) for r in c.execute(query))
    known = pl.DataFrame(rows, schema=schema, orient="row")
    findings = (
        result.findings.join(known, on="id_number", how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("name", "_name").alias("name"),
            pl.coalesce("township", "_township").alias("township"),
            pl.coalesce("village", "_village").alias("village"),
        )
        .drop("_name", "_township", "_village")
    )
    return Reconciliation(result.as_of, findings, result.daily, result.counts, result.tests)


def load_refunds(engine: Engine, benefit_year: int) -> pl.DataFrame:
    """The registry's refunds of the benefit year (REFUND_SCHEMA): per refunded enrollment the sum of its
    refund entries (a correction is an entry of the opposite sign) and its person's ID number."""
    le, e, p = ledger_entries.c, enrollments.c, persons.c
    query = (
        select(
            le.enrollment_id,
            p.id_number,
            func.sum(le.amount_fen).label("refund_fen"),
            func.min(e.ended_on).label("refunded_on"),
        )
        .join(enrollments, e.id == le.enrollment_id)
        .join(persons, p.id == le.person_id)
        .where(le.kind == "refund", e.benefit_year == int(benefit_year))
        .group_by(le.enrollment_id, p.id_number)
        .order_by(le.enrollment_id)
    )
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(query)]
    return pl.DataFrame(rows, schema=REFUND_SCHEMA, orient="row").filter(pl.col("refund_fen") != 0)


def policies_of_year(engine: Engine, benefit_year: int) -> list[str]:
    """The policies the benefit year's enrollments were quoted under, sorted (a county has one a year; a
    registry that also holds a payment under another county's policy of the year has two)."""
    e = enrollments.c
    with engine.connect() as c:
        found = [str(r[0]) for r in c.execute(select(e.policy).where(e.benefit_year == benefit_year).distinct())]
    return sorted(found)


def policy_of_year(engine: Engine, benefit_year: int) -> str:
    """The one policy the benefit year's enrollments were quoted under; refused when there is none or more
    than one (the reconciliation itself needs none: it takes every policy of the year)."""
    found = policies_of_year(engine, benefit_year)
    if len(found) != 1:
        words = "没有参保记录" if not found else f"有多个政策（{'、'.join(found)}）"
        raise InputError("policy_id", f"{benefit_year} 年度{words}，请指定政策")
    return found[0]


def latest_benefit_year(engine: Engine, as_of: dt.date) -> int | None:
    """The benefit year of the newest enrollment paid on or before `as_of`: what a clerk means by "this
    season" when they give only a date."""
    e = enrollments.c
    with engine.connect() as c:
        year = c.execute(
            select(e.benefit_year).where(e.paid_on <= as_of).order_by(e.paid_on.desc(), e.id.desc()).limit(1)
        ).scalar()
    return int(year) if year is not None else None


# ---------------------------------------------------------------------------------------------------- lists


def list_findings(engine: Engine, as_of: dt.date) -> pl.DataFrame:
    """What the department lists' imports found (000 六(四)): rows refused (a wrong check digit …), rows given
    twice, and persons certified by more than one department (resolved to the most favourable subsidy; the
    departments should know) as of `as_of`: a membership that ended before it does not count, so the answer
    for a date does not change with the day it is asked.  Columns: kind, file, row, id_number, name, detail."""
    r, b, m, p = import_rows.c, import_batches.c, identity_memberships.c, persons.c
    schema = {
        "kind": pl.String(),
        "file": pl.String(),
        "row": pl.Int64(),
        "id_number": pl.String(),
        "name": pl.String(),
        "detail": pl.String(),
    }
    with engine.connect() as c:
        rows = pl.read_database(
            select(b.file_name.label("file"), r.row_number.label("row"), r.id_number, r.outcome, r.reason)
            .join(import_batches, b.id == r.batch_id)
            .where(b.kind == "department_list", r.outcome != "accepted")
            .order_by(b.id, r.row_number),
            c,
            schema_overrides={
                "file": pl.String,
                "row": pl.Int64,
                "id_number": pl.String,
                "outcome": pl.String,
                "reason": pl.String,
            },
        )
        held = pl.read_database(
            select(m.person_id, m.category, m.department, p.id_number, p.name)
            .join(persons, p.id == m.person_id)
            .where(m.valid_to.is_(None) | (m.valid_to >= as_of)),
            c,
            schema_overrides={
                "person_id": pl.Int64,
                "category": pl.String,
                "department": pl.String,
                "id_number": pl.String,
                "name": pl.String,
            },
        )
    refused = rows.select(
        pl.when(pl.col("outcome") == "duplicate")
        .then(pl.lit("list_duplicate"))
        .otherwise(pl.lit("list_rejected"))
        .alias("kind"),
        "file",
        "row",
        "id_number",
        pl.lit(None, dtype=pl.String).alias("name"),
        pl.col("reason").alias("detail"),
    )
    label = pl.col("category").replace_strict(CATEGORY_LABELS, default=pl.col("category"))
    department = pl.col("department").replace_strict(DEPARTMENT_LABELS, default=pl.col("department"))
    dual = (
        held.unique(["person_id", "category", "department"])
        .filter(pl.col("department").n_unique().over("person_id") > 1)
        .sort("person_id", "department", "category")
        .group_by("person_id", maintain_order=True)
        .agg(
            pl.col("id_number").first(),
            pl.col("name").first(),
            pl.format("{}（{}）", label, department).str.join("、").alias("detail"),
        )
        .select(
            pl.lit("dual_identity").alias("kind"),
            pl.lit(None, dtype=pl.String).alias("file"),
            pl.lit(None, dtype=pl.Int64).alias("row"),
            "id_number",
            "name",
            pl.format("同时在多个部门名单中：{}；按最优资助认定一种身份", pl.col("detail")).alias("detail"),
        )
    )
    return pl.concat([refused.cast(schema), dual.cast(schema)])  # type: ignore[arg-type]
