"""The unit of work: one database transaction per use case, committed whole or not at all."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import DBAPIError

from canbao.errors import CanbaoError
from canbao.ids import redact_id_numbers
from canbao.store.tables import audit_log

BUSY = "数据库正忙（另一个写入仍在进行），请稍后重试"


class DatabaseBusy(CanbaoError):
    """Another writer held a lock longer than the busy timeout (SQLite's write lock; a PostgreSQL row lock)."""


def is_busy(exc: BaseException) -> bool:
    """SQLite's `database is locked` (its busy timeout ran out) or PostgreSQL's lock_not_available (the
    lock_timeout of canbao's sessions ran out), from SQLAlchemy or from the driver's own cursor."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.OperationalError):
        return "database is locked" in str(orig) or "database is busy" in str(orig)
    return getattr(orig, "sqlstate", None) == "55P03"


@contextmanager
def busy_is_refusal() -> Iterator[None]:
    """A lock waited for too long, as a clear refusal."""
    try:
        yield
    except Exception as exc:
        if is_busy(exc):
            raise DatabaseBusy(BUSY) from exc
        raise


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """`with UnitOfWork(engine, actor) as uow:` — uow.connection is in a transaction; leaving the block
    without `uow.commit()` (or by an exception) rolls it back."""

    def __init__(self, engine: Engine, actor: str) -> None:
        self.engine = engine
        self.actor = actor
        self._committed = False

    def __enter__(self) -> Self:
        self.connection: Connection = self.engine.connect()
        try:
            with busy_is_refusal():
                self._transaction = self.connection.begin()
        except BaseException:
            self.connection.close()
            raise
        return self

    def commit(self) -> None:
        with busy_is_refusal():
            self._transaction.commit()
        self._committed = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed and self._transaction.is_active:
            self._transaction.rollback()
        self.connection.close()
        if exc is not None and is_busy(exc):  # every use case's one place for a lock that did not come
            raise DatabaseBusy(BUSY) from exc


def _safe(text: str | None) -> str | None:
    # The last line of defence: no full ID number in the audit log, and no NUL (PostgreSQL text refuses it).
    return None if text is None else redact_id_numbers(text).replace("\x00", "\ufffd")


def audit(engine: Engine, actor: str, action: str, subject: str | None, outcome: str, detail: str | None) -> None:
    """An audit line in its own transaction, so that a refused use case leaves it and nothing else."""
    subject, detail = _safe(subject), _safe(detail)
    with busy_is_refusal(), engine.begin() as connection:
        connection.execute(
            insert(audit_log).values(
                at=now(), actor=actor, action=action, subject=subject, outcome=outcome, detail=detail
            )
        )
