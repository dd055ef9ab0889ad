"""Open online orders in bulk, for the notification benchmarks and tests (issue 15): one new resident each of
灵璧 (341323, its 2022 campaign), written straight into `orders` and `order_persons` — the order path itself
(services.orders) takes one resident at a time, with its quotes and throttles."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, func, insert, select

from canbao.ids import make_id_number
from canbao.store.tables import order_persons, orders

POLICY, COUNTY, TODAY = "anhui/suzhou/lingbi/2022", "341323", dt.date(2021, 12, 20)
AMOUNT = 32000  # a new resident's 2022 contribution there, in fen


def open_orders(
    engine: Engine, count: int, *, start: int = 0, prefix: str = "CBBENCH", channel: str = "wx"
) -> list[str]:
    """`count` open orders of WeChat Pay channel `channel`, one new resident each (ID numbers from `start`);
    their out_trade_no, `prefix` + 19 digits."""
    now = dt.datetime.now(dt.UTC)
    numbers = [f"{prefix}{start + i:019d}" for i in range(count)]
    rows: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    with engine.begin() as c:
        first = c.execute(select(func.coalesce(func.max(orders.c.id), 0))).scalar_one() + 1
        for i, number in enumerate(numbers):
            k = start + i
            id_number = make_id_number(COUNTY, dt.date(1950, 1, 1) + dt.timedelta(days=k // 900), k % 900)
            rows.append(
                {"id": first + i, "out_trade_no": number, "channel": channel, "channel_kind": "wechatpay_v3",
                 "policy": POLICY, "benefit_year": 2022, "payer_id_number": id_number, "amount_fen": AMOUNT,
                 "status": "open", "token_sha256": "0" * 64, "created_at": now}
            )  # fmt: skip
            person = {"id_number": id_number, "name": "居民", "county": COUNTY, "residency": "local_hukou",
                      "categories": []}  # fmt: skip
            application = {"person": person, "situation": "regular", "paid_on": TODAY.isoformat()}
            people.append(
                {"order_id": first + i, "seq": 1, "id_number": id_number, "name": "居民",
                 "application": json.dumps(application, ensure_ascii=False), "township": "灵城镇",
                 "village": "城东社区", "phone": None, "amount_fen": AMOUNT}
            )  # fmt: skip
        for part in range(0, count, 5000):
            c.execute(insert(orders), rows[part : part + 5000])
            c.execute(insert(order_persons), people[part : part + 5000])
    return numbers
