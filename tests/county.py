"""A small synthetic county carried through its season, for tests that need a registry full of it.

The steps are the demo's (canbao.season_demo), but the season's payment files go in as one batch: the same
service rules, far fewer round trips, so the PostgreSQL runs stay quick."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.services import imports
from canbao.services.payment_batch import apply_payments
from canbao.services.season import open_season
from canbao.store.db import make_engine
from canbao.synth import Manifest, build_county

ACTOR = "test"


@dataclass(frozen=True)
class Season:
    manifest: Manifest
    engine: Engine
    outcomes: pl.DataFrame

    @property
    def data(self) -> Path:
        return self.manifest.directory


def _has_rows(path: Path) -> bool:
    with path.open("rb") as f:
        return sum(1 for _ in zip(range(2), f, strict=False)) > 1


def run_season(out: Path, persons: int, seed: int, url: str, county: str = "341323") -> Season:
    manifest = build_county(county, persons, seed, out / "county")
    data = manifest.directory
    policy_id: str = manifest.data["policy"]
    engine = make_engine(url)
    roster = next(data.glob("roster_*.csv"))
    imports.import_roster(engine, roster, county, manifest.data["benefit_year"] - 1, ACTOR, accept_valid=True)
    for school in filter(_has_rows, sorted((data / "schools").glob("*.csv"))):
        imports.import_school_roster(engine, school, school.stem, county, ACTOR, accept_valid=True)
    for listing in filter(_has_rows, sorted((data / "lists").glob("*.csv"))):
        imports.import_department_list(engine, listing, listing.stem, county, policy_id, ACTOR, accept_valid=True)
    open_season(engine, policy_id, ACTOR)
    payments = pl.concat([pl.read_parquet(day) for day in sorted((data / "payments").glob("*.parquet"))])
    outcomes = apply_payments(engine, policy_id, payments, ACTOR)
    return Season(manifest, engine, outcomes)
