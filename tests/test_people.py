"""Issue 14: the person search, a person's page and the full ID number, for staff — scoped, masked, audited."""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from area_data import COUNTY, STAFF, YEAR, County, Portal, build_county, enroll
from canbao.errors import InputError
from canbao.ids import check_digit, make_id_number, mask_id_number
from canbao.services.access import NotAllowed
from canbao.services.payments import refund
from canbao.services.people import mask_phone, person_page, reveal_id_number, search_persons
from canbao.store.db import make_engine
from canbao.store.tables import audit_log
from conftest import fresh_database

FULL_ID = re.compile(r"[0-9]{17}[0-9X]")
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    folder = tmp_path_factory.mktemp(f"people_{request.param}")
    with fresh_database(request.param, folder) as url:
        engine = make_engine(url)
        yield build_county(engine, folder)
        engine.dispose()


def _ids(hits: list[Any]) -> list[int]:
    return [h.person_id for h in hits]


def _dumped(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _x_id() -> str:
    """An ID number whose check character is X (one sequence in eleven)."""
    for sequence in range(1000):
        first17 = f"{COUNTY}19750102{sequence:03d}"
        if check_digit(first17) == "X":
            return first17 + "X"
    raise AssertionError("no X check character")


# ---------------------------------------------------------------------------------------------- the search


def test_name_search_exact_first_then_by_prefix(county: County) -> None:
    admin = STAFF["county_admin"]
    assert _ids(search_persons(county.engine, admin, "张三")) == [county.east, county.weiji, county.west]
    assert _ids(search_persons(county.engine, admin, " 张三丰 ")) == [county.west]
    assert _ids(search_persons(county.engine, admin, "张三", limit=2)) == [county.east, county.weiji]
    assert _ids(search_persons(county.engine, admin, "张三", limit=3))[-1] == county.west
    assert search_persons(county.engine, admin, "张三丰丰") == []
    assert search_persons(county.engine, admin, "李%") == []  # no pattern characters
    hit = search_persons(county.engine, admin, "王五")[0]
    assert (hit.name, hit.township, hit.village) == ("王五", "灵城镇", None)
    assert hit.id_number == mask_id_number(county.ids[county.no_village])


def test_search_is_scoped_to_the_area(county: County) -> None:
    assert _ids(search_persons(county.engine, STAFF["township"], "张三")) == [county.east, county.west]
    assert _ids(search_persons(county.engine, STAFF["village"], "张三")) == [county.east]
    assert search_persons(county.engine, STAFF["school"], "张三") == []
    assert _ids(search_persons(county.engine, STAFF["school"], "赵小明")) == [county.student]
    assert _ids(search_persons(county.engine, STAFF["department"], "钱低保")) == [county.listed]
    weiji = county.ids[county.weiji]
    assert search_persons(county.engine, STAFF["township"], weiji) == []  # by ID number neither


def test_search_by_name_and_the_end_of_the_id_number(county: County) -> None:
    admin = STAFF["county_admin"]
    east, weiji = county.ids[county.east], county.ids[county.weiji]
    assert east[-4:] != weiji[-4:]
    assert _ids(search_persons(county.engine, admin, f"张三 {east[-4:]}")) == [county.east]
    assert _ids(search_persons(county.engine, admin, f"张三　{weiji[-6:]}")) == [county.weiji]  # full-width space
    assert _ids(search_persons(county.engine, admin, f"张三 {county.ids[county.west][-4:]}")) == [county.west]
    assert _ids(search_persons(county.engine, STAFF["township"], f"张三 {weiji[-4:]}")) == []  # still scoped
    with pytest.raises(InputError, match="至少输入姓名的两个字"):
        search_persons(county.engine, admin, f"张 {east[-4:]}")


def test_search_by_id_number_in_the_ways_people_write_it(county: County) -> None:
    x_id = _x_id()
    person_id, _ = enroll(county.engine, "孙叉", "灵城镇", "城东社区", id_number=x_id)
    legacy = x_id[:6] + x_id[8:17]  # the 15-digit number of someone born in 19xx
    spellings = [x_id, x_id.lower(), f" {x_id[:6]} {x_id[6:14]} {x_id[14:]} ", x_id.translate(FULL_WIDTH), legacy,
                 f"'{x_id}"]  # fmt: skip
    for spelling in spellings:
        for role in ("county_admin", "township", "village"):
            assert _ids(search_persons(county.engine, STAFF[role], spelling)) == [person_id], (spelling, role)
    for tail in (x_id[-4:], x_id[-4:].lower(), x_id[-6:].translate(FULL_WIDTH)):
        assert _ids(search_persons(county.engine, STAFF["village"], f"孙叉 {tail}")) == [person_id], tail
    nobody = make_id_number("110101", dt.date(1960, 5, 5), 123)
    assert search_persons(county.engine, STAFF["county_admin"], nobody) == []


@pytest.mark.parametrize(
    ("q", "words"),
    [
        ("", "请输入姓名或身份证号码"),
        ("   ", "请输入姓名或身份证号码"),
        ("张", "至少输入姓名的两个字"),
        ("3413231980", "应为18位"),
        ("34132319800101123", "应为18位"),
        ("341323198001011230", "校验位"),
        ("张\x00三", "控制字符"),
        ("张\t三", "控制字符"),
        ("张" * 65, "不能超过64个字"),
    ],
)
def test_a_query_too_short_or_a_wrong_id_number_is_refused_in_chinese(county: County, q: str, words: str) -> None:
    with pytest.raises(InputError) as refused:
        search_persons(county.engine, STAFF["county_admin"], q)
    assert refused.value.field == "q" and words in refused.value.message
    assert not FULL_ID.search(refused.value.message)


def test_name_search_uses_the_index(county: County) -> None:
    """The search's two queries are index lookups on both databases (prefix too): EXPLAIN says so."""
    engine = county.engine
    from canbao.services.people import _name_begins
    from canbao.store.tables import persons

    p = persons.c
    queries = [
        select(p.id).where(p.name == "张三").order_by(p.id).limit(50),
        select(p.id).where(_name_begins(engine, "张三")).order_by(p.name, p.id).limit(50),
    ]
    with engine.connect() as c:
        for query in queries:
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            if engine.dialect.name == "postgresql":
                c.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask whether it *can*
                plan = "\n".join(c.execute(text(f"EXPLAIN {compiled}")).scalars())
            else:
                plan = "\n".join(str(r[-1]) for r in c.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "ix_persons_name" in plan, plan
            c.rollback()


# ------------------------------------------------------------------------------------------ a person's page


def test_a_persons_page_holds_everything_masked(county: County, tmp_path: Path) -> None:
    admin = STAFF["county_admin"]
    page = person_page(county.engine, admin, county.listed)
    person = page["person"]
    assert person["name"] == "钱低保" and person["id_number"] == mask_id_number(county.ids[county.listed])
    assert (person["sex_label"], person["residency_label"]) == ("女" if person["sex"] == "female" else "男",
                                                               "本地户籍城乡居民")  # fmt: skip
    assert [(i["category_label"], i["department_label"]) for i in page["identities"]] == [("低保对象", "民政局")]
    assert page["enrollments"] == [] and page["ledger"] == [] and page["refunds"] == []

    page = person_page(county.engine, admin, county.east)
    assert page["person"]["phone"] == "138****5678"
    (enrollment,) = page["enrollments"]
    assert enrollment["benefit_year"] == YEAR and enrollment["status_label"] == "有效"
    assert enrollment["channel_label"] == "线上自助缴费" and enrollment["situation_label"] == "集中参保期内参保"
    assert isinstance(enrollment["amount_due_fen"], int) and enrollment["amount_due_fen"] == 32_000
    (entry,) = page["ledger"]
    assert (entry["kind_label"], entry["amount_fen"], entry["channel"]) == ("缴费", 32_000, "online")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["recorded_at"])
    assert not FULL_ID.search(_dumped(page))


def test_a_refund_is_on_the_page(county: County) -> None:
    admin = STAFF["county_admin"]
    person_id, id_number = enroll(county.engine, "周退费", "灵城镇", "城西社区")
    refund(county.engine, id_number, YEAR, "duplicate_payment", dt.date(2021, 12, 11), "clerk")
    page = person_page(county.engine, admin, person_id)
    (enrollment,) = page["enrollments"]
    assert (enrollment["status_label"], enrollment["end_reason_label"]) == ("已退费", "重复缴费")
    assert [e["kind"] for e in page["ledger"]] == ["payment", "refund"]
    (refunded,) = page["refunds"]
    assert refunded["benefit_year"] == YEAR and refunded["reason_label"] == "重复缴费"
    assert refunded["requested_on"] == dt.date(2021, 12, 11) and refunded["amount_fen"] > 0
    assert not FULL_ID.search(_dumped(page))


def test_search_results_and_pages_never_hold_a_full_id_number(county: County) -> None:
    for role, staff in STAFF.items():
        for q in ("张三", "李四", "王五", "赵小明", "钱低保", *county.ids.values()):
            hits = search_persons(county.engine, staff, q)
            dumped = _dumped([asdict(h) for h in hits])
            assert not FULL_ID.search(dumped), role
            for hit in hits:
                assert not FULL_ID.search(_dumped(person_page(county.engine, staff, hit.person_id)))


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0557-1234567") == "0557****4567"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) is None and mask_phone("") == ""


# ----------------------------------------------------------------------------------------------- reveal


def _lines(county: County, subject: str) -> list[tuple[str, str, str]]:
    with county.engine.connect() as c:
        rows = c.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.outcome)
            .where(audit_log.c.subject == subject)
            .order_by(audit_log.c.id)
        ).all()
    return [tuple(r) for r in rows]


