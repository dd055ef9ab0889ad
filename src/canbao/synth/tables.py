"""The generator's fixed tables: the county and the notice's totals, names and places to draw from, the departments'
wordings, grades, channels, the faults' kinds and rates, the season's shares."""

from __future__ import annotations

import datetime as dt

import polars as pl

from canbao.rules.columns import INPUT_SCHEMA
from canbao.services.payment_batch import PAYMENT_COLUMNS

LINGBI = "341323"
NOTICE_POPULATION = 1_100_000
"""The targets of the notice (003 二) are scaled by persons / this."""
NOTICE_TARGET = 1_100_000
NOTICE_E_VOUCHER = 171_250
MIN_PERSONS = 500

COUNTY_NAMES: dict[str, str] = {
    "340302": "龙子湖区",
    "340303": "蚌山区",
    "340304": "禹会区",
    "340311": "淮上区",
    "340321": "怀远县",
    "340322": "五河县",
    "340323": "固镇县",
    "341302": "埇桥区",
    "341321": "砀山县",
    "341322": "萧县",
    "341323": "灵璧县",
    "341324": "泗县",
}
"""Names of the division codes in the glossary and the policy files."""

LINGBI_TOWNSHIPS: tuple[str, ...] = (
    "灵城镇", "韦集镇", "黄湾镇", "娄庄镇", "杨疃镇", "尹集镇", "浍沟镇", "尤集镇", "高楼镇", "朝阳镇",
    "渔沟镇", "冯庙镇", "虞姬镇", "大庙镇", "禅堂镇", "大路镇", "下楼镇", "向阳镇", "游集镇", "经济开发区",
)  # fmt: skip

# Birthplaces of persons born outside the county (long-term residents, spouses married in).
BIRTHPLACES: tuple[str, ...] = (
    "341302", "341321", "341322", "341324", "340321", "340322", "340323", "340304",
    "320382", "320324", "320321", "410402", "371324", "340104",
)  # fmt: skip

FAULT_KINDS: tuple[str, ...] = (
    "bad_check_digit",
    "dual_identity",
    "duplicate_row",
    "tax_without_enrollment",
    "enrollment_without_payment",
    "amount_mismatch",
    "enrolled_in_two_counties",
    "dead_on_roster",
)
# Faults per person: count = max(FAULT_MIN, round(persons * rate)).
FAULT_RATES: dict[str, float] = {
    "bad_check_digit": 1 / 20_000,
    "dual_identity": 1 / 10_000,
    "duplicate_row": 1 / 20_000,
    "tax_without_enrollment": 1 / 50_000,
    "enrollment_without_payment": 1 / 50_000,
    "amount_mismatch": 1 / 50_000,
    "enrolled_in_two_counties": 1 / 20_000,
    "dead_on_roster": 1 / 250,
}
FAULT_MIN = 4

NEWBORN_SHARE = 0.012
NOT_ON_ROSTER = 0.028  # of persons born before the season: roster ≈ 96% of all persons
RENEW = 0.97
NEWBORN_PAYS = 0.85
NEWCOMER_PAYS = 0.6
HOUSEHOLD_SIZES = (14, 26, 21, 19, 12, 6, 2)
"""Weights of households of 1, 2, … 7 persons (mean 3.15; newborns join households later)."""
LONG_TERM_HOUSEHOLDS = 0.03

SURNAMES: tuple[tuple[str, int], ...] = tuple(
    (s, w)
    for s, w in zip(
        "王张李刘陈杨孙朱周吴徐胡高马赵黄许郭魏蔡丁于袁邵潘韩宋彭谢曹冯董范沈姚侯武路葛尹石时任苏贾卢薛戚满"
        "夏颜程汪何罗梁郑唐蒋邓田付方白孟秦江陶翟顾闫邱段钱常史杜程姜崔谭汤邢陆邹熊贺毛金殷",
        [max(4, round(400 / (k + 3) ** 0.85)) for k in range(200)],
        strict=False,
    )
)
MALE_CHARS = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林峰建国志海文成东兵亮振德清福贵春永祥生保忠"
    "红金山喜友家子轩然博泽睿诚晨阳天瑞庆启立新士传学道德胜利云长"
)
FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀英华玲桂兰梅琴云萍红燕凤洁莉婷雪倩晶慧颖欣怡悦佳琳雨梦涵可馨诗思月彤萱蕾玉珍翠美巧"
    "春秋爱小荣素爽晓文"
)
PHONE_PREFIXES = (
    "138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "187", "188", "130", "131", "132",
    "155", "156", "185", "186", "133", "153", "180", "181", "189", "177", "199", "191", "182", "183", "157",
)  # fmt: skip
VILLAGE_SUFFIXES = "庄集楼湖圩桥庙店营岗湾沟口园山洼寨台场铺"
VILLAGE_PREFIXES = "前后东西南北大小新老"
VILLAGE_WORDS = (
    "双河", "三山", "龙泉", "凤凰", "红星", "胜利", "团结", "光明", "幸福", "和平", "建新", "永安", "长林",
    "金山", "石龙", "花园", "柳巷", "兴隆", "太平", "新华", "朝阳", "五里", "七里", "九顶", "孤山",
)  # fmt: skip
URBAN_COMMUNITIES = (
    "城东", "城西", "城南", "城北", "东关", "西关", "南关", "北关", "虹桥", "凤山", "钟馗", "磬石", "新华",
    "人民", "和平", "解放", "建设", "文化", "兴华", "育才", "长安", "金桥",
)  # fmt: skip
TOWNSHIP_FIRST = "东西南北新大小高朱刘王杨马张李黄陈双三石河沙龙凤金永安太长白红青柳桃梅古孙唐韩许"
TOWNSHIP_SECOND = "集庄楼湖桥店圩湾沟岗山口铺寺营坝台庙园城"

