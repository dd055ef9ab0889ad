"""Look up and renew: the self-service flow of 001 六(三) and 003 三(五)2 — a resident enters name and ID
number; if they were enrolled last year they renew with what the registry knows, otherwise they register."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, or_, select

from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.policy import load_policy
from canbao.services.payments import Payment, PaymentResult, pay
from canbao.services.registry import find_person
from canbao.store.tables import enrollments, identity_memberships


def lookup(engine: Engine, name: str, id_number: str) -> dict[str, Any]:
    """What the registry knows of a person; name and ID number must agree."""
    with engine.connect() as c:
        person = find_person(c, id_number)
        if person is None:
            return {"registered": False, "id_number": mask_id_number(id_number), "enrollments": []}
        if person["name"] != name:
            raise InputError("name", f"姓名与身份证号码 {mask_id_number(id_number)} 的登记信息不一致")
        rows = c.execute(
            select(enrollments.c.benefit_year, enrollments.c.status, enrollments.c.policy)
            .where(enrollments.c.person_id == person["id"])
            .order_by(enrollments.c.benefit_year)
        ).all()
    return {
        "registered": True,
        "id_number": mask_id_number(id_number),
        "name": person["name"],
        "county": person["county"],
        "township": person["township"],
        "village": person["village"],
        "enrollments": [{"benefit_year": r.benefit_year, "status": r.status, "policy": r.policy} for r in rows],
    }


def categories_on(engine: Engine, person_id: int, on: dt.date) -> list[str]:
    """Identity categories certified for the person and valid on a date (any list, any department)."""
    m = identity_memberships.c
    with engine.connect() as c:
        found = c.execute(
            select(m.category)
            .where(m.person_id == person_id)
            .where(or_(m.valid_from.is_(None), m.valid_from <= on))
            .where(or_(m.valid_to.is_(None), m.valid_to >= on))
            .distinct()
        ).scalars()
        return sorted(found)


def renew(
    engine: Engine,
    policy_id: str,
    name: str,
    id_number: str,
    paid_on: dt.date,
    channel: str,
    txn_id: str,
    amount: Decimal,
    actor: str,
    channel_name: str | None = None,
    new_person: dict[str, Any] | None = None,
) -> PaymentResult:
    """Renew last year's enrollee from the registry, or register a new one from `new_person`
    (county, residency, optional categories) and enroll them."""
    policy = load_policy(policy_id)
    with engine.connect() as c:
        person = find_person(c, id_number)
        enrolled_last_year = (
            person is not None
            and c.execute(
                select(enrollments.c.id).where(
                    enrollments.c.person_id == person["id"], enrollments.c.benefit_year == policy.benefit_year - 1
                )
            ).first()
            is not None
        )
    if person is not None and person["name"] != name:
        raise InputError("name", f"姓名与身份证号码 {mask_id_number(id_number)} 的登记信息不一致")
    if enrolled_last_year and person is not None:
        fields = {"county": person["county"], "residency": person["residency"]}
        categories = categories_on(engine, person["id"], paid_on)
    elif new_person:
        fields = {"county": new_person.get("county"), "residency": new_person.get("residency")}
        categories = list(new_person.get("categories", []))
    else:
        raise InputError("person", f"{mask_id_number(id_number)} 上年度未参保，请按新参保填写县区和居民类型")
    application = {
        "person": {"id_number": id_number, "name": name, "categories": categories, **fields},
        "situation": "regular",
        "paid_on": paid_on.isoformat(),
    }
    return pay(engine, Payment(policy_id, application, channel, txn_id, amount, channel_name=channel_name), actor)
