"""The season: who renews, who dies, who pays, when, through which channel and under which situation; the payment
events priced by the rules engine."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from canbao.policy import Policy, load_policy
from canbao.rules.engine import quote_frame
from canbao.synth.faults import Faults, fault_count
from canbao.synth.places import Geography, name_stem
from canbao.synth.policies import quotable_categories
from canbao.synth.randomness import Rng, lookup
from canbao.synth.tables import (
    CHANNEL_PREFIX,
    FIRST_GRADES,
    NEWBORN_PAYS,
    NEWCOMER_PAYS,
    NOT_ON_ROSTER,
    ONLINE_APPS,
    RENEW,
    SPRING_FESTIVAL,
)


def _day_weights(first: dt.date, last: dt.date, kind: str, policy: Policy) -> list[int]:
    days = (last - first).days + 1
    out: list[int] = []
    for d in range(days):
        x = d / max(days - 1, 1)
        if kind == "window":
            w = 20 + 220 * x**3 + (260 if days - d <= 10 else 0)
            w *= 0.4 if d < 5 else 1.0
        elif kind == "early":  # schools and townships collect early
            w = max(5.0, 100 - 160 * x)
        else:  # migrants: before the Spring Festival
            festival = SPRING_FESTIVAL.get(policy.benefit_year, dt.date(policy.benefit_year, 2, 1))
            peak = (festival - first).days - 8
            w = 5 + 100 * math.exp(-(((d - peak) / 10) ** 2)) + (25 if days - d <= 5 else 0)
        out.append(max(1, round(w)))
    return out


def date_in(rng: Rng, key: pl.Expr, stream: str, first: dt.date, last: dt.date, kind: str, policy: Policy) -> pl.Expr:
    if last < first:
        last = first
    if kind == "uniform":
        offset = rng.below(key, stream, (last - first).days + 1)
    else:
        offset = rng.weighted(key, stream, _day_weights(first, last, kind, policy))
    return pl.lit(first) + pl.duration(days=offset)


def _newborn_window_days(policy: Policy) -> tuple[int, float]:
    """(days within which a newborn counts as paid in time, share of newborns paying later): none pay later
    when the policy leaves a late newborn uncovered."""
    rule = policy.situations.get("newborn")
    if rule is None or rule.newborn_window is None:
        return 90, 0.0
    window = rule.newborn_window
    days = window.days if window.days is not None else 28 * (window.months or 3)
    return days, (0.15 if rule.uncovered is None else 0.0)


def draw_season(persons: pl.DataFrame, geo: Geography, policy: Policy, rng: Rng, faults: Faults) -> pl.DataFrame:
    """Who was on last year's roster, who died, who pays, when, how and under which situation."""
    n = persons.height
    i = pl.col("i")
    window = policy.collection_window
    period = policy.benefit_period
    situations = set(policy.situations)
    frame = persons.with_columns(
        on_roster=~pl.col("newborn") & (rng.unit(i, "roster") >= NOT_ON_ROSTER),
        died_on=pl.lit(None, dtype=pl.Date),
        dead_pays=pl.lit(False),
        second_category=pl.lit(None, dtype=pl.String),
    )
    # Deaths: roster persons (faults: paid after death, or due) and a few off the roster (no fault).
    deaths = fault_count(n, "dead_on_roster")
    paying_dead = max(2, round(deaths * 0.2))
    old = (pl.col("age") >= 60) & (pl.col("residency") != "student")
    dead = faults.pick(rng, frame, pl.col("on_roster") & old, deaths, "death")
    dead_ids = dead["i"].to_list()
    paid_dead = set(dead_ids[:paying_dead])
    late = window.end - dt.timedelta(days=25)
    early = period.start - dt.timedelta(days=200)
    died = pl.when(i.is_in(sorted(paid_dead)))
    died_on = died.then(date_in(rng, i, "died_paid", window.start, late, "uniform", policy)).otherwise(
        date_in(rng, i, "died_due", early, window.end - dt.timedelta(days=5), "uniform", policy)
    )
    off_roster_dead = (
        frame.filter(~pl.col("on_roster") & ~pl.col("newborn") & old & ~i.is_in(dead_ids))
        .with_columns(_d=rng.bits(i, "death_off_roster"))
        .sort("_d")
        .head(max(1, deaths // 10))["i"]
        .to_list()
    )
    all_dead = sorted({*dead_ids, *off_roster_dead})
    frame = frame.with_columns(
        died_on=pl.when(i.is_in(all_dead)).then(died_on),
        dead_pays=i.is_in(sorted(paid_dead)),
    )
    # Dual identities: a dibao person also on the monitored list, or the reverse.
    allowed = set(quotable_categories(policy))
    if {"dibao", "monitored"} <= allowed:
        k = fault_count(n, "dual_identity")
        a = faults.pick(rng, frame, pl.col("category") == "dibao", (k + 1) // 2, "dual_dibao")
        b = faults.pick(rng, frame, pl.col("category") == "monitored", k // 2, "dual_monitored")
        frame = frame.with_columns(
            second_category=pl.when(i.is_in(a["i"].to_list()))
            .then(pl.lit("monitored"))
            .when(i.is_in(b["i"].to_list()))
            .then(pl.lit("dibao"))
        )
    categories = pl.concat_list([pl.col("category"), pl.col("second_category")]).list.drop_nulls()
    frame = frame.with_columns(categories=categories)

    u_pays = rng.unit(i, "pays")
    alive_or_paying = pl.col("died_on").is_null() | pl.col("dead_pays")
    pays = (
        pl.when(pl.col("dead_pays"))
        .then(True)
        .when(pl.col("died_on").is_not_null())
        .then(False)
        .when(pl.col("on_roster"))
        .then(u_pays < RENEW)
        .when(pl.col("newborn"))
        .then(u_pays < NEWBORN_PAYS)
        .otherwise(u_pays < NEWCOMER_PAYS)
    )
    frame = frame.with_columns(pays=pays & alive_or_paying)

    age = pl.col("age")
    student = pl.col("residency") == "student"
    has_category = pl.col("categories").list.len() > 0
    special = "special_group" in policy.situations
    special_needs = policy.situations["special_group"].requires_categories if special else []
    special_ok = (
        pl.any_horizontal([pl.col("categories").list.contains(c) for c in special_needs])
        if special_needs
        else has_category
    )
    newcomer = ~pl.col("on_roster") & ~pl.col("newborn")
    u_sit = rng.unit(i, "situation")
    chain: Any = pl.when(pl.col("dead_pays")).then(pl.lit("regular"))
    if "newborn" in situations:
        chain = chain.when(pl.col("newborn")).then(pl.lit("newborn"))
    if "discharged_soldier" in situations:
        soldier = newcomer & pl.col("male") & age.is_between(19, 25) & (u_sit < 0.08)
        chain = chain.when(soldier).then(pl.lit("discharged_soldier"))
    if "from_employee_insurance" in situations:
        chain = chain.when(newcomer & age.is_between(20, 58) & (u_sit < 0.35)).then(pl.lit("from_employee_insurance"))
    if special:
        chain = chain.when(pl.col("on_roster") & special_ok & (u_sit < 0.05)).then(pl.lit("special_group"))
    if "new_student" in situations:
        chain = chain.when(student & pl.col("grade").is_in(list(FIRST_GRADES))).then(pl.lit("new_student"))
    if "migrant_late" in situations and policy.migrant_extension is not None:
        migrant = (pl.col("residency") == "local_hukou") & age.is_between(18, 55) & ~has_category
        chain = chain.when(migrant & (rng.unit(i, "migrant") < 0.05)).then(pl.lit("migrant_late"))
    situation = chain.otherwise(pl.lit("regular"))
    frame = frame.with_columns(situation=pl.when(pl.col("pays")).then(situation))

    sit = pl.col("situation")
    u_ch = rng.unit(i, "channel")
    channel = (
        pl.when(pl.col("dead_pays"))
        .then(pl.lit("bank_debit"))
        .when(sit.is_in(["newborn", "migrant_late", "from_employee_insurance", "discharged_soldier"]))
        .then(pl.lit("online"))
        .when(sit == "special_group")
        .then(pl.lit("collecting_unit"))
        .when(student & (u_ch < 0.92))
        .then(pl.lit("school"))
        .when(has_category & ~student & (u_ch < 0.9))
        .then(pl.lit("collecting_unit"))
        .when((age >= 18) & (rng.unit(i, "bank") < 0.035))
        .then(pl.lit("bank_debit"))
        .otherwise(pl.lit("online"))
    )
    frame = frame.with_columns(channel=pl.when(pl.col("pays")).then(channel))
    ch = pl.col("channel")
    after = window.end + dt.timedelta(days=4)
    extension_end = policy.migrant_extension.end if policy.migrant_extension else window.end
    gap = rng.below(i, "gap_months", 9)
    batch_days = [
        window.start + dt.timedelta(days=d) for d in (20, 45, 70) if window.start + dt.timedelta(days=d) <= window.end
    ]
    bank_day = lookup(batch_days or [window.start], rng.below(i, "bank_day", max(1, len(batch_days))), pl.Date())
    newborn_days, late_share = _newborn_window_days(policy)
    delay = (
        pl.when(rng.unit(i, "newborn_late") < 1 - late_share)
        .then(3 + rng.below(i, "newborn_delay", min(80, newborn_days - 4)))
        .otherwise(newborn_days + 1 + rng.below(i, "newborn_delay_late", 60))
    )
    newborn_paid = (pl.col("birth") + pl.duration(days=delay)).clip(window.start, period.end - dt.timedelta(days=2))
    dead_paid = (pl.col("died_on") + pl.duration(days=3 + rng.below(i, "dead_paid", 15))).clip(upper_bound=window.end)
    paid_on = (
        pl.when(pl.col("dead_pays"))
        .then(dead_paid)
        .when(sit == "newborn")
        .then(newborn_paid)
        .when(sit == "migrant_late")
        .then(date_in(rng, i, "migrant_day", window.end + dt.timedelta(days=1), extension_end, "migrant", policy))
        .when((sit == "from_employee_insurance") & (gap > 3))
        .then(date_in(rng, i, "employee_day", after, period.end - dt.timedelta(days=190), "uniform", policy))
        .when(sit.is_in(["from_employee_insurance", "special_group", "discharged_soldier"]))
        .then(date_in(rng, i, "dynamic_day", after, period.end - dt.timedelta(days=45), "uniform", policy))
        .when(ch == "bank_debit")
        .then(bank_day)
        .when(ch.is_in(["school", "collecting_unit"]))
        .then(date_in(rng, i, "early_day", window.start, window.end, "early", policy))
        .otherwise(date_in(rng, i, "window_day", window.start, window.end, "window", policy))
    )
    employee = sit == "from_employee_insurance"
    schools = geo.schools
    channel_name = (
        pl.when(ch == "online")
        .then(rng.pick(i, "app", [a for a, _, _ in ONLINE_APPS], [w for _, _, w in ONLINE_APPS]))
        .when(ch == "bank_debit")
        .then(
            pl.when(rng.unit(i, "bank_name") < 0.7)
            .then(pl.lit(f"{name_stem(geo.county_name)}农商银行"))
            .otherwise(pl.lit("中国邮政储蓄银行"))
        )
    )
    return frame.with_columns(
        paid_on=pl.when(pl.col("pays")).then(paid_on),
        channel_name=channel_name,
        collecting_unit=pl.when(ch == "collecting_unit")
        .then(pl.col("township"))
        .when(ch == "school")
        .then(lookup([s.name for s in schools], pl.col("school_index").fill_null(0), pl.String())),
        employee_insurance_years=pl.when(employee).then((2 + rng.below(i, "employee_years", 14)).cast(pl.Int32)),
        employee_insurance_gap_months=pl.when(employee).then(gap.cast(pl.Int32)),
        lapsed_years=pl.lit(0, dtype=pl.Int32),
    )


QUOTE_CHUNK_ROWS = 100_000
"""Rows quoted at a time: the engine's intermediate columns for a million rows would double peak memory."""
QUOTE_INPUTS = (
    "id_number", "name", "county", "residency", "categories", "household_role", "employee_insurance_years",
    "employee_insurance_gap_months", "lapsed_years", "situation", "paid_on",
)  # fmt: skip


def quote(policy_id: str, frame: pl.DataFrame, today: dt.date) -> pl.DataFrame:
    """`quote_frame` in chunks; only error, eligible, reasons and amount_due_fen, in the frame's order."""
    inputs = frame.select([c for c in QUOTE_INPUTS if c in frame.columns])
    parts = [
        quote_frame(load_policy(policy_id), inputs.slice(start, QUOTE_CHUNK_ROWS), today).select(
            "error", "eligible", "reasons", "amount_due_fen"
        )
        for start in range(0, max(inputs.height, 1), QUOTE_CHUNK_ROWS)
    ]
    return pl.concat(parts)


KEPT_COLUMNS = (
    "i", "hh", "rank", "newborn", "age", "birth", "id_number", "name", "phone", "residency", "category",
    "second_category", "categories", "household_role", "village_index", "township", "township_code", "village",
    "village_code", "school_index", "grade", "class_no", "on_roster", "died_on", "situation", "paid_on",
    "male", "elder",
)  # fmt: skip
"""The columns of the persons frame used after the events are priced."""


def price_events(
    frame: pl.DataFrame, geo: Geography, policy_id: str, rng: Rng, serials: int = 0
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Payment events priced by `quote_frame`, in payment order, with transaction ids (serial numbers from
    `serials` on: the parts of a county share one sequence); rows the policy cannot quote (none for 341323)
    are dropped and counted."""
    policy = load_policy(policy_id)
    events = (
        frame.lazy()
        .filter(pl.col("pays"))
        .select(
            "i",
            "id_number",
            "name",
            pl.lit(geo.county).alias("county"),
            "residency",
            "categories",
            "household_role",
            "employee_insurance_years",
            "employee_insurance_gap_months",
            "lapsed_years",
            "situation",
            "paid_on",
            "channel",
            "channel_name",
            "collecting_unit",
            "township",
            "village",
        )
        .collect()
    )
    quoted = quote(policy_id, events, policy.benefit_period.end + dt.timedelta(days=1))
    ok = quoted["error"].is_null() & quoted["eligible"].fill_null(False)
    refused = quoted.filter(~ok)
    unquotable = {
        "rows": refused.height,
        "by_reason": dict(
            refused.select(pl.coalesce(pl.col("error"), pl.col("reasons").list.join("；")).alias("why"))
            .group_by("why")
            .len()
            .sort(["len", "why"], descending=[True, False])
            .head(10)
            .rows()
        ),
    }
    events = events.with_columns(amount_fen=quoted["amount_due_fen"]).filter(ok)
    events = events.with_columns(_order=rng.bits(pl.col("i"), "payment_order")).sort(["paid_on", "_order"])
    multiplier, offset = 73_939_133, rng.python("txn").randrange(100_000_000)
    prefix = (
        pl.when(pl.col("channel") == "online")
        .then(pl.col("channel_name").replace_strict({a: p for a, p, _ in ONLINE_APPS}, default="WX"))
        .otherwise(pl.col("channel").replace_strict(CHANNEL_PREFIX, default="QT"))
    )
    serial = ((pl.int_range(pl.len(), dtype=pl.Int64) + serials) * multiplier + offset) % 100_000_000
    events = events.with_columns(
        txn_id=pl.concat_str([prefix, pl.col("paid_on").dt.to_string("%Y%m%d"), serial.cast(pl.String).str.zfill(8)]),
        _index=pl.int_range(pl.len(), dtype=pl.Int64).over("paid_on"),
    )
    return events, {"unquotable": unquotable, "txn": (multiplier, offset, serials)}
