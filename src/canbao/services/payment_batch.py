"""Apply payments — one notification or a whole day's file — through one set of rules.

A frame of payments goes in (the quote contract's columns plus `channel`, `channel_name`, `txn_id`,
`amount_fen`, `collecting_unit`, `township`, `village`, `phone`); each row comes out `enrolled`, `replayed`
(its channel transaction was already recorded: the first result is returned) or `refused` (with the field
and the reason).  A single payment (`payments.pay`) is a frame of one.

The rules, in order: the quote must succeed and the person be eligible; the channel must be known; the
amount must be what is due; a transaction id already recorded is a replay for the same person and a
refusal for another; name and ID number must agree with the registry; one live enrollment per person and
benefit year (across channels, collecting units and rows of the same file).  A file is written in chunks,
each one transaction; writers are serialized per database (SQLite: BEGIN IMMEDIATE) or per person
(PostgreSQL: row locks on the persons a chunk pays for), and the unique indexes stay as the last guard.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Connection, Engine, Select, String, bindparam, select, update
from sqlalchemy.exc import DBAPIError

from canbao.errors import CanbaoError
from canbao.ids import mask_id_numbers
from canbao.money import yuan_text
from canbao.policy import Policy, load_policy
from canbao.rules.columns import first_match
from canbao.rules.engine import quote_frame
from canbao.store.bulk import allocate_ids, bulk_insert, one_of
from canbao.store.db import refresh_statistics
from canbao.store.tables import enrollments, ledger_entries, persons
from canbao.store.uow import BUSY, DatabaseBusy, UnitOfWork, audit, now
from canbao.vocabulary import CHANNEL_LABELS, CHANNELS

__all__ = ["CHANNELS", "CHANNEL_LABELS", "CHUNK_ROWS", "PAYMENT_COLUMNS", "RESULT_COLUMNS", "apply_payments"]

PAYMENT_COLUMNS: dict[str, pl.DataType] = {
    "channel": pl.String(),
    "channel_name": pl.String(),
    "txn_id": pl.String(),
    "amount_fen": pl.Int64(),
    "collecting_unit": pl.String(),
    "township": pl.String(),
    "village": pl.String(),
    "phone": pl.String(),
    "out_trade_no": pl.String(),  # an online payment's order (canbao.services.orders), kept beside txn_id
}
RESULT_COLUMNS = [
    "payment_row", "outcome", "error_field", "reason", "enrollment_id", "person_id", "amount_fen",
    "benefit_start", "benefit_end",
]  # fmt: skip
_CHUNK = 5_000  # keys per lookup query
# Payments per transaction, per database: a single payment waits behind at most one chunk.  SQLite queues
# every writer behind the chunk in progress, and each commit costs it tens of milliseconds at county size
# (5,000 made a season's payments 1.6× as long as one transaction a day); a chunk of 20,000 is about a second
# there.  PostgreSQL locks only a chunk's persons, so its chunks stay small.
CHUNK_ROWS: dict[str, int] = {"sqlite": 20_000, "postgresql": 5_000}
RETRIES = 3  # a chunk that lost a race to a concurrent writer is judged again this many times at most
RETRY_SQLSTATES = ("23505", "40P01", "40001")  # PostgreSQL unique violation, deadlock, serialization failure
SQLITE_HOLD_S = 1.0  # SQLite: after holding the write lock this long (over its chunks), a file steps aside for
SQLITE_PAUSE_S = 0.12  # this long: more than the busy handler's longest sleep (100 ms), so a waiter gets in


def _fetch_in(c: Connection, query: Callable[[list[Any]], Select[Any]], values: list[Any]) -> list[dict[str, Any]]:
    """Rows of `query(chunk)` for the values in chunks (an IN list of a million would not do)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(values), _CHUNK):
        found.extend(dict(r) for r in c.execute(query(values[start : start + _CHUNK])).mappings())
    return found


