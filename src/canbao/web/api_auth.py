"""Login, logout and who is signed in: `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/me`.

The login sets the session cookie `canbao_session` (HttpOnly, SameSite=Strict, Path=/, Secure over https) and
answers the session's CSRF token, which every state-changing call but the login sends back as the header
X-CSRF-Token (or, from a page's form, the field csrf_token).  The login itself needs no CSRF token: a browser
sends an Origin header with a cross-site POST, and a foreign one is refused (403); the throttle
(services.accounts) stands against guessing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.services.access import Staff
from canbao.web.deps import SESSION_COOKIE, csrf_checked, current_staff, get_engine, get_now

router = APIRouter(prefix="/api/v1", tags=["登录"])

FOREIGN_ORIGIN = "请求来源（Origin）不是本站，已拒绝登录"
DEFAULT_PORTS = {"http": 80, "https": 443}


class Login(BaseModel):
    username: str = Field(description="用户名")
    password: str = Field(description="密码")


class Signed(BaseModel):
    """The signed-in member of staff and the session's CSRF token."""

    username: str = Field(description="用户名")
    role: str = Field(description="角色：county_admin、tax、township、village、school、department")
    area: str = Field(description="角色和区域，如 乡镇（街道） · 榴城镇")
    csrf_token: str = Field(description="本会话的 CSRF 令牌：修改数据的请求以请求头 X-CSRF-Token 带上")


class Refusal(BaseModel):
    detail: str


def _signed(staff: Staff, csrf_token: str) -> Signed:
    return Signed(username=staff.username, role=staff.role, area=staff.area_label, csrf_token=csrf_token)


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else DEFAULT_PORTS.get(scheme, 0)


def same_origin(request: Request) -> bool:
    """No Origin header (not a browser's cross-site request), or one naming this host and port."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in DEFAULT_PORTS:  # "null" (a sandboxed frame, a file) or anything else
        return False
    mine = _host_port(request.headers.get("host", ""), request.url.scheme)
    theirs = _host_port(parts.netloc, parts.scheme)
    return mine is not None and mine == theirs


CROSS_SITE = "请求来源（Origin）不是本站，已拒绝"


def cross_site_refusal(request: Request) -> JSONResponse | None:
    """403 for a browser's cross-site POST to a call that takes no CSRF token (the residents' calls, which have
    no session); None for this site's pages and for callers that are not browsers."""
    return None if same_origin(request) else JSONResponse({"detail": CROSS_SITE}, status_code=403)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
    Path=/, Secure when the request came over https; a browser session's cookie (no Max-Age)."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/", secure=_secure(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))


@router.post(
    "/login",
    response_model=Signed,
    responses={
        401: {"model": Refusal, "description": "用户名或密码错误，或账户已停用"},
        403: {"model": Refusal, "description": "Origin 请求头不是本站"},
        429: {"model": Refusal, "description": "登录失败次数过多；Retry-After 给出需等待的秒数"},
    },
    summary="登录",
)
def login(
    body: Login,
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    now: Annotated[dt.datetime, Depends(get_now)],
) -> Response:
    """用户名和密码登录：成功时设置会话 Cookie（canbao_session）并返回本会话的 CSRF 令牌。"""
    from canbao.services.accounts import LoginRefused, LoginThrottled, authenticate, close_session, open_session

    if not same_origin(request):
        return JSONResponse({"detail": FOREIGN_ORIGIN}, status_code=403)
    address = client_address(request)
    try:
        staff = authenticate(engine, body.username, body.password, address=address, now=now)
    except LoginThrottled as exc:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    except LoginRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a browser logging in again (as someone else, perhaps) leaves no session behind
        close_session(engine, previous, now=now)
    token, csrf_token = open_session(engine, staff, address=address, now=now)
    response = JSONResponse(_signed(staff, csrf_token).model_dump())
    set_session_cookie(response, request, token)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(
    "/logout",
    status_code=204,
    responses={401: {"model": Refusal}, 403: {"model": Refusal, "description": "缺少或错误的 CSRF 令牌"}},
    summary="退出登录",
    dependencies=[Depends(csrf_checked)],
)
def logout(
    request: Request, engine: Annotated[Engine, Depends(get_engine)], now: Annotated[dt.datetime, Depends(get_now)]
) -> Response:
    """结束本会话（需 X-CSRF-Token），并清除会话 Cookie。"""
    from canbao.services.accounts import close_session

    close_session(engine, request.cookies.get(SESSION_COOKIE, ""), now=now)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response


@router.get("/me", response_model=Signed, responses={401: {"model": Refusal}}, summary="当前登录用户")
def me(request: Request, staff: Annotated[Staff, Depends(current_staff)]) -> Signed:
    """当前会话的用户、角色、区域和 CSRF 令牌（与登录的返回相同）。"""
    return _signed(staff, getattr(request.state, "csrf_token", ""))
