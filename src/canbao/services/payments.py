"""Enroll and pay, refund, suspend and terminate, county subsidy refunds (先缴后补).

Every enrollment's amounts and benefit dates come from the rules engine's quote, stored as quoted.  Money
is appended to the ledger, never updated: a payment, the assistance subsidy deducted upfront, a refund, a
county subsidy paid back; a correction is a new entry with the opposite sign.

Concurrency: the database holds the rules that must never break — one live enrollment per person and
benefit year, one ledger entry per channel transaction id, one refund, one county subsidy paid back and one
reversal of the upfront assistance per enrollment (partial unique indexes).  A use case that reads a person's
state before writing takes the person's row lock first on PostgreSQL (SQLite serializes writers at BEGIN
IMMEDIATE) and ends an enrollment only if it is still live; should a unique index refuse it all the same,
it runs again and answers as if it had come second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import polars as pl
from sqlalchemy import BigInteger, ColumnElement, Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.money import to_fen, to_yuan, yuan_text
from canbao.outputs import write_csv
from canbao.policy import load_policy
from canbao.quote import application_row
from canbao.reports.xlsx import NumberKind, write_workbook
from canbao.rules.columns import input_frame
from canbao.rules.refund import refund_frame
from canbao.services.payment_batch import apply_payments
from canbao.services.registry import find_person
from canbao.store.tables import enrollments, ledger_entries, persons
from canbao.store.uow import UnitOfWork, audit, now
from canbao.vocabulary import CATEGORY_LABELS, END_REASON_LABELS, END_REASONS, ENROLLMENT_STATUS_LABELS

_T = TypeVar("_T")


@dataclass(frozen=True)
class Payment:
    """A payment notification from a channel (or a collecting unit's entry)."""

    policy_id: str
    application: dict[str, Any]  # the quote contract's input: person, situation, paid_on
    channel: str
    txn_id: str
    amount: Decimal  # yuan, as the channel reports it
    channel_name: str | None = None  # 微信, 支付宝, 皖事通 ... for online payments
    collecting_unit: str | None = None
    township: str | None = None
    village: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class PaymentResult:
    enrollment_id: int
    person_id: int
    amount_fen: int
    benefit_start: dt.date
    benefit_end: dt.date
    replayed: bool  # the same transaction id was already recorded: this is its first result


def _live_enrollment(connection: Connection, person_id: int, benefit_year: int) -> Any:
    return connection.execute(
        select(enrollments).where(
            enrollments.c.person_id == person_id, enrollments.c.benefit_year == benefit_year, enrollments.c.live
        )
    ).first()


def pay(engine: Engine, payment: Payment, actor: str) -> PaymentResult:
    """Enroll a person and record their payment: a frame of one through `apply_payments`.

    Idempotent on (channel, transaction id); a refusal raises InputError naming the field and the rule."""
    row = _application_row(payment)
    try:
        # apply_payments judges again a payment that lost a race to a concurrent writer (a unique index)
        result = apply_payments(engine, payment.policy_id, row, actor, audit_batch=False).row(0, named=True)
        if result["outcome"] == "refused":
            raise InputError(result["error_field"], result["reason"])
    except InputError as refusal:
        audit(engine, actor, "pay", _masked(payment), "refused", str(refusal))
        raise
    outcome = "replayed" if result["outcome"] == "replayed" else "done"
    audit(engine, actor, "pay", _masked(payment), outcome, f"{payment.channel}:{payment.txn_id} {payment.amount}")
    return PaymentResult(
        result["enrollment_id"], result["person_id"], result["amount_fen"], result["benefit_start"],
        result["benefit_end"], result["outcome"] == "replayed",
    )  # fmt: skip


def _masked(payment: Payment) -> str:
    person = payment.application.get("person")
    return mask_id_number(str(person.get("id_number"))) if isinstance(person, dict) else "?"


def _application_row(payment: Payment) -> pl.DataFrame:
    """The payment as a frame of one, its shape and types checked as a quote's are."""
    row = application_row(payment.application)
    row.update(
        channel=payment.channel,
        channel_name=payment.channel_name,
        txn_id=payment.txn_id,
        amount_fen=to_fen(payment.amount),
        collecting_unit=payment.collecting_unit,
        township=payment.township,
        village=payment.village,
        phone=payment.phone,
    )
    return input_frame([row])


# --- refunds, suspension, termination -------------------------------------------------------------------


@dataclass(frozen=True)
class RefundResult:
    enrollment_id: int
    refundable: bool
    amount_fen: int
    why: str


def _no_live(id_number: str, benefit_year: int) -> InputError:
    return InputError("benefit_year", f"{mask_id_number(id_number)} 没有 {benefit_year} 年度的有效参保记录")


def _find_live(c: Connection, id_number: str, benefit_year: int) -> Any:
    """The person's live enrollment for the year, read under the person's row lock on PostgreSQL: every writer
    of a person's enrollments and money (payments and payment files too) takes it first, so concurrent ones
    queue and each reads what the one before committed.  SQLite serializes writers at BEGIN IMMEDIATE."""
    person = find_person(c, id_number)
    if person is None:
        raise InputError("id_number", f"没有身份证号码为 {mask_id_number(id_number)} 的参保人")
    if c.dialect.name == "postgresql":
        c.execute(select(persons.c.id).where(persons.c.id == person["id"]).with_for_update())
    row = _live_enrollment(c, person["id"], benefit_year)
    if row is None:
        raise _no_live(id_number, benefit_year)
    return row


def _second_comer(run: Callable[[], _T]) -> _T:
    """Run a use case; should a unique index refuse it all the same (a writer that took no lock won the race),
    run it once more: it then answers as the second comer, never with the database's error."""
    try:
        return run()
    except IntegrityError:
        return run()


def _county_subsidy_paid_back(c: Connection, enrollment_id: int) -> int:
    rows = c.execute(
        select(ledger_entries.c.amount_fen).where(
            ledger_entries.c.enrollment_id == enrollment_id, ledger_entries.c.kind == "county_subsidy_refund"
        )
    ).scalars()
    return sum(rows)


def refund_decision(row: Any, reason: str, requested_on: dt.date, paid_back: bool, id_number: str) -> dict[str, Any]:
    """The rules engine's refund decision for a stored enrollment `row` (its quoted amounts and dates): a
    frame of one through canbao.rules.refund.  `paid_back`: its county subsidy was already paid back."""
    frame = pl.DataFrame(
        {
            "error": [None],
            "eligible": [True],
            "reasons": [[]],
            "paid_on": [row.paid_on],
            "benefit_start": [row.benefit_start],
            "amount_due_fen": [row.amount_due_fen],
            "subsidy_timing": [row.subsidy_timing],
            "subsidy_fen": [row.subsidy_fen],
            "reason": [reason],
            "requested_on": [requested_on],
            "county_subsidy_refunded": [paid_back],
            "policy": [row.policy],
            "id_number": [id_number],
        },
        schema_overrides={"error": pl.String, "reasons": pl.List(pl.String), "subsidy_timing": pl.String},
    )
    decided: dict[str, Any] = refund_frame(load_policy(row.policy), frame).row(0, named=True)
    return decided


def refund(
    engine: Engine, id_number: str, benefit_year: int, reason: str, requested_on: dt.date, actor: str
) -> RefundResult:
    """Refund per the policy (the rules engine decides); the enrollment ends and a refund entry is appended.

    When the policy refuses (the benefit period has begun), nothing changes and the answer says why.
    """
    masked = mask_id_number(id_number)

    def once() -> RefundResult:
        with UnitOfWork(engine, actor) as uow:
            c = uow.connection
            row = _find_live(c, id_number, benefit_year)
            paid_back = _county_subsidy_paid_back(c, row.id)
            decided = refund_decision(row, reason, requested_on, paid_back > 0, id_number)
            if decided["refund_error"] is not None:
                raise InputError(decided["refund_error_field"], decided["refund_error"])
            result = RefundResult(row.id, decided["refundable"], decided["refund_fen"], decided["refund_why"])
            if result.refundable:
                _end(c, row.id, "refunded", requested_on, reason, id_number, benefit_year)
                entry = {"enrollment_id": row.id, "person_id": row.person_id, "recorded_at": now(), "actor": actor}
                c.execute(
                    insert(ledger_entries).values(**entry, kind="refund", amount_fen=result.amount_fen, note=reason)
                )
                if row.subsidy_timing == "upfront" and row.subsidy_fen:
                    # The assistance deducted upfront goes back to its fund: a correcting entry.
                    c.execute(
                        insert(ledger_entries).values(
                            **entry, kind="assistance_subsidy", amount_fen=-row.subsidy_fen, note=f"退费冲回:{reason}"
                        )
                    )
                uow.commit()
            return result

    try:
        result = _second_comer(once)
    except InputError as refusal:
        audit(engine, actor, "refund", masked, "refused", str(refusal))
        raise
    audit(engine, actor, "refund", masked, "done" if result.refundable else "refused", result.why)
    return result


def _end(
    c: Connection, enrollment_id: int, status: str, on: dt.date, reason: str, id_number: str, benefit_year: int
) -> None:
    """End (or suspend) the enrollment if it is still live: a conditional update, so that of two callers that
    both found it live only the first changes it and the second is refused as if it had come after."""
    done = c.execute(
        update(enrollments)
        .where(enrollments.c.id == enrollment_id, enrollments.c.live)
        .values(status=status, live=status == "suspended", ended_on=on, end_reason=reason)
    )
    if done.rowcount != 1:
        raise _no_live(id_number, benefit_year)


def end_enrollment(
    engine: Engine,
    id_number: str,
    benefit_year: int,
    status: Literal["suspended", "terminated"],
    reason: str,
    on: dt.date,
    actor: str,
) -> int:
    """Suspend (暂停: the enrollment stays the person's one for the year) or terminate (终止) it, keeping
    the reason.  No money moves: a refund is its own use case."""
    if reason not in END_REASONS:
        choices = "、".join(f"{r}（{END_REASON_LABELS[r]}）" for r in END_REASONS)
        raise InputError("reason", f"未知的原因 {reason}（可选：{choices}）")
    masked = mask_id_number(id_number)

    def once() -> int:
        with UnitOfWork(engine, actor) as uow:
            row = _find_live(uow.connection, id_number, benefit_year)
            _end(uow.connection, row.id, status, on, reason, id_number, benefit_year)
            uow.commit()
            return int(row.id)

    try:
        enrollment_id = _second_comer(once)
    except InputError as refusal:
        audit(engine, actor, status, masked, "refused", str(refusal))
        raise
    audit(engine, actor, status, masked, "done", reason)
    return enrollment_id


# --- county subsidy refunds (先缴后补, 004 二(三)) ------------------------------------------------------


def county_subsidy_owed() -> pl.Expr:
    """The one definition of a county subsidy still owed back (先缴后补, 004 二(三)), over the columns
    `status`, `subsidy_timing`, `subsidy_fen` and `paid_back_fen` (the enrollment's county_subsidy_refund
    entries summed, corrections included): an active enrollment paid in full first, with a county subsidy,
    that nothing has yet been paid back for.  Used by the township's list (county_subsidy_refunds_owed), by
    the recording of a refund and by the fund accounting (canbao.services.funds)."""
    return (
        (pl.col("status") == "active")
        & (pl.col("subsidy_timing") == "refund_after_payment")
        & (pl.col("subsidy_fen").fill_null(0) > 0)
        & (pl.col("paid_back_fen").fill_null(0) == 0)
    )


def _is_owed(status: str, subsidy_timing: str | None, subsidy_fen: int | None, paid_back_fen: int) -> bool:
    one = pl.DataFrame(
        {"status": [status], "subsidy_timing": [subsidy_timing], "subsidy_fen": [subsidy_fen],
         "paid_back_fen": [paid_back_fen]},
        schema={"status": pl.String, "subsidy_timing": pl.String, "subsidy_fen": pl.Int64, "paid_back_fen": pl.Int64},
    )  # fmt: skip
    return bool(one.select(county_subsidy_owed()).item())


_OWED_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int64(),
    "township": pl.String(),
    "village": pl.String(),
    "name": pl.String(),
    "id_number": pl.String(),
    "enrollment_id": pl.Int64(),
    "subsidy_category": pl.String(),
    "subsidy_fen": pl.Int64(),
}


