"""The rules engine: a frame of persons, situations and payment dates in; what is due, who pays what and when
benefits start and end out.  One pass of Polars expressions; a single quote is a frame of one.

Each row ends in one of three states:
- `error` set: bad input, or a case the policy does not cover (never guessed); nothing else is filled.
- `eligible` false: the person may not enroll under this policy; `reasons` says why.
- `eligible` true: amounts in fen, benefit dates, the clause applied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from canbao.ids import parse_id_numbers
from canbao.money import to_fen
from canbao.policy import Policy
from canbao.rules import benefit_period as bp
from canbao.rules import contribution
from canbao.rules.columns import (
    REQUIRED,
    birth_date,
    categories,
    first_match,
    not_a_name,
    not_a_name_message,
    paid_on,
    prepare,
    situation,
)
from canbao.vocabulary import (
    CATEGORIES,
    CATEGORY_LABELS,
    HOUSEHOLD_ROLE_LABELS,
    HOUSEHOLD_ROLES,
    RESIDENCIES,
    RESIDENCY_LABELS,
    SITUATION_LABELS,
    SITUATIONS,
)

OUTPUT_COLUMNS = [
    "policy",
    "error_field",
    "error",
    "eligible",
    "reasons",
    "benefit_year",
    "personal_standard_fen",
    "amount_due_fen",
    "net_personal_fen",
    "subsidy_category",
    "subsidy_kind",
    "subsidy_fen",
    "subsidy_payer",
    "subsidy_timing",
    "subsidy_clause",
    "fiscal_central_fen",
    "fiscal_province_fen",
    "fiscal_city_fen",
    "fiscal_county_fen",
    "fiscal_total_fen",
    "benefit_start",
    "benefit_end",
    "waiting_months",
    "additional_due_year",
    "additional_due_fen",
    "rule",
]


Check = tuple[str, pl.Expr, pl.Expr]


def _situation_errors(policy: Policy) -> tuple[list[Check], list[Check], list[Check]]:
    """(situations not covered, missing inputs and payments outside the periods, unmatched cases)."""
    not_covered: list[Check] = []
    for name in SITUATIONS:
        if name not in policy.situations:
            why = policy.not_covered_situations.get(name) or "本政策未规定该情形"  # type: ignore[call-overload]
            text = f"本政策（{policy.policy}）不覆盖“{SITUATION_LABELS[name]}”：{why}"
            not_covered.append(("situation", situation == name, pl.lit(text)))
    inputs: list[Check] = [("paid_on", paid_on < birth_date, pl.lit("缴费日期早于身份证号码中的出生日期"))]
    for name, rule in policy.situations.items():
        for field in bp.required_fields(rule):
            text = f"参保情形“{SITUATION_LABELS[name]}”需要填写 {field}（{rule.clause}）"
            inputs.append((f"person.{field}", (situation == name) & pl.col(field).is_null(), pl.lit(text)))
    for name, rule in policy.situations.items():
        who = rule.applies_to
        if who is not None:
            # A situation that contradicts the person (a "newborn" born in 1985) is refused, never quoted.
            defined = f"本政策的界定：{who.note}" if who.note else who.clause
            fit = pl.format(
                "参保情形“{}”只适用于{}的人员（{}），身份证号码中的出生日期为 {}，与该情形不符",
                pl.lit(SITUATION_LABELS[name]),
                pl.lit(bp.describe_fit(rule)),
                pl.lit(defined),
                birth_date.dt.to_string("%Y-%m-%d"),
            )
            inputs.append(("situation", (situation == name) & ~bp.fits(rule), fit))
    household = contribution.household_categories(policy)
    if household:
        inputs.append(
            ("person.household_role", contribution.household_role_missing(policy), pl.lit(_role_message(policy)))
        )
    for name, rule in policy.situations.items():
        outside = pl.format(
            "缴费日期 {} 不在“{}”的缴费期间内：{}（{}）",
            paid_on.dt.to_string("%Y-%m-%d"),
            pl.lit(SITUATION_LABELS[name]),
            pl.lit(bp.describe_payable(policy, rule)),
            pl.lit(rule.clause),
        )
        inputs.append(("paid_on", (situation == name) & ~bp.payable(policy, rule), outside))
    unmatched: list[Check] = []
    for name, rule in policy.situations.items():
        why = rule.uncovered or "本政策未规定此情况"
        text = f"本政策（{policy.policy}）不覆盖此情况：{why}（{rule.clause}）"
        unmatched.append(("situation", (situation == name) & pl.col("_case").is_null(), pl.lit(text)))
    return not_covered, inputs, unmatched


def _role_message(policy: Policy) -> str:
    """Who must say their household role, from the policy's own categories and ages (004 二(三))."""
    household = contribution.household_categories(policy)
    ages = {rule.child_age_below for _, rule in household}
    if len(ages) == 1:
        who = f"已满{ages.pop()}周岁的" + "或".join(CATEGORY_LABELS[c] for c, _ in household)
    else:
        who = "、".join(f"{CATEGORY_LABELS[c]}已满{r.child_age_below}周岁的" for c, r in household)
    roles = " 或 ".join(f"{code}（{HOUSEHOLD_ROLE_LABELS[code]}）" for code in ("child", "parent"))
    clauses = "、".join(dict.fromkeys(" ".join(r.clause.split(" ")[:2]) for _, r in household))
    return f"{who}成员须注明 household_role：{roles}（{clauses}）"


