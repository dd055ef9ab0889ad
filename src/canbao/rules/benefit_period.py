"""When may a person pay, and when do benefits start and end (待遇享受期、待遇等待期).

Each situation of a policy is a list of cases; the first case whose conditions hold gives the start rule.
The start rules are the small vocabulary of the policy schema (`StartRule.rule`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from canbao.money import to_fen
from canbao.policy.schema import Conditions, GraduatedWait, PaymentPeriod, Policy, SituationRule, StartRule
from canbao.rules.columns import birth_date, first_match, paid_on

ONE_DAY = dt.timedelta(days=1)


def payment_period(policy: Policy, period: PaymentPeriod) -> tuple[dt.date, dt.date]:
    """First and last day of a named payment period."""
    window = policy.collection_window
    if period == "window":
        return window.start, window.end
    if period == "migrant_extension":
        assert policy.migrant_extension is not None
        return window.end + ONE_DAY, policy.migrant_extension.end
    return window.end + ONE_DAY, policy.benefit_period.end


def paid_in(policy: Policy, period: PaymentPeriod) -> pl.Expr:
    first, last = payment_period(policy, period)
    return paid_on.is_between(first, last)


def payable(policy: Policy, rule: SituationRule) -> pl.Expr:
    return pl.any_horizontal([paid_in(policy, p) for p in rule.payable])


def describe_payable(policy: Policy, rule: SituationRule) -> str:
    names = {
        "window": "集中参保缴费期",
        "migrant_extension": "春节返乡延长期",
        "after_window": "集中参保期结束后至待遇期末",
    }
    parts = []
    for p in rule.payable:
        first, last = payment_period(policy, p)
        parts.append(f"{names[p]}（{first}至{last}）")
    return "、".join(parts)


def within_newborn_window(rule: SituationRule) -> pl.Expr:
    """Paid within N days (or months) of birth, the birth day counting as day one (自出生之日起)."""
    window = rule.newborn_window
    assert window is not None
    if window.days is not None:
        return paid_on <= birth_date + pl.duration(days=window.days - 1)
    return paid_on < birth_date.dt.offset_by(f"{window.months}mo")


def fits(rule: SituationRule) -> pl.Expr:
    """Whether the person (their birth date, the payment date) fits the situation as the policy defines it
    (`applies_to`); true where the policy gives no definition."""
    who = rule.applies_to
    if who is None:
        return pl.lit(True)
    parts: list[pl.Expr] = []
    if who.born_in_years is not None:
        parts.append(birth_date.dt.year().is_in(who.born_in_years))
    if who.age_below_on_payment is not None:
        parts.append(paid_on < birth_date.dt.offset_by(f"{who.age_below_on_payment}y"))
    if who.age_at_least_on_payment is not None:
        parts.append(paid_on >= birth_date.dt.offset_by(f"{who.age_at_least_on_payment}y"))
    return pl.all_horizontal(parts)


def describe_fit(rule: SituationRule) -> str:
    """Who the situation fits, in Chinese (the words of the refusal)."""
    who = rule.applies_to
    assert who is not None
    parts: list[str] = []
    if who.born_in_years is not None:
        parts.append("或".join(f"{y}年" for y in who.born_in_years) + "出生")
    if who.age_below_on_payment is not None:
        parts.append(f"缴费时未满{who.age_below_on_payment}周岁")
    if who.age_at_least_on_payment is not None:
        parts.append(f"缴费时已满{who.age_at_least_on_payment}周岁")
    return "且".join(parts)


def condition(policy: Policy, rule: SituationRule, when: Conditions) -> pl.Expr:
    years = pl.col("employee_insurance_years")
    gap = pl.col("employee_insurance_gap_months")
    parts: list[pl.Expr] = []
    if when.paid_in is not None:
        parts.append(paid_in(policy, when.paid_in))
    if when.within_newborn_window is not None:
        parts.append(within_newborn_window(rule) == when.within_newborn_window)
    if when.employee_insurance_years_at_least is not None:
        parts.append(years >= when.employee_insurance_years_at_least)
    if when.employee_insurance_years_below is not None:
        parts.append(years < when.employee_insurance_years_below)
    if when.employee_insurance_gap_months_at_most is not None:
        parts.append(gap <= when.employee_insurance_gap_months_at_most)
    if when.employee_insurance_gap_months_over is not None:
        parts.append(gap > when.employee_insurance_gap_months_over)
    if when.lapsed_years_at_least is not None:
        parts.append(pl.col("lapsed_years") >= when.lapsed_years_at_least)
    return pl.all_horizontal(parts).fill_null(False) if parts else pl.lit(True)


def required_fields(rule: SituationRule) -> list[str]:
    """Optional input fields the cases of a situation read, which must then be given."""
    needed: list[str] = []
    for case in rule.cases:
        w = case.when
        if w.employee_insurance_years_at_least is not None or w.employee_insurance_years_below is not None:
            needed.append("employee_insurance_years")
        if w.employee_insurance_gap_months_at_most is not None or w.employee_insurance_gap_months_over is not None:
            needed.append("employee_insurance_gap_months")
    return list(dict.fromkeys(needed))


def graduated_wait_months(wait: GraduatedWait) -> pl.Expr:
    """国办发〔2024〕38号: fixed months + months per lapsed year − months per year paid back (not below 0)."""
    lapsed = pl.col("lapsed_years").clip(lower_bound=0)
    repaid = pl.col("repaid_years").clip(lower_bound=0)
    variable = (lapsed * wait.months_per_lapsed_year - repaid * wait.months_per_repaid_year).clip(lower_bound=0)
    if wait.floor_from_lapsed_years is not None:
        floor = pl.min_horizontal(lapsed * wait.months_per_lapsed_year, pl.lit(wait.floor_variable_months))
        variable = (
            pl.when(lapsed >= wait.floor_from_lapsed_years).then(pl.max_horizontal(variable, floor)).otherwise(variable)
        )
    return (variable + wait.fixed_months).cast(pl.Int32)


def start_rule(policy: Policy, rule: SituationRule, start: StartRule) -> pl.Expr:
    """The first day of benefits under one start rule, before clamping to the benefit period."""
    match start.rule:
        case "benefit_period_start":
            return pl.lit(rule.benefit_period_start or policy.benefit_period.start, dtype=pl.Date)
        case "from_birth":
            return birth_date
        case "day_after_payment":
            return paid_on + pl.duration(days=1)
        case "nth_month_after_payment_month":
            # 000 三(二)2(1): "自参保缴费次月起第3个月" — the 1st month is the month after payment.
            return paid_on.dt.month_start().dt.offset_by(f"{start.n}mo")
        case "months_after_payment":
            # 003 三(三): "自缴费之日起6个月后" — the same day N months on (clamped to the month's end).
            return paid_on.dt.offset_by(f"{start.n}mo")
        case "graduated_wait":
            assert policy.graduated_wait is not None
            return paid_on.dt.offset_by(pl.format("{}mo", graduated_wait_months(policy.graduated_wait)))


case_column = pl.col("_case")  # index of the first matching case of the row's situation; null when none matches
raw_start_column = pl.col("_raw_start")  # the case's start rule applied, before clamping to the benefit period


@dataclass(frozen=True)
class BenefitRule:
    """The situation rules in three steps, each stored before the next reads it: which case applies (`case`,
    stored as `_case`); its start rule (`raw_start`, stored as `_raw_start`), computed once per distinct rule
    rather than once per case; then what follows (start, waiting months, clause, additional due)."""

    case: pl.Expr
    raw_start: pl.Expr
    start: pl.Expr
    waiting_months: pl.Expr
    clause: pl.Expr
    additional_due_year: pl.Expr
    additional_due_fen: pl.Expr


def benefit_rule(policy: Policy) -> BenefitRule:
    situation = pl.col("situation")
    conditions: list[pl.Expr] = []
    clauses: list[str] = []
    first_days: dict[int, dt.date] = {}
    prior_year: dict[int, int] = {}
    prior_fen: dict[int, int] = {}
    waits: dict[int, int] = {}
    graduated: list[int] = []
    starts: dict[tuple[str, int | None, dt.date], tuple[pl.Expr, list[int]]] = {}
    for name, rule in policy.situations.items():
        first = rule.benefit_period_start or policy.benefit_period.start
        for case in rule.cases:
            i = len(conditions)
            conditions.append((situation == name) & condition(policy, rule, case.when))
            clauses.append(case.clause)
            first_days[i] = first
            if rule.prior_year_contribution is not None:
                prior_year[i] = rule.prior_year_contribution.benefit_year
                prior_fen[i] = to_fen(rule.prior_year_contribution.amount)
            key = (case.start.rule, case.start.n, first)
            starts.setdefault(key, (start_rule(policy, rule, case.start), []))[1].append(i)
            if case.start.rule == "graduated_wait":
                graduated.append(i)
            else:
                waits[i] = _constant_wait(case.start)

    def by_case(mapping: dict[int, object], dtype: pl.DataType) -> pl.Expr:
        return case_column.replace_strict(mapping, default=None, return_dtype=dtype)

    raw_start = first_match([(case_column.is_in(cases), date) for date, cases in starts.values()]).cast(pl.Date)
    first_day = by_case(dict(first_days), pl.Date())
    months = by_case(dict(waits), pl.Int32())
    if graduated:
        assert policy.graduated_wait is not None
        months = (
            pl.when(case_column.is_in(graduated)).then(graduated_wait_months(policy.graduated_wait)).otherwise(months)
        )
    # A start before this benefit period belongs to the previous benefit year: it is kept (with that year's
    # contribution as an additional due) only where the policy says so (004 三(一)); otherwise benefits
    # under this policy start on its first day.
    owes_prior = case_column.is_in(list(prior_year)) & (raw_start_column < first_day)
    return BenefitRule(
        case=first_match([(cond, pl.lit(i, dtype=pl.Int16)) for i, cond in enumerate(conditions)]),
        raw_start=raw_start,
        start=pl.when(owes_prior).then(raw_start_column).otherwise(pl.max_horizontal(raw_start_column, first_day)),
        waiting_months=months,
        clause=by_case(dict(enumerate(clauses)), pl.Enum(list(dict.fromkeys(clauses)))),
        additional_due_year=pl.when(owes_prior).then(by_case(dict(prior_year), pl.Int32())),
        additional_due_fen=pl.when(owes_prior).then(by_case(dict(prior_fen), pl.Int64())),
    )


def _constant_wait(start: StartRule) -> int:
    """Waiting months of a start rule that does not depend on the person."""
    if start.rule == "nth_month_after_payment_month":
        assert start.n is not None
        return start.n - 1
    if start.rule == "months_after_payment":
        assert start.n is not None
        return start.n
    return 0
