"""Alembic environment: runs migrations on the URL `canbao.store.db.upgrade` gives it."""

from __future__ import annotations

from alembic import context

from canbao.store.db import make_engine
from canbao.store.tables import metadata

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url"), app_role=False, create=True)  # as the owner; may create
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
