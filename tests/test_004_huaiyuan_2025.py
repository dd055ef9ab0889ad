"""怀远县 2024年（2025年度）方案 (004), policy anhui/bengbu/huaiyuan/2025."""

from __future__ import annotations

import pytest

from canbao.errors import InputError
from conftest import application, q, rq

P = "anhui/bengbu/huaiyuan/2025"
HY = "340321"


def test_004_一_foreign_students_are_not_named() -> None:
    assert q(P, HY, "2003-01-01", "regular", "2024-10-01", residency="foreign_student")["eligible"] is False


def test_004_二_一_funding_1070_with_536_central_and_134_province() -> None:
    r = q(P, HY, "1985-01-01", "regular", "2024-10-01")
    assert r["amount_due"] == 400
    assert r["fiscal_subsidy"] == {"central": 536, "province": 134, "city": 0, "county": 0, "total": 670}


@pytest.mark.parametrize(
    ("categories", "due"),
    [
        (["destitute"], 0),
        (["orphan"], 0),
        (["dibao"], 60),
        (["monitored"], 200),
        (["relapsed_poor"], 400),
        (["unsupported_child", "orphan"], 0),
        (["unsupported_child", "dibao"], None),
    ],
)
def test_004_二_二_medical_assistance(categories: list[str], due: int | None) -> None:
    if due is None:  # the dibao amount is below full, so the open category could matter
        with pytest.raises(InputError):
            q(P, HY, "2015-01-01", "regular", "2024-10-01", categories)
        return
    r = q(P, HY, "2015-01-01", "regular", "2024-10-01", categories)
    assert r["amount_due"] == due == r["net_personal"]


def test_004_二_三_key_entitled_pay_first_and_are_refunded_by_the_county() -> None:
    r = q(P, HY, "1950-01-01", "regular", "2024-10-01", ["key_entitled"])
    assert r["amount_due"] == 400 and r["net_personal"] == 0
    assert r["subsidies"][0]["kind"] == "county_subsidy" and r["subsidies"][0]["timing"] == "refund_after_payment"


def test_004_二_三_daughters_until_18_and_their_parents_are_refunded_in_full() -> None:
    assert q(P, HY, "2010-05-01", "regular", "2024-10-01", ["daughter_household"])["net_personal"] == 0
    assert (
        q(P, HY, "1975-05-01", "regular", "2024-10-01", ["daughter_household"], household_role="parent")["net_personal"]
        == 0
    )
    r = q(P, HY, "2006-12-31", "regular", "2024-10-01", ["daughter_household"], household_role="child")
    assert r["net_personal"] == 400  # 18 on 2025-01-01


def test_004_二_三_sons_and_their_parents_are_refunded_half() -> None:
    r = q(P, HY, "1975-05-01", "regular", "2024-10-01", ["son_household"], household_role="parent")
    assert (r["amount_due"], r["net_personal"]) == (400, 200)


def test_004_二_三_an_adult_on_a_household_list_must_say_parent_or_child() -> None:
    with pytest.raises(InputError) as err:
        q(P, HY, "1975-05-01", "regular", "2024-10-01", ["son_household"])
    assert err.value.field == "person.household_role"


def test_004_二_dual_identity_prefers_the_upfront_subsidy_on_a_tie() -> None:
    r = q(P, HY, "1950-01-01", "regular", "2024-10-01", ["key_entitled", "destitute"])
    assert r["subsidies"][0]["category"] == "destitute" and r["amount_due"] == 0


def test_004_三_window_and_migrants_from_the_day_after_payment() -> None:
    assert q(P, HY, "1990-01-01", "migrant_late", "2024-12-20")["benefit_start"] == "2025-01-01"
    assert q(P, HY, "1990-01-01", "migrant_late", "2025-01-20")["benefit_start"] == "2025-01-21"


def test_004_三_一_newborn_of_2024_owes_380_for_2024() -> None:
    r = q(P, HY, "2024-10-01", "newborn", "2024-11-15")
    assert r["benefit_start"] == "2024-10-01" and r["amount_due"] == 400
    assert r["additional_dues"] == [{"benefit_year": 2024, "amount": 380}]


def test_004_三_一_newborn_of_2025_within_90_days() -> None:
    r = q(P, HY, "2025-03-01", "newborn", "2025-03-20")
    assert r["benefit_start"] == "2025-03-01" and r["additional_dues"] == []


def test_004_三_一_newborn_after_90_days_from_the_day_after_payment() -> None:
    assert q(P, HY, "2025-01-10", "newborn", "2025-06-01")["benefit_start"] == "2025-06-02"


def test_004_三_一_a_child_over_one_is_not_a_newborn() -> None:
    """一周岁以内新生儿: past one year of age the situation contradicts the person, a refusal naming it."""
    with pytest.raises(InputError) as err:
        q(P, HY, "2024-03-01", "newborn", "2025-03-02")
    assert err.value.field == "situation" and "未满1周岁" in str(err.value) and "2024-03-01" in str(err.value)
    assert q(P, HY, "2024-03-02", "newborn", "2025-03-01")["eligible"] is True  # the day before the birthday


@pytest.mark.parametrize(
    ("lapsed", "repaid", "months", "start"),
    [(0, 0, 3, "2025-06-10"), (2, 0, 5, "2025-08-10"), (2, 1, 4, "2025-07-10"), (5, 5, 6, "2025-09-10")],
)
def test_38号_lapsed_wait_three_months_plus_one_per_year(lapsed: int, repaid: int, months: int, start: str) -> None:
    r = q(P, HY, "1975-05-05", "lapsed", "2025-03-10", lapsed_years=lapsed, repaid_years=repaid)
    assert r["waiting_months"] == months and r["benefit_start"] == start


def test_38号_a_lapsed_person_paying_in_the_window_also_waits() -> None:
    r = q(P, HY, "1975-05-05", "regular", "2024-11-01", lapsed_years=2)
    assert r["benefit_start"] == "2025-04-01" and r["waiting_months"] == 5


@pytest.mark.parametrize(("situation", "paid"), [("special_group", "2025-05-01"), ("retired_fisherman", "2025-05-01")])
def test_004_三_二_special_groups_next_day(situation: str, paid: str) -> None:
    r = q(P, HY, "1960-01-01", situation, paid, ["near_dibao"])
    assert r["benefit_start"] == "2025-05-02"


def test_004_四_二_refund_of_a_county_subsidised_payment() -> None:
    app = application(HY, "1950-01-01", "regular", "2024-10-01", ["key_entitled"])
    assert rq(P, app, "2024-12-01", "death")["amount"] == 400
    assert rq(P, app, "2024-12-01", "death", county_subsidy_refunded=True)["amount"] == 0


@pytest.mark.parametrize("situation", ["from_employee_insurance", "new_student"])
def test_004_situations_the_plan_does_not_name_are_not_covered(situation: str) -> None:
    with pytest.raises(InputError):
        q(P, HY, "1985-01-01", situation, "2025-03-10", employee_insurance_years=3, employee_insurance_gap_months=1)


def test_004_二_三_the_household_role_message_comes_from_the_policys_age() -> None:
    with pytest.raises(InputError) as err:
        q(P, HY, "2000-06-01", "regular", "2024-10-01", ["daughter_household"])
    assert err.value.field == "person.household_role"
    words = "已满18周岁的农村独女户、双女户或农村独男户成员须注明 household_role：child（子女） 或 parent（父母）"
    assert str(err.value).endswith(words + "（004 二(三)）")
