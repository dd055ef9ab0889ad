"""宿政办明电〔2020〕19号 (001), policy anhui/suzhou/2021."""

from __future__ import annotations

import pytest

from canbao.errors import InputError
from conftest import application, q, rq

P = "anhui/suzhou/2021"
YONGQIAO = "341302"


def test_001_二_long_term_residents_may_enroll_hmt_residents_are_not_named() -> None:
    assert q(P, YONGQIAO, "1985-01-01", "regular", "2020-10-01", residency="long_term_resident")["eligible"]
    assert q(P, YONGQIAO, "1985-01-01", "regular", "2020-10-01", residency="hmt_resident")["eligible"] is False


def test_001_三_personal_contribution_is_280_and_the_fiscal_subsidy_is_not_stated() -> None:
    r = q(P, YONGQIAO, "1985-01-01", "regular", "2020-10-01")
    assert r["amount_due"] == 280 and r["net_personal"] == 280
    assert r["fiscal_subsidy"] == {"central": None, "province": None, "city": None, "county": None, "total": None}


def test_001_三_category_subsidies_are_set_by_another_document() -> None:
    with pytest.raises(InputError) as err:
        q(P, YONGQIAO, "1960-01-01", "regular", "2020-10-01", ["dibao"])
    assert err.value.field == "person.categories" and "宿医保秘〔2020〕76号" in err.value.message


def test_001_三_newborn_paid_within_three_months_is_covered_from_birth() -> None:
    r = q(P, YONGQIAO, "2021-01-10", "newborn", "2021-04-09")
    assert r["benefit_start"] == "2021-01-10"


def test_001_三_newborn_after_three_months_is_not_covered() -> None:
    with pytest.raises(InputError) as err:
        q(P, YONGQIAO, "2021-01-10", "newborn", "2021-04-10")
    assert err.value.field == "situation" and "3个月" in err.value.message


def test_001_四_collection_window_and_migrant_extension() -> None:
    assert q(P, YONGQIAO, "1985-01-01", "regular", "2020-12-31")["benefit_start"] == "2021-01-01"
    assert q(P, YONGQIAO, "1985-01-01", "migrant_late", "2021-02-28")["benefit_start"] == "2021-01-01"
    with pytest.raises(InputError):
        q(P, YONGQIAO, "1985-01-01", "regular", "2021-01-05")


@pytest.mark.parametrize("situation", ["lapsed", "from_employee_insurance", "special_group", "new_student"])
def test_001_dynamic_enrollment_is_not_covered(situation: str) -> None:
    with pytest.raises(InputError) as err:
        q(P, YONGQIAO, "1985-01-01", situation, "2021-05-01")
    assert err.value.field == "situation" and "不覆盖" in err.value.message


def test_001_refunds_are_not_covered() -> None:
    app = application(YONGQIAO, "1985-01-01", "regular", "2020-10-01")
    with pytest.raises(InputError) as err:
        rq(P, app, "2020-11-01", "duplicate_payment")
    assert "未规定退费" in err.value.message


def test_001_三_a_person_born_in_1985_is_not_a_newborn() -> None:
    with pytest.raises(InputError) as err:
        q(P, YONGQIAO, "1985-03-01", "newborn", "2021-03-01")
    assert err.value.field == "situation" and "2020年或2021年出生" in str(err.value)
    assert q(P, YONGQIAO, "2020-10-01", "newborn", "2020-11-01")["eligible"] is True
