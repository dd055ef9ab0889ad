"""The person search, a person's page and the full ID number (issue 14): `/api/v1/persons…`.

Routes parse, call canbao.services.people (which scopes every read to the caller's area and audits) and
render; a person outside the area is 404 as one that does not exist, a role that may not is 403."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.services import people
from canbao.services.access import Staff
from canbao.web.deps import csrf_checked, current_staff, get_engine

SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]

router = APIRouter(prefix="/api/v1", tags=["人员"])

PersonId = Annotated[int, Path(ge=1, le=2**63 - 1, description="人员编号（persons.id）")]
NO_STORE = {"Cache-Control": "no-store"}
REFUSALS: dict[int | str, dict[str, object]] = {
    401: {"description": '未登录（{"detail": "请先登录"}）'},
    404: {"description": "未找到该人员：不存在，或不在本账号的辖区内（已记入审计日志）"},
}


class PersonHit(BaseModel):
    person_id: int
    name: str
    id_number: str = Field(description="脱敏的身份证号码（前6位、后4位）")
    township: str | None
    village: str | None


class PersonSearch(BaseModel):
    items: list[PersonHit]


class Person(BaseModel):
    person_id: int
    name: str
    id_number: str = Field(description="脱敏的身份证号码")
    sex: str
    sex_label: str | None
    birth_date: dt.date
    county: str
    township: str | None
    village: str | None
    residency: str
    residency_label: str | None
    phone: str | None = Field(description="脱敏的联系电话（中间4位）")


class Identity(BaseModel):
    category: str
    category_label: str | None
    department: str
    department_label: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    household_role: str | None
    household_role_label: str | None
    batch_id: int


class Enrollment(BaseModel):
    enrollment_id: int
    policy: str
    benefit_year: int
    situation: str
    situation_label: str | None
    status: str
    status_label: str | None
    paid_on: dt.date
    benefit_start: dt.date
    benefit_end: dt.date
    amount_due_fen: int = Field(description="应缴金额（分）")
    net_personal_fen: int = Field(description="个人净缴费（分）")
    subsidy_category: str | None
    subsidy_category_label: str | None
    subsidy_fen: int | None
    channel: str
    channel_label: str | None
    collecting_unit: str | None
    ended_on: dt.date | None
    end_reason: str | None
    end_reason_label: str | None


class LedgerEntry(BaseModel):
    entry_id: int
    enrollment_id: int
    benefit_year: int | None
    kind: str
    kind_label: str | None
    amount_fen: int = Field(description="金额（分）；退费为流出的正数，冲正为相反符号")
    channel: str | None
    channel_label: str | None
    channel_name: str | None
    channel_txn_id: str | None
    collecting_unit: str | None
    recorded_at: str | None = Field(description="入账时间（北京时间 YYYY-MM-DD HH:MM:SS）")
    actor: str
    note: str | None


class Refund(BaseModel):
    entry_id: int
    enrollment_id: int
    benefit_year: int | None
    amount_fen: int
    reason: str | None
    reason_label: str | None
    requested_on: dt.date | None
    recorded_at: str | None
    actor: str


class AuditLine(BaseModel):
    at: str | None = Field(description="北京时间")
    actor: str
    action: str
    outcome: str
    detail: str | None


class PersonPage(BaseModel):
    person: Person
    identities: list[Identity]
    enrollments: list[Enrollment]
    ledger: list[LedgerEntry]
    refunds: list[Refund]
    audit: list[AuditLine] = Field(description="门户中关于此人的审计记录（仅县级角色可见，其他角色为空）")


class IdNumber(BaseModel):
    id_number: str = Field(description="完整身份证号码")


@router.get("/persons", summary="人员查询", response_model=PersonSearch, responses={401: REFUSALS[401]})
def search_persons(
    staff: SignedIn,
    engine: Database,
    q: Annotated[
        str,
        Query(
            description="姓名（至少两个字：先完全相同，再以之开头）；姓名后加空格和身份证号码末4–6位（张三 1234）；"
            "或完整身份证号码（18位或15位，空格、小写x、全角数字均可）",
            examples=["张三", "张三 1234", "341323198001011234"],
        ),
    ] = "",
) -> PersonSearch:
    """本辖区内的人员，最多50人；身份证号码均脱敏。"""
    hits = people.search_persons(engine, staff, q)
    return PersonSearch(items=[PersonHit(**vars(h)) for h in hits])


@router.get("/persons/{person_id}", summary="人员详情", response_model=PersonPage, responses=REFUSALS)
def person_page(
    person_id: PersonId,
    response: Response,
    staff: SignedIn,
    engine: Database,
) -> PersonPage:
    """身份、参保记录、缴费与台账、退费、审计记录；辖区外为 404 并记入审计日志。"""
    response.headers.update(NO_STORE)
    return PersonPage.model_validate(people.person_page(engine, staff, person_id))


@router.post(
    "/persons/{person_id}/id-number",
    summary="查看完整身份证号码",
    response_model=IdNumber,
    dependencies=[Depends(csrf_checked)],
    responses={**REFUSALS, 403: {"description": "CSRF 令牌不符，或非县级角色（已记入审计日志）"}},
)
def reveal_id_number(
    person_id: PersonId,
    response: Response,
    staff: SignedIn,
    engine: Database,
) -> IdNumber:
    """仅县医保局、县税务局；须带请求头 X-CSRF-Token。每次查看记入审计日志（id_reveal）。"""
    response.headers.update(NO_STORE)
    return IdNumber(id_number=people.reveal_id_number(engine, staff, person_id))
