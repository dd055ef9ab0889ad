"""`canbao quote-demo`: a handful of persons quoted under every policy.

A front end: it prints with rich and passes "today" (China Standard Time unless given) to the rules engine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from canbao.bootstrap import today as campaign_today
from canbao.ids import make_id_number
from canbao.money import yuan_json
from canbao.policy import list_policies, load_policy
from canbao.rules.engine import quote_frame
from canbao.vocabulary import CATEGORY_LABELS, SITUATION_LABELS

# (name, birth, situation, when paid (see _paid), categories, other person fields)
_SAMPLES: list[tuple[str, dt.date, str, tuple[str, int], list[str], dict[str, Any]]] = [
    ("张三", dt.date(1985, 6, 15), "regular", ("window", 30), [], {}),
    ("李四", dt.date(1960, 3, 2), "regular", ("window", 40), ["dibao"], {}),
    ("王五", dt.date(1970, 8, 9), "regular", ("window", 50), ["destitute", "dibao"], {}),
    ("赵六", dt.date(1990, 1, 20), "migrant_late", ("year", 38), [], {}),
    (
        "钱七",
        dt.date(1980, 11, 11),
        "from_employee_insurance",
        ("year", 104),
        [],
        {"employee_insurance_years": 3, "employee_insurance_gap_months": 5},
    ),
    ("孙八", dt.date(1975, 5, 5), "lapsed", ("year", 68), [], {"lapsed_years": 2}),
    ("吴九", dt.date(1962, 7, 7), "special_group", ("year", 130), ["dibao"], {}),
    ("周十", dt.date(1979, 2, 14), "regular", ("window", 20), ["son_household"], {"household_role": "parent"}),
]


def _paid(policy_id: str, when: tuple[str, int]) -> dt.date:
    """A payment date inside the collection window, or so many days into the benefit year."""
    policy = load_policy(policy_id)
    kind, days = when
    first = policy.collection_window.start if kind == "window" else policy.benefit_period.start
    return first + dt.timedelta(days=days)


def _applications(policy_id: str) -> pl.DataFrame:
    policy = load_policy(policy_id)
    county = next(iter(policy.region.counties))
    rows = []
    for seq, (name, birth, situation, when, cats, extra) in enumerate(_SAMPLES):
        rows.append(
            {
                "id_number": make_id_number(county, birth, 100 + seq),
                "name": name,
                "county": county,
                "residency": "local_hukou",
                "categories": cats,
                "situation": situation,
                "paid_on": _paid(policy_id, when),
                "employee_insurance_years": extra.get("employee_insurance_years"),
                "employee_insurance_gap_months": extra.get("employee_insurance_gap_months"),
                "lapsed_years": extra.get("lapsed_years", 0),
                "household_role": extra.get("household_role"),
            }
        )
    newborn_birth = policy.benefit_period.start + dt.timedelta(days=40)
    rows.append(
        {
            "id_number": make_id_number(county, newborn_birth, 7),
            "name": "新生儿",
            "county": county,
            "residency": "local_hukou",
            "categories": [],
            "situation": "newborn",
            "paid_on": newborn_birth + dt.timedelta(days=30),
            "employee_insurance_years": None,
            "employee_insurance_gap_months": None,
            "lapsed_years": 0,
            "household_role": None,
        }
    )
    return pl.DataFrame(rows)


def _yuan(fen: int | None) -> str:
    value = yuan_json(fen)
    return "" if value is None else str(value)


def run(console: Console | None = None, today: dt.date | None = None) -> None:
    # Piped output (make demo under CI) gets 80 columns by default; the table needs a little more.
    console = console or Console(width=max(Console().width, 120))
    today = today or campaign_today()
    for policy_id in list_policies():
        policy = load_policy(policy_id)
        quoted = quote_frame(policy, _applications(policy_id), today)
        period = policy.benefit_period
        table = Table(
            title=f"{policy.region.name} {policy.benefit_year}年度（{policy.notice.number}）待遇期至 {period.end}",
            title_justify="left",
        )
        table.add_column("姓名", no_wrap=True)
        table.add_column("情形", max_width=12, overflow="fold")
        table.add_column("身份", max_width=10, overflow="fold")
        table.add_column("缴费日", no_wrap=True)
        table.add_column("应缴", justify="right", no_wrap=True)
        table.add_column("个人负担", justify="right", no_wrap=True)
        table.add_column("待遇起", no_wrap=True)
        table.add_column("依据或原因", ratio=1, overflow="fold")
        for row in quoted.iter_rows(named=True):
            cats = "、".join(CATEGORY_LABELS[c] for c in row["categories"]) or "—"
            due = net = start = ""
            if row["error"] is not None:
                note = f"[red]不覆盖或有误[/red]：{row['error']}"
            elif not row["eligible"]:
                note = "[yellow]不符合[/yellow]：" + "；".join(row["reasons"])
            else:
                note = " ".join((row["rule"] or "").split(" ")[:2])
                if row["subsidy_category"]:
                    timing = "先缴后补" if row["subsidy_timing"] == "refund_after_payment" else "直接抵扣"
                    note += f"；资助{_yuan(row['subsidy_fen'])}元（{timing}）"
                if row["additional_due_year"]:
                    note += f"；另缴{row['additional_due_year']}年度{_yuan(row['additional_due_fen'])}元"
                due, net = _yuan(row["amount_due_fen"]), _yuan(row["net_personal_fen"])
                start = str(row["benefit_start"])
            table.add_row(
                row["name"], SITUATION_LABELS[row["situation"]], cats, str(row["paid_on"]), due, net, start, note
            )
        console.print(table)
