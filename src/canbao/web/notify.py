"""The channels' notification addresses (issue 15): `POST /notify/{kind}/{name}`, e.g. /notify/wechatpay_v3/wx.

Answers as each channel reads them: WeChat Pay 204 with no body on success, 4xx/5xx with
`{"code": "FAIL", "message": …}` otherwise; Alipay the bare text `success`, anything else (`fail`) to be sent
again.  Success is answered only after the notification is in the inbox (canbao.services.notifications).  The
signature's timestamp is checked against the real clock (`app.state.real_clock`), never the campaign's day.

The addresses are answered by a plain ASGI middleware, ahead of FastAPI's routing, request parsing and
exception layers: under the 12-31 rush those cost a worker more than verifying and recording a notification
(benchmarks/notifications.py).  Anything else, or another method, goes on to the portal."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from canbao.channels import NotAPayment, NotificationRefused, alipay, wechatpay_v3
from canbao.errors import CanbaoError
from canbao.services.notifications import NotificationFlagged, UnknownChannel, receive_async

PREFIX = "/notify/"
MAX_BODY = 64 * 1024  # a notification is a few kilobytes


def _answer(kind: str, ok: bool, message: str = "", status: int = 400) -> Response:
    if kind == alipay.KIND:
        return PlainTextResponse(alipay.ANSWER if ok else "fail", status_code=200 if ok else status)
    if ok:
        return Response(status_code=204)
    return JSONResponse(wechatpay_v3.failure_body(message), status_code=status)


async def _body(request: Request) -> bytes | None:
    """The request's body, None when it is longer than MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        parts.append(chunk)
    return b"".join(parts)


async def answer(request: Request, kind: str, name: str) -> Response:
    """微信支付 APIv3（kind=wechatpay_v3）或支付宝（kind=alipay）的支付结果通知：验签、记录后应答。"""
    app = request.scope["app"]
    body = await _body(request)
    if body is None:
        return _answer(kind, False, f"通知内容超过 {MAX_BODY // 1024} KB", 413)
    try:
        await receive_async(
            app.state.engine, kind, name, headers=dict(request.headers), body=body, real_now=app.state.real_clock()
        )
    except NotAPayment:  # verified, nothing to apply: received, so that the channel stops sending it
        return _answer(kind, True)
    except NotificationFlagged as exc:
        return _answer(kind, False, str(exc), 400)
    except UnknownChannel as exc:
        return _answer(kind, False, str(exc), 404)
    except NotificationRefused as exc:
        return _answer(kind, False, str(exc), 401)
    except CanbaoError as exc:  # the database busy: the channel sends it again later
        return _answer(kind, False, str(exc), 503)
    except Exception as exc:  # a bug: its frames to the error log, the channel sends it again later
        from canbao.errorlog import record

        return _answer(kind, False, f"内部错误（编号 {record(exc)}），已记录", 500)
    return _answer(kind, True)


class NotifyAddresses:
    """`app.add_middleware(NotifyAddresses)`: POST /notify/{kind}/{name} answered here (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(PREFIX):
            kind, slash, name = scope["path"][len(PREFIX) :].partition("/")
            if kind and slash and name and "/" not in name:
                response = await answer(Request(scope, receive), kind, name)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
