"""The matching: pure Polars over frames, no database (:func:`reconcile`)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from canbao.money import yuan_text
from canbao.services.reconcile.model import FINDING_SCHEMA, SOURCE_LABELS, TEST_LABELS, Reconciliation

# ---------------------------------------------------------------------------------------------------- matching


def _where(prefix: str) -> pl.Expr:
    return pl.when(pl.col(f"{prefix}_row").is_not_null()).then(
        pl.format("{} 第{}行", pl.col(f"{prefix}_file"), pl.col(f"{prefix}_row"))
    )


# Transactions are matched on two independent 64-bit hashes of their id (a join on a million text keys costs
# ten times more); should two different ids ever share both, the match is redone with other seeds.
_SEEDS: tuple[tuple[int, int], ...] = ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0))


class _HashCollision(Exception):
    pass


def _lean(
    frame: pl.DataFrame | None, p: str, seeds: tuple[int, int], who: bool, flag: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One source as (firsts, repeats), both sorted by key ``k``: per transaction its first record's amount,
    day, person (hashed ID number), row index ``{p}_i`` and boolean column `flag`, if any; and the row
    indexes of records repeating one."""
    k1, k2 = seeds
    columns = {"k": pl.UInt64(), f"{p}_k2": pl.UInt64(), f"{p}_amount_fen": pl.Int64(), f"{p}_paid_on": pl.Date(),
               f"{p}_i": pl.UInt32()}  # fmt: skip
    columns |= ({f"{p}_who": pl.UInt64()} if who else {}) | ({flag: pl.Boolean()} if flag else {})
    if frame is None:
        empty = pl.DataFrame(schema=columns)
        return empty, empty
    lean = frame.select(
        pl.col("txn_id").hash(k1).alias("k"),
        pl.col("txn_id").hash(k2).alias(f"{p}_k2"),
        pl.col("amount_fen").alias(f"{p}_amount_fen"),
        pl.col("paid_on").alias(f"{p}_paid_on"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(f"{p}_i"),
        *([pl.col("id_number").hash(k1).alias(f"{p}_who")] if who else []),
        *([pl.col(flag)] if flag else []),
    ).sort("k", maintain_order=True)
    again = (pl.col("k") == pl.col("k").shift(1)).fill_null(False)
    if lean.select((again & (pl.col(f"{p}_k2") != pl.col(f"{p}_k2").shift(1))).any()).item():
        raise _HashCollision
    repeat = lean.select(again).to_series()
    return lean.filter(~repeat), lean.filter(repeat)


def _match(
    sides: dict[str, tuple[pl.DataFrame | None, bool, str | None]], seeds: tuple[int, int]
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Every transaction of every source, one row each: key, then per source (prefix) its first record's
    columns; and per source the repeated records."""
    firsts, repeats = {}, {}
    for p, (frame, who, flag) in sides.items():
        firsts[p], repeats[p] = _lean(frame, p, seeds, who, flag)
    keys = pl.concat([f.select("k") for f in firsts.values()]).sort("k")
    m = keys.filter((pl.col("k") != pl.col("k").shift(1)).fill_null(True))
    for first in firsts.values():
        m = m.join(first, on="k", how="left")
    k2 = pl.coalesce(*[f"{p}_k2" for p in sides])
    if m.select(pl.any_horizontal((pl.col(f"{p}_k2") != k2).fill_null(False) for p in sides).any()).item():
        raise _HashCollision
    return m.with_columns(pl.col(f"{p}_i").is_not_null().alias(f"in_{p}") for p in sides), repeats


def _gather(small: pl.DataFrame, frame: pl.DataFrame | None, p: str, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add `frame`'s `columns` (prefixed) to the few matched rows in `small`, by their row index in it."""
    names = [f"{p}_{c}" for c in columns]
    if frame is None:
        return small.with_columns(pl.lit(None, dtype=t).alias(f"{p}_{c}") for c, t in columns.items())
    have = [c for c in columns if c in frame.columns]
    wanted = small[f"{p}_i"].drop_nulls()
    picked = frame.select(have).with_row_index(f"{p}_i")[wanted.cast(pl.Int64).to_list()] if wanted.len() else None
    if picked is None:
        return small.with_columns(pl.lit(None, dtype=t).alias(f"{p}_{c}") for c, t in columns.items())
    picked = picked.rename({c: f"{p}_{c}" for c in have}).with_columns(
        pl.lit(None, dtype=t).alias(f"{p}_{c}") for c, t in columns.items() if c not in have
    )
    return small.join(picked.select(f"{p}_i", *names).cast({f"{p}_i": pl.UInt32}), on=f"{p}_i", how="left")


def _repeated(frame: pl.DataFrame | None, source: str) -> pl.DataFrame:
    """Transactions that appear more than once in one source's files."""
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema=FINDING_SCHEMA)
    has = set(frame.columns)
    text = {c: (pl.col(c) if c in has else pl.lit(None, dtype=pl.String)) for c in ("id_number", "name")}
    return (
        frame.filter(pl.len().over("txn_id") > 1)
        .group_by("txn_id", maintain_order=True)
        .agg(
            text["id_number"].first().alias("id_number"),
            text["name"].first().alias("name"),
            pl.col("paid_on").min(),
            pl.col("amount_fen").first(),
            pl.len().alias("_times"),
            pl.format("{} 第{}行", pl.col("file"), pl.col("row")).str.join("、").alias("where"),
        )
        .select(
            pl.lit("counted_twice").alias("kind"),
            "txn_id",
            "id_number",
            "name",
            pl.lit(None, dtype=pl.String).alias("township"),
            pl.lit(None, dtype=pl.String).alias("village"),
            "paid_on",
            *[
                (pl.col("amount_fen") if s == source else pl.lit(None, dtype=pl.Int64)).alias(f"{p}_fen")
                for s, p in (("registry", "registry"), ("tax", "tax"), ("bank", "bank"), ("collecting_unit", "unit"))
            ],
            pl.format("同一笔交易在{}中出现 {} 次", pl.lit(SOURCE_LABELS[source]), pl.col("_times")).alias("detail"),
            "where",
            pl.lit(source == "bank").alias("ledgers_agree"),
            pl.lit(source != "bank").alias("money_agrees"),
            pl.lit(True).alias("persons_agree"),
        )
        .select(list(FINDING_SCHEMA))
    )


def reconcile(
    registry: pl.DataFrame,
    as_of: dt.date,
    *,
    tax: pl.DataFrame | None = None,
    bank: pl.DataFrame | None = None,
    units: pl.DataFrame | None = None,
    other_counties: pl.DataFrame | None = None,
) -> Reconciliation:
    """Match the registry's payments (:func:`load_registry`) against whichever files are given (frames of
    :func:`read_records`), as of `as_of`.  A source not given is not compared."""
    tax_given, unit_given = tax is not None, units is not None
    unit_names = units["unit"].unique().to_list() if units is not None else []
    registry = registry.with_columns(
        (pl.col("collected_by").is_in(unit_names) if unit_given else pl.lit(False)).alias("_unit_due")
    )
    sides = {
        "r": (registry, True, "_unit_due"),
        "t": (tax, True, None),
        "b": (bank, False, None),
        "u": (units, True, None),
    }
    for seeds in _SEEDS:
        try:
            m, repeats = _match(sides, seeds)
            break
        except _HashCollision:
            continue
    else:  # pragma: no cover - three independent 128-bit coincidences
        raise RuntimeError("transaction ids could not be told apart by hashing")
    m = m.with_columns(pl.min_horizontal("r_paid_on", "t_paid_on", "b_paid_on", "u_paid_on").alias("paid_on")).filter(
        pl.col("paid_on") <= as_of
    )
    amount = pl.coalesce("r_amount_fen", "t_amount_fen", "u_amount_fen", "b_amount_fen")
    bank_due = pl.lit(bank is not None) & (amount > 0)
    pairs = [("r_amount_fen", "t_amount_fen"), ("r_amount_fen", "u_amount_fen"), ("t_amount_fen", "u_amount_fen"),
             ("t_amount_fen", "b_amount_fen"), ("r_who", "t_who"), ("r_who", "u_who"), ("t_who", "u_who")]  # fmt: skip
    differ = [(pl.col(a) != pl.col(b)).fill_null(False) for a, b in pairs]
    candidate = pl.any_horizontal(
        ~pl.col("in_r"),
        pl.lit(tax_given) & ~pl.col("in_t"),
        pl.col("in_t") & bank_due & ~pl.col("in_b"),
        *differ,
    )
    m = m.with_columns(pl.col("_unit_due").fill_null(False))
    candidate = candidate | (pl.col("_unit_due") & ~pl.col("in_u"))
    small = m.filter(candidate)
    small = _gather(small, registry, "r", {"txn_id": pl.String(), "id_number": pl.String(), "name": pl.String(),
                                           "collected_by": pl.String(), "township": pl.String(),
                                           "village": pl.String(), "enrollment_id": pl.Int64()})  # fmt: skip
    small = _gather(small, tax, "t", {"txn_id": pl.String(), "id_number": pl.String(), "name": pl.String(),
                                      "file": pl.String(), "row": pl.Int64()})  # fmt: skip
    small = _gather(small, bank, "b", {"txn_id": pl.String(), "file": pl.String(), "row": pl.Int64()})
    small = _gather(small, units, "u", {"txn_id": pl.String(), "unit": pl.String(), "id_number": pl.String(),
                                        "name": pl.String(), "file": pl.String(), "row": pl.Int64()})  # fmt: skip
    person = pl.coalesce("r_id_number", "t_id_number", "u_id_number")
    enrolled_ids = registry["id_number"].implode()
    small = small.with_columns(
        pl.coalesce("r_txn_id", "t_txn_id", "b_txn_id", "u_txn_id").alias("txn_id"),
        person.alias("id_number"),
        pl.coalesce("r_name", "t_name", "u_name").alias("name"),
        pl.col("r_township").alias("township"),
        pl.col("r_village").alias("village"),
        pl.col("r_enrollment_id").alias("enrollment_id"),
        pl.col("r_collected_by").alias("r_unit"),
        bank_due.alias("_bank_due"),
        (~pl.col("in_r") & person.is_in(enrolled_ids)).fill_null(False).alias("_paid_again"),
    )
    fen = [
        pl.col("r_amount_fen").alias("registry_fen"),
        pl.col("t_amount_fen").alias("tax_fen"),
        pl.col("b_amount_fen").alias("bank_fen"),
        pl.col("u_amount_fen").alias("unit_fen"),
    ]
    where = pl.concat_str(
        [
            pl.when("in_r").then(pl.format("参保记录 {}", pl.col("enrollment_id"))),
            _where("t"),
            _where("b"),
            _where("u"),
        ],
        separator="；",
        ignore_nulls=True,
    )
    have = pl.concat_str(
        [
            pl.when(f"in_{k}").then(pl.lit(SOURCE_LABELS[s]))
            for k, s in (("r", "registry"), ("t", "tax"), ("b", "bank"), ("u", "collecting_unit"))
        ],
        separator="、",
        ignore_nulls=True,
    )
    rules: list[tuple[str, pl.Expr, pl.Expr, pl.Expr, pl.Expr, pl.Expr]] = []  # kind, when, detail, 3 tests
    no_reg = ~pl.col("in_r") & (pl.col("in_t") | pl.col("in_b") | pl.col("in_u"))
    rules.append(
        (
            "money_without_person",
            no_reg & ~pl.col("_paid_again"),
            pl.format("{}有此笔，医保无对应参保记录", have),
            pl.col("in_t") | pl.col("in_u"),
            pl.col("in_b") & ~pl.col("in_t") if tax_given else pl.lit(False),
            pl.lit(True),
        )
    )
    rules.append(
        (
            "counted_twice",
            no_reg & pl.col("_paid_again"),
            pl.format("此人本年度已有另一笔缴费入账，{}又有此笔", have),
            pl.lit(True),
            pl.lit(False),
            pl.lit(True),
        )
    )
    if tax_given:
        rules.append(
            (
                "person_without_money",
                pl.col("in_r") & ~pl.col("in_t"),
                pl.lit("医保已登记参保，税务无此笔征收记录"),
                pl.lit(True),
                pl.lit(False),
                pl.lit(True),
            )
        )
        rules.append(
            (
                "person_without_money",
                pl.col("in_t") & pl.col("_bank_due") & ~pl.col("in_b"),
                pl.lit("税务有征收记录，银行待报解账户无此笔到账"),
                pl.lit(False),
                pl.lit(True),
                pl.lit(True),
            )
        )
    if unit_given:
        rules.append(
            (
                "person_without_money",
                pl.col("in_r") & pl.col("_unit_due") & ~pl.col("in_u"),
                pl.format("代收单位“{}”的清单中没有此笔", pl.col("r_unit")),
                pl.lit(True),
                pl.lit(False),
                pl.lit(False),
            )
        )
    ledger_amounts = ["r_amount_fen", "t_amount_fen", "u_amount_fen"]
    ledger_differ = pl.concat_list(ledger_amounts).list.drop_nulls().list.n_unique() > 1
    bank_differs = (
        pl.col("in_b") & pl.col("t_amount_fen").is_not_null() & (pl.col("b_amount_fen") != pl.col("t_amount_fen"))
    )
    rules.append(
        (
            "amount_mismatch",
            ledger_differ | bank_differs,
            pl.concat_str(
                [
                    pl.when(pl.col(c).is_not_null()).then(pl.format("{} {} 元", pl.lit(label), yuan_text(pl.col(c))))
                    for c, label in (
                        ("r_amount_fen", "医保"),
                        ("t_amount_fen", "税务"),
                        ("b_amount_fen", "银行"),
                        ("u_amount_fen", "代收单位"),
                    )
                ],
                separator="，",
                ignore_nulls=True,
            ),
            ledger_differ,
            bank_differs,
            pl.lit(False),  # the person is the right one; how much is the ledgers' or the bank's question
        )
    )
    ids = ["r_id_number", "t_id_number", "u_id_number"]
    ids_differ = pl.concat_list(ids).list.drop_nulls().list.n_unique() > 1
    rules.append(
        (
            "person_mismatch",
            ids_differ,
            pl.format(
                "同一笔交易的证件号码不一致：医保 {}，税务 {}，代收单位 {}", *[pl.col(c).fill_null("—") for c in ids]
            ),
            pl.lit(True),
            pl.lit(False),
            pl.lit(True),
        )
    )

    parts = [
        small.filter(when).select(
            pl.lit(kind).alias("kind"),
            "txn_id",
            "id_number",
            "name",
            "township",
            "village",
            "paid_on",
            *fen,
            detail.alias("detail"),
            where.alias("where"),
            (~ledgers).alias("ledgers_agree"),
            (~money).alias("money_agrees"),
            (~people).alias("persons_agree"),
        )
        for kind, when, detail, ledgers, money, people in rules
    ]
    for frame, p, source in ((tax, "t", "tax"), (bank, "b", "bank"), (units, "u", "collecting_unit")):
        if frame is not None and repeats[p].height:
            repeated = frame.filter(pl.col("txn_id").is_in(frame[repeats[p][f"{p}_i"]]["txn_id"].implode()))
            parts.append(_repeated(repeated, source).filter(pl.col("paid_on") <= as_of))
    daily = _daily(m, repeats, tax, bank, as_of)
    parts.append(
        daily.filter(pl.col("difference_fen") != 0).select(
            pl.lit("daily_total").alias("kind"),
            *[
                pl.lit(None, dtype=FINDING_SCHEMA[c]).alias(c)
                for c in ("txn_id", "id_number", "name", "township", "village")
            ],
            "paid_on",
            pl.lit(None, dtype=pl.Int64).alias("registry_fen"),
            pl.col("tax_fen"),
            pl.col("bank_fen"),
            pl.lit(None, dtype=pl.Int64).alias("unit_fen"),
            pl.format(
                "银行合计 {} 元，税务合计 {} 元，相差 {} 元；逐笔核对相关交易",
                *[yuan_text(pl.col(c)) for c in ("bank_fen", "tax_fen", "difference_fen")],
            ).alias("detail"),
            pl.col("explained_by").alias("where"),
            pl.lit(True).alias("ledgers_agree"),
            pl.lit(False).alias("money_agrees"),
            pl.lit(True).alias("persons_agree"),
        )
    )
    if other_counties is not None:
        parts.append(_two_places(registry, other_counties, as_of))
    findings = pl.concat([p.select(list(FINDING_SCHEMA)).cast(FINDING_SCHEMA) for p in parts]).sort(  # type: ignore[arg-type]
        "kind", "paid_on", "txn_id", "id_number", nulls_last=True
    )
    tests = {test: bool(findings[test].all()) for test in TEST_LABELS}
    counts = {
        "registry": int(m["in_r"].sum()),
        "tax": int(m["in_t"].sum()),
        "bank": int(m["in_b"].sum()),
        "collecting_unit": int(m["in_u"].sum()),
        "other_county": other_counties.height if other_counties is not None else 0,
    }
    return Reconciliation(as_of, findings, daily, counts, tests)


def _daily(
    m: pl.DataFrame,
    repeats: dict[str, pl.DataFrame],
    tax: pl.DataFrame | None,
    bank: pl.DataFrame | None,
    as_of: dt.date,
) -> pl.DataFrame:
    """Bank total against tax total per day, and the transactions whose bank and tax lines differ on that day
    (another amount, a line missing or repeated, another day on each side): the clerk's starting points."""
    schema = {"paid_on": pl.Date(), "tax_fen": pl.Int64(), "bank_fen": pl.Int64(), "difference_fen": pl.Int64(),
              "explained_by": pl.String()}  # fmt: skip
    if tax is None or bank is None:
        return pl.DataFrame(schema=schema)
    totals = [
        frame.filter(pl.col("paid_on") <= as_of).group_by("paid_on").agg(pl.col("amount_fen").sum().alias(name))
        for frame, name in ((tax, "tax_fen"), (bank, "bank_fen"))
    ]
    differs = (
        (pl.col("t_amount_fen").fill_null(0) != pl.col("b_amount_fen").fill_null(0))
        | (pl.col("t_paid_on") != pl.col("b_paid_on")).fill_null(False)
        | pl.col("k").is_in(pl.concat([repeats["t"]["k"], repeats["b"]["k"]]).implode())
    )
    odd = m.filter(differs & (pl.col("in_t") | pl.col("in_b")))
    odd = _gather(_gather(odd, tax, "t", {"txn_id": pl.String()}), bank, "b", {"txn_id": pl.String()})
    odd = odd.with_columns(pl.coalesce("t_txn_id", "b_txn_id").alias("txn_id"))
    per_day = (
        pl.concat(
            [
                odd.select(pl.col("t_paid_on").alias("paid_on"), "txn_id"),
                odd.select(pl.col("b_paid_on").alias("paid_on"), "txn_id"),
            ]
        )
        .drop_nulls("paid_on")
        .unique()
    )
    return (
        totals[0]
        .join(totals[1], on="paid_on", how="full", coalesce=True)
        .with_columns(pl.col("tax_fen", "bank_fen").fill_null(0))
        .with_columns((pl.col("bank_fen") - pl.col("tax_fen")).alias("difference_fen"))
        .join(
            per_day.group_by("paid_on").agg(pl.col("txn_id").sort().str.join("、").alias("explained_by")),
            on="paid_on",
            how="left",
        )
        .select(list(schema))
        .sort("paid_on")
    )


def _two_places(registry: pl.DataFrame, other: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Live enrollments here of persons on another county's roster (read by cleanup.read_register)."""
    here = registry.filter(
        pl.col("live") & (pl.col("paid_on") <= as_of) & pl.col("id_number").is_in(other["id_number"].implode())
    ).unique("id_number")
    file = pl.col("file") if "file" in other.columns else pl.lit(SOURCE_LABELS["other_county"])
    there = other.select(
        "id_number",
        pl.col("detail").alias("_there"),
        pl.format("{} 第{}行", file, pl.col("row_number")).alias("_row"),
    )
    return here.join(there, on="id_number", how="inner").select(
        pl.lit("two_places").alias("kind"),
        "txn_id",
        "id_number",
        "name",
        "township",
        "village",
        "paid_on",
        pl.col("amount_fen").alias("registry_fen"),
        *[pl.lit(None, dtype=pl.Int64).alias(c) for c in ("tax_fen", "bank_fen", "unit_fen")],
        pl.format("本县已参保（参保记录 {}），同一年度又在{}参保", pl.col("enrollment_id"), pl.col("_there")).alias(
            "detail"
        ),
        pl.format("参保记录 {}；{}", pl.col("enrollment_id"), pl.col("_row")).alias("where"),
        pl.lit(True).alias("ledgers_agree"),
        pl.lit(True).alias("money_agrees"),
        pl.lit(False).alias("persons_agree"),
    )
