"""The channels' pay step as the simulator plays it (beside gateway.py's query endpoints):

- Alipay 手机网站支付: ``alipay.trade.wap.pay`` at ``/gateway.do`` — the request's RSA2 `sign` verified with the
  merchant's public key (the published rule: every parameter but `sign`, empty ones left out, sorted, ``k=v``
  joined by ``&``); a bad one gets Alipay's error page (invalid-signature).  Otherwise the cashier; its button
  pays, delivers the notification and sends the browser to `return_url` with the sync-return parameters
  (method alipay.trade.wap.pay.return, signed with Alipay's key).
- WeChat 网页授权: ``GET /connect/oauth2/authorize`` (snsapi_base: straight back to redirect_uri with a code) and
  ``GET /sns/oauth2/access_token`` (code → openid; the code once, within 5 minutes, as WeChat).
- WeChat JSAPI 下单: ``POST /v3/pay/transactions/jsapi`` — the Authorization header verified with the merchant's
  public key over ``POST\\n{path}\\n{timestamp}\\n{nonce}\\n{body}\\n`` (the path below the gateway's base);
  the prepay_id remembered for its order.
- A stand-in ``WeixinJSBridge`` (``/jsbridge.js``): ``invoke("getBrandWCPayRequest", params, cb)`` checks paySign
  here (``/jsbridge/check``), shows the cashier in the page and, on 确认支付, pays (``/jsbridge/pay``) and calls
  back ``get_brand_wcpay_request:ok``.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from canbao.simulator import alipay, wechat
from canbao.simulator.channel import SimulatedChannel
from canbao.simulator.jsbridge import SCRIPT
from canbao.simulator.sender import Clock, Deliverer

# 网页授权: "code作为换取access_token的票据，每次用户授权带上的code将不一样，code只能使用一次，5分钟未被使用自动过期"
CODE_LIFE_S = 300
BAD_SIGN = "错误代码 invalid-signature；错误原因：验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"
BAD_BIZ = "错误代码 invalid-parameter；缺少或错误的 out_trade_no、subject、total_amount、product_code"


def _verified(key: rsa.RSAPublicKey | None, signature: str, message: bytes) -> bool:
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def alipay_request_content(params: Mapping[str, str]) -> bytes:
    """Alipay's string to sign for a merchant's request (its open platform's 签名 page)."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v and k != "sign").encode("utf-8")


@dataclass(frozen=True)
class Prepay:
    channel: SimulatedChannel
    out_trade_no: str
    amount_fen: int
    appid: str
    description: str


@dataclass(frozen=True)
class WapTrade:
    channel: SimulatedChannel
    out_trade_no: str
    amount_fen: int
    subject: str
    return_url: str


class PaySteps:
    """The simulator's memory of the pay steps under way: codes, prepay_ids, wap cashiers."""

    def __init__(
        self, channels: list[SimulatedChannel], *, merchant_key: rsa.RSAPublicKey | None, clock: Clock,
        paid_clock: Clock, deliverer_for: Callable[[Request], Deliverer | None],
    ) -> None:  # fmt: skip
        self.wx = {c.keys.appid: c for c in channels if c.kind == wechat.KIND and c.keys.appid}
        self.merchant_key, self.clock, self.paid_clock = merchant_key, clock, paid_clock
        self.deliverer_for = deliverer_for
        self._lock = threading.Lock()
        self.codes: dict[str, tuple[str, str, float]] = {}  # code → appid, openid, issued (monotonic)
        self.prepays: dict[str, Prepay] = {}
        self.trades: dict[str, WapTrade] = {}

    def pay(self, request: Request, channel: SimulatedChannel, out_trade_no: str, amount_fen: int) -> str:
        found = channel.lookup(out_trade_no)
        if found is not None and found.state == "paid":
            return found.transaction_id  # paid already: nothing new to notify
        payment = channel.pay(out_trade_no, amount_fen, self.paid_clock())
        deliverer = self.deliverer_for(request)
        if deliverer is not None:
            deliverer.submit(channel.notification(payment))
        return payment.transaction_id

    # --- Alipay alipay.trade.wap.pay --------------------------------------------------------------------

    def wap_pay(self, channel: SimulatedChannel, params: Mapping[str, str]) -> Response:
        if self.merchant_key is None:
            return _page("支付宝 · 错误", "模拟器没有商户公钥（merchant_key.pem），无法验签", 400)
        if params.get("sign_type") != "RSA2" or not _verified(
            self.merchant_key, params.get("sign", ""), alipay_request_content(params)
        ):
            return _page("支付宝 · 错误", BAD_SIGN, 400)
        try:
            biz = json.loads(params.get("biz_content") or "")
            out_trade_no, subject = str(biz["out_trade_no"]), str(biz["subject"])
            amount = str(biz["total_amount"])
            assert re.fullmatch(r"\d{1,9}\.\d{2}", amount) and biz.get("product_code") == "QUICK_WAP_WAY"
        except (ValueError, KeyError, TypeError, AssertionError):
            return _page("支付宝 · 错误", BAD_BIZ, 400)
        fen = int(amount.replace(".", ""))
        trade = secrets.token_hex(12)
        with self._lock:
            self.trades[trade] = WapTrade(channel, out_trade_no, fen, subject, params.get("return_url", ""))
        body = (
            f"<p>{html.escape(subject)}</p><p>订单号 {html.escape(out_trade_no)}</p>"
            f'<p style="font-size:2rem">¥{amount}</p>'
            f'<form method="post" action="cashier/wap/{trade}"><button type="submit" id="confirm-pay" '
            'style="width:100%;padding:.8rem;font-size:1.1rem">确认支付</button></form>'
        )
        return _page("支付宝 · 模拟收银台", body, 200, raw=True)

    def wap_paid(self, request: Request, trade_id: str) -> Response:
        with self._lock:
            trade = self.trades.pop(trade_id, None)
        if trade is None:
            return _page("支付宝 · 错误", "交易不存在或已支付", 404)
        txn = self.pay(request, trade.channel, trade.out_trade_no, trade.amount_fen)
        keys = trade.channel.keys
        back = {
            "charset": "utf-8", "out_trade_no": trade.out_trade_no, "method": "alipay.trade.wap.pay.return",
            "total_amount": alipay.yuan(trade.amount_fen), "trade_no": txn, "auth_app_id": keys.merchant_id,
            "version": "1.0", "app_id": keys.merchant_id, "seller_id": str(keys.seller_id),
            "timestamp": alipay.beijing(self.clock()),
        }  # fmt: skip
        signed = alipay.signed(keys, back)
        if trade.return_url.startswith(("http://", "https://", "/")):
            joiner = "&" if "?" in trade.return_url else "?"
            return RedirectResponse(trade.return_url + joiner + urlencode(signed), 303)
        return _page("支付宝", f"已支付，交易号 {txn}", 200)

    # --- WeChat 网页授权 and JSAPI ------------------------------------------------------------------------

    def authorize(self, appid: str, redirect_uri: str, response_type: str, scope: str, state: str) -> Response:
        if appid not in self.wx:
            return _page("微信", "appid 参数错误（10003 redirect_uri 域名与后台配置不一致 / 无效的 appid）", 400)
        if response_type != "code" or scope not in ("snsapi_base", "snsapi_userinfo"):
            return _page("微信", "scope 参数错误或没有 scope 权限（10005）", 400)
        if not redirect_uri.startswith(("http://", "https://")):
            return _page("微信", "redirect_uri 参数错误（10003）", 400)
        code = secrets.token_hex(16)
        with self._lock:
            self.codes[code] = (appid, wechat.new_openid(), time.monotonic())
        joiner = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{joiner}{urlencode({'code': code, 'state': state})}", 302)

    def access_token(self, appid: str, secret: str, code: str, grant_type: str) -> Response:
        channel = self.wx.get(appid)
        if channel is None:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        if not secrets.compare_digest(secret, channel.keys.app_secret or ""):
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        if grant_type != "authorization_code":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        with self._lock:
            found = self.codes.pop(code, None)
        if found is None or found[0] != appid or time.monotonic() - found[2] > CODE_LIFE_S:
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse({
            "access_token": secrets.token_urlsafe(32), "expires_in": 7200, "refresh_token": secrets.token_urlsafe(32),
            "openid": found[1], "scope": "snsapi_base",
        })  # fmt: skip

    def jsapi_place(self, channel: SimulatedChannel, order: Mapping[str, object], total: int) -> str:
        prepay = "wx" + secrets.token_hex(16)
        with self._lock:
            self.prepays[prepay] = Prepay(
                channel, str(order["out_trade_no"]), total, str(order.get("appid") or ""),
                str(order.get("description") or ""),
            )  # fmt: skip
        return prepay

    def authorization_ok(self, header: str, method: str, path: str, body: bytes) -> bool:
        """The merchant's `Authorization` (WECHATPAY2-SHA256-RSA2048 …) over the request, by its key."""
        scheme, _, rest = header.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if scheme != "WECHATPAY2-SHA256-RSA2048" or not {"timestamp", "nonce_str", "signature"} <= fields.keys():
            return False
        if not fields["timestamp"].isdigit() or abs(time.time() - int(fields["timestamp"])) > 300:
            return False
        message = f"{method}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode() + body + b"\n"
        return _verified(self.merchant_key, fields["signature"], message)

    def bridge_prepay(self, params: Mapping[str, str]) -> Prepay | str:
        """The prepay a getBrandWCPayRequest's parameters name, their paySign verified; else err_msg words."""
        package = str(params.get("package") or "")
        prepay = self.prepays.get(package.removeprefix("prepay_id="))
        if not package.startswith("prepay_id=") or prepay is None:
            return "prepay_id 不存在或已失效"
        if params.get("appId") != prepay.appid or params.get("signType") != "RSA":
            return "appId 或 signType 不符"
        message = f"{params.get('appId')}\n{params.get('timeStamp')}\n{params.get('nonceStr')}\n{package}\n"
        if not _verified(self.merchant_key, str(params.get("paySign") or ""), message.encode()):
            return "支付验证签名失败"
        return prepay


def pay_routes(steps: PaySteps) -> APIRouter:
    router = APIRouter()

    @router.get("/connect/oauth2/authorize")
    def authorize(
        appid: str = "", redirect_uri: str = "", response_type: str = "", scope: str = "", state: str = ""
    ) -> Response:
        return steps.authorize(appid, redirect_uri, response_type, scope, state)

    @router.get("/sns/oauth2/access_token")
    def access_token(appid: str = "", secret: str = "", code: str = "", grant_type: str = "") -> Response:
        return steps.access_token(appid, secret, code, grant_type)

    @router.post("/cashier/wap/{trade}")
    def wap_paid(trade: str, request: Request) -> Response:
        return steps.wap_paid(request, trade)

    @router.get("/jsbridge.js")
    def jsbridge() -> Response:
        return Response(SCRIPT, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-store"})  # fmt: skip

    @router.post("/jsbridge/check")
    async def bridge_check(request: Request) -> Response:
        found = steps.bridge_prepay(_json_object(await request.body()))
        if isinstance(found, str):
            return JSONResponse({"ok": False, "err_msg": "get_brand_wcpay_request:fail", "words": found})
        return JSONResponse({"ok": True, "out_trade_no": found.out_trade_no, "yuan": alipay.yuan(found.amount_fen),
                             "description": found.description})  # fmt: skip

    @router.post("/jsbridge/pay")
    async def bridge_pay(request: Request) -> Response:
        found = steps.bridge_prepay(_json_object(await request.body()))
        if isinstance(found, str):
            return JSONResponse({"ok": False, "err_msg": "get_brand_wcpay_request:fail", "words": found})
        steps.pay(request, found.channel, found.out_trade_no, found.amount_fen)
        return JSONResponse({"ok": True, "err_msg": "get_brand_wcpay_request:ok"})

    return router


def _json_object(body: bytes) -> dict[str, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _page(title: str, body: str, status: int, *, raw: bool = False) -> HTMLResponse:
    content = body if raw else f'<p id="error">{html.escape(body)}</p>'
    return HTMLResponse(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:24rem;margin:2rem auto;padding:0 1rem">'
        f'<h1 style="font-size:1.2rem">{html.escape(title)}</h1>{content}'
        '<p style="color:#888;font-size:.8rem">演示用：不发生真实扣款</p></body></html>',
        status,
    )