# Category labels as the departments write them; the first is the glossary's.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "destitute": ("特困人员", "特困供养人员", "特困人员", "农村特困供养人员"),
    "orphan": ("孤儿",),
    "unsupported_child": ("事实无人抚养儿童",),
    "dibao": ("低保对象", "低保户", "农村低保对象", "低保对象"),
    "near_dibao": ("低保边缘家庭成员", "低保边缘户"),
    "relapsed_poor": ("返贫致贫人口",),
    "monitored": ("防止返贫监测对象", "脱贫不稳定户", "边缘易致贫户", "突发严重困难户"),
    "family_planning": ("计生代缴对象", "计划生育特殊家庭成员"),
    "daughter_household": ("农村独女户", "农村双女户"),
    "son_household": ("农村独男户",),
    "key_entitled": ("重点优抚对象", "优抚对象", "重点优抚对象"),
    "severe_disability": ("重度残疾人",),
}
DISABILITY_KINDS = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")

GRADES: dict[int, str] = {
    3: "小班", 4: "中班", 5: "大班", 6: "一年级", 7: "二年级", 8: "三年级", 9: "四年级", 10: "五年级",
    11: "六年级", 12: "七年级", 13: "八年级", 14: "九年级", 15: "高一", 16: "高二", 17: "高三",
}  # fmt: skip
VOCATIONAL_GRADES: dict[int, str] = {15: "中职一年级", 16: "中职二年级", 17: "中职三年级"}
FIRST_GRADES = ("小班", "一年级", "七年级", "高一", "中职一年级")

ONLINE_APPS: tuple[tuple[str, str, int], ...] = (("微信", "WX", 55), ("支付宝", "ZFB", 25), ("皖事通", "WST", 20))
CHANNEL_PREFIX = {"bank_debit": "YH", "collecting_unit": "DS", "school": "XX"}
TAX_CHANNEL_WORDS = {"bank_debit": "银行批扣", "collecting_unit": "乡镇代收", "school": "学校代收"}

# Spring Festival (the migrant extension's rush comes before it).
SPRING_FESTIVAL: dict[int, dt.date] = {
    2020: dt.date(2020, 1, 25), 2021: dt.date(2021, 2, 12), 2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22), 2024: dt.date(2024, 2, 10), 2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
}  # fmt: skip

# The payment events carry the columns apply_payments reads, typed as the engine and the payments type them.
EVENT_COLUMNS: dict[str, pl.DataType] = {
    name: {**INPUT_SCHEMA, **PAYMENT_COLUMNS}[name]
    for name in (
        "id_number", "name", "county", "residency", "categories", "household_role", "employee_insurance_years",
        "employee_insurance_gap_months", "lapsed_years", "situation", "paid_on", "channel", "channel_name",
        "txn_id", "amount_fen", "collecting_unit", "township", "village",
    )
}  # fmt: skip

OWN_FILES = (
    "manifest.json", "population.parquet", "targets.xlsx", "roster_2021.csv", "tax_records.csv",
    "bank_statement.csv", "deaths.csv", "other_county_roster.csv", "e_voucher_activations.csv",
)  # fmt: skip
OWN_DIRS = ("payments", "lists", "schools", "collections", "parts")

TARGET_WITHIN_REACH = (0.5, 80, 86)
"""Negotiated enrollment targets: about half the townships (share, drawn per township) get a target of 80..86%
of their population, within reach by the window's end; the others share the rest of the county's target."""
E_VOUCHER_LEVELS = ((95, 125), (85, 120))
"""Per-township activation rate by the window's end, in percent of the county's e-voucher target share: the
first range for townships whose enrollment target is within reach (they work harder), the second for others."""
E_VOUCHER_LATE = 0.02
"""Share of persons activating in the two months after the window (after the assessment cutoff)."""
E_VOUCHER_CHANNELS: tuple[tuple[str, int], ...] = (
    ("国家医保服务平台", 40), ("微信", 30), ("支付宝", 15), ("皖事通", 10), ("医保经办窗口", 5),
)  # fmt: skip
FIXED_TIMESTAMP = (2021, 10, 8, 0, 0, 0)
