"""Which policies price the synthetic county, and which identity categories they can quote."""

from __future__ import annotations

from canbao.errors import InputError
from canbao.policy import Policy, list_policies, load_policy
from canbao.vocabulary import CATEGORIES


def choose_policies(county: str) -> tuple[str, str | None]:
    """(the benefit year's policy, last year's policy or None) covering the county."""
    covering: list[tuple[int, int, str]] = []
    for policy_id in list_policies():
        policy = load_policy(policy_id)
        if county in policy.region.counties:
            covering.append((policy.benefit_year, policy_id.count("/"), policy_id))
    if not covering:
        raise InputError("county", f"没有覆盖县区代码 {county} 的政策文件，无法生成缴费金额（可另行指定政策）")
    year, _, current = max(covering)
    previous = [c for c in covering if c[0] == year - 1]
    return current, (max(previous)[2] if previous else None)


def quotable_categories(policy: Policy) -> list[str]:
    """Categories a quote under this policy answers (a 'not covered' category would refuse the row)."""
    out = []
    for category in CATEGORIES:
        rule = policy.categories.get(category)  # type: ignore[call-overload]
        if rule is not None:
            if rule.not_covered is None:
                out.append(category)
        elif policy.unlisted_categories.treatment == "no_subsidy":
            out.append(category)
    return out
