"""The residents' self-service pages (H5, issue 15): phone-sized, Chinese, every asset served by canbao.

The pages are frames: their scripts (static/h5/) ask the JSON API — the lead's orders (`POST
/api/v1/orders/preview`, `POST /api/v1/orders`, `GET /api/v1/orders/{out_trade_no}` with `X-Order-Token`) and
web.api_resident — with the resident's name and ID number in the body, never in an address.  No session, no
cookie.  The pages carry the portal's Content Security Policy (no inline script, nothing from outside).

| path                      | page                                                                   |
|---------------------------|------------------------------------------------------------------------|
| /h5/                      | 首页: the four services                                                 |
| /h5/pay                   | 参保缴费: name + ID → renew or register → the quote in words → channel → pay |
| /h5/status/{out_trade_no} | 缴费结果: the order's status (its token from the pay page, kept in the tab) |
| /h5/wxpay/{out_trade_no}  | 微信支付: back from 网页授权, the JSAPI order, WeixinJSBridge (services.pay_step) |
| /h5/records               | 查询: my enrollments and payments, and my family's                     |
| /h5/certificate           | 参保凭证: the certificate and its PDF                                    |
| /h5/refund                | 退费申请: the policy's answer                                            |
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from canbao.web.deps import get_today
from canbao.web.pages import CONTENT_SECURITY_POLICY, TEMPLATES

resident_pages = APIRouter(prefix="/h5", include_in_schema=False)
router = resident_pages

TodayDep = Annotated[dt.date, Depends(get_today)]


@dataclass(frozen=True)
class NewbornRule:
    """新生儿“落地”参保 of one policy, in words for the pay page."""

    region: str
    benefit_year: int
    window: str  # 出生后90日内 / 出生后3个月内
    inside: str  # the benefit start when paid inside the window, and the clause
    outside: str  # … outside it (or: the policy does not say)
    prior_year: str | None  # 004 三(一): the year before's dues of a newborn born then
    counties: str  # the policy's division codes, space-separated (the page shows the rule of the chosen county)


def newborn_rules(today: dt.date) -> list[NewbornRule]:
    """The newborn rules of the policies an order may be quoted under on `today` (from the collection window's
    start to the benefit period's end, as services.orders chooses), all of them when none is."""
    from canbao.policy import list_policies, load_policy

    rules: list[NewbornRule] = []
    open_now: list[NewbornRule] = []
    for policy_id in list_policies():
        policy = load_policy(policy_id)
        situation = policy.situations.get("newborn")
        if situation is None or situation.newborn_window is None:
            continue
        window = situation.newborn_window
        span = f"出生之日起{window.days}日内" if window.days else f"出生之日起{window.months}个月内"
        inside = next((c for c in situation.cases if c.when.within_newborn_window is True), None)
        outside = next((c for c in situation.cases if c.when.within_newborn_window is False), None)
        prior = situation.prior_year_contribution
        rule = NewbornRule(
            region=policy.region.name,
            benefit_year=policy.benefit_year,
            window=span,
            inside=f"{span}参保缴费的，自出生之日起享受待遇（{inside.clause if inside else window.clause}）",
            outside=(
                f"超过{span[5:-1]}参保缴费的，自缴费次日起享受待遇（{outside.clause}）"
                if outside
                else f"超过{span[5:-1]}参保缴费的：{situation.uncovered or '本政策未作规定'}（{situation.clause}）"
            ),
            prior_year=(
                f"{prior.benefit_year}年出生的新生儿还须缴纳{prior.benefit_year}年度的{prior.amount}元，"
                f"才能同时享受{prior.benefit_year}年度的待遇（{prior.clause}）"
                if prior
                else None
            ),
            counties=" ".join(sorted(policy.region.counties)),
        )
        rules.append(rule)
        if policy.collection_window.start <= today <= policy.benefit_period.end:
            open_now.append(rule)
    return open_now or rules


def campaign_counties(today: dt.date) -> list[tuple[str, str]]:
    """(division code, name) of the counties whose collection is open on `today` (all when none is)."""
    from canbao.policy import list_policies, load_policy

    every: dict[str, str] = {}
    now: dict[str, str] = {}
    for policy_id in list_policies():
        policy = load_policy(policy_id)
        every.update(policy.region.counties)
        if policy.collection_window.start <= today <= policy.benefit_period.end:
            now.update(policy.region.counties)
    return sorted((now or every).items())


PAGES = {
    "": ("h5/index.html", "城乡居民医保自助服务"),
    "pay": ("h5/pay.html", "参保缴费"),
    "records": ("h5/records.html", "参保查询"),
    "certificate": ("h5/certificate.html", "参保凭证"),
    "refund": ("h5/refund.html", "退费申请"),
}


def h5_page(request: Request, template: str, title: str, **context: object) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, template, {"title": title, **context})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@resident_pages.get("", response_class=HTMLResponse)
def h5_root() -> Response:
    return RedirectResponse("/h5/", status_code=308)


@resident_pages.get("/", response_class=HTMLResponse)
def h5_index(request: Request) -> HTMLResponse:
    template, title = PAGES[""]
    return h5_page(request, template, title)


@resident_pages.get("/pay", response_class=HTMLResponse)
def h5_pay(request: Request, today: TodayDep) -> HTMLResponse:
    template, title = PAGES["pay"]
    return h5_page(request, template, title, newborn=newborn_rules(today), counties=campaign_counties(today))


@resident_pages.get("/status/{out_trade_no}", response_class=HTMLResponse)
def h5_status(request: Request, out_trade_no: str) -> HTMLResponse:
    return h5_page(request, "h5/status.html", "缴费结果", out_trade_no=out_trade_no[:32])


@resident_pages.get("/wxpay/{out_trade_no}", response_class=HTMLResponse)
def h5_wxpay(request: Request, out_trade_no: str) -> HTMLResponse:
    """微信支付: where WeChat's 网页授权 sends the browser back (?code&state); its script does the rest."""
    return h5_page(request, "h5/wxpay.html", "微信支付", out_trade_no=out_trade_no[:32])


def _simple(template: str, title: str):  # type: ignore[no-untyped-def]
    def page(request: Request) -> HTMLResponse:
        return h5_page(request, template, title)

    return page


for _name in ("records", "certificate", "refund"):
    _template, _title = PAGES[_name]
    resident_pages.add_api_route(f"/{_name}", _simple(_template, _title), methods=["GET"], response_class=HTMLResponse)
