"""The words of the lists: field labels, the synonyms officials write for categories, household roles,
residencies and departments, and how they are looked up (pure, no I/O)."""

from __future__ import annotations

import polars as pl

from canbao.errors import InputError
from canbao.tabular.layouts import FIELDS, LAYOUTS
from canbao.tabular.values import header_key
from canbao.vocabulary import (
    CATEGORIES,
    CATEGORY_LABELS,
    DEPARTMENT_LABELS,
    HOUSEHOLD_ROLE_LABELS,
    HOUSEHOLD_ROLES,
    RESIDENCIES,
    RESIDENCY_LABELS,
)

TEXT = pl.String()
normalized = header_key  # how category, role and residency words are compared: NFKC, no spaces, lower case

_IMPORT_FIELDS = sorted({f for kind in ("department_list", "roster", "school_roster") for f in LAYOUTS[kind].fields})
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {ident: FIELDS[ident].aliases for ident in _IMPORT_FIELDS}
"""The headers accepted per field of the lists (canbao.tabular.layouts, kept here for the old name)."""

FIELD_LABELS: dict[str, str] = {ident: FIELDS[ident].label for ident in _IMPORT_FIELDS}

CATEGORY_SYNONYMS: dict[str, str] = {
    "特困": "destitute",
    "特困供养": "destitute",
    "特困供养人员": "destitute",
    "特困供养对象": "destitute",
    "农村特困供养人员": "destitute",
    "城市特困人员": "destitute",
    "五保户": "destitute",
    "事实无人抚养": "unsupported_child",
    "低保": "dibao",
    "低保户": "dibao",
    "低保人员": "dibao",
    "低保对象（含低保户成员）": "dibao",
    "城乡低保对象": "dibao",
    "农村低保": "dibao",
    "农村低保对象": "dibao",
    "城市低保": "dibao",
    "城市低保对象": "dibao",
    "最低生活保障对象": "dibao",
    "低保边缘": "near_dibao",
    "低保边缘户": "near_dibao",
    "低保边缘家庭": "near_dibao",
    "低边": "near_dibao",
    "返贫致贫": "relapsed_poor",
    "返贫人口": "relapsed_poor",
    "致贫人口": "relapsed_poor",
    "监测对象": "monitored",
    "防止返贫监测对象": "monitored",
    "脱贫不稳定户": "monitored",
    "边缘易致贫户": "monitored",
    "突发严重困难户": "monitored",
    "计划生育特殊家庭": "family_planning",
    "计划生育特殊家庭成员": "family_planning",
    "计生特殊家庭": "family_planning",
    "计生代缴": "family_planning",
    "重点优抚": "key_entitled",
    "优抚对象": "key_entitled",
    "重度残疾": "severe_disability",
    "一二级残疾人": "severe_disability",
    "重度残疾人（一、二级）": "severe_disability",
    "独女户": "daughter_household",
    "双女户": "daughter_household",
    "农村独女户": "daughter_household",
    "农村双女户": "daughter_household",
    "独男户": "son_household",
}

# 004 二(三): 女儿（至18周岁）及父母 of a daughter household, 儿子 and 父母 of a son household.  The holder of the
# household certificate (持证人) is a parent.  The glossary's labels (HOUSEHOLD_ROLE_LABELS) and the
# identifiers are accepted too.
HOUSEHOLD_ROLE_SYNONYMS: dict[str, str] = {
    "父亲": "parent",
    "母亲": "parent",
    "父母亲": "parent",
    "持证人": "parent",
    "女儿": "child",
    "儿子": "child",
    "长女": "child",
    "次女": "child",
}

RESIDENCY_SYNONYMS: dict[str, str] = {
    "本地户籍": "local_hukou",
    "户籍居民": "local_hukou",
    "本地户籍居民": "local_hukou",
    "城乡居民": "local_hukou",
    "常住": "long_term_resident",
    "常住人口": "long_term_resident",
    "长期居住": "long_term_resident",
    "非本地户籍": "long_term_resident",
    "流动人员": "long_term_resident",
    "学生": "student",
    "在校学生": "student",
    "在园幼儿": "student",
    "留学生": "foreign_student",
    "港澳台居民": "hmt_resident",
}

DEPARTMENT_SYNONYMS: dict[str, str] = {
    "民政": "civil_affairs",
    "民政局": "civil_affairs",
    "乡村振兴": "rural_revitalization",
    "乡村振兴局": "rural_revitalization",
    "农业农村": "rural_revitalization",
    "农业农村局": "rural_revitalization",
    "卫健": "health_commission",
    "卫健委": "health_commission",
    "卫生健康委": "health_commission",
    "卫生健康委员会": "health_commission",
    "退役军人": "veterans_affairs",
    "退役军人事务局": "veterans_affairs",
    "残联": "disabled_federation",
    "残疾人联合会": "disabled_federation",
}

OUTCOME_LABELS: dict[str, str] = {"accepted": "接收", "rejected": "退回", "duplicate": "重复"}
TIMING_LABELS: dict[str, str] = {"upfront": "缴费时直接抵扣", "refund_after_payment": "先缴后补"}
MAX_LENGTHS: dict[str, int] = {"name": 64, "township": 64, "village": 64, "phone": 20}

_CATEGORY_LOOKUP: dict[str, str] = {
    **{normalized(c): c for c in CATEGORIES},
    **{normalized(label): c for c, label in CATEGORY_LABELS.items()},
    **{normalized(s): c for s, c in CATEGORY_SYNONYMS.items()},
}
_HOUSEHOLD_ROLE_LOOKUP: dict[str, str] = {
    **{normalized(r): r for r in HOUSEHOLD_ROLES},
    **{normalized(label): r for r, label in HOUSEHOLD_ROLE_LABELS.items()},
    **{normalized(s): r for s, r in HOUSEHOLD_ROLE_SYNONYMS.items()},
}
_RESIDENCY_LOOKUP: dict[str, str] = {
    **{normalized(r): r for r in RESIDENCIES},
    **{normalized(label): r for r, label in RESIDENCY_LABELS.items()},
    **{normalized(s): r for s, r in RESIDENCY_SYNONYMS.items()},
}


def resolve_department(department: str) -> str:
    """The department identifier for an identifier, its label (民政局) or a short name (民政)."""
    key = normalized(department)
    for ident, label in DEPARTMENT_LABELS.items():
        if key in (normalized(ident), normalized(label)):
            return ident
    if key in {normalized(s) for s in DEPARTMENT_SYNONYMS}:
        return next(v for s, v in DEPARTMENT_SYNONYMS.items() if normalized(s) == key)
    known = "、".join(f"{i}（{label}）" for i, label in DEPARTMENT_LABELS.items())
    raise InputError("department", f"未知的认定部门“{department}”，可选：{known}")
