"""What a resident sees and asks for on the self-service pages (issue 15) that is not an order: their own
enrollments and payments and those of the family members they paid for (查询), and a refund request (退费申请).

A resident has no account: every call names the person by name and ID number, which must agree
(canbao.services.resident_access.identify), and is throttled per address and per ID number.  An ID number that
is not registered and a name that does not match it get the same answer (NotRecognised), so that a lookup says
nothing about whether an ID exists.  Everything returned is masked: ID numbers keep their first 6 and last 4
characters.

A refund request asks the policy (the rules engine's refund decision, as the county's own refund does) and
records the answer in `refund_requests`; no money moves here.  The county's staff carry a request out with the
existing refund use case (canbao.services.payments.refund), which ends the enrollment and books the refund.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from canbao.clock import campaign_date, local_time
from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.policy import load_policy
from canbao.services.payments import refund_decision
from canbao.services.resident_access import NotRecognised, checked_identity, record_attempt
from canbao.store.tables import enrollments, ledger_entries, order_persons, orders, payment_channels, refund_requests
from canbao.store.uow import UnitOfWork, audit
from canbao.vocabulary import CHANNEL_LABELS, ENROLLMENT_STATUS_LABELS, REFUND_REASON_LABELS, REFUND_REASONS

RESIDENT_ACTOR = "resident"
"""The actor of the audit lines a resident's own request writes (they have no account)."""

KIND_LABELS = {"wechatpay_v3": "微信支付", "alipay": "支付宝"}
ENTRY_LABELS = {
    "payment": "缴费",
    "refund": "退费",
    "assistance_subsidy": "医疗救助资助",
    "county_subsidy_refund": "先缴后补退补",
}
REQUEST_STATUS_LABELS = {"requested": "已受理，待经办机构办理", "refunded": "已退费", "declined": "不予退费"}


@dataclass(frozen=True)
class PaymentLine:
    """One ledger entry of an enrollment, as the resident sees it (amount in fen)."""

    kind: str
    kind_label: str
    amount_fen: int
    channel: str | None
    channel_label: str
    txn_id: str | None
    out_trade_no: str | None
    recorded_at: str  # China Standard Time, YYYY-MM-DD HH:MM


@dataclass(frozen=True)
class EnrollmentRecord:
    enrollment_id: int
    benefit_year: int
    benefit_start: dt.date
    benefit_end: dt.date
    status: str
    status_label: str
    paid_on: dt.date
    amount_fen: int  # what was collected at payment (amount_due)
    channel_label: str
    txn_id: str | None
    out_trade_no: str | None
    payments: list[PaymentLine]
    refund_request: str | None  # the last refund request's status in words, if any


@dataclass(frozen=True)
class PersonRecords:
    name: str
    masked_id: str
    is_self: bool
    enrollments: list[EnrollmentRecord]


@dataclass(frozen=True)
class ResidentRecords:
    """The resident (`me`) and the family members they paid for (`family`), all masked."""

    me: PersonRecords
    family: list[PersonRecords] = field(default_factory=list)


def recognised(engine: Engine, name: str, id_number: str, *, address: str, action: str, now: dt.datetime) -> Any:
    """The registered person whose name and ID number agree, through the throttle (resident_access); NotRecognised
    (the same words whether or not the ID number is registered) otherwise, recorded as a failed attempt."""
    normalized, person = checked_identity(
        engine, name, id_number, address=address, action=action, now=now, today=campaign_date(now)
    )
    if person is None:
        record_attempt(engine, address=address, id_number=normalized, action=action, failed=True, now=now)
        raise NotRecognised()
    return person


def channel_label(channel: str | None, channel_name: str | None, kind: str | None) -> str:
    """How a payment's channel is said to a resident: 微信支付（wx）, 代收单位, 学校 …"""
    if channel == "online" and channel_name:
        plain = KIND_LABELS.get(kind or "")
        return f"{plain}（{channel_name}）" if plain and plain != channel_name else channel_name
    return CHANNEL_LABELS.get(channel or "", channel or "")


