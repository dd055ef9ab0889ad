"""蚌政办秘〔2021〕44号 (000), policy anhui/bengbu/2022: one test per clause, with worked dates."""

from __future__ import annotations

import pytest

from canbao.errors import InputError
from conftest import application, q, rq

P = "anhui/bengbu/2022"
WUHE = "340322"
HUAIYUAN = "340321"
BENGSHAN = "340303"


def test_000_一_local_resident_in_window_is_covered_for_the_benefit_year() -> None:
    r = q(P, WUHE, "1985-06-15", "regular", "2021-10-15")
    assert r["eligible"] is True
    assert (r["benefit_year"], r["benefit_start"], r["benefit_end"]) == (2022, "2022-01-01", "2022-12-31")
    assert r["rule"].startswith("000 三(一)")


def test_000_一_employee_insurance_members_may_not_enroll() -> None:
    r = q(P, WUHE, "1985-06-15", "regular", "2021-10-15", employee_insurance_active=True)
    assert r["eligible"] is False
    assert "职工医保" in r["reasons"][0]
    assert r["amount_due"] is None


def test_000_一_四_foreign_students_may_enroll_but_foreign_employees_are_not_named() -> None:
    assert q(P, WUHE, "2000-01-01", "regular", "2021-10-15", residency="foreign_student")["eligible"]
    r = q(P, WUHE, "1980-01-01", "regular", "2021-10-15", residency="foreign_employee")
    assert r["eligible"] is False and "参保范围" in r["reasons"][0]


def test_000_二_一_huaiyuan_is_funded_464_central_116_province() -> None:
    fs = q(P, HUAIYUAN, "1985-06-15", "regular", "2021-10-15")["fiscal_subsidy"]
    assert fs == {"central": 464, "province": 116, "city": 0, "county": 0, "total": 580}


def test_000_二_一_wuhe_and_guzhen_are_funded_348_174_and_58_by_the_county() -> None:
    for county in ("340322", "340323"):
        fs = q(P, county, "1985-06-15", "regular", "2021-10-15")["fiscal_subsidy"]
        assert fs == {"central": 348, "province": 174, "city": 0, "county": 58, "total": 580}


def test_000_二_一_city_districts_are_funded_348_174_29_29() -> None:
    for county in ("340302", "340303", "340304", "340311"):
        fs = q(P, county, "1985-06-15", "regular", "2021-10-15")["fiscal_subsidy"]
        assert fs == {"central": 348, "province": 174, "city": 29, "county": 29, "total": 580}


def test_000_二_二_personal_contribution_is_320() -> None:
    r = q(P, BENGSHAN, "1985-06-15", "regular", "2021-10-15")
    assert r["amount_due"] == 320 and r["net_personal"] == 320 and r["subsidies"] == []


@pytest.mark.parametrize(
    ("category", "subsidy", "due"),
    [("destitute", 320, 0), ("dibao", 280, 40), ("relapsed_poor", 240, 80), ("monitored", 160, 160)],
)
def test_000_二_三_medical_assistance_is_deducted_upfront(category: str, subsidy: int, due: int) -> None:
    r = q(P, WUHE, "1960-03-02", "regular", "2021-10-15", [category])
    assert r["amount_due"] == due and r["net_personal"] == due
    assert r["subsidies"] == [
        {
            "kind": "medical_assistance",
            "category": category,
            "amount": subsidy,
            "payer": "医疗救助资金",
            "timing": "upfront",
            "clause": r["subsidies"][0]["clause"],
        }
    ]


def test_000_二_三_a_person_on_two_lists_gets_the_single_most_favourable_subsidy() -> None:
    r = q(P, WUHE, "1960-03-02", "regular", "2021-10-15", ["monitored", "dibao"])
    assert [s["category"] for s in r["subsidies"]] == ["dibao"]
    assert r["amount_due"] == 40


def test_000_二_三_groups_left_to_the_counties_are_not_covered() -> None:
    with pytest.raises(InputError) as err:
        q(P, WUHE, "1960-03-02", "regular", "2021-10-15", ["key_entitled"])
    assert err.value.field == "person.categories" and "重点优抚对象" in err.value.message


