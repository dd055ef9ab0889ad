"""The portal as an ASGI application factory, for serving it in several processes (`canbao serve --workers N`):
each worker process builds its own app and engine from the environment, as the CLI's composition root does.
The command that starts them has already created and migrated the embedded default when it was missing."""

from __future__ import annotations

from fastapi import FastAPI

from canbao.bootstrap import Settings, open_database
from canbao.web.app import create_app

APPLY_VARIABLE = "CANBAO_WORKER_APPLIES"  # "0": the notifications' applier runs in the supervising process


def portal() -> FastAPI:
    import os

    settings = Settings.from_environment().apply()
    database = open_database(settings, write=False, say=lambda _: None)
    return create_app(settings, database, apply_notifications=os.environ.get(APPLY_VARIABLE) != "0")
