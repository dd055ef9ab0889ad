"""The money's files: the tax bureau's records, the bank's statement, the collecting units' lists and the season's
payment files."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from canbao.money import to_fen, yuan_text
from canbao.policy import Policy
from canbao.synth.faults import Faults, fault_count
from canbao.synth.files import csv_rows, date_text, payment_place, write_csv
from canbao.synth.randomness import Rng
from canbao.synth.season import date_in
from canbao.synth.tables import (
    EVENT_COLUMNS,
    TAX_CHANNEL_WORDS,
)


def write_tax_and_bank(
    events: pl.DataFrame,
    frame: pl.DataFrame,
    policy: Policy,
    rng: Rng,
    faults: Faults,
    out: Path,
    txn: tuple[int, int, int],
) -> dict[str, int]:
    n = frame.height
    i = pl.col("i")
    positive_online = (pl.col("amount_fen") > 0) & (pl.col("channel") == "online")
    missing = faults.pick(rng, events, positive_online, fault_count(n, "enrollment_without_payment"), "no_money")
    mismatch = faults.pick(rng, events, pl.col("amount_fen") > 0, fault_count(n, "amount_mismatch"), "mismatch")
    # Money for a person who never enrolled: alive, on the roster, no list, did not renew.
    idle = pl.col("on_roster") & ~pl.col("pays") & pl.col("died_on").is_null() & (pl.col("categories").list.len() == 0)
    ghosts = faults.pick(rng, frame, idle, fault_count(n, "tax_without_enrollment"), "ghost")
    window = policy.collection_window
    multiplier, offset, serials = txn
    standard = to_fen(policy.personal_contribution)
    ghost_rows = ghosts.select(
        "i",
        "id_number",
        "name",
        paid_on=date_in(rng, i, "ghost_day", window.start, window.end, "window", policy),
        channel=pl.lit("online"),
        channel_name=pl.lit("微信"),
        amount_fen=pl.lit(standard, dtype=pl.Int64),
        _order=rng.bits(i, "payment_order"),
        _serial=pl.int_range(pl.len(), dtype=pl.Int64) + events.height + serials,
    ).with_columns(
        txn_id=pl.concat_str(
            [
                pl.lit("WX"),
                pl.col("paid_on").dt.to_string("%Y%m%d"),
                ((pl.col("_serial") * multiplier + offset) % 100_000_000).cast(pl.String).str.zfill(8),
            ]
        )
    )
    missing_txns = missing["txn_id"].to_list()
    columns = ["i", "id_number", "name", "paid_on", "channel", "channel_name", "amount_fen", "_order", "txn_id"]
    records = pl.concat(
        [events.filter(~pl.col("txn_id").is_in(missing_txns)).select(columns), ghost_rows.select(columns)]
    ).sort(["paid_on", "_order"], maintain_order=True)
    channel_word = (
        pl.when(pl.col("channel") == "online")
        .then(pl.col("channel_name"))
        .otherwise(pl.col("channel").replace_strict(TAX_CHANNEL_WORDS, default=None))
    )
    tax = records.lazy().select(
        pl.col("name").alias("缴费人姓名"),
        pl.col("id_number").alias("证件号码"),
        yuan_text(pl.col("amount_fen")).alias("缴费金额(元)"),
        date_text(pl.col("paid_on")).alias("缴费日期"),
        pl.col("txn_id").alias("交易流水号"),
        channel_word.alias("渠道"),
    )
    r = rng.python("mismatch")
    bank_amounts: dict[str, int] = {}
    for k, (txn_id, amount) in enumerate(mismatch.select("txn_id", "amount_fen").rows()):
        wrong = [amount - 100, amount * 10, amount - 1][(k + r.randrange(3)) % 3]
        bank_amounts[txn_id] = wrong
    paid = records.filter(pl.col("amount_fen") > 0).select("paid_on", "txn_id", "amount_fen", "channel", "channel_name")
    bank_fen = pl.col("txn_id").replace_strict(bank_amounts, default=pl.col("amount_fen"), return_dtype=pl.Int64)
    bank = paid.lazy().select(
        date_text(pl.col("paid_on")).alias("交易日期"),
        pl.col("txn_id").alias("交易流水号"),
        yuan_text(bank_fen).alias("金额(元)"),
        pl.concat_str([pl.lit("城乡居民医保缴费 "), channel_word]).alias("摘要"),
    )
    write_csv(tax, out / "tax_records.csv")
    write_csv(bank, out / "bank_statement.csv")
    wanted = [*ghost_rows["txn_id"].to_list(), *mismatch["txn_id"].to_list()]
    tax_rows = csv_rows(records, "txn_id", wanted)
    bank_rows = csv_rows(paid, "txn_id", wanted)
    for row in ghost_rows.iter_rows(named=True):
        txn_id = row["txn_id"]
        faults.entries["tax_without_enrollment"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "txn_id": txn_id,
                "amount_fen": row["amount_fen"],
                "rows": [
                    {"file": "tax_records.csv", "row": tax_rows[txn_id][0]},
                    {"file": "bank_statement.csv", "row": bank_rows[txn_id][0]},
                ],
            }
        )
    for row in missing.iter_rows(named=True):
        faults.entries["enrollment_without_payment"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "txn_id": row["txn_id"],
                "amount_fen": row["amount_fen"],
                "rows": [payment_place(row)],
            }
        )
    for row in mismatch.iter_rows(named=True):
        txn_id = row["txn_id"]
        faults.entries["amount_mismatch"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "txn_id": txn_id,
                "tax_amount_fen": row["amount_fen"],
                "bank_amount_fen": bank_amounts[txn_id],
                "rows": [
                    {"file": "tax_records.csv", "row": tax_rows[txn_id][0]},
                    {"file": "bank_statement.csv", "row": bank_rows[txn_id][0]},
                    payment_place(row),
                ],
            }
        )
    return {"tax_records.csv": records.height, "bank_statement.csv": paid.height}


def write_collections(events: pl.DataFrame, out: Path) -> dict[str, int]:
    """Each collecting unit's list of the payments it collected (代收单位缴费清单), in payment order."""
    collected = events.filter(pl.col("channel").is_in(["collecting_unit", "school"])).select(
        pl.col("collecting_unit").alias("代收单位"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        yuan_text(pl.col("amount_fen")).alias("缴费金额(元)"),
        date_text(pl.col("paid_on")).alias("缴费日期"),
        pl.col("txn_id").alias("交易流水号"),
    )
    rows: dict[str, int] = {}
    for unit in sorted(collected["代收单位"].unique().to_list()):
        part = collected.filter(pl.col("代收单位") == unit)
        path = f"collections/{unit}.csv"
        write_csv(part, out / path)
        rows[path] = part.height
    return rows


def write_payments(events: pl.DataFrame, out: Path) -> dict[str, int]:
    rows: dict[str, int] = {}
    directory = out / "payments"
    directory.mkdir(parents=True, exist_ok=True)
    columns = [pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()]
    for (day,), part in events.partition_by("paid_on", as_dict=True, maintain_order=True).items():
        path = f"payments/{day.isoformat()}.parquet"
        part.select(columns).write_parquet(out / path, compression="zstd", statistics=True)
        rows[path] = part.height
    return rows
