"""Issue 14: every member of staff sees their own area only — one SQL condition (services.access) that every
read of persons goes through; anything else is "not found" and an audit line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from area_data import OTHER, STAFF, County, build_county
from canbao.services.access import (
    NotAllowed,
    OutOfArea,
    Staff,
    check_person_in_area,
    person_in_area,
    place_in_area,
)
from canbao.services.people import person_page, reveal_id_number, search_persons
from canbao.services.progress import NO_TOWNSHIP, NO_VILLAGE
from canbao.store.db import make_engine
from canbao.store.tables import audit_log, persons
from conftest import fresh_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    folder = tmp_path_factory.mktemp(f"access_{request.param}")
    with fresh_database(request.param, folder) as url:
        engine = make_engine(url)
        yield build_county(engine, folder)
        engine.dispose()


def _visible(county: County, staff: Staff) -> set[int]:
    with county.engine.connect() as c:
        return set(c.execute(select(persons.c.id).where(person_in_area(staff))).scalars())


def _expected(county: County, role: str) -> set[int]:
    everyone = set(county.ids)
    return {
        "county_admin": everyone,
        "tax": everyone,
        "township": {county.east, county.west, county.no_village},  # 王五: its township, no village
        "village": {county.east},
        "school": {county.student},
        "department": {county.listed},
    }[role]


@pytest.mark.parametrize("role", list(STAFF))
def test_each_role_sees_exactly_its_area(county: County, role: str) -> None:
    assert _visible(county, STAFF[role]) == _expected(county, role)


def test_other_areas_of_the_same_roles(county: County) -> None:
    assert _visible(county, OTHER["township"]) == {county.weiji, county.listed}
    assert _visible(county, OTHER["village"]) == {county.west}
    assert _visible(county, OTHER["school"]) == set()
    assert _visible(county, OTHER["department"]) == set()
    assert _visible(county, OTHER["county_admin"]) == set()  # another county's account


def test_no_township_is_the_county_roles_alone_no_village_also_its_townships(county: County) -> None:
    for role, staff in STAFF.items():
        assert (county.unplaced in _visible(county, staff)) == (role in ("county_admin", "tax"))
        assert (county.no_village in _visible(county, staff)) == (role in ("county_admin", "tax", "township"))
    # the school's student has no township either: its school and the county see it, no township does
    assert county.student not in _visible(county, STAFF["township"])


def test_an_account_without_its_place_sees_nothing(county: County) -> None:
    for staff in (
        Staff(20, "x", "township"),
        Staff(21, "x", "village", township="灵城镇"),
        Staff(22, "x", "village", village="城东社区"),
        Staff(23, "x", "school"),
        Staff(24, "x", "department"),
    ):
        assert _visible(county, staff) == set()


def _audit_count(county: County, action: str, subject: str) -> int:
    with county.engine.connect() as c:
        query = select(func.count()).where(audit_log.c.action == action, audit_log.c.subject == subject)
        return int(c.execute(query).scalar_one())


@pytest.mark.parametrize("role", list(STAFF))
def test_every_role_against_a_person_outside_its_area_gets_not_found_and_an_audit_line(
    county: County, role: str
) -> None:
    staff = STAFF[role]
    outside = [*sorted(set(county.ids) - _expected(county, role)), 10**9]  # and one that does not exist
    for person_id in outside:
        subject = f"person:{person_id}"
        before = _audit_count(county, "out_of_area", subject)
        for read in (check_person_in_area, person_page, reveal_id_number):
            with pytest.raises(OutOfArea, match="未找到该人员"):
                read(county.engine, staff, person_id)
        assert _audit_count(county, "out_of_area", subject) == before + 3
    with county.engine.connect() as c:
        line = c.execute(
            select(audit_log).where(audit_log.c.action == "out_of_area").order_by(audit_log.c.id.desc())
        ).first()
    assert line is not None and line.actor == staff.actor and line.outcome == "refused"
    assert line.detail == f"人员 {10**9}"  # names the person id asked for
    # Nor does the search find them.
    for name in ("张三", "李四", "王五", "赵小明", "钱低保"):
        found = {hit.person_id for hit in search_persons(county.engine, staff, name)}
        assert found <= _expected(county, role)


@pytest.mark.parametrize("role", list(STAFF))
def test_every_role_reads_a_person_of_its_area(county: County, role: str) -> None:
    staff = STAFF[role]
    for person_id in _expected(county, role):
        page = person_page(county.engine, staff, person_id)
        assert page["person"]["person_id"] == person_id
        if staff.county_wide:
            assert reveal_id_number(county.engine, staff, person_id) == county.ids[person_id]
        else:
            with pytest.raises(NotAllowed):
                reveal_id_number(county.engine, staff, person_id)


def test_place_in_area() -> None:
    county, tax = STAFF["county_admin"], STAFF["tax"]
    township, village, school, department = (STAFF[r] for r in ("township", "village", "school", "department"))
    for staff in (county, tax):
        assert place_in_area(staff, NO_TOWNSHIP, NO_VILLAGE) and place_in_area(staff, "韦集镇", None)
    assert place_in_area(township, "灵城镇", None) and place_in_area(township, "灵城镇", "城西社区")
    assert place_in_area(township, "灵城镇", NO_VILLAGE)  # its persons registered without a village
    assert not place_in_area(village, "灵城镇", NO_VILLAGE)
    assert not place_in_area(township, "韦集镇", None) and not place_in_area(township, NO_TOWNSHIP, None)
    assert not place_in_area(township, None, None)
    assert place_in_area(village, "灵城镇", "城东社区")
    assert not place_in_area(village, "灵城镇", None)  # not its township's row
    assert not place_in_area(village, "灵城镇", "城西社区") and not place_in_area(village, "韦集镇", "城东社区")
    assert not place_in_area(village, "灵城镇", NO_VILLAGE)
    for staff in (school, department):
        assert not place_in_area(staff, "灵城镇", None) and not place_in_area(staff, "灵城镇", "城东社区")
