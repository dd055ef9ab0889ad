"""Resolution (pure): each person's single most favourable subsidy under the policy, across all their
memberships whose validity overlaps the benefit period, and the feedback's words for it."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from canbao.money import to_fen, to_yuan
from canbao.policy import Policy
from canbao.rules.columns import first_match
from canbao.rules.contribution import (
    best_subsidy,
    household_categories,
    household_child_too_old,
    household_role_missing,
    household_roles,
    not_covered_category,
)
from canbao.services.imports.report import ImportReport
from canbao.services.imports.validation import Job, lit
from canbao.services.imports.words import FIELD_LABELS, TEXT, TIMING_LABELS
from canbao.vocabulary import CATEGORY_LABELS, SUBSIDY_KIND_LABELS


def _yuan_text(amount: Decimal) -> str:
    fen = to_fen(amount)
    return str(fen // 100) if fen % 100 == 0 else str(to_yuan(fen))


def _resolve(policy: Policy, people: pl.DataFrame, memberships: pl.DataFrame) -> pl.DataFrame:
    """For each person (person_id, birth_date): the single most favourable subsidy over all memberships whose
    validity overlaps the benefit period; columns categories, resolved_category, not_covered, resolved."""
    start, end = policy.benefit_period.start, policy.benefit_period.end
    current = memberships.filter(
        (pl.col("valid_from").is_null() | (pl.col("valid_from") <= end))
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= start))
    )
    # Most persons hold one category: only the others go through a group-by (per-group list work in Polars
    # costs ~1 µs a group, 1 s a million).
    several = current["person_id"].is_duplicated()
    held = pl.concat(
        [
            current.filter(~several).select("person_id", categories=pl.concat_list("category")),
            current.filter(several)
            .select("person_id", "category")
            .unique()
            .sort("category")
            .group_by("person_id")
            .agg(pl.col("category").alias("categories")),
        ]
    )
    roles = household_roles(current, policy)  # 004 二(三)
    frame = (
        people.unique("person_id")
        .join(held, on="person_id", how="left")
        .join(roles, on="person_id", how="left")
        .with_columns(pl.col("categories").fill_null(pl.lit([], dtype=pl.List(TEXT))))
    )
    subsidy = best_subsidy(policy)
    frame = frame.with_columns(resolved_category=subsidy.category.cast(TEXT), _fen=subsidy.amount_fen)
    texts: dict[str, str] = {}
    for category, rule in policy.categories.items():
        if rule.not_covered is None and rule.amount is not None and rule.kind is not None:
            timing = TIMING_LABELS.get(rule.timing or "", rule.timing or "")
            texts[category] = (
                f"{CATEGORY_LABELS[category]}：{SUBSIDY_KIND_LABELS[rule.kind]}"
                f"{_yuan_text(rule.amount)}元（{rule.payer}，{timing}）"
            )
    labels = pl.col("categories").list.eval(
        pl.element().replace_strict(CATEGORY_LABELS, default=pl.element(), return_dtype=TEXT)
    )
    main = pl.col("resolved_category").replace_strict(texts, default=None, return_dtype=TEXT).fill_null("无分类资助")
    multiple = pl.when(pl.col("categories").list.len() >= 2).then(
        pl.concat_str([lit("多重身份（"), labels.list.join("、"), lit("）只享受此一项")])
    )
    # 004 二(三): an adult on a household list is subsidised as a parent, not as the child; a list that does not
    # say which leaves the subsidy out, and the feedback asks for the role.
    role = pl.when(household_role_missing(policy)).then(
        lit(
            f"家庭类身份（独女户、双女户、独男户）的成年人须注明是父母还是子女（名单的“{FIELD_LABELS['household_role']}”列），"
            "未计入该项资助"
        )
    )
    too_old = first_match(
        [
            (
                household_child_too_old(policy, category, rule),
                lit(
                    f"{CATEGORY_LABELS[category]}的子女已满{rule.child_age_below}周岁，不享受该项资助（{rule.clause}）"
                ),
            )
            for category, rule in household_categories(policy)
        ]
    ).cast(TEXT)
    frame = frame.with_columns(not_covered=not_covered_category(policy, pl.col("_fen")))
    frame = frame.with_columns(
        resolved=pl.concat_str(
            [main, multiple, pl.col("not_covered"), role, too_old], separator="；", ignore_nulls=True
        ),
    )
    return frame.select("person_id", "categories", "resolved_category", "not_covered", "resolved")


def with_resolution(frame: pl.DataFrame, memberships: pl.DataFrame, job: Job, report: ImportReport) -> pl.DataFrame:
    assert job.policy is not None
    people = frame.filter(pl.col("outcome") != "rejected").select("person_id", "birth_date")
    resolved = _resolve(job.policy, people, memberships)
    report.dual_identities = int(resolved.select((pl.col("categories").list.len() >= 2).sum()).item())
    report.not_covered = int(resolved["not_covered"].is_not_null().sum())
    frame = frame.join(resolved.select("person_id", "resolved"), on="person_id", how="left", maintain_order="left")
    return frame.with_columns(
        resolved=pl.when(pl.col("outcome") != "rejected").then(pl.col("resolved")),
    )
