"""Open a season (roll-over): everyone on last year's roster and the current identity lists gets this year's
quote in one vectorized pass (a city's registry a chunk of persons at a time), stored as due records (催缴) —
and the due lists per township and village.

Who is due: persons of the policy's counties enrolled in the previous benefit year (in the registry, or on
an imported roster of last year's enrollees), or holding an identity category valid on the first day of
the collection window.  Their quote is the regular one as if paid on
that day, with the categories their lists give them (the single most favourable subsidy, as always).
Opening the same season again replaces its due records with the same ones: the totals do not change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select

from canbao.ids import mask_id_numbers
from canbao.outputs import OutputGroup, unique_file_names
from canbao.policy import Policy, load_policy
from canbao.reports.xlsx import AUTOFIT_ROWS, NumberKind, safe_workbook, write_sheet
from canbao.rules.contribution import household_roles
from canbao.rules.engine import quote_frame
from canbao.services.last_year import MEMBERSHIP_SCHEMA, last_year_select, memberships_select
from canbao.services.payment_batch import id_check_day
from canbao.store.bulk import bulk_insert
from canbao.store.db import refresh_statistics
from canbao.store.tables import dues, enrollments, persons
from canbao.store.uow import UnitOfWork, audit, now
from canbao.vocabulary import CATEGORY_LABELS

# Text columns read from the database: typed up front, as a column whose first rows are empty would
# otherwise be taken for an empty type.
_TEXT_COLUMNS = ("id_number", "name", "county", "residency", "township", "village", "phone", "subsidy_category",
                 "subsidy_timing", "how_to_pay")  # fmt: skip


def how_to_pay_categories(policy: Policy) -> list[str]:
    """Who is asked to pay through the collecting unit of their township: the policy's own value
    (`collection.collecting_unit_categories`, e.g. 000 四(一) 特殊群体实行委托代收制).  Students pay at their
    school where the policy collects through schools; everyone else online by themselves."""
    return list(policy.collection.collecting_unit_categories)


HOW_TO_PAY_LABELS = {
    "online": "微信、支付宝或皖事通自助缴费",
    "collecting_unit": "由乡镇（街道）、村（社区）代收",
    "school": "在学校集中缴费",
}


@dataclass(frozen=True)
class SeasonReport:
    policy: str
    benefit_year: int
    candidates: int
    due: int
    not_due: pl.DataFrame  # refused or ineligible, with the reason
    amount_due_fen: int


NOT_DUE_COLUMNS = ("id_number", "name", "township", "village", "reason")  # SeasonReport.not_due

OPEN_CHUNK = 1_100_000
"""Season open quotes and stores this many persons at a time (a county of Lingbi's size in one go): a city's
registry is opened chunk by chunk, in memory bounded by the chunk."""


def _candidates(c: Connection, policy_id: str, ids: tuple[int, int]) -> pl.DataFrame:
    """Who is due among the persons whose id is within `ids` (both ends included)."""
    policy = load_policy(policy_id)
    on = policy.collection_window.start
    counties = list(policy.region.counties)
    valid = memberships_select(on, ids)
    listed = pl.read_database(valid, c, schema_overrides=MEMBERSHIP_SCHEMA)
    people = pl.read_database(
        select(
            persons.c.id.label("person_id"), persons.c.id_number, persons.c.name, persons.c.county,
            persons.c.residency, persons.c.township, persons.c.village,
        ).where(persons.c.county.in_(counties), persons.c.id.between(*ids)),
        c,
        schema_overrides={"person_id": pl.Int64, **dict.fromkeys(_TEXT_COLUMNS, pl.String)},
    )  # fmt: skip
    enrolled = pl.read_database(last_year_select(policy.benefit_year, ids), c, schema_overrides={"person_id": pl.Int64})
    categories = listed.group_by("person_id").agg(pl.col("category").unique().sort().alias("categories"))
    return (
        people.join(categories, on="person_id", how="left")
        .join(household_roles(listed, policy), on="person_id", how="left")  # 004 二(三)
        .with_columns(
            pl.col("categories").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("person_id").is_in(enrolled["person_id"].implode()).alias("last_year"),
        )
        .filter(pl.col("last_year") | (pl.col("categories").list.len() > 0))
        .sort("person_id")
    )


def _chunks(c: Connection, counties: list[str], size: int) -> list[tuple[int, int]]:
    """Ranges of person ids holding about `size` persons of the counties each."""
    low, high, count = c.execute(
        select(func.min(persons.c.id), func.max(persons.c.id), func.count()).where(persons.c.county.in_(counties))
    ).one()
    if not count:
        return []
    step = -(-(high - low + 1) // -(-count // size))
    return [(first, min(first + step - 1, high)) for first in range(low, high + 1, step)]


def open_season(
    engine: Engine,
    policy_id: str,
    actor: str,
    today: dt.date | None = None,
    chunk: int = OPEN_CHUNK,
    on_chunk: Callable[[int, int], None] | None = None,
) -> SeasonReport:
    """Quote and store the due records of everyone due (see the module docstring), `chunk` persons at a time,
    all in one transaction: a season is opened whole or not at all.  `on_chunk(done, chunks)` after each chunk
    (progress bars)."""
    policy = load_policy(policy_id)
    candidates = due_count = total = 0
    refused: list[pl.DataFrame] = []
    opened_at = now()
    with UnitOfWork(engine, actor) as uow:
        c = uow.connection
        refresh_statistics(c, "persons", "identity_memberships", "import_rows", "import_batches", "enrollments")
        c.execute(delete(dues).where(dues.c.benefit_year == policy.benefit_year, dues.c.policy == policy_id))
        chunks = _chunks(c, list(policy.region.counties), chunk)
        for done, ids in enumerate(chunks, start=1):
            people = _candidates(c, policy_id, ids)
            rows, not_due = _quote_dues(policy_id, people, today, opened_at)
            bulk_insert(c, dues, rows)
            candidates += people.height
            due_count += rows.height
            total += int(rows["amount_due_fen"].sum() or 0)
            refused.append(not_due)
            if on_chunk is not None:
                on_chunk(done, len(chunks))
        uow.commit()
    not_due = pl.concat(refused) if refused else pl.DataFrame(schema=dict.fromkeys(NOT_DUE_COLUMNS, pl.String))
    audit(engine, actor, "open_season", policy_id, "done", f"{due_count} due, {not_due.height} not due")
    return SeasonReport(policy_id, policy.benefit_year, candidates, due_count, not_due, total)


def _quote_dues(
    policy_id: str, people: pl.DataFrame, today: dt.date | None, opened_at: dt.datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The due records of `people` (quoted as if paid on the window's first day), and those not due with why."""
    policy = load_policy(policy_id)
    quoted = quote_frame(
        policy,
        people.with_columns(
            pl.lit("regular").alias("situation"), pl.lit(policy.collection_window.start).alias("paid_on")
        ),
        id_check_day(policy, today),
    )
    ok = pl.col("error").is_null() & pl.col("eligible")
    due = quoted.filter(ok)
    collected = pl.col("categories").list.eval(pl.element().is_in(how_to_pay_categories(policy))).list.any()
    school = pl.col("residency") == "student" if "school" in policy.collection.channels else pl.lit(False)
    rows = due.select(
        "person_id",
        pl.lit(policy_id).alias("policy"),
        pl.lit(policy.benefit_year).alias("benefit_year"),
        "township", "village", "amount_due_fen", "net_personal_fen",
        "subsidy_category", "subsidy_kind", "subsidy_timing", "subsidy_fen",
        pl.when(school).then(pl.lit("school"))
        .when(collected).then(pl.lit("collecting_unit"))
        .otherwise(pl.lit("online")).alias("how_to_pay"),
        pl.when(pl.col("last_year")).then(pl.lit("last_year")).otherwise(pl.lit("identity_list")).alias("source"),
        pl.lit(opened_at).alias("opened_at"),
    )  # fmt: skip
    not_due = quoted.filter(~ok.fill_null(False)).select(
        mask_id_numbers(pl.col("id_number")).alias("id_number"),
        "name", "township", "village",
        pl.coalesce(pl.col("error"), pl.col("reasons").list.join("；")).alias("reason"),
    )  # fmt: skip
    return rows, not_due


def settled(person_id: ColumnElement[Any], benefit_year: int, as_of: dt.date | None = None) -> ColumnElement[bool]:
    """Whether the person's year is settled, so nobody chases them for it: they hold an enrollment of the
    benefit year (paid on or before `as_of` when given), live or ended since — terminated (迁出、死亡、参加职工医保)
    or refunded (重复缴费、参加职工医保或其他地区居民医保).  One who ended it owes nothing more this year."""
    e = enrollments.c
    paid = select(e.id).where(e.person_id == person_id, e.benefit_year == benefit_year)
    if as_of is not None:
        paid = paid.where(e.paid_on <= as_of)
    return paid.exists()


def due_list(
    engine: Engine,
    benefit_year: int,
    township: str | None = None,
    unpaid_only: bool = True,
    how_to_pay: str | None = None,
    area: ColumnElement[bool] | None = None,
) -> pl.DataFrame:
    """The due records with each person's amount, subsidy and how to pay; by default only those still owing
    (not :func:`settled`: neither enrolled nor ended this year); `how_to_pay`: only those asked to pay so
    (e.g. ``collecting_unit``, the collecting units' lists); `area`: only the persons it holds (a condition
    over `persons`, canbao.services.access.person_in_area)."""
    query = (
        select(
            dues.c.township, dues.c.village, persons.c.name, persons.c.id_number, persons.c.phone,
            dues.c.amount_due_fen, dues.c.subsidy_category, dues.c.subsidy_fen, dues.c.subsidy_timing,
            dues.c.net_personal_fen, dues.c.how_to_pay, dues.c.person_id,
        )
        .join(persons, persons.c.id == dues.c.person_id)
        .where(dues.c.benefit_year == benefit_year)
        .order_by(dues.c.township, dues.c.village, persons.c.id_number)
    )  # fmt: skip
    if township is not None:
        query = query.where(dues.c.township == township)
    if how_to_pay is not None:
        query = query.where(dues.c.how_to_pay == how_to_pay)
    if area is not None:
        query = query.where(area)
    if unpaid_only:
        query = query.where(~settled(dues.c.person_id, benefit_year))
    with engine.connect() as c:
        return pl.read_database(
            query,
            c,
            schema_overrides={
                "person_id": pl.Int64,
                "amount_due_fen": pl.Int64,
                "subsidy_fen": pl.Int64,
                "net_personal_fen": pl.Int64,
                **dict.fromkeys(_TEXT_COLUMNS, pl.String),
            },
        )


DUE_NUMBERS: dict[str, NumberKind] = {
    "应缴金额（元）": "fen",
    "资助金额（元）": "fen",
    "个人实际负担（元）": "fen",
}
"""The number columns of the due lists (canbao.reports.xlsx: yuan as numbers with #,##0.00)."""


def due_columns() -> list[pl.Expr]:
    """What a list of dues shows after the amount due, in Chinese: the subsidy, how it is paid, what the
    person bears, and how to pay (the due lists and the door-to-door list).  Amounts stay integer fen, written
    as yuan numbers (DUE_NUMBERS)."""
    return [
        pl.col("subsidy_category").replace_strict(CATEGORY_LABELS, default=None).alias("资助身份"),
        pl.col("subsidy_fen").alias("资助金额（元）"),
        pl.when(pl.col("subsidy_timing") == "refund_after_payment").then(pl.lit("先缴后补"))
        .when(pl.col("subsidy_timing") == "upfront").then(pl.lit("缴费时直接抵扣")).alias("资助方式"),
        pl.col("net_personal_fen").alias("个人实际负担（元）"),
        pl.col("how_to_pay").replace_strict(HOW_TO_PAY_LABELS, default=None).alias("缴费方式"),
    ]  # fmt: skip


def write_due_lists(frame: pl.DataFrame, out: Path, by: str = "township", title: str = "催缴清单") -> list[Path]:
    """One workbook per township (or village) in Chinese, as officials use them; returns the files.

    File names come from the place names made safe (canbao.outputs: a `/` in a name does not make a folder;
    two places whose names come to the same file name get `-2`, …); the lists appear all together or not at all."""
    readable = frame.select(
        pl.col("township").fill_null("（未填）").alias("乡镇"),
        pl.col("village").fill_null("（未填）").alias("村（社区）"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        pl.col("phone").alias("联系电话"),
        pl.col("amount_due_fen").alias("应缴金额（元）"),
        *due_columns(),
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    keys = ["乡镇"] if by == "township" else ["乡镇", "村（社区）"]
    parts = readable.partition_by(keys, maintain_order=True, as_dict=True)
    names = unique_file_names([f"{title}-{'-'.join(str(k) for k in key)}" for key in parts])
    files = [out / f"{name}.xlsx" for name in names]
    with OutputGroup() as group:  # all the lists or none
        for path, part in zip(files, parts.values(), strict=True):
            with safe_workbook(group.temporary(path)) as workbook:
                write_sheet(workbook, title, part, DUE_NUMBERS, autofit=part.height < AUTOFIT_ROWS, freeze_panes=(1, 0))
    return files
