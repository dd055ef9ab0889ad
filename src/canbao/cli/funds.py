"""`canbao funds` (资金核算) and `canbao cleanup` (治理重复参保及无效参保): workbooks and charts for officials.

The screen shows totals only; the workbooks carry full ID numbers where the work needs them (finance
transfers per person; clerks terminate enrollments per person)."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from canbao.cli.common import FILE, engine, parse_date, today
from canbao.money import to_yuan


@click.command("funds")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
@click.option("--policy", "policy_id", help="只算这个政策的参保记录（默认：该待遇年度的所有政策）")
@click.option("--out", type=FILE, required=True, help="工作簿和图表的文件夹")
def funds(benefit_year: int, policy_id: str | None, out: Path) -> None:
    """资金核算：各级财政补助、分类资助、先缴后补退补、划拨清单."""
    from canbao.services.funds import fund_report, write_fund_report

    report = fund_report(engine(write=False), benefit_year, policy_id)
    county = report.fiscal_county.row(0, named=True)
    total = county["fiscal_total_fen"]
    click.echo(
        f"{benefit_year} 年度有效参保 {county['persons']} 人，财政补助应到位 "
        f"{'（政策未规定金额）' if total is None else f'{to_yuan(total)} 元'}"
    )
    for lvl, label in (("central", "中央"), ("province", "省级"), ("city", "市级"), ("county", "县级")):
        value = county[f"fiscal_{lvl}_fen"]
        if value is not None:
            click.echo(f"  {label} {to_yuan(value)} 元")
    for note in report.notes:
        click.echo(f"  说明：{note}")
    transfers = report.transfer_detail
    click.echo(
        f"分类资助划拨 {transfers.height} 人 {to_yuan(int(transfers['amount_fen'].sum() or 0))} 元"
        f"（台账与参保记录不一致 {report.subsidy_differences.height} 条）"
    )
    towns = report.county_subsidy_by_township
    if towns.height:
        click.echo(
            f"先缴后补：已退补 {int(towns['paid_persons'].sum())} 人 {to_yuan(int(towns['paid_fen'].sum()))} 元，"
            f"待退补 {int(towns['owed_persons'].sum())} 人 {to_yuan(int(towns['owed_fen'].sum()))} 元"
        )
    for path in write_fund_report(report, out):
        click.echo(f"已写出 {path}")


@click.command("cleanup")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
@click.option("--policy", "policy_id", required=True, help="该待遇年度的政策，如 anhui/suzhou/lingbi/2022")
@click.option("--deaths", type=FILE, help="公安死亡人员名单 .csv/.xlsx")
@click.option("--employee", type=FILE, help="职工医保参保人员名单 .csv/.xlsx")
@click.option("--other-county", type=FILE, help="其他县（区）居民医保参保名册 .csv/.xlsx")
@click.option(
    "--as-of",
    help="清单的制表日期，即退费申请日期 YYYY-MM-DD（默认：今天（北京时间），但不晚于政策的集中征缴期末）",
)
@click.option("--out", type=FILE, required=True, help="工作簿的文件夹")
def cleanup(
    benefit_year: int,
    policy_id: str,
    deaths: Path | None,
    employee: Path | None,
    other_county: Path | None,
    as_of: str | None,
    out: Path,
) -> None:
    """治理重复参保及无效参保（000 六(四)）：应终止或退费的参保，以及不再催缴的人员."""
    from canbao.services.cleanup import run_cleanup

    day = parse_date(as_of, "as_of") if as_of else None
    run = run_cleanup(
        engine(write=False), policy_id, benefit_year, out,
        deaths=deaths, employees=employee, other_counties=other_county, as_of=day, today=today(),
    )  # fmt: skip
    frame, path = run.frame, run.path
    paid = frame.filter(pl.col("status") == "paid")
    refund = paid.filter(pl.col("refund_due").fill_null(False))
    click.echo(f"清理清单截至 {run.as_of}{'（默认日期）' if run.defaulted else ''}")
    click.echo(
        f"应终止的参保 {paid.height} 人（应退费 {refund.height} 人 {to_yuan(int(refund['refund_fen'].sum() or 0))} 元，"
        f"退费政策未规定 {paid['refund_due'].is_null().sum()} 人）；停止催缴 {frame.height - paid.height} 人"
    )
    for (reason,), part in frame.group_by(["reason"], maintain_order=True):
        click.echo(f"  {reason}：{part.height} 人")
    click.echo(f"已写出 {path}")


COMMANDS = [funds, cleanup]
