"""The residents' JSON API (issue 15): 查询, 退费申请 and 参保凭证, and the staff's check of a certificate's code.

A resident has no session and no CSRF token: every call is a POST whose JSON body names the person by name and
ID number (never the URL or a query string, which logs and browser histories keep; the body is never logged).
Name and ID must agree; calls are throttled per address and per ID number (canbao.services.resident_access):
429 with Retry-After past it.  Not agreeing and not registered are one answer, 422 with the same words.

| call                                         | answer                                                        |
|----------------------------------------------|---------------------------------------------------------------|
| POST /api/v1/resident/records                | `{"me": {...}, "family": [...]}`: enrollments and payments, masked |
| POST /api/v1/resident/refund-requests        | the policy's answer: refundable, amount, why (with the clause) |
| POST /api/v1/resident/certificates           | the certificate's facts and verification code (the page)      |
| POST /api/v1/resident/certificates/pdf       | the certificate as a PDF                                      |
| GET  /api/v1/certificates/{code}             | staff (session): the certificate's facts, within their area   |
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.money import yuan_json
from canbao.services.access import Staff
from canbao.web.api_auth import client_address, cross_site_refusal
from canbao.web.deps import current_staff, get_engine, get_now, get_today

resident_api = APIRouter(prefix="/api/v1", tags=["参保人自助"])
router = resident_api  # the name every other api_* module's router has

EngineDep = Annotated[Engine, Depends(get_engine)]
NowDep = Annotated[dt.datetime, Depends(get_now)]
TodayDep = Annotated[dt.date, Depends(get_today)]


class Resident(BaseModel):
    name: str = Field(max_length=64, description="参保人姓名")
    id_number: str = Field(max_length=32, description="参保人身份证号码")


class RefundAsk(Resident):
    benefit_year: int = Field(description="待遇年度")
    reason: str = Field(
        max_length=40, description="death、duplicate_payment、joined_employee_insurance、joined_elsewhere"
    )


class CertificateAsk(Resident):
    enrollment_id: int = Field(description="参保记录号（查询结果中的 enrollment_id）")


def _plain(value: Any) -> Any:
    """A service's answer as JSON: dataclasses as objects, fen fields as yuan (`amount_fen` → `amount`), dates
    as YYYY-MM-DD."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.name.endswith("_fen"):
                out[f.name[: -len("_fen")]] = yuan_json(item)
            else:
                out[f.name] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _private(body: Any) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@resident_api.post("/resident/records", summary="查询本人及所缴家庭成员的参保和缴费记录")
def resident_records(ask: Resident, request: Request, engine: EngineDep, now: NowDep) -> Response:
    from canbao.services.resident import records

    if (refused := cross_site_refusal(request)) is not None:
        return refused

    found = records(engine, ask.name, ask.id_number, address=client_address(request), now=now)
    return _private(_plain(found))


@resident_api.post("/resident/refund-requests", summary="退费申请：按政策答复并登记")
def resident_refund(ask: RefundAsk, request: Request, engine: EngineDep, now: NowDep, today: TodayDep) -> Response:
    from canbao.services.resident import request_refund

    if (refused := cross_site_refusal(request)) is not None:
        return refused

    answer = request_refund(
        engine, ask.name, ask.id_number, ask.benefit_year, ask.reason, address=client_address(request), now=now,
        today=today,
    )  # fmt: skip
    return _private(_plain(answer))


def _certificate_json(certificate: Any) -> dict[str, Any]:
    from canbao.services.certificates import certificate_lines

    body: dict[str, Any] = _plain(certificate)
    body["display_code"] = certificate.display_code
    body["valid"] = certificate.valid
    body["lines"] = [{"label": label, "value": value} for label, value in certificate_lines(certificate)]
    return body


@resident_api.post("/resident/certificates", summary="参保凭证（页面数据）")
def resident_certificate(ask: CertificateAsk, request: Request, engine: EngineDep, now: NowDep) -> Response:
    from canbao.services.certificates import certificate_for

    if (refused := cross_site_refusal(request)) is not None:
        return refused

    found = certificate_for(
        engine, ask.name, ask.id_number, ask.enrollment_id, address=client_address(request), now=now
    )
    return _private(_certificate_json(found))


@resident_api.post(
    "/resident/certificates/pdf",
    summary="参保凭证（PDF 下载）",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def resident_certificate_pdf(ask: CertificateAsk, request: Request, engine: EngineDep, now: NowDep) -> Response:
    from canbao.services.certificates import certificate_for, certificate_pdf

    if (refused := cross_site_refusal(request)) is not None:
        return refused

    found = certificate_for(
        engine, ask.name, ask.id_number, ask.enrollment_id, address=client_address(request), now=now
    )
    name = f"canbao-certificate-{found.benefit_year}-{found.code}.pdf"
    return Response(
        certificate_pdf(found),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@resident_api.get("/certificates/{code}", summary="核验参保凭证（工作人员，本辖区）")
def verify(code: str, engine: EngineDep, staff: Annotated[Staff, Depends(current_staff)]) -> Response:
    from canbao.services.certificates import verify_certificate

    return _private(_certificate_json(verify_certificate(engine, code, staff)))


@resident_api.get("/resident/channels", summary="可用的线上缴费渠道")
def resident_channels(engine: EngineDep) -> Response:
    """The registered online channels a resident may choose: name and the words shown (never their keys)."""
    from sqlalchemy import select

    from canbao.services.channels import pays_in_channel
    from canbao.services.resident import KIND_LABELS
    from canbao.store.tables import payment_channels

    t = payment_channels.c
    with engine.connect() as c:
        rows = c.execute(
            select(t.name, t.kind, t.merchant_private_key.is_not(None).label("signed"), t.public_url, t.app_id,
                   t.app_secret.is_not(None).label("secret")).order_by(t.id)
        ).all()  # fmt: skip
    items = [
        {
            "name": r.name,
            "kind": r.kind,
            "label": KIND_LABELS.get(r.kind, r.name),
            "pay_step": pays_in_channel(r.kind, r.signed, r.public_url, r.app_id, r.secret),
        }
        for r in rows
    ]
    return _private({"channels": items})
