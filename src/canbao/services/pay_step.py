"""The channels' pay step (issue 15): how the resident's browser pays an open order in the channel's own cashier,
as the channels publish it, for a channel registered with the merchant's key and canbao's public URL.

- Alipay 手机网站支付 (`alipay.trade.wap.pay`): the signed parameters (canbao.channels.alipay.wap_pay_params);
  the browser is sent to the gateway with them (GET), Alipay's cashier opens there, the browser comes back to
  the status page (`return_url`) and the payment as the notification (`notify_url`).
- WeChat Pay JSAPI (in WeChat's browser): 网页授权 snsapi_base gives a `code` for the payer (the browser is sent to
  WeChat's authorize address and comes back to /h5/wxpay/{out_trade_no}); canbao changes it for the openid
  (sns/oauth2/access_token), places the order (`POST /v3/pay/transactions/jsapi`, signed, its answer's
  signature verified) and gives the page the signed parameters of ``getBrandWCPayRequest``.

Either way it is the notification (or 主动查单), never the page, that enrolls.  A channel without these settings
pays as before: the status page waits for the notification.  A channel that cannot be reached, or answers with a
refusal, is a PayStepFailed in plain Chinese for the resident."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from sqlalchemy import Engine, select

from canbao.channels import NotificationRefused, alipay, wechatpay_v3
from canbao.errors import CanbaoError
from canbao.services.channels import Channel, channel_named
from canbao.services.orders import token_digest
from canbao.store.tables import orders

TIMEOUT_S = 10.0  # a channel's answer waited for this long
STATE = 64  # the longest OAuth `state` taken from the page (WeChat allows 128 bytes)


class PayStepFailed(CanbaoError):
    """The channel's pay step could not be started: the resident's words."""


@dataclass(frozen=True)
class PayStep:
    how: str  # "status": wait on the status page; "redirect": go to `url`; "jsapi": invoke with `params`
    url: str | None = None
    params: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"how": self.how, "url": self.url, "params": self.params}


def subject(benefit_year: int) -> str:
    return f"{benefit_year}年度城乡居民医保缴费"


def notify_url(channel: Channel) -> str:
    return f"{channel.public_url}/notify/{channel.kind}/{quote(channel.name, safe='')}"


def status_url(channel: Channel, out_trade_no: str) -> str:
    return f"{channel.public_url}/h5/status/{quote(out_trade_no, safe='')}"


def start(
    engine: Engine, out_trade_no: str, token: str, *, code: str | None, state: str | None, now: dt.datetime,
    http: httpx.Client,
) -> PayStep:  # fmt: skip
    """The next pay step of the open order `out_trade_no` for the resident holding its token (LookupError for
    an unknown order or a wrong token); `code`: WeChat's 网页授权 code once the browser is back; `now`: the
    real time (the channels check their signatures' times)."""
    with engine.connect() as c:
        row = c.execute(select(orders).where(orders.c.out_trade_no == out_trade_no)).mappings().first()
    if row is None or not secrets.compare_digest(row["token_sha256"], token_digest(token)):
        raise LookupError(out_trade_no)
    if row["status"] != "open":
        return PayStep("status")
    channel = channel_named(engine, None, row["channel"])
    if channel is None or not channel.pays_in_channel:
        return PayStep("status")
    assert channel.merchant_key is not None
    if channel.kind == alipay.KIND:
        params = alipay.wap_pay_params(
            channel.merchant_id, out_trade_no=out_trade_no, amount_fen=row["amount_fen"],
            subject=subject(row["benefit_year"]), notify_url=notify_url(channel),
            return_url=status_url(channel, out_trade_no), quit_url=f"{channel.public_url}/h5/pay",
            private_key=channel.merchant_key, at=now,
        )  # fmt: skip
        return PayStep("redirect", f"{channel.gateway}?{urlencode(params)}")
    if not code:
        if not state or len(state) > STATE or not state.isascii() or not state.isalnum():
            raise PayStepFailed("页面参数有误，请返回重新缴费")
        back = f"{channel.public_url}/h5/wxpay/{quote(out_trade_no, safe='')}"
        assert channel.app_id is not None
        oauth = channel.oauth_url or wechatpay_v3.OAUTH
        return PayStep(
            "redirect", wechatpay_v3.authorize_url(oauth, appid=channel.app_id, redirect_uri=back, state=state)
        )
    return PayStep("jsapi", params=_jsapi(channel, row, code, now, http))


def _jsapi(channel: Channel, order: Any, code: str, now: dt.datetime, http: httpx.Client) -> dict[str, str]:
    assert channel.app_id and channel.app_secret and channel.merchant_key and channel.merchant_serial
    assert channel.platform_serial is not None
    sns = channel.sns_url or wechatpay_v3.SNS
    try:
        answer = http.get(wechatpay_v3.token_url(sns, appid=channel.app_id, secret=channel.app_secret, code=code))
        openid = wechatpay_v3.read_openid(answer.content)
    except httpx.HTTPError:
        raise PayStepFailed("暂时无法连接微信（网页授权），请稍后再试") from None
    except NotificationRefused:
        raise PayStepFailed("微信未能确认您的身份（授权已过期或无效），请返回重新缴费") from None
    body = wechatpay_v3.jsapi_body(
        appid=channel.app_id, mchid=channel.merchant_id, description=subject(order["benefit_year"]),
        out_trade_no=order["out_trade_no"], notify_url=notify_url(channel), amount_fen=order["amount_fen"],
        openid=openid,
    )  # fmt: skip
    auth = wechatpay_v3.authorization(
        "POST", wechatpay_v3.JSAPI_PATH, body, mchid=channel.merchant_id, serial=channel.merchant_serial,
        private_key=channel.merchant_key, at=now, nonce=secrets.token_hex(16),
    )  # fmt: skip
    headers = {"Authorization": auth, "Accept": "application/json", "Content-Type": "application/json"}
    try:
        placed = http.post(channel.gateway + wechatpay_v3.JSAPI_PATH, content=body, headers=headers)
        prepay = wechatpay_v3.read_prepay(
            placed.status_code, dict(placed.headers), placed.content,
            public_keys=channel.platform_keys, now=now,
        )  # fmt: skip
    except httpx.HTTPError:
        raise PayStepFailed("暂时无法连接微信支付，请稍后再试；未发生扣款") from None
    except NotificationRefused as exc:
        raise PayStepFailed(f"微信支付下单未成功（{exc}），请稍后再试；未发生扣款") from None
    return wechatpay_v3.pay_request(
        appid=channel.app_id, prepay_id=prepay, private_key=channel.merchant_key, at=now, nonce=secrets.token_hex(16)
    )