def _enrollment_records(c: Connection, enrollment_ids: list[int] | None, person_id: int) -> list[EnrollmentRecord]:
    e = enrollments.c
    query = select(enrollments).where(e.person_id == person_id).order_by(e.benefit_year.desc(), e.id.desc())
    if enrollment_ids is not None:
        query = query.where(e.id.in_(enrollment_ids))
    rows = c.execute(query).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    le, pc = ledger_entries.c, payment_channels.c
    entries = c.execute(
        select(
            le.enrollment_id, le.kind, le.amount_fen, le.channel, le.channel_name, le.channel_txn_id,
            le.out_trade_no, le.recorded_at, pc.kind.label("channel_kind"),
        )
        .outerjoin(payment_channels, pc.name == le.channel_name)
        .where(le.enrollment_id.in_(ids))
        .order_by(le.id)
    ).all()  # fmt: skip
    requests = c.execute(
        select(refund_requests.c.enrollment_id, refund_requests.c.status)
        .where(refund_requests.c.enrollment_id.in_(ids))
        .order_by(refund_requests.c.id)
    ).all()
    refunded = {x.enrollment_id for x in entries if x.kind == "refund"}
    # a request the staff carried out (a refund entry in the ledger, `canbao refund` or the portal) says so:
    # derived from the ledger, as a balance is, not from a status someone must remember to set
    last_request = {
        r.enrollment_id: REQUEST_STATUS_LABELS.get("refunded" if r.enrollment_id in refunded else r.status, r.status)
        for r in requests
    }
    ordered = dict(
        c.execute(
            select(order_persons.c.enrollment_id, orders.c.out_trade_no)
            .join(orders, orders.c.id == order_persons.c.order_id)
            .where(order_persons.c.enrollment_id.in_(ids))
        ).all()
    )  # the order an online payment came with (the ledger keeps it too, beside the transaction id)
    out = []
    for row in rows:
        lines = [
            PaymentLine(
                kind=x.kind,
                kind_label=ENTRY_LABELS.get(x.kind, x.kind),
                amount_fen=int(x.amount_fen),
                channel=x.channel,
                channel_label=channel_label(x.channel, x.channel_name, x.channel_kind),
                txn_id=x.channel_txn_id,
                out_trade_no=x.out_trade_no,
                recorded_at=_shown(x.recorded_at),
            )
            for x in entries
            if x.enrollment_id == row.id
        ]
        paid = next((line for line in lines if line.kind == "payment"), None)
        out.append(
            EnrollmentRecord(
                enrollment_id=int(row.id),
                benefit_year=int(row.benefit_year),
                benefit_start=row.benefit_start,
                benefit_end=row.benefit_end,
                status=row.status,
                status_label=ENROLLMENT_STATUS_LABELS.get(row.status, row.status),
                paid_on=row.paid_on,
                amount_fen=int(row.amount_due_fen),
                channel_label=paid.channel_label if paid else channel_label(row.channel, row.channel_name, None),
                txn_id=paid.txn_id if paid else None,
                out_trade_no=(paid.out_trade_no if paid else None) or ordered.get(row.id),
                payments=lines,
                refund_request=last_request.get(row.id),
            )
        )
    return out


def _shown(at: dt.datetime) -> str:
    return local_time(at).strftime("%Y-%m-%d %H:%M")


def paid_for(c: Connection, payer_id_number: str) -> dict[int, list[int]]:
    """The persons (persons.id) the payer's paid orders enrolled, other than the payer, and the enrollments each
    order made for them."""
    from canbao.store.tables import persons

    op, o, p = order_persons.c, orders.c, persons.c
    rows = c.execute(
        select(p.id, op.enrollment_id)
        .join(orders, o.id == op.order_id)
        .join(enrollments, enrollments.c.id == op.enrollment_id)
        .join(persons, p.id == enrollments.c.person_id)
        .where(o.payer_id_number == payer_id_number, o.status == "paid", op.enrollment_id.is_not(None))
        .where(p.id_number != payer_id_number)
        .order_by(o.id, op.seq)
    ).all()
    found: dict[int, list[int]] = {}
    for person_id, enrollment_id in rows:
        found.setdefault(int(person_id), []).append(int(enrollment_id))
    return found


def records(engine: Engine, name: str, id_number: str, *, address: str, now: dt.datetime) -> ResidentRecords:
    """The resident's own enrollments and payments, and those they paid for others (their paid orders' persons),
    masked.  NotRecognised when name and ID number do not agree (or the ID is not registered); TooManyAttempts
    past the throttle."""
    from canbao.store.tables import persons

    person = recognised(engine, name, id_number, address=address, action="records", now=now)
    with engine.connect() as c:
        me = PersonRecords(
            person["name"], mask_id_number(person["id_number"]), True, _enrollment_records(c, None, int(person["id"]))
        )
        family = []
        for person_id, enrollment_ids in paid_for(c, person["id_number"]).items():
            member = c.execute(select(persons.c.name, persons.c.id_number).where(persons.c.id == person_id)).one()
            family.append(
                PersonRecords(
                    member.name,
                    mask_id_number(member.id_number),
                    False,
                    _enrollment_records(c, enrollment_ids, person_id),
                )
            )
    return ResidentRecords(me, family)


