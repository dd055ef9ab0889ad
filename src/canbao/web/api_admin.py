"""用户管理 and 审计日志 in the JSON API (county_admin only: services.administration)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.clock import local_time
from canbao.services import administration
from canbao.services.access import Staff
from canbao.vocabulary import ROLE_LABELS
from canbao.web.deps import csrf_checked, current_staff, get_engine, get_now

router = APIRouter(prefix="/api/v1", tags=["用户管理与审计日志"])
SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]
Now = Annotated[dt.datetime, Depends(get_now)]


class NewUser(BaseModel):
    username: str = Field(description="2–32 个英文字母、数字或 _ . -")
    role: str = Field(description="county_admin、tax、township、village、school、department")
    password: str = Field(description="至少 10 个字符")
    county: str | None = None
    township: str | None = None
    village: str | None = None
    school: str | None = None
    department: str | None = None


def _user(u: Any) -> dict[str, Any]:
    row = dataclasses.asdict(u)
    row["role_label"] = ROLE_LABELS.get(u.role, u.role)
    row["area"] = u.area
    row["created_at"] = local_time(u.created_at).strftime("%Y-%m-%d %H:%M")
    row["disabled_at"] = local_time(u.disabled_at).strftime("%Y-%m-%d %H:%M") if u.disabled_at else None
    return row


@router.get("/users", summary="用户列表")
def users(staff: SignedIn, engine: Database) -> dict[str, Any]:
    return {"items": [_user(u) for u in administration.users_of(engine, staff)]}


@router.post("/users", status_code=201, dependencies=[Depends(csrf_checked)], summary="添加用户")
def add_user(body: NewUser, staff: SignedIn, engine: Database, now: Now) -> dict[str, Any]:
    added = administration.add_user_as(engine, staff, now=now, **body.model_dump())
    return {"username": added.username, "role": added.role, "area": added.area_label}


@router.post("/users/{username}/disable", status_code=204, dependencies=[Depends(csrf_checked)], summary="停用用户")
def disable_user(username: str, staff: SignedIn, engine: Database, now: Now) -> Response:
    administration.disable_user_as(engine, staff, username, now=now)
    return Response(status_code=204)


@router.post("/users/{username}/enable", status_code=204, dependencies=[Depends(csrf_checked)], summary="启用用户")
def enable_user(username: str, staff: SignedIn, engine: Database, now: Now) -> Response:
    administration.enable_user_as(engine, staff, username, now=now)
    return Response(status_code=204)


class NewPassword(BaseModel):
    password: str = Field(description="新密码，至少 10 个字符")


@router.post(
    "/users/{username}/password", status_code=204, dependencies=[Depends(csrf_checked)], summary="重设用户密码"
)
def set_password(username: str, body: NewPassword, staff: SignedIn, engine: Database, now: Now) -> Response:
    """忘记密码时由管理员重设：该用户已登录的会话全部结束，此前输错密码的次数不再计入登录限制。"""
    administration.set_password_as(engine, staff, username, body.password, now=now)
    return Response(status_code=204)


@router.get("/audit", summary="审计日志（最新在前；before_id 取下一页）")
def audit(
    staff: SignedIn,
    engine: Database,
    actor: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    outcome: Annotated[str | None, Query()] = None,
    before_id: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    lines = administration.audit_lines(
        engine, staff, actor=actor, action=action, outcome=outcome, before_id=before_id, limit=limit
    )
    return {"items": lines, "next_before_id": lines[-1]["id"] if len(lines) == limit else None}
