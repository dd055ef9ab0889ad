"""Quote one application (the CLI's JSON contract) through the vectorized engine: a frame of one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.money import to_yuan, yuan_json
from canbao.policy import load_policy
from canbao.rules.columns import input_frame
from canbao.rules.engine import quote_frame
from canbao.rules.refund import refund_frame

_PERSON_FIELDS: dict[str, type] = {
    "id_number": str,
    "name": str,
    "county": str,
    "residency": str,
    "categories": list,
    "employee_insurance_active": bool,
    "employee_insurance_years": int,
    "employee_insurance_gap_months": int,
    "lapsed_years": int,
    "repaid_years": int,
    "household_role": str,
}
_MAX_COUNT = 2**31 - 1  # the engine's Int32 columns (years, months)
_TYPE_WORDS = {str: "文本", list: "列表", bool: "true 或 false", int: "整数"}


def _date(value: Any, field: str) -> dt.date:
    if value is None:
        raise InputError(field, f"缺少日期 {field}（YYYY-MM-DD）")
    if not isinstance(value, str):
        raise InputError(field, "日期须为 YYYY-MM-DD 格式的文本")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(field, f"“{value}”不是有效日期（格式 YYYY-MM-DD）") from None


def application_row(application: Any) -> dict[str, Any]:
    """One application of the JSON contract (person, situation, paid_on) as a row of the engine's input
    (canbao.rules.columns.input_frame): its shape and types checked; values themselves are checked by the
    engine."""
    if not isinstance(application, dict):
        raise InputError("(input)", "输入须为一个 JSON 对象")
    person = application.get("person")
    if not isinstance(person, dict):
        raise InputError("person", "缺少 person 对象")
    unknown = sorted(set(person) - set(_PERSON_FIELDS))
    if unknown:
        raise InputError(f"person.{unknown[0]}", f"不认识的字段（可用：{'、'.join(_PERSON_FIELDS)}）")
    row: dict[str, Any] = {}
    for key, kind in _PERSON_FIELDS.items():
        value = person.get(key)
        ok = value is None or (isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
        if not ok:
            raise InputError(f"person.{key}", f"应为{_TYPE_WORDS[kind]}")
        if kind is int and value is not None and value < 0:
            raise InputError(f"person.{key}", "不能为负数")
        if kind is int and value is not None and value > _MAX_COUNT:
            raise InputError(f"person.{key}", f"数值过大（不能超过 {_MAX_COUNT}）")
        row[key] = value
    categories = row["categories"] or []
    if not all(isinstance(c, str) for c in categories):
        raise InputError("person.categories", "应为身份类别文本的列表")
    row["categories"] = categories
    if row["id_number"] is None:
        raise InputError("person.id_number", "缺少身份证号码")
    situation = application.get("situation")
    if not isinstance(situation, str):
        raise InputError("situation", "缺少参保情形 situation")
    row["situation"] = situation
    row["paid_on"] = _date(application.get("paid_on"), "paid_on")
    return row


def _money(fen: int | None) -> Decimal | None:
    return None if fen is None else to_yuan(fen)


def quoted_result(row: dict[str, Any]) -> dict[str, Any]:
    """One quoted row as the contract's object (Decimal yuan, ISO dates)."""
    subsidies = []
    if row["subsidy_category"] is not None:
        subsidies.append(
            {
                "kind": row["subsidy_kind"],
                "category": row["subsidy_category"],
                "amount": _money(row["subsidy_fen"]),
                "payer": row["subsidy_payer"],
                "timing": row["subsidy_timing"],
                "clause": row["subsidy_clause"],
            }
        )
    additional = []
    if row["additional_due_year"] is not None:
        additional.append({"benefit_year": row["additional_due_year"], "amount": _money(row["additional_due_fen"])})
    levels = ("central", "province", "city", "county", "total")
    return {
        "policy": row["policy"],
        "id_number": mask_id_number(row["id_number"]),
        "situation": row["situation"],
        "eligible": row["eligible"],
        "reasons": row["reasons"],
        "benefit_year": row["benefit_year"],
        "personal_standard": _money(row["personal_standard_fen"]),
        "amount_due": _money(row["amount_due_fen"]),
        "net_personal": _money(row["net_personal_fen"]),
        "subsidies": subsidies,
        "fiscal_subsidy": {lvl: _money(row[f"fiscal_{lvl}_fen"]) for lvl in levels},
        "benefit_start": row["benefit_start"].isoformat() if row["benefit_start"] else None,
        "benefit_end": row["benefit_end"].isoformat() if row["benefit_end"] else None,
        "waiting_months": row["waiting_months"],
        "additional_dues": additional,
        "rule": row["rule"],
    }


def quote(policy_id: str, application: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Quote one person; raises InputError for bad input or a case the policy does not cover.  `today`: the
    day ID numbers are checked against (the caller's clock)."""
    policy = load_policy(policy_id)
    quoted = quote_frame(policy, input_frame([application_row(application)]), today).row(0, named=True)
    if quoted["error"] is not None:
        raise InputError(quoted["error_field"], quoted["error"])
    return quoted_result(quoted)


def refund_quote(policy_id: str, application: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Whether a payment can be refunded, and how much of the personal payment comes back."""
    policy = load_policy(policy_id)
    row = application_row(application)
    row["requested_on"] = _date(application.get("requested_on"), "requested_on")
    reason = application.get("reason")
    if not isinstance(reason, str):
        raise InputError("reason", "缺少退费原因 reason")
    row["reason"] = reason
    refunded = application.get("county_subsidy_refunded", False)
    if not isinstance(refunded, bool):
        raise InputError("county_subsidy_refunded", "应为 true 或 false")
    row["county_subsidy_refunded"] = refunded
    quoted = quote_frame(policy, input_frame([row]), today)
    out = refund_frame(policy, quoted).row(0, named=True)
    if out["refund_error"] is not None:
        field = out["refund_error_field"]
        raise InputError(out["error_field"] if field == "quote" and out["error_field"] else field, out["refund_error"])
    return {
        "policy": out["policy"],
        "id_number": mask_id_number(out["id_number"]),
        "reason": reason,
        "refundable": out["refundable"],
        "amount": _money(out["refund_fen"]),
        "benefit_start": out["benefit_start"].isoformat(),
        "why": out["refund_why"],
    }


def to_json_ready(value: Any) -> Any:
    """Decimal yuan to JSON numbers (see money.yuan_json), recursively."""
    if isinstance(value, Decimal):
        return yuan_json(int(value * 100))
    if isinstance(value, dict):
        return {k: to_json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_ready(v) for v in value]
    return value
