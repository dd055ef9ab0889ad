"""Look up and renew (001 六(三), 003 三(五)2), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.services.payments import Payment, pay
from canbao.services.renewal import lookup, renew
from conftest import application

LINGBI = "341323"


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
