"""Residents' orders (issue 15; 001 六(三), 003 三(五)2, 004 四(一)): a resident enters name and ID number, for
themselves and the family members they pay for; canbao quotes each person through the rules engine (a frame of
the order's persons) and makes an order the channel collects.  The money arrives later as the channel's
notification (canbao.services.notifications), which enrolls the order's persons as quoted.

- Each person is last year's enrollee renewing from the registry, or registers as new with residency (and
  township, village, phone): :func:`canbao.services.renewal.application_for`, as at the counter.
- The policy is the one of the person's county whose campaign is on today (newest benefit year first; a
  benefit year may be asked for).  An order is refused when a person owes nothing online (fully subsidised
  upfront), is already enrolled for the year, or is not covered — with the quote's own words.
- A resident is let in by canbao.services.resident_access: throttled, and a wrong name says nothing of the ID.
- The order's `token` (shown once, only its SHA-256 kept) is the resident's key to the order's status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from canbao.clock import campaign_date
from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.money import yuan_json
from canbao.policy import Policy, list_policies, load_policy
from canbao.quote import application_row, quoted_result
from canbao.rules.columns import input_frame
from canbao.rules.engine import quote_frame
from canbao.services.channels import channel_named
from canbao.services.renewal import application_for
from canbao.services.resident_access import NotRecognised, checked_identity, normalized_id
from canbao.store.tables import enrollments, order_persons, orders
from canbao.store.uow import busy_is_refusal

MAX_PERSONS = 10  # persons one order pays for: a household, not a village (a security setting, not policy)
_CODE = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # out_trade_no's random part: no I or O


@dataclass(frozen=True)
class PersonRequest:
    name: str
    id_number: str
    residency: str | None = None  # a new registration's residency (canbao.vocabulary.Residency)
    county: str | None = None
    township: str | None = None
    village: str | None = None
    phone: str | None = None
    situation: str | None = None  # default regular; newborn for a child of the newborn rules


@dataclass(frozen=True)
class OrderRequest:
    name: str
    id_number: str
    channel: str
    persons: list[PersonRequest] = field(default_factory=list)
    benefit_year: int | None = None


@dataclass(frozen=True)
class PersonQuote:
    name: str
    masked_id: str
    renewing: bool
    amount_fen: int
    quote: dict[str, Any]  # canbao.quote's contract (Decimal yuan)


@dataclass(frozen=True)
class CreatedOrder:
    out_trade_no: str
    channel: str
    channel_kind: str
    policy: str
    benefit_year: int
    amount_fen: int
    persons: list[PersonQuote]
    token: str
    pays_in_channel: bool = False  # the channel's own pay step (services.pay_step)

    def as_json(self) -> dict[str, Any]:
        return {
            "out_trade_no": self.out_trade_no,
            "amount": yuan_json(self.amount_fen),
            "channel": self.channel,
            "benefit_year": self.benefit_year,
            "policy": self.policy,
            "token": self.token,
            "persons": [
                {"name": p.name, "id_number": p.masked_id, "renewing": p.renewing, "amount": yuan_json(p.amount_fen)}
                for p in self.persons
            ],
        }


@dataclass(frozen=True)
class OrderView:
    out_trade_no: str
    status: str  # open, paid, flagged, closed
    amount_fen: int
    benefit_year: int
    channel: str
    channel_txn_id: str | None
    created_at: dt.datetime
    paid_at: dt.datetime | None
    persons: list[dict[str, Any]]  # name, masked id, amount_fen, enrolled (bool)

    def as_json(self) -> dict[str, Any]:
        return {
            "out_trade_no": self.out_trade_no,
            "status": self.status,
            "amount": yuan_json(self.amount_fen),
            "benefit_year": self.benefit_year,
            "channel": self.channel,
            "channel_txn_id": self.channel_txn_id,
            "created_at": self.created_at.isoformat(),
            "paid_at": self.paid_at.isoformat() if self.paid_at else None,
            "persons": [
                {k: v for k, v in p.items() if k != "amount_fen"} | {"amount": yuan_json(p["amount_fen"])}
                for p in self.persons
            ],
        }


def _campaign_policy(county: str, today: dt.date, benefit_year: int | None) -> Policy:
    """The policy the order is quoted under: of the county, payable today (from its collection
    window's start to its benefit period's end), the newest benefit year (or the one asked for)."""
    found = []
    for pid in list_policies():
        policy = load_policy(pid)
        if county not in policy.region.counties:
            continue
        if not policy.collection_window.start <= today <= policy.benefit_period.end:
            continue
        if benefit_year is not None and policy.benefit_year != benefit_year:
            continue
        if "online" not in policy.collection.channels:
            continue
        found.append(policy)
    if not found:
        year = f" {benefit_year} 年度" if benefit_year else ""
        raise InputError(
            "benefit_year", f"县（区）{county}{year}当前（{today}）不在线上参保缴费期内，或不在本系统的政策范围内"
        )
    return max(found, key=lambda p: p.benefit_year)


def _county_of(person: dict[str, Any] | None, request: PersonRequest, id_number: str) -> str:
    """The registered person's county, else the one the form names, else the ID number's division (a resident
    registering where they were born)."""
    if person is not None:
        return str(person["county"])
    return request.county or id_number[:6]


def _applications(
    engine: Engine,
    requests: list[PersonRequest],
    *,
    address: str,
    action: str,
    now: dt.datetime,
    today: dt.date,
    benefit_year: int | None,
) -> tuple[Policy, list[tuple[PersonRequest, str, dict[str, Any] | None]]]:
    """Each person let in as every resident is (resident_access.checked_identity: throttled, a wrong name a
    failure for the ID), and the one policy of the order."""
    seen: set[str] = set()
    people = []
    for k, request in enumerate(requests):
        where = f"persons[{k}]"
        try:
            id_number, person = checked_identity(
                engine, request.name, request.id_number, address=address, action=action, now=now, today=today
            )
        except NotRecognised:
            raise
        except InputError as exc:
            raise InputError(f"{where}.{exc.field}", exc.message) from None
        if id_number in seen:
            raise InputError(f"{where}.id_number", f"{mask_id_number(id_number)} 在本单中重复")
        seen.add(id_number)
        people.append((request, id_number, person))
    counties = {_county_of(person, request, id_number) for request, id_number, person in people}
    if len(counties) > 1:
        raise InputError("persons", "一笔订单只能为同一县（区）的参保人缴费")
    return _campaign_policy(counties.pop(), today, benefit_year), people


def preview(
    engine: Engine,
    persons: list[PersonRequest],
    *,
    address: str,
    now: dt.datetime,
    today: dt.date,
    benefit_year: int | None = None,
) -> list[PersonQuote]:
    """What each person would pay online today, quoted together; InputError (field, words) when a person cannot
    pay online."""
    quoted = _quoted(
        engine, persons, address=address, action="preview", now=now, today=today, benefit_year=benefit_year
    )
    return [q for q, _ in quoted]


def _quoted(
    engine: Engine,
    persons: list[PersonRequest],
    *,
    address: str,
    action: str,
    now: dt.datetime,
    today: dt.date,
    benefit_year: int | None,
) -> list[tuple[PersonQuote, dict[str, Any]]]:
    """Each person's quote and application (the quote contract's input, as the notification applies it)."""
    if not persons:
        raise InputError("persons", "请至少填写一位参保人")
    if len(persons) > MAX_PERSONS:
        raise InputError("persons", f"一笔订单至多为 {MAX_PERSONS} 人缴费")
    policy, people = _applications(
        engine, persons, address=address, action=action, now=now, today=today, benefit_year=benefit_year
    )
    with engine.connect() as c:
        rows, renewing, apps = [], [], []
        for k, (request, id_number, person) in enumerate(people):
            new = {"county": _county_of(person, request, id_number), "residency": request.residency}
            try:
                app = application_for(
                    c, policy, person, request.name.strip(), id_number, today,
                    new if request.residency else None, request.situation or "regular",
                )  # fmt: skip
            except InputError as exc:
                raise InputError(f"persons[{k}].residency", exc.message) from None
            renewing.append(person is not None and not request.residency)
            rows.append(application_row(app))
            apps.append(app)
        enrolled = _already_enrolled(c, [p for _, _, p in people], policy.benefit_year)
    quoted = quote_frame(policy, input_frame(rows), today)
    out = []
    for k, row in enumerate(quoted.iter_rows(named=True)):
        where = f"persons[{k}]"
        masked = mask_id_number(str(row["id_number"]))
        if row["error"] is not None:
            raise InputError(f"{where}.{row['error_field']}", f"{masked}：{row['error']}")
        if not row["eligible"]:
            raise InputError(f"{where}", f"{masked} 不符合参保条件：{'；'.join(row['reasons'])}")
        if k in enrolled:
            raise InputError(f"{where}", f"{masked} 已参加 {policy.benefit_year} 年度居民医保，无需再缴费")
        if row["amount_due_fen"] <= 0:
            why = f"{masked} 个人缴费部分已全额资助（{row['subsidy_clause']}），无需在线缴费，请联系乡镇（街道）办理"
            raise InputError(where, why)
        quote = PersonQuote(str(row["name"]), masked, renewing[k], int(row["amount_due_fen"]), quoted_result(row))
        out.append((quote, apps[k]))
    return out


def _already_enrolled(c: Connection, people: list[dict[str, Any] | None], benefit_year: int) -> set[int]:
    ids = {int(p["id"]): k for k, p in enumerate(people) if p is not None}
    if not ids:
        return set()
    live = c.execute(
        select(enrollments.c.person_id).where(
            enrollments.c.person_id.in_(list(ids)), enrollments.c.benefit_year == benefit_year, enrollments.c.live
        )
    ).scalars()
    return {ids[int(p)] for p in live}


def _out_trade_no(today: dt.date) -> str:
    """CB + the campaign date + 16 random characters: 26 characters, within WeChat's 6–32 and Alipay's 64."""
    return "CB" + today.strftime("%Y%m%d") + "".join(secrets.choice(_CODE) for _ in range(16))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_order(
    engine: Engine, request: OrderRequest, *, address: str, now: dt.datetime, today: dt.date
) -> CreatedOrder:
    """The order for the payer's persons (the payer alone when none are given), quoted and recorded; its
    amount is what the channel must collect."""
    channel = channel_named(engine, None, request.channel)
    if channel is None:
        raise InputError("channel", f"没有名为“{request.channel}”的缴费渠道")
    persons = request.persons or [PersonRequest(request.name, request.id_number)]
    if request.persons:  # the payer pays for others: let in as they are (alone, the payer is persons[0])
        checked_identity(engine, request.name, request.id_number, address=address, action="order", now=now, today=today)
    quoted = _quoted(
        engine, persons, address=address, action="order", now=now, today=today, benefit_year=request.benefit_year
    )
    quotes = [q for q, _ in quoted]
    payer_id = normalized_id(request.id_number, today)
    policy_id, benefit_year = str(quotes[0].quote["policy"]), int(quotes[0].quote["benefit_year"])
    token = secrets.token_urlsafe(24)
    out_trade_no = _out_trade_no(campaign_date(now))
    amount = sum(q.amount_fen for q in quotes)
    people = [
        {
            "seq": k + 1, "id_number": app["person"]["id_number"], "name": app["person"]["name"],
            "application": json.dumps(app, ensure_ascii=False), "township": r.township or None,
            "village": r.village or None, "phone": r.phone or None, "amount_fen": q.amount_fen,
        }
        for k, (r, (q, app)) in enumerate(zip(persons, quoted, strict=True))
    ]  # fmt: skip
    with busy_is_refusal(), engine.begin() as c:
        order_id = c.execute(
            insert(orders).values(
                out_trade_no=out_trade_no, channel=channel.name, channel_kind=channel.kind, policy=policy_id,
                benefit_year=benefit_year, payer_id_number=payer_id, amount_fen=amount, status="open",
                token_sha256=token_digest(token), created_at=now,
            ).returning(orders.c.id)
        ).scalar_one()  # fmt: skip
        c.execute(insert(order_persons), [{"order_id": order_id, **p} for p in people])
    return CreatedOrder(
        out_trade_no, channel.name, channel.kind, policy_id, benefit_year, amount, quotes, token,
        channel.pays_in_channel,
    )  # fmt: skip


def order_view(engine: Engine, out_trade_no: str, token: str) -> OrderView:
    """The order's status for the resident holding its token; LookupError for an unknown order or a wrong
    token (the same answer)."""
    with engine.connect() as c:
        row = c.execute(select(orders).where(orders.c.out_trade_no == out_trade_no)).mappings().first()
        if row is None or not secrets.compare_digest(row["token_sha256"], token_digest(token)):
            raise LookupError(out_trade_no)
        people = (
            c.execute(select(order_persons).where(order_persons.c.order_id == row["id"]).order_by(order_persons.c.seq))
            .mappings()
            .all()
        )
    return OrderView(
        row["out_trade_no"], row["status"], row["amount_fen"], row["benefit_year"], row["channel"],
        row["channel_txn_id"], row["created_at"], row["paid_at"],
        [
            {"name": p["name"], "id_number": mask_id_number(p["id_number"]), "amount_fen": p["amount_fen"],
             "enrolled": p["enrollment_id"] is not None}
            for p in people
        ],
    )  # fmt: skip
