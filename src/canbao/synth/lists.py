"""The certifying departments' identity lists, each in its department's own layout, with their faults."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from canbao.ids import CHECK_CHARACTERS
from canbao.policy import Policy
from canbao.synth.faults import Faults, fault_count
from canbao.synth.files import date_text, write_csv
from canbao.synth.randomness import Rng, lookup
from canbao.synth.season import date_in
from canbao.synth.tables import (
    CATEGORY_WORDS,
    DISABILITY_KINDS,
)
from canbao.vocabulary import CATEGORIES, DEPARTMENT_CATEGORIES, HOUSEHOLD_ROLE_LABELS


def write_department_lists(
    frame: pl.DataFrame, rng: Rng, faults: Faults, out: Path, persons: int, policy: Policy
) -> tuple[dict[str, int], dict[str, int]]:
    """The five departments' lists with their faults; returns rows per file and list rows per category."""
    i = pl.col("i")
    window = policy.collection_window
    heads = frame.filter(pl.col("rank") == 0).select("hh", pl.col("name").alias("head_name"))
    memberships = pl.concat(
        [
            frame.filter(pl.col("category").is_not_null()).with_columns(list_category=pl.col("category"), _dual=0),
            frame.filter(pl.col("second_category").is_not_null()).with_columns(
                list_category=pl.col("second_category"), _dual=1
            ),
        ]
    )
    # Households are certified together (same date, same wording); persons newly certified who enroll after
    # the window carry the later date (动态新增).
    dynamic = (pl.col("situation") == "special_group") & pl.col("paid_on").is_not_null()
    dynamic_date = (pl.col("paid_on") - pl.duration(days=1 + rng.below(i, "certified_late", 20))).clip(
        lower_bound=window.end + dt.timedelta(days=1)
    )
    certified = pl.when(dynamic).then(dynamic_date)
    memberships = memberships.join(heads, on="hh", how="left", maintain_order="left").with_columns(
        valid_from=certified.otherwise(
            date_in(
                rng,
                pl.col("hh"),
                "certified",
                dt.date(window.start.year - 7, 1, 1),
                window.start - dt.timedelta(days=30),
                "uniform",
                policy,
            )
        ),
        monitored_from=certified.otherwise(
            date_in(
                rng,
                pl.col("hh"),
                "monitored",
                dt.date(window.start.year - 1, 6, 1),
                window.start - dt.timedelta(days=10),
                "uniform",
                policy,
            )
        ),
    )
    word = pl.lit(None, dtype=pl.String)
    for category, words in CATEGORY_WORDS.items():
        word = (
            pl.when(pl.col("list_category") == category)
            .then(rng.pick(pl.col("hh"), "word_" + category, words))
            .otherwise(word)
        )
    memberships = memberships.with_columns(word=word).sort(["township_code", "village_code", "hh", "rank", "_dual"])
    role_words = pl.col("household_role").replace_strict(HOUSEHOLD_ROLE_LABELS, default=None)
    disability_kind = rng.below(i, "disability_kind", len(DISABILITY_KINDS))
    disability_level = 1 + rng.below(i, "disability_level", 2)
    layouts: dict[str, list[pl.Expr]] = {
        "civil_affairs": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("公民身份号码"),
            pl.col("word").alias("人员类别"),
            pl.col("township").alias("乡镇（街道）"),
            pl.col("village").alias("村（社区）"),
            date_text(pl.col("valid_from")).alias("认定日期"),
        ],
        "rural_revitalization": [
            pl.col("head_name").alias("户主姓名"),
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            pl.col("word").alias("人员类别"),
            pl.col("township").alias("乡镇"),
            pl.col("village").alias("村"),
            date_text(pl.col("monitored_from"), "%Y/%m/%d").alias("纳入监测时间"),
        ],
        "health_commission": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号"),
            pl.col("word").alias("类别"),
            role_words.alias("家庭角色"),
            pl.col("township").alias("乡镇"),
        ],
        "veterans_affairs": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            pl.col("word").alias("优抚类别"),
            pl.col("township").alias("乡镇"),
        ],
        "disabled_federation": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            lookup(DISABILITY_KINDS, disability_kind, pl.String()).alias("残疾类别"),
            pl.when(disability_level == 1).then(pl.lit("一级")).otherwise(pl.lit("二级")).alias("残疾等级"),
            pl.concat_str(
                [pl.col("written_id"), (disability_kind + 1).cast(pl.String), disability_level.cast(pl.String)]
            ).alias("残疾人证号"),
            pl.col("township").alias("乡镇"),
        ],
    }
    id_column = {
        "civil_affairs": "公民身份号码",
        "rural_revitalization": "身份证号码",
        "health_commission": "身份证号",
        "veterans_affairs": "身份证号码",
        "disabled_federation": "身份证号码",
    }
    numbered = {"civil_affairs", "rural_revitalization"}

    # Duplicated rows (second copy right after the first) and bad check characters: persons without faults.
    dup_people = faults.pick(rng, memberships, pl.lit(True), fault_count(persons, "duplicate_row"), "duplicate")
    bad_people = faults.pick(rng, memberships, pl.lit(True), fault_count(persons, "bad_check_digit"), "bad_check")
    dup_ids, bad_ids = dup_people["i"].to_list(), bad_people["i"].to_list()
    bad_numbers: dict[str, str] = {}
    r = rng.python("bad_check")
    for id_number in bad_people["id_number"].to_list():
        k = CHECK_CHARACTERS.index(id_number[-1])
        bad_numbers[id_number] = id_number[:-1] + CHECK_CHARACTERS[(k + 1 + r.randrange(10)) % 11]
    memberships = pl.concat(
        [memberships.with_columns(_copy=0), memberships.filter(i.is_in(dup_ids)).with_columns(_copy=1)]
    ).sort(["township_code", "village_code", "hh", "rank", "_dual", "_copy"])
    memberships = memberships.with_columns(
        written_id=pl.col("id_number").replace(bad_numbers) if bad_numbers else pl.col("id_number")
    )

    files: dict[str, int] = {}
    rows_per_category = {c: 0 for c in CATEGORIES}
    locations: dict[int, list[dict[str, Any]]] = {}
    for department, columns in layouts.items():
        members = memberships.filter(pl.col("list_category").is_in(list(DEPARTMENT_CATEGORIES[department])))
        for c, count in members.filter(pl.col("_copy") == 0).group_by("list_category").len().rows():
            rows_per_category[c] += count
        written = [
            e if e.meta.output_name() != id_column[department] else pl.col("written_id").alias(id_column[department])
            for e in columns
        ]
        table = members.select(written)
        if department in numbered:
            table = table.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("序号"), pl.all())
        path = f"lists/{department}.csv"
        write_csv(table, out / path)
        files[path] = table.height
        found = members.select("i", (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row")).filter(
            pl.col("i").is_in(sorted(faults.used))
        )
        for person, row in found.rows():
            locations.setdefault(person, []).append({"file": path, "row": row})

    people = memberships.filter(pl.col("_copy") == 0).unique("i", keep="first", maintain_order=True)
    names = dict(
        zip(
            people["i"].to_list(),
            zip(people["id_number"].to_list(), people["name"].to_list(), strict=True),
            strict=True,
        )
    )
    second = frame.filter(pl.col("second_category").is_not_null())
    for person, first, extra in second.select("i", "category", "second_category").rows():
        id_number, name = names[person]
        faults.entries["dual_identity"].append(
            {"id_number": id_number, "name": name, "categories": [first, extra], "rows": locations[person]}
        )
    for person in dup_ids:
        id_number, name = names[person]
        faults.entries["duplicate_row"].append({"id_number": id_number, "name": name, "rows": locations[person]})
    for person in bad_ids:
        id_number, name = names[person]
        faults.entries["bad_check_digit"].append(
            {"id_number": id_number, "name": name, "bad_id_number": bad_numbers[id_number], "rows": locations[person]}
        )
    return files, rows_per_category
