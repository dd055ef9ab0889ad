"""The dashboard's data (工作台, issue 14): `/api/v1/progress` and `/api/v1/benefit-years`.

Routes parse, call canbao.services.dashboard (scoped to the caller's area, cached) and render."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.services import dashboard
from canbao.services.access import Staff
from canbao.web.deps import current_staff, get_engine, get_today

SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]
Today = Annotated[dt.date, Depends(get_today)]

router = APIRouter(prefix="/api/v1", tags=["参保进度"])


class ProgressRow(BaseModel):
    level: Literal["county", "township", "village"]
    township: str | None
    village: str | None
    rank: int | None = Field(description="名次：乡镇在全县、村在全县（无任务数时为空）")
    township_rank: int | None = Field(None, description="村在本乡镇内的名次（乡镇、全县行为空）")
    enrollment_target: int | None
    enrolled: int | None
    enrolled_last_week: int | None
    enrolled_this_week: int | None
    enrollment_rate_bp: int | None = Field(description="参保完成率，万分之（向下取整）")
    enrollment_rate_change_bp: int | None
    last_year: int | None
    renewed: int | None
    renewal_rate_bp: int | None
    e_voucher_target: int | None
    activated: int | None
    e_voucher_rate_bp: int | None


class ProgressReport(BaseModel):
    benefit_year: int
    as_of: dt.date
    week_before: dt.date
    rows: list[ProgressRow]


class BenefitYears(BaseModel):
    years: list[int] = Field(description="有任务分解表或参保记录的待遇年度，新的在前")
    default: int | None = Field(description="最新的有任务分解表的年度，否则最新的有参保记录的年度")
    today: dt.date


def _year(text: str | None, engine: Engine, today: dt.date) -> int:
    if text is None or not text.strip():
        return dashboard.default_benefit_year(engine, today)
    value = text.strip()
    if not (len(value) == 4 and value.isascii() and value.isdigit()):
        raise InputError("benefit_year", f"待遇年度应为四位年份，而不是“{value[:20]}”")
    return int(value)


def _day(text: str | None, today: dt.date) -> dt.date:
    if text is None or not text.strip():
        return today
    value = text.strip()
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError("as_of", f"统计截止日期“{value[:20]}”不是有效日期（应为 YYYY-MM-DD）") from None


@router.get(
    "/progress",
    summary="参保进度（工作台）",
    response_model=ProgressReport,
    responses={
        401: {"description": "未登录"},
        403: {"description": "学校、认定部门的账号没有工作台"},
        422: {"description": "待遇年度或截止日期无效，或该年度尚未导入任务分解表"},
    },
)
def progress(
    staff: SignedIn,
    engine: Database,
    today: Today,
    benefit_year: Annotated[str | None, Query(description="待遇年度（默认：见 /api/v1/benefit-years）")] = None,
    as_of: Annotated[str | None, Query(description="统计截止日期 YYYY-MM-DD（含当日；默认今天）")] = None,
) -> ProgressReport:
    """本辖区及以下各级的参保进度：县级角色为全县、各乡镇、各村；乡镇为本乡镇及其各村；村为本村。"""
    day = _day(as_of, today)
    report = dashboard.dashboard_rows(engine, staff, _year(benefit_year, engine, today), day)
    return ProgressReport(
        benefit_year=report.benefit_year,
        as_of=report.as_of,
        week_before=report.week_before,
        rows=[ProgressRow.model_validate(r) for r in report.rows],
    )


@router.get(
    "/benefit-years",
    summary="可查看的待遇年度",
    response_model=BenefitYears,
    responses={401: {"description": "未登录"}},
)
def benefit_years(
    staff: SignedIn,
    engine: Database,
    today: Today,
) -> BenefitYears:
    """工作台的默认值：年度列表、默认年度与今天（北京时间）。"""
    years = dashboard.benefit_years(engine, today)
    return BenefitYears(years=years.years, default=years.default, today=years.today)
