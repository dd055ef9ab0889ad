"""The channels' order query (主动查单) as the simulator serves it: a small FastAPI app.

- WeChat Pay: ``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`` → 200 with the transaction
  (trade_state SUCCESS) or the placed order (NOTPAY), 404 ``ORDER_NOT_EXIST``; the answer signed with the
  platform key in the Wechatpay-* headers, as WeChat Pay signs its answers.
- Alipay: ``POST /gateway.do`` with ``method=alipay.trade.query`` and ``biz_content={"out_trade_no": …}`` (the
  common parameters in the query string or the form, as Alipay's SDKs send them) → ``{"alipay_trade_query_
  response": {code 10000, trade_status TRADE_SUCCESS | WAIT_BUYER_PAY} | {code 40004, sub_code
  ACQ.TRADE_NOT_EXIST}, "sign": …}`` signed over the response object's exact text.

For the demo it also places WeChat orders (``POST /v3/pay/transactions/jsapi``, JSAPI 下单: the order then
answers NOTPAY until paid; Alipay numbers a trade only when the payer opens its cashier, so an unpaid Alipay order
answers ACQ.TRADE_NOT_EXIST, as Alipay does), and serves a stand-in cashier (``GET /cashier/{name}?out_trade_no=
&amount_fen=&return_url=``): its button pays the order and delivers the notification to canbao (`deliver_to`)
on the channel's retry schedule, then goes back to `return_url`.

The pay step (simulator.pay_step) is verified as the channels verify it: Alipay's wap.pay `sign`, WeChat's
JSAPI 下单 Authorization and the page's paySign, with the merchant's public key.  The query endpoints do not
verify the merchant's request signature: they stand in for the channel's answers.  Every answer is signed as the
channel signs it, so canbao's check of the answers is exercised.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from canbao.clock import CAMPAIGN_ZONE
from canbao.simulator import alipay, wechat
from canbao.simulator.channel import SimulatedChannel
from canbao.simulator.pay_step import PaySteps, pay_routes
from canbao.simulator.sender import Clock, Deliverer, real_clock

ALIPAY_JSON = "application/json;charset=utf-8"


def create_gateway(
    channels: Iterable[SimulatedChannel],
    *,
    clock: Clock = real_clock,
    deliver_to: str | None = None,
    time_scale: float = 1.0,
    deliver_to_host: bool = False,
    paid_clock: Clock | None = None,
    merchant_public_key: rsa.RSAPublicKey | None = None,
) -> FastAPI:
    """The query endpoints of every channel given, found by their merchant id (mchid / app_id); the cashier
    delivers to `deliver_to` (canbao's address) when given, or with `deliver_to_host` to the host that served
    the cashier (the simulator mounted in canbao's own portal, `canbao serve --simulator`).  `clock` is the real
    time the answers are signed at; `paid_clock` (default `clock`) the time the cashier's payments succeed at
    (a demo county's campaign day, `canbao serve --today`).  `merchant_public_key`: the merchant's, which the
    pay step's requests are verified with (simulator.pay_step); without it they are refused."""
    given = list(channels)
    by_name = {c.name: c for c in given}
    deliverers: list[Deliverer] = []
    if deliver_to:
        deliverers.append(Deliverer(deliver_to, time_scale=time_scale, clock=clock))

    def deliverer_for(request: Request) -> Deliverer | None:
        if not deliverers and deliver_to_host:
            deliverers.append(Deliverer(f"{request.url.scheme}://{request.url.netloc}", time_scale=time_scale,
                                        clock=clock))  # fmt: skip
        return deliverers[0] if deliverers else None

    wx = {c.keys.merchant_id: c for c in given if c.kind == wechat.KIND}
    ali = {c.keys.merchant_id: c for c in given if c.kind == alipay.KIND}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for deliverer in deliverers:
            deliverer.close()

    app = FastAPI(title="canbao 渠道模拟器", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    steps = PaySteps(given, merchant_key=merchant_public_key, clock=clock, paid_clock=paid_clock or clock,
                     deliverer_for=deliverer_for)  # fmt: skip
    app.include_router(pay_routes(steps))

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
        if params.get("method") == "alipay.trade.wap.pay":
            return steps.wap_pay(channel, params)
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

    @app.post("/v3/pay/transactions/jsapi")
    async def wechat_place(request: Request) -> Response:
        raw = await request.body()
        try:
            order = json.loads(raw)
            channel = wx[str(order["mchid"])]
            out_trade_no, total = str(order["out_trade_no"]), int(order["amount"]["total"])
        except (ValueError, KeyError, TypeError):
            status, headers, body = wechat.error_answer(None, 400, "PARAM_ERROR", "参数错误", clock())
            return Response(body, status, headers)
        # the path as the merchant signed it: below the gateway's base (the mount point, when mounted)
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        refusal = None
        if not steps.authorization_ok(request.headers.get("Authorization", ""), "POST", path, raw):
            refusal = (401, "SIGN_ERROR", "签名错误")
        elif order.get("appid") != channel.keys.appid:
            refusal = (400, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")
        elif not (order.get("payer") or {}).get("openid"):
            refusal = (400, "PARAM_ERROR", "缺少参数 payer.openid")
        if refusal is not None:
            status, headers, body = wechat.error_answer(channel.keys, *refusal, clock())
            return Response(body, status, headers)
        found = channel.lookup(out_trade_no)
        if found is None or found.state != "paid":
            channel.place(out_trade_no, total)
        body = json.dumps({"prepay_id": steps.jsapi_place(channel, order, total)}).encode()
        return Response(body, 200, wechat.signed_headers(channel.keys, body, clock()))

    @app.get("/cashier/{name}", response_class=HTMLResponse)
    def cashier(name: str, out_trade_no: str, amount_fen: int, return_url: str = "") -> HTMLResponse:
        channel = by_name.get(name)
        if channel is None or amount_fen <= 0:
            return HTMLResponse("<p>未知的渠道或金额</p>", 404)
        label = "微信支付" if channel.kind == wechat.KIND else "支付宝"
        page = CASHIER.format(
            label=label, name=html.escape(name), out_trade_no=html.escape(out_trade_no), amount_fen=amount_fen,
            yuan=alipay.yuan(amount_fen), return_url=html.escape(return_url),
        )  # fmt: skip
        return HTMLResponse(page)

    @app.post("/cashier/{name}")
    async def cashier_pay(name: str, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        channel = by_name.get(name)
        try:
            out_trade_no, amount_fen = form["out_trade_no"], int(form["amount_fen"])
        except (KeyError, ValueError):
            return HTMLResponse("<p>参数错误</p>", 400)
        if channel is None or amount_fen <= 0:
            return HTMLResponse("<p>未知的渠道或金额</p>", 404)
        payment = channel.pay(out_trade_no, amount_fen, (paid_clock or clock)())
        deliverer = deliverer_for(request)
        if deliverer is not None:
            deliverer.submit(channel.notification(payment))
        back = form.get("return_url", "")
        if back.startswith(("http://", "https://", "/")):
            return RedirectResponse(back, 303)
        return HTMLResponse(f"<p>已支付，渠道交易号 {html.escape(payment.transaction_id)}</p>")

    return app


CASHIER = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{label}（模拟收银台）</title></head>
<body style="font-family:sans-serif;max-width:24rem;margin:2rem auto;padding:0 1rem">
<h1 style="font-size:1.2rem">{label} · 模拟收银台</h1>
<p>订单号 {out_trade_no}</p><p style="font-size:2rem">¥{yuan}</p>
<form method="post" action="{name}">
<input type="hidden" name="out_trade_no" value="{out_trade_no}">
<input type="hidden" name="amount_fen" value="{amount_fen}">
<input type="hidden" name="return_url" value="{return_url}">
<button type="submit" style="width:100%;padding:.8rem;font-size:1.1rem">确认支付</button></form>
<p style="color:#888;font-size:.8rem">演示用：不发生真实扣款</p></body></html>
"""
