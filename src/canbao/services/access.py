"""Who a member of staff is, and the part of the county they may see (issue 14).

| role         | area                                                                    |
|--------------|-------------------------------------------------------------------------|
| county_admin | the county (every person of the registry when the account has no county) |
| tax          | the county, as county_admin                                             |
| township     | the persons registered in its township                                  |
| village      | the persons registered in its village of its township                   |
| school       | the students its school rosters entered (import_batches kind school)    |
| department   | the persons on its certified lists (identity_memberships.department)    |

A person with no township is seen only by the county roles; one with a township but no village by the
county roles and that township's clerks. Scoping is done here, where data is read, by every service a page,
an export or an API call goes through; a front end never filters for itself.
A record outside the caller's area is `OutOfArea` — "not found", the same answer as a record that does not
exist, so that an edited URL learns nothing — and the attempt is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, false, select, true
from sqlalchemy.sql import ColumnElement

from canbao.errors import CanbaoError
from canbao.services.imports.report import KIND_SCHOOL
from canbao.services.progress import NO_TOWNSHIP, NO_VILLAGE
from canbao.store.tables import identity_memberships, import_batches, import_rows, persons
from canbao.store.uow import audit
from canbao.vocabulary import DEPARTMENT_LABELS, ROLE_LABELS, Role

COUNTY_ROLES: frozenset[str] = frozenset({"county_admin", "tax"})


@dataclass(frozen=True)
class Staff:
    """A signed-in member of staff: the account and its area."""

    user_id: int
    username: str
    role: Role
    county: str | None = None  # division code; None: the whole registry of this database
    township: str | None = None
    village: str | None = None
    school: str | None = None
    department: str | None = None  # a vocabulary Department id

    @property
    def county_wide(self) -> bool:
        return self.role in COUNTY_ROLES

    @property
    def actor(self) -> str:
        """The actor written to the ledger and the audit log."""
        return self.username

    @property
    def area_label(self) -> str:
        """The area as the page header says it: 县医保局, 乡镇（街道） · 某某镇, 认定部门 · 民政局 (a department by its
        Chinese name)."""
        department = DEPARTMENT_LABELS.get(self.department or "", self.department)
        place = " ".join(p for p in (self.township, self.village, self.school, department) if p)
        return f"{ROLE_LABELS[self.role]}{' · ' + place if place else ''}"


class OutOfArea(CanbaoError):
    """Not found for this member of staff: it does not exist or lies outside their area (HTTP 404)."""

    def __init__(self, what: str = "记录") -> None:
        super().__init__(f"未找到该{what}")


class NotAllowed(CanbaoError):
    """The role may not do this at all (HTTP 403), e.g. a village clerk opening the audit log."""


# ------------------------------------------------------------------------------------------------ the area
#
# One SQL condition over `persons` per member of staff (the table above); every read of persons for staff
# (search, a person's page, a list, an export) puts it in its WHERE clause, and nothing else decides.


def person_in_area(staff: Staff) -> ColumnElement[bool]:
    """The persons `staff` may see, as a condition over the `persons` table.

    Every role is held to `staff.county` when the account has one.  A township (village) clerk sees only
    persons registered in that township (and village); a person with no township or village matches no
    equality, so is seen by the county roles only.  A school sees the persons an accepted row of one of its
    rosters (import batches of kind school whose `department` is the school) entered; a department the
    persons holding an identity membership it certified (of any validity).  A person registered in a township
    without a village is that township's (its clerk finds them and places them) but no village's."""
    p = persons.c
    county: ColumnElement[bool] = p.county == staff.county if staff.county else true()
    if staff.county_wide:
        return county
    if staff.role == "township":
        if not staff.township:
            return false()
        return and_(county, p.township == staff.township)
    if staff.role == "village":
        if not (staff.township and staff.village):
            return false()
        return and_(county, p.township == staff.township, p.village == staff.village)
    if staff.role == "school":
        if not staff.school:
            return false()
        batches = select(import_batches.c.id).where(
            import_batches.c.kind == KIND_SCHOOL, import_batches.c.department == staff.school
        )
        entered = select(import_rows.c.person_id).where(
            import_rows.c.batch_id.in_(batches),
            import_rows.c.outcome == "accepted",
            import_rows.c.person_id.is_not(None),
        )
        return and_(county, p.id.in_(entered))
    if staff.role == "department":
        if not staff.department:
            return false()
        m = identity_memberships.c
        listed = select(m.id).where(m.person_id == p.id, m.department == staff.department).exists()
        return and_(county, listed)
    return false()  # an unknown role sees nothing


def place_in_area(staff: Staff, township: str | None, village: str | None) -> bool:
    """Whether a place's figures (a progress row: a township when `village` is None, or a village) belong to
    `staff`'s area, as :func:`person_in_area` decides for the persons counted there.  The county roles see
    every place, the unplaced ones too; a township its township's row and its villages' rows, its （未填村）
    row too; a village its own village's row (never a township's); schools and departments no place.  The
    stand-in for a missing township (（未填乡镇）) is no one's but the county's."""
    if staff.county_wide:
        return True
    if township is None or township == NO_TOWNSHIP:
        return False
    if village == NO_VILLAGE and staff.role != "township":
        return False
    if staff.role == "township":
        return staff.township is not None and township == staff.township
    if staff.role == "village":
        return (
            village is not None and staff.village is not None and (township, village) == (staff.township, staff.village)
        )
    return False


PERSON_SUBJECT = "person:"
"""How the portal's audit lines name a person: `person:<persons.id>` (exact, unlike a masked ID number, which
about a hundred persons of a county share)."""


def person_subject(person_id: int) -> str:
    return f"{PERSON_SUBJECT}{person_id}"


def check_person_in_area(engine: Engine, staff: Staff, person_id: int) -> None:
    """Refuse a person outside `staff`'s area, or one that does not exist, alike: an audit line `out_of_area`
    (refused, naming the person id asked for) and OutOfArea("人员") — not found."""
    with engine.connect() as c:
        found = c.execute(select(persons.c.id).where(persons.c.id == person_id, person_in_area(staff))).first()
    if found is None:
        audit(engine, staff.actor, "out_of_area", person_subject(person_id), "refused", f"人员 {person_id}")
        raise OutOfArea("人员")
