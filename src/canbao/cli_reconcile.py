"""`canbao reconcile`: registry, tax bureau, bank and collecting units, matched (000 五, 004 六)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import polars as pl

from canbao.cli_registry import _engine
from canbao.errors import InputError

FILE = click.Path(path_type=Path)


@click.command("reconcile")
@click.option("--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), required=True, help="对账截止日期 YYYY-MM-DD")
@click.option("--benefit-year", type=int, help="default: the season of the newest payment on or before --date")
@click.option("--tax", type=FILE, help="税务征收明细 (.csv/.xlsx)")
@click.option("--bank", type=FILE, help="银行待报解账户流水 (.csv/.xlsx)")
@click.option("--collections", type=FILE, multiple=True, help="代收单位清单: files or a folder; repeatable")
@click.option("--other-county", type=FILE, multiple=True, help="外县参保名册; repeatable")
@click.option("--deaths", type=FILE, help="公安死亡人员名单: the dead still enrolled or chased (000 六(四))")
@click.option("--employee", type=FILE, help="职工医保参保人员名单: enrolled in both schemes")
@click.option(
    "--policy", "policy_id", help="the policy whose refund rules answer --deaths/--employee (default: the year's)"
)
@click.option("--out", type=FILE, required=True, help="folder for the workbook")
def reconcile_command(
    as_of: dt.datetime,
    benefit_year: int | None,
    tax: Path | None,
    bank: Path | None,
    collections: tuple[Path, ...],
    other_county: tuple[Path, ...],
    deaths: Path | None,
    employee: Path | None,
    policy_id: str | None,
    out: Path,
) -> None:
    """对账：账账相符、账款相符、钱人一致; every difference in an XLSX workbook a clerk can work through."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from canbao.services import reconcile as r

    day = as_of.date()
    engine = _engine()
    year = benefit_year or r.latest_benefit_year(engine, day)
    if year is None:
        raise InputError("--date", f"{day} 及以前没有任何参保缴费记录，请用 --benefit-year 指定待遇年度")
    columns = [TextColumn("[bold]对账：{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(r.STEPS[0], total=len(r.STEPS) - 1)
        run = r.run_reconciliation(
            engine, day, year, out, tax=tax, bank=bank, collections=list(collections),
            other_counties=list(other_county), deaths=deaths, employees=employee, policy_id=policy_id,
            on_step=lambda n: bar.update(task, completed=n, description=r.STEPS[n]), today=dt.date.today(),
        )  # fmt: skip
    result, cleanup = run.result, run.cleanup
    compared = "，".join(f"{r.SOURCE_LABELS[s]} {n:,} 笔" for s, n in result.counts.items() if n)
    click.echo(f"{year} 年度对账，截至 {day}：比对 {compared}")
    for test, label in r.TEST_LABELS.items():
        click.echo(f"  {label}：{'是' if result.tests[test] else '否'}")
    by_kind = result.by_kind()
    found = "，".join(f"{r.KIND_LABELS[k]} {n}" for k, n in by_kind.items() if n) or "无"
    click.echo(f"差异：{found}")
    if not result.findings.is_empty():
        examples = result.findings.head(3).with_columns(pl.col("kind").replace_strict(r.KIND_LABELS))
        for row in examples.iter_rows(named=True):
            click.echo(f"  例：{row['kind']} {row['txn_id'] or row['paid_on']}：{row['detail']}")
    if cleanup is not None:
        stop = cleanup.filter(pl.col("status") == "paid").height
        click.echo(f"死亡或已参加职工医保：应停保或退费 {stop} 人，不再催缴 {cleanup.height - stop} 人")
    click.echo(f"明细工作簿：{run.path}")