def test_reveal_is_for_the_county_roles_and_audited(county: County) -> None:
    subject = f"person:{county.west}"
    before = _lines(county, subject)
    for role in ("township", "village"):
        staff = STAFF[role]
        if role == "village":
            with pytest.raises(Exception, match="未找到该人员"):  # 城西 is not 城东's: the area first
                reveal_id_number(county.engine, staff, county.west)
            continue
        with pytest.raises(NotAllowed, match="县医保局、县税务局"):
            reveal_id_number(county.engine, staff, county.west)
    assert reveal_id_number(county.engine, STAFF["county_admin"], county.west) == county.ids[county.west]
    assert reveal_id_number(county.engine, STAFF["tax"], county.west) == county.ids[county.west]
    assert _lines(county, subject)[len(before) :] == [
        ("lingcheng", "id_reveal", "refused"),
        ("chengdong", "out_of_area", "refused"),
        ("county", "id_reveal", "done"),
        ("tax", "id_reveal", "done"),
    ]
    # The page's audit part (county roles) shows them; others see none; viewing is itself a line.
    page = person_page(county.engine, STAFF["county_admin"], county.west)
    actions = [(line["actor"], line["action"], line["outcome"]) for line in page["audit"]]
    assert ("county", "id_reveal", "done") in actions and ("lingcheng", "id_reveal", "refused") in actions
    assert person_page(county.engine, STAFF["township"], county.west)["audit"] == []
    assert _lines(county, subject)[-2:] == [("county", "person_view", "done"), ("lingcheng", "person_view", "done")]