@dataclass(frozen=True)
class Compiled:
    """One policy's rules as expressions, built once and reused for every frame.

    Conditions run over every row; the words of an error or a reason are built only for the rows that
    need them (formatting text for a million rows would cost more than the rules themselves).
    """

    stages: list[list[pl.Expr]]
    checks: list[Check]
    reasons: list[tuple[pl.Expr, pl.Expr]]
    outputs: list[pl.Expr]


def _input_checks(policy: Policy) -> list[Check]:
    """Bad input: ID numbers, missing or unknown values."""
    unknown_category = ~pl.element().is_in(list(CATEGORIES))
    county_names = "、".join(f"{c} {n}" for c, n in policy.region.counties.items())
    missing: list[Check] = [
        (
            f"person.{c}" if c not in ("situation", "paid_on") else c,
            pl.col(c).is_null(),
            pl.lit(f"缺少必填项 {c}" if c != "paid_on" else "缺少缴费日期，或日期不是 YYYY-MM-DD 格式"),
        )
        for c in REQUIRED
        if c != "id_number"
    ]
    return [
        ("person.id_number", pl.col("id_error").is_not_null(), pl.col("id_error")),
        ("person.name", not_a_name(pl.col("name")).fill_null(False), not_a_name_message(pl.col("name"))),
        (
            "person",
            pl.col("_bad_input").is_not_null(),
            pl.format("{} 的值无法识别（日期为 YYYY-MM-DD，是否为 true/false，年数月数为整数）", pl.col("_bad_input")),
        ),
        *missing,
        (
            "person.county",
            ~pl.col("county").is_in(list(policy.region.counties)),
            pl.format(
                "县区代码 {} 不属于本政策（{}）的地区：{}",
                pl.col("county"),
                pl.lit(policy.policy),
                pl.lit(county_names),
            ),
        ),
        (
            "person.residency",
            ~pl.col("residency").is_in(list(RESIDENCIES)),
            pl.format("未知的居民类型 {}（可选：{}）", pl.col("residency"), pl.lit("、".join(RESIDENCIES))),
        ),
        (
            "person.categories",
            categories.list.eval(unknown_category).list.any(),
            pl.format(
                "未知的身份类别 {}（可选：{}）",
                categories.list.filter(unknown_category).list.first(),
                pl.lit("、".join(CATEGORIES)),
            ),
        ),
        (
            "person.household_role",
            pl.col("household_role").is_not_null() & ~pl.col("household_role").is_in(list(HOUSEHOLD_ROLES)),
            pl.format("未知的家庭角色 {}（可选：child、parent）", pl.col("household_role")),
        ),
        (
            "situation",
            ~situation.is_in(list(SITUATIONS)),
            pl.format("未知的参保情形 {}（可选：{}）", situation, pl.lit("、".join(SITUATIONS))),
        ),
    ]


