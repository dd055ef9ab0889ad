"""Persons for staff (issue 14): the search (人员查询), a person's page, and revealing the full ID number.

Every read goes through :func:`canbao.services.access.person_in_area`: a person outside the caller's area is
"not found" (:class:`~canbao.services.access.OutOfArea`), the same answer as an id that does not exist, and the
attempt is an audit line `out_of_area` naming the person id asked for.  The portal's audit lines name a
person as ``person:<persons.id>`` (:func:`canbao.services.access.person_subject`).

ID numbers are masked (:func:`canbao.ids.mask_id_number`) in everything returned here but
:func:`reveal_id_number`, which only the county roles may call, and which is audited (`id_reveal`).  Phone
numbers are masked too (the middle four digits).  Money stays integer fen; the page formats yuan.

The search (p95 under 100 ms at 1.1 M persons, benchmarks/): a full ID number (18 characters, or the old 15
digits; spaces, a lowercase x and full-width digits as :func:`canbao.tabular.values.id_numbers` takes them)
is one lookup in the unique index; anything else is a name — exact matches first (ordered by person id),
then names beginning with it (ordered by name), filtered by the ID number's end when the name is followed
by a space and its last 4–6 characters (``张三 1234``) — through `ix_persons_name` (migration 0012: on PostgreSQL a
`varchar_pattern_ops` index, queried with the byte-order range operators ``~>=~``/``~<~`` so that the plan
uses it whatever the database's collation; on SQLite the BINARY index and ``>=``/``<``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Engine, and_, select
from sqlalchemy.sql import ColumnElement

from canbao.clock import local_time
from canbao.errors import InputError
from canbao.ids import mask_id_number, redact_id_numbers
from canbao.services.access import (
    NotAllowed,
    OutOfArea,
    Staff,
    check_person_in_area,
    person_in_area,
    person_subject,
)
from canbao.store.tables import audit_log, enrollments, identity_memberships, ledger_entries, persons
from canbao.store.uow import audit
from canbao.tabular.values import id_numbers, names
from canbao.vocabulary import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    DEPARTMENT_LABELS,
    END_REASON_LABELS,
    ENROLLMENT_STATUS_LABELS,
    HOUSEHOLD_ROLE_LABELS,
    LEDGER_KIND_LABELS,
    REFUND_REASON_LABELS,
    RESIDENCY_LABELS,
    SITUATION_LABELS,
)

SEX_LABELS: dict[str, str] = {"male": "男", "female": "女"}
SEARCH_LIMIT = 50
NAME_MAX = 64  # persons.name
_ID_LIKE = re.compile(r"^[0-9]+[Xx]?$")
_NAME_AND_TAIL = re.compile(r"^(.+?)\s+([0-9]{4,6}[Xx]?|[0-9]{3,5}[Xx])$")  # 张三 1234: the ID number's end
_IGNORED = re.compile(r"[\s'‘’\"`]")
_ANY_DAY = dt.date(9999, 12, 31)  # a lookup checks no birth date against today: a future one finds nobody
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class PersonHit:
    """One search result: never the full ID number."""

    person_id: int
    name: str
    id_number: str  # masked
    township: str | None
    village: str | None


def mask_phone(phone: str | None) -> str | None:
    """The middle four characters starred (13812345678 → 138****5678); shorter than 7: all stars."""
    if not phone:
        return phone
    if len(phone) < 7:
        return "*" * len(phone)
    start = (len(phone) - 4) // 2
    return phone[:start] + "****" + phone[start + 4 :]


def _query_id_number(q: str) -> str | None:
    """The 18-character ID number `q` is written as, or None when `q` is not written as an ID number;
    InputError when it looks like one (digits) but is not valid."""
    compact = _IGNORED.sub("", unicodedata.normalize("NFKC", q))
    if not _ID_LIKE.match(compact):
        return None
    parsed = (
        pl.DataFrame({"q": [q]}, schema={"q": pl.String})
        .select(id_numbers(pl.col("q"), _ANY_DAY))
        .row(0, named=True)["id"]
    )
    if parsed["id_number"] is None:
        raise InputError("q", f"{parsed['id_error']}（按身份证号码查询须输入完整号码；也可按姓名查询）")
    return str(parsed["id_number"])


def _name_query(q: str) -> str:
    name = pl.DataFrame({"q": [q]}, schema={"q": pl.String}).select(names(pl.col("q")))["q"][0]
    return str(name or "")


def _prefix_upper(prefix: str) -> str | None:
    """The least string above every string beginning with `prefix` in code point (= UTF-8 byte) order."""
    for cut in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[cut]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:cut] + chr(code)
    return None


def _name_begins(engine: Engine, prefix: str) -> ColumnElement[bool]:
    """`persons.name` begins with `prefix` (and is not `prefix` itself), as a range the name index serves."""
    name = persons.c.name
    upper = _prefix_upper(prefix)
    if engine.dialect.name == "postgresql":  # byte order: what the varchar_pattern_ops index is sorted by
        above = name.op("~>~", is_comparison=True)(prefix)
        return above if upper is None else above & name.op("~<~", is_comparison=True)(upper)
    return (name > prefix) if upper is None else (name > prefix) & (name < upper)


def search_persons(engine: Engine, staff: Staff, q: str, *, limit: int = SEARCH_LIMIT) -> list[PersonHit]:
    """Persons of `staff`'s area by full ID number, or by name (exact matches first, then by prefix), or by
    name and the last 4–6 characters of the ID number (``张三 1234``, ``张三 02123X``: the name's matches
    whose number ends so); at most `limit`.  InputError (field `q`) for an empty query, a one-character name,
    or an invalid ID number."""
    text = (q or "").strip()
    if not text:
        raise InputError("q", "请输入姓名或身份证号码")
    if len(text) < 2:
        raise InputError("q", "请至少输入姓名的两个字，或完整的身份证号码")
    if len(text) > NAME_MAX:
        raise InputError("q", f"查询内容不能超过{NAME_MAX}个字")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InputError("q", "查询内容含有控制字符（如制表符、NUL）")
    p = persons.c
    columns = (p.id, p.name, p.id_number, p.township, p.village)
    area = person_in_area(staff)
    id_number = _query_id_number(text)
    tail = None
    if id_number is None and (both := _NAME_AND_TAIL.match(unicodedata.normalize("NFKC", text))):
        text, tail = both.group(1), both.group(2).upper()
        if len(text.strip()) < 2:
            raise InputError("q", "请至少输入姓名的两个字（可在姓名后加空格和身份证号码的末4–6位）")
        area = and_(area, p.id_number.endswith(tail, autoescape=True))
    with engine.connect() as c:
        if id_number is not None:
            rows = list(c.execute(select(*columns).where(p.id_number == id_number, area)).all())
        else:
            name = _name_query(text)
            exact = select(*columns).where(p.name == name, area).order_by(p.id).limit(limit)
            rows = list(c.execute(exact).all())
            if len(rows) < limit:
                begins = (
                    select(*columns)
                    .where(_name_begins(engine, name), area)
                    .order_by(p.name, p.id)
                    .limit(limit - len(rows))
                )
                rows += c.execute(begins).all()
    return [PersonHit(r.id, r.name, mask_id_number(r.id_number), r.township, r.village) for r in rows]


# ------------------------------------------------------------------------------------------ a person's page


def _label(labels: dict[str, str], value: str | None) -> str | None:
    return None if value is None else labels.get(value, value)


def _local(at: dt.datetime | None) -> str | None:
    return None if at is None else local_time(at).strftime(_TIME)


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact_id_numbers(text)


def person_page(engine: Engine, staff: Staff, person_id: int) -> dict[str, Any]:
    """Everything a person's page shows, for `staff`: person (masked ID number and phone), identities,
    enrollments, ledger entries (times in China Standard Time), refunds and — for the county roles — the
    portal's audit lines about the person.  Outside the area or unknown: audited `out_of_area`, OutOfArea.
    The view itself is an audit line `person_view`."""
    check_person_in_area(engine, staff, person_id)
    p, m, e, le, a = persons.c, identity_memberships.c, enrollments.c, ledger_entries.c, audit_log.c
    with engine.connect() as c:
        person = c.execute(select(persons).where(p.id == person_id, person_in_area(staff))).mappings().first()
        if person is None:  # moved out of the area since the check: still not found
            raise OutOfArea("人员")
        identities = c.execute(
            select(m.id, m.category, m.department, m.valid_from, m.valid_to, m.household_role, m.batch_id)
            .where(m.person_id == person_id)
            .order_by(m.id)
        ).all()
        enrolled = c.execute(select(enrollments).where(e.person_id == person_id).order_by(e.benefit_year, e.id)).all()
        entries = c.execute(select(ledger_entries).where(le.person_id == person_id).order_by(le.id)).all()
        lines = (
            c.execute(
                select(a.at, a.actor, a.action, a.outcome, a.detail)
                .where(a.subject == person_subject(person_id))
                .order_by(a.id)
            ).all()
            if staff.county_wide
            else []
        )
    years = {r.id: r for r in enrolled}
    page = {
        "person": {
            "person_id": person["id"],
            "name": person["name"],
            "id_number": mask_id_number(person["id_number"]),
            "sex": person["sex"],
            "sex_label": _label(SEX_LABELS, person["sex"]),
            "birth_date": person["birth_date"],
            "county": person["county"],
            "township": person["township"],
            "village": person["village"],
            "residency": person["residency"],
            "residency_label": _label(RESIDENCY_LABELS, person["residency"]),
            "phone": mask_phone(person["phone"]),
        },
        "identities": [
            {
                "category": r.category,
                "category_label": _label(CATEGORY_LABELS, r.category),
                "department": r.department,
                "department_label": _label(DEPARTMENT_LABELS, r.department),
                "valid_from": r.valid_from,
                "valid_to": r.valid_to,
                "household_role": r.household_role,
                "household_role_label": _label(HOUSEHOLD_ROLE_LABELS, r.household_role),
                "batch_id": r.batch_id,
            }
            for r in identities
        ],
        "enrollments": [
            {
                "enrollment_id": r.id,
                "policy": r.policy,
                "benefit_year": r.benefit_year,
                "situation": r.situation,
                "situation_label": _label(SITUATION_LABELS, r.situation),
                "status": r.status,
                "status_label": _label(ENROLLMENT_STATUS_LABELS, r.status),
                "paid_on": r.paid_on,
                "benefit_start": r.benefit_start,
                "benefit_end": r.benefit_end,
                "amount_due_fen": r.amount_due_fen,
                "net_personal_fen": r.net_personal_fen,
                "subsidy_category": r.subsidy_category,
                "subsidy_category_label": _label(CATEGORY_LABELS, r.subsidy_category),
                "subsidy_fen": r.subsidy_fen,
                "channel": r.channel,
                "channel_label": _label(CHANNEL_LABELS, r.channel),
                "collecting_unit": r.collecting_unit,
                "ended_on": r.ended_on,
                "end_reason": r.end_reason,
                "end_reason_label": _label({**END_REASON_LABELS, **REFUND_REASON_LABELS}, r.end_reason),
            }
            for r in enrolled
        ],
        "ledger": [
            {
                "entry_id": r.id,
                "enrollment_id": r.enrollment_id,
                "benefit_year": years[r.enrollment_id].benefit_year if r.enrollment_id in years else None,
                "kind": r.kind,
                "kind_label": _label(LEDGER_KIND_LABELS, r.kind),
                "amount_fen": r.amount_fen,
                "channel": r.channel,
                "channel_label": _label(CHANNEL_LABELS, r.channel),
                "channel_name": r.channel_name,
                "channel_txn_id": r.channel_txn_id,
                "collecting_unit": r.collecting_unit,
                "recorded_at": _local(r.recorded_at),
                "actor": r.actor,
                "note": _redacted(r.note),
            }
            for r in entries
        ],
        "refunds": [
            {
                "entry_id": r.id,
                "enrollment_id": r.enrollment_id,
                "benefit_year": years[r.enrollment_id].benefit_year if r.enrollment_id in years else None,
                "amount_fen": r.amount_fen,
                "reason": r.note,
                "reason_label": _label(REFUND_REASON_LABELS, r.note),
                "requested_on": years[r.enrollment_id].ended_on if r.enrollment_id in years else None,
                "recorded_at": _local(r.recorded_at),
                "actor": r.actor,
            }
            for r in entries
            if r.kind == "refund"
        ],
        "audit": [
            {
                "at": _local(r.at),
                "actor": r.actor,
                "action": r.action,
                "outcome": r.outcome,
                "detail": _redacted(r.detail),
            }
            for r in lines
        ],
    }
    audit(engine, staff.actor, "person_view", person_subject(person_id), "done", None)
    return page


def reveal_id_number(engine: Engine, staff: Staff, person_id: int) -> str:
    """The full ID number, for a county role on the person's page: the area first (OutOfArea, audited
    `out_of_area`), then the role (NotAllowed, audited `id_reveal` refused); audited `id_reveal` done."""
    check_person_in_area(engine, staff, person_id)
    subject = person_subject(person_id)
    if not staff.county_wide:
        audit(engine, staff.actor, "id_reveal", subject, "refused", f"角色 {staff.role} 不能查看完整身份证号码")
        raise NotAllowed("只有县医保局、县税务局的工作人员可以查看完整身份证号码")
    with engine.connect() as c:
        id_number = c.execute(select(persons.c.id_number).where(persons.c.id == person_id)).scalar_one()
    audit(engine, staff.actor, "id_reveal", subject, "done", None)
    return str(id_number)
