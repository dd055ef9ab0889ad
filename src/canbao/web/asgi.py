"""The portal as an ASGI application factory, for serving it in several processes (`canbao serve --workers N`):
each worker process builds its own app and engine from the environment, as the CLI's composition root does.
The command that starts them has already created and migrated the embedded default when it was missing."""

from __future__ import annotations

from fastapi import FastAPI

from canbao.bootstrap import Settings, open_database
from canbao.web.app import create_app


def portal() -> FastAPI:
    settings = Settings.from_environment().apply()
    return create_app(settings, open_database(settings, write=False, say=lambda _: None))
