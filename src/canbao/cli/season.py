"""`canbao season open|due-lists|apply-payments`: the campaign's roll-over, due lists and payment files."""

from __future__ import annotations

from pathlib import Path

import click

from canbao.cli.common import ACTOR, FILE, actor_or_login, engine
from canbao.money import to_yuan


@click.group()
def season() -> None:
    """征缴期：开征、催缴清单、批量入账."""


@season.command("open")
@click.option("--policy", "policy_id", required=True, help="本年度的政策，如 anhui/suzhou/lingbi/2022")
@click.option("--not-due", type=FILE, help="未列入应缴的人员及原因，写为 .csv")
@ACTOR
def season_open(policy_id: str, not_due: Path | None, actor: str | None) -> None:
    """开征：按上年度参保人员和认定名单测算，生成本年度应缴记录."""
    from canbao.outputs import write_csv
    from canbao.services.season import open_season

    report = open_season(engine(write=True), policy_id, actor_or_login(actor))
    click.echo(
        f"{report.policy} 开征：候选 {report.candidates} 人，应缴 {report.due} 人，"
        f"应缴合计 {to_yuan(report.amount_due_fen)} 元，不符合或有误 {report.not_due.height} 人"
    )
    if not_due is not None:
        write_csv(report.not_due, not_due)
        click.echo(f"未列入应缴的人员及原因：{not_due}")


@season.command("due-lists")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
@click.option("--out", type=FILE, required=True, help="清单工作簿的文件夹")
@click.option(
    "--by", type=click.Choice(["township", "village"]), default="township", show_default=True,
    help="按乡镇（township）或按村（village）分清单",
)  # fmt: skip
@click.option("--township", help="只列这个乡镇（街道）")
@click.option("--all", "everyone", is_flag=True, help="也列出已参保的人员")
@click.option("--collecting-unit", "collected", is_flag=True, help="只列代收单位代收的特殊群体（代收清单）")
def season_due_lists(
    benefit_year: int, out: Path, by: str, township: str | None, everyone: bool, collected: bool
) -> None:
    """催缴清单：按乡镇或村写出 XLSX；或代收单位的代收清单（000 四(一)）."""
    from canbao.services.season import due_list, write_due_lists

    how_to_pay = "collecting_unit" if collected else None
    frame = due_list(engine(write=False), benefit_year, township, unpaid_only=not everyone, how_to_pay=how_to_pay)
    files = write_due_lists(frame, out, by, title="代收清单" if collected else "催缴清单")
    click.echo(f"{frame.height} 人，{len(files)} 个清单，已写入 {out}")


@season.command("apply-payments")
@click.option("--policy", "policy_id", required=True, help="政策，如 anhui/suzhou/lingbi/2022")
@click.option("--file", "source", type=FILE, required=True, help="缴费通知文件 .parquet 或 .csv")
@click.option("--report", type=FILE, help="逐笔结果 .csv（默认：文件旁的 <文件名>.outcome.csv）")
@ACTOR
def season_apply_payments(policy_id: str, source: Path, report: Path | None, actor: str | None) -> None:
    """批量入账一个缴费通知文件；重复导入同一文件不改变任何记录."""
    from canbao.services.operations import apply_payment_file

    report = report or source.with_name(source.stem + ".outcome.csv")
    counts = apply_payment_file(engine(write=True), policy_id, source, actor_or_login(actor), report=report)
    click.echo(
        f"{source.name}：入账 {counts['enrolled']} 笔，重复通知 {counts['replayed']} 笔，"
        f"退回 {counts['refused']} 笔；逐笔结果：{report}"
    )
