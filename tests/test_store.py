"""Migrations build exactly the tables the code declares, on SQLite and PostgreSQL, and can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from canbao.store.db import _alembic_config, current_revision, make_engine, upgrade
from canbao.store.tables import metadata


def test_the_migrated_schema_is_the_declared_one(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
    engine.dispose()


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    command.downgrade(_alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == "0009"
