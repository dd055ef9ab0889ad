"""`canbao db|person|enroll|pay|refund|enrollment|county-subsidy|ledger`: the registry and ledger use cases.

The database is CANBAO_DATABASE_URL (default: the SQLite file canbao.db here), named on stderr by every
command; `canbao db upgrade` creates or migrates it.  ID numbers are masked in everything printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from canbao import bootstrap
from canbao.cli.common import ACTOR, FILE, actor_or_login, engine, parse_amount, parse_date, read_json, settings
from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.money import to_yuan
from canbao.vocabulary import LEDGER_KIND_LABELS

CHANNELS = "online（线上）、collecting_unit（代收单位）、school（学校）、bank_debit（银行代扣）"


@click.group()
def db() -> None:
    """数据库：创建或升级."""


@db.command("upgrade")
def db_upgrade() -> None:
    """创建数据库或升级到最新结构（CANBAO_DATABASE_URL，默认当前目录的 canbao.db）.

    以数据库连接的登录用户（须为表的所有者）运行迁移。PostgreSQL：随后创建应用角色（canbao_app 或
    CANBAO_DB_ROLE）并授予所需权限：登记表可读写，台账和审计日志只可查询和追加；canbao 的连接切换到该角色。"""
    from canbao.store.db import app_role_name

    config = settings()
    revision = bootstrap.upgrade_database(config)
    click.echo(f"数据库已是最新版本 {revision}：{bootstrap.shown_url(config.database_url)}")
    if config.database_url.startswith("postgresql"):
        click.echo(f"已按表的所有者完成迁移，并授予应用角色 {app_role_name()}：台账和审计日志只可查询和追加")


@click.group()
def person() -> None:
    """参保人查询."""


@person.command("lookup")
@click.option("--name", required=True, help="姓名")
@click.option("--id-number", required=True, help="身份证号码")
def person_lookup(name: str, id_number: str) -> None:
    """按姓名和身份证号码查询参保人（两者须一致）."""
    from canbao.services.renewal import lookup

    click.echo(json.dumps(lookup(engine(write=False), name, id_number), ensure_ascii=False, indent=2))


def _print_payment(result: object) -> None:
    from canbao.services.payments import PaymentResult

    assert isinstance(result, PaymentResult)
    state = "重复通知，已按首次结果返回" if result.replayed else "缴费成功，已参保"
    click.echo(
        f"{state}：参保记录 {result.enrollment_id}，实缴 {to_yuan(result.amount_fen)} 元，"
        f"待遇期 {result.benefit_start} 至 {result.benefit_end}"
    )


PAYMENT_OPTIONS = [
    click.option("--channel", required=True, help=f"缴费渠道：{CHANNELS}"),
    click.option("--channel-name", help="线上渠道名称：微信、支付宝、皖事通 …"),
    click.option("--txn", "txn_id", required=True, help="渠道的交易流水号（同一流水号只入账一次）"),
    click.option("--amount", required=True, help="渠道报告的金额（元）"),
]


def _payment_options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(PAYMENT_OPTIONS):
        f = option(f)
    return f


@click.command()
@click.option("--policy", "policy_id", required=True, help="政策，如 anhui/bengbu/2022")
@click.option("--input", "source", required=True, help="测算用的 JSON（person、situation、paid_on），- 为标准输入")
@_payment_options
@click.option("--collecting-unit", help="代收单位（渠道 collecting_unit）")
@click.option("--township", help="乡镇（街道）")
@click.option("--village", help="村（社区）")
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
    actor: str | None,
) -> None:
    """通过一个渠道参保缴费；同一流水号重复通知只记一次."""
    from canbao.services.payments import Payment
    from canbao.services.payments import pay as do_pay

    application = read_json(source)
    request = Payment(
        policy_id, application, channel, txn_id, parse_amount(amount), channel_name, collecting_unit, township, village
    )
    _print_payment(do_pay(engine(write=True), request, actor_or_login(actor)))


@click.command()
@click.option("--policy", "policy_id", required=True, help="政策，如 anhui/suzhou/lingbi/2022")
@click.option("--name", required=True, help="姓名")
@click.option("--id-number", required=True, help="身份证号码")
@click.option("--paid-on", required=True, help="缴费日期 YYYY-MM-DD")
@_payment_options
@click.option("--county", help="县（区）行政区划代码（仅新参保人员）")
@click.option("--residency", help="参保人员类型，如 local_hukou（仅新参保人员）")
@click.option("--categories", default="", help="资助身份类别，以 ; 分隔（仅新参保人员）")
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
    actor: str | None,
) -> None:
    """查询并续保（上年度参保人员），或登记并参保新人员."""
    from canbao.services.renewal import renew

    new_person = {"county": county, "residency": residency, "categories": [c for c in categories.split(";") if c]}
    day, money = parse_date(paid_on, "paid_on"), parse_amount(amount)
    result = renew(
        engine(write=True), policy_id, name, id_number, day, channel, txn_id, money,
        actor_or_login(actor), channel_name, new_person if county else None,
    )  # fmt: skip
    _print_payment(result)


@click.command()
@click.option("--id-number", required=True, help="身份证号码")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
@click.option(
    "--reason", required=True,
    help="退费原因：death（死亡）、duplicate_payment（重复缴费）、joined_employee_insurance（参加职工医保）、"
    "joined_elsewhere（在外地参保）",
)  # fmt: skip
@click.option("--requested-on", required=True, help="申请日期 YYYY-MM-DD")
@ACTOR
def refund(id_number: str, benefit_year: int, reason: str, requested_on: str, actor: str | None) -> None:
    """按政策可退时退还个人缴费，参保关系终止."""
    from canbao.services.payments import refund as do_refund

    day = parse_date(requested_on, "requested_on")
    result = do_refund(engine(write=True), id_number, benefit_year, reason, day, actor_or_login(actor))
    if result.refundable:
        click.echo(f"已退费 {to_yuan(result.amount_fen)} 元，参保关系终止：{result.why}")
    else:
        click.echo(f"不予退费：{result.why}")


@click.group()
def enrollment() -> None:
    """暂停或终止参保关系."""


def _end(status: str) -> click.Command:
    words = "暂停" if status == "suspended" else "终止"

    @click.command(status[:-2] if status.endswith("ed") else status)
    @click.option("--id-number", required=True, help="身份证号码")
    @click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2022")
    @click.option(
        "--reason", required=True,
        help="原因：death（死亡）、joined_employee_insurance（参加职工医保）、moved_away（迁出本地）、other（其他）",
    )  # fmt: skip
    @click.option("--on", "on", required=True, help=f"{words}日期 YYYY-MM-DD")
    @ACTOR
    def command(id_number: str, benefit_year: int, reason: str, on: str, actor: str | None) -> None:
        from canbao.services.payments import end_enrollment
        from canbao.vocabulary import END_REASON_LABELS

        day = parse_date(on, "on")
        end_enrollment(engine(write=True), id_number, benefit_year, status, reason, day, actor_or_login(actor))  # type: ignore[arg-type]
        label = END_REASON_LABELS.get(reason, reason)
        click.echo(f"{mask_id_number(id_number)} 的 {benefit_year} 年度参保关系已{words}（{label}）")

    command.help = f"{words}参保关系，并记录原因."
    return command


enrollment.add_command(_end("suspended"), "suspend")
enrollment.add_command(_end("terminated"), "terminate")


@click.group("county-subsidy")
def county_subsidy() -> None:
    """先缴后补：县财政补贴退补."""


@county_subsidy.command("list")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2025")
@click.option("--township", help="只列这个乡镇（街道）")
@click.option("--output", type=FILE, help="清单文件：.xlsx 工作簿或 .csv")
def county_subsidy_list(benefit_year: int, township: str | None, output: Path | None) -> None:
    """应退补的县财政补贴，按乡镇汇总."""
    from canbao.services import payments

    refusal = None if output is None else payments.county_subsidy_output_refusal(output)
    if refusal is not None:  # before any work
        raise InputError("output", refusal)
    owed = payments.county_subsidy_refunds_owed(engine(write=False), benefit_year, township)
    for town in owed.partition_by("township", maintain_order=True) if owed.height else []:
        total = to_yuan(int(town["subsidy_fen"].sum()))
        click.echo(f"{town['township'][0] or '（未填乡镇）'}：{town.height} 人，应退补 {total} 元")
    if owed.height == 0:
        click.echo("没有待退补的县财政补贴")
    if output is not None:
        payments.write_county_subsidy_refunds(owed, output)
        click.echo(f"退补清单（{owed.height} 人）已写入 {output}")


@county_subsidy.command("record")
@click.option("--id-number", required=True, help="身份证号码")
@click.option("--benefit-year", type=int, required=True, help="待遇年度，如 2025")
@click.option("--township", required=True, help="退补的乡镇（街道）")
@ACTOR
def county_subsidy_record(id_number: str, benefit_year: int, township: str, actor: str | None) -> None:
    """记录乡镇已退补县财政补贴."""
    from canbao.services.payments import record_county_subsidy_refund

    fen = record_county_subsidy_refund(engine(write=True), id_number, benefit_year, township, actor_or_login(actor))
    click.echo(f"已记录 {township} 向 {mask_id_number(id_number)} 退补 {to_yuan(fen)} 元")


@click.command()
@click.option("--id-number", required=True, help="身份证号码")
def ledger(id_number: str) -> None:
    """一个人的台账明细及其个人实缴净额（时间为北京时间）."""
    from canbao.services.payments import ledger_of

    entries = ledger_of(engine(write=False), id_number)
    if entries.height == 0:
        click.echo(f"{mask_id_number(id_number)} 没有账目")
        return
    for e in entries.iter_rows(named=True):
        txn = f" 流水号 {e['channel_txn_id']}" if e["channel_txn_id"] else ""
        kind = LEDGER_KIND_LABELS.get(e["kind"], e["kind"])
        at = bootstrap.local_time(e["recorded_at"])
        click.echo(f"{at:%Y-%m-%d %H:%M} {kind:<10}{to_yuan(e['amount_fen']):>10} 元{txn}")
    sign = {"payment": 1, "refund": -1}
    personal = sum(sign.get(k, 0) * a for k, a in zip(entries["kind"], entries["amount_fen"], strict=True))
    click.echo(f"个人实缴净额：{to_yuan(personal)} 元")


COMMANDS: list[click.Command] = [db, person, enroll, pay, refund, enrollment, county_subsidy, ledger]
