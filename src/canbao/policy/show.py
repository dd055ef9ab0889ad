"""A policy in words an official reads: `canbao policy show ID`."""

from __future__ import annotations

from canbao.policy.loader import load_policy
from canbao.vocabulary import CATEGORY_LABELS, CHANNEL_LABELS, RESIDENCY_LABELS, SITUATION_LABELS, SUBSIDY_KIND_LABELS

_START_WORDS = {
    "benefit_period_start": "自待遇期首日起",
    "from_birth": "自出生之日起",
    "day_after_payment": "自缴费次日起",
    "nth_month_after_payment_month": "自缴费次月起第{n}个月起",
    "months_after_payment": "自缴费之日起{n}个月后",
    "graduated_wait": "固定+变动待遇等待期（国办发〔2024〕38号）",
}


def render(policy_id: str) -> str:
    p = load_policy(policy_id)
    lines = [
        f"政策 {p.policy}（{p.benefit_year}年度）",
        f"  文件：{p.notice.number}《{p.notice.title}》",
        f"  发文：{p.notice.issuer} {p.notice.date or '（未注明日期）'}",
        f"  地区：{p.region.name} — " + "、".join(f"{n}({c})" for c, n in p.region.counties.items()),
        "  参保范围："
        + "、".join(RESIDENCY_LABELS[r] for r in p.eligibility.residency)
        + f"  [{p.eligibility.clause}]",
        f"  个人缴费：{p.personal_contribution}元  [{p.personal_contribution_clause}]",
    ]
    fs = p.fiscal_subsidy
    total = f"{fs.total}元" if fs.total is not None else "未规定"
    lines.append(f"  财政补助：{total}  [{fs.clause}]" + (f"  {fs.note}" if fs.note else ""))
    for split in fs.splits:
        names = "、".join(p.region.counties[c] for c in split.counties)
        lines.append(f"    {names}：中央{split.central} 省{split.province} 市{split.city} 县区{split.county}")
    lines.append("  分类资助：")
    for cat, rule in p.categories.items():
        if rule.not_covered:
            lines.append(f"    {CATEGORY_LABELS[cat]}：不覆盖 — {rule.not_covered}  [{rule.clause}]")
            continue
        timing = "先缴后补" if rule.timing == "refund_after_payment" else "缴费时直接抵扣"
        kind = SUBSIDY_KIND_LABELS[rule.kind or ""]
        age = f"（子女至{rule.child_age_below}周岁）" if rule.child_age_below else ""
        lines.append(
            f"    {CATEGORY_LABELS[cat]}{age}：{rule.amount}元，{kind}，{rule.payer}，{timing}  [{rule.clause}]"
        )
    unlisted = p.unlisted_categories
    lines.append(
        "    其他身份："
        + ("无资助" if unlisted.treatment == "no_subsidy" else f"不覆盖 — {unlisted.reason}")
        + f"  [{unlisted.clause}]"
    )
    col = p.collection
    lines.append(
        "  征收方式：" + "、".join(CHANNEL_LABELS[c] for c in col.channels) + f"  [{col.clause}]"
        + (f"  {col.note}" if col.note else "")
    )  # fmt: skip
    if col.collecting_unit_categories:
        who = "、".join(CATEGORY_LABELS[c] for c in col.collecting_unit_categories)
        lines.append(f"    由乡镇（街道）、村（社区）代收：{who}")
    w = p.collection_window
    lines.append(f"  集中参保缴费期：{w.start} 至 {w.end}  [{w.clause}]")
    if p.migrant_extension:
        lines.append(f"  春节返乡延长期：至 {p.migrant_extension.end}  [{p.migrant_extension.clause}]")
    b = p.benefit_period
    lines.append(f"  待遇享受期：{b.start} 至 {b.end}  [{b.clause}]")
    lines.append("  参保情形：")
    for name, sit in p.situations.items():
        lines.append(f"    {SITUATION_LABELS[name]}（{name}）：")
        for case in sit.cases:
            words = _START_WORDS[case.start.rule].format(n=case.start.n)
            lines.append(f"      {words}  [{case.clause}]")
    for name, why in p.not_covered_situations.items():
        lines.append(f"    {SITUATION_LABELS[name]}（{name}）：不覆盖 — {why}")
    reasons = "、".join(p.refund.reasons) or "无"
    lines.append(f"  退费原因：{reasons}（待遇享受期开始前）  [{p.refund.clause}]")
    return "\n".join(lines)
