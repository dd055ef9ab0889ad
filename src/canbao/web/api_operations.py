"""开征, 缴费文件入账 and 对账 in the JSON API: each starts a background job at once (services.operations); the
job's page (GET /api/v1/jobs/{id}) follows it and offers its files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from canbao.errors import InputError
from canbao.services.access import Staff
from canbao.services.operations import check_may_run
from canbao.web.api_jobs import JobStarted, runner_of
from canbao.web.deps import csrf_checked, current_staff, get_today, iso_date
from canbao.web.uploads import store

router = APIRouter(prefix="/api/v1", tags=["开征、入账与对账"], dependencies=[Depends(csrf_checked)])
SignedIn = Annotated[Staff, Depends(current_staff)]
RECONCILIATION_FILES = ("tax", "bank", "collections", "other_counties", "deaths", "employees", "unit_aliases")


class SeasonOpen(BaseModel):
    policy: str = Field(description="本年度的政策，如 anhui/suzhou/lingbi/2022")


@router.post("/season/open", status_code=202, response_model=JobStarted, summary="开征：测算本年度应缴记录")
def season_open(body: SeasonOpen, request: Request, staff: SignedIn) -> JobStarted:
    check_may_run(staff, "season_open")
    job = runner_of(request).submit("season_open", staff, {"policy": body.policy}, get_today(request))
    return JobStarted(job_id=job)


@router.post("/payment-files", status_code=202, response_model=JobStarted, summary="缴费文件入账（重复导入不改变记录）")
def payment_file(
    request: Request,
    staff: SignedIn,
    file: Annotated[UploadFile, File(description="缴费通知文件 .csv 或 .parquet")],
    policy: Annotated[str, Form(description="政策，如 anhui/suzhou/lingbi/2022")],
) -> JobStarted:
    check_may_run(staff, "payment_file")
    path = store(request, file)
    params = {"policy": policy, "path": str(path), "file_name": path.name}
    return JobStarted(job_id=runner_of(request).submit("payment_file", staff, params, get_today(request)))


@router.post("/reconciliations", status_code=202, response_model=JobStarted, summary="对账：上传税务、银行、代收文件")
def reconciliation(
    request: Request,
    staff: SignedIn,
    as_of: Annotated[str, Form(description="对账截止日期 YYYY-MM-DD")],
    benefit_year: Annotated[int | None, Form(description="待遇年度（默认：截止日期前最近一笔缴费的年度）")] = None,
    tax: Annotated[UploadFile | None, File(description="税务征收明细")] = None,
    bank: Annotated[UploadFile | None, File(description="银行待报解账户流水")] = None,
    collections: Annotated[list[UploadFile] | None, File(description="代收单位清单，可多个")] = None,
    other_counties: Annotated[list[UploadFile] | None, File(description="外县参保名册，可多个")] = None,
    deaths: Annotated[UploadFile | None, File(description="公安死亡人员名单")] = None,
    employees: Annotated[UploadFile | None, File(description="职工医保参保人员名单")] = None,
    unit_aliases: Annotated[UploadFile | None, File(description="代收单位名称对照表")] = None,
) -> JobStarted:
    check_may_run(staff, "reconciliation")
    day = iso_date(as_of, "as_of")
    given: dict[str, list[UploadFile | None]] = {
        "tax": [tax], "bank": [bank], "collections": list(collections or []),
        "other_counties": list(other_counties or []),
        "deaths": [deaths], "employees": [employees], "unit_aliases": [unit_aliases],
    }  # fmt: skip
    files = {name: [str(store(request, f, name)) for f in uploads if f is not None] for name, uploads in given.items()}
    if not any(files[name] for name in ("tax", "bank", "collections")):
        raise InputError("tax", "请至少上传税务征收明细、银行流水或代收单位清单中的一种")
    params = {"as_of": day.isoformat(), "benefit_year": benefit_year, "files": files}
    return JobStarted(job_id=runner_of(request).submit("reconciliation", staff, params, get_today(request)))
