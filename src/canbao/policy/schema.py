"""The shape of a policy file: one notice, one region, one benefit year.

Every value a notice fixes sits beside the clause it comes from (`clause: "000 二(二)"`, where "000" is the
notice's file number in shared/notices/).  What a notice leaves open is either absent (and the engine answers
"not covered") or carries a `not_covered` text saying why.  Amounts are yuan in the file, Decimal here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from canbao.vocabulary import (
    Category,
    Channel,
    HouseholdRole,
    RefundReason,
    Residency,
    Situation,
    SubsidyKind,
    SubsidyTiming,
)

Clause = str
PaymentPeriod = Literal["window", "migrant_extension", "after_window"]
StartRuleName = Literal[
    "benefit_period_start",
    "from_birth",
    "day_after_payment",
    "nth_month_after_payment_month",
    "months_after_payment",
    "graduated_wait",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Notice(Strict):
    ref: str = Field(description="file number in shared/notices/, the prefix of every clause citation")
    number: str
    title: str
    issuer: str
    date: dt.date | None


class Region(Strict):
    name: str
    division: str = Field(pattern=r"^\d{6}$")
    counties: dict[str, str] = Field(description="division code -> name of each county/district covered")
    clause: Clause

    @model_validator(mode="after")
    def _codes(self) -> Region:
        for code in self.counties:
            if len(code) != 6 or not code.isdigit():
                raise ValueError(f"county code {code!r} must be 6 digits")
        return self


class Eligibility(Strict):
    residency: list[Residency]
    employee_insurance_excluded: bool
    clause: Clause


class FiscalSplit(Strict):
    counties: list[str]
    central: Decimal
    province: Decimal
    city: Decimal
    county: Decimal
    clause: Clause


class FiscalSubsidy(Strict):
    """财政补助.  `total` is null where the notice does not state it; `splits` empty where it gives no levels."""

    total: Decimal | None
    splits: list[FiscalSplit] = []
    clause: Clause
    note: str | None = None


class CategoryRule(Strict):
    """The subsidy one identity category gets, or why the notice does not fix it."""

    kind: SubsidyKind | None = None
    amount: Decimal | None = None
    payer: str | None = None
    timing: SubsidyTiming | None = None
    # Household categories (004 二(三)): children only below this age on the benefit-period start; parents always.
    child_age_below: int | None = None
    not_covered: str | None = None
    clause: Clause

    @model_validator(mode="after")
    def _complete(self) -> CategoryRule:
        given = [self.kind, self.amount, self.payer, self.timing]
        if self.not_covered is None and any(v is None for v in given):
            raise ValueError("a subsidy needs kind, amount, payer and timing (or not_covered with the reason)")
        if self.not_covered is not None and any(v is not None for v in given):
            raise ValueError("not_covered excludes kind, amount, payer and timing")
        if self.amount is not None and self.amount < 0:
            raise ValueError("amount must not be negative")
        return self


class UnlistedCategories(Strict):
    """What a category the notice does not name gets: nothing, or a "not covered" answer."""

    treatment: Literal["no_subsidy", "not_covered"]
    reason: str | None = None
    clause: Clause


class Collection(Strict):
    """征收方式: the channels payments may come through, and who is asked to pay through the collecting unit
    of their township (委托代收, e.g. 000 四(一): 特困人员、低保对象、返贫致贫人口、重点优抚对象等特殊群体).
    Students pay through their school where `school` is a channel; everyone else online by themselves."""

    channels: list[Channel] = Field(min_length=1)
    collecting_unit_categories: list[Category] = []
    clause: Clause
    note: str | None = Field(default=None, description="what the file decides where the notice is silent")


class OnlinePayment(Strict):
    """Residents' own payments through a channel (微信、支付宝、皖事通): when an order with no notification is
    asked after (主动查单).  No notice sets this: a value of the file, with its note."""

    query_after_minutes: int = Field(ge=1, le=24 * 60)
    clause: Clause
    note: str | None = Field(default=None, description="what the file decides where the notice is silent")


class Period(Strict):
    start: dt.date
    end: dt.date
    clause: Clause

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        return self


class MigrantExtension(Strict):
    end: dt.date
    clause: Clause


class GraduatedWait(Strict):
    """国办发〔2024〕38号: fixed wait plus months per lapsed year, minus months per year paid back."""

    fixed_months: int = Field(ge=0)
    months_per_lapsed_year: int = Field(ge=0)
    months_per_repaid_year: int = Field(ge=0)
    floor_from_lapsed_years: int | None = None
    floor_variable_months: int = 0
    source: str


class StartRule(Strict):
    rule: StartRuleName
    n: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _n(self) -> StartRule:
        needs_n = self.rule in ("nth_month_after_payment_month", "months_after_payment")
        if needs_n and self.n is None:
            raise ValueError(f"start rule {self.rule} needs n (months)")
        if not needs_n and self.n is not None:
            raise ValueError(f"start rule {self.rule} takes no n")
        return self


class Conditions(Strict):
    """All given conditions must hold for a case to apply."""

    paid_in: PaymentPeriod | None = None
    within_newborn_window: bool | None = None
    employee_insurance_years_at_least: int | None = None
    employee_insurance_years_below: int | None = None
    employee_insurance_gap_months_at_most: int | None = None
    employee_insurance_gap_months_over: int | None = None
    lapsed_years_at_least: int | None = None


class Case(Strict):
    when: Conditions = Conditions()
    start: StartRule
    clause: Clause


class NewbornWindow(Strict):
    """新生儿“落地”参保: paid within `days` (or `months`) counted from the birth day as day one."""

    days: int | None = None
    months: int | None = None
    clause: Clause

    @model_validator(mode="after")
    def _one(self) -> NewbornWindow:
        if (self.days is None) == (self.months is None):
            raise ValueError("give exactly one of days or months")
        return self


class AppliesTo(Strict):
    """Who a situation fits, by the birth date of the ID number: every condition given must hold, else the
    quote is refused as a contradiction (a "newborn" born in 1985).  A newborn is a newborn by the policy's
    own definition: born in one of `born_in_years` (the collection year and the benefit year, where the notice
    does not say), or under `age_below_on_payment` full years on the payment date (004 三(一) 一周岁以内).
    Where the notice is silent the file says so in `note` (本文件的规定，非通知原文)."""

    born_in_years: list[int] | None = Field(default=None, min_length=1)
    age_below_on_payment: int | None = Field(default=None, ge=1)
    age_at_least_on_payment: int | None = Field(default=None, ge=0)
    clause: Clause
    note: str | None = None

    @model_validator(mode="after")
    def _some(self) -> AppliesTo:
        if self.born_in_years is None and self.age_below_on_payment is None and self.age_at_least_on_payment is None:
            raise ValueError("give born_in_years, age_below_on_payment or age_at_least_on_payment")
        return self


class PriorYearContribution(Strict):
    """Huaiyuan 004 三(一): a newborn of the collection year also owes that year's contribution."""

    benefit_year: int
    amount: Decimal
    clause: Clause


