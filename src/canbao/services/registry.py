"""Persons: looked up and registered by resident ID number; name and ID number must agree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select

from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.store.tables import persons
from canbao.store.uow import now


def find_person(connection: Connection, id_number: str) -> dict[str, Any] | None:
    row = connection.execute(select(persons).where(persons.c.id_number == id_number)).mappings().first()
    return dict(row) if row else None


def register_person(
    connection: Connection,
    *,
    id_number: str,
    name: str | None,
    sex: str,
    birth_date: dt.date,
    county: str,
    residency: str,
    township: str | None = None,
    village: str | None = None,
    phone: str | None = None,
) -> dict[str, Any]:
    """The registered person with this ID number, registering a new one; refuses a name that disagrees."""
    existing = find_person(connection, id_number)
    if existing is not None:
        if name and existing["name"] != name:
            raise InputError(
                "person.name",
                f"姓名“{name}”与身份证号码 {mask_id_number(id_number)} 的登记姓名不一致",
            )
        return existing
    if not name:
        raise InputError("person.name", f"新登记人员 {mask_id_number(id_number)} 须填写姓名")
    values = {
        "id_number": id_number,
        "name": name,
        "sex": sex,
        "birth_date": birth_date,
        "county": county,
        "township": township,
        "village": village,
        "residency": residency,
        "phone": phone,
        "created_at": now(),
    }
    new_id = connection.execute(insert(persons).values(**values).returning(persons.c.id)).scalar_one()
    return {"id": new_id, **values}
