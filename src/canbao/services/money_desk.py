"""The control room's money work from the portal (issue 14): 资金核算, 考核奖惩, 重复/无效参保清理, 退费 and
先缴后补 退补, each the same use case the CLI runs (canbao.services.funds, assessment, cleanup, payments), with who
may do what checked here, never in a route:

| work                              | who                                                  | clause                |
|-----------------------------------|------------------------------------------------------|-----------------------|
| 资金核算 (funds summary, workbook) | county_admin, tax                                    | 001 六(四), 003 三(五)3 |
| 考核奖惩 (rewards)                 | county_admin                                         | 003 四                |
| 重复/无效参保清理 (cleanup)         | county_admin                                         | 000 六(四)            |
| 退费 (refund of a person)          | county_admin, the person in its area                 | 000 六(四), 000 四(二) |
| 先缴后补 退补清单 (county subsidy)  | township (its own township), county_admin, tax (all) | 003 三(二)2, 004 二(三) |
| 先缴后补 退补登记 (record)          | township (its own persons), county_admin (any)       | 003 三(二)2            |

A person outside the caller's area is "not found" (OutOfArea, audited) whatever the role; a role that may not
do the work at all is NotAllowed.  ID numbers leave this module masked: the JSON answers and the workbooks the
portal serves carry `mask_id_number`'s form (the CLI's own workbooks keep the full numbers for the officials who
run it on the server).  Money is integer fen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, or_, select

from canbao.errors import InputError
from canbao.ids import mask_id_number, mask_id_numbers
from canbao.money import to_yuan
from canbao.policy import list_policies, load_policy
from canbao.services.access import NotAllowed, Staff, check_person_in_area, person_in_area, person_subject
from canbao.services.payments import county_subsidy_refunds_owed
from canbao.store.tables import enrollments, persons
from canbao.store.uow import audit
from canbao.vocabulary import CATEGORY_LABELS, REFUND_REASON_LABELS, SUBSIDY_KIND_LABELS

WORK_ROLES: dict[str, frozenset[str]] = {
    "funds": frozenset({"county_admin", "tax"}),
    "rewards": frozenset({"county_admin"}),
    "cleanup": frozenset({"county_admin"}),
    "refund": frozenset({"county_admin"}),
    "county_subsidy_list": frozenset({"township", "county_admin", "tax"}),
    "county_subsidy_record": frozenset({"township", "county_admin"}),
}
WORK_LABELS: dict[str, str] = {
    "funds": "查看资金核算",
    "rewards": "查看考核奖惩",
    "cleanup": "进行重复参保及无效参保清理",
    "refund": "办理退费",
    "county_subsidy_list": "查看先缴后补退补清单",
    "county_subsidy_record": "登记先缴后补退补",
}
Progress = Callable[[int, int, str], None]


def may_do(staff: Staff) -> list[str]:
    """The money work this member of staff may do (the portal's menu offers these)."""
    return [work for work, roles in WORK_ROLES.items() if staff.role in roles]


def check_may_do(staff: Staff, work: str) -> None:
    if staff.role not in WORK_ROLES[work]:
        raise NotAllowed(f"此账户不能{WORK_LABELS[work]}")


def _masked(frame: pl.DataFrame, column: str = "id_number") -> pl.DataFrame:
    if column not in frame.columns:
        return frame
    return frame.with_columns(mask_id_numbers(pl.col(column).cast(pl.String)).alias(column))


def policy_for(staff: Staff, benefit_year: int, policy_id: str | None, *, assessed: bool = False) -> str:
    """The policy the work is done under: the one given (of `benefit_year`), else the only policy of that year
    (covering the account's county; with an assessment when `assessed`)."""
    if policy_id:
        if policy_id not in list_policies():
            raise InputError("policy", f"没有政策“{policy_id}”（已有：{'、'.join(list_policies())}）")
        policy = load_policy(policy_id)
        if policy.benefit_year != benefit_year:
            raise InputError("policy", f"政策 {policy_id} 不是 {benefit_year} 待遇年度的政策")
        if staff.county and staff.county not in policy.region.counties:
            raise NotAllowed(f"政策 {policy_id} 不覆盖本县（{staff.county}）")
        return policy_id
    found = []
    for pid in list_policies():
        policy = load_policy(pid)
        if policy.benefit_year != benefit_year or (assessed and policy.assessment is None):
            continue
        if staff.county and staff.county not in policy.region.counties:
            continue
        found.append(pid)
    if len(found) == 1:
        return found[0]
    what = "有考核奖惩规定的政策" if assessed else "政策"
    if not found:
        raise InputError("benefit_year", f"{benefit_year} 待遇年度没有本县的{what}")
    raise InputError("policy", f"{benefit_year} 待遇年度有多个{what}，请选择：{'、'.join(found)}")


def check_one_county(engine: Engine, staff: Staff, benefit_year: int) -> None:
    """The county reports (资金核算, 考核奖惩, 清理) read the whole registry of the year, as the CLI does on the
    county's own database: refuse them to an account of one county when the year holds enrollments of persons
    of another county (or of none), rather than show those persons' figures."""
    if not staff.county:
        return
    e, p = enrollments.c, persons.c
    query = (
        select(e.id)
        .join(persons, p.id == e.person_id)
        .where(e.benefit_year == benefit_year, or_(p.county.is_(None), p.county != staff.county))
        .limit(1)
    )
    with engine.connect() as c:
        other = c.execute(query).first()
    if other is not None:
        raise NotAllowed(
            f"本数据库 {benefit_year} 年度有其他县（区）人员的参保记录："
            f"县级汇总只能在本县（{staff.county}）的数据库中进行"
        )


# ---------------------------------------------------------------------------------------------------- 资金核算


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dicts()


def _labelled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("subsidy_kind")
        .replace_strict(SUBSIDY_KIND_LABELS, default=pl.col("subsidy_kind"))
        .alias("subsidy_kind_label"),
        pl.col("subsidy_category")
        .replace_strict(CATEGORY_LABELS, default=pl.col("subsidy_category"))
        .alias("subsidy_category_label"),
    )


