"""`canbao simulator setup|pay|gateway`: the channel simulator (canbao.simulator) for the demo and tests — it
plays WeChat Pay and Alipay: their keys, their signed notifications on their retry schedules, their order query.

The simulator's folder (`--dir`) holds each simulated channel's keys (the private ones 0600) and its trades;
canbao's database gets the public parts only, as from `canbao channel add`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from canbao.cli.common import ACTOR, actor_or_login, engine, parse_amount
from canbao.errors import CanbaoError, InputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from fastapi import FastAPI

    from canbao.simulator.channel import Notification, SimulatedChannel

DIR = click.option(
    "--dir", "folder", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="模拟器目录（保存模拟渠道的密钥和交易）",
)  # fmt: skip
DEFAULT_CHANNELS = (("wx", "wechatpay_v3"), ("ali", "alipay"))
VARIANTS = ("valid", "tampered", "late", "wrong-amount", "wrong-key", "wrong-serial")


@click.group("simulator")
def simulator_group() -> None:
    """渠道模拟器（演示和测试用）：模拟微信支付、支付宝的签名通知、重试和查单."""


def _channel(folder: Path, name: str) -> SimulatedChannel:
    from canbao.simulator.channel import TRADES, SimulatedChannel
    from canbao.simulator.keys import ChannelKeys

    if not ChannelKeys.exists(folder, name):
        raise InputError("channel", f"{folder} 下没有模拟渠道 {name}（先运行 canbao simulator setup --dir {folder}）")
    return SimulatedChannel(ChannelKeys.load(folder, name), store=folder / name / TRADES)


@simulator_group.command("setup")
@DIR
@click.option(
    "--gateway-url", default=None,
    help="模拟器查单接口的地址（如 canbao serve --simulator 的 http://127.0.0.1:8000/simulator）：给出时渠道连同商户私钥登记，逾时未通知的订单向模拟器主动查单",
)  # fmt: skip
@click.option(
    "--public-url", default=None,
    help="canbao 的地址（支付步骤的 notify_url、return_url 和网页授权回调；"
    "默认为 --gateway-url 去掉末尾的 /simulator）",
)  # fmt: skip
@ACTOR
def simulator_setup(folder: Path, gateway_url: str | None, public_url: str | None, actor: str | None) -> None:
    """生成模拟渠道 wx（微信支付 APIv3）和 ali（支付宝）的密钥，并在数据库中登记（只登记公钥；给出
    --gateway-url 时另登记商户私钥，用于主动查单，以及支付步骤：支付宝手机网站支付、微信网页授权和 JSAPI 支付）."""
    from canbao.services.channels import KIND_LABELS, channel_named
    from canbao.simulator.keys import ChannelKeys

    folder.mkdir(parents=True, exist_ok=True)
    database = engine(write=True)
    for name, kind in DEFAULT_CHANNELS:
        made = not ChannelKeys.exists(folder, name)
        keys = ChannelKeys.generate(kind, name) if made else ChannelKeys.load(folder, name)
        if made:
            keys.save(folder)
        registered = channel_named(database, kind, name)
        if registered is None:
            query, pay = None, None
            if gateway_url:
                base = gateway_url.rstrip("/")
                query = (merchant_key_pem(folder), base if kind == "wechatpay_v3" else f"{base}/gateway.do")
                pay = ((public_url or base.removesuffix("/simulator")).rstrip("/"), base)
            keys.register(database, actor=actor_or_login(actor), now=dt.datetime.now(dt.UTC), query=query, pay=pay)
            state = "已登记" + ("（含主动查单和支付步骤）" if query else "")
        elif registered.public_key.public_numbers() == keys.public_key.public_numbers():
            state = "此前已登记"
        else:
            raise InputError(
                "dir", f"数据库中的渠道 {name} 登记的是另一把公钥，不是 {folder / name} 的；请换一个数据库或目录"
            )
        where = "新生成" if made else "沿用"
        click.echo(
            f"{name}：{KIND_LABELS[kind]}，商户号 {keys.merchant_id}；密钥{where}（{folder / name}）；{state}；"
            f"通知地址 /notify/{kind}/{name}"
        )


def mounted_gateway(folder: Path, fixed_today: dt.date | None) -> FastAPI:
    """The simulator's channels of `folder` as `canbao serve --simulator` mounts them at /simulator: its query
    API and cashier, the cashier's payments notified to the portal that served it, succeeding on the
    campaign's day (`fixed_today`, a demo county's --today) at the time of day now."""
    from canbao.clock import CAMPAIGN_ZONE
    from canbao.simulator.channel import load_channels
    from canbao.simulator.gateway import create_gateway

    def paid_at() -> dt.datetime:
        now = dt.datetime.now(dt.UTC)
        if fixed_today is None:
            return now
        return dt.datetime.combine(fixed_today, now.astimezone(CAMPAIGN_ZONE).timetz())

    return create_gateway(load_channels(folder), deliver_to_host=True, paid_clock=paid_at,
                          merchant_public_key=merchant_public_key(folder))  # fmt: skip


MERCHANT_KEY = "merchant_key.pem"  # in the simulator's folder: the simulated merchant's API private key


def merchant_public_key(folder: Path) -> rsa.RSAPublicKey | None:
    """The simulated merchant's public key (of `merchant_key.pem`, made by setup --gateway-url), or None."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = folder / MERCHANT_KEY
    if not path.is_file():
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.public_key() if isinstance(key, rsa.RSAPrivateKey) else None


