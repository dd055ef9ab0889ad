"""Who was enrolled last year, and what the lists certify of a person: one definition for renewal, progress,
the not-renewed list, the summary and the season's due records (001 六(三), 003 三(五)2).

Enrolled in the year before a benefit year Y: an enrollment of Y − 1 in the registry (whatever became of it
later), or a row accepted from an imported roster of Y − 1's enrollees (``canbao import roster``; a roster
imported before migration 0007 has no year and is taken as last year's).  The roster writes no enrollment:
the query reads the persons it registered (import_rows.person_id of its batch), so the import need not know.

Certified: the identity categories of the department lists valid on a date, and the household role the
household lists give (004 二(三)); the rules engine resolves them to the single most favourable subsidy
(canbao.rules.contribution.best_subsidy), as the imports and the season do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, Select, or_, select, union

from canbao.policy import Policy
from canbao.rules.contribution import household_roles
from canbao.store.tables import enrollments, identity_memberships, import_batches, import_rows

MEMBERSHIP_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int64(),
    "category": pl.String(),
    "household_role": pl.String(),
    "batch_id": pl.Int64(),
}


def last_year_select(benefit_year: int, ids: tuple[int, int] | None = None) -> Select[tuple[int]]:
    """person_id of everyone enrolled in the year before `benefit_year` (see the module docstring), as SQL
    for the database to join and count; `ids`: only person ids within this range (both ends included)."""
    last = benefit_year - 1
    in_registry = select(enrollments.c.person_id.label("person_id")).where(enrollments.c.benefit_year == last)
    on_roster = (
        select(import_rows.c.person_id.label("person_id"))
        .join(import_batches, import_batches.c.id == import_rows.c.batch_id)
        .where(
            import_batches.c.kind == "roster",
            import_rows.c.outcome == "accepted",
            import_rows.c.person_id.is_not(None),
            or_(import_batches.c.benefit_year == last, import_batches.c.benefit_year.is_(None)),
        )
    )
    if ids is not None:
        in_registry = in_registry.where(enrollments.c.person_id.between(*ids))
        on_roster = on_roster.where(import_rows.c.person_id.between(*ids))
    return select(union(in_registry, on_roster).subquery().c.person_id)


def enrolled_last_year(c: Connection, person_id: int, benefit_year: int) -> bool:
    """Whether the person was enrolled in the year before `benefit_year` (the same query as everywhere)."""
    return c.execute(last_year_select(benefit_year, (person_id, person_id)).limit(1)).first() is not None


def memberships_select(on: dt.date, ids: tuple[int, int] | None = None) -> Select[tuple[int, str, str, int]]:
    """The identity memberships valid on `on` (person_id, category, household_role, batch_id)."""
    m = identity_memberships.c
    query = (
        select(m.person_id, m.category, m.household_role, m.batch_id)
        .where(or_(m.valid_from.is_(None), m.valid_from <= on))
        .where(or_(m.valid_to.is_(None), m.valid_to >= on))
    )
    return query if ids is None else query.where(m.person_id.between(*ids))


@dataclass(frozen=True)
class Certified:
    """What the lists certify of one person on a date."""

    categories: list[str]
    household_role: str | None


def certified_on(c: Connection, person_id: int, on: dt.date, policy: Policy) -> Certified:
    """The person's certified categories valid on `on` and the household role their household lists give."""
    rows = c.execute(memberships_select(on, (person_id, person_id))).all()
    listed = pl.DataFrame([tuple(r) for r in rows], schema=MEMBERSHIP_SCHEMA, orient="row")
    roles = household_roles(listed, policy)["household_role"].to_list()
    return Certified(sorted(set(listed["category"].to_list())), roles[0] if roles else None)
