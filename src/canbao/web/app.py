"""The portal's ASGI application: `create_app(settings)`, served by `canbao serve` (uvicorn)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from canbao.bootstrap import Settings
from canbao.errors import CanbaoError, InputError
from canbao.services.access import NotAllowed, OutOfArea


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings, engine: Engine, *, clock: Callable[[], dt.datetime] = _utc_now
) -> FastAPI:
    """The portal over `engine` (opened by the composition root); `clock` gives aware UTC times."""
    from canbao.web import api_auth, api_persons, api_progress, pages

    app = FastAPI(
        title="canbao 参保 — 工作人员门户 API", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json"
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    for module in (api_auth, api_persons, api_progress, pages):
        app.include_router(module.router)
    pages.mount_assets(app)  # /static (canbao's CSS, script, ECharts) and /static/swagger-ui: no CDN
    _refusals(app)
    return app


def _refusals(app: FastAPI) -> None:
    """Services' refusals as HTTP answers with the Chinese message: never a traceback."""

    @app.exception_handler(OutOfArea)
    async def out_of_area(request: Request, exc: OutOfArea) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=422)

    @app.exception_handler(CanbaoError)
    async def refused(request: Request, exc: CanbaoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)
