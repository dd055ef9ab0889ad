"""The registers of persons: last year's roster, the police's deaths, a neighbouring county's roster, the schools'
rosters and the generator's own population."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from canbao.money import to_fen, to_yuan, yuan_text
from canbao.policy import Policy, load_policy
from canbao.synth.faults import Faults, fault_count
from canbao.synth.files import csv_rows, date_text, payment_place, write_csv
from canbao.synth.persons import id_numbers, person_names
from canbao.synth.places import Geography, geography, neighbour
from canbao.synth.randomness import Rng, lookup
from canbao.synth.season import date_in, quote


def write_roster(frame: pl.DataFrame, county: str, last_policy_id: str | None, out: Path) -> pl.Series:
    """Last year's roster, by village and household; 缴费金额 as last year's policy prices it.  Returns its
    ID numbers in file order."""
    needed = ["village_index", "hh", "rank", "id_number", "name", "township", "village", "residency", "phone"]
    needed += ["categories", "household_role", "birth"]
    roster = frame.filter(pl.col("on_roster")).select(needed).sort(["village_index", "hh", "rank"])
    amount = pl.lit(None, dtype=pl.Int64)
    if last_policy_id is not None:
        last = load_policy(last_policy_id)
        start = last.collection_window.start
        newborn = pl.col("birth") >= start
        priced = roster.select(
            "id_number",
            "name",
            pl.lit(county).alias("county"),
            "residency",
            "categories",
            "household_role",
            pl.when(newborn).then(pl.lit("newborn")).otherwise(pl.lit("regular")).alias("situation"),
            pl.when(newborn)
            .then(pl.col("birth") + pl.duration(days=20))
            .otherwise(pl.lit(start + dt.timedelta(days=30)))
            .alias("paid_on"),
        )
        quoted = quote(last_policy_id, priced, last.benefit_period.end + dt.timedelta(days=1))
        ok = quoted["error"].is_null() & quoted["eligible"].fill_null(False)
        roster = roster.with_columns(_amount=quoted["amount_due_fen"], _ok=ok)
        amount = pl.when(pl.col("_ok")).then(pl.col("_amount"))
    table = roster.lazy().select(
        pl.col("id_number").alias("身份证号码"),
        pl.col("name").alias("姓名"),
        pl.col("township").alias("乡镇"),
        pl.col("village").alias("村"),
        pl.col("residency").alias("居民类型"),
        pl.col("phone").alias("联系电话"),
        yuan_text(amount).alias("缴费金额"),
    )
    write_csv(table, out / "roster_2021.csv")
    return roster["id_number"]


def write_deaths(
    frame: pl.DataFrame, events: pl.DataFrame, roster: pl.Series, faults: Faults, out: Path
) -> pl.DataFrame:
    dead = frame.filter(pl.col("died_on").is_not_null()).sort(["died_on", "id_number"])
    table = dead.select(
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        date_text(pl.col("died_on")).alias("死亡日期"),
    )
    write_csv(table, out / "deaths.csv")
    on_roster = dead.filter(pl.col("on_roster"))
    ids = on_roster["id_number"].to_list()
    death_rows = csv_rows(table, "身份证号码", ids)
    roster_rows = csv_rows(roster.to_frame("id_number"), "id_number", ids)
    paid = {
        r["id_number"]: r
        for r in events.filter(pl.col("id_number").is_in(ids))
        .select("id_number", "txn_id", "paid_on", "_index")
        .to_dicts()
    }
    for row in on_roster.select("id_number", "name", "died_on").iter_rows(named=True):
        id_number = row["id_number"]
        rows: list[dict[str, Any]] = [
            {"file": "deaths.csv", "row": death_rows[id_number][0]},
            {"file": "roster_2021.csv", "row": roster_rows[id_number][0]},
        ]
        entry: dict[str, Any] = {
            "id_number": id_number,
            "name": row["name"],
            "died_on": row["died_on"].isoformat(),
            "status": "paid" if id_number in paid else "due",
        }
        if id_number in paid:
            rows.append(payment_place(paid[id_number]))
            entry["txn_id"] = paid[id_number]["txn_id"]
        entry["rows"] = rows
        faults.entries["dead_on_roster"].append(entry)
    return table


def write_other_county(
    county: str, frame: pl.DataFrame, events: pl.DataFrame, policy: Policy, rng: Rng, faults: Faults, out: Path
) -> pl.DataFrame:
    """A neighbouring county's enrollments for the same benefit year, with persons also paying here."""
    other = neighbour(county)
    geo = geography(other, rng)
    window = policy.collection_window
    standard = to_fen(policy.personal_contribution)
    n = max(30, frame.height // 400)
    f = pl.col("f")
    fillers = pl.DataFrame({"f": pl.int_range(n, eager=True, dtype=pl.Int64) + 1_000_000_000}).with_columns(
        male=rng.unit(f, "other_sex") < 0.5,
        birth=pl.lit(dt.date(1945, 1, 1)) + pl.duration(days=rng.below(f, "other_birth", 70 * 365)),
        division=pl.lit(other),
    )
    fillers = fillers.with_columns(id_number=id_numbers(rng, fillers)[0]).filter(
        ~pl.col("id_number").is_in(frame["id_number"].implode())
    )
    fillers = fillers.with_columns(
        name=person_names(rng, f, f + 7, pl.col("male"), ~pl.col("male")),
        residency=pl.when(rng.unit(f, "other_residency") < 0.9)
        .then(pl.lit("local_hukou"))
        .otherwise(pl.lit("long_term_resident")),
        key=f,
    )
    doubles = faults.pick(
        rng,
        events,
        (pl.col("situation") == "regular") & (pl.col("channel") == "online"),
        fault_count(frame.height, "enrolled_in_two_counties"),
        "two_counties",
    )
    doubles_rows = doubles.select(
        "id_number", "name", pl.lit("long_term_resident").alias("residency"), pl.col("i").alias("key")
    )
    people = pl.concat([fillers.select("id_number", "name", "residency", "key"), doubles_rows])
    key = pl.col("key")
    village = rng.weighted(key, "other_village", [v.weight for v in geo.villages])
    table = (
        people.with_columns(_order=rng.bits(key, "other_order"))
        .sort("_order")
        .select(
            pl.col("id_number").alias("身份证号码"),
            pl.col("name").alias("姓名"),
            pl.lit(geo.county_name).alias("县（区）"),
            lookup([v.township for v in geo.villages], village, pl.String()).alias("乡镇"),
            lookup([v.name for v in geo.villages], village, pl.String()).alias("村"),
            pl.col("residency").alias("居民类型"),
            date_text(date_in(rng, key, "other_day", window.start, window.end, "window", policy)).alias("缴费日期"),
            pl.lit(f"{to_yuan(standard)}").alias("缴费金额"),
        )
    )
    write_csv(table, out / "other_county_roster.csv")
    rows = csv_rows(table, "身份证号码", doubles["id_number"].to_list())
    for row in doubles.iter_rows(named=True):
        faults.entries["enrolled_in_two_counties"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "other_county": {"code": other, "name": geo.county_name},
                "txn_id": row["txn_id"],
                "rows": [
                    {"file": "other_county_roster.csv", "row": rows[row["id_number"]][0]},
                    payment_place(row),
                ],
            }
        )
    return table