# ------------------------------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def portal(county: County) -> Portal:
    return Portal(county.engine)


def test_api_search_shape_scoping_and_refusals(county: County, portal: Portal) -> None:
    portal.staff = STAFF["township"]
    answer = portal.client.get("/api/v1/persons", params={"q": "张三"})
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert list(answer.json()) == ["items"]
    assert [i["person_id"] for i in items] == [county.east, county.west]
    assert set(items[0]) == {"person_id", "name", "id_number", "township", "village"}
    assert items[0]["id_number"] == mask_id_number(county.ids[county.east]) and not FULL_ID.search(answer.text)
    answer = portal.client.get("/api/v1/persons", params={"q": "张"})
    assert answer.status_code == 422 and answer.json()["field"] == "q" and "两个字" in answer.json()["detail"]
    assert portal.client.get("/api/v1/persons").status_code == 422
    portal.staff = None
    assert portal.client.get("/api/v1/persons", params={"q": "张三"}).status_code == 401


def test_api_person_page_404_outside_the_area(county: County, portal: Portal) -> None:
    portal.staff = STAFF["township"]
    answer = portal.client.get(f"/api/v1/persons/{county.east}")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    page = answer.json()
    assert set(page) == {"person", "identities", "enrollments", "ledger", "refunds", "audit"}
    assert page["person"]["id_number"] == mask_id_number(county.ids[county.east])
    assert page["enrollments"][0]["amount_due_fen"] == 32_000 and page["enrollments"][0]["paid_on"] == "2021-11-01"
    assert not FULL_ID.search(answer.text)
    for person_id in (county.weiji, county.unplaced, county.student, 10**12):
        answer = portal.client.get(f"/api/v1/persons/{person_id}")
        assert (answer.status_code, answer.json()) == (404, {"detail": "未找到该人员"})
        assert _lines(county, f"person:{person_id}")[-1] == ("lingcheng", "out_of_area", "refused")
    assert portal.client.get("/api/v1/persons/abc").status_code == 422
    assert portal.client.get(f"/api/v1/persons/{2**63}").status_code == 422  # never reaches the database