class _Outcomes:
    """Per-row outcome, filled in as the rules run; the first refusal of a row stands."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("outcome"),
            pl.lit(None, dtype=pl.String).alias("error_field"),
            pl.lit(None, dtype=pl.String).alias("reason"),
            pl.lit(None, dtype=pl.Int64).alias("enrollment_id"),
            pl.lit(None, dtype=pl.Int64).alias("person_id"),
        )

    def refuse(self, condition: pl.Expr, field: str | pl.Expr, reason: pl.Expr) -> None:
        open_ = pl.col("outcome").is_null() & condition.fill_null(False)
        field_expr = pl.lit(field) if isinstance(field, str) else field
        self.frame = self.frame.with_columns(
            pl.when(open_).then(pl.lit("refused")).otherwise(pl.col("outcome")).alias("outcome"),
            pl.when(open_).then(field_expr).otherwise(pl.col("error_field")).alias("error_field"),
            pl.when(open_).then(reason).otherwise(pl.col("reason")).alias("reason"),
        )

    def pending(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("outcome").is_null())


def id_check_day(policy: Policy, today: dt.date | None) -> dt.date:
    """The day ID numbers are checked against (a birth date after it is refused): `today` when the caller
    gives it, else the policy's last payable day (the benefit period's end) — never the machine's clock, so
    that a file applied again later is judged the same.  A payment dated before the birth is refused all the
    same (the engine's 缴费日期早于身份证号码中的出生日期)."""
    return today if today is not None else policy.benefit_period.end


def _prepare(policy_id: str, frame: pl.DataFrame, today: dt.date | None) -> pl.DataFrame:
    policy = load_policy(policy_id)
    missing = {c: pl.lit(None, dtype=t) for c, t in PAYMENT_COLUMNS.items() if c not in frame.columns}
    frame = frame.with_columns(**missing).with_columns(
        pl.col(c).cast(t, strict=False) for c, t in PAYMENT_COLUMNS.items()
    )
    quoted = quote_frame(policy, frame.with_row_index("payment_row"), id_check_day(policy, today))
    return quoted.rename({"error_field": "quote_error_field", "error": "quote_error"}).with_columns(
        mask_id_numbers(pl.col("id_number")).alias("masked_id")
    )


def _quote_rules(o: _Outcomes) -> None:
    o.refuse(pl.col("quote_error").is_not_null(), pl.col("quote_error_field"), pl.col("quote_error"))


# Texts stored in columns of bounded length (tables.py); a longer one is the row's refusal, not a database error.
TEXT_LIMITS: dict[str, tuple[str, str, int]] = {
    "txn_id": ("txn_id", "交易流水号", 64),
    "channel_name": ("channel_name", "缴费渠道名称", 40),
    "collecting_unit": ("collecting_unit", "代收单位", 64),
    "township": ("township", "乡镇", 64),
    "village": ("village", "村（社区）", 64),
    "phone": ("phone", "联系电话", 20),
    "name": ("person.name", "姓名", 64),
}


def _length_rules(o: _Outcomes) -> None:
    """The first over-long text of a row is its refusal (one pass over the frame for every limit)."""
    checks = [
        (pl.col(column).str.len_chars() > limit, field, f"{label}超过{limit}个字符")
        for column, (field, label, limit) in TEXT_LIMITS.items()
    ]
    o.refuse(
        pl.any_horizontal(c for c, _, _ in checks),
        first_match([(c, pl.lit(f)) for c, f, _ in checks]),
        first_match([(c, pl.lit(r)) for c, _, r in checks]),
    )


def _payment_rules(o: _Outcomes, policy: Policy) -> None:
    o.refuse(
        ~pl.col("eligible"),
        "person",
        pl.format("{} 不符合参保条件：{}", pl.col("masked_id"), pl.col("reasons").list.join("；")),
    )
    allowed = policy.collection.channels
    choices = "、".join(f"{c}（{CHANNEL_LABELS[c]}）" for c in allowed)
    o.refuse(
        pl.col("channel").is_null() | ~pl.col("channel").is_in(list(CHANNELS)),
        "channel",
        pl.format("未知的缴费渠道 {}（可选：{}）", pl.col("channel"), pl.lit(choices)),
    )
    o.refuse(
        ~pl.col("channel").is_in(list(allowed)),
        "channel",
        pl.format(
            "本政策（{}）不经由“{}”征收（{}；可选：{}）",
            pl.lit(policy.policy),
            pl.col("channel").replace_strict(CHANNEL_LABELS, default=pl.col("channel")),
            pl.lit(policy.collection.clause),
            pl.lit(choices),
        ),
    )
    o.refuse(pl.col("txn_id").is_null(), "txn_id", pl.lit("缺少交易流水号"))
    o.refuse(pl.col("amount_fen").is_null(), "amount", pl.lit("缺少缴费金额，或金额不是以分计的整数"))
    o.refuse(
        pl.col("amount_fen") != pl.col("amount_due_fen"),
        "amount",
        pl.format(
            "{} 应缴 {} 元，本次缴费 {} 元，金额不符，未入账",
            pl.col("masked_id"),
            yuan_text(pl.col("amount_due_fen")),
            yuan_text(pl.col("amount_fen")),
        ),
    )


def _replays(c: Connection, o: _Outcomes) -> None:
    """Transactions already in the ledger: the same person's is a replay, another person's a refusal."""
    txns = o.frame.filter(pl.col("txn_id").is_not_null())["txn_id"].unique().to_list()
    found = _fetch_in(
        c,
        lambda chunk: (
            select(
                ledger_entries.c.channel,
                ledger_entries.c.channel_txn_id.label("txn_id"),
                ledger_entries.c.enrollment_id.label("earlier_enrollment"),
                ledger_entries.c.person_id.label("earlier_person"),
                persons.c.id_number.label("earlier_id_number"),
                ledger_entries.c.amount_fen.label("earlier_amount"),
                enrollments.c.benefit_start.label("earlier_start"),
                enrollments.c.benefit_end.label("earlier_end"),
            )
            .join(persons, persons.c.id == ledger_entries.c.person_id)
            .join(enrollments, enrollments.c.id == ledger_entries.c.enrollment_id)
            .where(one_of(c, ledger_entries.c.channel_txn_id, chunk, String()))
        ),
        txns,
    )
    if not found:
        return
    earlier = pl.DataFrame(
        found,
        schema_overrides={"earlier_enrollment": pl.Int64, "earlier_person": pl.Int64, "earlier_amount": pl.Int64},
    )
    f = o.frame.join(earlier, on=["channel", "txn_id"], how="left", maintain_order="left")
    same = pl.col("earlier_id_number") == pl.col("id_number")
    replay = pl.col("outcome").is_null() & same.fill_null(False)
    o.frame = f.with_columns(
        pl.when(replay).then(pl.lit("replayed")).otherwise(pl.col("outcome")).alias("outcome"),
        pl.when(replay).then(pl.col("earlier_enrollment")).otherwise(pl.col("enrollment_id")).alias("enrollment_id"),
        pl.when(replay).then(pl.col("earlier_person")).otherwise(pl.col("person_id")).alias("person_id"),
        pl.when(replay).then(pl.col("earlier_amount")).otherwise(pl.col("amount_fen")).alias("amount_fen"),
        pl.when(replay).then(pl.col("earlier_start")).otherwise(pl.col("benefit_start")).alias("benefit_start"),
        pl.when(replay).then(pl.col("earlier_end")).otherwise(pl.col("benefit_end")).alias("benefit_end"),
    )
    o.refuse(
        pl.col("earlier_id_number").is_not_null() & ~same,
        "txn_id",
        pl.format("交易流水号 {} 已用于另一人的缴费，不能再用于 {}", pl.col("txn_id"), pl.col("masked_id")),
    )
    o.frame = o.frame.drop(
        "earlier_enrollment", "earlier_person", "earlier_id_number", "earlier_amount", "earlier_start", "earlier_end"
    )


def _in_file_duplicates(o: _Outcomes) -> pl.DataFrame:
    """Later rows repeating a transaction of this file are set aside and answered like its first row."""
    first = pl.col("payment_row").min().over(["channel", "txn_id"])
    is_repeat = pl.col("txn_id").is_not_null() & (pl.col("payment_row") != first)
    repeats = o.frame.with_columns(first.alias("first_row")).filter(is_repeat & pl.col("outcome").is_null())
    o.frame = o.frame.with_columns(
        pl.when(is_repeat & pl.col("outcome").is_null()).then(pl.lit("repeat")).otherwise(pl.col("outcome"))
        .alias("outcome")
    )  # fmt: skip
    return repeats.select("payment_row", "first_row", "id_number")


def _person_query(c: Connection, id_numbers: list[Any]) -> Select[Any]:
    return select(
        persons.c.id_number,
        persons.c.id.label("known_person"),
        persons.c.name.label("known_name"),
        persons.c.township.is_(None).label("placeless"),
    ).where(one_of(c, persons.c.id_number, id_numbers, String()))


def _persons(c: Connection, o: _Outcomes, locked: list[dict[str, Any]] | None = None) -> None:
    """Registered persons by ID number (those `locked` at the start of the transaction, on PostgreSQL); a name
    that disagrees is refused."""
    pending = o.pending()["id_number"].unique().to_list()
    if locked is None:
        found = _fetch_in(c, lambda chunk: _person_query(c, chunk), pending)
    else:
        wanted = set(pending)
        found = [r for r in locked if r["id_number"] in wanted]
    known = pl.DataFrame(
        found,
        schema={"id_number": pl.String, "known_person": pl.Int64, "known_name": pl.String, "placeless": pl.Boolean},
    )
    o.frame = o.frame.join(known, on="id_number", how="left", maintain_order="left").with_columns(
        pl.coalesce("person_id", "known_person").alias("person_id")
    )
    o.refuse(
        pl.col("known_name").is_not_null() & pl.col("name").is_not_null() & (pl.col("name") != pl.col("known_name")),
        "person.name",
        pl.format("姓名“{}”与身份证号码 {} 的登记姓名不一致", pl.col("name"), pl.col("masked_id")),
    )
    o.refuse(
        pl.col("known_person").is_null() & pl.col("name").is_null(),
        "person.name",
        pl.format("新登记人员 {} 须填写姓名", pl.col("masked_id")),
    )
    o.frame = o.frame.drop("known_person", "known_name")


def _place_the_placeless(c: Connection, o: _Outcomes) -> None:
    """A person registered without a township (a school roster names only the school) takes the township and
    village of their first payment that names them, so that progress counts them where they live."""
    placed = (
        o.frame.filter(
            (pl.col("outcome") == "enrolled") & pl.col("placeless").fill_null(False) & pl.col("township").is_not_null()
        )
        .unique("person_id", keep="first", maintain_order=True)
        .select("township", "village", "person_id")
    )
    if placed.height:
        c.execute(
            update(persons)
            .where(persons.c.id == bindparam("pid"), persons.c.township.is_(None))
            .values(township=bindparam("town"), village=bindparam("vil")),
            [{"town": t, "vil": v, "pid": p} for t, v, p in placed.iter_rows()],
        )


def _one_enrollment_per_year(c: Connection, o: _Outcomes, benefit_year: int) -> None:
    """At most one live enrollment per person and year: against the registry, then within the file."""
    found = _fetch_in(
        c,
        lambda chunk: select(
            enrollments.c.person_id,
            enrollments.c.id.label("live_id"),
            enrollments.c.paid_on.label("live_paid_on"),
            enrollments.c.channel.label("live_channel"),
            enrollments.c.collecting_unit.label("live_unit"),
        ).where(
            one_of(c, enrollments.c.person_id, chunk, BigInteger()),
            enrollments.c.benefit_year == benefit_year,
            enrollments.c.live,
        ),
        o.pending()["person_id"].drop_nulls().unique().to_list(),
    )
    schema = {"person_id": pl.Int64, "live_id": pl.Int64, "live_paid_on": pl.Date, "live_channel": pl.String,
              "live_unit": pl.String}  # fmt: skip
    live = pl.DataFrame(found, schema=schema)
    o.frame = o.frame.join(live, on="person_id", how="left", maintain_order="left")
    where = pl.coalesce(
        "live_unit", pl.col("live_channel").replace_strict(CHANNEL_LABELS, default=pl.col("live_channel"))
    )
    o.refuse(
        pl.col("live_id").is_not_null(),
        "person",
        pl.format(
            "{} 已参加 {} 年度居民医保（{}，{} 缴费（参保记录 {}）），不能重复参保",
            pl.col("masked_id"), pl.lit(benefit_year), where, pl.col("live_paid_on").dt.to_string("%Y-%m-%d"),
            pl.col("live_id"),
        ),
    )  # fmt: skip
    o.frame = o.frame.drop("live_id", "live_paid_on", "live_channel", "live_unit")
    pending = pl.col("outcome").is_null()
    first_row = pl.col("payment_row").filter(pending).min().over("id_number")
    o.refuse(
        pending & (pl.col("payment_row") != first_row),
        "person",
        pl.format(
            "{} 已在本批第 {} 行缴费参加 {} 年度居民医保，不能重复参保",
            pl.col("masked_id"), first_row + 1, pl.lit(benefit_year),
        ),
    )  # fmt: skip


def _write(c: Connection, o: _Outcomes, policy_id: str, actor: str) -> None:
    """Register new persons, then insert enrollments and ledger entries for every row still pending — in bulk
    (store.bulk: COPY on PostgreSQL), with their ids drawn first so that the rows can refer to each other."""
    recorded = now()
    new = o.pending().filter(pl.col("person_id").is_null()).unique("id_number", keep="first", maintain_order=True)
    if new.height:
        registered = new.select(
            allocate_ids(c, persons, new.height).alias("id"),
            "id_number", "name", "sex", "birth_date", "county", "township", "village", "residency", "phone",
            pl.lit(recorded).alias("created_at"),
        )  # fmt: skip
        bulk_insert(c, persons, registered)
        o.frame = (
            o.frame.join(
                registered.select("id_number", pl.col("id").alias("new_person")),
                on="id_number",
                how="left",
                maintain_order="left",
            )
            .with_columns(pl.coalesce("person_id", "new_person").alias("person_id"))
            .drop("new_person")
        )
    todo = o.pending()
    if todo.height == 0:
        return
    enrollment_rows = todo.select(
        allocate_ids(c, enrollments, todo.height).alias("id"),
        "person_id",
        pl.lit(policy_id).alias("policy"),
        "benefit_year", "situation",
        pl.lit("active").alias("status"),
        pl.lit(True).alias("live"),
        "paid_on", "benefit_start", "benefit_end", "waiting_months",
        pl.col("rule").cast(pl.String),
        "personal_standard_fen", "amount_due_fen", "net_personal_fen",
        "subsidy_category", "subsidy_kind", "subsidy_timing", "subsidy_fen",
        "fiscal_central_fen", "fiscal_province_fen", "fiscal_city_fen", "fiscal_county_fen", "fiscal_total_fen",
        "channel", "channel_name", "collecting_unit",
        pl.lit(recorded).alias("created_at"),
    )  # fmt: skip
    bulk_insert(c, enrollments, enrollment_rows)
    o.frame = o.frame.join(
        todo.select("payment_row").with_columns(enrollment_rows["id"].alias("new_enrollment")),
        on="payment_row",
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.coalesce("enrollment_id", "new_enrollment").alias("enrollment_id"),
        pl.when(pl.col("new_enrollment").is_not_null()).then(pl.lit("enrolled")).otherwise(pl.col("outcome"))
        .alias("outcome"),
    ).drop("new_enrollment")  # fmt: skip
    written = o.frame.filter(pl.col("outcome") == "enrolled")
    base: list[pl.Expr | str] = [
        pl.col("enrollment_id"), pl.col("person_id"), "channel", "channel_name", "collecting_unit",
        pl.lit(recorded).alias("recorded_at"), pl.lit(actor).alias("actor"),
    ]  # fmt: skip
    payments = written.select(
        *base,
        pl.lit("payment").alias("kind"),
        pl.col("amount_fen"),
        pl.col("txn_id").alias("channel_txn_id"),
        pl.lit(None, dtype=pl.String).alias("note"),
        "out_trade_no",
    )
    upfront = written.filter(pl.col("subsidy_timing") == "upfront").select(
        *base,
        pl.lit("assistance_subsidy").alias("kind"),
        pl.col("subsidy_fen").alias("amount_fen"),
        pl.lit(None, dtype=pl.String).alias("channel_txn_id"),
        pl.format("{}:{}", "subsidy_kind", "subsidy_category").alias("note"),
        "out_trade_no",
    )
    bulk_insert(c, ledger_entries, pl.concat([payments, upfront]))


def apply_payments(
    engine: Engine,
    policy_id: str,
    frame: pl.DataFrame,
    actor: str,
    today: dt.date | None = None,
    audit_batch: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Apply a frame of payments; returns one result row per input row (RESULT_COLUMNS), in input order.

    The whole frame is quoted first (pure), then applied in chunks of about CHUNK_ROWS rows (per database),
    each in its own transaction, so that a single payment waits at most one chunk behind a day's file.  Rows
    judged together (the same ID number, or the same channel transaction) always share a chunk, so every row
    gets the answer the whole file would have given it.  `on_chunk(rows applied so far)` is called after each
    chunk commits.
    `audit_batch` writes one audit line for the batch (a single payment writes its own instead)."""
    benefit_year = load_policy(policy_id).benefit_year
    prepared = _prepare(policy_id, frame, today)
    size = CHUNK_ROWS.get(engine.dialect.name, CHUNK_ROWS["postgresql"])
    chunks = prepared.with_columns(_chunk_of(prepared, size)).partition_by(
        "_chunk", maintain_order=True, include_key=False
    )
    chunks = chunks or [prepared]  # an empty frame still answers with its (empty) result
    results: list[pl.DataFrame] = []
    held = 0.0  # seconds this file has held SQLite's write lock since it last stepped aside
    try:
        for number, chunk in enumerate(chunks):
            if held >= SQLITE_HOLD_S and engine.dialect.name == "sqlite":
                time.sleep(SQLITE_PAUSE_S)  # let a waiting writer in: SQLite's busy handler polls, it does not queue
                held = 0.0
            started = time.perf_counter()
            results.append(_apply_chunk(engine, policy_id, benefit_year, chunk, actor, refresh=number == 0))
            held += time.perf_counter() - started
            if on_chunk is not None:
                on_chunk(sum(r.height for r in results))
    except CanbaoError as exc:
        if audit_batch:
            done = sum(r.height for r in results)
            audit(engine, actor, "apply_payments", f"{frame.height} rows", "failed", f"{done} 行已入账后中止：{exc}")
        raise
    result = pl.concat(results, how="vertical_relaxed").sort("payment_row")
    if audit_batch:
        counts = dict(result["outcome"].value_counts().sort("outcome").rows())
        audit(engine, actor, "apply_payments", f"{frame.height} rows", "done", str(counts))
    return result.select(RESULT_COLUMNS)


def _chunk_of(prepared: pl.DataFrame, size: int) -> pl.Series:
    """Each row's chunk: rows linked by an ID number or a channel transaction form a group (labelled with
    its first row, by propagating the smallest row number over both keys until stable), and whole groups
    are packed into chunks of about `size` rows in the order of their first rows."""
    if prepared.height <= size:  # one chunk holds them all: nothing to group
        return pl.Series("_chunk", [0] * prepared.height, dtype=pl.Int64)
    txn = pl.when(pl.col("txn_id").is_not_null()).then(
        pl.concat_str([pl.col("channel").fill_null(""), pl.col("txn_id")], separator="\x1f")
    )
    keys = prepared.select("payment_row", "id_number", txn.alias("txn"))
    label = keys["payment_row"]
    while True:
        linked = keys.with_columns(label=label).with_columns(
            pl.when(pl.col("id_number").is_null()).then("label").otherwise(pl.col("label").min().over("id_number"))
        ).with_columns(
            pl.when(pl.col("txn").is_null()).then("label").otherwise(pl.col("label").min().over("txn"))
        )["label"]  # fmt: skip
        if linked.equals(label):
            break
        label = linked
    groups = (
        pl.DataFrame({"label": label}).group_by("label").len().sort("label")
        .with_columns(_chunk=((pl.col("len").cum_sum() - pl.col("len")) // size))
    )  # fmt: skip
    return pl.DataFrame({"label": label}).join(groups, on="label", how="left", maintain_order="left")["_chunk"]


def _apply_chunk(
    engine: Engine, policy_id: str, benefit_year: int, chunk: pl.DataFrame, actor: str, refresh: bool
) -> pl.DataFrame:
    """One chunk in one transaction (`refresh`: first bring the planner's statistics up to date, once per file
    as before chunking: not again after every chunk of a file into a small registry).

    A concurrent writer may win a race the checks cannot see (a new person, a transaction id, a live
    enrollment: the unique indexes refuse the loser) or deadlock with this one on them: the chunk is then
    judged again, answering as the second comer."""
    for attempt in range(1, RETRIES + 1):
        o = _Outcomes(chunk)
        _quote_rules(o)
        _length_rules(o)
        try:
            with UnitOfWork(engine, actor) as uow:
                c = uow.connection
                locked = None
                if c.dialect.name == "postgresql":
                    if refresh:
                        refresh_statistics(c, "persons", "enrollments", "ledger_entries")
                    locked = _lock_persons(c, o)
                _replays(c, o)
                _payment_rules(o, load_policy(policy_id))
                repeats = _in_file_duplicates(o)
                _persons(c, o, locked)
                _one_enrollment_per_year(c, o, benefit_year)
                _write(c, o, policy_id, actor)
                _place_the_placeless(c, o)
                uow.commit()
        except Exception as exc:
            if not _lost_race(exc):
                raise
            if attempt == RETRIES:
                raise DatabaseBusy(BUSY) from exc
            continue
        return _answer_repeats(o.frame, repeats).select(RESULT_COLUMNS)
    raise AssertionError("unreachable")


def _lost_race(exc: BaseException) -> bool:
    """A unique index refused a row, or PostgreSQL broke a deadlock: from SQLAlchemy, or from the driver's
    own cursor (store.bulk's COPY and executemany).  Other integrity errors are faults, not races."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.IntegrityError):  # a unique index, or the ledger's guard (migration 0010)
        return "UNIQUE constraint failed" in str(orig) or "append-only" in str(orig)
    return getattr(orig, "sqlstate", None) in RETRY_SQLSTATES


def _lock_persons(c: Connection, o: _Outcomes) -> list[dict[str, Any]]:
    """PostgreSQL: lock the chunk's registered persons (in id order, as every locker does, so that lockers
    never deadlock on them) before any check reads their enrollments and money, and return them.  The chunk
    takes only these for registered: a person registered by a concurrent writer after this is new to it,
    and the unique index on ID numbers refuses it (the chunk is then judged again).  Writers of other persons
    go on beside the file."""
    ids = o.frame["id_number"].drop_nulls().unique().to_list()
    return _fetch_in(c, lambda chunk: _person_query(c, chunk).order_by(persons.c.id).with_for_update(), ids)


def _answer_repeats(frame: pl.DataFrame, repeats: pl.DataFrame) -> pl.DataFrame:
    """A repeated transaction in the file is answered as its first row was: a replay of it, or its refusal."""
    if repeats.height == 0:
        return frame
    first = frame.select(
        pl.col("payment_row").alias("first_row"),
        pl.col("id_number").alias("first_id"),
        pl.col("outcome").alias("first_outcome"),
        pl.col("error_field").alias("first_field"),
        pl.col("reason").alias("first_reason"),
        pl.col("enrollment_id").alias("first_enrollment"),
        pl.col("person_id").alias("first_person"),
    )
    answers = repeats.join(first, on="first_row", how="left").with_columns(
        same=pl.col("first_id") == pl.col("id_number"),
        ok=pl.col("first_outcome").is_in(["enrolled", "replayed"]),
    )
    answers = answers.select(
        "payment_row",
        pl.when(pl.col("same") & pl.col("ok")).then(pl.lit("replayed")).otherwise(pl.lit("refused"))
        .alias("rep_outcome"),
        pl.when(pl.col("same")).then(pl.col("first_field")).otherwise(pl.lit("txn_id")).alias("rep_field"),
        pl.when(~pl.col("same"))
        .then(pl.format("交易流水号已在本批第 {} 行用于另一人", pl.col("first_row") + 1))
        .otherwise(pl.col("first_reason"))
        .alias("rep_reason"),
        pl.when(pl.col("same") & pl.col("ok")).then(pl.col("first_enrollment")).alias("rep_enrollment"),
        pl.when(pl.col("same") & pl.col("ok")).then(pl.col("first_person")).alias("rep_person"),
    )  # fmt: skip
    joined = frame.join(answers, on="payment_row", how="left", maintain_order="left")
    is_rep = pl.col("rep_outcome").is_not_null()
    return joined.with_columns(
        pl.when(is_rep).then(pl.col("rep_outcome")).otherwise(pl.col("outcome")).alias("outcome"),
        pl.when(is_rep).then(pl.col("rep_field")).otherwise(pl.col("error_field")).alias("error_field"),
        pl.when(is_rep).then(pl.col("rep_reason")).otherwise(pl.col("reason")).alias("reason"),
        pl.when(is_rep).then(pl.col("rep_enrollment")).otherwise(pl.col("enrollment_id")).alias("enrollment_id"),
        pl.when(is_rep).then(pl.col("rep_person")).otherwise(pl.col("person_id")).alias("person_id"),
    )
