"""The `canbao` command: the root group, every command group registered under it, and `main`.

Refusals are one plain Chinese line on stderr and exit code 2; never a traceback.  The command groups live
beside this module (policy, registry, imports, season, funds, progress, reconcile, synth) and share
canbao.cli.common; none imports this module."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from canbao.cli.chinese import error_line, localize
from canbao.errors import CanbaoError, InputError
from canbao.ids import redact_id_numbers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """canbao 参保 — 城乡居民基本医疗保险参保缴费."""
    from canbao.cli.common import settings

    settings().apply()  # the policy folder of the settings, before any command loads a policy


def _register() -> None:
    from canbao.cli import (
        channels,
        funds,
        imports,
        policy,
        progress,
        reconcile,
        registry,
        season,
        serve,
        simulator,
        synth,
        users,
    )  # fmt: skip

    for command in [
        *policy.COMMANDS,
        synth.demo,
        *registry.COMMANDS,
        *funds.COMMANDS,
        *progress.COMMANDS,
        season.season,
        synth.synth_command,
        reconcile.reconcile_command,
        *users.COMMANDS,
        serve.serve,
        channels.channel_group,
        simulator.simulator_group,
    ]:
        cli.add_command(command)
    cli.add_command(imports.import_group, "import")
    localize(cli)


_register()


def _one_line(text: str) -> str:
    return redact_id_numbers(" ".join(text.split("\n")).strip())


def _check_arguments(argv: list[str]) -> None:
    """No control character in an option's value (an actor, a school, a county …): PostgreSQL text refuses NUL,
    and none belongs in a name."""
    from canbao.tabular.textfiles import CONTROL

    for i, arg in enumerate(argv):
        if CONTROL.search(arg):
            named = arg if arg.startswith("-") else (argv[i - 1] if i and argv[i - 1].startswith("-") else "")
            option = CONTROL.sub("?", named.split("=", 1)[0])
            raise InputError(option or f"第 {i + 1} 个参数", "含有控制字符（如 NUL），请删除")


def _quiet_stray_exceptions() -> Callable[[], None]:
    """Exceptions Python would print with their traceback outside the command's own flow — in a thread, or
    "ignored" while an object is collected (a library's half-written file, often at exit) — go to the error
    log instead. Returns what puts the previous hooks back."""
    import threading

    from canbao.errorlog import record

    previous = sys.unraisablehook, threading.excepthook

    def restore() -> None:
        sys.unraisablehook, threading.excepthook = previous

    def unraisable(info: Any) -> None:
        if info.exc_value is not None:
            record(info.exc_value)

    def in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            record(args.exc_value)

    sys.unraisablehook = unraisable
    threading.excepthook = in_thread
    return restore


def _keep_hooks() -> None:
    pass


def main(argv: list[str] | None = None) -> None:
    """Run the command line (`argv`, default sys.argv); always ends in SystemExit: 0, 1 (a bug), 2 (refused).

    Nothing a user sees is a traceback, an exception's text or a full ID number: a refusal is one line
    `错误：…`; a bug is one line with a reference, its frames go to the error log (canbao.errorlog).
    """
    debugging = os.environ.get("CANBAO_DEBUG", "") not in ("", "0")
    restore = _keep_hooks if debugging else _quiet_stray_exceptions()
    try:
        _check_arguments(sys.argv[1:] if argv is None else argv)
        code = cli.main(args=argv, prog_name="canbao", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("已取消", err=True)
        raise SystemExit(130) from None
    except click.ClickException as exc:  # click's own refusals (options, usage), in Chinese, ID numbers masked
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group given no command (click ≥ 8.2): its help
            click.echo(exc.format_message(), err=True)
            raise SystemExit(2) from None
        click.echo(f"错误：{_one_line(error_line(exc))}", err=True)
        raise SystemExit(2) from None
    except CanbaoError as exc:
        click.echo(f"错误：{_one_line(str(exc))}", err=True)
        raise SystemExit(2) from None
    except SystemExit:
        raise
    except Exception as exc:  # a bug: one short line and a log entry, never its text
        if debugging:
            raise
        from canbao.errorlog import record

        click.echo(f"内部错误（编号 {record(exc)}），已记录；请联系管理员", err=True)
        raise SystemExit(1) from None
    finally:
        if argv is not None:  # called in-process: leave the caller's hooks as they were; a process keeps ours
            restore()
    raise SystemExit(code if isinstance(code, int) else 0)
