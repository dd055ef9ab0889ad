"""The 任务分解表 (targets.xlsx, reproducible bytes) and the e-voucher activations, both by township."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from canbao.policy import Policy
from canbao.synth.files import date_text, write_csv
from canbao.synth.places import Geography
from canbao.synth.randomness import Rng
from canbao.synth.season import date_in
from canbao.synth.tables import (
    E_VOUCHER_CHANNELS,
    E_VOUCHER_LATE,
    E_VOUCHER_LEVELS,
    FIXED_TIMESTAMP,
    TARGET_WITHIN_REACH,
)


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Integers proportional to `weights` summing exactly to `total` (largest remainders, ties by order)."""
    if not weights:
        return []
    weights = list(weights) if sum(weights) > 0 else [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda k: (-(total * weights[k] % whole), k))
    for k in order[: total - sum(shares)]:
        shares[k] += 1
    return shares


def _normalized_xlsx(data: bytes) -> bytes:
    """The workbook with fixed document dates and zip timestamps (openpyxl stamps both with 'now')."""
    fixed = dt.datetime(*FIXED_TIMESTAMP).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{fixed}\g<3>", content.decode()
                )
                content = text.encode()
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, content)
    return buffer.getvalue()


def _township_plan(geo: Geography, rng: Rng) -> tuple[list[int], list[int]]:
    """Per township: the enrollment target in percent of its population (0: a stretch target) and the
    e-voucher activation level (percent of the county's target share)."""
    r = rng.python("township_plan")
    share, low, high = TARGET_WITHIN_REACH
    reach = [r.randint(low, high) if r.random() < share else 0 for _ in geo.townships]
    levels = [r.randint(*E_VOUCHER_LEVELS[0 if f else 1]) for f in reach]
    return reach, levels


def village_population(frame: pl.DataFrame, geo: Geography) -> list[int]:
    """Persons alive per village, in the geography's order: what the targets are apportioned by."""
    alive = dict(frame.filter(pl.col("died_on").is_null()).group_by("village_index").len().rows())
    return [int(alive.get(k, 0)) for k in range(len(geo.villages))]


def write_targets(
    weights: list[int], geo: Geography, rng: Rng, enrollment: int, e_voucher: int, out: Path
) -> dict[str, int]:
    from openpyxl import Workbook

    reach = _township_plan(geo, rng)[0]
    people = [0] * len(geo.townships)
    for w, v in zip(weights, geo.villages, strict=True):
        people[v.township_index] += w
    reached = sum(p * f for p, f in zip(people, reach, strict=True))
    stretched = sum(p for p, f in zip(people, reach, strict=True) if not f)
    # Per-mille factor of the stretch townships: what the reach townships leave of 100% of the population.
    stretch = max(1, (100 * sum(people) - reached) * 10 // max(1, stretched))
    weighted = [w * (reach[v.township_index] * 10 or stretch) for w, v in zip(weights, geo.villages, strict=True)]
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "canbao synth"
    rows: dict[str, int] = {}
    for title, total, shares in (("参保任务", enrollment, weighted), ("电子凭证任务", e_voucher, weights)):
        sheet = workbook.create_sheet(title)
        sheet.append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
        for village, count in zip(geo.villages, apportion(total, shares), strict=True):
            sheet.append([village.township, village.township_code, village.name, village.code, count])
        rows[title] = len(geo.villages)
    buffer = io.BytesIO()
    workbook.save(buffer)
    (out / "targets.xlsx").write_bytes(_normalized_xlsx(buffer.getvalue()))
    return rows


def write_e_voucher_activations(
    frame: pl.DataFrame, geo: Geography, policy: Policy, rng: Rng, e_voucher: int, out: Path
) -> int:
    """医保电子凭证激活记录 (see :mod:`canbao.synth`): a rate per township, some activations after the window."""
    i = pl.col("i")
    window = policy.collection_window
    levels = dict(zip([t.code for t in geo.townships], _township_plan(geo, rng)[1], strict=True))
    share = e_voucher / max(1, frame.height)
    rate = pl.col("township_code").replace_strict(levels, return_dtype=pl.Int64) * share / 100
    u = rng.unit(i, "e_voucher")
    late_end = window.end + dt.timedelta(days=59)
    activated_on = (
        pl.when(u < rate)
        .then(date_in(rng, i, "e_voucher_day", window.start, window.end, "window", policy))
        .when(u < rate + E_VOUCHER_LATE)
        .then(date_in(rng, i, "e_voucher_late", window.end + dt.timedelta(days=1), late_end, "uniform", policy))
    )
    table = (
        frame.filter(pl.col("died_on").is_null() & ~pl.col("newborn") & (pl.col("on_roster") | pl.col("pays")))
        .with_columns(activated_on=activated_on, _order=rng.bits(i, "e_voucher_order"))
        .filter(pl.col("activated_on").is_not_null())
        .sort(["activated_on", "_order"])
        .select(
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            date_text(pl.col("activated_on")).alias("激活日期"),
            rng.pick(
                i, "e_voucher_channel", [c for c, _ in E_VOUCHER_CHANNELS], [w for _, w in E_VOUCHER_CHANNELS]
            ).alias("激活渠道"),
        )
    )
    write_csv(table, out / "e_voucher_activations.csv")
    return table.height
