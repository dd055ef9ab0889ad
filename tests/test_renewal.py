"""Look up and renew (001 六(三), 003 三(五)2), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from canbao.errors import InputError
from canbao.ids import make_id_number
from canbao.services.imports import import_department_list, import_roster
from canbao.services.last_year import enrolled_last_year, last_year_select
from canbao.services.payments import Payment, pay
from canbao.services.registry import find_person
from canbao.services.renewal import lookup, renew
from canbao.store.tables import enrollments
from conftest import application

LINGBI = "341323"
LINGBI_2022 = "anhui/suzhou/lingbi/2022"
HUAIYUAN = "anhui/bengbu/huaiyuan/2025"
HUAIYUAN_COUNTY = "340321"


def test_last_years_enrollee_renews_from_the_registry(engine: Engine) -> None:
    app = application(LINGBI, "1985-01-01", "regular", "2020-10-10")
    pay(engine, Payment("anhui/suzhou/2021", app, "online", "wx-2021", Decimal("280")), "clerk")
    id_number, name = app["person"]["id_number"], app["person"]["name"]
    found = lookup(engine, name, id_number)
    assert found["registered"] and [e["benefit_year"] for e in found["enrollments"]] == [2021]
    result = renew(
        engine, "anhui/suzhou/lingbi/2022", name, id_number, dt.date(2021, 11, 1), "online", "wx-2022",
        Decimal("320"), "self", channel_name="支付宝",
    )  # fmt: skip
    assert result.benefit_start == dt.date(2022, 1, 1)
    assert [e["benefit_year"] for e in lookup(engine, name, id_number)["enrollments"]] == [2021, 2022]


def test_name_and_id_number_must_agree_on_lookup(engine: Engine) -> None:
    app = application(LINGBI, "1985-01-01", "regular", "2020-10-10")
    pay(engine, Payment("anhui/suzhou/2021", app, "online", "wx-a", Decimal("280")), "clerk")
    with pytest.raises(InputError) as err:
        lookup(engine, "李四", app["person"]["id_number"])
    assert err.value.field == "name"


def test_a_new_person_registers_and_enrolls(engine: Engine) -> None:
    app = application(LINGBI, "1990-02-02", "regular", "2021-11-01")
    id_number = app["person"]["id_number"]
    assert lookup(engine, "王五", id_number)["registered"] is False
    with pytest.raises(InputError):  # not enrolled last year and nothing said about them
        renew(engine, "anhui/suzhou/lingbi/2022", "王五", id_number, dt.date(2021, 11, 1), "online", "t1",
              Decimal("320"), "self")  # fmt: skip
    result = renew(
        engine, "anhui/suzhou/lingbi/2022", "王五", id_number, dt.date(2021, 11, 1), "online", "t1",
        Decimal("40"), "self", new_person={"county": LINGBI, "residency": "local_hukou", "categories": ["dibao"]},
    )  # fmt: skip
    assert result.amount_fen == 4000


# --- renewal from last year's roster (001 六(三), 003 三(五)2) ------------------------------------------


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))
    return path


def _roster(engine: Engine, tmp_path: Path, county: str, year: int, people: list[tuple[str, str]]) -> None:
    path = _csv(tmp_path / f"roster_{year}.csv", ["姓名", "身份证号码", "乡镇"], [[n, i, "灵城镇"] for n, i in people])
    report = import_roster(engine, path, county, year, "clerk", today=dt.date(2021, 10, 1))
    assert report.committed and report.accepted == len(people)


def test_renewal_001_六三_a_person_on_last_years_roster_renews_with_their_certified_dibao(
    engine: Engine, tmp_path: Path
) -> None:
    id_number = make_id_number(LINGBI, dt.date(1960, 5, 5), 77)
    _roster(engine, tmp_path, LINGBI, 2021, [("张三", id_number)])
    dibao = _csv(tmp_path / "民政.csv", ["姓名", "身份证号码", "身份类别"], [["张三", id_number, "低保对象"]])
    import_department_list(engine, dibao, "civil_affairs", LINGBI, LINGBI_2022, "clerk", today=dt.date(2021, 10, 1))
    with engine.connect() as c:
        person = find_person(c, id_number)
        assert person is not None
        # one meaning of "enrolled last year": the renewal's, the progress's and the season's
        assert enrolled_last_year(c, person["id"], 2022)
        assert person["id"] in set(c.execute(last_year_select(2022)).scalars())
    with pytest.raises(InputError) as err:  # the full 320 is refused: the certified dibao person owes 40
        renew(engine, LINGBI_2022, "张三", id_number, dt.date(2021, 11, 1), "online", "r-320", Decimal("320"), "self")
    assert err.value.field == "amount"
    result = renew(
        engine, LINGBI_2022, "张三", id_number, dt.date(2021, 11, 1), "online", "r-40", Decimal("40"), "self"
    )
    assert result.amount_fen == 4000
    with engine.connect() as c:
        row = c.execute(select(enrollments).where(enrollments.c.id == result.enrollment_id)).mappings().one()
    assert (row["subsidy_category"], row["net_personal_fen"]) == ("dibao", 4000)


def test_renewal_003_三五2_a_new_form_cannot_drop_the_certified_categories(engine: Engine, tmp_path: Path) -> None:
    """Not enrolled last year but certified: the form's county and residency, the lists' categories."""
    id_number = make_id_number(LINGBI, dt.date(1961, 6, 6), 78)
    dibao = _csv(tmp_path / "民政.csv", ["姓名", "身份证号码", "身份类别"], [["李四", id_number, "低保对象"]])
    import_department_list(engine, dibao, "civil_affairs", LINGBI, LINGBI_2022, "clerk", today=dt.date(2021, 10, 1))
    result = renew(
        engine, LINGBI_2022, "李四", id_number, dt.date(2021, 11, 1), "online", "n-40", Decimal("40"), "self",
        new_person={"county": LINGBI, "residency": "local_hukou"},
    )  # fmt: skip
    assert result.amount_fen == 4000


def test_renewal_004_二三_carries_the_household_role_of_the_lists(engine: Engine, tmp_path: Path) -> None:
    """An adult on a daughter-household list renews as the parent the list names (else the quote would
    ask for household_role), subsidised 400 refunded after payment."""
    mother = make_id_number(HUAIYUAN_COUNTY, dt.date(1980, 4, 1), 79)
    _roster(engine, tmp_path, HUAIYUAN_COUNTY, 2024, [("刘英", mother)])
    household = _csv(
        tmp_path / "卫健委.csv", ["姓名", "身份证号", "类别", "家庭角色"], [["刘英", mother, "农村双女户", "父母"]]
    )
    report = import_department_list(
        engine, household, "health_commission", HUAIYUAN_COUNTY, HUAIYUAN, "clerk", today=dt.date(2024, 10, 1)
    )
    assert report.committed
    result = renew(engine, HUAIYUAN, "刘英", mother, dt.date(2024, 11, 1), "online", "h-1", Decimal("400"), "self")
    with engine.connect() as c:
        row = c.execute(select(enrollments).where(enrollments.c.id == result.enrollment_id)).mappings().one()
    assert (row["subsidy_category"], row["subsidy_fen"], row["subsidy_timing"]) == (
        "daughter_household", 40000, "refund_after_payment",
    )  # fmt: skip
