"""`canbao synth` (a reproducible synthetic county, issue 5; see :mod:`canbao.synth` for the files) and
`canbao demo` (a whole season on it, end to end)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from canbao.synth import FAULT_KINDS, LINGBI, MIN_PERSONS, PART_SIZE

FAULT_LABELS = {
    "bad_check_digit": "名单身份证号码校验位错误",
    "dual_identity": "双重身份（两个部门名单）",
    "duplicate_row": "名单重复行",
    "tax_without_enrollment": "有税务缴费记录、无参保缴费",
    "enrollment_without_payment": "有参保缴费、无税务和银行记录",
    "amount_mismatch": "银行与税务金额不一致",
    "enrolled_in_two_counties": "两地重复参保",
    "dead_on_roster": "死亡人员仍在参保名册",
}
assert set(FAULT_LABELS) == set(FAULT_KINDS)


@click.command("synth")
@click.option("--county", default=LINGBI, show_default=True, help="6位行政区划代码，如 341323 灵璧县")
@click.option(
    "--persons",
    type=click.IntRange(min=MIN_PERSONS),
    default=1_100_000,
    show_default=True,
    help="全县人数",
)
@click.option("--seed", type=int, default=0, show_default=True, help="随机种子：同一种子，逐字节相同的文件")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="输出文件夹")
@click.option("--policy", "policy_id", help="本待遇年度的政策（默认：覆盖该县的最新政策）")
@click.option("--last-policy", "last_policy_id", help="上年度的政策，用于上年度名册的缴费金额")
@click.option("--target", type=click.IntRange(min=0), help="参保任务人数（默认：按通知的任务等比例缩放）")
@click.option("--e-voucher-target", type=click.IntRange(min=0), help="电子凭证激活任务人数")
@click.option(
    "--part-size", type=click.IntRange(min=MIN_PERSONS), default=PART_SIZE, show_default=True,
    help="更大的县分片写出（parts/00、parts/01 …），每片至多这么多人",
)  # fmt: skip
def synth_command(
    county: str,
    persons: int,
    seed: int,
    out: Path,
    policy_id: str | None,
    last_policy_id: str | None,
    target: int | None,
    e_voucher_target: int | None,
    part_size: int,
) -> None:
    """生成一个合成县：名单、名册、任务分解表、一个征缴期的缴费、税务和银行记录，以及注入的问题."""
    from canbao.synth import build_county

    started = time.perf_counter()
    manifest = build_county(
        county,
        persons,
        seed,
        out,
        policy_id=policy_id,
        last_policy_id=last_policy_id,
        target=target,
        e_voucher_target=e_voucher_target,
        part_size=part_size,
    )
    data = manifest.data
    counts = data["counts"]
    click.echo(
        f"{data['county']['name']}（{data['county']['code']}）{data['persons']:,} 人，种子 {data['seed']}，"
        f"政策 {data['policy']}（上年度 {data['last_policy'] or '无'}）"
    )
    click.echo(
        f"乡镇 {counts['townships']} 个，村（社区）{counts['villages']} 个，学校 {counts['schools']} 所；"
        f"上年度名册 {counts['roster']:,} 人，本年度缴费 {counts['payments']:,} 笔，未续保 {counts['not_renewed']:,} 人"
    )
    click.echo(f"参保任务 {data['targets']['enrollment']:,} 人，电子凭证激活任务 {data['targets']['e_voucher']:,} 人")
    click.echo("注入的问题：" + "，".join(f"{FAULT_LABELS[k]} {len(v)}" for k, v in manifest.faults.items()))
    seconds = time.perf_counter() - started
    if len(manifest.folders) > 1:
        click.echo(f"分 {len(manifest.folders)} 片写出（parts/00 …），每片是一个完整的县文件夹，任务分解表在顶层")
    click.echo(f"已写入 {len(manifest.files) + 1} 个文件到 {out}（{seconds:.1f} 秒），清单见 manifest.json")


@click.command()
@click.option("--persons", default=100_000, show_default=True, help="合成县的人数")
@click.option("--seed", default=2021, show_default=True, help="随机种子")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True, help="输出文件夹")
@click.option("--county", default="341323", show_default=True, help="6位行政区划代码")
@click.option(
    "--part-size", type=click.IntRange(min=500), default=1_100_000, show_default=True,
    help="更大的县分片生成和导入，每片这么多人",
)  # fmt: skip
@click.option("--url", help="数据库 URL（默认：--out 中新建的 SQLite 文件 canbao.db）")
def demo(persons: int, seed: int, out: Path, county: str, part_size: int, url: str | None) -> None:
    """一个县的完整征缴期（默认 SQLite）：合成数据、导入、开征、入账、汇总."""
    from canbao.season_demo import run as run_demo

    run_demo(persons, seed, out, county, url=url, part_size=part_size)
