"""The channels' order query (主动查单) as the simulator serves it: a small FastAPI app.

- WeChat Pay: ``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`` → 200 with the transaction
  (trade_state SUCCESS) or the placed order (NOTPAY), 404 ``ORDER_NOT_EXIST``; the answer signed with the
  platform key in the Wechatpay-* headers, as WeChat Pay signs its answers.
- Alipay: ``POST /gateway.do`` with ``method=alipay.trade.query`` and ``biz_content={"out_trade_no": …}`` (the
  common parameters in the query string or the form, as Alipay's SDKs send them) → ``{"alipay_trade_query_
  response": {code 10000, trade_status TRADE_SUCCESS | WAIT_BUYER_PAY} | {code 40004, sub_code
  ACQ.TRADE_NOT_EXIST}, "sign": …}`` signed over the response object's exact text.

The simulator does NOT verify the merchant's request signature (WeChat's Authorization header, Alipay's request
sign): it is a stand-in for the channel's answers, not a check of canbao's requests. It does sign every answer
as the channel does, so canbao's check of the answers is exercised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response

from canbao.clock import CAMPAIGN_ZONE
from canbao.simulator import alipay, wechat
from canbao.simulator.channel import SimulatedChannel
from canbao.simulator.sender import Clock, real_clock

ALIPAY_JSON = "application/json;charset=utf-8"


def create_gateway(channels: Iterable[SimulatedChannel], *, clock: Clock = real_clock) -> FastAPI:
    """The query endpoints of every channel given, found by their merchant id (mchid / app_id)."""
    given = list(channels)
    wx = {c.keys.merchant_id: c for c in given if c.kind == wechat.KIND}
    ali = {c.keys.merchant_id: c for c in given if c.kind == alipay.KIND}
    app = FastAPI(title="canbao 渠道模拟器（查单）", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v3/pay/transactions/out-trade-no/{out_trade_no}")
    def wechat_query(out_trade_no: str, mchid: str = "") -> Response:
        channel = wx.get(mchid)
        if channel is None:
            status, headers, body = wechat.error_answer(None, 400, "PARAM_ERROR", "商户号 mchid 不存在", clock())
            return Response(body, status, headers)
        found = channel.lookup(out_trade_no)
        keys = channel.keys
        if found is None:
            plain = None
        elif found.state == "paid":
            assert found.paid_at is not None
            plain = wechat.transaction(
                keys, out_trade_no=out_trade_no, amount_fen=found.amount_fen, paid_at=found.paid_at,
                transaction_id=found.transaction_id, openid=found.payer,
            )  # fmt: skip
        else:
            plain = wechat.not_paid(keys, out_trade_no=out_trade_no, amount_fen=found.amount_fen)
        status, headers, body = wechat.query_answer(keys, plain, clock())
        return Response(body, status, headers)

    @app.api_route("/gateway.do", methods=["GET", "POST"])
    async def alipay_gateway(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            raw = (await request.body()).decode("utf-8", "replace")
            params |= dict(parse_qsl(raw, keep_blank_values=True))
        channel = ali.get(params.get("app_id", ""))
        if channel is None:
            body = alipay.error_answer(None, "40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
            return Response(body, 200, media_type=ALIPAY_JSON)
        if params.get("method") != "alipay.trade.query":
            body = alipay.error_answer(
                channel.keys, "40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名"
            )
            return Response(body, 200, media_type=ALIPAY_JSON)
        try:
            biz = json.loads(params.get("biz_content") or "{}")
            out_trade_no = str(biz.get("out_trade_no") or "")
        except (ValueError, AttributeError):
            out_trade_no = ""
        if not out_trade_no:
            body = alipay.error_answer(
                channel.keys, "40002", "Invalid Arguments", "isv.missing-parameter", "缺少必选参数 out_trade_no"
            )
            return Response(body, 200, media_type=ALIPAY_JSON)
        found = channel.lookup(out_trade_no)
        trade = None
        if found is not None and found.state == "paid":
            assert found.paid_at is not None
            trade = alipay.trade_success(
                out_trade_no=out_trade_no, trade_no=found.transaction_id, amount_fen=found.amount_fen,
                paid_at=found.paid_at, buyer_id=found.payer,
            )  # fmt: skip
        elif found is not None:
            # Alipay numbers a trade when the payer opens the cashier; before payment it waits (a stable number)
            digits = str(int(hashlib.sha256(out_trade_no.encode()).hexdigest(), 16))[:15]
            trade_no = clock().astimezone(CAMPAIGN_ZONE).strftime("%Y%m%d") + "22001" + digits.zfill(15)
            trade = alipay.trade_waiting(out_trade_no=out_trade_no, trade_no=trade_no, amount_fen=found.amount_fen)
        return Response(alipay.query_answer(channel.keys, trade, out_trade_no), 200, media_type=ALIPAY_JSON)

    return app
