"""The persons of a county: households, ages, sexes, ID numbers, names, places, residency, identity categories and
schools."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from canbao.ids import check_digits
from canbao.policy import Policy
from canbao.synth.places import Geography
from canbao.synth.policies import quotable_categories
from canbao.synth.randomness import Rng, lookup
from canbao.synth.tables import (
    BIRTHPLACES,
    FEMALE_CHARS,
    GRADES,
    HOUSEHOLD_SIZES,
    LONG_TERM_HOUSEHOLDS,
    MALE_CHARS,
    NEWBORN_SHARE,
    PHONE_PREFIXES,
    SURNAMES,
    VOCATIONAL_GRADES,
)
from canbao.vocabulary import DEPARTMENT_CATEGORIES


def _age_weights() -> list[int]:
    """Ages 25..90 of household heads."""
    bands = [(25, 34, 6), (35, 44, 10), (45, 54, 14), (55, 64, 14), (65, 74, 10), (75, 84, 5), (85, 90, 1)]
    return [w for lo, hi, w in bands for _ in range(lo, hi + 1)]


def person_names(rng: Rng, person: pl.Expr, household: pl.Expr, male: pl.Expr, own_surname: pl.Expr) -> pl.Expr:
    surnames = [s for s, _ in SURNAMES]
    weights = [w for _, w in SURNAMES]
    surname = (
        pl.when(own_surname)
        .then(rng.pick(person, "own_surname", surnames, weights))
        .otherwise(rng.pick(household, "surname", surnames, weights))
    )
    male_chars, female_chars = list(MALE_CHARS), list(FEMALE_CHARS)
    first = (
        pl.when(male).then(rng.pick(person, "given1m", male_chars)).otherwise(rng.pick(person, "given1f", female_chars))
    )
    second = (
        pl.when(male).then(rng.pick(person, "given2m", male_chars)).otherwise(rng.pick(person, "given2f", female_chars))
    )
    two = rng.unit(person, "given_length") < 0.72
    return pl.concat_str([surname, first, pl.when(two).then(second).otherwise(pl.lit(""))])


def _phone(rng: Rng, key: pl.Expr, stream: str) -> pl.Expr:
    digits = rng.below(key, stream + "_digits", 100_000_000).cast(pl.String).str.zfill(8)
    return pl.concat_str([rng.pick(key, stream, PHONE_PREFIXES), digits])


ID_GROUP = ["division", "birth", "male"]


def id_numbers(rng: Rng, frame: pl.DataFrame, given: pl.DataFrame | None = None) -> tuple[pl.Series, pl.DataFrame]:
    """Unique ID numbers from `division`, `birth` and `male`: the sequence code counts up within each
    (division, birth date, sex) from a random start, its last digit odd for men.  `given` counts the codes
    already given per group (earlier parts of the same county); returns the numbers and the updated counts."""
    group_key = pl.col("birth").cast(pl.Int64) * 1_000_003 + pl.col("division").cast(pl.Int64)
    keyed = frame.select(ID_GROUP)
    if given is not None and given.height:
        keyed = keyed.join(given, on=ID_GROUP, how="left", maintain_order="left")
    else:
        keyed = keyed.with_columns(given=pl.lit(0, dtype=pl.Int64))
    rank = pl.int_range(pl.len(), dtype=pl.Int64).over(ID_GROUP) + pl.col("given").fill_null(0)
    keyed = keyed.with_columns(rank=rank)
    if keyed.height and int(keyed["rank"].max()) >= 500:  # type: ignore[arg-type]
        raise RuntimeError("synthetic ID numbers collide: more than 500 persons of one sex share a birth date")
    sequence = ((rng.below(group_key, "sequence", 500) + pl.col("rank")) % 500) * 2 + pl.col("male").cast(pl.Int64)
    first17 = pl.concat_str(
        [pl.col("division"), pl.col("birth").dt.to_string("%Y%m%d"), sequence.cast(pl.String).str.zfill(3)]
    )
    ids = keyed.select(first17.alias("first17")).select(
        pl.concat_str([pl.col("first17"), check_digits(pl.col("first17"))]).alias("id_number")
    )["id_number"]
    counts = keyed.group_by(ID_GROUP).agg(given=(pl.col("rank").max() + 1).cast(pl.Int64))
    if given is not None and given.height:
        counts = pl.concat([given, counts]).group_by(ID_GROUP).agg(pl.col("given").max())
    return ids, counts


@dataclass
class IdSequences:
    """The sequence codes given so far per (division, birth date, sex): a county written in parts draws each
    part's persons from its own stream, and this keeps their ID numbers unique across the parts."""

    rng: Rng
    given: pl.DataFrame | None = None

    def numbers(self, frame: pl.DataFrame) -> pl.Series:
        ids, self.given = id_numbers(self.rng, frame, self.given)
        return ids