# --- refund requests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundAnswer:
    """The policy's answer to a refund request, in plain words (`why` names the clause)."""

    benefit_year: int
    reason: str
    reason_label: str
    covered: bool  # False: the policy says nothing about refunds for this reason
    refundable: bool
    amount_fen: int
    why: str
    clause: str
    status: str  # requested (the county will carry it out), declined
    status_label: str
    request_id: int
    already_requested: bool = False


def request_refund(
    engine: Engine,
    name: str,
    id_number: str,
    benefit_year: int,
    reason: str,
    *,
    address: str,
    now: dt.datetime,
    today: dt.date,
) -> RefundAnswer:
    """Ask for a refund of the resident's enrollment of `benefit_year`: the policy's answer, recorded.

    Refundable: a request with status `requested`, for the county's staff to carry out (services.payments.refund).
    Not refundable (the benefit period has begun) or not covered (the policy lists no refund for the reason):
    recorded as `declined`, with the words and the clause.  A second request while one is pending answers the
    first.  An unknown reason, or no live enrollment that year, is InputError."""
    if reason not in REFUND_REASONS:
        choices = "、".join(f"{r}（{REFUND_REASON_LABELS[r]}）" for r in REFUND_REASONS)
        raise InputError("reason", f"未知的退费原因 {reason}（可选：{choices}）")
    person = recognised(engine, name, id_number, address=address, action="refund", now=now)
    masked = mask_id_number(id_number)
    label = REFUND_REASON_LABELS[reason]
    with UnitOfWork(engine, RESIDENT_ACTOR) as uow:
        c = uow.connection
        e = enrollments.c
        row = c.execute(
            select(enrollments).where(e.person_id == person["id"], e.benefit_year == benefit_year, e.live)
        ).first()
        if row is None:
            raise InputError("benefit_year", f"{masked} 没有 {benefit_year} 年度的有效参保记录")
        policy = load_policy(row.policy)
        pending = c.execute(
            select(refund_requests)
            .where(refund_requests.c.enrollment_id == row.id, refund_requests.c.status == "requested")
            .order_by(refund_requests.c.id)
        ).first()
        if pending is not None:
            return RefundAnswer(
                benefit_year, pending.reason, REFUND_REASON_LABELS.get(pending.reason, pending.reason), True, True,
                int(pending.amount_fen or 0), pending.why, policy.refund.clause, "requested",
                REQUEST_STATUS_LABELS["requested"], int(pending.id), already_requested=True,
            )  # fmt: skip
        paid_back = (
            c.execute(
                select(ledger_entries.c.id).where(
                    ledger_entries.c.enrollment_id == row.id, ledger_entries.c.kind == "county_subsidy_refund"
                )
            ).first()
            is not None
        )
        decided = refund_decision(row, reason, today, paid_back, id_number)
        covered = True
        if decided["refund_error"] is not None:
            if decided["refund_error_field"] != "reason" or reason in policy.refund.reasons:
                raise InputError(decided["refund_error_field"], decided["refund_error"])
            covered = False  # the policy lists no refund for this reason: "not covered", in its own words
            why = f"本政策未规定因“{label}”退费，不予受理：{policy.refund.unlisted_reason}（{policy.refund.clause}）"
            refundable, amount_fen = False, 0
        else:
            refundable, amount_fen, why = bool(decided["refundable"]), int(decided["refund_fen"]), decided["refund_why"]
        status = "requested" if refundable else "declined"
        request_id = c.execute(
            insert(refund_requests)
            .values(
                enrollment_id=row.id,
                person_id=row.person_id,
                reason=reason,
                refundable=refundable,
                amount_fen=amount_fen if refundable else None,
                why=why,
                status=status,
                requested_at=now,
                requested_on=today,
            )
            .returning(refund_requests.c.id)
        ).scalar_one()
        uow.commit()
    audit(engine, RESIDENT_ACTOR, "refund_request", masked, status, why)
    return RefundAnswer(
        benefit_year, reason, label, covered, refundable, amount_fen, why, policy.refund.clause, status,
        REQUEST_STATUS_LABELS[status], int(request_id),
    )  # fmt: skip
