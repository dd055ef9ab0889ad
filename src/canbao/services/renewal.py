"""Look up and renew: the self-service flow of 001 六(三) and 003 三(五)2 — a resident enters name and ID
number; if they were enrolled last year they renew with what the registry knows, otherwise they register."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.policy import Policy, load_policy
from canbao.services.last_year import Certified, certified_on, enrolled_last_year, memberships_select
from canbao.services.payments import Payment, PaymentResult, pay
from canbao.services.registry import find_person
from canbao.store.tables import enrollments


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
    with engine.connect() as c:
        found = c.execute(memberships_select(on, (person_id, person_id))).all()
    return sorted({r.category for r in found})


def application_for(
    c: Connection,
    policy: Policy,
    person: dict[str, Any] | None,
    name: str,
    id_number: str,
    paid_on: dt.date,
    new_person: dict[str, Any] | None,
    situation: str = "regular",
) -> dict[str, Any]:
    """The quote contract's application for `person` (the registered row, or None): last year's enrollee
    (:func:`canbao.services.last_year.enrolled_last_year`: in the registry or on last year's roster) from the
    registry, anyone else from `new_person` (county, residency, optional categories and household_role).

    Either way a registered person carries what the department lists certify on the payment date (their
    identity categories and household role, 004 二(三)): a certified dibao person renewing pays the dibao
    amount, whatever the form says."""
    renewing = person is not None and enrolled_last_year(c, person["id"], policy.benefit_year)
    certified = certified_on(c, person["id"], paid_on, policy) if person is not None else Certified([], None)
    if renewing and person is not None:
        fields = {"county": person["county"], "residency": person["residency"]}
        categories, role = certified.categories, certified.household_role
    elif new_person:
        fields = {"county": new_person.get("county"), "residency": new_person.get("residency")}
        categories = sorted(set(new_person.get("categories") or []) | set(certified.categories))
        role = certified.household_role or new_person.get("household_role")
    else:
        raise InputError("person", f"{mask_id_number(id_number)} 上年度未参保，请按新参保填写县区和居民类型")
    person_fields: dict[str, Any] = {"id_number": id_number, "name": name, "categories": categories, **fields}
    if role is not None:
        person_fields["household_role"] = role
    return {"person": person_fields, "situation": situation, "paid_on": paid_on.isoformat()}


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
    """Renew last year's enrollee from the registry, or register a new one from `new_person` and enroll them
    (see :func:`application_for`)."""
    policy = load_policy(policy_id)
    with engine.connect() as c:
        person = find_person(c, id_number)
        if person is not None and person["name"] != name:
            raise InputError("name", f"姓名与身份证号码 {mask_id_number(id_number)} 的登记信息不一致")
        application = application_for(c, policy, person, name, id_number, paid_on, new_person)
    return pay(engine, Payment(policy_id, application, channel, txn_id, amount, channel_name=channel_name), actor)
