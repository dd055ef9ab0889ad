"""Opening a season: last year's enrollees and the identity lists quoted in one pass into due records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, insert, select

from canbao.policy import load_policy
from canbao.services.payments import Payment, end_enrollment, pay, refund
from canbao.services.registry import register_person
from canbao.services.season import due_list, open_season, write_due_lists
from canbao.store.tables import dues, identity_memberships, import_batches
from canbao.store.uow import now
from conftest import application
from policy_edit import edited_policies

LINGBI = "341323"
P = "anhui/suzhou/lingbi/2022"


def _enroll_last_year(engine: Engine, birth: str, txn: str, township: str) -> str:
    app = application(LINGBI, birth, "regular", "2020-10-10")
    pay(engine, Payment("anhui/suzhou/2021", app, "online", txn, Decimal("280"), township=township), "clerk")
    return str(app["person"]["id_number"])


def _list(engine: Engine, id_number: str, category: str) -> None:
    with engine.begin() as c:
        batch = c.execute(
            insert(import_batches).values(
                kind="department_list", department="civil_affairs", file_name="民政.csv", file_sha256=id_number,
                rows_total=1, rows_accepted=1, rows_rejected=0, actor="test", created_at=now(),
            ).returning(import_batches.c.id)
        ).scalar_one()  # fmt: skip
        person = register_person(
            c, id_number=id_number, name="测试", sex="male", birth_date=dt.date(1950, 1, 1), county=LINGBI,
            residency="local_hukou", township="韦集镇",
        )  # fmt: skip
        c.execute(
            insert(identity_memberships).values(
                person_id=person["id"], category=category, department="civil_affairs", batch_id=batch
            )
        )


def test_opening_a_season_quotes_last_years_enrollees_and_the_lists(engine: Engine, tmp_path: Path) -> None:
    plain = _enroll_last_year(engine, "1985-01-01", "a", "灵城镇")
    listed = _enroll_last_year(engine, "1960-01-01", "b", "灵城镇")
    _list(engine, listed, "dibao")
    newcomer = application(LINGBI, "1950-01-01", "regular", "2021-11-01")["person"]["id_number"]
    _list(engine, newcomer, "destitute")

    report = open_season(engine, P, "clerk")
    assert (report.candidates, report.due) == (3, 3)
    assert report.amount_due_fen == 32000 + 4000 + 0
    again = open_season(engine, P, "clerk")  # opening twice changes nothing
    assert (again.due, again.amount_due_fen) == (3, report.amount_due_fen)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(dues)).scalar_one() == 3
        how = dict(c.execute(select(dues.c.amount_due_fen, dues.c.how_to_pay)).all())
    assert how == {32000: "online", 4000: "collecting_unit", 0: "collecting_unit"}

    pay(engine, Payment(P, application(LINGBI, "1985-01-01", "regular", "2021-11-02") | {"person": {
        "id_number": plain, "name": "测试", "county": LINGBI, "residency": "local_hukou"}}, "online", "c",
        Decimal("320")), "self")  # fmt: skip
    unpaid = due_list(engine, 2022)
    assert sorted(unpaid["amount_due_fen"].to_list()) == [0, 4000]
    files = write_due_lists(unpaid, tmp_path)
    sheet = openpyxl.load_workbook(files[0]).active
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["乡镇", "村（社区）", "姓名", "身份证号码"] and "缴费方式" in header
    # issue 13: amounts are numeric cells in yuan with a number format, not text
    due = sheet.cell(row=2, column=header.index("应缴金额（元）") + 1)
    assert (due.data_type, due.number_format) == ("n", "#,##0.00") and due.value in (0, 40)
    bears = sheet.cell(row=2, column=header.index("个人实际负担（元）") + 1)
    assert bears.data_type == "n" and bears.number_format == "#,##0.00"


def test_the_summary_agrees_with_the_ledger(engine: Engine) -> None:
    import polars as pl

    from canbao.services.summary import season_summary

    _enroll_last_year(engine, "1985-01-01", "s1", "灵城镇")
    gone = _enroll_last_year(engine, "1986-01-01", "s2", "韦集镇")
    del gone  # enrolled last year, not renewed
    app = application(LINGBI, "1960-01-01", "regular", "2021-11-01", ["dibao"])
    pay(engine, Payment(P, app, "collecting_unit", "c1", Decimal("40"), township="灵城镇"), "clerk")
    targets = pl.DataFrame({"township": ["灵城镇", "韦集镇"], "target": [2, 1]})
    summary = season_summary(engine, 2021, None)
    assert summary.enrolled == 2 and summary.collected_fen == 56000
    summary = season_summary(engine, 2022, targets)
    rows = {r["township"]: r for r in summary.by_township.iter_rows(named=True)}
    assert rows["灵城镇"]["enrolled"] == 1 and rows["灵城镇"]["rate_bp"] == 5000
    assert rows["韦集镇"]["not_renewed"] == 1 and rows["韦集镇"]["enrolled"] == 0
    assert summary.collected_fen == 4000
    assert summary.by_category.row(0, named=True)["amount_fen"] == 28000


def test_due_lists_read_places_that_are_empty_in_the_first_rows(engine: Engine) -> None:
    first = dt.date(1950, 1, 1)
    with engine.begin() as c:
        batch = c.execute(
            insert(import_batches).values(
                kind="department_list", department="civil_affairs", file_name="x.csv", file_sha256="x",
                rows_total=0, rows_accepted=0, rows_rejected=0, actor="test", created_at=now(),
            ).returning(import_batches.c.id)
        ).scalar_one()  # fmt: skip
        for i in range(150):
            from canbao.ids import make_id_number

            person = register_person(
                c, id_number=make_id_number(LINGBI, first + dt.timedelta(days=i), 1), name="测试", sex="male",
                birth_date=first + dt.timedelta(days=i), county=LINGBI, residency="local_hukou",
                township="渔沟镇" if i == 149 else None,
            )  # fmt: skip
            c.execute(
                insert(identity_memberships).values(
                    person_id=person["id"], category="dibao", department="civil_affairs", batch_id=batch
                )
            )
    assert open_season(engine, P, "clerk").due == 150
    towns = due_list(engine, 2022)["township"]
    assert towns.null_count() == 149 and "渔沟镇" in towns.to_list()


def _listed_persons(
    engine: Engine, county: str, births: list[dt.date], category: str, roles: list[str | None]
) -> list[str]:
    """Persons on one department list (the health commission's when the category is a household one)."""
    from canbao.ids import make_id_number

    numbers = []
    with engine.begin() as c:
        batch = c.execute(
            insert(import_batches).values(
                kind="department_list", department="health_commission", file_name="卫健.csv", file_sha256=category,
                rows_total=len(births), rows_accepted=len(births), rows_rejected=0, actor="test", created_at=now(),
            ).returning(import_batches.c.id)
        ).scalar_one()  # fmt: skip
        for k, (birth, role) in enumerate(zip(births, roles, strict=True)):
            number = make_id_number(county, birth, k + 1)
            person = register_person(
                c, id_number=number, name="测试", sex="male", birth_date=birth, county=county,
                residency="local_hukou", township="城关镇",
            )  # fmt: skip
            c.execute(
                insert(identity_memberships).values(
                    person_id=person["id"],
                    category=category,
                    department="health_commission",
                    batch_id=batch,
                    household_role=role,
                )
            )
            numbers.append(number)
    return numbers


def test_opening_in_chunks_stores_the_same_dues(engine: Engine) -> None:
    """A city's registry is opened chunk by chunk; the due records are those of one pass."""
    first = dt.date(1950, 1, 1)
    _listed_persons(engine, LINGBI, [first + dt.timedelta(days=i) for i in range(40)], "family_planning", [None] * 40)
    for k in range(5):
        _enroll_last_year(engine, f"198{k}-03-01", f"t{k}", "灵城镇")
    columns = [dues.c.person_id, dues.c.amount_due_fen, dues.c.subsidy_category, dues.c.how_to_pay, dues.c.source]

    whole = open_season(engine, P, "clerk")
    with engine.connect() as c:
        once = sorted(c.execute(select(*columns)).all())
    calls: list[tuple[int, int]] = []
    chunked = open_season(engine, P, "clerk", chunk=7, on_chunk=lambda done, n: calls.append((done, n)))
    with engine.connect() as c:
        again = sorted(c.execute(select(*columns)).all())
        ids = c.execute(select(func.min(dues.c.person_id), func.max(dues.c.person_id))).one()
    assert (chunked.candidates, chunked.due, chunked.amount_due_fen) == (
        whole.candidates,
        whole.due,
        whole.amount_due_fen,
    )
    assert again == once and len(once) == 45 and ids[1] - ids[0] >= 7 * 2
    assert len(calls) >= 6 and calls == [(k, len(calls)) for k in range(1, len(calls) + 1)]  # chunk by chunk


def test_season_open_reads_the_household_role_of_the_lists(engine: Engine) -> None:
    """004 二(三): parents of a daughter household are subsidised at any age, a daughter until 18; an adult
    without a role is not quoted until the list says which."""
    huaiyuan, policy = "340321", "anhui/bengbu/huaiyuan/2025"
    births = [dt.date(1970, 5, 1), dt.date(1995, 5, 1), dt.date(1971, 5, 1), dt.date(2012, 5, 1)]
    _listed_persons(engine, huaiyuan, births, "daughter_household", ["parent", "child", None, None])
    report = open_season(engine, policy, "clerk")
    with engine.connect() as c:
        rows = c.execute(select(dues.c.person_id, dues.c.subsidy_category, dues.c.net_personal_fen)).all()
    assert report.due == 3 and report.not_due.height == 1
    assert "household_role" in report.not_due["reason"][0]  # the adult without a role: not quoted
    by_category = sorted((r.subsidy_category or "", r.net_personal_fen) for r in rows)
    assert by_category[0][0] == "" and by_category[0][1] > 0  # the adult daughter pays in full
    assert [r[0] for r in by_category[1:]] == ["daughter_household", "daughter_household"]


def _paid_this_year(engine: Engine, id_number: str, txn: str) -> None:
    app = application(LINGBI, "1980-01-01", "regular", "2021-11-01")
    app["person"]["id_number"] = id_number
    pay(engine, Payment(P, app, "online", txn, Decimal("320")), "clerk")


def test_a_terminated_person_is_not_chased_on_the_due_lists(engine: Engine) -> None:
    """enrollment terminate --reason moved_away: the person moved away and owes nothing more this year."""
    moved = _enroll_last_year(engine, "1980-01-01", "t-2021", "灵城镇")
    staying = _enroll_last_year(engine, "1981-01-01", "s-2021", "灵城镇")
    open_season(engine, P, "clerk")
    _paid_this_year(engine, moved, "t-2022")
    end_enrollment(engine, moved, 2022, "terminated", "moved_away", dt.date(2021, 12, 1), "clerk")
    owing = set(due_list(engine, 2022)["id_number"])
    assert owing == {staying}
    assert moved in set(due_list(engine, 2022, unpaid_only=False)["id_number"])  # the due record stays


def test_a_refunded_person_is_not_chased_on_the_due_lists(engine: Engine) -> None:
    """A refund for employee insurance (003 三(六)): the person left resident insurance for the year."""
    left = _enroll_last_year(engine, "1980-02-02", "r-2021", "灵城镇")
    open_season(engine, P, "clerk")
    _paid_this_year(engine, left, "r-2022")
    result = refund(engine, left, 2022, "joined_employee_insurance", dt.date(2021, 12, 1), "clerk")
    assert result.refundable
    assert due_list(engine, 2022).is_empty()


def test_a_suspended_person_is_not_chased_either(engine: Engine) -> None:
    held = _enroll_last_year(engine, "1980-03-03", "h-2021", "灵城镇")
    open_season(engine, P, "clerk")
    _paid_this_year(engine, held, "h-2022")
    end_enrollment(engine, held, 2022, "suspended", "other", dt.date(2021, 12, 1), "clerk")
    assert due_list(engine, 2022).is_empty()


def test_the_collecting_units_list_is_a_filter_of_the_service(engine: Engine) -> None:
    plain = _enroll_last_year(engine, "1980-04-04", "p-2021", "灵城镇")
    newcomer = application(LINGBI, "1950-01-01", "regular", "2021-11-01")["person"]["id_number"]
    _list(engine, newcomer, "destitute")
    open_season(engine, P, "clerk")
    assert set(due_list(engine, 2022)["id_number"]) == {plain, newcomer}
    assert set(due_list(engine, 2022, how_to_pay="collecting_unit")["id_number"]) == {newcomer}


def test_000_四_一_who_pays_through_a_collecting_unit_is_the_policys_value(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COLLECTED_CATEGORIES cited 000 四(一) but applied to every policy: now each file says it."""
    assert "dibao" in load_policy(P).collection.collecting_unit_categories
    newcomer = application(LINGBI, "1950-01-01", "regular", "2021-11-01")["person"]["id_number"]
    _list(engine, newcomer, "destitute")

    def online_only(raw: dict[str, Any]) -> None:
        raw["collection"]["collecting_unit_categories"] = []

    with edited_policies(tmp_path, monkeypatch, P, online_only):
        open_season(engine, P, "clerk")
        assert due_list(engine, 2022)["how_to_pay"].to_list() == ["online"]
    open_season(engine, P, "clerk")
    assert due_list(engine, 2022)["how_to_pay"].to_list() == ["collecting_unit"]


def test_the_not_renewed_list_leaves_out_those_who_ended_their_year(engine: Engine) -> None:
    """The door-to-door list (004 五(三)) chases no one who moved away after paying, as the due lists."""
    from canbao.services.progress import not_renewed

    moved = _enroll_last_year(engine, "1980-05-05", "nr-2021", "灵城镇")
    open_season(engine, P, "clerk")
    assert set(not_renewed(engine, 2022, dt.date(2021, 12, 31))["id_number"]) == {moved}
    _paid_this_year(engine, moved, "nr-2022")
    end_enrollment(engine, moved, 2022, "terminated", "moved_away", dt.date(2021, 12, 1), "clerk")
    assert not_renewed(engine, 2022, dt.date(2021, 12, 31)).is_empty()
    assert set(not_renewed(engine, 2022, dt.date(2021, 10, 31))["id_number"]) == {moved}  # before they paid
