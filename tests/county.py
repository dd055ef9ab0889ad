"""A small synthetic county carried through its season, for tests that need a registry full of it.

The steps are the demo's (canbao.season_demo.import_county: the same imports, targets included), but the
season's payment files go in as one batch: the same service rules, far fewer round trips, so the PostgreSQL
runs stay quick."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from canbao.season_demo import import_county
from canbao.services.payment_batch import apply_payments
from canbao.services.season import open_season
from canbao.store.db import make_engine
from canbao.synth import Manifest, build_county

ACTOR = "test"
TODAY = dt.date(2026, 12, 1)
"""The date the services are told is today (they never read the clock)."""


@dataclass(frozen=True)
class Season:
    manifest: Manifest
    engine: Engine
    outcomes: pl.DataFrame

    @property
    def data(self) -> Path:
        return self.manifest.directory


def run_season(out: Path, persons: int, seed: int, url: str, county: str = "341323") -> Season:
    manifest = build_county(county, persons, seed, out / "county")
    policy_id: str = manifest.data["policy"]
    engine = make_engine(url)
    import_county(engine, manifest.directory, county, policy_id, ACTOR, TODAY, feedback=False)
    open_season(engine, policy_id, ACTOR, today=TODAY)
    payments = pl.concat([pl.read_parquet(day) for day in sorted((manifest.directory / "payments").glob("*.parquet"))])
    outcomes = apply_payments(engine, policy_id, payments, ACTOR, today=TODAY)
    return Season(manifest, engine, outcomes)
