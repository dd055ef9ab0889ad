"""Residents' orders (issue 15): `POST /api/v1/orders`, its preview, and the order's status.

No session and no CSRF token: a resident is identified by name and ID number in the body (never in the address),
throttled per address and per ID (canbao.services.resident_access); a browser's cross-site POST is refused by
its Origin.  The answer's `token` is the resident's key to the order's status (`X-Order-Token`)."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.quote import to_json_ready
from canbao.services import orders
from canbao.web.api_auth import Refusal, client_address, cross_site_refusal
from canbao.web.deps import get_engine, get_now, get_today

router = APIRouter(prefix="/api/v1", tags=["居民缴费"])
SIMULATOR = "/simulator"  # where `canbao serve --simulator DIR` mounts the channel simulator


class PersonBody(BaseModel):
    name: str = Field(max_length=64)
    id_number: str = Field(max_length=24)
    residency: str | None = Field(default=None, max_length=40, description="新参保：居民类型")
    county: str | None = Field(default=None, max_length=6, description="新参保：县（区）行政区划代码")
    township: str | None = Field(default=None, max_length=64)
    village: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=20)
    situation: str | None = Field(default=None, max_length=32, description="参保情形，默认 regular；新生儿 newborn")


class OrderBody(BaseModel):
    name: str = Field(max_length=64, description="缴费人姓名")
    id_number: str = Field(max_length=24, description="缴费人身份证号码")
    channel: str = Field(max_length=40, description="缴费渠道名称（canbao channel add 登记的 --name）")
    persons: list[PersonBody] = Field(default=[], description="为哪些人缴费；缺省为缴费人本人")
    benefit_year: int | None = None


class PreviewBody(BaseModel):
    persons: list[PersonBody]
    benefit_year: int | None = None


def _person(p: PersonBody) -> orders.PersonRequest:
    return orders.PersonRequest(**p.model_dump())


@router.post(
    "/orders",
    status_code=201,
    responses={403: {"model": Refusal}, 422: {"model": Refusal}, 429: {"model": Refusal}},
    summary="居民下单缴费",
)
def create_order(
    body: OrderBody,
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    now: Annotated[dt.datetime, Depends(get_now)],
    today: Annotated[dt.date, Depends(get_today)],
) -> Any:
    """按姓名和身份证号码为本人（或 persons 中的家庭成员）下单：逐人测算应缴金额，返回订单号 out_trade_no、
    金额 amount（元）和每人的应缴金额；token 用于查询订单状态（请求头 X-Order-Token）。"""
    if (refused := cross_site_refusal(request)) is not None:
        return refused
    request_ = orders.OrderRequest(
        body.name, body.id_number, body.channel, [_person(p) for p in body.persons], body.benefit_year
    )
    created = orders.create_order(engine, request_, address=client_address(request), now=now, today=today)
    answer = created.as_json()
    answer["quotes"] = [to_json_ready(q.quote) for q in created.persons]
    if created.pays_in_channel:  # the channel's own pay step: POST /api/v1/orders/{out_trade_no}/pay
        answer["pay_step"] = created.channel_kind
    elif request.app.state.simulator:  # the demo: the simulated channel's cashier, back to the status
        number = quote(created.out_trade_no, safe="")
        answer["pay_url"] = (
            f"{SIMULATOR}/cashier/{quote(created.channel, safe='')}?out_trade_no={number}"
            f"&amount_fen={created.amount_fen}&return_url=/h5/status/{number}"
        )
    return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})


@router.post(
    "/orders/preview",
    responses={403: {"model": Refusal}, 422: {"model": Refusal}, 429: {"model": Refusal}},
    summary="缴费前测算",
)
def preview(
    body: PreviewBody,
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    now: Annotated[dt.datetime, Depends(get_now)],
    today: Annotated[dt.date, Depends(get_today)],
) -> Any:
    """每位参保人今天在线缴费应缴多少：个人缴费、各项资助及由谁承担、待遇期、等待期和政策依据。"""
    if (refused := cross_site_refusal(request)) is not None:
        return refused
    quotes = orders.preview(
        engine, [_person(p) for p in body.persons], address=client_address(request), now=now, today=today,
        benefit_year=body.benefit_year,
    )  # fmt: skip
    return {
        "persons": [
            {"name": q.name, "id_number": q.masked_id, "renewing": q.renewing, "quote": to_json_ready(q.quote)}
            for q in quotes
        ]
    }


@router.get("/orders/{out_trade_no}", responses={404: {"model": Refusal}}, summary="订单状态")
def order_status(
    out_trade_no: str,
    engine: Annotated[Engine, Depends(get_engine)],
    x_order_token: Annotated[str, Header(description="下单时返回的 token")] = "",
) -> Any:
    """订单的状态（open 待支付、paid 已缴费参保、flagged 已转人工核对、closed 已关闭）及每人是否已参保。"""
    try:
        view = orders.order_view(engine, out_trade_no, x_order_token)
    except LookupError:
        return JSONResponse({"detail": "没有这笔订单，或订单凭据不对"}, status_code=404)
    return JSONResponse(view.as_json(), headers={"Cache-Control": "no-store"})


class PayBody(BaseModel):
    code: str | None = Field(default=None, max_length=128, description="微信网页授权回到本站时的 code")
    state: str | None = Field(default=None, max_length=64, description="微信网页授权的 state（页面生成）")


@router.post(
    "/orders/{out_trade_no}/pay",
    responses={400: {"model": Refusal}, 403: {"model": Refusal}, 404: {"model": Refusal}},
    summary="发起支付（渠道的支付步骤）",
)
def pay(
    out_trade_no: str,
    body: PayBody,
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    x_order_token: Annotated[str, Header(description="下单时返回的 token")] = "",
) -> Any:
    """渠道的支付步骤：how 为 redirect 时浏览器前往 url（支付宝手机网站支付的收银台、微信网页授权），为 jsapi 时
    以 params 调起微信支付（WeixinJSBridge getBrandWCPayRequest），为 status 时到缴费结果页等待渠道通知。"""
    import httpx

    from canbao.services import pay_step

    if (refused := cross_site_refusal(request)) is not None:
        return refused
    http = getattr(request.app.state, "channel_http", None)  # tests: the simulator's app in process
    try:
        with httpx.Client(timeout=pay_step.TIMEOUT_S) if http is None else nullcontext(http) as client:
            step = pay_step.start(
                engine, out_trade_no, x_order_token, code=body.code, state=body.state,
                now=request.app.state.real_clock(), http=client,
            )  # fmt: skip
    except LookupError:
        return JSONResponse({"detail": "没有这笔订单，或订单凭据不对"}, status_code=404)
    return JSONResponse(step.as_json(), headers={"Cache-Control": "no-store"})