def write_schools(frame: pl.DataFrame, geo: Geography, out: Path) -> dict[str, int]:
    students = frame.filter((pl.col("residency") == "student") & pl.col("died_on").is_null()).sort(
        ["school_index", "age", "class_no", "i"]
    )
    table = students.select(
        "school_index",
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        lookup([s.name for s in geo.schools], pl.col("school_index"), pl.String()).alias("学校"),
        pl.col("grade").alias("年级"),
        pl.concat_str([pl.col("class_no").cast(pl.String), pl.lit("班")]).alias("班级"),
    )
    parts = {int(k[0]): v for k, v in table.partition_by("school_index", as_dict=True, maintain_order=True).items()}
    rows: dict[str, int] = {}
    for index, school in enumerate(geo.schools):
        part = parts.get(index, table.clear()).drop("school_index")
        path = f"schools/{school.name}.csv"
        write_csv(part, out / path)
        rows[path] = part.height
    return rows


def write_population(frame: pl.DataFrame, geo: Geography, out: Path) -> int:
    """Every synthetic person as the generator knows them (see :mod:`canbao.synth`)."""
    rank = pl.col("rank")
    relation = (
        pl.when(rank == 0)
        .then(pl.lit("户主"))
        .when(rank == 1)
        .then(pl.lit("配偶"))
        .when(pl.col("elder"))
        .then(pl.lit("父母"))
        .when(pl.col("newborn"))
        .then(pl.lit("新生儿"))
        .otherwise(pl.lit("子女"))
    )
    school = lookup([s.name for s in geo.schools], pl.col("school_index").fill_null(0), pl.String())
    table = frame.sort(["village_index", "hh", "rank", "i"]).select(
        "id_number",
        "name",
        pl.when(pl.col("male")).then(pl.lit("male")).otherwise(pl.lit("female")).alias("sex"),
        pl.col("birth").alias("birth_date"),
        pl.col("hh").alias("household_id"),
        relation.alias("household_relation"),
        "residency",
        "categories",
        "household_role",
        "township",
        "township_code",
        "village",
        "village_code",
        "phone",
        pl.when(pl.col("school_index").is_not_null()).then(school).alias("school"),
        "grade",
        pl.col("on_roster").alias("on_roster_2021"),
        pl.col("pays").alias("enrolled"),
        "died_on",
    )
    table.write_parquet(out / "population.parquet", compression="zstd", statistics=True)
    return table.height
