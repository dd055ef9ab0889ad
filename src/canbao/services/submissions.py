"""名单报送 through the portal (issue 14): who may send which list, for which department, school and county.

The imports themselves are canbao.services.imports and canbao.services.targets, exactly as `canbao import …`
runs them: all or nothing by default, or only the valid rows (`accept_valid`), each answered by its feedback
workbook. What this adds is the staff's side:

| list                         | who may send it                                             |
|------------------------------|-------------------------------------------------------------|
| department list (认定名单)     | a department user, for their own department; county_admin, for any |
| school roster (学生名册)       | a school user, for their own school; county_admin, for any  |
| last year's roster (参保名册)  | county_admin                                                |
| targets (任务分解表)           | county_admin                                                |
| e-voucher records (激活记录)   | county_admin                                                |

The county of a list is the account's county, else the only county of the chosen policy's region, else the
county the sender names (it must be one of the region's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from canbao.errors import InputError
from canbao.policy import load_policy
from canbao.services.access import NotAllowed, Staff
from canbao.services.imports import (
    ImportReport,
    ProgressHook,
    import_department_list,
    import_roster,
    import_school_roster,
)
from canbao.services.imports.words import resolve_department
from canbao.services.targets import ActivationsReport, TargetsReport, import_activations, import_targets

KINDS = ("department_list", "school_roster", "roster", "targets", "e_voucher")
KIND_LABELS = {
    "department_list": "部门认定名单",
    "school_roster": "学校学生名册",
    "roster": "上年度参保名册",
    "targets": "任务分解表",
    "e_voucher": "电子凭证激活记录",
}


def may_send(staff: Staff) -> list[str]:
    """The kinds of list this member of staff may send (the upload page offers these)."""
    if staff.role == "county_admin":
        return list(KINDS)
    if staff.role == "department":
        return ["department_list"]
    if staff.role == "school":
        return ["school_roster"]
    return []


def check_may_send(staff: Staff, kind: str) -> None:
    """Refuse a kind of list this member of staff may not send."""
    if kind not in KINDS:
        raise InputError("kind", f"未知的名单类型“{kind}”（可选：{'、'.join(KIND_LABELS.values())}）")
    if kind not in may_send(staff):
        raise NotAllowed(f"此账户不能报送{KIND_LABELS[kind]}")


def _county(staff: Staff, policy_id: str | None, county: str | None) -> str:
    if staff.county:
        if county and county != staff.county:
            raise NotAllowed(f"此账户只能报送本县（{staff.county}）的名单")
        return staff.county
    if county:
        return county
    if policy_id:
        counties = list(load_policy(policy_id).region.counties)
        if len(counties) == 1:
            return counties[0]
        raise InputError("county", f"政策 {policy_id} 覆盖多个县（区）：请选择县（区）（{'、'.join(counties)}）")
    raise InputError("county", "请选择县（区）")


def _department(staff: Staff, department: str | None) -> str:
    if staff.role == "department":
        own = resolve_department(staff.department or "")
        if department and resolve_department(department) != own:
            raise NotAllowed("认定部门只能报送本部门的名单")
        return own
    if not department:
        raise InputError("department", "请选择认定部门")
    return resolve_department(department)


def _school(staff: Staff, school: str | None) -> str:
    if staff.role == "school":
        if school and school.strip() != staff.school:
            raise NotAllowed("学校账户只能报送本校的学生名册")
        return staff.school or ""
    if not school:
        raise InputError("school", "请填写学校名称")
    return school


@dataclass(frozen=True)
class Submission:
    """A list's kind and what it is imported for, checked against the sender's account."""

    kind: str
    county: str | None = None
    policy_id: str | None = None
    department: str | None = None
    school: str | None = None
    benefit_year: int | None = None


def check_submission(
    staff: Staff,
    kind: str,
    *,
    policy_id: str | None = None,
    county: str | None = None,
    department: str | None = None,
    school: str | None = None,
    benefit_year: int | None = None,
) -> Submission:
    """What the list will be imported for, or the refusal: run before the file is stored, and again by the
    job that imports it."""
    check_may_send(staff, kind)
    if kind == "e_voucher":
        return Submission(kind)
    if kind in ("targets", "roster") and benefit_year is None:
        raise InputError("benefit_year", "请填写待遇年度")
    if kind == "targets":
        return Submission(kind, benefit_year=benefit_year)
    if kind == "department_list":
        if not policy_id:
            raise InputError("policy", "请选择按哪个政策认定资助身份")
        return Submission(kind, _county(staff, policy_id, county), policy_id, department=_department(staff, department))
    if kind == "school_roster":
        return Submission(kind, _county(staff, policy_id, county), policy_id, school=_school(staff, school))
    return Submission(kind, _county(staff, policy_id, county), policy_id, benefit_year=benefit_year)


def send_list(
    engine: Engine,
    staff: Staff,
    submission: Submission,
    path: Path,
    *,
    today: dt.date,
    feedback_path: Path,
    accept_valid: bool = False,
    progress: ProgressHook | None = None,
) -> ImportReport | TargetsReport | ActivationsReport:
    """Import the list `path` as `staff` (see the module docstring); the use case's report."""
    s = check_submission(
        staff, submission.kind, policy_id=submission.policy_id, county=submission.county,
        department=submission.department, school=submission.school, benefit_year=submission.benefit_year,
    )  # fmt: skip
    actor = staff.actor
    if s.kind == "e_voucher":
        return import_activations(engine, path, actor, today=today)
    if s.kind == "targets":
        assert s.benefit_year is not None
        return import_targets(engine, path, s.benefit_year, actor)
    common: dict[str, Any] = {
        "actor": actor, "accept_valid": accept_valid, "feedback_path": feedback_path, "today": today,
        "progress": progress,
    }  # fmt: skip
    assert s.county is not None
    if s.kind == "department_list":
        assert s.department is not None and s.policy_id is not None
        return import_department_list(engine, path, s.department, s.county, s.policy_id, **common)
    if s.kind == "school_roster":
        assert s.school is not None
        return import_school_roster(engine, path, s.school, s.county, **common)
    assert s.benefit_year is not None
    return import_roster(engine, path, s.county, s.benefit_year, **common)
