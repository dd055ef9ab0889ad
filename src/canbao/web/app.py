"""The portal's ASGI application: `create_app(settings)`, served by `canbao serve` (uvicorn)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.types import ASGIApp

from canbao.bootstrap import Settings
from canbao.errors import CanbaoError, InputError
from canbao.services.access import NotAllowed, OutOfArea


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PaymentWork:
    """The background work of a serving process (a worker's app, or `canbao serve --workers N`'s supervisor):
    the inbox's applier, the 主动查单 of orders left without a notification, and the purge of stale throttle
    records and sessions (services.housekeeping)."""

    def __init__(
        self, settings: Settings, engine: Engine, clock: Callable[[], dt.datetime] = _utc_now, *, nice: int = 0
    ) -> None:
        """`nice`: lower the applier's priority by that much (the supervisor's, which serves no request)."""
        import os
        import socket

        from canbao.clock import campaign_date
        from canbao.errorlog import record
        from canbao.services.housekeeping import Housekeeper
        from canbao.services.notifications import NotificationApplier
        from canbao.services.order_query import OrderQuerier

        # ID numbers are checked against the campaign's today (the settings' fixed day, else the date in
        # Beijing); a bug goes to the error log
        self.applier = NotificationApplier(
            engine,
            runner=f"{socket.gethostname()[:12]}-{os.getpid()}",
            clock=clock,
            today=lambda: settings.fixed_today or campaign_date(clock()),
            on_error=record,
            nice=nice,
        )
        self.querier = OrderQuerier(engine, clock=_utc_now, on_error=record)  # the real time: channels' clocks
        self.housekeeper = Housekeeper(engine, clock=clock, on_error=record)  # the clock the attempts were stamped by

    def start(self) -> None:
        self.applier.start()  # notifications a restart left pending are applied
        self.querier.start()
        self.housekeeper.start()

    def stop(self) -> None:
        self.housekeeper.stop()
        self.querier.stop()
        self.applier.stop()


def freeze_startup_objects() -> None:
    """What the process holds once it serves (modules, the app, the tables' metadata) kept out of the garbage
    collector's full collections: they scan every object the process holds, and with a portal's some 90 ms
    pass with the GIL held, every request waiting (the 12-31 rush's p99, benchmarks/notifications.py)."""
    import gc

    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], dt.datetime] = _utc_now,
    real_clock: Callable[[], dt.datetime] = _utc_now,
    apply_notifications: bool = True,
    simulator: ASGIApp | None = None,
) -> FastAPI:
    """The portal over `engine` (opened by the composition root); `clock` gives aware UTC times, `real_clock`
    the real time signatures are checked against.  `apply_notifications`: run the inbox's applier and the
    order queries (PaymentWork).  `simulator`: the channel simulator's app (canbao.cli.simulator's
    mounted_gateway), served at /simulator for the demo: an order's answer then gives its cashier's address."""
    from canbao.services.jobs import JobRunner
    from canbao.services.resident_access import TooManyAttempts
    from canbao.web import (
        api_admin,
        api_auth,
        api_jobs,
        api_lists,
        api_money,
        api_operations,
        api_orders,
        api_persons,
        api_progress,
        api_resident,
        job_kinds,
        notify,
        pages,
        resident_pages,
    )

    runner = JobRunner(engine, job_kinds.KINDS, settings.files() / "jobs", clock)
    payment_work = PaymentWork(settings, engine, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()  # jobs a restart cut off are failed, queued ones run
        if apply_notifications:
            payment_work.start()
        freeze_startup_objects()
        yield
        if apply_notifications:
            payment_work.stop()
        runner.shutdown(wait=False)

    app = FastAPI(
        title="canbao 参保 — 工作人员门户 API",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.real_clock = real_clock
    app.state.jobs = runner
    app.state.payment_work = payment_work
    app.state.simulator = simulator is not None
    for module in (
        api_auth, api_persons, api_progress, api_lists, api_jobs, api_operations, api_admin, api_money,
        api_orders, api_resident, resident_pages, pages,
    ):  # fmt: skip
        app.include_router(module.router)
    if simulator is not None:
        app.mount(api_orders.SIMULATOR, simulator)
    app.add_middleware(notify.NotifyAddresses)  # POST /notify/{kind}/{name}: the channels' notifications
    pages.mount_assets(app)  # /static (canbao's CSS, script, ECharts) and /static/swagger-ui: no CDN
    _refusals(app)

    @app.exception_handler(TooManyAttempts)
    async def too_many(request: Request, exc: TooManyAttempts) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})

    return app


WHERE = {"query": "参数", "path": "地址中的", "body": "提交内容中的", "header": "请求头", "cookie": "Cookie "}
PROBLEMS = {
    "missing": "缺少{where} {name}",
    "int_parsing": "{where} {name} 应为整数",
    "int_type": "{where} {name} 应为整数",
    "string_type": "{where} {name} 应为文字",
    "json_invalid": "提交内容不是有效的 JSON",
    "model_attributes_type": "提交内容应为 JSON 对象",
    "dict_type": "提交内容应为 JSON 对象",
}


def validation_message(errors: list[dict[str, object]]) -> tuple[str, str]:
    """FastAPI's validation errors (English) as one Chinese sentence and the field it is about."""
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ()) or ()]  # type: ignore[attr-defined]
    where = WHERE.get(loc[0], "") if loc else ""
    name = ".".join(loc[1:]) or "（整体）"
    template = PROBLEMS.get(str(first.get("type", "")), "{where} {name} 的值不对")
    return template.format(where=where, name=name).strip(), name


def _refusals(app: FastAPI) -> None:
    """Services' refusals as HTTP answers with the Chinese message: never a traceback."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = validation_message(list(exc.errors()))
        return JSONResponse({"detail": message, "field": field}, status_code=422)

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

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # A bug: its frames go to the error log (never its message, which may hold ID numbers), the user gets
        # the reference.
        from canbao.errorlog import record

        return JSONResponse({"detail": f"内部错误（编号 {record(exc)}），已记录；请联系管理员"}, status_code=500)