def draw_persons(n: int, geo: Geography, policy: Policy, rng: Rng, ids: IdSequences) -> pl.DataFrame:
    """One row per person: household, age, sex, birth, ID number, name, place, residency, category, school."""
    reference = policy.collection_window.start - dt.timedelta(days=1)
    if reference.month == 2 and reference.day == 29:
        reference -= dt.timedelta(days=1)
    newborns = max(1, round(n * NEWBORN_SHARE))
    existing = n - newborns
    i = pl.col("i")
    # Households are consecutive persons; sizes are drawn, the last household is cut to fit.
    count = existing // 3 + 16
    while True:
        sizes = pl.DataFrame({"hh": pl.int_range(count, eager=True, dtype=pl.Int64)}).select(
            (rng.weighted(pl.col("hh"), "household_size", HOUSEHOLD_SIZES) + 1).cum_sum().alias("end")
        )["end"]
        if sizes[-1] >= existing:
            break
        count *= 2
    households = int(sizes.search_sorted(existing - 1, side="right")) + 1
    ends = pl.lit(sizes)
    frame = pl.DataFrame({"i": pl.int_range(n, eager=True, dtype=pl.Int64)}).with_columns(
        newborn=i >= existing,
        hh=pl.when(i >= existing)
        .then(rng.below(i, "newborn_household", households))
        .otherwise(ends.search_sorted(i, side="right").cast(pl.Int64)),
    )
    start = pl.when(pl.col("hh") == 0).then(0).otherwise(ends.gather((pl.col("hh") - 1).clip(lower_bound=0)))
    frame = frame.with_columns(
        rank=pl.when(pl.col("newborn")).then(pl.lit(99, dtype=pl.Int64)).otherwise(i - start),
    ).with_columns(head=pl.col("rank") == 0)
    hh = pl.col("hh")
    rank = pl.col("rank")
    village_weights = [v.weight for v in geo.villages]
    frame = frame.with_columns(
        head_age=rng.weighted(hh, "head_age", _age_weights()) + 25,
        head_male=rng.unit(hh, "head_sex") < 0.85,
        long_term=rng.unit(hh, "long_term") < LONG_TERM_HOUSEHOLDS,
        village_index=rng.weighted(hh, "village", village_weights),
        household_draw=rng.unit(hh, "household_category"),
    )
    head_age = pl.col("head_age")
    elder = (rank >= 2) & ~pl.col("newborn") & (rng.unit(i, "elder") < 0.18) & (head_age <= 62)
    child_span = (head_age - 19).clip(1, 20)
    age = (
        pl.when(pl.col("newborn"))
        .then(pl.lit(0, dtype=pl.Int64))
        .when(rank == 0)
        .then(head_age)
        .when(rank == 1)
        .then((head_age + rng.below(i, "spouse_gap", 9) - 4).clip(20, 99))
        .when(elder)
        .then((head_age + 22 + rng.below(i, "elder_gap", 12)).clip(upper_bound=99))
        .otherwise((head_age - 20 - rng.below(i, "child_age", child_span)).clip(lower_bound=0))
    )
    male = (
        pl.when(rank == 0)
        .then(pl.col("head_male"))
        .when(rank == 1)
        .then(~pl.col("head_male"))
        .otherwise(rng.unit(i, "sex") < 0.515)
    )
    newborn_first = reference + dt.timedelta(days=1)
    newborn_span = max(1, (policy.benefit_period.end - dt.timedelta(days=30) - newborn_first).days)
    birth = (
        pl.when(pl.col("newborn"))
        .then(pl.lit(newborn_first) + pl.duration(days=rng.below(i, "newborn_birth", newborn_span)))
        .otherwise(
            pl.date(pl.lit(reference.year) - pl.col("age"), reference.month, reference.day)
            - pl.duration(days=rng.below(i, "day_of_year", 365))
        )
    )
    frame = frame.with_columns(age=age, male=male, elder=elder).with_columns(birth=birth)
    married_in = (rank == 1) & ~pl.col("male") & (rng.unit(i, "married_in") < 0.10)
    frame = frame.with_columns(
        division=pl.when(pl.col("long_term"))
        .then(rng.pick(hh, "household_birthplace", BIRTHPLACES))
        .when(married_in)
        .then(rng.pick(i, "birthplace", BIRTHPLACES))
        .otherwise(pl.lit(geo.county)),
    )
    frame = frame.with_columns(id_number=ids.numbers(frame))
    age_ = pl.col("age")
    is_male = pl.col("male")
    own_surname = ~is_male & ((rank <= 1) | pl.col("elder"))
    student_share = pl.when(age_ <= 5).then(0.35).otherwise(0.6)
    student = ~pl.col("newborn") & age_.is_between(3, 17) & (rng.unit(i, "student") < student_share)
    frame = frame.with_columns(
        name=person_names(rng, i, hh, is_male, own_surname),
        phone=pl.when(age_.is_between(18, 74)).then(_phone(rng, i, "phone")).otherwise(_phone(rng, hh, "home_phone")),
        residency=pl.when(student)
        .then(pl.lit("student"))
        .when(pl.col("long_term"))
        .then(pl.lit("long_term_resident"))
        .otherwise(pl.lit("local_hukou")),
        category=_category(rng, policy),
    )
    frame = frame.with_columns(
        household_role=pl.when(pl.col("category").is_in(list(DEPARTMENT_CATEGORIES["health_commission"]))).then(
            pl.when(rank <= 1).then(pl.lit("parent")).otherwise(pl.lit("child"))
        ),
        **_place_columns(geo),
    )
    return frame.with_columns(**_school_columns(geo, rng, student)).drop("head_age", "head_male", "household_draw")


