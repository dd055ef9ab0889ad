"""What every route is handed (FastAPI dependencies): the engine, the clock, the signed-in staff, the CSRF check.

Routes take these as parameters (`staff: Staff = Depends(current_staff)`); tests replace them through
`app.dependency_overrides`. The session and CSRF parts are implemented with canbao.services.accounts."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader
from sqlalchemy import Engine

from canbao.bootstrap import Settings
from canbao.errors import InputError
from canbao.services.access import Staff


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_now(request: Request) -> dt.datetime:
    """The time now (aware, UTC): the app's clock, replaceable in tests (an idle timeout, a throttle)."""
    now: dt.datetime = request.app.state.clock()
    return now


def get_today(request: Request) -> dt.date:
    """The campaign's today: the settings' fixed day (demos, tests) or the date in Asia/Shanghai."""
    from canbao.clock import campaign_date

    fixed: dt.date | None = request.app.state.settings.fixed_today
    return fixed or campaign_date(get_now(request))


SESSION_COOKIE = "canbao_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_FIRST = "请先登录"
CSRF_REFUSED = "请求缺少有效的 CSRF 令牌（请求头 X-CSRF-Token），请刷新页面后重试"

# For the OpenAPI document only (the values are read from the request below): the session cookie and the CSRF
# header, so that /api/docs says which calls need which.
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    auto_error=False,
    description="登录（POST /api/v1/login）后由服务器设置的会话 Cookie（HttpOnly，SameSite=Strict）",
)
csrf_header = APIKeyHeader(
    name=CSRF_HEADER,
    scheme_name="csrf",
    auto_error=False,
    description="会话的 CSRF 令牌：登录或 GET /api/v1/me 返回的 csrf_token；除登录外每个修改数据的请求都须带上",
)


def idle_timeout(request: Request) -> dt.timedelta:
    settings: Settings = request.app.state.settings
    return dt.timedelta(minutes=settings.session_idle_minutes)


def live_session(request: Request) -> Staff | None:
    """The staff of the request's live session (once per request), with request.state.staff and
    request.state.csrf_token set; None without one (also for a page anyone may open, such as /api/docs)."""
    if getattr(request.state, "staff", None) is not None:
        staff: Staff = request.state.staff
        return staff
    from canbao.services.accounts import session_staff

    token = request.cookies.get(SESSION_COOKIE, "")
    found = (
        session_staff(get_engine(request), token, now=get_now(request), idle=idle_timeout(request)) if token else None
    )
    if found is None:
        return None
    request.state.staff, request.state.csrf_token = found
    return found[0]


def current_staff(request: Request, _session: Annotated[str | None, Security(session_cookie)] = None) -> Staff:
    """The member of staff of the request's session cookie; 401 for the API without a live session."""
    staff = live_session(request)
    if staff is None:
        raise HTTPException(status_code=401, detail=LOGIN_FIRST)
    return staff


def page_staff(request: Request, _session: Annotated[str | None, Security(session_cookie)] = None) -> Staff:
    """As current_staff, for pages: without a live session, a redirect to /login?next=<the page>."""
    staff = live_session(request)
    if staff is None:
        raise HTTPException(status_code=303, headers={"Location": f"/login?next={quote(request.url.path, safe='/')}"})
    return staff


async def csrf_checked(
    request: Request,
    _staff: Annotated[Staff, Depends(current_staff)],
    _header: Annotated[str | None, Security(csrf_header)] = None,
) -> None:
    """Every state-changing request but the login: the session's CSRF token in the X-CSRF-Token header (API)
    or the csrf_token form field (pages); 403 otherwise."""
    expected: str | None = getattr(request.state, "csrf_token", None)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)


def safe_next(target: str | None, default: str = "/") -> str:
    """Where a login page may send the browser afterwards (its `next`): a path of this site only — never
    another site (`//evil.example/`, `https://…`, `/\\evil`) nor a control character."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in target):
        return default
    return target


def iso_date(text: str, field: str) -> dt.date:
    """A date the API was given as YYYY-MM-DD; InputError naming `field` otherwise."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(field, f"应为日期 YYYY-MM-DD，而不是“{text}”") from None
