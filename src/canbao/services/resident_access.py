"""How a resident is let in (issue 15): by name and ID number, with no account, throttled per address and per ID.

- `identify` finds the registered person when name and ID agree.  A registered ID under another name is refused
  with `NotRecognised`, whose words are the same as for an ID the resident cannot renew with: a wrong name
  says nothing about whether the ID is registered (the caller answers both the same way).
- `throttle` refuses (`TooManyAttempts`, 429) an address or an ID with too many attempts in the window.  Only
  the SHA-256 of an ID number is kept with an attempt, never the number.  Security settings, not policy (no
  notice speaks of them): an address is a whole village behind one carrier address at times, so its limit is
  generous; an ID's failures are few, so that a name cannot be guessed for a known ID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, and_, insert, select

from canbao.clock import stored_utc
from canbao.errors import CanbaoError, InputError
from canbao.ids import parse_id_numbers
from canbao.services.registry import find_person
from canbao.store.tables import resident_attempts
from canbao.store.uow import busy_is_refusal

WINDOW = dt.timedelta(minutes=15)
ADDRESS_ATTEMPTS = 300  # any resident call from one address within WINDOW
ID_FAILURES = 5  # name and ID that do not agree, per ID, within WINDOW
NOT_RECOGNISED = "姓名与身份证号码不一致，或该身份证号码不能在线办理；请核对后再试，或到乡镇（街道）医保经办窗口办理"


class TooManyAttempts(CanbaoError):
    """Too many attempts from the address or for the ID within the window; `retry_after_s` seconds to wait."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"操作过于频繁，请 {max(1, -(-retry_after_s // 60))} 分钟后再试")


class NotRecognised(InputError):
    """Name and ID number do not agree (the same words whether or not the ID is registered)."""

    def __init__(self) -> None:
        super().__init__("name", NOT_RECOGNISED)


def id_digest(id_number: str) -> str:
    return hashlib.sha256(id_number.encode("utf-8")).hexdigest()


def normalized_id(id_number: str, today: dt.date, field: str = "id_number") -> str:
    """The ID number checked (GB 11643) and normalized (upper-case X, 15 digits converted); InputError otherwise."""
    parsed = (
        pl.select(parse_id_numbers(pl.lit(id_number, dtype=pl.String), today).alias("p")).unnest("p").row(0, named=True)
    )
    if parsed["id_error"] is not None:
        raise InputError(field, str(parsed["id_error"]))
    return str(parsed["id_number"])


def _wait(times: list[dt.datetime], allowed: int, now: dt.datetime) -> int | None:
    if len(times) < allowed:
        return None
    frees = stored_utc(times[len(times) - allowed]) + WINDOW
    return max(1, int(-(-(frees - now).total_seconds() // 1)))


def _times(c: Connection, condition: Any, limit: int) -> list[dt.datetime]:
    """The newest `limit` attempts matching `condition`, oldest first."""
    newest = select(resident_attempts.c.at).where(condition).order_by(resident_attempts.c.at.desc()).limit(limit)
    return list(c.execute(newest).scalars())[::-1]


def throttle(engine: Engine, *, address: str, id_number: str | None, action: str, now: dt.datetime) -> None:
    """Refuse with TooManyAttempts when the address (any attempt) or the ID (its failures) is over its limit;
    otherwise record the attempt."""
    since = resident_attempts.c.at > now - WINDOW
    with engine.connect() as c:
        waits = [_wait(_times(c, and_(since, resident_attempts.c.address == address), ADDRESS_ATTEMPTS),
                       ADDRESS_ATTEMPTS, now)]  # fmt: skip
        if id_number:
            mine = and_(since, resident_attempts.c.id_sha256 == id_digest(id_number), resident_attempts.c.failed)
            waits.append(_wait(_times(c, mine, ID_FAILURES), ID_FAILURES, now))
    found = [w for w in waits if w]
    if found:
        raise TooManyAttempts(max(found))
    record_attempt(engine, address=address, id_number=id_number, action=action, failed=False, now=now)


def record_attempt(
    engine: Engine, *, address: str, id_number: str | None, action: str, failed: bool, now: dt.datetime
) -> None:
    with busy_is_refusal(), engine.begin() as c:
        c.execute(
            insert(resident_attempts).values(
                at=now, address=address[:64], id_sha256=id_digest(id_number) if id_number else None,
                action=action[:20], failed=failed,
            )
        )  # fmt: skip


def identify(connection: Connection, name: str, id_number: str) -> dict[str, Any] | None:
    """The registered person when name and ID agree; None when the ID is not registered; NotRecognised when it
    is registered under another name."""
    person = find_person(connection, id_number)
    if person is None:
        return None
    if person["name"] != name.strip():
        raise NotRecognised()
    return person


def checked_identity(
    engine: Engine, name: str, id_number: str, *, address: str, action: str, now: dt.datetime, today: dt.date
) -> tuple[str, dict[str, Any] | None]:
    """The throttled front door of every resident call: the normalized ID and the registered person (or None).
    A malformed ID or an empty name counts against the address; a name that disagrees is recorded as a failure
    for the ID (ID_FAILURES of them refuse the ID) before it is refused."""
    try:
        normalized = normalized_id(id_number, today)
        if not name.strip():
            raise InputError("name", "请填写姓名")
    except InputError:
        throttle(engine, address=address, id_number=None, action=action, now=now)
        raise
    throttle(engine, address=address, id_number=normalized, action=action, now=now)
    try:
        with engine.connect() as c:
            return normalized, identify(c, name, normalized)
    except NotRecognised:
        record_attempt(engine, address=address, id_number=normalized, action=action, failed=True, now=now)
        raise
