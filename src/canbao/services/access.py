"""Who a member of staff is, and the part of the county they may see (issue 14).

| role         | area                                                                    |
|--------------|-------------------------------------------------------------------------|
| county_admin | the county (every person of the registry when the account has no county) |
| tax          | the county, as county_admin                                             |
| township     | the persons registered in its township                                  |
| village      | the persons registered in its village of its township                   |
| school       | the students its school rosters entered (import_batches kind school)    |
| department   | the persons on its certified lists (identity_memberships.department)    |

A person with no township (or village) is seen only by the county roles. Scoping is done here, where data is
read, by every service a page, an export or an API call goes through; a front end never filters for itself.
A record outside the caller's area is `OutOfArea` — "not found", the same answer as a record that does not
exist, so that an edited URL learns nothing — and the attempt is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from canbao.errors import CanbaoError
from canbao.vocabulary import ROLE_LABELS, Role

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
        """The area as the page header says it: 县医保局 · 某某镇 某某村."""
        place = " ".join(p for p in (self.township, self.village, self.school, self.department) if p)
        return f"{ROLE_LABELS[self.role]}{' · ' + place if place else ''}"


class OutOfArea(CanbaoError):
    """Not found for this member of staff: it does not exist or lies outside their area (HTTP 404)."""

    def __init__(self, what: str = "记录") -> None:
        super().__init__(f"未找到该{what}")


class NotAllowed(CanbaoError):
    """The role may not do this at all (HTTP 403), e.g. a village clerk opening the audit log."""
