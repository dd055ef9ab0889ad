"""`canbao users add|list|disable|enable|reset-password`: the portal's accounts (services.accounts).

A password is never an option (it would stay in the shell's history and in `ps`): `--password-stdin` reads one
line from standard input (`printf '%s\n' "$PW" | canbao users add … --password-stdin`), or asks for it without
echo when standard input is a terminal.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable

import click

from canbao.cli.common import ACTOR, actor_or_login, engine
from canbao.errors import CanbaoError, InputError

NO_STDIN = "请用 --password-stdin 从标准输入提供密码"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@click.group()
def users() -> None:
    """门户用户：新增、列出、停用."""


def _checked_password(password_stdin: bool) -> str:
    """The password from standard input (only there: never on the command line), checked as the service does."""
    from canbao.services.accounts import check_password

    if not password_stdin:
        raise CanbaoError(NO_STDIN)
    password = _read_password()
    try:
        check_password(password)
    except InputError as exc:  # the password's field is the option it came through
        raise InputError("--password-stdin", exc.message) from None
    return password


def _read_password() -> str:
    if sys.stdin.isatty():
        entered: str = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码", err=True)
        return entered
    line = sys.stdin.readline()  # one line; its line end (\n, or \r\n from a Windows editor) is not the password's
    return line.removesuffix("\n").removesuffix("\r")


@users.command("add")
@click.option("--username", required=True, help="用户名：2–32 个英文字母、数字或 _ . -")
@click.option(
    "--role",
    required=True,
    help="角色：county_admin（县医保局）、tax（县税务局）、township（乡镇）、village（村）、school（学校）、"
    "department（认定部门）",
)
@click.option("--county", help="县（区）的 6 位行政区划代码（可选）")
@click.option("--township", help="乡镇（街道）名称：township 和 village 角色必填")
@click.option("--village", help="村（社区）名称：village 角色必填")
@click.option("--school", help="学校名称：school 角色必填")
@click.option("--department", help="认定部门：civil_affairs 或 民政局 等，department 角色必填")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（一行，至少 10 个字符）")
@ACTOR
def users_add(
    username: str,
    role: str,
    county: str | None,
    township: str | None,
    village: str | None,
    school: str | None,
    department: str | None,
    password_stdin: bool,
    actor: str | None,
) -> None:
    """新增门户用户，指定角色和区域；密码只从标准输入读取."""
    from canbao.services.accounts import add_user

    password = _checked_password(password_stdin)
    staff = add_user(
        engine(write=True),
        username=username,
        role=role,
        password=password,
        county=county,
        township=township,
        village=village,
        school=school,
        department=department,
        actor=actor_or_login(actor),
        now=_utc_now(),
    )
    click.echo(f"已新增用户 {staff.username}：{staff.area_label}")


@users.command("list")
def users_list() -> None:
    """列出门户用户：用户名、角色、区域、状态和创建时间（北京时间）."""
    from rich.console import Console
    from rich.table import Table

    from canbao.clock import local_time
    from canbao.services.accounts import list_users
    from canbao.vocabulary import ROLE_LABELS

    rows = list_users(engine(write=False))
    if not rows:
        click.echo("还没有门户用户（canbao users add 新增）")
        return
    table = Table("用户名", "角色", "区域", "状态", "创建时间", box=None, pad_edge=False)
    for user in rows:
        table.add_row(
            user.username,
            ROLE_LABELS.get(user.role, user.role),
            user.area,
            "停用" if user.disabled else "启用",
            local_time(user.created_at).strftime("%Y-%m-%d %H:%M"),
        )
    Console(width=max(120, Console().width)).print(table)


def _one_name(name: str | None, username: str | None, command: str) -> str:
    if name and username and name != username:
        raise CanbaoError(f"用户名给了两个：{name} 和 {username}")
    who = name or username
    if not who:
        raise CanbaoError(f"缺少用户名（canbao users {command} 用户名）")
    return who


def _named(command: Callable[..., None]) -> Callable[..., None]:
    """A command on one account: its name after the command or as --username, and --actor."""
    command = ACTOR(command)
    command = click.option("--username", help="用户名（也可直接写在命令后）")(command)
    return click.argument("name", required=False, metavar="USERNAME")(command)


@users.command("disable")
@_named
def users_disable(name: str | None, username: str | None, actor: str | None) -> None:
    """停用门户用户：不能再登录，已登录的会话立即失效."""
    from canbao.services.accounts import disable_user

    who = _one_name(name, username, "disable")
    ended = disable_user(engine(write=True), who, actor=actor_or_login(actor), now=_utc_now())
    click.echo(f"已停用用户 {who}" + (f"，结束会话 {ended} 个" if ended else ""))


@users.command("enable")
@_named
def users_enable(name: str | None, username: str | None, actor: str | None) -> None:
    """重新启用已停用的门户用户：用原密码登录."""
    from canbao.services.accounts import enable_user

    who = _one_name(name, username, "enable")
    was_disabled = enable_user(engine(write=True), who, actor=actor_or_login(actor), now=_utc_now())
    click.echo(f"已启用用户 {who}" if was_disabled else f"用户 {who} 本来就是启用的")


@users.command("reset-password")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码（必需：密码不出现在命令行）")
@_named
def users_reset_password(name: str | None, username: str | None, password_stdin: bool, actor: str | None) -> None:
    """为忘记密码的门户用户设置新密码：其已登录的会话全部结束，此前输错密码的次数不再计入登录限制."""
    from canbao.services.accounts import set_password

    who = _one_name(name, username, "reset-password")
    password = _checked_password(password_stdin)
    ended = set_password(engine(write=True), who, password, actor=actor_or_login(actor), now=_utc_now())
    click.echo(f"已重设用户 {who} 的密码" + (f"，结束会话 {ended} 个" if ended else ""))


COMMANDS = [users]
