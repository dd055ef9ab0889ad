"""Accounts of the staff portal (issue 14): users, passwords, logins and their throttle, browser sessions.

- A user has a role (vocabulary `Role`) and the area the role is scoped to (services.access): a township, a
  village of a township, a school, a certifying department; a county code optionally for any role.  Users
  are added and disabled by the command line (`canbao users`), never deleted.
- Passwords are hashed with Argon2id (argon2-cffi's PasswordHasher, its RFC 9106 defaults) and rehashed at
  login when those defaults change.  A login naming no user still verifies one hash, so the answer's timing
  does not tell which names exist; wrong name, wrong password and a disabled account's wrong password are
  one answer (用户名或密码错误); a disabled account is named only to someone who typed its password.
- Logins are throttled per account and per address (see the constants below): over the limit every attempt
  is refused, a correct password too, until the window has passed; throttled attempts do not prolong it.
  Every attempt is a row of `login_attempts` and an audit line `login` (done, refused or throttled).
- A session is a random token in the browser's cookie; the database keeps only its SHA-256, with the
  session's CSRF token.  It dies at logout, after `idle` without a request, 12 hours after login, and when its
  user is disabled or given a new password.
- An administrator enables a disabled account again (`enable_user`) and sets a new password for one whose user
  forgot it (`set_password`): the throttle then counts only the failures after it.

Everything here takes the engine, the actor and the time as arguments (no environment, no clock).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from canbao.clock import stored_utc
from canbao.errors import CanbaoError, InputError
from canbao.ids import redact_id_numbers
from canbao.services.access import Staff
from canbao.store.tables import login_attempts, users, web_sessions
from canbao.store.uow import audit, busy_is_refusal
from canbao.vocabulary import DEPARTMENT_LABELS, ROLE_LABELS, Role

# Login throttle.  Security settings, not policy (no notice speaks of them): at most ACCOUNT_FAILURES wrong
# passwords for one account, and ADDRESS_FAILURES from one address (an office behind one NAT shares it),
# within THROTTLE_WINDOW; beyond that, every login is refused until the oldest counted failure leaves the
# window.  An account's count starts again after its successful login.
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
THROTTLE_WINDOW = dt.timedelta(minutes=15)

# A session's absolute lifetime, however active it is (a security setting: a stolen cookie dies within it).
SESSION_LIFETIME = dt.timedelta(hours=12)
# last_seen_at is written at most this often: one write per request would queue every page behind SQLite's
# single writer.  The idle timeout is therefore counted from a request up to this much older.
SEEN_EVERY = dt.timedelta(minutes=1)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # longer is refused at add and never verified at login (hashing megabytes costs time)
USERNAME = re.compile(r"[A-Za-z0-9_.\-]{2,32}")
COUNTY = re.compile(r"[0-9]{6}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PLACE = 40  # as the imports' school names (services.imports)
RECORDED_NAME = 40  # a typed login name is recorded (login_attempts, the audit log's subject) up to this long

REFUSED = "用户名或密码错误"
DISABLED = "账户已停用，请联系县医保局"

ROLES: tuple[str, ...] = get_args(Role)
# The area options each role takes (county is optional for every role; the others marked True are required).
AREA_OPTIONS: dict[str, dict[str, bool]] = {
    "county_admin": {},
    "tax": {},
    "township": {"township": True},
    "village": {"township": True, "village": True},
    "school": {"school": True},
    "department": {"department": True},
}
AREA_WORDS = {
    "county": "县（区）代码",
    "township": "乡镇（街道）",
    "village": "村（社区）",
    "school": "学校",
    "department": "认定部门",
}

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (argon2-cffi's defaults)


class LoginRefused(CanbaoError):
    """Wrong name or password (one message for both), or a disabled account whose password was right."""


class LoginThrottled(CanbaoError):
    """Too many failures for the account or the address within the window; `retry_after` seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, -(-retry_after // 60))
        super().__init__(f"登录失败次数过多，请 {minutes} 分钟后再试")


@dataclass(frozen=True)
class User:
    """A row of `canbao users list`."""

    username: str
    role: str
    county: str | None
    township: str | None
    village: str | None
    school: str | None
    department: str | None
    disabled: bool
    created_at: dt.datetime
    created_by: str
    disabled_at: dt.datetime | None

    @property
    def area(self) -> str:
        """The area as a person reads it: 340322 · 榴城镇 · 某村, a school, 民政局; 全部 for a county role with no
        county (the whole registry of this database)."""
        department = DEPARTMENT_LABELS.get(self.department or "", self.department)
        parts = [p for p in (self.county, self.township, self.village, self.school, department) if p]
        return " · ".join(parts) if parts else "全部"


@dataclass(frozen=True)
class DemoPlaces:
    """Where the demo's accounts work: places present in the demo county's data."""

    county: str
    township: str
    village: str  # a village of `township`
    school: str  # a school of the schools' rosters
    department: str  # a vocabulary Department id with a list imported


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _place(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if CONTROL.search(value) or len(value) > MAX_PLACE or value[0] in "=+-@":
        raise InputError(field, f"{AREA_WORDS[field]}名称应为不超过 {MAX_PLACE} 个字、不含控制字符的文字")
    return value


def department_id(value: str) -> str:
    """A vocabulary Department id from its id (civil_affairs) or its Chinese label (民政局; 乡村振兴局 for
    乡村振兴局（农业农村局））."""
    value = value.strip()
    if value in DEPARTMENT_LABELS:
        return value
    for key, label in DEPARTMENT_LABELS.items():
        if value in (label, label.split("（")[0]):
            return key
    known = "、".join(f"{key}（{label}）" for key, label in DEPARTMENT_LABELS.items())
    raise InputError("department", f"未知的认定部门“{value}”，可选：{known}")


def _check_area(role: str, county: str | None, places: dict[str, str | None]) -> dict[str, str | None]:
    if county is not None and not COUNTY.fullmatch(county.strip()):
        raise InputError("county", f"县（区）应为 6 位行政区划代码，而不是“{county}”")
    area: dict[str, str | None] = {"county": county.strip() if county else None}
    options = AREA_OPTIONS[role]
    label = f"{role}（{ROLE_LABELS[role]}）"
    for field, value in places.items():
        cleaned = _place(field, value)
        if cleaned is not None and field not in options:
            raise InputError(field, f"角色 {label}不按{AREA_WORDS[field]}划分区域，请去掉该选项")
        if cleaned is None and options.get(field):
            raise InputError(field, f"角色 {label}须指定{AREA_WORDS[field]}")
        area[field] = department_id(cleaned) if field == "department" and cleaned else cleaned
    return area


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError("password", f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > MAX_PASSWORD:
        raise InputError("password", f"密码不能超过 {MAX_PASSWORD} 个字符")
    if "\x00" in password:
        raise InputError("password", "密码不能含有空字符（NUL）")


def add_user(
    engine: Engine,
    *,
    username: str,
    role: str,
    password: str,
    county: str | None = None,
    township: str | None = None,
    village: str | None = None,
    school: str | None = None,
    department: str | None = None,
    actor: str,
    now: dt.datetime,
) -> Staff:
    """A new account; refused (InputError naming the field) for a bad name, role, area or password, or a
    name already taken.  Audited as `user_add`."""
    now = stored_utc(now).astimezone(dt.UTC)
    if not USERNAME.fullmatch(username):
        raise InputError("username", "用户名应为 2–32 个英文字母、数字或 _ . - 字符")
    if role not in ROLES:
        known = "、".join(f"{r}（{ROLE_LABELS[r]}）" for r in ROLES)
        raise InputError("role", f"未知的角色“{role}”，可选：{known}")
    area = _check_area(
        role, county, {"township": township, "village": village, "school": school, "department": department}
    )
    check_password(password)
    hashed = HASHER.hash(_secret(password))
    try:
        with busy_is_refusal(), engine.begin() as c:
            taken = c.execute(select(users.c.id).where(users.c.username == username)).first()
            if taken is not None:
                raise InputError("username", f"用户名 {username} 已存在")
            user_id = c.execute(
                insert(users)
                .values(
                    username=username,
                    role=role,
                    password_hash=hashed,
                    disabled=False,
                    created_at=now,
                    created_by=actor,
                    **area,
                )
                .returning(users.c.id)
            ).scalar_one()
    except IntegrityError:  # the same name added at the same moment by another command
        raise InputError("username", f"用户名 {username} 已存在") from None
    staff = Staff(user_id, username, role, **area)  # type: ignore[arg-type]
    audit(engine, actor, "user_add", username, "done", f"角色 {role}；区域 {_area_text(area)}")
    return staff


def _area_text(area: dict[str, str | None]) -> str:
    return " · ".join(v for v in area.values() if v) or "全部"


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as c:
        rows = c.execute(select(users).order_by(users.c.username)).mappings().all()
    return [
        User(
            username=r["username"],
            role=r["role"],
            county=r["county"],
            township=r["township"],
            village=r["village"],
            school=r["school"],
            department=r["department"],
            disabled=bool(r["disabled"]),
            created_at=stored_utc(r["created_at"]),
            created_by=r["created_by"],
            disabled_at=stored_utc(r["disabled_at"]) if r["disabled_at"] else None,
        )
        for r in rows
    ]


def _account(c: Connection, username: str) -> Any:
    """The account's row (id, disabled), InputError when there is none."""
    row = c.execute(select(users.c.id, users.c.disabled).where(users.c.username == username)).first()
    if row is None:
        raise InputError("username", f"没有用户 {username}")
    return row


def _end_sessions(c: Connection, user_id: int, now: dt.datetime) -> int:
    """End every live session of the account; how many there were."""
    return int(
        c.execute(
            update(web_sessions)
            .where(web_sessions.c.user_id == user_id, web_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        ).rowcount
    )


def disable_user(engine: Engine, username: str, *, actor: str, now: dt.datetime) -> int:
    """Disable the account and end all its sessions (returns how many were live). Disabling a disabled
    account changes nothing. Audited as `user_disable`."""
    now = stored_utc(now).astimezone(dt.UTC)
    with busy_is_refusal(), engine.begin() as c:
        row = _account(c, username)
        if not row.disabled:
            c.execute(update(users).where(users.c.id == row.id).values(disabled=True, disabled_at=now))
        ended = _end_sessions(c, row.id, now)
    audit(engine, actor, "user_disable", username, "done", f"结束会话 {ended} 个")
    return ended


def enable_user(engine: Engine, username: str, *, actor: str, now: dt.datetime) -> bool:
    """Enable a disabled account again (it logs in with its password; its old sessions stay ended); returns
    whether it was disabled.  Audited as `user_enable`."""
    with busy_is_refusal(), engine.begin() as c:
        row = _account(c, username)
        if row.disabled:
            c.execute(update(users).where(users.c.id == row.id).values(disabled=False, disabled_at=None))
    audit(engine, actor, "user_enable", username, "done", "已启用" if row.disabled else "本来就是启用的")
    return bool(row.disabled)


def set_password(engine: Engine, username: str, password: str, *, actor: str, now: dt.datetime) -> int:
    """An administrator's reset of a forgotten password: the new one (checked as a new account's), every live
    session of the account ended, and the login throttle's count of its failures started afresh; returns how
    many sessions were live.  Audited as `user_password` (never the password)."""
    check_password(password)
    now = stored_utc(now).astimezone(dt.UTC)
    hashed = HASHER.hash(_secret(password))
    with busy_is_refusal(), engine.begin() as c:
        row = _account(c, username)
        c.execute(update(users).where(users.c.id == row.id).values(password_hash=hashed, password_set_at=now))
        ended = _end_sessions(c, row.id, now)
    audit(engine, actor, "user_password", username, "done", f"已重设密码，结束会话 {ended} 个")
    return ended


def _staff(row: Any) -> Staff:
    return Staff(
        user_id=row.id,
        username=row.username,
        role=row.role,
        county=row.county,
        township=row.township,
        village=row.village,
        school=row.school,
        department=row.department,
    )


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of nothing anyone can type, with the hasher's parameters: verified for a name with no user."""
    return hasher.hash(secrets.token_urlsafe(32))


def _secret(password: str) -> bytes:
    """The password's bytes for Argon2: UTF-8, a lone surrogate (JSON allows one) kept rather than refused."""
    return password.encode("utf-8", "surrogatepass")


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, _secret(password))
    except (VerificationError, InvalidHashError):
        return False


def _retry_after(failures: list[dt.datetime], allowed: int, now: dt.datetime) -> int | None:
    """Seconds until fewer than `allowed` of `failures` (inside the window, oldest first) remain in it; None
    when there are fewer already."""
    if len(failures) < allowed:
        return None
    frees = stored_utc(failures[len(failures) - allowed]) + THROTTLE_WINDOW
    return max(1, int(-(-(frees - now).total_seconds() // 1)))


def _throttle(engine: Engine, username: str, address: str, now: dt.datetime) -> int | None:
    since = now - THROTTLE_WINDOW
    failed = and_(
        login_attempts.c.at > since, login_attempts.c.succeeded.is_(False), login_attempts.c.throttled.is_(False)
    )
    with engine.connect() as c:
        last_success = c.execute(
            select(func.max(login_attempts.c.at)).where(
                login_attempts.c.username == username,
                login_attempts.c.succeeded.is_(True),
                login_attempts.c.at > since,
            )
        ).scalar()
        reset = c.execute(select(users.c.password_set_at).where(users.c.username == username)).scalar()
        account = select(login_attempts.c.at).where(failed, login_attempts.c.username == username)
        for after in (last_success, reset):  # the failures since the last login or a new password
            if after is not None:
                account = account.where(login_attempts.c.at > after)
        by_account = list(c.execute(account.order_by(login_attempts.c.at)).scalars())
        by_address = list(
            c.execute(
                select(login_attempts.c.at)
                .where(failed, login_attempts.c.address == address)
                .order_by(login_attempts.c.at)
            ).scalars()
        )
    waits = [
        w
        for w in (_retry_after(by_account, ACCOUNT_FAILURES, now), _retry_after(by_address, ADDRESS_FAILURES, now))
        if w is not None
    ]
    return max(waits) if waits else None


def _record(
    engine: Engine, username: str, address: str, now: dt.datetime, *, succeeded: bool, throttled: bool = False
) -> None:
    with busy_is_refusal(), engine.begin() as c:
        c.execute(
            insert(login_attempts).values(
                username=username, address=address, at=now, succeeded=succeeded, throttled=throttled
            )
        )


def authenticate(engine: Engine, username: str, password: str, *, address: str, now: dt.datetime) -> Staff:
    """The member of staff whose name and password these are, or LoginRefused / LoginThrottled."""
    now = stored_utc(now).astimezone(dt.UTC)
    # As recorded: never a full ID number, a control character or a lone surrogate (a name that had one is
    # then no user's name).
    name = redact_id_numbers(CONTROL.sub("?", username)).encode("utf-8", "replace").decode("utf-8")
    name = redact_id_numbers(name[:RECORDED_NAME])
    address = (address or "unknown")[:64]
    wait = _throttle(engine, name, address, now)
    if wait is not None:
        _record(engine, name, address, now, succeeded=False, throttled=True)
        audit(engine, name or "-", "login", name, "throttled", f"地址 {address}；{wait} 秒后可再试")
        raise LoginThrottled(wait)
    with engine.connect() as c:
        row = c.execute(select(users).where(users.c.username == username)).first() if name == username else None
    if row is None or len(password) > MAX_PASSWORD:
        _verify(_dummy_hash(HASHER), password[:MAX_PASSWORD])  # the same cost as a real account's
        right = False
    else:
        right = _verify(row.password_hash, password)
    if not right or row is None:
        _record(engine, name, address, now, succeeded=False)
        audit(engine, name or "-", "login", name, "refused", f"地址 {address}；用户名或密码错误")
        raise LoginRefused(REFUSED)
    if row.disabled:
        _record(engine, name, address, now, succeeded=False)
        audit(engine, name, "login", name, "refused", f"地址 {address}；账户已停用")
        raise LoginRefused(DISABLED)
    if HASHER.check_needs_rehash(row.password_hash):
        with busy_is_refusal(), engine.begin() as c:
            c.execute(update(users).where(users.c.id == row.id).values(password_hash=HASHER.hash(_secret(password))))
    _record(engine, name, address, now, succeeded=True)
    audit(engine, name, "login", name, "done", f"地址 {address}")
    return _staff(row)


def open_session(engine: Engine, staff: Staff, *, address: str, now: dt.datetime) -> tuple[str, str]:
    """A new session for `staff`: (the cookie's token, the session's CSRF token)."""
    now = stored_utc(now).astimezone(dt.UTC)
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with busy_is_refusal(), engine.begin() as c:
        c.execute(
            insert(web_sessions).values(
                token_hash=_token_hash(token),
                user_id=staff.user_id,
                csrf_token=csrf_token,
                address=(address or "unknown")[:64],
                created_at=now,
                last_seen_at=now,
            )
        )
    return token, csrf_token


def session_staff(engine: Engine, token: str, *, now: dt.datetime, idle: dt.timedelta) -> tuple[Staff, str] | None:
    """The staff and CSRF token of a live session, or None: unknown token, ended, idle longer than `idle`,
    older than SESSION_LIFETIME, or its user disabled."""
    if not token or len(token) > 256:
        return None
    now = stored_utc(now).astimezone(dt.UTC)
    query = (
        select(
            users,
            web_sessions.c.id.label("session_id"),
            web_sessions.c.csrf_token,
            web_sessions.c.created_at.label("opened_at"),
            web_sessions.c.last_seen_at,
            web_sessions.c.ended_at,
        )
        .join(users, users.c.id == web_sessions.c.user_id)
        .where(web_sessions.c.token_hash == _token_hash(token))
    )
    with engine.connect() as c:
        row = c.execute(query).first()
    if row is None or row.ended_at is not None or row.disabled:
        return None
    seen = stored_utc(row.last_seen_at)
    if now - seen > idle or now - stored_utc(row.opened_at) > SESSION_LIFETIME:
        return None
    if now - seen >= SEEN_EVERY:
        with busy_is_refusal(), engine.begin() as c:
            c.execute(
                update(web_sessions)
                .where(web_sessions.c.id == row.session_id, web_sessions.c.last_seen_at < now)
                .values(last_seen_at=now)
            )
    return _staff(row), row.csrf_token


def close_session(engine: Engine, token: str, *, now: dt.datetime) -> bool:
    """End the session of `token` (logout); False when there was no live one. Audited as `logout`."""
    if not token or len(token) > 256:
        return False
    now = stored_utc(now).astimezone(dt.UTC)
    with busy_is_refusal(), engine.begin() as c:
        row = c.execute(
            select(web_sessions.c.id, users.c.username)
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.token_hash == _token_hash(token), web_sessions.c.ended_at.is_(None))
        ).first()
        if row is None:
            return False
        c.execute(update(web_sessions).where(web_sessions.c.id == row.id).values(ended_at=now))
    audit(engine, row.username, "logout", row.username, "done", None)
    return True


def demo_places(engine: Engine, county: str) -> DemoPlaces | None:
    """Places of `county` in the database for the demo's accounts: its most populous village (and that
    village's township), the first school of the schools' rosters, the first department with a list; None
    when the county has no persons with a village, no school roster or no department list."""
    from canbao.store.tables import import_batches, persons

    with engine.connect() as c:
        place = c.execute(
            select(persons.c.township, persons.c.village)
            .where(persons.c.county == county, persons.c.township.is_not(None), persons.c.village.is_not(None))
            .group_by(persons.c.township, persons.c.village)
            .order_by(func.count().desc(), persons.c.township, persons.c.village)
            .limit(1)
        ).first()
        school = c.execute(
            select(func.min(import_batches.c.department)).where(import_batches.c.kind == "school")
        ).scalar()
        department = c.execute(
            select(func.min(import_batches.c.department)).where(
                import_batches.c.kind == "department_list", import_batches.c.department.in_(list(DEPARTMENT_LABELS))
            )
        ).scalar()
    if place is None or school is None or department is None:
        return None
    return DemoPlaces(county, place.township, place.village, school, department)


DEMO_PREFIX = "demo_"


def create_demo_accounts(
    engine: Engine, *, actor: str, now: dt.datetime, places: DemoPlaces
) -> list[tuple[str, str, str, str]]:
    """One account per role for a demo, each with a new random password: (username, role, area label,
    password).  Run again on the same database, it gives the existing demo accounts new passwords (and
    enables them again) instead of failing."""
    areas: dict[str, dict[str, str]] = {
        "county_admin": {},
        "tax": {},
        "township": {"township": places.township},
        "village": {"township": places.township, "village": places.village},
        "school": {"school": places.school},
        "department": {"department": places.department},
    }
    made = []
    for role, area in areas.items():
        username = f"{DEMO_PREFIX}{role}"
        password = secrets.token_urlsafe(12)
        with engine.connect() as c:
            exists = c.execute(select(users.c.id).where(users.c.username == username)).first() is not None
        if exists:
            checked = _check_area(role, places.county, {k: area.get(k) for k in AREA_WORDS if k != "county"})
            with busy_is_refusal(), engine.begin() as c:
                c.execute(
                    update(users)
                    .where(users.c.username == username)
                    .values(
                        password_hash=HASHER.hash(_secret(password)),
                        role=role,
                        disabled=False,
                        disabled_at=None,
                        **checked,
                    )
                )
            audit(engine, actor, "user_add", username, "done", f"演示账户：重设密码；角色 {role}")
            staff = staff_named(engine, username)
        else:
            staff = add_user(
                engine,
                username=username,
                role=role,
                password=password,
                county=places.county,
                actor=actor,
                now=now,
                **area,
            )
        made.append((username, role, staff.area_label, password))
    return made


def staff_named(engine: Engine, username: str) -> Staff:
    """The Staff of an account by name (for tools and tests; no password, no session)."""
    with engine.connect() as c:
        row = c.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise InputError("username", f"没有用户 {username}")
    return _staff(row)
