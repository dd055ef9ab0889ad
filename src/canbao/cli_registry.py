"""`canbao db|person|enroll|pay|refund|enrollment|county-subsidy|ledger`: the registry and ledger use cases.

The database is CANBAO_DATABASE_URL (default: the SQLite file canbao.db here); each command brings the
schema up to date first.  ID numbers are masked in everything printed.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.money import to_yuan

ACTOR = click.option("--actor", default="cli", show_default=True, help="who does this (kept in the audit log)")


def _engine() -> Engine:
    from canbao.store.db import make_engine, upgrade

    upgrade()
    return make_engine()


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(field, f"“{value}”不是有效日期（格式 YYYY-MM-DD）") from None


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise InputError("--amount", f"“{value}”不是金额") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InputError("--amount", f"金额 {value} 须为不小于0、最多两位小数的元")
    return amount


@click.group()
def db() -> None:
    """数据库：创建或升级."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database (CANBAO_DATABASE_URL, default sqlite:///canbao.db).

    Runs as the login of the URL, which must own the tables.  PostgreSQL: then creates the application role
    (canbao_app, or CANBAO_DB_ROLE) if missing and grants it what canbao needs: the registry tables, but only
    SELECT and INSERT on the ledger and the audit log; canbao's connections switch to that role."""
    from canbao.store.db import app_role_name, current_revision, database_url, upgrade

    upgrade()
    where = database_url().split("@")[-1]
    click.echo(f"数据库已是最新版本 {current_revision()}：{where}")
    if database_url().startswith("postgresql"):
        click.echo(f"已按表的所有者完成迁移，并授予应用角色 {app_role_name()}：台账和审计日志只可查询和追加")


@click.group()
def person() -> None:
    """参保人查询."""


@person.command("lookup")
@click.option("--name", required=True)
@click.option("--id-number", required=True)
def person_lookup(name: str, id_number: str) -> None:
    """Look a person up by name and ID number (they must agree)."""
    from canbao.services.renewal import lookup

    click.echo(json.dumps(lookup(_engine(), name, id_number), ensure_ascii=False, indent=2))


def _print_payment(result: object) -> None:
    from canbao.services.payments import PaymentResult

    assert isinstance(result, PaymentResult)
    state = "重复通知，已按首次结果返回" if result.replayed else "缴费成功，已参保"
    click.echo(
        f"{state}：参保记录 {result.enrollment_id}，实缴 {to_yuan(result.amount_fen)} 元，"
        f"待遇期 {result.benefit_start} 至 {result.benefit_end}"
    )


PAYMENT_OPTIONS = [
    click.option("--channel", required=True, help="online, collecting_unit, school, bank_debit"),
    click.option("--channel-name", help="微信, 支付宝, 皖事通 ... (online)"),
    click.option("--txn", "txn_id", required=True, help="the channel's transaction id"),
    click.option("--amount", required=True, help="yuan, as the channel reports it"),
]


def _payment_options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(PAYMENT_OPTIONS):
        f = option(f)
    return f


@click.command()
@click.option("--policy", "policy_id", required=True)
@click.option("--input", "source", required=True, help="the quote contract's JSON (person, situation, paid_on)")
@_payment_options
@click.option("--collecting-unit")
@click.option("--township")
@click.option("--village")
@ACTOR
def pay(
    policy_id: str,
    source: str,
    channel: str,
    channel_name: str | None,
    txn_id: str,
    amount: str,
    collecting_unit: str | None,
    township: str | None,
    village: str | None,
    actor: str,
) -> None:
    """Enroll and pay through a channel; the same transaction id twice is recorded once."""
    from canbao.cli import _read_json
    from canbao.services.payments import Payment
    from canbao.services.payments import pay as do_pay

    application = _read_json(source)
    request = Payment(
        policy_id, application, channel, txn_id, _amount(amount), channel_name, collecting_unit, township, village
    )
    _print_payment(do_pay(_engine(), request, actor))


@click.command()
@click.option("--policy", "policy_id", required=True)
@click.option("--name", required=True)
@click.option("--id-number", required=True)
@click.option("--paid-on", required=True)
@_payment_options
@click.option("--county", help="new enrollees only")
@click.option("--residency", help="new enrollees only")
@click.option("--categories", default="", help="new enrollees only, separated by ;")
@ACTOR
def enroll(
    policy_id: str,
    name: str,
    id_number: str,
    paid_on: str,
    channel: str,
    channel_name: str | None,
    txn_id: str,
    amount: str,
    county: str | None,
    residency: str | None,
    categories: str,
    actor: str,
) -> None:
    """Look up and renew (last year's enrollee), or register and enroll a new one."""
    from canbao.services.renewal import renew

    new_person = {"county": county, "residency": residency, "categories": [c for c in categories.split(";") if c]}
    result = renew(
        _engine(), policy_id, name, id_number, _date(paid_on, "--paid-on"), channel, txn_id, _amount(amount),
        actor, channel_name, new_person if county else None,
    )  # fmt: skip
    _print_payment(result)


