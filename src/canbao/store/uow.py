"""The unit of work: one database transaction per use case, committed whole or not at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import OperationalError

from canbao.errors import CanbaoError
from canbao.store.tables import audit_log

BUSY = "数据库正忙（另一个写入仍在进行），请稍后重试"


class DatabaseBusy(CanbaoError):
    """Another writer held the database's write lock longer than the busy timeout (SQLite)."""


@contextmanager
def busy_is_refusal() -> Iterator[None]:
    """SQLite's `database is locked` (the busy timeout ran out behind another writer) as a clear refusal."""
    try:
        yield
    except OperationalError as exc:
        if "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig):
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


def audit(engine: Engine, actor: str, action: str, subject: str | None, outcome: str, detail: str | None) -> None:
    """An audit line in its own transaction, so that a refused use case leaves it and nothing else."""
    with busy_is_refusal(), engine.begin() as connection:
        connection.execute(
            insert(audit_log).values(
                at=now(), actor=actor, action=action, subject=subject, outcome=outcome, detail=detail
            )
        )
