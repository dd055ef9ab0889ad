"""Alembic environment: runs migrations on the URL `canbao.store.db.upgrade` gives it."""

from __future__ import annotations

from alembic import context

from canbao.store.db import make_engine
from canbao.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
engine = make_engine(url, app_role=False, create=True)  # migrations run as the owner, and may create the database
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
