"""Background jobs and 名单报送 in the JSON API: send a list (the job starts at once), follow its progress, page
through its row results, download its feedback workbook, import only the valid rows, rerun a failed job."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.policy import list_policies
from canbao.services.access import OutOfArea, Staff
from canbao.services.jobs import JobRunner, job_params, job_status, recent_jobs
from canbao.services.operations import OPERATION_ROLES
from canbao.services.submissions import KIND_LABELS, check_submission, may_send
from canbao.vocabulary import DEPARTMENT_LABELS
from canbao.web.deps import csrf_checked, current_staff, get_engine, get_today
from canbao.web.downloads import attachment, media_type
from canbao.web.job_kinds import ROWS_FILE
from canbao.web.uploads import store

router = APIRouter(prefix="/api/v1", tags=["名单报送与后台任务"])
SignedIn = Annotated[Staff, Depends(current_staff)]
Database = Annotated[Engine, Depends(get_engine)]
OUTCOME_LABELS = {"accepted": "接收", "rejected": "退回", "duplicate": "重复"}


class JobStarted(BaseModel):
    job_id: int


def runner_of(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


@router.get("/submissions", summary="本账户可报送的名单类型和可选的政策、认定部门")
def submission_choices(staff: SignedIn) -> dict[str, Any]:
    kinds = may_send(staff)
    operates = any(staff.role in roles for roles in OPERATION_ROLES.values())  # 开征, 缴费文件入账 pick a policy too
    return {
        "kinds": [{"kind": k, "label": KIND_LABELS[k]} for k in kinds],
        "policies": list_policies() if kinds or operates else [],
        "departments": [{"department": d, "label": label} for d, label in DEPARTMENT_LABELS.items()],
        "own": {"county": staff.county, "department": staff.department, "school": staff.school},
    }


@router.post(
    "/submissions/{kind}",
    status_code=202,
    response_model=JobStarted,
    dependencies=[Depends(csrf_checked)],
    summary="报送名单：上传文件，后台导入（默认整批；有退回行则整批不导入）",
)
def send(
    kind: str,
    request: Request,
    staff: SignedIn,
    file: Annotated[UploadFile, File(description="名单文件 .csv 或 .xlsx")],
    accept_valid: Annotated[bool, Form(description="只导入通过校验的行")] = False,
    policy: Annotated[str | None, Form()] = None,
    county: Annotated[str | None, Form()] = None,
    department: Annotated[str | None, Form()] = None,
    school: Annotated[str | None, Form()] = None,
    benefit_year: Annotated[int | None, Form()] = None,
) -> JobStarted:
    submission = check_submission(
        staff, kind, policy_id=policy, county=county, department=department, school=school,
        benefit_year=benefit_year,
    )  # fmt: skip  # refused before the file is even stored
    path = store(request, file)
    name = path.name
    params = {
        "submission": dataclasses.asdict(submission), "path": str(path), "file_name": name,
        "accept_valid": accept_valid,
    }  # fmt: skip
    return JobStarted(job_id=runner_of(request).submit("submission", staff, params, get_today(request)))


@router.get("/jobs", summary="最近的后台任务（本人的；县级账户：全部）")
def jobs_list(staff: SignedIn, engine: Database) -> dict[str, Any]:
    return {"items": recent_jobs(engine, staff)}


@router.get("/jobs/{job_id}", summary="后台任务的状态、进度和结果")
def job(job_id: int, staff: SignedIn, engine: Database) -> dict[str, Any]:
    return job_status(engine, staff, job_id)


@router.post(
    "/jobs/{job_id}/rerun", status_code=202, response_model=JobStarted, dependencies=[Depends(csrf_checked)],
    summary="重新运行失败的任务",
)  # fmt: skip
def rerun(job_id: int, request: Request, staff: SignedIn) -> JobStarted:
    return JobStarted(job_id=runner_of(request).rerun(staff, job_id))


@router.post(
    "/jobs/{job_id}/import-valid", status_code=202, response_model=JobStarted, dependencies=[Depends(csrf_checked)],
    summary="整批未导入的名单：只导入其中通过校验的行",
)  # fmt: skip
def import_valid(job_id: int, request: Request, staff: SignedIn, engine: Database) -> JobStarted:
    view = job_status(engine, staff, job_id)
    result = view["result"] or {}
    if view["kind"] != "submission" or result.get("committed", True) or result.get("replayed"):
        raise InputError("job_id", "只有因退回行而整批未导入的名单可以只导入有效行")
    params = job_params(engine, staff, job_id) | {"accept_valid": True}
    return JobStarted(job_id=runner_of(request).submit("submission", staff, params, get_today(request)))


def _job_folder(request: Request, engine: Engine, staff: Staff, job_id: int) -> Path:
    job_status(engine, staff, job_id)  # 404 unless the staff may see the job
    folder: Path = request.app.state.jobs.folder / str(job_id)
    return folder


@router.get("/jobs/{job_id}/rows", summary="名单每一行的结果（分页，可按结果筛选；身份证号码已遮蔽）")
def job_rows(
    job_id: int,
    request: Request,
    staff: SignedIn,
    engine: Database,
    outcome: Annotated[str | None, Query(description="accepted / rejected / duplicate")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    path = _job_folder(request, engine, staff, job_id) / ROWS_FILE
    if not path.exists():
        raise OutOfArea("行结果")
    rows = pl.scan_parquet(path)
    if outcome:
        if outcome not in OUTCOME_LABELS:
            raise InputError("outcome", f"结果应为 {'、'.join(OUTCOME_LABELS)} 之一")
        rows = rows.filter(pl.col("outcome") == outcome)
    total = rows.select(pl.len()).collect().item()
    part = rows.slice((page - 1) * per_page, per_page).collect()
    items = [r | {"outcome_label": OUTCOME_LABELS.get(r["outcome"], r["outcome"])} for r in part.to_dicts()]
    return {"total": total, "page": page, "per_page": per_page, "items": items}


@router.get("/jobs/{job_id}/files/{name}", summary="下载任务写出的文件（如反馈工作簿）")
def job_file(job_id: int, name: str, request: Request, staff: SignedIn, engine: Database) -> Any:
    result = job_status(engine, staff, job_id)["result"] or {}
    if name not in result.get("files", []):  # only the files the job listed: no path from the URL is opened
        return JSONResponse({"detail": "未找到该文件"}, status_code=404)
    path = _job_folder(request, engine, staff, job_id) / name
    return FileResponse(path, headers=attachment(name), media_type=media_type(name))
