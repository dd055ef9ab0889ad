"""What every `canbao` command shares: the settings and the engine from the composition root, the actor, the
campaign's today, and parsing of what a person types (dates, amounts, JSON input), progress bars on stderr.

A refusal names the domain field (`paid_on`, `amount`, `input`); `canbao.cli.main` shows it as the command's
option (`--paid-on`) when the command has one.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from canbao import bootstrap
from canbao.errors import InputError

FILE = click.Path(path_type=Path)
ACTOR = click.option("--actor", default=None, help="操作人，记入审计日志（默认：当前登录用户）")

ProgressHook = Callable[[str, int, int], None]  # (phase, done, total)


def settings() -> bootstrap.Settings:
    return bootstrap.Settings.from_environment()


def today() -> dt.date:
    """The campaign's today (China Standard Time; CANBAO_TODAY fixes it for demos and tests)."""
    return settings().today()


def actor_or_login(actor: str | None) -> str:
    return actor if actor else bootstrap.os_login()


def engine(*, write: bool) -> Engine:
    """The engine of the configured database, after one line on stderr naming it. A read never creates a
    database (a missing one is refused, naming it); a write creates and migrates the embedded default once.
    Disposed when the command ends."""
    opened = bootstrap.open_database(settings(), write=write, say=lambda line: click.echo(line, err=True))
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(opened.dispose)
    return opened


def parse_date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(field, f"“{value}”不是有效日期（格式 YYYY-MM-DD）") from None


def parse_amount(value: str, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise InputError(field, f"“{value}”不是金额") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InputError(field, f"金额 {value} 须为不小于0、最多两位小数的元")
    return amount


def read_json(source: str) -> Any:
    """The JSON value in `source` (a file, or - for stdin): UTF-8 (with or without BOM), no NUL, not absurdly
    nested or long; any other input is one refusal naming the field `input`."""
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError("input", f"无法读取文件 {source}：{exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("input", "不是 UTF-8 编码的 JSON（请另存为 UTF-8）") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("input", f"不是有效的 JSON（第{exc.lineno}行第{exc.colno}列：{exc.msg}）") from None
    except RecursionError:
        raise InputError("input", "JSON 嵌套层次过深") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError("input", "JSON 中的数字过长") from None
    if _has_nul(value):
        raise InputError("input", "JSON 中含有空字符（NUL）")
    return value


def _has_nul(value: Any) -> bool:
    stack = [value]  # a loop, not recursion: the value may be nested as deep as json.loads allows
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def print_json(obj: Any) -> None:
    from canbao.quote import to_json_ready

    click.echo(json.dumps(to_json_ready(obj), ensure_ascii=False, indent=2))


@contextmanager
def progress_bars(prefix: str = "") -> Iterator[ProgressHook]:
    """Progress bars on stderr, gone when done; yields the hook services call as (phase, done, total)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn(f"[bold]{prefix}{{task.description}}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        tasks: dict[str, Any] = {}

        def hook(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield hook
