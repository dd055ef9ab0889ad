"""Faults injected on purpose (see *Faults* in :mod:`canbao.synth`): who carries one, and where it is seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from canbao.synth.randomness import Rng
from canbao.synth.tables import (
    FAULT_KINDS,
    FAULT_MIN,
    FAULT_RATES,
)


@dataclass
class Faults:
    used: set[int] = field(default_factory=set)
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in FAULT_KINDS})

    def pick(self, rng: Rng, frame: pl.DataFrame, candidates: pl.Expr, k: int, stream: str) -> pl.DataFrame:
        """k rows of `frame` (column i = person) meeting `candidates`, none already carrying a fault; the first
        row of each person chosen, in the order drawn."""
        i = pl.col("i")
        persons = (
            frame.select(i, (candidates & ~i.is_in(sorted(self.used))).alias("_ok"))
            .filter(pl.col("_ok"))
            .select(i.unique())
            .with_columns(_draw=rng.bits(i, stream))
            .sort("_draw", "i")
            .head(k)
            .with_row_index("_position")
        )
        chosen = (
            frame.filter(i.is_in(persons["i"].implode()))
            .unique("i", keep="first", maintain_order=True)
            .join(persons.select("i", "_position"), on="i", how="left")
            .sort("_position")
            .drop("_position")
        )
        self.used.update(chosen["i"].to_list())
        return chosen


def fault_count(persons: int, kind: str) -> int:
    return max(FAULT_MIN, round(persons * FAULT_RATES[kind]))