class SituationRule(Strict):
    payable: list[PaymentPeriod]
    requires_residency: list[Residency] | None = None
    requires_categories: list[Category] | None = None
    benefit_period_start: dt.date | None = None
    newborn_window: NewbornWindow | None = None
    applies_to: AppliesTo | None = None
    prior_year_contribution: PriorYearContribution | None = None
    cases: list[Case] = Field(min_length=1)
    uncovered: str | None = Field(default=None, description="answer when no case matches")
    clause: Clause


class RefundRules(Strict):
    reasons: list[RefundReason] = []
    unlisted_reason: str = Field(description="why a reason not listed is not covered")
    clause: Clause


class AssessmentTargets(Strict):
    """The county's targets at the cutoff (e.g. 003 四(一): 1,100,000 enrollees, 171,250 e-voucher activations)."""

    enrollment: int = Field(ge=0)
    e_voucher: int = Field(ge=0)
    clause: Clause


class WorkSubsidy(Strict):
    """工作经费补助 to each township per person enrolled by the cutoff (003 四(二)1)."""

    per_enrollee: Decimal = Field(ge=0)
    clause: Clause


class PrizeTier(Strict):
    name: str
    count: int = Field(ge=1)
    amount: Decimal = Field(ge=0)


class Prizes(Strict):
    """Prizes for the townships that completed every target, best ranked first; `others_amount` for every
    completer beyond the tiers (003 四(二)2)."""

    tiers: list[PrizeTier]
    others_amount: Decimal = Field(ge=0)
    clause: Clause


RankingKey = Literal["enrollment_rate", "e_voucher_rate", "enrolled", "activated"]
TieBreak = Literal["enrolled", "activated", "township_code", "township"]