def test_api_reveal(county: County, portal: Portal) -> None:
    url = f"/api/v1/persons/{county.east}/id-number"
    good = {"X-CSRF-Token": Portal.CSRF}
    portal.staff = STAFF["township"]
    answer = portal.client.post(url, headers=good)
    assert answer.status_code == 403 and "县医保局" in answer.json()["detail"]
    assert portal.client.post(f"/api/v1/persons/{county.weiji}/id-number", headers=good).status_code == 404
    portal.staff = STAFF["county_admin"]
    assert portal.client.post(url).status_code == 403  # no CSRF token
    assert portal.client.post(url, headers={"X-CSRF-Token": "bad"}).status_code == 403
    answer = portal.client.post(url, headers=good)
    assert answer.status_code == 200 and answer.json() == {"id_number": county.ids[county.east]}
    assert answer.headers["cache-control"] == "no-store"
    assert _lines(county, f"person:{county.east}")[-1] == ("county", "id_reveal", "done")


def test_api_is_described_by_openapi(portal: Portal) -> None:
    schema = portal.client.get("/api/openapi.json").json()
    assert {"/api/v1/persons", "/api/v1/persons/{person_id}", "/api/v1/persons/{person_id}/id-number"} <= set(
        schema["paths"]
    )
    components = schema["components"]["schemas"]
    assert {"PersonSearch", "PersonHit", "PersonPage", "IdNumber"} <= set(components)
    assert set(components["PersonHit"]["properties"]) == {"person_id", "name", "id_number", "township", "village"}


def test_api_with_real_sessions(county: County) -> None:
    """The same answers through the accounts' own login, session cookie and CSRF check (no overrides)."""
    from fastapi.testclient import TestClient

    from canbao.bootstrap import Settings
    from canbao.services.accounts import add_user
    from canbao.web.app import create_app

    now = dt.datetime(2021, 12, 20, 2, 0, tzinfo=dt.UTC)
    url = county.engine.url.render_as_string(hide_password=False)
    files = Path(tempfile.mkdtemp(prefix="canbao-files-"))
    settings = Settings(url, True, None, dt.date(2021, 12, 20), files_dir=files)
    app = create_app(settings, county.engine, clock=lambda: now)
    password = "Canbao-portal-2021!"
    for username, role, area in (
        ("e2e_township", "township", {"county": COUNTY, "township": "灵城镇"}),
        ("e2e_county", "county_admin", {"county": COUNTY}),
    ):
        add_user(county.engine, username=username, role=role, password=password, actor="test", now=now, **area)
    township, admin = TestClient(app), TestClient(app)
    tokens = {}
    for client, username in ((township, "e2e_township"), (admin, "e2e_county")):
        answer = client.post("/api/v1/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        tokens[username] = answer.json()["csrf_token"]
    assert TestClient(app).get("/api/v1/persons", params={"q": "张三"}).status_code == 401
    assert [i["person_id"] for i in township.get("/api/v1/persons", params={"q": "张三"}).json()["items"]] == [
        county.east, county.west,
    ]  # fmt: skip
    assert township.get(f"/api/v1/persons/{county.weiji}").status_code == 404
    assert _lines(county, f"person:{county.weiji}")[-1] == ("e2e_township", "out_of_area", "refused")
    reveal = f"/api/v1/persons/{county.east}/id-number"
    assert township.post(reveal, headers={"X-CSRF-Token": tokens["e2e_township"]}).status_code == 403
    assert admin.post(reveal).status_code == 403  # no token
    assert admin.post(reveal, headers={"X-CSRF-Token": tokens["e2e_township"]}).status_code == 403  # not its own
    answer = admin.post(reveal, headers={"X-CSRF-Token": tokens["e2e_county"]})
    assert answer.status_code == 200 and answer.json() == {"id_number": county.ids[county.east]}
    rows = township.get("/api/v1/progress", params={"benefit_year": "2022", "as_of": "2021-12-15"}).json()["rows"]
    assert {r["township"] for r in rows} == {"灵城镇"}
