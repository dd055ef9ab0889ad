"""`canbao reconcile`: registry, tax bureau, bank and collecting units, matched (000 五, 004 六)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import polars as pl

from canbao.cli.common import FILE, engine, today
from canbao.errors import InputError
from canbao.services.reconcile.model import CLEARING_DAYS


@click.command("reconcile")
@click.option("--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), required=True, help="对账截止日期 YYYY-MM-DD")
@click.option("--benefit-year", type=int, help="待遇年度（默认：截止日期及以前最近一笔缴费所属的年度）")
@click.option("--tax", type=FILE, help="税务征收明细（.csv/.xlsx）")
@click.option("--bank", type=FILE, help="银行待报解账户流水（.csv/.xlsx）")
@click.option("--collections", type=FILE, multiple=True, help="代收单位清单：文件或文件夹，可重复给出")
@click.option("--other-county", type=FILE, multiple=True, help="外县参保名册，可重复给出")
@click.option("--deaths", type=FILE, help="公安死亡人员名单：仍在参保或被催缴的死亡人员（000 六(四)）")
@click.option("--employee", type=FILE, help="职工医保参保人员名单：同时参加两种保险的人员")
@click.option("--policy", "policy_id", help="按哪个政策的退费规则处理 --deaths/--employee（默认：该年度的每个政策）")
@click.option("--unit-aliases", type=FILE, help="代收单位名称对照表（两列：清单中的名称、代收单位）")
@click.option(
    "--clearing-days", type=click.IntRange(min=0), default=CLEARING_DAYS, show_default=True,
    help="银行晚于税务入账多少天以内算在途、不算差异（通知未规定，默认周五到周一）",
)  # fmt: skip
@click.option("--out", type=FILE, required=True, help="工作簿的文件夹")
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
    unit_aliases: Path | None,
    clearing_days: int,
    out: Path,
) -> None:
    """对账：账账相符、账款相符、钱人一致；每一处差异写入工作簿，供经办人员逐条核实."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from canbao.services import reconcile as r

    day = as_of.date()
    database = engine(write=False)
    year = benefit_year or r.latest_benefit_year(database, day)
    if year is None:
        raise InputError("as_of", f"{day} 及以前没有任何参保缴费记录，请用 --benefit-year 指定待遇年度")
    columns = [TextColumn("[bold]对账：{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(r.STEPS[0], total=len(r.STEPS) - 1)
        run = r.run_reconciliation(
            database, day, year, out, tax=tax, bank=bank, collections=list(collections),
            other_counties=list(other_county), deaths=deaths, employees=employee, policy_id=policy_id,
            unit_aliases=unit_aliases, clearing_days=clearing_days, today=today(),
            on_step=lambda n: bar.update(task, completed=n, description=r.STEPS[n]),
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
