"""Every situation and every category of every policy gets an answer: a quote or a plain refusal."""

from __future__ import annotations

import datetime as dt

import pytest

from canbao.errors import InputError
from canbao.policy import list_policies, load_policy
from canbao.rules.benefit_period import payment_period
from canbao.vocabulary import CATEGORIES, SITUATIONS
from conftest import q


def _paid_on(policy_id: str, situation: str) -> str:
    policy = load_policy(policy_id)
    rule = policy.situations[situation]
    first, last = payment_period(policy, rule.payable[-1])
    return min(first + dt.timedelta(days=20), last).isoformat()


@pytest.mark.parametrize("policy_id", list_policies())
@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_situation_is_quoted_or_said_to_be_not_covered(policy_id: str, situation: str) -> None:
    policy = load_policy(policy_id)
    county = next(iter(policy.region.counties))
    if situation not in policy.situations:
        paid = (policy.benefit_period.start + dt.timedelta(days=60)).isoformat()
        with pytest.raises(InputError) as err:
            q(policy_id, county, "1980-01-01", situation, paid)
        assert err.value.field == "situation" and "不覆盖" in err.value.message
        return
    paid = _paid_on(policy_id, situation)
    birth = (
        (dt.date.fromisoformat(paid) - dt.timedelta(days=10)).isoformat() if situation == "newborn" else "2010-01-01"
    )
    rule = policy.situations[situation]
    extra = {"employee_insurance_years": 5, "employee_insurance_gap_months": 1}
    residency = rule.requires_residency[0] if rule.requires_residency else "local_hukou"
    cats = rule.requires_categories[:1] if rule.requires_categories else []
    r = q(policy_id, county, birth, situation, paid, cats, residency=residency, **extra)
    assert r["eligible"] is True, r["reasons"]
    assert r["benefit_end"] == policy.benefit_period.end.isoformat() and r["rule"]


@pytest.mark.parametrize("policy_id", list_policies())
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_gets_its_subsidy_none_or_a_not_covered_answer(policy_id: str, category: str) -> None:
    policy = load_policy(policy_id)
    county = next(iter(policy.region.counties))
    paid = (policy.collection_window.start + dt.timedelta(days=30)).isoformat()
    rule = policy.categories.get(category)  # type: ignore[call-overload]
    open_ = (rule is not None and rule.not_covered) or (
        rule is None and policy.unlisted_categories.treatment == "not_covered"
    )
    if open_:
        with pytest.raises(InputError) as err:
            q(policy_id, county, "1970-01-01", "regular", paid, [category], household_role="parent")
        assert err.value.field == "person.categories"
        return
    r = q(policy_id, county, "1970-01-01", "regular", paid, [category], household_role="parent")
    expected = 0 if rule is None else int(rule.amount * 100)
    assert int((r["subsidies"][0]["amount"] if r["subsidies"] else 0) * 100) == expected
