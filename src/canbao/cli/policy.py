"""`canbao policy list|show|check`, `quote`, `refund-quote`, `quote-batch`, `quote-demo`: the policy files and
quoting, which need no database."""

from __future__ import annotations

from pathlib import Path

import click

from canbao.cli.common import FILE, print_json, progress_bars, read_json, today


@click.group()
def policy() -> None:
    """政策文件：列出、查看、校验."""


@policy.command("list")
def policy_list() -> None:
    """列出政策文件：政策、待遇年度、地区、文号."""
    from canbao.policy import list_policies, load_policy

    for policy_id in list_policies():
        p = load_policy(policy_id)
        click.echo(f"{policy_id}\t{p.benefit_year}年度\t{p.region.name}\t{p.notice.number}")


@policy.command("show")
@click.argument("policy_id")
def policy_show(policy_id: str) -> None:
    """以易读的形式显示一个政策."""
    from canbao.policy.show import render

    click.echo(render(policy_id))


@policy.command("check")
@click.argument("files", nargs=-1, type=FILE)
def policy_check(files: tuple[Path, ...]) -> None:
    """校验政策文件（默认：全部）；每个问题列出文件、键路径和原因."""
    from canbao.policy import check_policy_files, list_policies

    problems = check_policy_files(list(files) or None)
    for file, key, reason in problems:
        click.echo(f"{file}: {key}: {reason}", err=True)
    if problems:
        raise SystemExit(1)
    count = len(files) if files else len(list_policies())
    click.echo(f"{count} 个政策文件校验通过")


POLICY = click.option("--policy", "policy_id", required=True, help="政策，如 anhui/bengbu/2022")
INPUT = click.option("--input", "source", required=True, help="JSON 文件，- 为标准输入")


@click.command()
@POLICY
@INPUT
def quote(policy_id: str, source: str) -> None:
    """测算一个人：应缴多少、各方分担多少、待遇期何时开始和结束."""
    from canbao.quote import quote as do_quote

    print_json(do_quote(policy_id, read_json(source), today=today()))


@click.command("refund-quote")
@POLICY
@INPUT
def refund_quote(policy_id: str, source: str) -> None:
    """一笔缴费能否退费、退多少."""
    from canbao.quote import refund_quote as do_refund

    print_json(do_refund(policy_id, read_json(source), today=today()))


@click.command("quote-batch")
@POLICY
@click.option("--input", "source", required=True, type=FILE, help="人员文件 .csv 或 .parquet")
@click.option("--output", required=True, type=FILE, help="测算结果 .parquet")
@click.option("--rejects", type=FILE, help="退回清单 .csv（默认：<结果文件名>.rejects.csv）")
def quote_batch(policy_id: str, source: Path, output: Path, rejects: Path | None) -> None:
    """批量测算一批人员；输入有误的行连同原因写入退回清单."""
    from canbao.services.quote_batch import run

    with progress_bars() as hook:
        summary = run(policy_id, source, output, rejects, progress=hook)
    click.echo(summary)


@click.command("quote-demo")
def quote_demo() -> None:
    """按每个政策测算几个示例人员，并打印一张表."""
    from canbao.demo import run as run_demo

    run_demo(today=today())


COMMANDS: list[click.Command] = [policy, quote, refund_quote, quote_batch, quote_demo]
