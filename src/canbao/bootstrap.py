"""The composition root: what every front end (the CLI today, the web next) builds before calling a service.

`Settings` (the database URL, whether it was given, the policy folder, a fixed day for demos and tests), the
engine (`open_database`: a read never creates a database; a write on the embedded default creates and migrates
it once), the clock (`today()`: the date in Asia/Shanghai, the campaign's calendar) and the actor (the OS login,
for the CLI).  Services never read the environment, the OS user or the machine's clock themselves: they are
handed these.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from canbao.clock import CAMPAIGN_ZONE, campaign_date, local_time
from canbao.errors import CanbaoError

__all__ = ["CAMPAIGN_ZONE", "MissingDatabase", "Settings", "local_time", "open_database", "os_login", "today"]

DEFAULT_URL = "sqlite:///canbao.db"  # the embedded default: a file canbao.db in the working directory
URL_VARIABLE = "CANBAO_DATABASE_URL"
TODAY_VARIABLE = "CANBAO_TODAY"  # YYYY-MM-DD: a fixed "today" for demos and tests
FILES_VARIABLE = "CANBAO_FILES_DIR"
IDLE_VARIABLE = "CANBAO_SESSION_IDLE_MINUTES"  # the portal's idle timeout in minutes (default 30)
MAX_IDLE_MINUTES = 24 * 60


class MissingDatabase(CanbaoError):
    """A command found no database where it looked (a read never creates one)."""


@dataclass(frozen=True)
class Settings:
    """Where the data is and which day it is: read once, from the environment, by the front end."""

    database_url: str
    url_given: bool  # CANBAO_DATABASE_URL was set: never create or migrate it unasked
    policy_dir: Path | None  # CANBAO_POLICY_DIR, else the policies/ folder of the source tree (canbao.policy)
    fixed_today: dt.date | None = None
    session_idle_minutes: int = 30  # CANBAO_SESSION_IDLE_MINUTES: a portal session dies after this long unused
    files_dir: Path | None = None  # CANBAO_FILES_DIR: uploads and the jobs' files (see `files`)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get(URL_VARIABLE, "")
        folder = env.get("CANBAO_POLICY_DIR", "")
        fixed = env.get(TODAY_VARIABLE, "")
        try:
            today = dt.date.fromisoformat(fixed) if fixed else None
        except ValueError:
            raise CanbaoError(f"环境变量 {TODAY_VARIABLE} 应为日期 YYYY-MM-DD，而不是“{fixed}”") from None
        idle = env.get(IDLE_VARIABLE, "").strip()
        if idle and not (idle.isascii() and idle.isdigit() and 1 <= int(idle) <= MAX_IDLE_MINUTES):
            raise CanbaoError(
                f"环境变量 {IDLE_VARIABLE} 应为 1 到 {MAX_IDLE_MINUTES} 之间的整数（分钟），而不是“{idle}”"
            )
        files = env.get(FILES_VARIABLE, "")
        return cls(
            url or DEFAULT_URL,
            bool(url),
            Path(folder) if folder else None,
            today,
            int(idle) if idle else 30,
            Path(files) if files else None,
        )

    def apply(self) -> Settings:
        """Make the settings' policy folder the one policies are loaded from (the loader reads no
        environment)."""
        from canbao.policy import use_policy_dir

        use_policy_dir(self.policy_dir)
        return self

    @property
    def embedded_default(self) -> bool:
        return not self.url_given

    def today(self) -> dt.date:
        return today(self.fixed_today)

    def files(self) -> Path:
        """Where the portal keeps uploaded lists and what its jobs write: CANBAO_FILES_DIR, else canbao-files/
        beside the SQLite database file, else in the working directory."""
        if self.files_dir is not None:
            return self.files_dir
        database = sqlite_file(self.database_url)
        return (database.resolve().parent if database else Path.cwd()) / "canbao-files"


def today(fixed: dt.date | None = None) -> dt.date:
    """The campaign's today: the date in China Standard Time (a CLI run at 01:00 in Beijing is already the
    next day there while UTC is not), or `fixed` for a demo or a test."""
    return fixed or campaign_date(dt.datetime.now(dt.UTC))


def os_login() -> str:
    """The actor a command line acts as when none is given: the OS login."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (a container without a passwd entry)
        return "cli"


def shown_url(url: str) -> str:
    """The database as a person is told it: a SQLite file by its absolute path, any other URL without its
    password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            return f"sqlite:///{Path(database).resolve()}"
        return url
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database, memory or a `file:` URI)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from canbao.store.db import alembic_config

    return ScriptDirectory.from_config(alembic_config(DEFAULT_URL)).get_current_head()


def open_database(settings: Settings, *, write: bool, say: Callable[[str], None]) -> Engine:
    """The engine for the settings' database, after `say`ing which one it is.

    A read (`write` False) never creates a database: a missing one is a refusal naming where it looked. A
    write on the embedded default creates and migrates it the first time (and says so); a database given
    by CANBAO_DATABASE_URL is migrated only by `canbao db upgrade`. A schema older than the program is
    brought up to date on the embedded default, refused elsewhere."""
    from canbao.store.db import current_revision, make_engine, upgrade

    url = settings.database_url
    shown = shown_url(url)
    say(f"数据库：{shown}")
    file = sqlite_file(url)
    missing = file is not None and not file.is_file()
    revision = None if missing else current_revision(url)
    if missing or revision is None:
        if not (write and settings.embedded_default):
            where = "文件不存在" if missing else "尚未建表"
            then = (
                f"（由环境变量 {URL_VARIABLE} 指定）。请先运行 canbao db upgrade 建库"
                if settings.url_given
                else "。请先运行 canbao db upgrade 建库，或先导入名单（canbao import …，写入时新建）"
            )
            raise MissingDatabase(f"没有数据库：{shown}（{where}）{then}")
        upgrade(url)
        say(f"已新建数据库并完成迁移：{shown}")
    elif revision != head_revision():
        if settings.url_given:
            raise MissingDatabase(
                f"数据库 {shown} 的结构版本 {revision} 早于本程序的 {head_revision()}：请先运行 canbao db upgrade"
            )
        upgrade(url)
        say(f"已将数据库升级到版本 {head_revision()}：{shown}")
    return make_engine(url)


def upgrade_database(settings: Settings) -> str:
    """`canbao db upgrade`: create or migrate the database (the explicit step); returns its revision."""
    from canbao.store.db import current_revision, upgrade

    upgrade(settings.database_url)
    return current_revision(settings.database_url) or ""