def merchant_key_pem(folder: Path) -> bytes:
    """The simulated merchant's API private key (PEM, 0600 in `folder`), made once: it signs canbao's queries
    (the simulator checks the pay step's with its public key)."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = folder / MERCHANT_KEY
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return path.read_bytes()


def _paid_at(value: str | None) -> dt.datetime:
    from canbao.clock import CAMPAIGN_ZONE

    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError("paid_at", f"“{value}”不是有效时间（格式 YYYY-MM-DDTHH:MM:SS，可带时区）") from None
    return at if at.tzinfo else at.replace(tzinfo=CAMPAIGN_ZONE)


def _variant(channel: SimulatedChannel, n: Notification, variant: str) -> Notification:
    if variant == "tampered":
        return channel.tampered(n)
    if variant == "late":
        return channel.late(n)
    if variant == "wrong-amount":
        return channel.wrong_amount(n.payment, n.payment.amount_fen + 100)
    if variant == "wrong-key":
        return channel.wrong_key(n)
    if variant == "wrong-serial":
        if channel.kind != "wechatpay_v3":
            raise InputError("variant", "wrong-serial 只适用于微信支付渠道")
        return channel.wrong_serial(n, "0" * 40)
    return n


@simulator_group.command("pay")
@DIR
@click.option("--channel", "name", required=True, help="模拟渠道名称：wx 或 ali")
@click.option("--out-trade-no", required=True, help="canbao 的商户订单号")
@click.option("--amount", required=True, help="支付金额（元）")
@click.option("--to", "base_url", default="http://127.0.0.1:8000", show_default=True, help="canbao 的地址")
@click.option("--paid-at", help="支付成功时间（ISO 格式；不带时区时按北京时间；默认：现在）")
@click.option(
    "--time-scale", default=1.0, show_default=True, type=click.FloatRange(0), help="重试间隔的缩放（0.001：快进）"
)
@click.option("--max-attempts", type=click.IntRange(1), help="最多发送次数（默认：渠道公布的全部次数）")
@click.option(
    "--variant", default="valid", show_default=True, type=click.Choice(VARIANTS), help="发送的通知：正常或某种异常"
)
def simulator_pay(
    folder: Path,
    name: str,
    out_trade_no: str,
    amount: str,
    base_url: str,
    paid_at: str | None,
    time_scale: float,
    max_attempts: int | None,
    variant: str,
) -> None:
    """模拟支付一笔订单，并按渠道公布的重试频率发送签名通知，直到 canbao 确认收到."""
    from canbao.money import to_fen
    from canbao.simulator.sender import Deliverer

    fen = to_fen(parse_amount(amount))
    if fen <= 0:
        raise InputError("amount", "支付金额应大于 0")
    channel = _channel(folder, name)
    payment = channel.pay(out_trade_no.strip(), fen, _paid_at(paid_at))
    n = _variant(channel, channel.notification(payment), variant)
    click.echo(f"{name}：订单 {payment.out_trade_no} 已支付 {amount} 元，渠道交易号 {payment.transaction_id}")
    with Deliverer(base_url, time_scale=time_scale, max_attempts=max_attempts, workers=1) as deliverer:
        delivery = deliverer.deliver(n)
    for a in delivery.attempts:
        answer = f"HTTP {a.status}" if a.status is not None else f"无应答（{a.answer}）"
        ok = "已确认" if a.acknowledged else "未确认"
        click.echo(f"第 {a.number} 次（渠道时间 +{a.channel_offset}）：{answer}，{ok}，{a.elapsed_ms:.0f} 毫秒")
    if not delivery.acknowledged:
        raise CanbaoError(f"通知未被 {base_url} 确认（共发送 {len(delivery.attempts)} 次）")


@simulator_group.command("gateway")
@DIR
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535), help="监听端口")
@click.option("--to", "base_url", help="canbao 的地址：模拟收银台支付后向它发送通知（如 http://127.0.0.1:8000）")
@click.option(
    "--time-scale", default=1.0, show_default=True, type=click.FloatRange(0), help="重试间隔的缩放（0.001：快进）"
)
def simulator_gateway(folder: Path, host: str, port: int, base_url: str | None, time_scale: float) -> None:
    """提供渠道的查单接口（微信支付 /v3/pay/transactions/out-trade-no/…，支付宝 /gateway.do）和模拟收银台
    （/cashier/<渠道>）."""
    import uvicorn

    from canbao.simulator.gateway import create_gateway

    names = sorted(p.name for p in folder.iterdir() if (p / "channel.json").is_file()) if folder.is_dir() else []
    if not names:
        raise InputError("dir", f"{folder} 下没有模拟渠道（先运行 canbao simulator setup --dir {folder}）")
    channels = [_channel(folder, name) for name in names]
    click.echo(f"查单接口：http://{host}:{port}/（渠道 {'、'.join(names)}）", err=True)
    app = create_gateway(channels, deliver_to=base_url, time_scale=time_scale,
                         merchant_public_key=merchant_public_key(folder))  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