def county_subsidy_refunds_owed(
    engine: Engine, benefit_year: int, township: str | None = None, area: ColumnElement[bool] | None = None
) -> pl.DataFrame:
    """Who is owed a county subsidy back (:func:`county_subsidy_owed`), per township and village; `area`: only
    the persons it holds (a condition over `persons`, canbao.services.access.person_in_area)."""
    le, e, p = ledger_entries.c, enrollments.c, persons.c
    paid_back = (
        select(le.enrollment_id, func.sum(le.amount_fen).cast(BigInteger).label("paid_back_fen"))
        .where(le.kind == "county_subsidy_refund")
        .group_by(le.enrollment_id)
        .subquery("paid_back")
    )
    query = (
        select(
            p.id.label("person_id"), p.township, p.village, p.name, p.id_number, e.id.label("enrollment_id"),
            e.subsidy_category, e.subsidy_fen, e.status, e.subsidy_timing,
            func.coalesce(paid_back.c.paid_back_fen, 0).label("paid_back_fen"),
        )
        .join(persons, p.id == e.person_id)
        .outerjoin(paid_back, paid_back.c.enrollment_id == e.id)
        .where(e.benefit_year == benefit_year, e.status == "active", e.subsidy_timing == "refund_after_payment")
        .order_by(p.township, p.village, e.id)
    )  # fmt: skip
    if township is not None:
        query = query.where(p.township == township)
    if area is not None:
        query = query.where(area)
    with engine.connect() as c:
        rows = c.execute(query).all()
    schema = {**_OWED_SCHEMA, "status": pl.String(), "subsidy_timing": pl.String(), "paid_back_fen": pl.Int64()}
    frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    return frame.filter(county_subsidy_owed()).select(list(_OWED_SCHEMA))


