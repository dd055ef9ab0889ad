"""Invariants that hold for every person, situation, date and policy (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canbao import quote, quote_frame
from canbao.errors import InputError
from canbao.ids import make_id_number
from canbao.policy import list_policies, load_policy
from canbao.vocabulary import CATEGORIES, RESIDENCIES, SITUATIONS
from conftest import TODAY

POLICIES = list_policies()
WINDOW_OR_BIRTH = {"regular", "new_student", "migrant_late", "newborn"}


@st.composite
def applications(draw: st.DrawFn, policy_id: str) -> dict[str, Any]:
    policy = load_policy(policy_id)
    county = draw(st.sampled_from(list(policy.region.counties)))
    situation = draw(st.sampled_from(SITUATIONS))
    first = policy.collection_window.start - dt.timedelta(days=20)
    paid = draw(st.dates(first, policy.benefit_period.end + dt.timedelta(days=20)))
    if situation == "newborn":
        birth = draw(st.dates(paid - dt.timedelta(days=400), paid))
    else:
        birth = draw(st.dates(dt.date(1930, 1, 1), paid))
    return {
        "id_number": make_id_number(county, birth, draw(st.integers(0, 999))),
        "county": county,
        "residency": draw(st.sampled_from(RESIDENCIES)),
        "categories": draw(st.lists(st.sampled_from(CATEGORIES), max_size=3, unique=True)),
        "employee_insurance_active": draw(st.booleans()),
        "employee_insurance_years": draw(st.none() | st.integers(0, 30)),
        "employee_insurance_gap_months": draw(st.none() | st.integers(0, 24)),
        "lapsed_years": draw(st.integers(0, 8)),
        "repaid_years": draw(st.integers(0, 8)),
        "household_role": draw(st.none() | st.sampled_from(["child", "parent"])),
        "situation": situation,
        "paid_on": paid,
    }


@st.composite
def frames(draw: st.DrawFn) -> tuple[str, pl.DataFrame]:
    policy_id = draw(st.sampled_from(POLICIES))
    rows = draw(st.lists(applications(policy_id), min_size=1, max_size=25))
    return policy_id, pl.DataFrame(rows)


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(frames())
def test_money_adds_up_for_every_eligible_person(case: tuple[str, pl.DataFrame]) -> None:
    policy_id, frame = case
    out = quote_frame(load_policy(policy_id), frame, today=TODAY).filter(pl.col("eligible").fill_null(False))
    for r in out.iter_rows(named=True):
        subsidy = r["subsidy_fen"] or 0
        upfront = subsidy if r["subsidy_timing"] == "upfront" else 0
        assert 0 <= subsidy <= r["personal_standard_fen"]
        assert r["amount_due_fen"] + upfront == r["personal_standard_fen"]
        assert r["net_personal_fen"] == r["personal_standard_fen"] - subsidy >= 0


@SETTINGS
@given(frames())
def test_benefit_dates_follow_the_rules(case: tuple[str, pl.DataFrame]) -> None:
    policy_id, frame = case
    period = load_policy(policy_id).benefit_period
    out = quote_frame(load_policy(policy_id), frame, today=TODAY).filter(pl.col("eligible").fill_null(False))
    for r in out.iter_rows(named=True):
        assert r["benefit_end"] == period.end
        assert r["benefit_start"] <= period.end
        if r["benefit_start"] <= r["paid_on"]:  # only window and from-birth cases start before payment
            assert r["situation"] in WINDOW_OR_BIRTH
        if r["benefit_start"] < period.start and r["situation"] != "new_student":
            assert r["additional_due_year"] == period.start.year - 1


@SETTINGS
@given(frames())
def test_every_row_is_exactly_one_of_refused_ineligible_or_quoted(case: tuple[str, pl.DataFrame]) -> None:
    policy_id, frame = case
    out = quote_frame(load_policy(policy_id), frame, today=TODAY)
    assert out.height == frame.height
    for r in out.iter_rows(named=True):
        if r["error"] is not None:
            assert r["error_field"] and r["eligible"] is None and r["amount_due_fen"] is None
        elif r["eligible"]:
            assert r["reasons"] == [] and r["amount_due_fen"] is not None and r["rule"]
        else:
            assert r["reasons"] and r["amount_due_fen"] is None


@settings(max_examples=40, deadline=None)
@given(frames())
def test_a_frame_quotes_each_row_as_a_frame_of_one_would(case: tuple[str, pl.DataFrame]) -> None:
    policy_id, frame = case
    out = quote_frame(load_policy(policy_id), frame, today=TODAY)
    for i, row in enumerate(frame.head(5).iter_rows(named=True)):
        app = {
            "person": {k: v for k, v in row.items() if k not in ("situation", "paid_on")},
            "situation": row["situation"],
            "paid_on": row["paid_on"].isoformat(),
        }
        expected = out.row(i, named=True)
        try:
            single = quote(policy_id, app, today=TODAY)
        except InputError as err:
            assert (err.field, err.message) == (expected["error_field"], expected["error"])
            continue
        assert single["eligible"] == expected["eligible"]
        assert single["benefit_start"] == (expected["benefit_start"] and expected["benefit_start"].isoformat())


@SETTINGS
@given(st.sampled_from(POLICIES), st.lists(st.sampled_from(CATEGORIES), min_size=2, max_size=3, unique=True))
def test_dual_identity_gets_the_single_largest_subsidy(policy_id: str, cats: list[str]) -> None:
    policy = load_policy(policy_id)
    county = next(iter(policy.region.counties))
    paid = policy.collection_window.start + dt.timedelta(days=10)
    rows = [
        {
            "id_number": make_id_number(county, dt.date(1970, 1, 1), i),
            "county": county,
            "residency": "local_hukou",
            "categories": c,
            "situation": "regular",
            "paid_on": paid,
            "household_role": "parent",
        }
        for i, c in enumerate([cats, *[[c] for c in cats]])
    ]
    out = quote_frame(load_policy(policy_id), pl.DataFrame(rows), today=TODAY)
    if out["error"].is_not_null().any():
        return  # a category the policy does not cover: refused, never guessed
    together, *alone = out["subsidy_fen"].fill_null(0).to_list()
    assert together == max(alone)