def test_000_二_三_an_open_group_does_not_matter_beside_a_full_subsidy() -> None:
    r = q(P, WUHE, "1960-03-02", "regular", "2021-10-15", ["key_entitled", "destitute"])
    assert r["amount_due"] == 0 and r["subsidies"][0]["category"] == "destitute"


def test_000_二_三_groups_the_notice_does_not_name_get_no_subsidy() -> None:
    r = q(P, WUHE, "1960-03-02", "regular", "2021-10-15", ["near_dibao"])
    assert r["amount_due"] == 320 and r["subsidies"] == []


def test_000_三_一_collection_window_runs_09_01_to_12_31() -> None:
    assert q(P, WUHE, "1985-06-15", "regular", "2021-09-01")["eligible"]
    assert q(P, WUHE, "1985-06-15", "regular", "2021-12-31")["eligible"]
    for outside in ("2021-08-31", "2022-01-01"):
        with pytest.raises(InputError) as err:
            q(P, WUHE, "1985-06-15", "regular", outside)
        assert err.value.field == "paid_on" and "2021-09-01至2021-12-31" in err.value.message


def test_000_三_一_new_students_are_covered_from_09_01_of_the_collection_year() -> None:
    r = q(P, WUHE, "2015-03-01", "new_student", "2021-10-20", residency="student")
    assert (r["benefit_start"], r["benefit_end"]) == ("2021-09-01", "2022-12-31")


def test_000_三_一_the_new_student_rule_is_for_students_only() -> None:
    r = q(P, WUHE, "2015-03-01", "new_student", "2021-10-20")
    assert r["eligible"] is False and "新入学学生" in r["reasons"][0]


def test_000_三_二_1_newborn_paid_within_90_days_is_covered_from_birth() -> None:
    r = q(P, WUHE, "2022-03-01", "newborn", "2022-05-29")  # the 90th day, birth day counted as day one
    assert r["benefit_start"] == "2022-03-01" and r["waiting_months"] == 0


def test_000_三_二_1_newborn_paid_after_90_days_is_covered_from_the_next_day() -> None:
    r = q(P, WUHE, "2022-03-01", "newborn", "2022-05-30")
    assert r["benefit_start"] == "2022-05-31"


def test_000_三_二_1_newborn_of_the_collection_year_is_covered_from_the_benefit_year_start() -> None:
    r = q(P, WUHE, "2021-11-20", "newborn", "2021-12-10")
    assert r["benefit_start"] == "2022-01-01" and r["additional_dues"] == []


def test_000_三_二_2_1_short_gap_after_two_years_starts_the_next_day() -> None:
    r = q(
        P,
        WUHE,
        "1980-11-11",
        "from_employee_insurance",
        "2022-04-15",
        employee_insurance_years=2,
        employee_insurance_gap_months=3,
    )
    assert r["benefit_start"] == "2022-04-16" and r["waiting_months"] == 0
    assert r["rule"].startswith("000 三(二)2(1)")


def test_000_三_二_2_1_long_gap_waits_two_months() -> None:
    r = q(
        P,
        WUHE,
        "1980-11-11",
        "from_employee_insurance",
        "2022-04-15",
        employee_insurance_years=3,
        employee_insurance_gap_months=4,
    )
    assert r["benefit_start"] == "2022-07-01" and r["waiting_months"] == 2  # 次月(5月)起第3个月 = 7月


def test_000_三_二_2_2_short_gap_under_two_years_starts_the_next_month() -> None:
    r = q(
        P,
        WUHE,
        "1980-11-11",
        "from_employee_insurance",
        "2022-04-15",
        employee_insurance_years=1,
        employee_insurance_gap_months=2,
    )
    assert r["benefit_start"] == "2022-05-01" and r["waiting_months"] == 0
    assert r["rule"].startswith("000 三(二)2(2)")


def test_000_三_二_2_2_long_gap_under_two_years_waits_four_months() -> None:
    r = q(
        P,
        WUHE,
        "1980-11-11",
        "from_employee_insurance",
        "2022-04-15",
        employee_insurance_years=1,
        employee_insurance_gap_months=6,
    )
    assert r["benefit_start"] == "2022-09-01" and r["waiting_months"] == 4


def test_000_三_二_2_needs_the_employee_insurance_history() -> None:
    with pytest.raises(InputError) as err:
        q(P, WUHE, "1980-11-11", "from_employee_insurance", "2022-04-15", employee_insurance_gap_months=2)
    assert err.value.field == "person.employee_insurance_years"


