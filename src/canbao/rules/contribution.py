"""What is due and who pays it: personal contribution, the one most favourable category subsidy, and the
fiscal subsidy per budget level.

Dual identities: a person on several lists gets the single largest subsidy (ties: the one paid upfront,
then the one the policy lists first), never two (003 三(二)2 比对去重; 004 五(二) 剔除双重身份).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from canbao.money import to_fen
from canbao.policy.schema import CategoryRule, Policy
from canbao.rules.columns import age_on, categories, first_match
from canbao.vocabulary import CATEGORIES, CATEGORY_LABELS, FISCAL_LEVELS


def _has(category: str) -> pl.Expr:
    return categories.list.contains(category)


def _subsidised(policy: Policy) -> list[tuple[str, CategoryRule]]:
    return [(c, r) for c, r in policy.categories.items() if r.not_covered is None]


def household_categories(policy: Policy) -> list[tuple[str, CategoryRule]]:
    """The subsidised categories whose subsidy depends on the household role: daughter/son household lists,
    whose parents are subsidised at any age and whose child until `child_age_below` (004 二(三))."""
    return [(c, r) for c, r in _subsidised(policy) if r.child_age_below is not None]


def household_roles(memberships: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """person_id → household_role from a person's memberships (person_id, category, household_role,
    batch_id): what their household lists say, the latest batch that says it; a role given on another list
    (e.g. 计生) does not decide a household subsidy (004 二(三))."""
    household = [c for c, _ in household_categories(policy)]
    return (
        memberships.filter(pl.col("household_role").is_not_null() & pl.col("category").is_in(household))
        .sort("batch_id")
        .group_by("person_id")
        .agg(pl.col("household_role").last())
    )


def _past_child_age(policy: Policy, rule: CategoryRule) -> pl.Expr:
    """004 二(三): the daughter or son of a household list is subsidised until `child_age_below`, the age
    counted on the benefit-period start; past it only a parent is."""
    assert rule.child_age_below is not None
    return age_on(policy.benefit_period.start) >= rule.child_age_below


def household_role_missing(policy: Policy) -> pl.Expr:
    """An adult on a household list (004 二(三)) must say whether they are the parent or the child."""
    parts = [
        _has(cat) & _past_child_age(policy, rule) & pl.col("household_role").is_null()
        for cat, rule in household_categories(policy)
    ]
    return pl.any_horizontal(parts) if parts else pl.lit(False)


def household_child_too_old(policy: Policy, category: str, rule: CategoryRule) -> pl.Expr:
    """The child of a household on `category`'s list (`rule` its policy rule) who has reached the rule's age
    on the benefit-period start: no longer subsidised as the daughter or son (004 二(三))."""
    if rule.child_age_below is None:
        return pl.lit(False)
    return _has(category) & _past_child_age(policy, rule) & (pl.col("household_role") == "child")


def _applies(policy: Policy, category: str, rule: CategoryRule) -> pl.Expr:
    has = _has(category)
    if rule.child_age_below is None:
        return has
    # 004 二(三): daughters/sons until 18 (age on the benefit-period start), parents at any age.
    young = ~_past_child_age(policy, rule)
    role = pl.col("household_role")
    return has & ((role == "parent") | ((role == "child") & young) | (role.is_null() & young))


@dataclass(frozen=True)
class Subsidy:
    category: pl.Expr
    amount_fen: pl.Expr


def best_subsidy(policy: Policy) -> Subsidy:
    """The single most favourable subsidy of each row (null category when none applies)."""
    scored: list[tuple[str, pl.Expr, int]] = []
    for cat, rule in _subsidised(policy):
        assert rule.amount is not None
        # score: amount first, upfront before refund-after-payment on a tie.
        score = to_fen(rule.amount) * 2 + (1 if rule.timing == "upfront" else 0)
        scored.append((cat, _applies(policy, cat, rule), score))
    if not scored:
        return Subsidy(pl.lit(None, dtype=pl.String), pl.lit(0, dtype=pl.Int64))
    best = pl.max_horizontal([pl.when(applies).then(pl.lit(score)) for _, applies, score in scored])
    category = first_match([(applies & (best == score), pl.lit(cat)) for cat, applies, score in scored])
    amount = (best // 2).fill_null(0).cast(pl.Int64)
    return Subsidy(category, amount)


def category_attribute(policy: Policy, category: pl.Expr, attribute: str) -> pl.Expr:
    mapping = {c: str(getattr(r, attribute)) for c, r in _subsidised(policy)}
    return category.replace_strict(mapping, default=None, return_dtype=pl.String)


def not_covered_category(policy: Policy, subsidy_fen: pl.Expr) -> pl.Expr:
    """Message for a category whose subsidy the notice leaves to others, when it could change the answer.

    A full subsidy already found cannot be beaten, so the open category then does not matter.
    """
    full = to_fen(policy.personal_contribution)
    open_categories: list[tuple[str, str, str]] = [
        (c, r.not_covered, r.clause) for c, r in policy.categories.items() if r.not_covered is not None
    ]
    unlisted = policy.unlisted_categories
    if unlisted.treatment == "not_covered":
        reason = unlisted.reason or "本政策未规定该身份的资助"
        open_categories += [(c, reason, unlisted.clause) for c in CATEGORIES if c not in policy.categories]
    return first_match(
        [
            (
                _has(cat) & (subsidy_fen < full),
                pl.lit(f"{CATEGORY_LABELS[cat]}不在本政策覆盖范围：{reason}（{clause}）"),
            )
            for cat, reason, clause in open_categories
        ]
    ).cast(pl.String)


def fiscal_subsidy_fen(policy: Policy) -> dict[str, pl.Expr]:
    """Fiscal subsidy per person per level for the person's county; null where the notice gives no split."""
    county = pl.col("county")
    out: dict[str, pl.Expr] = {}
    for level in FISCAL_LEVELS:
        mapping = {c: to_fen(getattr(s, level)) for s in policy.fiscal_subsidy.splits for c in s.counties}
        out[level] = (
            county.replace_strict(mapping, default=None, return_dtype=pl.Int64)
            if mapping
            else pl.lit(None, dtype=pl.Int64)
        )
    total = policy.fiscal_subsidy.total
    out["total"] = pl.lit(to_fen(total) if total is not None else None, dtype=pl.Int64)
    return out


def not_covered_applies(policy: Policy, subsidy_fen: pl.Expr) -> pl.Expr:
    """The condition of `not_covered_category`, without building its words."""
    full = to_fen(policy.personal_contribution)
    open_categories: list[str] = [c for c, r in policy.categories.items() if r.not_covered is not None]
    if policy.unlisted_categories.treatment == "not_covered":
        open_categories += [c for c in CATEGORIES if c not in policy.categories]
    if not open_categories:
        return pl.lit(False)
    return pl.any_horizontal([_has(c) for c in open_categories]) & (subsidy_fen < full)
