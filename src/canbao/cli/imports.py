"""`canbao import …`: department lists, last year's roster and school rosters into the registry.

Each command is a write: it names the database on stderr (creating and migrating the embedded default the
first time), shows progress bars on stderr, prints a Chinese summary on stdout and writes the feedback
workbook (default: beside the input, `<stem>_反馈.xlsx`). A batch refused because some rows failed validation
ends with one line on stderr and exit code 2 (raised as InputError; `canbao.cli.main` does that).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from canbao.cli.common import FILE, actor_or_login, engine, progress_bars, today
from canbao.errors import InputError
from canbao.outputs import feedback_path

if TYPE_CHECKING:
    from canbao.services.imports import ImportReport

SHOWN_REJECTIONS = 10


def feedback_beside(path: Path, feedback: Path | None) -> Path:
    """The feedback workbook: the one given, else `<stem>_反馈.xlsx` beside the input (the one convention)."""
    return feedback if feedback is not None else feedback_path(path)


def _run(
    call: Callable[..., ImportReport],
    file: Path,
    given_feedback: Path | None,
    actor: str | None,
    accept_valid: bool,
    **kwargs: Any,
) -> None:
    """Run the import use case `call` on `file` with the options every import shares, then the kind's own
    (`kwargs`), and print its summary."""
    feedback = feedback_beside(file, given_feedback)
    kwargs |= {"path": file, "actor": actor_or_login(actor), "accept_valid": accept_valid, "feedback_path": feedback}
    if feedback.is_dir():
        raise InputError("feedback", f"{feedback} 是一个文件夹，应为反馈工作簿的文件名（.xlsx）")
    database = engine(write=True)
    try:
        with progress_bars() as hook:
            report = call(database, progress=hook, today=today(), **kwargs)
    except OSError as exc:
        # The feedback workbook (or the folder for it) cannot be written: the import was rolled back.
        if exc.filename is None or not str(exc.filename).startswith(str(feedback.parent)):
            raise
        raise InputError("feedback", f"无法写入反馈文件 {feedback}：{exc.strerror}，本次未导入") from None
    click.echo(report.summary())
    lines = report.rejections(limit=SHOWN_REJECTIONS)
    if lines:
        click.echo(f"退回明细（前 {len(lines)} 行，共 {report.rejected} 行）：")
        for line in lines:
            click.echo(f"  {line}")
    if not report.committed and not report.replayed:
        raise InputError(
            "file",
            f"{report.rejected} 行未通过校验，整批未导入；请按反馈文件 {report.feedback_path} 修正，"
            "或加 --accept-valid 只导入有效行",
        )


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--actor", default=None, help="操作人，记入审计日志（默认：当前登录用户）"),
        click.option("--accept-valid", is_flag=True, help="只导入通过校验的行（默认：有退回行则整批不导入）"),
        click.option("--feedback", type=FILE, default=None, help="反馈工作簿（默认：输入文件旁的 <文件名>_反馈.xlsx）"),
        click.option("--file", "file", required=True, type=FILE, help="名单文件 .csv 或 .xlsx"),
        click.option("--county", required=True, help="县（区）行政区划代码，如 340322"),
    ]
    for option in options:
        command = option(command)
    return command


@click.group("import")
def import_group() -> None:
    """导入名单：部门认定名单、上年度参保名册、学校学生名册."""


@import_group.command("list")
@click.option("--department", required=True, help="认定部门：civil_affairs、rural_revitalization、… 或 民政局 等")
@click.option("--policy", "policy_id", required=True, help="按哪个政策认定最优资助身份，如 anhui/bengbu/2022")
@_common
def import_list(
    department: str,
    policy_id: str,
    county: str,
    file: Path,
    feedback: Path | None,
    accept_valid: bool,
    actor: str | None,
) -> None:
    """部门认定名单（民政、乡村振兴、卫健、退役军人事务、残联）."""
    from canbao.services.imports import import_department_list

    _run(
        import_department_list,
        file,
        feedback,
        actor,
        accept_valid,
        department=department,
        county=county,
        policy_id=policy_id,
    )


@import_group.command("roster")
@click.option("--year", "benefit_year", required=True, type=int, help="名册的待遇年度，如 2025")
@_common
def import_roster_command(
    benefit_year: int,
    county: str,
    file: Path,
    feedback: Path | None,
    accept_valid: bool,
    actor: str | None,
) -> None:
    """上年度参保名册：登记或更新人员（不写参保记录）."""
    from canbao.services.imports import import_roster

    _run(
        import_roster,
        file,
        feedback,
        actor,
        accept_valid,
        county=county,
        benefit_year=benefit_year,
    )


@import_group.command("school")
@click.option("--school", required=True, help="学校名称")
@_common
def import_school_command(
    school: str,
    county: str,
    file: Path,
    feedback: Path | None,
    accept_valid: bool,
    actor: str | None,
) -> None:
    """学校学生名册（学校录入、县区审核后导入）."""
    from canbao.services.imports import import_school_roster

    _run(
        import_school_roster,
        file,
        feedback,
        actor,
        accept_valid,
        school=school,
        county=county,
    )
