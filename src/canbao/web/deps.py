"""What every route is handed (FastAPI dependencies): the engine, the clock, the signed-in staff, the CSRF check.

Routes take these as parameters (`staff: Staff = Depends(current_staff)`); tests replace them through
`app.dependency_overrides`. The session and CSRF parts are implemented with canbao.services.accounts."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from sqlalchemy import Engine

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


def current_staff(request: Request) -> Staff:
    """The member of staff of the request's session cookie; 401 for the API without a live session."""
    raise NotImplementedError("accounts: sessions")  # implemented with services.accounts (issue 14, H1)


def page_staff(request: Request) -> Staff:
    """As current_staff, for pages: without a live session, a redirect to /login?next=<the page>."""
    raise NotImplementedError("accounts: sessions")


def csrf_checked(request: Request) -> None:
    """Every state-changing request but the login: the session's CSRF token in the X-CSRF-Token header (API)
    or the csrf_token form field (pages); 403 otherwise."""
    raise NotImplementedError("accounts: csrf")