class Assessment(Strict):
    """考核奖惩: who completed the targets by the cutoff, the work subsidy and the prizes.  Work dated after the
    cutoff (payments, activations) does not count."""

    cutoff: dt.date
    cutoff_clause: Clause
    targets: AssessmentTargets
    work_subsidy: WorkSubsidy
    prizes: Prizes
    criticized_clause: Clause = Field(description="where the notice names those who did not complete")
    ranking: list[RankingKey] = ["enrollment_rate", "e_voucher_rate"]
    tie_break: list[TieBreak] = ["enrolled", "township_code"]
    ranking_note: str = Field(description="where the ranking and its tie-break come from (a notice may give none)")


class Policy(Strict):
    policy: str = Field(pattern=r"^[a-z]+(/[a-z]+)+/\d{4}$")
    benefit_year: int
    notice: Notice
    region: Region
    eligibility: Eligibility
    personal_contribution: Decimal
    personal_contribution_clause: Clause
    fiscal_subsidy: FiscalSubsidy
    categories: dict[Category, CategoryRule] = {}
    unlisted_categories: UnlistedCategories
    collection: Collection
    online_payment: OnlinePayment | None = None
    collection_window: Period
    migrant_extension: MigrantExtension | None = None
    benefit_period: Period
    graduated_wait: GraduatedWait | None = None
    situations: dict[Situation, SituationRule]
    not_covered_situations: dict[Situation, str] = {}
    refund: RefundRules
    assessment: Assessment | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field inconsistencies, each as (key path, reason)."""
        out: list[tuple[str, str]] = []
        if not self.policy.endswith(f"/{self.benefit_year}"):
            out.append(("policy", f"must end with the benefit year {self.benefit_year}"))
        if self.benefit_period.start.year != self.benefit_year:
            out.append(("benefit_period.start", "must fall in the benefit year"))
        if self.collection_window.end >= self.benefit_period.end:
            out.append(("collection_window.end", "must come before the benefit period ends"))
        if self.migrant_extension and self.migrant_extension.end <= self.collection_window.end:
            out.append(("migrant_extension.end", "must come after the collection window"))
        if self.collection.collecting_unit_categories and "collecting_unit" not in self.collection.channels:
            out.append(("collection.collecting_unit_categories", "names a collecting unit, not among the channels"))
        for cat, rule in self.categories.items():
            if rule.amount is not None and rule.amount > self.personal_contribution:
                out.append((f"categories.{cat}.amount", f"{rule.amount} exceeds the personal contribution"))
        fs = self.fiscal_subsidy
        seen: set[str] = set()
        for i, split in enumerate(fs.splits):
            total = split.central + split.province + split.city + split.county
            if fs.total is not None and total != fs.total:
                out.append((f"fiscal_subsidy.splits.{i}", f"adds up to {total}, not the total {fs.total}"))
            for c in split.counties:
                if c not in self.region.counties:
                    out.append((f"fiscal_subsidy.splits.{i}.counties", f"county {c} is not in region.counties"))
                if c in seen:
                    out.append((f"fiscal_subsidy.splits.{i}.counties", f"county {c} is named twice"))
                seen.add(c)
        if fs.splits and seen != set(self.region.counties):
            missing = sorted(set(self.region.counties) - seen)
            out.append(("fiscal_subsidy.splits", f"leave out counties {missing}"))
        for name, sit in self.situations.items():
            path = f"situations.{name}"
            if name in self.not_covered_situations:
                out.append((path, "is both covered and in not_covered_situations"))
            if "migrant_extension" in sit.payable and self.migrant_extension is None:
                out.append((f"{path}.payable", "names a migrant extension the policy does not define"))
            if any(c.when.within_newborn_window is not None for c in sit.cases) and sit.newborn_window is None:
                out.append((f"{path}.cases", "test the newborn window but the situation defines none"))
            for j, case in enumerate(sit.cases):
                if case.start.rule == "graduated_wait" and self.graduated_wait is None:
                    out.append((f"{path}.cases.{j}.start", "uses graduated_wait, which the policy does not define"))
            if name == "newborn" and sit.applies_to is None:
                out.append((f"{path}.applies_to", "must say who is a newborn (born_in_years or age_below_on_payment)"))
            if sit.prior_year_contribution and sit.prior_year_contribution.benefit_year != self.benefit_year - 1:
                out.append((f"{path}.prior_year_contribution.benefit_year", "must be the year before"))
        return out

    @property
    def funding_standard(self) -> Decimal | None:
        if self.fiscal_subsidy.total is None:
            return None
        return self.fiscal_subsidy.total + self.personal_contribution


__all__ = ["HouseholdRole", "Policy"]
