"""`canbao serve`: the staff portal (canbao.web) on uvicorn, over the configured database.

The embedded default (canbao.db here) is created and migrated on first use, as by any command that writes;
PostgreSQL through CANBAO_DATABASE_URL (migrated by `canbao db upgrade`).  uvicorn's access log is off (a
search's URL carries what was searched for, an ID number perhaps); everything else uvicorn logs goes through
canbao.ids.redact_id_numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from canbao.cli.common import engine, settings
from canbao.ids import redact_id_numbers


class RedactingFormatter(logging.Formatter):
    """Any 15- or 18-digit run masked in a log line, its traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_id_numbers(super().format(record))


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"redacted": {"()": RedactingFormatter, "fmt": "%(asctime)s %(levelname)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "redacted", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="监听端口")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64),
    help="工作进程数（多核服务器上可设为核数；每个进程各自连接数据库）",
)  # fmt: skip
@click.option(
    "--today", "campaign_day", default=None, metavar="YYYY-MM-DD",
    help="征缴工作的日期（演示其他年度的县）；缴费按渠道通知的支付成功时间计日，签名时间戳始终按真实时间校验",
)  # fmt: skip
@click.option(
    "--simulator", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
    help="演示用：canbao simulator setup 的目录；其模拟渠道的收银台和查单接口挂在 /simulator（不发生真实扣款）",
)  # fmt: skip
def serve(host: str, port: int, workers: int, campaign_day: str | None, simulator: Path | None) -> None:
    """启动工作人员门户和居民缴费页面（浏览器访问）；默认使用当前目录的 canbao.db，或 CANBAO_DATABASE_URL."""
    import datetime as dt
    import os

    import uvicorn

    from canbao.bootstrap import TODAY_VARIABLE
    from canbao.errors import InputError
    from canbao.services.notifications import APPLIER_NICE
    from canbao.web.app import PaymentWork, create_app, freeze_startup_objects
    from canbao.web.asgi import APPLY_VARIABLE

    if campaign_day is not None:
        try:
            dt.date.fromisoformat(campaign_day)
        except ValueError:
            raise InputError("--today", f"应为日期 YYYY-MM-DD，而不是“{campaign_day}”") from None
        os.environ[TODAY_VARIABLE] = campaign_day  # read by settings() here and by every worker process
    if simulator is not None and workers > 1:
        raise InputError("--simulator", "渠道模拟器只用于演示，请用一个工作进程（不带 --workers）")
    if workers > 1 and settings().database_url.startswith("sqlite"):
        # One writer at a time: a worker's heartbeat could wait behind another's long import and its job be
        # taken for orphaned (services.jobs); several processes are for PostgreSQL.
        raise InputError(
            "--workers", "嵌入式 SQLite 数据库只用一个工作进程；多个工作进程请使用 PostgreSQL（CANBAO_DATABASE_URL）"
        )
    database = engine(write=True)  # the embedded default created and migrated here, once, before any worker
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"门户地址：http://{shown}:{port}/", err=True)
    options: dict[str, Any] = {
        "host": host, "port": port, "log_level": "warning", "access_log": False, "log_config": LOG_CONFIG,
    }  # fmt: skip
    if workers == 1:
        gateway = None
        if simulator is not None:
            from canbao.cli.simulator import mounted_gateway

            gateway = mounted_gateway(simulator, settings().fixed_today)
        uvicorn.run(create_app(settings(), database, simulator=gateway), **options)
    else:  # each worker process builds its own app (canbao.web.asgi.portal) from the same environment
        database.dispose()
        # The notifications' applier and the order queries run here, in the supervising process, not in the
        # workers: applying a batch is CPU work that would hold a worker's GIL while its requests wait; and at
        # a lower priority, so that the workers' answers go first on the cores.
        os.environ[APPLY_VARIABLE] = "0"
        payment_work = PaymentWork(settings(), database, nice=APPLIER_NICE)
        payment_work.start()
        freeze_startup_objects()  # (a worker's app freezes its own once started: create_app's lifespan)
        try:
            uvicorn.run("canbao.web.asgi:portal", factory=True, workers=workers, **options)
        finally:
            payment_work.stop()
