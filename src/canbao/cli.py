"""The `canbao` command.  Refusals are one plain line on stderr and exit code 2; never a traceback."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from canbao.errors import CanbaoError, InputError
from canbao.ids import redact_id_numbers


def _read_json(source: str) -> Any:
    """The JSON value in `source` (a file, or - for stdin): UTF-8 (with or without BOM), no NUL, not absurdly
    nested or long; any other input is one refusal naming --input."""
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError("--input", f"无法读取文件 {source}：{exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("--input", "不是 UTF-8 编码的 JSON（请另存为 UTF-8）") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("--input", f"不是有效的 JSON（第{exc.lineno}行第{exc.colno}列：{exc.msg}）") from None
    except RecursionError:
        raise InputError("--input", "JSON 嵌套层次过深") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError("--input", "JSON 中的数字过长") from None
    if _has_nul(value):
        raise InputError("--input", "JSON 中含有空字符（NUL）")
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


def _print_json(obj: Any) -> None:
    from canbao.quote import to_json_ready

    click.echo(json.dumps(to_json_ready(obj), ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """canbao 参保 — 城乡居民基本医疗保险参保缴费."""


@cli.group()
def policy() -> None:
    """政策文件：列出、查看、校验."""


@policy.command("list")
def policy_list() -> None:
    """List the policy files."""
    from canbao.policy import list_policies, load_policy

    for policy_id in list_policies():
        p = load_policy(policy_id)
        click.echo(f"{policy_id}\t{p.benefit_year}年度\t{p.region.name}\t{p.notice.number}")


@policy.command("show")
@click.argument("policy_id")
def policy_show(policy_id: str) -> None:
    """Print one policy in readable form."""
    from canbao.policy.show import render

    click.echo(render(policy_id))


@policy.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def policy_check(files: tuple[Path, ...]) -> None:
    """Validate policy files (default: all); every problem with file, key path and reason."""
    from canbao.policy import check_policy_files, list_policies

    problems = check_policy_files(list(files) or None)
    for file, key, reason in problems:
        click.echo(f"{file}: {key}: {reason}", err=True)
    if problems:
        raise SystemExit(1)
    count = len(files) if files else len(list_policies())
    click.echo(f"{count} 个政策文件校验通过")


@cli.command()
@click.option("--policy", "policy_id", required=True, help="e.g. anhui/bengbu/2022")
@click.option("--input", "source", required=True, help="JSON file, or - for stdin")
def quote(policy_id: str, source: str) -> None:
    """Quote one person: what is due, who pays what, when benefits start and end."""
    from canbao.quote import quote as do_quote

    _print_json(do_quote(policy_id, _read_json(source), today=dt.date.today()))


@cli.command("refund-quote")
@click.option("--policy", "policy_id", required=True)
@click.option("--input", "source", required=True, help="JSON file, or - for stdin")
def refund_quote(policy_id: str, source: str) -> None:
    """Whether a payment can be refunded, and how much."""
    from canbao.quote import refund_quote as do_refund

    _print_json(do_refund(policy_id, _read_json(source), today=dt.date.today()))


@cli.command("quote-batch")
@click.option("--policy", "policy_id", required=True)
@click.option("--input", "source", required=True, type=click.Path(path_type=Path), help="persons.csv or .parquet")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="quotes.parquet")
@click.option("--rejects", type=click.Path(path_type=Path), help="default: <output>.rejects.csv")
def quote_batch(policy_id: str, source: Path, output: Path, rejects: Path | None) -> None:
    """Quote a whole population; rows with bad input go to a rejects file with the reason."""
    from canbao.services.quote_batch import run

    summary = run(policy_id, source, output, rejects)
    click.echo(summary)


@cli.command()
@click.option("--persons", default=100_000, show_default=True, help="size of the synthetic county")
@click.option("--seed", default=2021, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True)
@click.option("--county", default="341323", show_default=True)
@click.option(
    "--part-size", type=click.IntRange(min=500), default=1_100_000, show_default=True,
    help="a larger county is generated and imported in parts of this many persons",
)  # fmt: skip
@click.option("--url", help="database URL (default: a new SQLite file canbao.db in --out)")
def demo(persons: int, seed: int, out: Path, county: str, part_size: int, url: str | None) -> None:
    """A whole county's season end to end (SQLite unless --url): synth, imports, season open, payments, summary."""
    from canbao.season_demo import run as run_demo

    run_demo(persons, seed, out, county, url=url, part_size=part_size)


@cli.command("quote-demo")
def quote_demo() -> None:
    """Quote a handful of persons under every policy and print a table."""
    from canbao.demo import run as run_demo

    run_demo()


def _register() -> None:
    from canbao.cli_funds import COMMANDS as FUND_COMMANDS
    from canbao.cli_imports import import_group
    from canbao.cli_progress import COMMANDS as PROGRESS_COMMANDS
    from canbao.cli_reconcile import reconcile_command
    from canbao.cli_registry import COMMANDS
    from canbao.cli_season import season
    from canbao.cli_synth import synth_command

    for command in [*COMMANDS, *FUND_COMMANDS, *PROGRESS_COMMANDS, season, synth_command, reconcile_command]:
        cli.add_command(command)
    cli.add_command(import_group, "import")


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
    except click.ClickException as exc:
        shown = io.StringIO()
        exc.show(file=shown)  # click's usage and message, as it prints them, with any ID number masked
        click.echo(redact_id_numbers(shown.getvalue().rstrip("\n")), err=True)
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


if __name__ == "__main__":
    main()
