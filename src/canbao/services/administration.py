"""The county medical insurance bureau's administration in the portal (issue 14): accounts and the audit log.

Only `county_admin` manages accounts and reads the audit log. An administrator whose account has a county
adds accounts of that county only (the county is theirs whether or not the form says it). The audit log is
shown as it is stored: its subjects and details were redacted when written (store.uow.audit), so no full ID
number is in it to show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, desc, select

from canbao.clock import local_time
from canbao.services import accounts
from canbao.services.access import NotAllowed, Staff
from canbao.store.tables import audit_log

OUTCOME_LABELS = {"done": "完成", "refused": "拒绝", "replayed": "重复提交", "throttled": "限制登录",
                  "flagged": "待对账", "not_paid": "未支付，不入账"}  # fmt: skip


def _admin(staff: Staff, what: str) -> None:
    if staff.role != "county_admin":
        raise NotAllowed(f"只有县医保局管理员可以{what}")


def users_of(engine: Engine, staff: Staff) -> list[accounts.User]:
    """The accounts; an administrator with a county sees those of that county and those without one."""
    _admin(staff, "管理用户")
    return [u for u in accounts.list_users(engine) if staff.county is None or u.county in (None, staff.county)]


def add_user_as(
    engine: Engine,
    staff: Staff,
    *,
    username: str,
    role: str,
    password: str,
    now: dt.datetime,
    county: str | None = None,
    township: str | None = None,
    village: str | None = None,
    school: str | None = None,
    department: str | None = None,
) -> Staff:
    _admin(staff, "添加用户")
    if staff.county is not None:
        if county not in (None, "", staff.county):
            raise NotAllowed(f"只能添加本县（{staff.county}）的用户")
        county = staff.county
    return accounts.add_user(
        engine, username=username, role=role, password=password, county=county or None, township=township,
        village=village, school=school, department=department, actor=staff.actor, now=now,
    )  # fmt: skip


def _own_user(engine: Engine, staff: Staff, username: str, what: str) -> None:
    """An administrator acts on the accounts they see only (users_of: their county's)."""
    _admin(staff, what)
    if not any(u.username == username for u in users_of(engine, staff)):
        raise NotAllowed(f"没有用户 {username}（或不归您管理），不能{what}")


def disable_user_as(engine: Engine, staff: Staff, username: str, *, now: dt.datetime) -> int:
    _own_user(engine, staff, username, "停用用户")
    if username == staff.username:
        raise NotAllowed("不能停用自己的账户")
    return accounts.disable_user(engine, username, actor=staff.actor, now=now)


def enable_user_as(engine: Engine, staff: Staff, username: str, *, now: dt.datetime) -> bool:
    _own_user(engine, staff, username, "启用用户")
    return accounts.enable_user(engine, username, actor=staff.actor, now=now)


def set_password_as(engine: Engine, staff: Staff, username: str, password: str, *, now: dt.datetime) -> int:
    _own_user(engine, staff, username, "重设用户密码")
    return accounts.set_password(engine, username, password, actor=staff.actor, now=now)


def audit_lines(
    engine: Engine,
    staff: Staff,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest audit lines (before `before_id`, for the next page), filtered by actor, action, outcome."""
    _admin(staff, "查看审计日志")
    a = audit_log.c
    query = select(audit_log).order_by(desc(a.id)).limit(max(1, min(limit, 500)))
    for column, value in ((a.actor, actor), (a.action, action), (a.outcome, outcome)):
        if value:
            query = query.where(column == value)
    if before_id is not None:
        query = query.where(a.id < before_id)
    with engine.connect() as c:
        rows = c.execute(query).mappings().all()
    return [
        {
            "id": r["id"],
            "at": local_time(r["at"]).strftime("%Y-%m-%d %H:%M:%S"),
            "actor": r["actor"],
            "action": r["action"],
            "subject": r["subject"],
            "outcome": r["outcome"],
            "outcome_label": OUTCOME_LABELS.get(r["outcome"], r["outcome"]),
            "detail": r["detail"],
        }
        for r in rows
    ]
