"""Housekeeping: rows kept only for a while, deleted once nothing reads them.

- `resident_attempts`: every resident call (services.resident_access), for the throttles; read over its
  WINDOW only.  In December that is a row for every page a resident opens: kept longer, only the table grows.
- `login_attempts`: the staff's login throttle (services.accounts); read over THROTTLE_WINDOW only (the audit
  log keeps every login for the record).
- `web_sessions`: a session is dead SESSION_LIFETIME after its login at the latest, hence once it has not been
  seen that long.

`Housekeeper` runs `purge` every EVERY_S in a serving process (beside the applier: web.app.PaymentWork)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, delete

from canbao.services.accounts import SESSION_LIFETIME, THROTTLE_WINDOW
from canbao.services.periodic import Periodic
from canbao.services.resident_access import WINDOW
from canbao.store.tables import login_attempts, resident_attempts, web_sessions
from canbao.store.uow import audit, busy_is_refusal


@dataclass(frozen=True)
class Purged:
    resident_attempts: int
    login_attempts: int
    web_sessions: int


def purge(engine: Engine, *, now: dt.datetime, actor: str = "system:housekeeping") -> Purged:
    """Delete what the throttles and sessions no longer read (module docstring), in one transaction; an audit
    line when anything went."""
    with busy_is_refusal(), engine.begin() as c:
        purged = Purged(
            c.execute(delete(resident_attempts).where(resident_attempts.c.at < now - WINDOW)).rowcount,
            c.execute(delete(login_attempts).where(login_attempts.c.at < now - THROTTLE_WINDOW)).rowcount,
            c.execute(delete(web_sessions).where(web_sessions.c.last_seen_at < now - SESSION_LIFETIME)).rowcount,
        )
    if any((purged.resident_attempts, purged.login_attempts, purged.web_sessions)):
        detail = (
            f"居民访问记录 {purged.resident_attempts} 条，登录尝试 {purged.login_attempts} 条，"
            f"已失效会话 {purged.web_sessions} 个"
        )
        audit(engine, actor, "purge", None, "done", detail)
    return purged


class Housekeeper(Periodic):
    """A thread of a serving process that runs `purge` every EVERY_S."""

    EVERY_S = 600.0
    NAME = "canbao-housekeeping"

    def round(self) -> None:
        purge(self.engine, now=self.clock())