def funds_summary(engine: Engine, staff: Staff, benefit_year: int, policy_id: str | None = None) -> dict[str, Any]:
    """资金核算 of `benefit_year` (services.funds.fund_report) as JSON: fiscal subsidy per level and per township,
    the category subsidies from the ledger, what finance transfers per township, the county subsidies paid
    back and owed per township.  Integer fen; a level the policy does not state is null.  No person's row."""
    from canbao.services.funds import LEVEL_LABELS, fund_report

    check_may_do(staff, "funds")
    check_one_county(engine, staff, benefit_year)
    report = fund_report(engine, benefit_year, policy_for(staff, benefit_year, policy_id) if policy_id else None)
    county = report.fiscal_county.row(0, named=True)
    levels = [
        {"level": lvl, "label": label, "persons": int(county["persons"]), "amount_fen": county[f"fiscal_{lvl}_fen"]}
        for lvl, label in LEVEL_LABELS.items()
    ]
    towns = report.county_subsidy_by_township
    county_subsidy_total = {"township": "合计", **{c: int(towns[c].sum() or 0) for c in towns.columns[1:]}}
    transfers = report.transfer_detail
    return {
        "benefit_year": benefit_year,
        "policies": report.policies,
        "levels": levels,
        "fiscal_county": county,
        "fiscal_by_township": _rows(report.fiscal_by_township),
        "subsidies_by_category": _rows(_labelled(report.subsidies_by_category)),
        "subsidy_differences": report.subsidy_differences.height,
        "transfers_by_township": _rows(_labelled(report.transfers_by_township)),
        "transfer_persons": transfers.height,
        "transfer_fen": int(transfers["amount_fen"].sum() or 0),
        "county_subsidy_by_township": _rows(towns),
        "county_subsidy_total": county_subsidy_total,
        "notes": report.notes,
    }


def funds_workbook(
    engine: Engine, staff: Staff, benefit_year: int, out: Path, policy_id: str | None = None
) -> list[Path]:
    """The fund workbook and charts `canbao funds` writes, into `out`, the ID numbers of its person sheets
    masked (the portal's downloads never carry a full number)."""
    from canbao.services.funds import fund_report, write_fund_report

    check_may_do(staff, "funds")
    check_one_county(engine, staff, benefit_year)
    report = fund_report(engine, benefit_year, policy_for(staff, benefit_year, policy_id) if policy_id else None)
    masked = dataclasses.replace(
        report,
        subsidy_differences=_masked(report.subsidy_differences),
        transfer_detail=_masked(report.transfer_detail),
    )
    return write_fund_report(masked, out)


# ---------------------------------------------------------------------------------------------------- 考核奖惩