def _ineligibility(policy: Policy) -> list[tuple[pl.Expr, pl.Expr]]:
    """Why a person may not enroll under this policy: an answer, not an error."""
    out: list[tuple[pl.Expr, pl.Expr]] = [
        (
            ~pl.col("residency").is_in(policy.eligibility.residency),
            pl.format(
                "居民类型“{}”不在本政策参保范围内（{}）",
                pl.col("residency").replace_strict(RESIDENCY_LABELS, default=pl.col("residency")),
                pl.lit(policy.eligibility.clause),
            ),
        )
    ]
    if policy.eligibility.employee_insurance_excluded:
        text = f"正在参加职工医保，应参加职工医保的人员不参加居民医保（{policy.eligibility.clause}）"
        out.append((pl.col("employee_insurance_active"), pl.lit(text)))
    for name, rule in policy.situations.items():
        is_sit = situation == name
        if rule.requires_residency:
            labels = "、".join(RESIDENCY_LABELS[r] for r in rule.requires_residency)
            text = f"“{SITUATION_LABELS[name]}”只适用于{labels}（{rule.clause}）"
            out.append((is_sit & ~pl.col("residency").is_in(rule.requires_residency), pl.lit(text)))
        if rule.requires_categories:
            labels = "、".join(CATEGORY_LABELS[c] for c in rule.requires_categories)
            has_any = pl.any_horizontal([categories.list.contains(c) for c in rule.requires_categories])
            text = f"“{SITUATION_LABELS[name]}”需具有以下身份之一：{labels}（{rule.clause}）"
            out.append((is_sit & ~has_any, pl.lit(text)))
    out.append(
        (
            pl.col("_benefit_start") > pl.lit(policy.benefit_period.end),
            pl.format(
                "待遇将从 {} 开始，晚于本待遇期结束日 {}，本年度缴费无法享受待遇",
                pl.col("_benefit_start").dt.to_string("%Y-%m-%d"),
                pl.lit(str(policy.benefit_period.end)),
            ),
        )
    )
    return out


_COMPILED: dict[tuple[int, dt.date], tuple[Policy, Compiled]] = {}
_COMPILED_KEPT = 32  # policies × days compiled and kept (a season's services quote under a few at a time)


def _compiled(policy: Policy, today: dt.date) -> Compiled:
    """The policy's rules compiled once per policy object and day (a Policy is frozen but not hashable: it
    is kept here by identity, with the object itself so that its id cannot be reused while kept)."""
    key = (id(policy), today)
    kept = _COMPILED.get(key)
    if kept is not None and kept[0] is policy:
        return kept[1]
    compiled = _compile(policy, today)
    if len(_COMPILED) >= _COMPILED_KEPT:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = (policy, compiled)
    return compiled


def _compile(policy: Policy, today: dt.date) -> Compiled:
    personal = pl.lit(to_fen(policy.personal_contribution), dtype=pl.Int64)
    # The ID struct is stored once and its fields read after: reading them straight from the expression
    # would parse every ID number once per field.
    identity = [parse_id_numbers(pl.col("id_number"), today).alias("_id")]
    ident = pl.col("_id")
    id_fields = [
        ident.struct.field("id_number").alias("_id_normalized"),
        ident.struct.field("birth_date").alias("birth_date"),
        ident.struct.field("sex").alias("sex"),
        ident.struct.field("id_error").alias("id_error"),
    ]
    subsidy = contribution.best_subsidy(policy)
    benefit = bp.benefit_rule(policy)
    rules = [
        subsidy.category.alias("_subsidy_category"),
        subsidy.amount_fen.alias("_subsidy_fen"),
        benefit.case.alias("_case"),
    ]
    starts = [benefit.raw_start.alias("_raw_start")]
    follows = [
        benefit.start.alias("_benefit_start"),
        benefit.waiting_months.alias("_waiting_months"),
        benefit.clause.alias("_rule"),
        benefit.additional_due_year.alias("_additional_due_year"),
        benefit.additional_due_fen.alias("_additional_due_fen"),
    ]
    not_covered, inputs, unmatched = _situation_errors(policy)
    open_category = contribution.not_covered_category(policy, pl.col("_subsidy_fen"))
    checks = [
        *_input_checks(policy),
        *not_covered,
        *inputs,
        *unmatched,
        ("person.categories", contribution.not_covered_applies(policy, pl.col("_subsidy_fen")), open_category),
    ]
    reasons = _ineligibility(policy)
    verdict = [
        first_match([(failed, pl.lit(i, dtype=pl.Int16)) for i, (_, failed, _) in enumerate(checks)]).alias(
            "_error_index"
        ),
        pl.any_horizontal([cond for cond, _ in reasons]).fill_null(False).alias("_ineligible"),
    ]

    ok = pl.col("_error_index").is_null()
    eligible = ok & ~pl.col("_ineligible")
    fiscal = contribution.fiscal_subsidy_fen(policy)
    category = pl.col("_subsidy_category")
    timing = contribution.category_attribute(policy, category, "timing")
    upfront = pl.when(timing == "upfront").then(pl.col("_subsidy_fen")).otherwise(0)

    def when_eligible(expr: pl.Expr) -> pl.Expr:
        return pl.when(eligible).then(expr)

    outputs = [
        pl.lit(policy.policy).alias("policy"),
        pl.when(ok).then(eligible).alias("eligible"),
        pl.lit(policy.benefit_year, dtype=pl.Int32).alias("benefit_year"),
        when_eligible(personal).alias("personal_standard_fen"),
        when_eligible(personal - upfront).alias("amount_due_fen"),
        when_eligible(personal - pl.col("_subsidy_fen")).alias("net_personal_fen"),
        when_eligible(category).alias("subsidy_category"),
        when_eligible(contribution.category_attribute(policy, category, "kind")).alias("subsidy_kind"),
        when_eligible(pl.when(category.is_not_null()).then(pl.col("_subsidy_fen"))).alias("subsidy_fen"),
        when_eligible(contribution.category_attribute(policy, category, "payer")).alias("subsidy_payer"),
        when_eligible(timing).alias("subsidy_timing"),
        when_eligible(contribution.category_attribute(policy, category, "clause")).alias("subsidy_clause"),
        *[when_eligible(expr).alias(f"fiscal_{level}_fen") for level, expr in fiscal.items()],
        when_eligible(pl.col("_benefit_start")).alias("benefit_start"),
        when_eligible(pl.lit(policy.benefit_period.end, dtype=pl.Date)).alias("benefit_end"),
        when_eligible(pl.col("_waiting_months")).alias("waiting_months"),
        when_eligible(pl.col("_additional_due_year")).alias("additional_due_year"),
        when_eligible(pl.col("_additional_due_fen")).alias("additional_due_fen"),
        pl.when(ok).then(pl.col("_rule")).alias("rule"),
        pl.coalesce("_id_normalized", "id_number").alias("id_number"),
    ]
    return Compiled([identity, id_fields, rules, starts, follows, verdict], checks, reasons, outputs)