def test_000_三_二_3_1_migrants_may_pay_until_02_28_for_the_whole_year() -> None:
    r = q(P, WUHE, "1990-01-20", "migrant_late", "2022-02-28")
    assert r["benefit_start"] == "2022-01-01"
    with pytest.raises(InputError) as err:
        q(P, WUHE, "1990-01-20", "migrant_late", "2022-03-01")
    assert err.value.field == "paid_on"


def test_000_三_二_3_2_lapsed_people_wait_six_months_from_the_seventh_month() -> None:
    r = q(P, WUHE, "1975-05-05", "lapsed", "2022-04-15")
    assert r["benefit_start"] == "2022-11-01" and r["waiting_months"] == 6


def test_000_三_二_3_2_lapsed_means_after_the_window() -> None:
    with pytest.raises(InputError) as err:
        q(P, WUHE, "1975-05-05", "lapsed", "2021-11-15")
    assert err.value.field == "paid_on"


def test_000_三_二_3_2_a_wait_past_the_year_end_buys_no_benefit() -> None:
    r = q(P, WUHE, "1975-05-05", "lapsed", "2022-07-15")
    assert r["eligible"] is False and "2023-02-01" in r["reasons"][0]


def test_000_三_二_4_1_special_groups_start_the_day_after_payment_with_their_subsidy() -> None:
    r = q(P, WUHE, "1960-03-02", "special_group", "2022-06-30", ["dibao"])
    assert r["benefit_start"] == "2022-07-01" and r["amount_due"] == 40


def test_000_三_二_4_1_special_group_needs_a_listed_identity() -> None:
    r = q(P, WUHE, "1960-03-02", "special_group", "2022-06-30", ["near_dibao"])
    assert r["eligible"] is False and "身份" in r["reasons"][0]


@pytest.mark.parametrize(
    "situation", ["discharged_soldier", "severe_mental_illness", "retired_fisherman", "released_prisoner"]
)
def test_000_三_二_4_2_3_dynamic_groups_start_the_day_after_payment(situation: str) -> None:
    r = q(P, WUHE, "1970-01-01", situation, "2022-12-30")
    assert r["benefit_start"] == r["benefit_end"] == "2022-12-31"


def test_000_四_二_refund_before_the_benefit_period_returns_the_personal_payment() -> None:
    app = application(WUHE, "1960-03-02", "regular", "2021-10-15", ["dibao"])
    r = rq(P, app, "2021-12-20", "death")
    assert r["refundable"] is True and r["amount"] == 40


def test_000_四_二_no_refund_once_the_benefit_period_has_started() -> None:
    app = application(WUHE, "1985-06-15", "regular", "2021-10-15")
    r = rq(P, app, "2022-01-01", "joined_employee_insurance")
    assert r["refundable"] is False and r["amount"] == 0 and "不再退回" in r["why"]


def test_000_四_二_a_dynamic_enrollee_may_be_refunded_during_the_wait() -> None:
    app = application(WUHE, "1975-05-05", "lapsed", "2022-04-15")
    assert rq(P, app, "2022-10-31", "duplicate_payment")["refundable"] is True
    assert rq(P, app, "2022-11-01", "duplicate_payment")["refundable"] is False


def test_000_四_二_unknown_refund_reason_is_refused() -> None:
    app = application(WUHE, "1985-06-15", "regular", "2021-10-15")
    with pytest.raises(InputError) as err:
        rq(P, app, "2021-11-01", "moved_house")
    assert err.value.field == "reason"


def test_000_三_二_1_a_person_born_in_1985_is_not_a_newborn() -> None:
    """The notice does not say who is a newborn: the policy file does (born in 2021 or 2022), and a
    contradiction is refused naming the situation, never quoted as a newborn registered after 90 days."""
    with pytest.raises(InputError) as err:
        q(P, WUHE, "1985-03-01", "newborn", "2022-03-01")
    assert err.value.field == "situation" and "2021年或2022年出生" in str(err.value) and "1985-03-01" in str(err.value)
    assert q(P, WUHE, "2021-10-01", "newborn", "2021-11-01")["eligible"] is True  # born in the collection year
    with pytest.raises(InputError):
        q(P, WUHE, "2020-12-31", "newborn", "2021-11-01")
