"""灵政办明电〔2021〕15号 (003), policy anhui/suzhou/lingbi/2022."""

from __future__ import annotations

import pytest

from canbao.errors import InputError
from conftest import application, q, rq

P = "anhui/suzhou/lingbi/2022"
LINGBI = "341323"


def test_003_三_一_6_struggling_enterprise_employees_may_enroll_after_suspending() -> None:
    r = q(P, LINGBI, "1970-01-01", "regular", "2021-11-01", residency="struggling_enterprise_employee")
    assert r["eligible"] is True
    r = q(
        P,
        LINGBI,
        "1970-01-01",
        "regular",
        "2021-11-01",
        residency="struggling_enterprise_employee",
        employee_insurance_active=True,
    )
    assert r["eligible"] is False


def test_003_三_二_funding_is_900_of_which_580_fiscal_without_a_split() -> None:
    r = q(P, LINGBI, "1985-01-01", "regular", "2021-11-01")
    assert r["amount_due"] == 320
    assert r["fiscal_subsidy"] == {"central": None, "province": None, "city": None, "county": None, "total": 580}


@pytest.mark.parametrize(
    ("category", "kind", "due"),
    [
        ("destitute", "medical_assistance", 0),
        ("orphan", "medical_assistance", 0),
        ("unsupported_child", "medical_assistance", 0),
        ("family_planning", "department_subsidy", 0),
        ("key_entitled", "department_subsidy", 0),
        ("dibao", "medical_assistance", 40),
        ("relapsed_poor", "medical_assistance", 70),
        ("monitored", "medical_assistance", 160),
        ("severe_disability", None, 320),
    ],
)
def test_003_三_二_2_subsidies_by_category(category: str, kind: str | None, due: int) -> None:
    r = q(P, LINGBI, "1960-01-01", "regular", "2021-11-01", [category])
    assert r["amount_due"] == due == r["net_personal"]
    assert [s["kind"] for s in r["subsidies"]] == ([kind] if kind else [])


def test_003_三_二_1_newborn_90_days() -> None:
    assert q(P, LINGBI, "2022-02-01", "newborn", "2022-05-01")["benefit_start"] == "2022-02-01"
    assert q(P, LINGBI, "2022-02-01", "newborn", "2022-05-02")["benefit_start"] == "2022-05-03"


def test_003_三_三_collection_window_opens_10_08() -> None:
    with pytest.raises(InputError):
        q(P, LINGBI, "1985-01-01", "regular", "2021-10-07")
    assert q(P, LINGBI, "1985-01-01", "regular", "2021-10-08")["eligible"]


def test_003_三_三_migrants_until_2022_02_28_whole_year() -> None:
    assert q(P, LINGBI, "1985-01-01", "migrant_late", "2022-02-15")["benefit_start"] == "2022-01-01"


def test_003_三_三_short_gap_after_two_years_starts_the_next_day() -> None:
    r = q(
        P,
        LINGBI,
        "1980-01-01",
        "from_employee_insurance",
        "2022-04-15",
        employee_insurance_years=5,
        employee_insurance_gap_months=1,
    )
    assert r["benefit_start"] == "2022-04-16"


def test_003_三_三_long_gap_waits_six_months_from_payment() -> None:
    r = q(
        P,
        LINGBI,
        "1980-01-01",
        "from_employee_insurance",
        "2022-04-15",
        employee_insurance_years=5,
        employee_insurance_gap_months=7,
    )
    assert r["benefit_start"] == "2022-10-15" and r["waiting_months"] == 6


def test_003_三_三_under_two_years_of_employee_insurance_is_not_covered() -> None:
    with pytest.raises(InputError) as err:
        q(
            P,
            LINGBI,
            "1980-01-01",
            "from_employee_insurance",
            "2022-04-15",
            employee_insurance_years=1,
            employee_insurance_gap_months=1,
        )
    assert "不满2年" in err.value.message


def test_003_三_三_dynamic_new_special_groups_and_soldiers_start_the_next_day() -> None:
    r = q(P, LINGBI, "1960-01-01", "special_group", "2022-03-10", ["relapsed_poor"])
    assert r["benefit_start"] == "2022-03-11" and r["amount_due"] == 70
    assert q(P, LINGBI, "1999-01-01", "discharged_soldier", "2022-03-10")["benefit_start"] == "2022-03-11"
    assert q(P, LINGBI, "1960-01-01", "special_group", "2022-03-10", ["monitored"])["eligible"] is False


@pytest.mark.parametrize("situation", ["lapsed", "released_prisoner", "new_student"])
def test_003_situations_the_notice_does_not_name_are_not_covered(situation: str) -> None:
    with pytest.raises(InputError) as err:
        q(P, LINGBI, "1985-01-01", situation, "2022-03-10")
    assert err.value.field == "situation"


def test_003_三_六_refund_for_duplicate_payment_before_the_period() -> None:
    app = application(LINGBI, "1985-01-01", "regular", "2021-11-01")
    assert rq(P, app, "2021-12-01", "duplicate_payment")["amount"] == 320


def test_003_三_六_death_is_left_to_a_separate_document() -> None:
    app = application(LINGBI, "1985-01-01", "regular", "2021-11-01")
    with pytest.raises(InputError) as err:
        rq(P, app, "2021-12-01", "death")
    assert err.value.field == "reason" and "另行制定" in err.value.message


def test_003_三_二_1_a_person_born_in_1985_is_not_a_newborn() -> None:
    """The newcomer finding: `canbao quote` quoted a person born in 1985 as a newborn registered late."""
    with pytest.raises(InputError) as err:
        q(P, LINGBI, "1985-03-01", "newborn", "2022-03-01")
    assert err.value.field == "situation" and "2021年或2022年出生" in str(err.value)
    assert "newborn" not in str(err.value)  # the situation's label, not its code


def test_003_a_situation_not_covered_is_named_by_its_label_not_its_code() -> None:
    with pytest.raises(InputError) as err:
        q(P, LINGBI, "2005-03-01", "new_student", "2021-11-01", residency="student")
    assert "不覆盖“新入学学生”" in str(err.value) and "new_student" not in str(err.value.message)
    assert "regular" not in str(err.value.message)