_SEPARATOR = "\x1f"  # joins an ineligible row's reasons while they are scattered back


def _words(compiled: Compiled, frame: pl.DataFrame) -> pl.DataFrame:
    """error_field, error and reasons, built only for the rows refused or ineligible."""
    index = pl.col("_error_index")
    ok = index.is_null()
    fields = {i: name for i, (name, _, _) in enumerate(compiled.checks)}
    needs = frame.select((~ok | pl.col("_ineligible")).arg_true()).to_series()
    words = [
        index.replace_strict(fields, default=None, return_dtype=pl.String).alias("error_field"),
        first_match([(index == i, text) for i, (_, _, text) in enumerate(compiled.checks)])
        .cast(pl.String)
        .alias("error"),
        pl.when(ok)
        .then(pl.concat_list([pl.when(c).then(text) for c, text in compiled.reasons]).list.drop_nulls())
        .list.join(_SEPARATOR)
        .alias("reasons"),
    ]
    full = pl.DataFrame(
        {c: pl.Series(c, [None] * frame.height, dtype=pl.String) for c in ("error_field", "error", "reasons")}
    )
    if needs.len() > 0:
        some = frame[needs].select(words)
        full = full.with_columns(full[c].scatter(needs, some[c]) for c in full.columns)
    no_reasons = pl.lit([], dtype=pl.List(pl.String))
    split = pl.when(pl.col("reasons").is_null()).then(no_reasons).otherwise(pl.col("reasons").str.split(_SEPARATOR))
    return full.with_columns(pl.when(pl.col("error").is_null()).then(split).alias("reasons"))


# Below this many rows the stages run eagerly: planning a lazy query costs more than it saves (a single
# quote takes ~12 ms eagerly against ~19 ms lazily); above it the lazy plan is faster.
EAGER_BELOW_ROWS = 10_000


def quote_frame(policy: Policy, frame: pl.DataFrame | pl.LazyFrame, today: dt.date) -> pl.DataFrame:
    """Quote every row of `frame` under one policy (loaded by the caller: canbao.policy.load_policy); returns
    the input columns plus OUTPUT_COLUMNS.  `today`: the day ID numbers are checked against (a birth date
    after it is refused), given by the caller — the rules read no clock."""
    compiled = _compiled(policy, today)
    lf = prepare(frame)
    if isinstance(frame, pl.DataFrame) and frame.height < EAGER_BELOW_ROWS:
        computed = lf.collect()
        for stage in compiled.stages:
            computed = computed.with_columns(stage)
    else:
        for stage in compiled.stages:
            lf = lf.with_columns(stage)
        computed = lf.collect()
    words = _words(compiled, computed)
    result = computed.with_columns(compiled.outputs).hstack(words)
    return result.select([c for c in result.columns if not c.startswith("_") and c != "id_error"])
