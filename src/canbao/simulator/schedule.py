"""The channels' published retry schedules, and what each counts as "acknowledged".

WeChat Pay (API v3 支付成功回调通知, https://pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/payment-notice.html,
and wiki/doc/apiv3/apis/chapter3_1_5.shtml): "如果微信收到商户的应答不符合规范或超时，微信认为通知失败 …
（通知频率为15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m）"; "接收成功：HTTP应答状态码需返回200
或204，无需返回应答报文"; "商户接收到回调通知报文后，需在5秒内完成对报文的验签，并应答回调通知".
So 16 attempts: the first at once, then 15 retries, the intervals summing to 24 h 4 min.

Alipay (异步通知说明, https://docs.open.alipay.com/270/105902): "程序执行完后必须打印输出“success”（不包含引号）。
如果商户反馈给支付宝的字符不是success这7个字符，支付宝服务器会不断重发通知，直到超过24小时22分钟。一般情况下，25小时以内
完成8次通知（通知的间隔频率一般是：4m,10m,10m,1h,2h,6h,15h）". So 8 attempts: the first at once, then 7 retries.
(Antom's English page, docs.antom.com/ac/wap_hk/asyncnotif, gives 2m for the first interval; the Chinese open
platform's 4m is used here.) Alipay publishes no answer timeout; the simulator waits as long as WeChat's 5 s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_s, _m, _h = (dt.timedelta(seconds=1), dt.timedelta(minutes=1), dt.timedelta(hours=1))


@dataclass(frozen=True)
class Schedule:
    kind: str
    intervals: tuple[dt.timedelta, ...]  # the wait before each retry, after the first attempt
    timeout: dt.timedelta  # how long an answer is waited for before the attempt counts as failed

    @property
    def attempts(self) -> int:
        return 1 + len(self.intervals)

    @property
    def total(self) -> dt.timedelta:
        return sum(self.intervals, dt.timedelta())

    def offsets(self) -> list[dt.timedelta]:
        """When each attempt is sent, from the first."""
        out, at = [dt.timedelta()], dt.timedelta()
        for wait in self.intervals:
            at += wait
            out.append(at)
        return out


WECHATPAY = Schedule(
    "wechatpay_v3",
    (15 * _s, 15 * _s, 30 * _s, 3 * _m, 10 * _m, 20 * _m, 30 * _m, 30 * _m, 30 * _m, 60 * _m,
     3 * _h, 3 * _h, 3 * _h, 6 * _h, 6 * _h),
    5 * _s,
)  # fmt: skip
ALIPAY = Schedule("alipay", (4 * _m, 10 * _m, 10 * _m, 1 * _h, 2 * _h, 6 * _h, 15 * _h), 5 * _s)
SCHEDULES = {s.kind: s for s in (WECHATPAY, ALIPAY)}


def acknowledged(kind: str, status: int, body: bytes) -> bool:
    """Whether the channel takes this answer as received: WeChat Pay an HTTP 200 or 204 (the body is not read);
    Alipay a page (HTTP 200) whose body is exactly the 7 characters ``success``."""
    if kind == "wechatpay_v3":
        return status in (200, 204)
    if kind == "alipay":
        return status == 200 and body == b"success"
    raise ValueError(f"unknown channel kind {kind!r}")