COUNTY_SUBSIDY_NUMBERS: dict[str, NumberKind] = {"应退补金额（元）": "fen", "参保记录号": "count"}


def county_subsidy_sheet(owed: pl.DataFrame) -> pl.DataFrame:
    """The townships' list of county subsidies owed back (county_subsidy_refunds_owed) in Chinese; amounts
    stay fen, written as yuan numbers (COUNTY_SUBSIDY_NUMBERS)."""
    return owed.select(
        pl.col("township").fill_null("（未填乡镇）").alias("乡镇"),
        pl.col("village").alias("村（社区）"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        pl.col("subsidy_category")
        .replace_strict(CATEGORY_LABELS, default=pl.col("subsidy_category"))
        .alias("补贴身份"),
        pl.col("subsidy_fen").alias("应退补金额（元）"),
        pl.col("enrollment_id").alias("参保记录号"),
    )


def county_subsidy_output_refusal(path: Path) -> str | None:
    """Why the townships' list cannot be written at `path` (only .xlsx and .csv), or None."""
    if path.suffix.lower() in (".xlsx", ".csv"):
        return None
    return f"退补清单只能写为 .xlsx 或 .csv 文件，而不是“{path.name}”"


def write_county_subsidy_refunds(owed: pl.DataFrame, path: Path) -> Path:
    """The list as `.xlsx` (numbers as numbers) or `.csv` (yuan as text, 400.00); any other suffix is refused."""
    sheet = county_subsidy_sheet(owed)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return write_workbook(path, {"先缴后补退补清单": sheet}, numbers=COUNTY_SUBSIDY_NUMBERS)
    if suffix == ".csv":
        as_text = sheet.with_columns(yuan_text(pl.col("应退补金额（元）")).alias("应退补金额（元）"))
        return write_csv(as_text, path, include_bom=True)  # a BOM: Excel opens UTF-8 CSV as such only with one
    raise InputError("output", county_subsidy_output_refusal(path) or "")


def record_county_subsidy_refund(engine: Engine, id_number: str, benefit_year: int, township: str, actor: str) -> int:
    """The township paid the person their county subsidy back: append it once (a second call is refused;
    concurrent ones queue on the person's row, and a unique index stands behind)."""
    masked = mask_id_number(id_number)

    def once() -> int:
        with UnitOfWork(engine, actor) as uow:
            c = uow.connection
            row = _find_live(c, id_number, benefit_year)
            if row.subsidy_timing != "refund_after_payment" or not row.subsidy_fen:
                raise InputError("id_number", f"{masked} 的参保记录没有先缴后补的县财政补贴")
            paid_back = _county_subsidy_paid_back(c, row.id)
            if paid_back:
                raise InputError("id_number", f"{masked} 的县财政补贴已经退补过，不能重复退补")
            if not _is_owed(row.status, row.subsidy_timing, row.subsidy_fen, paid_back):
                status = ENROLLMENT_STATUS_LABELS.get(row.status, row.status)
                raise InputError("id_number", f"{masked} 的参保关系为“{status}”，暂不退补县财政补贴")
            c.execute(
                insert(ledger_entries).values(
                    enrollment_id=row.id,
                    person_id=row.person_id,
                    kind="county_subsidy_refund",
                    amount_fen=row.subsidy_fen,
                    channel="collecting_unit",
                    collecting_unit=township,
                    recorded_at=now(),
                    actor=actor,
                    note=row.subsidy_category,
                )
            )
            uow.commit()
            return int(row.subsidy_fen)

    try:
        paid_fen = _second_comer(once)
    except InputError as refusal:
        audit(engine, actor, "county_subsidy_refund", masked, "refused", str(refusal))
        raise
    audit(engine, actor, "county_subsidy_refund", masked, "done", str(to_yuan(paid_fen)))
    return paid_fen


# --- the ledger, derived ----------------------------------------------------------------------------------


def ledger_of(engine: Engine, id_number: str) -> pl.DataFrame:
    """Every ledger entry of a person, oldest first."""
    query = (
        select(
            ledger_entries.c.id,
            ledger_entries.c.enrollment_id,
            ledger_entries.c.kind,
            ledger_entries.c.amount_fen,
            ledger_entries.c.channel,
            ledger_entries.c.channel_name,
            ledger_entries.c.channel_txn_id,
            ledger_entries.c.collecting_unit,
            ledger_entries.c.recorded_at,
            ledger_entries.c.note,
        )
        .join(persons, and_(persons.c.id == ledger_entries.c.person_id, persons.c.id_number == id_number))
        .order_by(ledger_entries.c.id)
    )
    with engine.connect() as c:
        rows = c.execute(query).mappings().all()
    return pl.DataFrame([dict(r) for r in rows]) if rows else pl.DataFrame()
