"""`canbao season open|due-lists|apply-payments`: the campaign's roll-over, due lists and payment files."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from canbao.cli_registry import ACTOR, _engine
from canbao.errors import InputError
from canbao.money import to_yuan


@click.group()
def season() -> None:
    """征缴期：开征、催缴清单、批量入账."""


@season.command("open")
@click.option("--policy", "policy_id", required=True)
@click.option("--not-due", type=click.Path(path_type=Path), help="write who is not due, and why, as .csv")
@ACTOR
def season_open(policy_id: str, not_due: Path | None, actor: str) -> None:
    """Quote last year's enrollees and the identity lists into this year's due records."""
    from canbao.outputs import write_csv
    from canbao.services.season import open_season

    report = open_season(_engine(), policy_id, actor)
    click.echo(
        f"{report.policy} 开征：候选 {report.candidates} 人，应缴 {report.due} 人，"
        f"应缴合计 {to_yuan(report.amount_due_fen)} 元，不符合或有误 {report.not_due.height} 人"
    )
    if not_due is not None:
        write_csv(report.not_due, not_due)
        click.echo(f"未列入应缴的人员及原因：{not_due}")


@season.command("due-lists")
@click.option("--benefit-year", type=int, required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the workbooks")
@click.option("--by", type=click.Choice(["township", "village"]), default="township", show_default=True)
@click.option("--township", help="only this township")
@click.option("--all", "everyone", is_flag=True, help="include those already enrolled")
@click.option(
    "--collecting-unit", "collected", is_flag=True, help="only the special groups collecting units collect for"
)
def season_due_lists(
    benefit_year: int, out: Path, by: str, township: str | None, everyone: bool, collected: bool
) -> None:
    """Due lists (催缴清单) per township or village, as XLSX; or the collecting units' lists (000 四(一))."""
    from canbao.services.season import due_list, write_due_lists

    frame = due_list(_engine(), benefit_year, township, unpaid_only=not everyone)
    if collected:
        frame = frame.filter(pl.col("how_to_pay") == "collecting_unit")
    files = write_due_lists(frame, out, by, title="代收清单" if collected else "催缴清单")
    click.echo(f"{frame.height} 人，{len(files)} 个清单，已写入 {out}")


@season.command("apply-payments")
@click.option("--policy", "policy_id", required=True)
@click.option("--file", "source", type=click.Path(path_type=Path), required=True, help=".parquet or .csv")
@click.option("--report", type=click.Path(path_type=Path), help="per-row outcome, .csv (default: beside the file)")
@ACTOR
def season_apply_payments(policy_id: str, source: Path, report: Path | None, actor: str) -> None:
    """Apply a file of payment notifications in bulk; replaying a file changes nothing."""
    from canbao.outputs import write_csv
    from canbao.services.payment_batch import apply_payments
    from canbao.services.quote_batch import read_persons

    if not source.is_file():
        raise InputError("--file", f"文件不存在：{source}")
    frame = read_persons(source, "--file")
    if "amount_fen" in frame.columns:
        frame = frame.with_columns(pl.col("amount_fen").cast(pl.Int64, strict=False))
    result = apply_payments(_engine(), policy_id, frame, actor)
    report = report or source.with_name(source.stem + ".outcome.csv")
    write_csv(result, report)
    counts = dict(result["outcome"].value_counts().rows())
    click.echo(
        f"{source.name}：入账 {counts.get('enrolled', 0)} 笔，重复通知 {counts.get('replayed', 0)} 笔，"
        f"退回 {counts.get('refused', 0)} 笔；逐笔结果：{report}"
    )