@click.command()
@click.option("--id-number", required=True)
@click.option("--benefit-year", type=int, required=True)
@click.option("--reason", required=True, help="death, duplicate_payment, joined_employee_insurance, joined_elsewhere")
@click.option("--requested-on", required=True)
@ACTOR
def refund(id_number: str, benefit_year: int, reason: str, requested_on: str, actor: str) -> None:
    """Refund the personal payment when the policy allows it; the enrollment ends."""
    from canbao.services.payments import refund as do_refund

    result = do_refund(_engine(), id_number, benefit_year, reason, _date(requested_on, "--requested-on"), actor)
    if result.refundable:
        click.echo(f"已退费 {to_yuan(result.amount_fen)} 元，参保关系终止：{result.why}")
    else:
        click.echo(f"不予退费：{result.why}")


@click.group()
def enrollment() -> None:
    """暂停或终止参保关系."""


def _end(status: str) -> click.Command:
    @click.command(status[:-2] if status.endswith("ed") else status)
    @click.option("--id-number", required=True)
    @click.option("--benefit-year", type=int, required=True)
    @click.option("--reason", required=True, help="death, joined_employee_insurance, moved_away, other")
    @click.option("--on", "on", required=True, help="date, YYYY-MM-DD")
    @ACTOR
    def command(id_number: str, benefit_year: int, reason: str, on: str, actor: str) -> None:
        from canbao.services.payments import end_enrollment

        end_enrollment(_engine(), id_number, benefit_year, status, reason, _date(on, "--on"), actor)  # type: ignore[arg-type]
        words = "暂停" if status == "suspended" else "终止"
        click.echo(f"{mask_id_number(id_number)} 的 {benefit_year} 年度参保关系已{words}（{reason}）")

    command.__doc__ = f"{'Suspend' if status == 'suspended' else 'Terminate'} an enrollment, keeping the reason."
    return command


enrollment.add_command(_end("suspended"), "suspend")
enrollment.add_command(_end("terminated"), "terminate")


@click.group("county-subsidy")
def county_subsidy() -> None:
    """先缴后补：县财政补贴退补."""


@county_subsidy.command("list")
@click.option("--benefit-year", type=int, required=True)
@click.option("--township")
@click.option("--output", type=click.Path(path_type=Path), help="write the list as .csv or .xlsx")
def county_subsidy_list(benefit_year: int, township: str | None, output: Path | None) -> None:
    """Who is owed what back, per township."""
    from canbao.services.payments import county_subsidy_refunds_owed

    owed = county_subsidy_refunds_owed(_engine(), benefit_year, township)
    if output is not None:
        from canbao.outputs import write_csv
        from canbao.reports import write_workbook

        if output.suffix.lower() == ".xlsx":
            write_workbook(output, {"退补清单": owed})
        else:
            write_csv(owed, output)
    for town in owed.partition_by("township", maintain_order=True) if owed.height else []:
        total = to_yuan(int(town["subsidy_fen"].sum()))
        click.echo(f"{town['township'][0] or '（未填乡镇）'}：{town.height} 人，应退补 {total} 元")
    if owed.height == 0:
        click.echo("没有待退补的县财政补贴")


@county_subsidy.command("record")
@click.option("--id-number", required=True)
@click.option("--benefit-year", type=int, required=True)
@click.option("--township", required=True)
@ACTOR
def county_subsidy_record(id_number: str, benefit_year: int, township: str, actor: str) -> None:
    """Record that the township paid the county subsidy back."""
    from canbao.services.payments import record_county_subsidy_refund

    fen = record_county_subsidy_refund(_engine(), id_number, benefit_year, township, actor)
    click.echo(f"已记录 {township} 向 {mask_id_number(id_number)} 退补 {to_yuan(fen)} 元")


def _local(at: dt.datetime) -> dt.datetime:
    """Times are stored in UTC (SQLite hands them back without a zone); officials read Beijing time."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(ZoneInfo("Asia/Shanghai"))


@click.command()
@click.option("--id-number", required=True)
def ledger(id_number: str) -> None:
    """A person's ledger entries and the balance derived from them."""
    from canbao.services.payments import ledger_of

    entries = ledger_of(_engine(), id_number)
    if entries.height == 0:
        click.echo(f"{mask_id_number(id_number)} 没有账目")
        return
    for e in entries.iter_rows(named=True):
        txn = f" 流水号 {e['channel_txn_id']}" if e["channel_txn_id"] else ""
        click.echo(f"{_local(e['recorded_at']):%Y-%m-%d %H:%M} {e['kind']:<22}{to_yuan(e['amount_fen']):>10} 元{txn}")
    sign = {"payment": 1, "refund": -1}
    personal = sum(sign.get(k, 0) * a for k, a in zip(entries["kind"], entries["amount_fen"], strict=True))
    click.echo(f"个人实缴净额：{to_yuan(personal)} 元")


COMMANDS: list[click.Command] = [db, person, enroll, pay, refund, enrollment, county_subsidy, ledger]
