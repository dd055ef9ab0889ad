"""The unit of work: one database transaction per use case, committed whole or not at all."""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, insert

from canbao.ids import redact_id_numbers
from canbao.store.tables import audit_log


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
        self._transaction = self.connection.begin()
        return self

    def commit(self) -> None:
        self._transaction.commit()
        self._committed = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed and self._transaction.is_active:
            self._transaction.rollback()
        self.connection.close()


def _safe(text: str | None) -> str | None:
    # The last line of defence: no full ID number in the audit log, and no NUL (PostgreSQL text refuses it).
    return None if text is None else redact_id_numbers(text).replace("\x00", "\ufffd")


def audit(engine: Engine, actor: str, action: str, subject: str | None, outcome: str, detail: str | None) -> None:
    """An audit line in its own transaction, so that a refused use case leaves it and nothing else."""
    subject, detail = _safe(subject), _safe(detail)
    with engine.begin() as connection:
        connection.execute(
            insert(audit_log).values(
                at=now(), actor=actor, action=action, subject=subject, outcome=outcome, detail=detail
            )
        )