def rewards_summary(engine: Engine, staff: Staff, benefit_year: int, policy_id: str | None = None) -> dict[str, Any]:
    """考核奖惩 at the policy's cutoff (services.assessment.rewards) as JSON: per township its figures, whether it
    completed both targets, its rank, prize and work subsidy, and how far short it is."""
    from canbao.services.assessment import rewards

    check_may_do(staff, "rewards")
    pid = policy_for(staff, benefit_year, policy_id, assessed=True)
    check_one_county(engine, staff, benefit_year)
    result = rewards(engine, pid)
    a = result.assessment
    towns = result.townships.with_columns(
        (pl.col("enrollment_target") - pl.col("enrolled")).clip(lower_bound=0).alias("enrollment_short"),
        (pl.col("e_voucher_target") - pl.col("activated")).clip(lower_bound=0).alias("e_voucher_short"),
    ).select(
        "township", "township_code", "enrollment_target", "enrolled", "enrollment_rate_bp", "enrollment_completed",
        "enrollment_short", "e_voucher_target", "activated", "e_voucher_rate_bp", "e_voucher_completed",
        "e_voucher_short", "completed", "rank", "prize", "prize_fen", "work_subsidy_fen",
    )  # fmt: skip
    return {
        "policy": pid,
        "benefit_year": result.benefit_year,
        "cutoff": a.cutoff.isoformat(),
        "county_enrolled": result.county_enrolled,
        "county_activated": result.county_activated,
        "enrollment_goal": a.targets.enrollment,
        "e_voucher_goal": a.targets.e_voucher,
        "completed_townships": int(towns["completed"].sum()),
        "work_subsidy_fen": result.work_subsidy_fen,
        "prizes_fen": result.prizes_fen,
        "ranking_note": a.ranking_note,
        "townships": _rows(towns),
    }


def rewards_workbook(
    engine: Engine, staff: Staff, benefit_year: int, out: Path, policy_id: str | None = None
) -> list[Path]:
    """The rewards workbook and chart `canbao rewards` writes (no person in it), into `out`."""
    from canbao.services.assessment import rewards, write_rewards

    check_may_do(staff, "rewards")
    pid = policy_for(staff, benefit_year, policy_id, assessed=True)
    check_one_county(engine, staff, benefit_year)
    return write_rewards(rewards(engine, pid), out)


# ---------------------------------------------------------------------------------------------------- 清理

CLEANUP_REGISTERS = ("deaths", "employees", "other_counties")


def check_cleanup(
    engine: Engine, staff: Staff, benefit_year: int, policy_id: str | None, registers: dict[str, Path | None]
) -> str:
    """Refuse a clean-up before its files are stored: the role, the policy, the county, at least one register."""
    check_may_do(staff, "cleanup")
    pid = policy_for(staff, benefit_year, policy_id)
    check_one_county(engine, staff, benefit_year)
    if not any(registers.get(name) for name in CLEANUP_REGISTERS):
        raise InputError("deaths", "至少上传一个名单：公安死亡人员名单、职工医保参保人员名单或其他县（区）参保名册")
    return pid


def cleanup_as(
    engine: Engine,
    staff: Staff,
    *,
    benefit_year: int,
    policy_id: str | None,
    registers: dict[str, Path | None],
    as_of: dt.date | None,
    today: dt.date,
    folder: Path,
    progress: Progress,
) -> dict[str, Any]:
    """治理重复参保及无效参保 (services.cleanup.run_cleanup) from the registers sent; its list into `folder` as
    清理清单-<year>.xlsx with the ID numbers masked; the counts."""
    from canbao.reports import write_workbook
    from canbao.services.cleanup import CLEANUP_NUMBERS, cleanup_sheets, run_cleanup

    pid = check_cleanup(engine, staff, benefit_year, policy_id, registers)
    progress(0, 2, "比对名单")
    with tempfile.TemporaryDirectory() as tmp:  # the use case's own workbook (full numbers) is not kept
        run = run_cleanup(
            engine, pid, benefit_year, Path(tmp), deaths=registers.get("deaths"),
            employees=registers.get("employees"), other_counties=registers.get("other_counties"), as_of=as_of,
            today=today,
        )  # fmt: skip
    progress(1, 2, "写出清理清单")
    frame = _masked(run.frame)
    name = f"清理清单-{benefit_year}.xlsx"
    write_workbook(folder / name, cleanup_sheets(frame, pid, run.as_of), numbers=CLEANUP_NUMBERS)
    paid = frame.filter(pl.col("status") == "paid")
    refund = paid.filter(pl.col("refund_due").fill_null(False))
    by_reason = {str(reason): part.height for (reason,), part in frame.group_by(["reason"], maintain_order=True)}
    progress(2, 2, "完成")
    return {
        "policy": pid,
        "benefit_year": benefit_year,
        "as_of": run.as_of.isoformat(),
        "as_of_defaulted": run.defaulted,
        "terminate": paid.height,
        "refund": refund.height,
        "refund_fen": int(refund["refund_fen"].sum() or 0),
        "refund_not_covered": int(paid["refund_due"].is_null().sum()),
        "stop_chasing": frame.height - paid.height,
        "by_reason": by_reason,
        "files": [name],
    }


