"""The `canbao` command speaks Chinese throughout: click's own refusals, usage and help headings (click has no
locale of its own), and service refusals shown under the command's option.

Services name domain fields (`InputError("county", …)`); a command with an option of that name or dest shows
the option instead (`错误：--county: …`), so a person sees what to retype.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

import click

from canbao.errors import InputError

HEADINGS = {"Options": "选项", "Commands": "命令", "Positional arguments": "参数", "Arguments": "参数"}
HELP_WORDS = [
    ("Show this message and exit.", "显示本帮助并退出。"),
    ("[default: ", "[默认："),
    ("[required]", "[必填]"),
    ("; required]", "；必填]"),
]


class ChineseHelpFormatter(click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{HEADINGS.get(heading, heading)}：\n")

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, _chinese_help(text)) for term, text in rows], col_max, col_spacing)


def _chinese_help(text: str) -> str:
    for english, chinese in HELP_WORDS:
        text = text.replace(english, chinese)
    return text


class ChineseContext(click.Context):
    formatter_class = ChineseHelpFormatter


def localize(command: click.Command) -> None:
    """Chinese help for `command` and everything under it, and its refusals under its own options."""
    command.context_class = ChineseContext
    command.options_metavar = "[选项]"
    if isinstance(command, click.Group):
        command.subcommand_metavar = "命令 [参数]..."
        for sub in command.commands.values():
            localize(sub)
    if command.callback is not None and not getattr(command.callback, "_fields_mapped", False):
        command.callback = _mapping_fields(command, command.callback)


# A service's field that a command's option spells otherwise (the file read is `input` to the readers).
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "input": ("file", "source"),
    "other_counties": ("other_county",),
    "employees": ("employee",),
}


def option_for(command: click.Command, field: str) -> str | None:
    """The option of `command` a domain field is typed as (`county` → `--county`, `as_of` → `--date` when
    that option's dest is as_of, `input` → `--file`), or None."""
    wanted = [field.replace("-", "_"), *FIELD_SYNONYMS.get(field, ())]
    for name in wanted:
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            if name in {param.name, *(o[2:].replace("-", "_") for o in longs)}:
                return max(longs, key=len) if longs else param.opts[0]
    return None


def _mapping_fields(command: click.Command, callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except InputError as exc:
            shown = option_for(command, exc.field)
            if shown is None or shown == exc.field:
                raise
            raise InputError(shown, exc.message) from None

    mapped._fields_mapped = True  # type: ignore[attr-defined]
    return mapped


def _param_name(param: click.Parameter | None) -> str:
    if param is None:
        return "参数"
    if isinstance(param, click.Option):
        longs = [o for o in param.opts if o.startswith("--")]
        return max(longs, key=len) if longs else param.opts[0]
    return param.human_readable_name


def _date_formats(formats: Iterable[str]) -> str:
    words = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "mm", "%S": "SS"}
    shown = []
    for f in formats:
        for code, word in words.items():
            f = f.replace(code, word)
        shown.append(f)
    return " 或 ".join(shown)


def _expected(param_type: click.ParamType[Any]) -> str:
    if isinstance(param_type, click.IntRange | click.FloatRange):
        low, high = param_type.min, param_type.max
        kind = "整数" if isinstance(param_type, click.IntRange) else "数"
        if low is not None and high is not None:
            return f"应为 {low} 到 {high} 之间的{kind}"
        if low is not None:
            return f"应为不小于 {low} 的{kind}"
        return f"应为不大于 {high} 的{kind}"
    if isinstance(param_type, click.Choice):
        return "可选：" + "、".join(str(c) for c in param_type.choices)
    if isinstance(param_type, click.DateTime):
        return f"应为日期，格式 {_date_formats(param_type.formats)}"
    if param_type is click.INT:
        return "应为整数"
    if param_type is click.FLOAT:
        return "应为数字"
    if param_type is click.BOOL:
        return "应为 true 或 false"
    if isinstance(param_type, click.Path):
        return "路径无效"
    return "取值无效"


_GIVEN = re.compile(r"^'(?P<quoted>.*?)' is not|^(?P<plain>\S+) is not")


def _help_hint(ctx: click.Context | None) -> str:
    return f"（帮助：{ctx.command_path} --help）" if ctx is not None else ""


def error_line(exc: click.ClickException) -> str:
    """click's refusal as one Chinese line naming the option (and the command's help), without `错误：`."""
    ctx = getattr(exc, "ctx", None)
    hint = _help_hint(ctx)
    message = exc.format_message() if not isinstance(exc, click.UsageError) else exc.message
    no_such_command = getattr(click.exceptions, "NoSuchCommand", None)
    if isinstance(exc, click.MissingParameter):
        if isinstance(exc.param, click.Argument):
            return f"缺少参数 {_param_name(exc.param)}{hint}"
        return f"缺少必需的选项 {_param_name(exc.param)}{hint}"
    if isinstance(exc, click.NoSuchOption):
        maybe = f"，是否想用 {'、'.join(exc.possibilities)}" if exc.possibilities else ""
        return f"没有选项 {exc.option_name}{maybe}{hint}"
    if isinstance(exc, click.BadOptionUsage):
        if "requires an argument" in exc.message:
            return f"选项 {exc.option_name} 需要一个值{hint}"
        if "does not take a value" in exc.message:
            return f"选项 {exc.option_name} 不带值{hint}"
        return f"选项 {exc.option_name} 用法有误{hint}"
    if isinstance(exc, click.BadParameter):
        name = exc.param_hint if isinstance(exc.param_hint, str) else _param_name(exc.param)
        name = name.strip("'\"")
        given = _GIVEN.match(exc.message)
        value = f"“{given['quoted'] if given['quoted'] is not None else given['plain']}”" if given else ""
        expected = _expected(exc.param.type) if exc.param is not None else "取值无效"
        return f"{name}: 取值{value}无效，{expected}{hint}"
    if no_such_command is not None and isinstance(exc, no_such_command):
        maybe = f"，是否想用 {'、'.join(exc.possibilities)}" if exc.possibilities else ""
        return f"没有命令“{exc.command_name}”{maybe}{hint}"
    if isinstance(exc, click.UsageError):
        command = re.match(r"^No such command '(.*)'\.$", message)
        if command:
            return f"没有命令“{command[1]}”{hint}"
        extra = re.match(r"^Got unexpected extra arguments? \((.*)\)$", message)
        if extra:
            return f"多余的参数：{extra[1]}{hint}"
        if message == "Missing command.":
            return f"缺少子命令{hint}"
        return f"{message}{hint}"
    if isinstance(exc, click.FileError):
        return f"无法打开文件 {exc.ui_filename}：{exc.message}"
    return message
