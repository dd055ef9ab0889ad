"""`canbao serve`: the staff portal (canbao.web) on uvicorn, over the configured database.

The embedded default (canbao.db here) is created and migrated on first use, as by any command that writes;
PostgreSQL through CANBAO_DATABASE_URL (migrated by `canbao db upgrade`).  uvicorn's access log is off (a
search's URL carries what was searched for, an ID number perhaps); everything else uvicorn logs goes through
canbao.ids.redact_id_numbers.
"""

from __future__ import annotations

import logging
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
def serve(host: str, port: int) -> None:
    """启动工作人员门户（浏览器访问）；默认使用当前目录的 canbao.db，或 CANBAO_DATABASE_URL."""
    import uvicorn

    from canbao.web.app import create_app

    app = create_app(settings(), engine(write=True))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"门户地址：http://{shown}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=LOG_CONFIG)
