"""Reproducible randomness (see *Randomness* in :mod:`canbao.synth`): SplitMix64 streams keyed by a row's integer
key, in Polars expressions."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import polars as pl

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _splitmix64(x: int) -> int:
    z = (x + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


class Rng:
    """Named streams of reproducible pseudo-random values keyed by a row's integer key."""

    def __init__(self, seed: int, part: int | None = None) -> None:
        self.seed = seed
        self._base = _splitmix64(seed & _M64)
        if part is not None:
            # A part of a county written in parts draws its own persons; small choices (python()) stay shared.
            self._base = _splitmix64(self._base ^ _splitmix64(part + 1))

    def offset(self, stream: str) -> int:
        return _splitmix64(self._base ^ zlib.crc32(stream.encode()))

    def bits(self, key: pl.Expr, stream: str) -> pl.Expr:
        """A 64-bit hash (SplitMix64 finalizer, wrapping arithmetic) of the key in this stream."""
        z = key.cast(pl.Int64).reinterpret(signed=False) * _u64(_GOLDEN) + _u64(self.offset(stream))
        z = z.xor(z // _u64(1 << 30)) * _u64(_MIX1)
        z = z.xor(z // _u64(1 << 27)) * _u64(_MIX2)
        return z.xor(z // _u64(1 << 31))

    def below(self, key: pl.Expr, stream: str, n: int | pl.Expr) -> pl.Expr:
        """An integer in [0, n)."""
        divisor = _u64(n) if isinstance(n, int) else n.cast(pl.UInt64)
        return (self.bits(key, stream) % divisor).cast(pl.Int64)

    def unit(self, key: pl.Expr, stream: str) -> pl.Expr:
        """A float in [0, 1)."""
        return (self.bits(key, stream) // _u64(1 << 11)).cast(pl.Float64) / float(1 << 53)

    def weighted(self, key: pl.Expr, stream: str, weights: Sequence[int]) -> pl.Expr:
        """An index into `weights`, drawn in proportion to them."""
        cumulative = list(accumulate(weights))
        u = self.below(key, stream, cumulative[-1])
        return pl.lit(pl.Series(cumulative, dtype=pl.Int64)).search_sorted(u, side="right").cast(pl.Int64)

    def pick(self, key: pl.Expr, stream: str, values: Sequence[str], weights: Sequence[int] | None = None) -> pl.Expr:
        index = self.weighted(key, stream, weights) if weights else self.below(key, stream, len(values))
        return pl.lit(pl.Series(list(values), dtype=pl.String)).gather(index)

    def python(self, stream: str) -> random.Random:
        return random.Random(f"{self.seed}/{stream}")


def lookup(values: Sequence[Any], index: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return pl.lit(pl.Series(list(values), dtype=dtype)).gather(index)
