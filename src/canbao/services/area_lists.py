"""The lists a member of staff downloads for their own area (issue 14): the 催缴清单 of those still owing and the
入户排查 list of last year's enrollees not renewed (004 五(三)), scoped by canbao.services.access.

They are the CLI's lists (canbao.services.season.due_list, canbao.services.progress.not_renewed) with the
area's condition and the ID numbers masked: a clerk finds the person by name, phone and the masked number's
ends; the full number is on the person's page, for the county roles, as an audited look. A county role may
narrow a list to one township; a township or village user always gets their own area.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.ids import mask_id_numbers
from canbao.services.access import NotAllowed, Staff, person_in_area
from canbao.services.progress import not_renewed, write_not_renewed
from canbao.services.season import due_list, write_due_lists

LIST_ROLES = frozenset({"county_admin", "tax", "township", "village"})


def _township(staff: Staff, township: str | None) -> str | None:
    """The township filter a county role asked for; for the others none (their area condition decides)."""
    if staff.role not in LIST_ROLES:
        raise NotAllowed("学校和认定部门的账户没有催缴清单和入户排查名单")
    return township if staff.county_wide else None


def _masked(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(mask_id_numbers(pl.col("id_number")).alias("id_number"))


def area_due_lists(
    engine: Engine, staff: Staff, benefit_year: int, out: Path, township: str | None = None
) -> list[Path]:
    """The due lists of the staff's area: one workbook per township (so one for a township or village user),
    ID numbers masked; no file when nobody there owes."""
    filtered = _township(staff, township)
    frame = _masked(due_list(engine, benefit_year, township=filtered, area=person_in_area(staff)))
    if frame.is_empty():
        return []
    return write_due_lists(frame, out, by="township")


def area_not_renewed(
    engine: Engine, staff: Staff, benefit_year: int, as_of: dt.date, out: Path, township: str | None = None
) -> list[Path]:
    """The door-to-door lists of the staff's area: one workbook per township, a sheet per village, ID numbers
    masked; no file when everyone renewed."""
    filtered = _township(staff, township)
    frame = _masked(not_renewed(engine, benefit_year, as_of, area=person_in_area(staff)))
    if filtered is not None:
        frame = frame.filter(pl.col("township") == filtered)
    if frame.is_empty():
        return []
    return write_not_renewed(frame, out, benefit_year, as_of)
