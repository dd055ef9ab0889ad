"""Shared helpers: build applications with valid ID numbers and quote them on a fixed 'today'."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from canbao.ids import make_id_number
from canbao.quote import quote, refund_quote

TODAY = dt.date(2026, 11, 23)
_seq = itertools.count(1)


def application(
    county: str,
    birth: str,
    situation: str,
    paid_on: str,
    categories: list[str] | None = None,
    residency: str = "local_hukou",
    **person: Any,
) -> dict[str, Any]:
    id_number = make_id_number(county, dt.date.fromisoformat(birth), next(_seq) % 1000)
    return {
        "person": {
            "id_number": id_number,
            "name": "测试",
            "county": county,
            "residency": residency,
            "categories": categories or [],
            **person,
        },
        "situation": situation,
        "paid_on": paid_on,
    }


def q(policy_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return quote(policy_id, application(*args, **kwargs), today=TODAY)


def rq(policy_id: str, app: dict[str, Any], requested_on: str, reason: str, **extra: Any) -> dict[str, Any]:
    return refund_quote(policy_id, {**app, "requested_on": requested_on, "reason": reason, **extra}, today=TODAY)
