"""The channels' notification addresses (issue 15): `POST /notify/{kind}/{name}`, e.g. /notify/wechatpay_v3/wx.

Answers as each channel reads them: WeChat Pay 204 with no body on success, 4xx/5xx with
`{"code": "FAIL", "message": …}` otherwise; Alipay the bare text `success`, anything else (`fail`) to be sent
again.  Success is answered only after the notification is in the inbox (canbao.services.notifications).  The
signature's timestamp is checked against the real clock (`app.state.real_clock`), never the campaign's day."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Engine

from canbao.channels import NotificationRefused, alipay, wechatpay_v3
from canbao.errors import CanbaoError
from canbao.services.notifications import NotificationFlagged, UnknownChannel, receive_async

router = APIRouter(tags=["渠道通知"])


def _answer(kind: str, ok: bool, message: str = "", status: int = 400) -> Response:
    if kind == alipay.KIND:
        return PlainTextResponse(alipay.ANSWER if ok else "fail", status_code=200 if ok else status)
    if ok:
        return Response(status_code=204)
    return JSONResponse(wechatpay_v3.failure_body(message), status_code=status)


@router.post("/notify/{kind}/{name}", include_in_schema=True, summary="支付渠道异步通知")
async def notify(kind: str, name: str, request: Request) -> Response:
    """微信支付 APIv3（kind=wechatpay_v3）或支付宝（kind=alipay）的支付结果通知：验签、记录后应答。"""
    # No dependencies: FastAPI runs a plain function's in a thread, a hand-over per notification.
    engine: Engine = request.app.state.engine
    real_now: dt.datetime = request.app.state.real_clock()  # what a signature's timestamp is checked against
    body = await request.body()
    headers = dict(request.headers)
    try:
        await receive_async(engine, kind, name, headers=headers, body=body, real_now=real_now)
    except NotificationFlagged as exc:
        return _answer(kind, False, str(exc), 400)
    except UnknownChannel as exc:
        return _answer(kind, False, str(exc), 404)
    except NotificationRefused as exc:
        return _answer(kind, False, str(exc), 401)
    except CanbaoError as exc:  # the database busy: the channel sends it again later
        return _answer(kind, False, str(exc), 503)
    return _answer(kind, True)
