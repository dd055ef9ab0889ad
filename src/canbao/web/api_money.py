"""资金核算, 考核奖惩, 重复/无效参保清理, 退费 and 先缴后补 退补 in the JSON API: thin routes over
canbao.services.money_desk, which checks who may do what (its docstring's table) and masks ID numbers.
Money is integer fen (分) in every answer; a level of government the policy does not state is null."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.services import money_desk
from canbao.services.access import Staff
from canbao.vocabulary import REFUND_REASON_LABELS
from canbao.web.api_jobs import JobStarted, runner_of
from canbao.web.deps import csrf_checked, current_staff, get_engine, get_today, iso_date
from canbao.web.downloads import DOWNLOADS, workbooks
from canbao.web.uploads import store

router = APIRouter(prefix="/api/v1", tags=["资金核算、考核奖惩、清理与退费"])
SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]
Year = Annotated[int, Query(description="待遇年度，如 2022")]
PolicyChoice = Annotated[
    str | None, Query(description="政策，如 anhui/suzhou/lingbi/2022（默认：该年度本县唯一的政策）")
]
Fen = int | None


# ------------------------------------------------------------------------------------------------ the shapes


class Level(BaseModel):
    level: str = Field(description="central / province / city / county / total")
    label: str = Field(description="中央 / 省级 / 市级 / 县级 / 合计")
    persons: int
    amount_fen: Fen = Field(description="应到位金额（分）；null：政策未分级")


class Fiscal(BaseModel):
    township: str = Field(description="乡镇；未登记乡镇为（未填乡镇），全县为 合计")
    persons: int = Field(description="有效参保人数")
    fiscal_central_fen: Fen
    fiscal_province_fen: Fen
    fiscal_city_fen: Fen
    fiscal_county_fen: Fen
    fiscal_total_fen: Fen
    unsplit: int = Field(description="未分级人数")


class Subsidies(BaseModel):
    subsidy_kind: str | None
    subsidy_kind_label: str | None
    subsidy_category: str | None
    subsidy_category_label: str | None
    payer: str | None = Field(description="出资渠道")
    persons: int
    ledger_fen: int = Field(description="台账金额（分）")
    enrollment_fen: int = Field(description="参保记录资助金额（分）")
    difference_fen: int


class Transfers(BaseModel):
    township: str
    subsidy_kind: str | None
    subsidy_kind_label: str | None
    subsidy_category: str | None
    subsidy_category_label: str | None
    payer: str | None
    persons: int
    amount_fen: int = Field(description="划拨金额（分）")


class CountySubsidyTownship(BaseModel):
    township: str
    entitled_persons: int
    entitled_fen: int
    paid_persons: int
    paid_fen: int
    owed_persons: int
    owed_fen: int


class FundsSummary(BaseModel):
    benefit_year: int
    policies: list[str]
    levels: list[Level] = Field(description="全县财政补助，按级次")
    fiscal_county: Fiscal
    fiscal_by_township: list[Fiscal]
    subsidies_by_category: list[Subsidies] = Field(description="分类资助（缴费时抵扣），按资助类型和身份")
    subsidy_differences: int = Field(description="台账与参保记录不一致的条数（明细在工作簿中）")
    transfers_by_township: list[Transfers] = Field(description="资助划拨，按乡镇")
    transfer_persons: int
    transfer_fen: int
    county_subsidy_by_township: list[CountySubsidyTownship] = Field(description="先缴后补：应补、已退补、待退补")
    county_subsidy_total: CountySubsidyTownship
    notes: list[str]


class RewardsTownship(BaseModel):
    township: str
    township_code: str | None
    enrollment_target: int | None
    enrolled: int
    enrollment_rate_bp: int | None = Field(description="参保完成率（万分之一）")
    enrollment_completed: bool
    enrollment_short: int | None = Field(description="参保任务还差的人数")
    e_voucher_target: int | None
    activated: int
    e_voucher_rate_bp: int | None
    e_voucher_completed: bool
    e_voucher_short: int | None
    completed: bool = Field(description="两项任务都完成")
    rank: int | None
    prize: str | None = Field(description="一等奖 / 二等奖 / 三等奖 / 完成任务奖；未完成为 null（通报批评）")
    prize_fen: Fen
    work_subsidy_fen: Fen = Field(description="工作经费补助（分）；未登记乡镇为 null")


class RewardsSummary(BaseModel):
    policy: str
    benefit_year: int
    cutoff: str = Field(description="考核截止日期 YYYY-MM-DD")
    county_enrolled: int
    county_activated: int
    enrollment_goal: int = Field(description="通知的参保任务数")
    e_voucher_goal: int
    completed_townships: int
    work_subsidy_fen: int
    prizes_fen: int
    ranking_note: str
    townships: list[RewardsTownship]


class RefundRequest(BaseModel):
    benefit_year: int = Field(description="待遇年度，如 2022")
    reason: str = Field(
        description="death（死亡）、duplicate_payment（重复缴费）、joined_employee_insurance（参加职工医保）、"
        "joined_elsewhere（参加其他地区居民医保）"
    )
    requested_on: dt.date = Field(description="申请日期 YYYY-MM-DD")


class RefundResult(BaseModel):
    person_id: int
    id_number: str = Field(description="身份证号码（已遮蔽）")
    benefit_year: int
    enrollment_id: int
    reason: str
    reason_label: str
    refunded: bool = Field(description="是否退费（否：政策不予退费，参保关系不变）")
    amount_fen: int = Field(description="退还个人缴费（分）")
    why: str = Field(description="依据")
    outcome: str


class OwedPerson(BaseModel):
    person_id: int
    enrollment_id: int
    township: str | None
    village: str | None
    name: str
    id_number: str = Field(description="身份证号码（已遮蔽）")
    subsidy_category: str | None
    subsidy_category_label: str | None
    subsidy_fen: int = Field(description="应退补的县财政补贴（分）")


class OwedList(BaseModel):
    benefit_year: int
    persons: int
    total_fen: int
    items: list[OwedPerson]


class CountySubsidyRecord(BaseModel):
    person_id: int = Field(description="参保人（GET /api/v1/county-subsidy 的 person_id）")
    benefit_year: int
    township: str | None = Field(
        default=None, description="退补的乡镇（街道）；乡镇账户为本乡镇，县医保局默认参保人所在乡镇"
    )


class CountySubsidyRecorded(BaseModel):
    person_id: int
    id_number: str = Field(description="身份证号码（已遮蔽）")
    benefit_year: int
    township: str
    paid_fen: int
    outcome: str


class Choice(BaseModel):
    value: str
    label: str


class MoneyChoices(BaseModel):
    work: list[Choice] = Field(
        description="本账户可做的工作：funds、rewards、cleanup、refund、county_subsidy_list、county_subsidy_record"
    )
    refund_reasons: list[Choice]


# ---------------------------------------------------------------------------------------------------- routes


@router.get("/money/choices", response_model=MoneyChoices, summary="本账户可做的资金类工作和退费原因")
def choices(staff: SignedIn) -> MoneyChoices:
    return MoneyChoices(
        work=[Choice(value=w, label=money_desk.WORK_LABELS[w]) for w in money_desk.may_do(staff)],
        refund_reasons=[Choice(value=r, label=label) for r, label in REFUND_REASON_LABELS.items()],
    )


@router.get("/funds", response_model=FundsSummary, summary="资金核算：各级财政补助、分类资助、划拨、先缴后补退补")
def funds(benefit_year: Year, staff: SignedIn, engine: Database, policy: PolicyChoice = None) -> FundsSummary:
    return FundsSummary.model_validate(money_desk.funds_summary(engine, staff, benefit_year, policy))


@router.get("/funds/workbook", responses=DOWNLOADS, summary="资金核算工作簿（与 canbao funds 相同，身份证号码已遮蔽）")
def funds_workbook(benefit_year: Year, staff: SignedIn, engine: Database, policy: PolicyChoice = None) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        files = money_desk.funds_workbook(engine, staff, benefit_year, Path(tmp), policy)
        return workbooks(_workbooks(files), f"资金核算-{benefit_year}", "没有资金核算工作簿")


@router.get("/rewards", response_model=RewardsSummary, summary="考核奖惩：各乡镇任务完成、名次、奖励、工作经费补助")
def rewards(benefit_year: Year, staff: SignedIn, engine: Database, policy: PolicyChoice = None) -> RewardsSummary:
    return RewardsSummary.model_validate(money_desk.rewards_summary(engine, staff, benefit_year, policy))


@router.get("/rewards/workbook", responses=DOWNLOADS, summary="考核奖惩工作簿（与 canbao rewards 相同）")
def rewards_workbook(benefit_year: Year, staff: SignedIn, engine: Database, policy: PolicyChoice = None) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        files = money_desk.rewards_workbook(engine, staff, benefit_year, Path(tmp), policy)
        return workbooks(_workbooks(files), f"考核奖惩-{benefit_year}", "没有考核奖惩工作簿")


def _workbooks(files: list[Path]) -> list[Path]:
    """The workbooks of what the use case wrote (its charts are for the CLI's officials, the page draws its own)."""
    return [f for f in files if f.suffix == ".xlsx"]


@router.post(
    "/cleanup", status_code=202, response_model=JobStarted, dependencies=[Depends(csrf_checked)],
    summary="重复参保及无效参保清理：上传名单，后台比对；结果和清理清单见 GET /api/v1/jobs/{id}",
)  # fmt: skip
def cleanup(
    request: Request,
    staff: SignedIn,
    engine: Database,
    benefit_year: Annotated[int, Form(description="待遇年度，如 2022")],
    policy: Annotated[str | None, Form(description="政策（默认：该年度本县唯一的政策）")] = None,
    as_of: Annotated[
        str | None, Form(description="清单日期即退费申请日期 YYYY-MM-DD（默认：今天，不晚于集中征缴期末）")
    ] = None,
    deaths: Annotated[UploadFile | None, File(description="公安死亡人员名单")] = None,
    employees: Annotated[UploadFile | None, File(description="职工医保参保人员名单")] = None,
    other_counties: Annotated[UploadFile | None, File(description="其他县（区）居民医保参保名册")] = None,
) -> JobStarted:
    day = iso_date(as_of, "as_of") if as_of else None
    given = {"deaths": deaths, "employees": employees, "other_counties": other_counties}
    sent = {name: Path(f.filename or name) if f is not None else None for name, f in given.items()}
    pid = money_desk.check_cleanup(engine, staff, benefit_year, policy, sent)  # refused before any file is stored
    files = {name: str(store(request, f, name)) if f is not None else None for name, f in given.items()}
    params = {"benefit_year": benefit_year, "policy": pid, "as_of": day.isoformat() if day else None, "files": files}
    return JobStarted(job_id=runner_of(request).submit("cleanup", staff, params, get_today(request)))


@router.post(
    "/persons/{person_id}/refund", response_model=RefundResult, dependencies=[Depends(csrf_checked)],
    summary="退费：按政策可退时退还个人缴费，参保关系终止（重复提交不再退费）",
)  # fmt: skip
def refund(person_id: int, body: RefundRequest, staff: SignedIn, engine: Database) -> RefundResult:
    result = money_desk.refund_as(
        engine, staff, person_id, benefit_year=body.benefit_year, reason=body.reason, requested_on=body.requested_on
    )
    return RefundResult.model_validate(result)


@router.get(
    "/county-subsidy", response_model=OwedList, summary="先缴后补：本区域待退补县财政补贴的人员（身份证号码已遮蔽）"
)
def county_subsidy(benefit_year: Year, staff: SignedIn, engine: Database) -> OwedList:
    items = money_desk.county_subsidy_list(engine, staff, benefit_year)
    return OwedList(
        benefit_year=benefit_year,
        persons=len(items),
        total_fen=sum(int(i["subsidy_fen"]) for i in items),
        items=[OwedPerson.model_validate(i) for i in items],
    )


@router.post(
    "/county-subsidy/record", response_model=CountySubsidyRecorded, dependencies=[Depends(csrf_checked)],
    summary="登记乡镇已退补县财政补贴（每人只登记一次）",
)  # fmt: skip
def county_subsidy_record(body: CountySubsidyRecord, staff: SignedIn, engine: Database) -> CountySubsidyRecorded:
    result = money_desk.record_county_subsidy_as(
        engine, staff, body.person_id, benefit_year=body.benefit_year, township=body.township
    )
    return CountySubsidyRecorded.model_validate(result)