# ---------------------------------------------------------------------------------------------------- 退费


def _person(engine: Engine, person_id: int) -> dict[str, Any]:
    with engine.connect() as c:
        row = c.execute(
            select(persons.c.id, persons.c.id_number, persons.c.township).where(persons.c.id == person_id)
        ).one()
    return dict(row._mapping)


def refund_as(
    engine: Engine, staff: Staff, person_id: int, *, benefit_year: int, reason: str, requested_on: dt.date
) -> dict[str, Any]:
    """退费 of a person's enrollment for the year (services.payments.refund: the policy's refund rule decides,
    the enrollment ends and the ledger gets the refund).  A second request finds no live enrollment and
    changes nothing (InputError)."""
    from canbao.services.payments import refund

    check_may_do(staff, "refund")
    check_person_in_area(engine, staff, person_id)
    if reason not in REFUND_REASON_LABELS:
        choices = "、".join(f"{r}（{label}）" for r, label in REFUND_REASON_LABELS.items())
        raise InputError("reason", f"未知的退费原因“{reason}”（可选：{choices}）")
    person = _person(engine, person_id)
    result = refund(engine, person["id_number"], benefit_year, reason, requested_on, staff.actor)
    # The use case's own line names the masked number (shared by ~100 persons); this one the person, so that
    # the person's page lists it.
    what = f"退费 {to_yuan(result.amount_fen)} 元" if result.refundable else "不予退费"
    detail = f"{benefit_year}年度 {REFUND_REASON_LABELS[reason]}：{what}"
    audit(engine, staff.actor, "refund", person_subject(person_id), "done", detail)
    return {
        "person_id": person_id,
        "id_number": mask_id_number(person["id_number"]),
        "benefit_year": benefit_year,
        "enrollment_id": result.enrollment_id,
        "reason": reason,
        "reason_label": REFUND_REASON_LABELS[reason],
        "refunded": result.refundable,
        "amount_fen": result.amount_fen,
        "why": result.why,
        "outcome": "已退费，参保关系终止" if result.refundable else "不予退费",
    }


# ------------------------------------------------------------------------------------------------ 先缴后补 退补


def county_subsidy_list(engine: Engine, staff: Staff, benefit_year: int) -> list[dict[str, Any]]:
    """Who in the caller's area is owed the county subsidy back (the one definition,
    services.payments.county_subsidy_owed), per township and village, ID numbers masked."""
    check_may_do(staff, "county_subsidy_list")
    frame = county_subsidy_refunds_owed(engine, benefit_year, area=person_in_area(staff))
    frame = _masked(frame).with_columns(
        pl.col("subsidy_category")
        .replace_strict(CATEGORY_LABELS, default=pl.col("subsidy_category"))
        .alias("subsidy_category_label")
    )
    return frame.select(
        "person_id", "enrollment_id", "township", "village", "name", "id_number", "subsidy_category",
        "subsidy_category_label", "subsidy_fen",
    ).to_dicts()  # fmt: skip


def record_county_subsidy_as(
    engine: Engine, staff: Staff, person_id: int, *, benefit_year: int, township: str | None = None
) -> dict[str, Any]:
    """登记 the township paid the person their county subsidy back (services.payments.record_county_subsidy_refund,
    as `canbao county-subsidy record` does).  A township clerk records only its own township's persons and only
    as its own township; county_admin any person of the county, as the person's township unless it names one.
    A second recording is refused and changes nothing (InputError)."""
    from canbao.services.payments import record_county_subsidy_refund

    check_may_do(staff, "county_subsidy_record")
    check_person_in_area(engine, staff, person_id)
    person = _person(engine, person_id)
    if staff.role == "township":
        if township and township != staff.township:
            raise NotAllowed("乡镇账户只能登记本乡镇的退补")
        paid_by = staff.township or ""
    else:
        paid_by = township or person["township"] or ""
    if not paid_by:
        raise InputError("township", "该参保人没有登记乡镇，请填写退补的乡镇（街道）")
    fen = record_county_subsidy_refund(engine, person["id_number"], benefit_year, paid_by, staff.actor)
    subject = person_subject(person_id)
    audit(engine, staff.actor, "county_subsidy_refund", subject, "done", f"{paid_by} 退补 {to_yuan(fen)} 元")
    return {
        "person_id": person_id,
        "id_number": mask_id_number(person["id_number"]),
        "benefit_year": benefit_year,
        "township": paid_by,
        "paid_fen": fen,
        "outcome": f"已登记 {paid_by} 退补县财政补贴",
    }
