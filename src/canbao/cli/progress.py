"""`canbao targets import|e-voucher import|progress|not-renewed|rewards`: targets, progress, the door-to-door
list and the assessment (issue 6)."""

from __future__ import annotations

from pathlib import Path

import click

from canbao.cli.common import ACTOR, FILE, actor_or_login, engine, parse_date, today
from canbao.money import to_yuan


@click.group("targets")
def targets_group() -> None:
    """任务分解表：导入."""


@targets_group.command("import")
@click.argument("file", type=FILE)
@click.option("--benefit-year", type=int, required=True, help="任务的待遇年度，如 2022")
@ACTOR
def targets_import(file: Path, benefit_year: int, actor: str | None) -> None:
    """导入任务分解表（工作表“参保任务”“电子凭证任务”）；替换该年度原有的任务."""
    from canbao.services.targets import import_targets

    report = import_targets(engine(write=True), file, benefit_year, actor_or_login(actor))
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
@click.argument("file", type=FILE)
@ACTOR
def e_voucher_import(file: Path, actor: str | None) -> None:
    """导入电子凭证激活记录（CSV 或 XLSX：姓名、身份证号码、激活日期、激活渠道）；重复导入不改变记录."""
    from canbao.services.targets import import_activations

    report = import_activations(engine(write=True), file, actor_or_login(actor), today=today())
    click.echo(f"{report.file_name}：{report.rows} 行，新记录激活 {report.recorded} 人，此前已记录 {report.already} 人")


@click.command("progress")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
@click.option("--as-of", "as_of", required=True, help="统计截止日期 YYYY-MM-DD（含当日）")
@click.option("--out", type=FILE, required=True, help="工作簿和图表的文件夹")
def progress_command(benefit_year: int, as_of: str, out: Path) -> None:
    """参保进度：按县、乡镇、村对照任务排名（XLSX 和 PNG）."""
    from canbao.services.progress import progress, write_progress

    report = progress(engine(write=False), benefit_year, parse_date(as_of, "as_of"))
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
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
@click.option("--as-of", "as_of", required=True, help="统计截止日期 YYYY-MM-DD（含当日）")
@click.option("--out", type=FILE, required=True, help="名单工作簿的文件夹")
def not_renewed_command(benefit_year: int, as_of: str, out: Path) -> None:
    """上年度参保、本年度尚未续保的人员：每个乡镇一个工作簿，每村一个工作表（004 五(三)）."""
    from canbao.services.progress import not_renewed, write_not_renewed

    day = parse_date(as_of, "as_of")
    frame = not_renewed(engine(write=False), benefit_year, day)
    files = write_not_renewed(frame, out, benefit_year, day)
    click.echo(f"截至 {day} 上年度参保、本年度尚未续保 {frame.height:,} 人，{len(files)} 个乡镇名单，已写入 {out}")


@click.command("rewards")
@click.option("--policy", "policy_id", required=True, help="政策，如 anhui/suzhou/lingbi/2022")
@click.option("--out", type=FILE, required=True, help="工作簿和图表的文件夹")
def rewards_command(policy_id: str, out: Path) -> None:
    """考核奖惩（政策的考核截止日）：工作经费补助、奖励、未完成任务的乡镇（003 四）."""
    from canbao.services.assessment import policy_assessment, rewards, write_rewards

    policy_assessment(policy_id)  # refuse a policy without an assessment before touching the database
    result = rewards(engine(write=False), policy_id)
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
