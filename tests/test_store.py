"""Migrations build exactly the tables the code declares, on SQLite and PostgreSQL, and can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from canbao.bootstrap import head_revision
from canbao.store.db import alembic_config, current_revision, make_engine, upgrade
from canbao.store.tables import metadata


def test_the_migrated_schema_is_the_declared_one(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
    engine.dispose()


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_table_size_counts_small_tables_and_estimates_large_ones(database_url: str) -> None:
    """The imports choose how to look keys up by a table's size: PostgreSQL's estimate for a large table
    (counting ten million persons for every school roster cost seconds), an exact count for a small one."""
    from sqlalchemy import text

    from canbao.store.db import EXACT_COUNT_BELOW, table_size

    engine = make_engine(database_url, app_role=False)  # the owner: the test creates a table
    with engine.begin() as c:
        assert table_size(c, "persons") == 0
        c.execute(text("CREATE TABLE sized (n integer)"))
        c.execute(text("INSERT INTO sized (n) VALUES (1), (2), (3)"))
        assert table_size(c, "sized") == 3
        if c.dialect.name == "postgresql":
            many = EXACT_COUNT_BELOW * 2
            c.execute(text(f"INSERT INTO sized (n) SELECT g FROM generate_series(1, {many}) g"))
            c.execute(text("ANALYZE sized"))
            assert abs(table_size(c, "sized") - many) < many // 20
            c.execute(text("DELETE FROM sized WHERE n > 10"))
            assert table_size(c, "sized") > EXACT_COUNT_BELOW  # the planner's figure, not a count
    engine.dispose()
