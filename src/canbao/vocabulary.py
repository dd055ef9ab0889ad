"""The closed vocabularies of the glossary (shared/GLOSSARY.md): one identifier per term, everywhere.

Chinese labels are what officials read on screens and in workbooks.
"""

from __future__ import annotations

from typing import Literal, get_args

Residency = Literal[
    "local_hukou",
    "long_term_resident",
    "student",
    "foreign_student",
    "hmt_resident",
    "foreign_expert_family",
    "foreign_employee",
    "struggling_enterprise_employee",
]

Category = Literal[
    "destitute",
    "orphan",
    "unsupported_child",
    "dibao",
    "near_dibao",
    "relapsed_poor",
    "monitored",
    "family_planning",
    "key_entitled",
    "severe_disability",
    "daughter_household",
    "son_household",
]

Situation = Literal[
    "regular",
    "new_student",
    "newborn",
    "migrant_late",
    "from_employee_insurance",
    "lapsed",
    "special_group",
    "discharged_soldier",
    "severe_mental_illness",
    "retired_fisherman",
    "released_prisoner",
]

FiscalLevel = Literal["central", "province", "city", "county"]

# Who pays a category subsidy.  `department_subsidy` is not in the glossary: Lingbi (003 三(二)2(1))
# fully subsidises family-planning and key entitled persons from the certifying department's budget.
SubsidyKind = Literal["medical_assistance", "county_subsidy", "department_subsidy"]
SubsidyTiming = Literal["upfront", "refund_after_payment"]

RefundReason = Literal["death", "duplicate_payment", "joined_employee_insurance", "joined_elsewhere"]

HouseholdRole = Literal["child", "parent"]

# How a payment comes in (GLOSSARY "Channels and payments"); which of them a policy allows is its own value
# (policy `collection.channels`).
Channel = Literal["online", "collecting_unit", "school", "bank_debit"]

# How an enrollment ends before its time (enrollment suspend / terminate), beside the refund reasons.
EndReason = Literal["death", "joined_employee_insurance", "moved_away", "other"]

RESIDENCIES: tuple[str, ...] = get_args(Residency)
CATEGORIES: tuple[str, ...] = get_args(Category)
SITUATIONS: tuple[str, ...] = get_args(Situation)
FISCAL_LEVELS: tuple[str, ...] = get_args(FiscalLevel)
REFUND_REASONS: tuple[str, ...] = get_args(RefundReason)
HOUSEHOLD_ROLES: tuple[str, ...] = get_args(HouseholdRole)
CHANNELS: tuple[str, ...] = get_args(Channel)
END_REASONS: tuple[str, ...] = get_args(EndReason)

CHANNEL_LABELS: dict[str, str] = {
    "online": "线上自助缴费",
    "collecting_unit": "代收单位",
    "school": "学校",
    "bank_debit": "银行批扣",
}

END_REASON_LABELS: dict[str, str] = {
    "death": "死亡",
    "joined_employee_insurance": "参加职工医保",
    "moved_away": "迁出本地",
    "other": "其他",
}

LEDGER_KIND_LABELS: dict[str, str] = {  # ledger_entries.kind as officials read it
    "payment": "缴费",
    "assistance_subsidy": "医疗救助资助",
    "refund": "退费",
    "county_subsidy_refund": "县财政补贴退补",
}

ENROLLMENT_STATUS_LABELS: dict[str, str] = {
    "active": "有效",
    "suspended": "暂停",
    "terminated": "终止",
    "refunded": "已退费",
}

RESIDENCY_LABELS: dict[str, str] = {
    "local_hukou": "本地户籍城乡居民",
    "long_term_resident": "本地长期居住或流动就业人员",
    "student": "在校学生、在园幼儿",
    "foreign_student": "外国留学生",
    "hmt_resident": "持居住证的未就业港澳台居民",
    "foreign_expert_family": "外籍专家随行配偶及未成年子女",
    "foreign_employee": "外籍就业人员及其家属",
    "struggling_enterprise_employee": "暂停职工医保关系的困难企业职工及退休人员",
}

CATEGORY_LABELS: dict[str, str] = {
    "destitute": "特困人员",
    "orphan": "孤儿",
    "unsupported_child": "事实无人抚养儿童",
    "dibao": "低保对象",
    "near_dibao": "低保边缘家庭成员",
    "relapsed_poor": "返贫致贫人口",
    "monitored": "监测人口",
    "family_planning": "计生代缴对象",
    "key_entitled": "重点优抚对象",
    "severe_disability": "重度残疾人",
    "daughter_household": "农村独女户、双女户",
    "son_household": "农村独男户",
}

SITUATION_LABELS: dict[str, str] = {
    "regular": "集中参保期内参保",
    "new_student": "新入学学生",
    "newborn": "新生儿参保",
    "migrant_late": "外出务工人员春节返乡补缴",
    "from_employee_insurance": "职工医保中断后转居民医保",
    "lapsed": "漏保、断保人员补办参保",
    "special_group": "特殊群体补办参保",
    "discharged_soldier": "当年退役军人及随军未就业配偶",
    "severe_mental_illness": "严重精神障碍患者",
    "retired_fisherman": "退捕渔民",
    "released_prisoner": "刑满释放人员",
}

SUBSIDY_KIND_LABELS: dict[str, str] = {
    "medical_assistance": "医疗救助资助",
    "county_subsidy": "县财政补贴（先缴后补）",
    "department_subsidy": "部门资助",
}

# 004 二(三): on a daughter/son household list the subsidy covers the parents (父母) at any age and the
# daughter or son (女儿、儿子: the child) until the age the policy names.
HOUSEHOLD_ROLE_LABELS: dict[str, str] = {
    "parent": "父母",
    "child": "子女",
}

REFUND_REASON_LABELS: dict[str, str] = {
    "death": "死亡",
    "duplicate_payment": "重复缴费",
    "joined_employee_insurance": "参加职工医保",
    "joined_elsewhere": "参加其他地区居民医保",
}

# Certifying departments (GLOSSARY "certified by") and the identity categories each may certify.
Department = Literal[
    "civil_affairs", "rural_revitalization", "health_commission", "veterans_affairs", "disabled_federation"
]
DEPARTMENT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "civil_affairs": ("destitute", "orphan", "unsupported_child", "dibao", "near_dibao"),
    "rural_revitalization": ("relapsed_poor", "monitored"),
    "health_commission": ("family_planning", "daughter_household", "son_household"),
    "veterans_affairs": ("key_entitled",),
    "disabled_federation": ("severe_disability",),
}
DEPARTMENT_LABELS: dict[str, str] = {
    "civil_affairs": "民政局",
    "rural_revitalization": "乡村振兴局（农业农村局）",
    "health_commission": "卫生健康委",
    "veterans_affairs": "退役军人事务局",
    "disabled_federation": "残联",
}

# Staff roles of the portal (issue 14) and the area each is scoped to (canbao.services.access).
Role = Literal["county_admin", "tax", "township", "village", "school", "department"]
ROLE_LABELS: dict[str, str] = {
    "county_admin": "县医保局",
    "tax": "县税务局",
    "township": "乡镇（街道）",
    "village": "村（社区）",
    "school": "学校",
    "department": "认定部门",
}
