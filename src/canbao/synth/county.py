"""Building a county: the output folder, the county written whole or in parts, and one part's files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from canbao.errors import InputError
from canbao.policy import Policy, load_policy
from canbao.synth.faults import Faults, fault_count
from canbao.synth.lists import write_department_lists
from canbao.synth.manifest import Manifest, add_counts, file_entries, schools_of, season_dates, write_manifest
from canbao.synth.persons import IdSequences, draw_persons
from canbao.synth.places import Geography, geography
from canbao.synth.policies import choose_policies
from canbao.synth.randomness import Rng
from canbao.synth.records import write_collections, write_payments, write_tax_and_bank
from canbao.synth.registers import write_deaths, write_other_county, write_population, write_roster, write_schools
from canbao.synth.season import KEPT_COLUMNS, draw_season, price_events
from canbao.synth.tables import (
    FAULT_KINDS,
    MIN_PERSONS,
    NOTICE_E_VOUCHER,
    NOTICE_POPULATION,
    NOTICE_TARGET,
    OWN_DIRS,
    OWN_FILES,
)
from canbao.synth.targets import apportion, village_population, write_e_voucher_activations, write_targets


def _prepare_out(out: Path) -> None:
    """Create DIR; a previous synth output in it is replaced, anything else refuses."""
    if out.exists() and not out.is_dir():
        raise InputError("out", f"{out} 不是目录")
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").is_file():
            raise InputError("out", f"目录 {out} 不为空，且不是 canbao synth 的输出（没有 manifest.json）")
        for name in OWN_DIRS:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for name in OWN_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


PART_SIZE = 1_100_000
"""A county larger than this is written in parts of at most this many persons (``parts/00`` …), each a
county folder of its own (its lists, roster, schools, payments, records and faults), so that neither the
generator nor a season run ever holds more than a part in memory; ``targets.xlsx`` stays whole."""


def build_county(
    county: str,
    persons: int,
    seed: int,
    out: Path,
    *,
    policy_id: str | None = None,
    last_policy_id: str | None = None,
    target: int | None = None,
    e_voucher_target: int | None = None,
    part_size: int = PART_SIZE,
) -> Manifest:
    """Write a synthetic county's campaign into `out` (see :mod:`canbao.synth`) and return its manifest.

    `target` and `e_voucher_target` default to the notice's 1,100,000 and 171,250 scaled by
    persons / 1,100,000.  The policies default to :func:`choose_policies`.  Above `part_size` persons the
    county is written in parts (see :data:`PART_SIZE`).
    """
    if not (len(county) == 6 and county.isascii() and county.isdigit()) or county[:2] == "00":
        raise InputError("county", f"县区代码 {county!r} 应为6位数字（GB/T 2260）")
    if persons < MIN_PERSONS:
        raise InputError("persons", f"人数至少为 {MIN_PERSONS}")
    if part_size < MIN_PERSONS:
        raise InputError("part_size", f"每片人数至少为 {MIN_PERSONS}")
    if policy_id is None:
        policy_id, chosen_last = choose_policies(county)
        last_policy_id = last_policy_id or chosen_last
    policy = load_policy(policy_id)
    if county not in policy.region.counties:
        raise InputError("policy_id", f"政策 {policy_id} 不覆盖县区代码 {county}")
    if last_policy_id is not None and county not in load_policy(last_policy_id).region.counties:
        raise InputError("last_policy_id", f"政策 {last_policy_id} 不覆盖县区代码 {county}")
    enrollment = target if target is not None else round(NOTICE_TARGET * persons / NOTICE_POPULATION)
    e_voucher = (
        e_voucher_target if e_voucher_target is not None else round(NOTICE_E_VOUCHER * persons / NOTICE_POPULATION)
    )
    _prepare_out(out)

    rng = Rng(seed)
    geo = geography(county, rng)
    ids = IdSequences(rng)
    parts = -(-persons // part_size)
    head: dict[str, Any] = {
        "generator": "canbao synth",
        "format": 1,
        "seed": seed,
        "persons": persons,
        "county": {"code": county, "name": geo.county_name},
        "policy": policy_id,
        "last_policy": last_policy_id,
        "benefit_year": policy.benefit_year,
        "season": season_dates(policy),
        "targets": {"enrollment": enrollment, "e_voucher": e_voucher},
    }
    if parts == 1:
        part = _write_part(out, geo, policy, last_policy_id, persons, rng, ids, 0, e_voucher)
        sheets = write_targets(part.population, geo, rng, enrollment, e_voucher, out)
        files = file_entries(out, {**part.rows, "targets.xlsx": 0}, sheets)
        data = {**head, "counts": part.counts, "schools": schools_of(geo), "files": files, "faults": part.faults}
        return write_manifest(out, data)

    population = [0] * len(geo.villages)
    counts: dict[str, Any] = {}
    faults: dict[str, list[dict[str, Any]]] = {k: [] for k in FAULT_KINDS}
    listing: list[dict[str, Any]] = []
    serials = 0
    shares = apportion(e_voucher, sizes := apportion(persons, [1] * parts))
    for k, (n, share) in enumerate(zip(sizes, shares, strict=True)):
        where = f"parts/{k:02d}"
        part = _write_part(out / where, geo, policy, last_policy_id, n, Rng(seed, k), ids, serials, share)
        serials = part.serials
        population = [a + b for a, b in zip(population, part.population, strict=True)]
        counts = add_counts(counts, part.counts)
        for kind, entries in part.faults.items():
            for entry in entries:
                places = [{**place, "file": f"{where}/{place['file']}"} for place in entry["rows"]]
                faults[kind].append({**entry, "rows": places})
        part_data = {**head, "persons": n, "part": k, "targets": {"enrollment": None, "e_voucher": share},
                     "counts": part.counts, "schools": schools_of(geo), "faults": part.faults,
                     "files": file_entries(out / where, part.rows, {})}  # fmt: skip
        write_manifest(out / where, part_data)
        listing.append({"path": where, "persons": n})
    sheets = write_targets(population, geo, rng, enrollment, e_voucher, out)
    data = {**head, "counts": counts, "schools": schools_of(geo), "parts": listing,
            "files": file_entries(out, {"targets.xlsx": 0}, sheets), "faults": faults}  # fmt: skip
    return write_manifest(out, data)


@dataclass(frozen=True)
class _Part:
    rows: dict[str, int]  # file → rows written
    counts: dict[str, Any]
    faults: dict[str, list[dict[str, Any]]]
    population: list[int]  # alive per village, for the targets
    serials: int  # the next transaction serial number


def _write_part(
    out: Path,
    geo: Geography,
    policy: Policy,
    last_policy_id: str | None,
    persons: int,
    rng: Rng,
    ids: IdSequences,
    serials: int,
    e_voucher: int,
) -> _Part:
    """Everything of a county (or of one part of it) but the targets."""
    out.mkdir(parents=True, exist_ok=True)
    faults = Faults()
    frame = draw_season(draw_persons(persons, geo, policy, rng, ids), geo, policy, rng, faults)
    events, info = price_events(frame, geo, policy.policy, rng, serials)
    frame = frame.select(KEPT_COLUMNS).with_columns(pays=pl.col("i").is_in(events["i"].implode()))

    rows: dict[str, int] = {}
    lists, per_category = write_department_lists(frame, rng, faults, out, persons, policy)
    rows.update(lists)
    rows.update(write_tax_and_bank(events, frame, policy, rng, faults, out, info["txn"]))
    roster = write_roster(frame, geo.county, last_policy_id, out)
    rows["roster_2021.csv"] = roster.len()
    rows["deaths.csv"] = write_deaths(frame, events, roster, faults, out).height
    rows["other_county_roster.csv"] = write_other_county(geo.county, frame, events, policy, rng, faults, out).height
    rows.update(write_schools(frame, geo, out))
    rows["population.parquet"] = write_population(frame, geo, out)
    rows.update(write_payments(events, out))
    rows["e_voucher_activations.csv"] = write_e_voucher_activations(frame, geo, policy, rng, e_voucher, out)
    rows.update(write_collections(events, out))

    on_roster = frame.filter(pl.col("on_roster"))
    counts: dict[str, Any] = {
        "households": frame["hh"].n_unique(),
        "townships": len(geo.townships),
        "villages": len(geo.villages),
        "schools": len(geo.schools),
        "newborns": int(frame["newborn"].sum()),
        "students": int((frame["residency"] == "student").sum()),
        "deaths": int(frame["died_on"].is_not_null().sum()),
        "roster": roster.len(),
        "payments": events.height,
        "renewed": int(on_roster["pays"].sum()),
        "not_renewed": int((~on_roster["pays"]).sum()),
        "new_enrollees": int(events.height - on_roster["pays"].sum()),
        "payments_by_situation": dict(events.group_by("situation").len().sort("situation").rows()),
        "payments_by_channel": dict(events.group_by("channel").len().sort("channel").rows()),
        "list_rows_by_category": {c: n for c, n in per_category.items() if n},
        "unquotable": info["unquotable"],
    }
    used = serials + events.height + fault_count(persons, "tax_without_enrollment")
    return _Part(rows, counts, faults.entries, village_population(frame, geo), used)
