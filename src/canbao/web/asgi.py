"""The portal as an ASGI application factory, for serving it in several processes (`canbao serve --workers N`):
each worker process builds its own app and engine from the environment, as the CLI's composition root does.
The command that starts them has already created and migrated the embedded default when it was missing."""

from __future__ import annotations

import os
import signal
import threading
import time

from fastapi import FastAPI

from canbao.bootstrap import Settings, open_database
from canbao.web.app import create_app

APPLY_VARIABLE = "CANBAO_WORKER_APPLIES"  # "0": the notifications' applier runs in the supervising process


def _end_with_supervisor() -> None:
    """A worker whose supervisor is gone (killed with SIGKILL) ends too: the notifications' applier ran there,
    so a worker left behind would acknowledge notifications that nobody applies, and hold the port a restarted
    server needs."""
    supervisor = os.getppid()

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown

    threading.Thread(target=watch, name="canbao-supervisor-watch", daemon=True).start()


def portal() -> FastAPI:
    settings = Settings.from_environment().apply()
    database = open_database(settings, write=False, say=lambda _: None)
    applies = os.environ.get(APPLY_VARIABLE) != "0"
    if not applies:
        _end_with_supervisor()
    return create_app(settings, database, apply_notifications=applies)
