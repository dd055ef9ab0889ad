"""`canbao channel add|add-key|list`: the payment channels notifications come from (services.channels, issue 15)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from canbao.cli.common import ACTOR, actor_or_login, engine
from canbao.errors import InputError

if TYPE_CHECKING:
    from canbao.services.channels import Channel

KEY_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("channel")
def channel_group() -> None:
    """缴费渠道：登记（微信支付、支付宝）、增加微信支付平台证书或公钥、列出."""


def _read(path: Path | None, field: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(field, f"无法读取文件 {path}：{exc.strerror}") from None


@channel_group.command("add")
@click.option("--name", required=True, help="渠道名称（通知地址 /notify/<类型>/<名称> 的最后一段），如 wx")
@click.option("--kind", required=True, help="渠道类型：wechatpay_v3（微信支付 APIv3）或 alipay（支付宝）")
@click.option("--merchant-id", required=True, help="商户号（微信支付 mchid，支付宝 app_id）")
@click.option("--api-v3-key-file", type=KEY_FILE, help="微信支付 APIv3 密钥文件（32 个字符）")
@click.option("--platform-public-key", type=KEY_FILE, required=True, help="平台公钥或平台证书文件（PEM）；支付宝公钥")
@click.option("--platform-serial", help="微信支付平台证书序列号或平台公钥 ID（PUB_KEY_ID_…）")
@click.option("--merchant-private-key", type=KEY_FILE, help="主动查单：商户 API 私钥文件（PEM，用于签名查单请求）")
@click.option("--merchant-serial", help="主动查单：微信支付商户 API 证书序列号")
@click.option("--gateway-url", help="主动查单：渠道接口地址（默认为渠道公布的地址；模拟器或测试环境时填写）")
@click.option(
    "--public-url",
    help="支付步骤：canbao 的公网地址（如 https://cb.example.gov.cn），用于 notify_url、return_url 和网页授权回调",
)
@click.option("--app-id", help="微信 JSAPI 支付：公众号 AppID（wx…）")
@click.option("--app-secret-file", type=KEY_FILE, help="微信 JSAPI 支付：公众号 AppSecret 文件（网页授权换取 openid）")
@click.option("--oauth-url", help="微信网页授权地址（默认 https://open.weixin.qq.com；模拟器时填写）")
@click.option("--sns-url", help="微信 code 换 openid 的接口地址（默认 https://api.weixin.qq.com；模拟器时填写）")
@ACTOR
def channel_add(
    name: str,
    kind: str,
    merchant_id: str,
    api_v3_key_file: Path | None,
    platform_public_key: Path,
    platform_serial: str | None,
    merchant_private_key: Path | None,
    merchant_serial: str | None,
    gateway_url: str | None,
    public_url: str | None,
    app_id: str | None,
    app_secret_file: Path | None,
    oauth_url: str | None,
    sns_url: str | None,
    actor: str | None,
) -> None:
    """登记一个缴费渠道；密钥在登记时校验."""
    from canbao.services.channels import KIND_LABELS, add_channel

    public = _read(platform_public_key, "platform_public_key")
    assert public is not None
    added = add_channel(
        engine(write=True), name=name, kind=kind, merchant_id=merchant_id, platform_public_key=public,
        platform_serial=platform_serial, api_v3_key=_read(api_v3_key_file, "api_v3_key"),
        merchant_private_key=_read(merchant_private_key, "merchant_private_key"), merchant_serial=merchant_serial,
        gateway_url=gateway_url, public_url=public_url, app_id=app_id,
        app_secret=_read(app_secret_file, "app_secret"), oauth_url=oauth_url, sns_url=sns_url,
        actor=actor_or_login(actor), now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    click.echo(f"已登记渠道 {added.name}（{KIND_LABELS[added.kind]}，商户号 {added.merchant_id}）")
    click.echo(f"通知地址：/notify/{added.kind}/{added.name}")
    click.echo(f"主动查单：{_query_words(added)}")
    click.echo(f"支付步骤：{_pay_words(added)}")


@channel_group.command("add-key")
@click.option("--name", required=True, help="微信支付渠道的名称，如 wx")
@click.option("--platform-public-key", type=KEY_FILE, required=True, help="新的平台公钥或平台证书文件（PEM）")
@click.option("--platform-serial", required=True, help="它的平台证书序列号或平台公钥 ID（PUB_KEY_ID_…）")
@ACTOR
def channel_add_key(name: str, platform_public_key: Path, platform_serial: str, actor: str | None) -> None:
    """微信支付：为渠道增加一个平台证书或微信支付公钥（更换平台证书、切换为微信支付公钥期间，新旧签名都能验证）."""
    from canbao.services.channels import add_platform_key
    from canbao.services.notifications import CHANNEL_CACHE_S

    public = _read(platform_public_key, "platform_public_key")
    assert public is not None
    channel = add_platform_key(
        engine(write=True), name=name, platform_public_key=public, platform_serial=platform_serial,
        actor=actor_or_login(actor), now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    serials = "、".join(channel.platform_keys)
    click.echo(f"渠道 {channel.name} 已增加平台证书或公钥 {platform_serial.strip()}；现可验证的序列号：{serials}")
    click.echo(f"正在运行的 canbao serve 在 {CHANNEL_CACHE_S:.0f} 秒内开始使用它")


def _pay_words(channel: Channel) -> str:
    if channel.pays_in_channel:
        step = "支付宝手机网站支付" if channel.kind == "alipay" else f"微信 JSAPI 支付（公众号 {channel.app_id}）"
        return f"{step}，通知地址 {channel.public_url}/notify/{channel.kind}/{channel.name}"
    needs = "商户 API 私钥和 --public-url" + (
        "" if channel.kind == "alipay" else "，以及 --app-id 和 --app-secret-file"
    )
    return f"未配置（需{needs}）：居民下单后在缴费结果页等待渠道通知"


def _query_words(channel: Channel) -> str:
    if channel.merchant_key is None:
        return "未配置（未提供商户 API 私钥 --merchant-private-key），逾时未通知的订单不会向渠道查询"
    return f"已配置，接口地址 {channel.gateway}"


@channel_group.command("list")
def channel_list() -> None:
    """列出已登记的缴费渠道（不显示密钥，只显示其指纹）."""
    from canbao.clock import local_time
    from canbao.services.channels import KIND_LABELS, list_channels

    found = list_channels(engine(write=False))
    if not found:
        click.echo("尚未登记缴费渠道（canbao channel add）")
    for c in found:
        key = f"，APIv3 密钥指纹 {c.key_fingerprint}" if c.key_fingerprint else ""
        serial = f"，平台证书序列号 {'、'.join(c.platform_keys)}" if c.platform_keys else ""
        when = local_time(c.created_at).strftime("%Y-%m-%d %H:%M")
        who = f"{when} 由 {c.created_by} 登记"
        click.echo(
            f"{c.name}：{KIND_LABELS[c.kind]}，商户号 {c.merchant_id}{serial}{key}；{who}；主动查单{_query_words(c)}；"
            f"支付步骤{_pay_words(c)}"
        )