def _category(rng: Rng, policy: Policy) -> pl.Expr:
    """At most one category per person: household-wide lists first, then persons' own."""
    u = pl.col("household_draw")
    household_bands = [
        (0.04, "dibao"), (0.05, "near_dibao"), (0.07, "monitored"), (0.075, "relapsed_poor"),
        (0.085, "family_planning"), (0.088, "daughter_household"), (0.089, "son_household"),
    ]  # fmt: skip
    chain: Any = pl
    for bound, name in household_bands:
        chain = chain.when(u < bound).then(pl.lit(name))
    household = chain.otherwise(pl.lit(None, dtype=pl.String))
    health = household.is_in(list(DEPARTMENT_CATEGORIES["health_commission"]))
    household = pl.when(health & pl.col("elder")).then(pl.lit(None, dtype=pl.String)).otherwise(household)
    v = rng.unit(pl.col("i"), "person_category")
    age = pl.col("age")
    own = (
        pl.when((age < 18) & (v < 0.002))
        .then(pl.lit("orphan"))
        .when((age < 18) & (v < 0.005))
        .then(pl.lit("unsupported_child"))
        .when((age >= 18) & (v < 0.013))
        .then(pl.lit("destitute"))
        .when((age >= 35) & v.is_between(0.013, 0.018, closed="left"))
        .then(pl.lit("key_entitled"))
        .when(v.is_between(0.018, 0.035, closed="left"))
        .then(pl.lit("severe_disability"))
    )
    category = pl.coalesce(household, own)
    allowed = quotable_categories(policy)
    local = ~pl.col("long_term") & ~pl.col("newborn")
    return pl.when(local & category.is_in(allowed)).then(category).otherwise(pl.lit(None, dtype=pl.String))


def _place_columns(geo: Geography) -> dict[str, pl.Expr]:
    index = pl.col("village_index")
    return {
        "township_index": lookup([v.township_index for v in geo.villages], index, pl.Int64()),
        "township": lookup([v.township for v in geo.villages], index, pl.String()),
        "township_code": lookup([v.township_code for v in geo.villages], index, pl.String()),
        "village": lookup([v.name for v in geo.villages], index, pl.String()),
        "village_code": lookup([v.code for v in geo.villages], index, pl.String()),
    }


def _school_columns(geo: Geography, rng: Rng, student: pl.Expr) -> dict[str, pl.Expr]:
    i = pl.col("i")
    age = pl.col("age")
    local_schools = 3 * len(geo.townships)
    seniors = [k for k, s in enumerate(geo.schools) if s.level == "senior"]
    vocational_index = next(k for k, s in enumerate(geo.schools) if s.level == "vocational")
    level = pl.when(age <= 5).then(0).when(age <= 11).then(1).when(age <= 14).then(2).otherwise(3)
    vocational = (age >= 15) & (rng.unit(i, "vocational") < 0.3)
    school = (
        pl.when(level < 3)
        .then(pl.col("township_index") * 3 + level)
        .when(vocational)
        .then(pl.lit(vocational_index, dtype=pl.Int64))
        .otherwise(pl.lit(seniors[0], dtype=pl.Int64) + rng.below(i, "senior", len(seniors)))
    )
    assert local_schools == seniors[0]
    grade = (
        pl.when(vocational)
        .then(age.replace_strict(VOCATIONAL_GRADES, default=None, return_dtype=pl.String))
        .otherwise(age.replace_strict(GRADES, default=None, return_dtype=pl.String))
    )
    return {
        "school_index": pl.when(student).then(school.cast(pl.Int64)),
        "grade": pl.when(student).then(grade),
        "class_no": pl.when(student).then(1 + rng.below(i, "class", 6)),
    }
