"""Every situation and every category of every policy gets an answer: a quote or a plain refusal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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


def test_issue_13_item_4_the_engine_takes_a_policy_object_and_reads_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a policy file is I/O: the engine quotes under the Policy it is given (here one changed in
    memory), reads no file and no clock (today is an argument)."""
    import polars as pl

    from canbao.policy import loader
    from canbao.rules.columns import input_frame
    from canbao.rules.engine import quote_frame
    from conftest import application

    policy = load_policy("anhui/suzhou/lingbi/2022").model_copy(update={"personal_contribution": Decimal("1")})

    def no_files(*_: object, **__: object) -> None:
        raise AssertionError("the engine read a policy file")

    monkeypatch.setattr(loader, "read_policy_file", no_files)
    monkeypatch.setattr(loader, "load_policy", no_files)
    row = application("341323", "1985-01-01", "regular", "2021-11-01")
    frame = input_frame([{**row["person"], "situation": "regular", "paid_on": dt.date(2021, 11, 1)}])
    quoted = quote_frame(policy, frame, dt.date(2021, 11, 1))
    assert quoted["amount_due_fen"].to_list() == [100]
    born_later = quote_frame(policy, frame, dt.date(1984, 12, 31))  # the ID is checked against the day given
    assert born_later["error_field"].to_list() == ["person.id_number"]
    assert isinstance(quoted, pl.DataFrame)
