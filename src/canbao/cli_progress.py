"""`canbao targets import|e-voucher import|progress|not-renewed|rewards`: targets, progress, the door-to-door
list and the assessment (issue 6)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from canbao.cli_registry import ACTOR, _date, _engine
from canbao.money import to_yuan


@click.group("targets")
def targets_group() -> None:
    """任务分解表：导入."""


@targets_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--benefit-year", type=int, required=True, help="the benefit year (待遇年度) of the targets")
@ACTOR
def targets_import(file: Path, benefit_year: int, actor: str) -> None:
    """Import 任务分解表 (sheets 参保任务, 电子凭证任务); replaces that year's targets."""
    from canbao.services.targets import import_targets

    report = import_targets(_engine(), file, benefit_year, actor)
    click.echo(
        f"{report.benefit_year}年度任务分解表已导入（{report.file_name}）：{report.townships} 个乡镇，"
        f"参保任务 {report.totals['enrollment']:,} 人（{report.villages['enrollment']} 个村），"
        f"电子凭证激活任务 {report.totals['e_voucher']:,} 人（{report.villages['e_voucher']} 个村）"
        + (f"；替换了原有的 {report.replaced} 行" if report.replaced else "")
    )


@click.group("e-voucher")
def e_voucher_group() -> None:
    """医保电子凭证激活记录：导入."""


@e_voucher_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@ACTOR
def e_voucher_import(file: Path, actor: str) -> None:
    """Import activation records (CSV or XLSX: 姓名, 身份证号码, 激活日期, 激活渠道); replays change nothing."""
    from canbao.services.targets import import_activations

    report = import_activations(_engine(), file, actor, today=dt.date.today())
    click.echo(f"{report.file_name}：{report.rows} 行，新记录激活 {report.recorded} 人，此前已记录 {report.already} 人")


def _as_of(value: str) -> dt.date:
    return _date(value, "--as-of")


@click.command("progress")
@click.option("--benefit-year", type=int, required=True)
@click.option("--as-of", "as_of", required=True, help="YYYY-MM-DD, counted inclusive")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the workbook and chart")
def progress_command(benefit_year: int, as_of: str, out: Path) -> None:
    """Progress against targets per county, township and village, ranked (XLSX and PNG)."""
    from canbao.services.progress import progress, write_progress

    report = progress(_engine(), benefit_year, _as_of(as_of))
    files = write_progress(report, out)
    county = report.county.row(0, named=True)

    def pct(bp: int | None) -> str:
        return "—" if bp is None else f"{bp // 100}.{bp % 100:02d}%"

    c = county
    click.echo(
        f"{benefit_year}年度截至 {report.as_of}：参保 {c['enrolled']:,} / 任务 {c['enrollment_target'] or 0:,}"
        f"（{pct(c['enrollment_rate_bp'])}，本周新增 {c['enrolled_this_week']:,}），"
        f"续保率 {pct(c['renewal_rate_bp'])}，"
        f"电子凭证激活 {c['activated']:,} / {c['e_voucher_target'] or 0:,}（{pct(c['e_voucher_rate_bp'])}）"
    )
    for path in files:
        click.echo(f"已写入 {path}")


@click.command("not-renewed")
@click.option("--benefit-year", type=int, required=True)
@click.option("--as-of", "as_of", required=True, help="YYYY-MM-DD, counted inclusive")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the workbooks")
def not_renewed_command(benefit_year: int, as_of: str, out: Path) -> None:
    """Last year's enrollees not yet renewed: one workbook per township, a sheet per village (004 五(三))."""
    from canbao.services.progress import not_renewed, write_not_renewed

    day = _as_of(as_of)
    frame = not_renewed(_engine(), benefit_year, day)
    files = write_not_renewed(frame, out, benefit_year, day)
    click.echo(f"截至 {day} 上年度参保、本年度尚未续保 {frame.height:,} 人，{len(files)} 个乡镇名单，已写入 {out}")


@click.command("rewards")
@click.option("--policy", "policy_id", required=True, help="e.g. anhui/suzhou/lingbi/2022")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the workbook and chart")
def rewards_command(policy_id: str, out: Path) -> None:
    """Assessment at the policy's cutoff: work subsidy, prizes, those who did not complete (003 四)."""
    from canbao.services.assessment import policy_assessment, rewards, write_rewards

    policy_assessment(policy_id)  # refuse a policy without an assessment before touching the database
    result = rewards(_engine(), policy_id)
    files = write_rewards(result, out)
    towns = result.townships
    done = towns.filter(towns["completed"])
    click.echo(
        f"考核截至 {result.assessment.cutoff}：完成两项任务 {done.height} 个乡镇，"
        f"未完成 {towns.height - done.height} 个；工作经费补助 {to_yuan(result.work_subsidy_fen)} 元，"
        f"奖励 {to_yuan(result.prizes_fen)} 元"
    )
    for path in files:
        click.echo(f"已写入 {path}")


COMMANDS = [targets_group, e_voucher_group, progress_command, not_renewed_command, rewards_command]
