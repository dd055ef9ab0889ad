"""A reproducible synthetic county for one enrollment campaign: ``canbao synth`` (issue 5).

:func:`build_county` writes, for a county code, a number of persons and a seed, everything a county's
campaign deals with: the places and their targets (任务分解), the certifying departments' identity lists,
last year's roster, the schools' rosters, a season of payment events, the tax bureau's and the bank's
records, the police's deaths, and a neighbouring county's roster, with faults injected on purpose and
recorded in ``manifest.json``.

The same arguments give byte-identical files (same Polars version: see *Randomness*).  Everything about
persons is vectorized Polars; Python loops only over places, schools, departments, days and the few fault
rows.  1,100,000 persons take about half a minute on two cores.

Policies
--------

The benefit year's policy is the one covering the county with the latest benefit year (the most specific
region on a tie): 灵璧县 341323 → ``anhui/suzhou/lingbi/2022``.  Last year's is the one covering the county
for the year before (→ ``anhui/suzhou/2021``); it prices the roster's 缴费金额.  Both can be given.  The
dates of the season (collection window, migrant extension, benefit period) come from the policy, and only
the situations and identity categories the policy can quote are generated (a category the policy leaves
"not covered" is not certified; its department's list then has the header only).

Layout of DIR
-------------

A county above ``part_size`` persons (``PART_SIZE``, 1,100,000: a city) is written in parts: DIR holds
``manifest.json`` (the county's, with ``parts`` [{path, persons}], the parts' counts added up and their
faults with paths from DIR, e.g. ``parts/03/lists/civil_affairs.csv``) and ``targets.xlsx``; each
``parts/NN/`` holds everything else below, with a manifest of its own (``part``: NN).  The parts share the
places and one sequence of ID numbers and transaction serials; each draws its own persons.

CSV files are UTF-8 with a BOM (as Excel users save them), comma-separated, one header row; a *row number*
is the spreadsheet row: the header is row 1, the first person row 2.  Amounts in CSV files are yuan with two
decimals, dates YYYY-MM-DD unless said otherwise.

``manifest.json``
    See *Manifest*.
``targets.xlsx``
    任务分解表, two sheets, ``参保任务`` (enrollment) and ``电子凭证任务`` (e-voucher activation), each with
    one row per village: 乡镇, 乡镇代码 (9 digits), 村, 村代码 (12 digits), 任务数.  The county totals are the
    notice's (003 二: 1,100,000 enrollees, 171,250 activations) scaled by persons / 1,100,000 and
    apportioned by population (largest remainders), so the rows sum exactly to the totals.  Enrollment
    targets are negotiated, not strictly proportional (``TARGET_WITHIN_REACH``): about half the townships get
    80..86% of their population, within reach by the window's end, the others share the rest; so some
    townships can complete their enrollment target and others cannot.
``e_voucher_activations.csv``
    医保电子凭证激活记录: 姓名, 身份证号码, 激活日期, 激活渠道 (国家医保服务平台, 微信, 支付宝, 皖事通,
    医保经办窗口), by date.  Alive persons born before the window whom the registry knows (on last year's
    roster, or paying this season), at most once each.  Each township has its own rate of activations dated
    within the collection window, 0.85..1.25 times the county's e-voucher target share (``E_VOUCHER_LEVELS``;
    higher where the enrollment target is within reach); a further ~2% of persons activate in the two
    months after it (work after the cutoff, 003 四(一)).  So some townships complete both targets by the
    window's end and some do not.
``collections/<代收单位>.csv``
    One file per collecting unit (a township, or a school) that collected payments: the payment events of
    channel ``collecting_unit`` or ``school`` it collected, in payment order: 代收单位, 姓名, 身份证号码,
    缴费金额(元), 缴费日期, 交易流水号 (the event's txn_id).  No faults are injected here: every row is an event.
``roster_2021.csv``
    Last year's enrollees (上年度参保名册), about 96% of persons, by village and household: 身份证号码, 姓名,
    乡镇, 村, 居民类型 (glossary identifier, e.g. ``local_hukou``), 联系电话, 缴费金额 (what last year's
    policy says was due; empty where it cannot say, e.g. identity categories the 2021 notice leaves to
    another document).  The file name keeps ``2021`` for every county: it is last year's roster.
``lists/<department>.csv``
    One file per certifying department (``DEPARTMENT_CATEGORIES``), each in that department's own layout;
    category values as officials write them (the glossary's Chinese label or a common synonym):

    - ``civil_affairs.csv`` 民政局: 序号, 姓名, 公民身份号码, 人员类别 (特困人员, 特困供养人员, 孤儿,
      事实无人抚养儿童, 低保对象, 低保户, 农村低保对象, 低保边缘家庭成员, 低保边缘户), 乡镇（街道）, 村（社区）,
      认定日期 (YYYY-MM-DD).
    - ``rural_revitalization.csv`` 乡村振兴局: 序号, 户主姓名, 姓名, 身份证号码, 人员类别 (返贫致贫人口,
      防止返贫监测对象, 脱贫不稳定户, 边缘易致贫户, 突发严重困难户), 乡镇, 村, 纳入监测时间 (YYYY/MM/DD).
    - ``health_commission.csv`` 卫健委: 姓名, 身份证号, 类别 (计生代缴对象, 计划生育特殊家庭成员, 农村独女户,
      农村双女户, 农村独男户), 家庭角色 (父母 / 子女), 乡镇.
    - ``veterans_affairs.csv`` 退役军人事务局: 姓名, 身份证号码, 优抚类别 (重点优抚对象, 优抚对象), 乡镇.
    - ``disabled_federation.csv`` 残联: 姓名, 身份证号码, 残疾类别 (视力, 听力, 言语, 肢体, 智力, 精神, 多重),
      残疾等级 (一级 / 二级), 残疾人证号 (the ID number followed by the category and level digits), 乡镇.  The
      whole list is 重度残疾人 (``severe_disability``): the layout has no category column.

    Shares of persons: destitute ~1%, dibao ~4%, monitored ~2%, relapsed_poor ~0.5%, near_dibao ~1%,
    key_entitled ~0.3%, family_planning ~1%, severe_disability ~1.5% (plus a few orphans, unsupported
    children and daughter/son households).  Lists are certified for local households only, and apart from
    the injected dual identities a person is on one list at most.  Persons newly certified after the window
    (动态新增) carry that later date and enroll as ``special_group``.
``schools/<school>.csv``
    One file per school (kindergartens, primary and junior schools per township, the county's senior and
    vocational schools): 姓名, 身份证号码, 学校, 年级, 班级.  Every person of residency ``student``.
``payments/<YYYY-MM-DD>.parquet``
    The season's payment events, one file per payment day (``paid_on`` is also a column), in the columns
    :func:`canbao.services.payment_batch.apply_payments` reads: id_number, name, county, residency,
    categories (list[str], the person's glossary categories), household_role, employee_insurance_years,
    employee_insurance_gap_months, lapsed_years, situation, paid_on, channel, channel_name, txn_id (unique,
    e.g. ``WX20211203xxxxxxxx``), amount_fen (what ``quote_frame`` says is due), collecting_unit, township,
    village.  Channels: ``online`` (channel_name 微信 / 支付宝 / 皖事通, ~80%), ``collecting_unit`` (persons on
    a list; collecting_unit is the township), ``school`` (students; collecting_unit is the school),
    ``bank_debit`` (a few %; channel_name is the bank, on the banks' batch days).  Dates: a slow start at the
    window's opening, a rush before its end; ``migrant_late`` in the migrant extension peaking before the
    Spring Festival; ``newborn`` through the year; ``from_employee_insurance``, ``special_group`` and
    ``discharged_soldier`` after the window.  About 97% of last year's roster renews, plus newborns and new
    enrollees; the rest do not renew.
``tax_records.csv``
    The tax bureau's collection records (税务征收明细), one line per payment event: 缴费人姓名, 证件号码,
    缴费金额(元), 缴费日期, 交易流水号, 渠道 (微信, 支付宝, 皖事通, 银行批扣, 乡镇代收, 学校代收).  Fully
    subsidized persons appear with 0.00.
``bank_statement.csv``
    The pending-settlement account's statement (待报解账户流水), one line per payment that moved money
    (0.00 payments move none and are absent): 交易日期, 交易流水号, 金额(元), 摘要.
``deaths.csv``
    The police's deaths (公安死亡人员名单): 姓名, 身份证号码, 死亡日期.  Most are on last year's roster.
``other_county_roster.csv``
    A neighbouring county's enrollments for the same benefit year (灵璧县 → 泗县): 身份证号码, 姓名, 县（区）,
    乡镇, 村, 居民类型, 缴费日期, 缴费金额; its own persons plus the injected double enrollments.
``population.parquet``
    The generator's truth, not a file any office sends (for tests and for checking a reconciliation): every
    person with id_number, name, sex, birth_date, household_id, household_relation (户主, 配偶, 子女, 父母,
    新生儿), residency, categories, household_role, township, township_code, village, village_code, phone,
    school, grade, on_roster_2021, enrolled (has a payment event), died_on; by village and household.

Faults
------

Injected on purpose, at least four of each kind, more with N; each person carries one fault at most:

- ``bad_check_digit``: a department list gives a person's ID number with a wrong check character.
- ``dual_identity``: a person on two departments' lists (低保 and 监测); their events carry both categories.
- ``duplicate_row``: a list row given twice (the second copy right after the first, with its own 序号).
- ``tax_without_enrollment``: a tax record (and its bank line) with no payment event.
- ``enrollment_without_payment``: a payment event absent from the tax records and the bank statement.
- ``amount_mismatch``: the bank's amount differs from the tax record's (which agrees with the event).
- ``enrolled_in_two_counties``: a person paying here is also on ``other_county_roster.csv``.
- ``dead_on_roster``: a person on ``deaths.csv`` and on last year's roster who either pays after the death
  (``status`` ``paid``, mostly bank debits that kept running) or does not renew and is due (``due``).

Manifest
--------

``manifest.json`` (UTF-8 JSON, no timestamps, so it is reproducible too):

- ``generator`` ("canbao synth"), ``format`` (1), ``seed``, ``persons``, ``county`` {code, name},
  ``policy``, ``last_policy`` (null when none), ``benefit_year``;
- ``season``: ``window`` [start, end], ``migrant_extension_end``, ``benefit_period`` [start, end];
- ``targets``: {enrollment, e_voucher}, the totals of ``targets.xlsx``;
- ``counts``: households, townships, villages, schools, newborns, students, deaths, roster, payments,
  renewed, not_renewed, new_enrollees, payments_by_situation, payments_by_channel, list_rows_by_category,
  ``unquotable`` {rows, by_reason}: events dropped because the policy could not quote them (0 for 341323);
- ``schools``: [{name, township, level}];
- ``files``: [{path, rows, sha256}] for every file but the manifest (``targets.xlsx``: ``sheets`` with
  rows per sheet instead of ``rows``);
- ``faults``: kind → list of entries, each with ``id_number`` (the true number), ``name`` and ``rows``:
  the places the fault is seen, ``{"file", "row"}`` for CSV files (spreadsheet row numbers) and
  ``{"file", "index"}`` for Parquet files (0-based row index), plus the kind's details: ``bad_id_number``
  (bad_check_digit), ``categories`` (dual_identity), ``txn_id`` and ``amount_fen``
  (tax_without_enrollment, enrollment_without_payment), ``tax_amount_fen`` and ``bank_amount_fen``
  (amount_mismatch), ``other_county`` {code, name} and ``txn_id`` (enrolled_in_two_counties), ``died_on``,
  ``status`` and, when paid, ``txn_id`` (dead_on_roster).

Randomness
----------

Every random value is a SplitMix64 hash of a row key (person, household, day …), the seed and a named
stream, computed with wrapping UInt64 arithmetic in Polars expressions; small choices (place names) use
``random.Random`` seeded by text.  Nothing depends on the clock, the thread count or hash randomization.
Parquet bytes depend on the Polars version writing them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import random
import re
import shutil
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import polars as pl

from canbao.errors import InputError
from canbao.ids import CHECK_CHARACTERS, check_digits
from canbao.money import to_fen, to_yuan, yuan_text
from canbao.outputs import atomic_output
from canbao.policy import Policy, list_policies, load_policy
from canbao.rules.columns import INPUT_SCHEMA
from canbao.rules.engine import quote_frame
from canbao.services.payment_batch import PAYMENT_COLUMNS
from canbao.vocabulary import CATEGORIES, DEPARTMENT_CATEGORIES, HOUSEHOLD_ROLE_LABELS

__all__ = [
    "COUNTY_NAMES",
    "FAULT_KINDS",
    "LINGBI",
    "Manifest",
    "build_county",
    "choose_policies",
]

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

# ---------------------------------------------------------------------------------------------- randomness

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _splitmix64(x: int) -> int:
    z = (x + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


class _Rng:
    """Named streams of reproducible pseudo-random values keyed by a row's integer key."""

    def __init__(self, seed: int, part: int | None = None) -> None:
        self.seed = seed
        self._base = _splitmix64(seed & _M64)
        if part is not None:
            # A part of a county written in parts draws its own persons; small choices (python()) stay shared.
            self._base = _splitmix64(self._base ^ _splitmix64(part + 1))

    def offset(self, stream: str) -> int:
        return _splitmix64(self._base ^ zlib.crc32(stream.encode()))

    def bits(self, key: pl.Expr, stream: str) -> pl.Expr:
        """A 64-bit hash (SplitMix64 finalizer, wrapping arithmetic) of the key in this stream."""
        z = key.cast(pl.Int64).reinterpret(signed=False) * _u64(_GOLDEN) + _u64(self.offset(stream))
        z = z.xor(z // _u64(1 << 30)) * _u64(_MIX1)
        z = z.xor(z // _u64(1 << 27)) * _u64(_MIX2)
        return z.xor(z // _u64(1 << 31))

    def below(self, key: pl.Expr, stream: str, n: int | pl.Expr) -> pl.Expr:
        """An integer in [0, n)."""
        divisor = _u64(n) if isinstance(n, int) else n.cast(pl.UInt64)
        return (self.bits(key, stream) % divisor).cast(pl.Int64)

    def unit(self, key: pl.Expr, stream: str) -> pl.Expr:
        """A float in [0, 1)."""
        return (self.bits(key, stream) // _u64(1 << 11)).cast(pl.Float64) / float(1 << 53)

    def weighted(self, key: pl.Expr, stream: str, weights: Sequence[int]) -> pl.Expr:
        """An index into `weights`, drawn in proportion to them."""
        cumulative = list(accumulate(weights))
        u = self.below(key, stream, cumulative[-1])
        return pl.lit(pl.Series(cumulative, dtype=pl.Int64)).search_sorted(u, side="right").cast(pl.Int64)

    def pick(self, key: pl.Expr, stream: str, values: Sequence[str], weights: Sequence[int] | None = None) -> pl.Expr:
        index = self.weighted(key, stream, weights) if weights else self.below(key, stream, len(values))
        return pl.lit(pl.Series(list(values), dtype=pl.String)).gather(index)

    def python(self, stream: str) -> random.Random:
        return random.Random(f"{self.seed}/{stream}")


def _lookup(values: Sequence[Any], index: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return pl.lit(pl.Series(list(values), dtype=dtype)).gather(index)


# ------------------------------------------------------------------------------------------------- places


@dataclass(frozen=True)
class Township:
    name: str
    code: str
    weight: int


@dataclass(frozen=True)
class Village:
    township_index: int
    township: str
    township_code: str
    name: str
    code: str
    weight: int


@dataclass(frozen=True)
class School:
    name: str
    township: str
    level: str  # kindergarten, primary, junior, senior, vocational


@dataclass(frozen=True)
class Geography:
    county: str
    county_name: str
    townships: list[Township]
    villages: list[Village]
    schools: list[School]


def _stem(name: str) -> str:
    for suffix in ("街道", "镇", "乡", "县", "区", "市"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _county_name(county: str) -> str:
    if county in COUNTY_NAMES:
        return COUNTY_NAMES[county]
    for policy_id in list_policies():
        counties = load_policy(policy_id).region.counties
        if county in counties:
            return counties[county]
    r = random.Random(f"county-name/{county}")
    return r.choice(TOWNSHIP_FIRST) + r.choice("阳安平宁城山河丰远泉") + "县"


def _township_names(county: str, county_name: str, r: random.Random) -> list[str]:
    if county == LINGBI:
        return list(LINGBI_TOWNSHIPS)
    names = ["城关镇"]
    while len(names) < 19:
        name = r.choice(TOWNSHIP_FIRST) + r.choice(TOWNSHIP_SECOND) + ("镇" if r.random() < 0.8 else "乡")
        if name not in names and _stem(name) != _stem(county_name):
            names.append(name)
    return [*names, "经济开发区"]


def _village_names(township: str, seat: bool, r: random.Random) -> tuple[list[str], list[str]]:
    """(communities, villages) of a township, unique within it."""
    stem = _stem(township)
    n_communities = 6 if seat else 3 if township == "经济开发区" else r.randint(1, 2)
    n_villages = 8 if seat else 4 if township == "经济开发区" else r.randint(10, 18)
    communities = [] if seat or township == "经济开发区" else [f"{stem}社区"]
    pool = list(URBAN_COMMUNITIES)
    r.shuffle(pool)
    for word in pool:
        if len(communities) >= n_communities:
            break
        communities.append(f"{word}社区")
    villages: list[str] = []
    surnames = [s for s, _ in SURNAMES[:60]]
    while len(villages) < n_villages:
        draw = r.random()
        if draw < 0.6:
            stem_ = r.choice(surnames) + r.choice(VILLAGE_SUFFIXES)
        elif draw < 0.8:
            stem_ = r.choice(VILLAGE_PREFIXES) + r.choice(surnames) + r.choice(VILLAGE_SUFFIXES)
        else:
            stem_ = r.choice(VILLAGE_WORDS)
        name = f"{stem_}村"
        if name not in villages and f"{stem_}社区" not in communities:
            villages.append(name)
    return communities, villages


def _geography(county: str, rng: _Rng) -> Geography:
    county_name = _county_name(county)
    r = rng.python("geography")
    townships: list[Township] = []
    villages: list[Village] = []
    names = _township_names(county, county_name, r)
    for t, name in enumerate(names):
        seat = t == 0
        code = county + ("400" if name == "经济开发区" else f"{100 + t:03d}")
        weight = 260 if seat else 45 if name == "经济开发区" else r.randint(70, 130)
        townships.append(Township(name, code, weight))
        communities, plain = _village_names(name, seat, r)
        local = [
            (c, f"{1 + k:03d}", r.randint(30, 60) if seat else r.randint(12, 22)) for k, c in enumerate(communities)
        ]
        local += [(v, f"{200 + k:03d}", r.randint(6, 14)) for k, v in enumerate(plain)]
        total = sum(w for _, _, w in local)
        for v_name, suffix, w in local:
            villages.append(Village(t, name, code, v_name, code + suffix, max(1, weight * w * 1000 // total)))
    county_stem = _stem(county_name)
    schools: list[School] = []
    for township in townships:
        stem = f"{county_stem}经济开发区" if township.name == "经济开发区" else _stem(township.name)
        schools += [
            School(f"{stem}中心幼儿园", township.name, "kindergarten"),
            School(f"{stem}中心小学", township.name, "primary"),
            School(f"{stem}初级中学", township.name, "junior"),
        ]
    seat_name = townships[0].name
    schools += [
        School(f"{county_stem}中学", seat_name, "senior"),
        School(f"{county_name}第一中学", seat_name, "senior"),
        School(f"{county_name}第二中学", seat_name, "senior"),
        School(f"{county_name}职业教育中心", seat_name, "vocational"),
    ]
    return Geography(county, county_name, townships, villages, schools)


# ----------------------------------------------------------------------------------------------- policies


def choose_policies(county: str) -> tuple[str, str | None]:
    """(the benefit year's policy, last year's policy or None) covering the county."""
    covering: list[tuple[int, int, str]] = []
    for policy_id in list_policies():
        policy = load_policy(policy_id)
        if county in policy.region.counties:
            covering.append((policy.benefit_year, policy_id.count("/"), policy_id))
    if not covering:
        raise InputError("--county", f"没有覆盖县区代码 {county} 的政策文件，无法生成缴费金额（可用 --policy 指定）")
    year, _, current = max(covering)
    previous = [c for c in covering if c[0] == year - 1]
    return current, (max(previous)[2] if previous else None)


def _quotable_categories(policy: Policy) -> list[str]:
    """Categories a quote under this policy answers (a 'not covered' category would refuse the row)."""
    out = []
    for category in CATEGORIES:
        rule = policy.categories.get(category)  # type: ignore[call-overload]
        if rule is not None:
            if rule.not_covered is None:
                out.append(category)
        elif policy.unlisted_categories.treatment == "no_subsidy":
            out.append(category)
    return out


# ------------------------------------------------------------------------------------------------ persons


def _age_weights() -> list[int]:
    """Ages 25..90 of household heads."""
    bands = [(25, 34, 6), (35, 44, 10), (45, 54, 14), (55, 64, 14), (65, 74, 10), (75, 84, 5), (85, 90, 1)]
    return [w for lo, hi, w in bands for _ in range(lo, hi + 1)]


def _names(rng: _Rng, person: pl.Expr, household: pl.Expr, male: pl.Expr, own_surname: pl.Expr) -> pl.Expr:
    surnames = [s for s, _ in SURNAMES]
    weights = [w for _, w in SURNAMES]
    surname = (
        pl.when(own_surname)
        .then(rng.pick(person, "own_surname", surnames, weights))
        .otherwise(rng.pick(household, "surname", surnames, weights))
    )
    male_chars, female_chars = list(MALE_CHARS), list(FEMALE_CHARS)
    first = (
        pl.when(male).then(rng.pick(person, "given1m", male_chars)).otherwise(rng.pick(person, "given1f", female_chars))
    )
    second = (
        pl.when(male).then(rng.pick(person, "given2m", male_chars)).otherwise(rng.pick(person, "given2f", female_chars))
    )
    two = rng.unit(person, "given_length") < 0.72
    return pl.concat_str([surname, first, pl.when(two).then(second).otherwise(pl.lit(""))])


def _phone(rng: _Rng, key: pl.Expr, stream: str) -> pl.Expr:
    digits = rng.below(key, stream + "_digits", 100_000_000).cast(pl.String).str.zfill(8)
    return pl.concat_str([rng.pick(key, stream, PHONE_PREFIXES), digits])


ID_GROUP = ["division", "birth", "male"]


def _id_numbers(rng: _Rng, frame: pl.DataFrame, given: pl.DataFrame | None = None) -> tuple[pl.Series, pl.DataFrame]:
    """Unique ID numbers from `division`, `birth` and `male`: the sequence code counts up within each
    (division, birth date, sex) from a random start, its last digit odd for men.  `given` counts the codes
    already given per group (earlier parts of the same county); returns the numbers and the updated counts."""
    group_key = pl.col("birth").cast(pl.Int64) * 1_000_003 + pl.col("division").cast(pl.Int64)
    keyed = frame.select(ID_GROUP)
    if given is not None and given.height:
        keyed = keyed.join(given, on=ID_GROUP, how="left", maintain_order="left")
    else:
        keyed = keyed.with_columns(given=pl.lit(0, dtype=pl.Int64))
    rank = pl.int_range(pl.len(), dtype=pl.Int64).over(ID_GROUP) + pl.col("given").fill_null(0)
    keyed = keyed.with_columns(rank=rank)
    if keyed.height and int(keyed["rank"].max()) >= 500:  # type: ignore[arg-type]
        raise RuntimeError("synthetic ID numbers collide: more than 500 persons of one sex share a birth date")
    sequence = ((rng.below(group_key, "sequence", 500) + pl.col("rank")) % 500) * 2 + pl.col("male").cast(pl.Int64)
    first17 = pl.concat_str(
        [pl.col("division"), pl.col("birth").dt.to_string("%Y%m%d"), sequence.cast(pl.String).str.zfill(3)]
    )
    ids = keyed.select(first17.alias("first17")).select(
        pl.concat_str([pl.col("first17"), check_digits(pl.col("first17"))]).alias("id_number")
    )["id_number"]
    counts = keyed.group_by(ID_GROUP).agg(given=(pl.col("rank").max() + 1).cast(pl.Int64))
    if given is not None and given.height:
        counts = pl.concat([given, counts]).group_by(ID_GROUP).agg(pl.col("given").max())
    return ids, counts


@dataclass
class _IdSequences:
    """The sequence codes given so far per (division, birth date, sex): a county written in parts draws each
    part's persons from its own stream, and this keeps their ID numbers unique across the parts."""

    rng: _Rng
    given: pl.DataFrame | None = None

    def numbers(self, frame: pl.DataFrame) -> pl.Series:
        ids, self.given = _id_numbers(self.rng, frame, self.given)
        return ids


def _persons(n: int, geo: Geography, policy: Policy, rng: _Rng, ids: _IdSequences) -> pl.DataFrame:
    """One row per person: household, age, sex, birth, ID number, name, place, residency, category, school."""
    reference = policy.collection_window.start - dt.timedelta(days=1)
    if reference.month == 2 and reference.day == 29:
        reference -= dt.timedelta(days=1)
    newborns = max(1, round(n * NEWBORN_SHARE))
    existing = n - newborns
    i = pl.col("i")
    # Households are consecutive persons; sizes are drawn, the last household is cut to fit.
    count = existing // 3 + 16
    while True:
        sizes = pl.DataFrame({"hh": pl.int_range(count, eager=True, dtype=pl.Int64)}).select(
            (rng.weighted(pl.col("hh"), "household_size", HOUSEHOLD_SIZES) + 1).cum_sum().alias("end")
        )["end"]
        if sizes[-1] >= existing:
            break
        count *= 2
    households = int(sizes.search_sorted(existing - 1, side="right")) + 1
    ends = pl.lit(sizes)
    frame = pl.DataFrame({"i": pl.int_range(n, eager=True, dtype=pl.Int64)}).with_columns(
        newborn=i >= existing,
        hh=pl.when(i >= existing)
        .then(rng.below(i, "newborn_household", households))
        .otherwise(ends.search_sorted(i, side="right").cast(pl.Int64)),
    )
    start = pl.when(pl.col("hh") == 0).then(0).otherwise(ends.gather((pl.col("hh") - 1).clip(lower_bound=0)))
    frame = frame.with_columns(
        rank=pl.when(pl.col("newborn")).then(pl.lit(99, dtype=pl.Int64)).otherwise(i - start),
    ).with_columns(head=pl.col("rank") == 0)
    hh = pl.col("hh")
    rank = pl.col("rank")
    village_weights = [v.weight for v in geo.villages]
    frame = frame.with_columns(
        head_age=rng.weighted(hh, "head_age", _age_weights()) + 25,
        head_male=rng.unit(hh, "head_sex") < 0.85,
        long_term=rng.unit(hh, "long_term") < LONG_TERM_HOUSEHOLDS,
        village_index=rng.weighted(hh, "village", village_weights),
        household_draw=rng.unit(hh, "household_category"),
    )
    head_age = pl.col("head_age")
    elder = (rank >= 2) & ~pl.col("newborn") & (rng.unit(i, "elder") < 0.18) & (head_age <= 62)
    child_span = (head_age - 19).clip(1, 20)
    age = (
        pl.when(pl.col("newborn"))
        .then(pl.lit(0, dtype=pl.Int64))
        .when(rank == 0)
        .then(head_age)
        .when(rank == 1)
        .then((head_age + rng.below(i, "spouse_gap", 9) - 4).clip(20, 99))
        .when(elder)
        .then((head_age + 22 + rng.below(i, "elder_gap", 12)).clip(upper_bound=99))
        .otherwise((head_age - 20 - rng.below(i, "child_age", child_span)).clip(lower_bound=0))
    )
    male = (
        pl.when(rank == 0)
        .then(pl.col("head_male"))
        .when(rank == 1)
        .then(~pl.col("head_male"))
        .otherwise(rng.unit(i, "sex") < 0.515)
    )
    newborn_first = reference + dt.timedelta(days=1)
    newborn_span = max(1, (policy.benefit_period.end - dt.timedelta(days=30) - newborn_first).days)
    birth = (
        pl.when(pl.col("newborn"))
        .then(pl.lit(newborn_first) + pl.duration(days=rng.below(i, "newborn_birth", newborn_span)))
        .otherwise(
            pl.date(pl.lit(reference.year) - pl.col("age"), reference.month, reference.day)
            - pl.duration(days=rng.below(i, "day_of_year", 365))
        )
    )
    frame = frame.with_columns(age=age, male=male, elder=elder).with_columns(birth=birth)
    married_in = (rank == 1) & ~pl.col("male") & (rng.unit(i, "married_in") < 0.10)
    frame = frame.with_columns(
        division=pl.when(pl.col("long_term"))
        .then(rng.pick(hh, "household_birthplace", BIRTHPLACES))
        .when(married_in)
        .then(rng.pick(i, "birthplace", BIRTHPLACES))
        .otherwise(pl.lit(geo.county)),
    )
    frame = frame.with_columns(id_number=ids.numbers(frame))
    age_ = pl.col("age")
    is_male = pl.col("male")
    own_surname = ~is_male & ((rank <= 1) | pl.col("elder"))
    student_share = pl.when(age_ <= 5).then(0.35).otherwise(0.6)
    student = ~pl.col("newborn") & age_.is_between(3, 17) & (rng.unit(i, "student") < student_share)
    frame = frame.with_columns(
        name=_names(rng, i, hh, is_male, own_surname),
        phone=pl.when(age_.is_between(18, 74)).then(_phone(rng, i, "phone")).otherwise(_phone(rng, hh, "home_phone")),
        residency=pl.when(student)
        .then(pl.lit("student"))
        .when(pl.col("long_term"))
        .then(pl.lit("long_term_resident"))
        .otherwise(pl.lit("local_hukou")),
        category=_category(rng, policy),
    )
    frame = frame.with_columns(
        household_role=pl.when(pl.col("category").is_in(list(DEPARTMENT_CATEGORIES["health_commission"]))).then(
            pl.when(rank <= 1).then(pl.lit("parent")).otherwise(pl.lit("child"))
        ),
        **_place_columns(geo),
    )
    return frame.with_columns(**_school_columns(geo, rng, student)).drop("head_age", "head_male", "household_draw")


def _category(rng: _Rng, policy: Policy) -> pl.Expr:
    """At most one category per person: household-wide lists first, then persons' own."""
    u = pl.col("household_draw")
    household_bands = [
        (0.04, "dibao"), (0.05, "near_dibao"), (0.07, "monitored"), (0.075, "relapsed_poor"),
        (0.085, "family_planning"), (0.088, "daughter_household"), (0.089, "son_household"),
    ]  # fmt: skip
    chain: Any = pl
    for bound, name in household_bands:
        chain = chain.when(u < bound).then(pl.lit(name))
    household = chain.otherwise(pl.lit(None, dtype=pl.String))
    health = household.is_in(list(DEPARTMENT_CATEGORIES["health_commission"]))
    household = pl.when(health & pl.col("elder")).then(pl.lit(None, dtype=pl.String)).otherwise(household)
    v = rng.unit(pl.col("i"), "person_category")
    age = pl.col("age")
    own = (
        pl.when((age < 18) & (v < 0.002))
        .then(pl.lit("orphan"))
        .when((age < 18) & (v < 0.005))
        .then(pl.lit("unsupported_child"))
        .when((age >= 18) & (v < 0.013))
        .then(pl.lit("destitute"))
        .when((age >= 35) & v.is_between(0.013, 0.018, closed="left"))
        .then(pl.lit("key_entitled"))
        .when(v.is_between(0.018, 0.035, closed="left"))
        .then(pl.lit("severe_disability"))
    )
    category = pl.coalesce(household, own)
    allowed = _quotable_categories(policy)
    local = ~pl.col("long_term") & ~pl.col("newborn")
    return pl.when(local & category.is_in(allowed)).then(category).otherwise(pl.lit(None, dtype=pl.String))


def _place_columns(geo: Geography) -> dict[str, pl.Expr]:
    index = pl.col("village_index")
    return {
        "township_index": _lookup([v.township_index for v in geo.villages], index, pl.Int64()),
        "township": _lookup([v.township for v in geo.villages], index, pl.String()),
        "township_code": _lookup([v.township_code for v in geo.villages], index, pl.String()),
        "village": _lookup([v.name for v in geo.villages], index, pl.String()),
        "village_code": _lookup([v.code for v in geo.villages], index, pl.String()),
    }


def _school_columns(geo: Geography, rng: _Rng, student: pl.Expr) -> dict[str, pl.Expr]:
    i = pl.col("i")
    age = pl.col("age")
    local_schools = 3 * len(geo.townships)
    seniors = [k for k, s in enumerate(geo.schools) if s.level == "senior"]
    vocational_index = next(k for k, s in enumerate(geo.schools) if s.level == "vocational")
    level = pl.when(age <= 5).then(0).when(age <= 11).then(1).when(age <= 14).then(2).otherwise(3)
    vocational = (age >= 15) & (rng.unit(i, "vocational") < 0.3)
    school = (
        pl.when(level < 3)
        .then(pl.col("township_index") * 3 + level)
        .when(vocational)
        .then(pl.lit(vocational_index, dtype=pl.Int64))
        .otherwise(pl.lit(seniors[0], dtype=pl.Int64) + rng.below(i, "senior", len(seniors)))
    )
    assert local_schools == seniors[0]
    grade = (
        pl.when(vocational)
        .then(age.replace_strict(VOCATIONAL_GRADES, default=None, return_dtype=pl.String))
        .otherwise(age.replace_strict(GRADES, default=None, return_dtype=pl.String))
    )
    return {
        "school_index": pl.when(student).then(school.cast(pl.Int64)),
        "grade": pl.when(student).then(grade),
        "class_no": pl.when(student).then(1 + rng.below(i, "class", 6)),
    }


# ------------------------------------------------------------------------------------------------ season


def _day_weights(first: dt.date, last: dt.date, kind: str, policy: Policy) -> list[int]:
    days = (last - first).days + 1
    out: list[int] = []
    for d in range(days):
        x = d / max(days - 1, 1)
        if kind == "window":
            w = 20 + 220 * x**3 + (260 if days - d <= 10 else 0)
            w *= 0.4 if d < 5 else 1.0
        elif kind == "early":  # schools and townships collect early
            w = max(5.0, 100 - 160 * x)
        else:  # migrants: before the Spring Festival
            festival = SPRING_FESTIVAL.get(policy.benefit_year, dt.date(policy.benefit_year, 2, 1))
            peak = (festival - first).days - 8
            w = 5 + 100 * math.exp(-(((d - peak) / 10) ** 2)) + (25 if days - d <= 5 else 0)
        out.append(max(1, round(w)))
    return out


def _date_in(rng: _Rng, key: pl.Expr, stream: str, first: dt.date, last: dt.date, kind: str, policy: Policy) -> pl.Expr:
    if last < first:
        last = first
    if kind == "uniform":
        offset = rng.below(key, stream, (last - first).days + 1)
    else:
        offset = rng.weighted(key, stream, _day_weights(first, last, kind, policy))
    return pl.lit(first) + pl.duration(days=offset)


@dataclass
class _Faults:
    used: set[int] = field(default_factory=set)
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in FAULT_KINDS})

    def pick(self, rng: _Rng, frame: pl.DataFrame, candidates: pl.Expr, k: int, stream: str) -> pl.DataFrame:
        """k rows of `frame` (column i = person) meeting `candidates`, none already carrying a fault; the first
        row of each person chosen, in the order drawn."""
        i = pl.col("i")
        persons = (
            frame.select(i, (candidates & ~i.is_in(sorted(self.used))).alias("_ok"))
            .filter(pl.col("_ok"))
            .select(i.unique())
            .with_columns(_draw=rng.bits(i, stream))
            .sort("_draw", "i")
            .head(k)
            .with_row_index("_position")
        )
        chosen = (
            frame.filter(i.is_in(persons["i"].implode()))
            .unique("i", keep="first", maintain_order=True)
            .join(persons.select("i", "_position"), on="i", how="left")
            .sort("_position")
            .drop("_position")
        )
        self.used.update(chosen["i"].to_list())
        return chosen


def _fault_count(persons: int, kind: str) -> int:
    return max(FAULT_MIN, round(persons * FAULT_RATES[kind]))


def _newborn_window_days(policy: Policy) -> tuple[int, float]:
    """(days within which a newborn counts as paid in time, share of newborns paying later): none pay later
    when the policy leaves a late newborn uncovered."""
    rule = policy.situations.get("newborn")
    if rule is None or rule.newborn_window is None:
        return 90, 0.0
    window = rule.newborn_window
    days = window.days if window.days is not None else 28 * (window.months or 3)
    return days, (0.15 if rule.uncovered is None else 0.0)


def _season(persons: pl.DataFrame, geo: Geography, policy: Policy, rng: _Rng, faults: _Faults) -> pl.DataFrame:
    """Who was on last year's roster, who died, who pays, when, how and under which situation."""
    n = persons.height
    i = pl.col("i")
    window = policy.collection_window
    period = policy.benefit_period
    situations = set(policy.situations)
    frame = persons.with_columns(
        on_roster=~pl.col("newborn") & (rng.unit(i, "roster") >= NOT_ON_ROSTER),
        died_on=pl.lit(None, dtype=pl.Date),
        dead_pays=pl.lit(False),
        second_category=pl.lit(None, dtype=pl.String),
    )
    # Deaths: roster persons (faults: paid after death, or due) and a few off the roster (no fault).
    deaths = _fault_count(n, "dead_on_roster")
    paying_dead = max(2, round(deaths * 0.2))
    old = (pl.col("age") >= 60) & (pl.col("residency") != "student")
    dead = faults.pick(rng, frame, pl.col("on_roster") & old, deaths, "death")
    dead_ids = dead["i"].to_list()
    paid_dead = set(dead_ids[:paying_dead])
    late = window.end - dt.timedelta(days=25)
    early = period.start - dt.timedelta(days=200)
    died = pl.when(i.is_in(sorted(paid_dead)))
    died_on = died.then(_date_in(rng, i, "died_paid", window.start, late, "uniform", policy)).otherwise(
        _date_in(rng, i, "died_due", early, window.end - dt.timedelta(days=5), "uniform", policy)
    )
    off_roster_dead = (
        frame.filter(~pl.col("on_roster") & ~pl.col("newborn") & old & ~i.is_in(dead_ids))
        .with_columns(_d=rng.bits(i, "death_off_roster"))
        .sort("_d")
        .head(max(1, deaths // 10))["i"]
        .to_list()
    )
    all_dead = sorted({*dead_ids, *off_roster_dead})
    frame = frame.with_columns(
        died_on=pl.when(i.is_in(all_dead)).then(died_on),
        dead_pays=i.is_in(sorted(paid_dead)),
    )
    # Dual identities: a dibao person also on the monitored list, or the reverse.
    allowed = set(_quotable_categories(policy))
    if {"dibao", "monitored"} <= allowed:
        k = _fault_count(n, "dual_identity")
        a = faults.pick(rng, frame, pl.col("category") == "dibao", (k + 1) // 2, "dual_dibao")
        b = faults.pick(rng, frame, pl.col("category") == "monitored", k // 2, "dual_monitored")
        frame = frame.with_columns(
            second_category=pl.when(i.is_in(a["i"].to_list()))
            .then(pl.lit("monitored"))
            .when(i.is_in(b["i"].to_list()))
            .then(pl.lit("dibao"))
        )
    categories = pl.concat_list([pl.col("category"), pl.col("second_category")]).list.drop_nulls()
    frame = frame.with_columns(categories=categories)

    u_pays = rng.unit(i, "pays")
    alive_or_paying = pl.col("died_on").is_null() | pl.col("dead_pays")
    pays = (
        pl.when(pl.col("dead_pays"))
        .then(True)
        .when(pl.col("died_on").is_not_null())
        .then(False)
        .when(pl.col("on_roster"))
        .then(u_pays < RENEW)
        .when(pl.col("newborn"))
        .then(u_pays < NEWBORN_PAYS)
        .otherwise(u_pays < NEWCOMER_PAYS)
    )
    frame = frame.with_columns(pays=pays & alive_or_paying)

    age = pl.col("age")
    student = pl.col("residency") == "student"
    has_category = pl.col("categories").list.len() > 0
    special = "special_group" in policy.situations
    special_needs = policy.situations["special_group"].requires_categories if special else []
    special_ok = (
        pl.any_horizontal([pl.col("categories").list.contains(c) for c in special_needs])
        if special_needs
        else has_category
    )
    newcomer = ~pl.col("on_roster") & ~pl.col("newborn")
    u_sit = rng.unit(i, "situation")
    chain: Any = pl.when(pl.col("dead_pays")).then(pl.lit("regular"))
    if "newborn" in situations:
        chain = chain.when(pl.col("newborn")).then(pl.lit("newborn"))
    if "discharged_soldier" in situations:
        soldier = newcomer & pl.col("male") & age.is_between(19, 25) & (u_sit < 0.08)
        chain = chain.when(soldier).then(pl.lit("discharged_soldier"))
    if "from_employee_insurance" in situations:
        chain = chain.when(newcomer & age.is_between(20, 58) & (u_sit < 0.35)).then(pl.lit("from_employee_insurance"))
    if special:
        chain = chain.when(pl.col("on_roster") & special_ok & (u_sit < 0.05)).then(pl.lit("special_group"))
    if "new_student" in situations:
        chain = chain.when(student & pl.col("grade").is_in(list(FIRST_GRADES))).then(pl.lit("new_student"))
    if "migrant_late" in situations and policy.migrant_extension is not None:
        migrant = (pl.col("residency") == "local_hukou") & age.is_between(18, 55) & ~has_category
        chain = chain.when(migrant & (rng.unit(i, "migrant") < 0.05)).then(pl.lit("migrant_late"))
    situation = chain.otherwise(pl.lit("regular"))
    frame = frame.with_columns(situation=pl.when(pl.col("pays")).then(situation))

    sit = pl.col("situation")
    u_ch = rng.unit(i, "channel")
    channel = (
        pl.when(pl.col("dead_pays"))
        .then(pl.lit("bank_debit"))
        .when(sit.is_in(["newborn", "migrant_late", "from_employee_insurance", "discharged_soldier"]))
        .then(pl.lit("online"))
        .when(sit == "special_group")
        .then(pl.lit("collecting_unit"))
        .when(student & (u_ch < 0.92))
        .then(pl.lit("school"))
        .when(has_category & ~student & (u_ch < 0.9))
        .then(pl.lit("collecting_unit"))
        .when((age >= 18) & (rng.unit(i, "bank") < 0.035))
        .then(pl.lit("bank_debit"))
        .otherwise(pl.lit("online"))
    )
    frame = frame.with_columns(channel=pl.when(pl.col("pays")).then(channel))
    ch = pl.col("channel")
    after = window.end + dt.timedelta(days=4)
    extension_end = policy.migrant_extension.end if policy.migrant_extension else window.end
    gap = rng.below(i, "gap_months", 9)
    batch_days = [
        window.start + dt.timedelta(days=d) for d in (20, 45, 70) if window.start + dt.timedelta(days=d) <= window.end
    ]
    bank_day = _lookup(batch_days or [window.start], rng.below(i, "bank_day", max(1, len(batch_days))), pl.Date())
    newborn_days, late_share = _newborn_window_days(policy)
    delay = (
        pl.when(rng.unit(i, "newborn_late") < 1 - late_share)
        .then(3 + rng.below(i, "newborn_delay", min(80, newborn_days - 4)))
        .otherwise(newborn_days + 1 + rng.below(i, "newborn_delay_late", 60))
    )
    newborn_paid = (pl.col("birth") + pl.duration(days=delay)).clip(window.start, period.end - dt.timedelta(days=2))
    dead_paid = (pl.col("died_on") + pl.duration(days=3 + rng.below(i, "dead_paid", 15))).clip(upper_bound=window.end)
    paid_on = (
        pl.when(pl.col("dead_pays"))
        .then(dead_paid)
        .when(sit == "newborn")
        .then(newborn_paid)
        .when(sit == "migrant_late")
        .then(_date_in(rng, i, "migrant_day", window.end + dt.timedelta(days=1), extension_end, "migrant", policy))
        .when((sit == "from_employee_insurance") & (gap > 3))
        .then(_date_in(rng, i, "employee_day", after, period.end - dt.timedelta(days=190), "uniform", policy))
        .when(sit.is_in(["from_employee_insurance", "special_group", "discharged_soldier"]))
        .then(_date_in(rng, i, "dynamic_day", after, period.end - dt.timedelta(days=45), "uniform", policy))
        .when(ch == "bank_debit")
        .then(bank_day)
        .when(ch.is_in(["school", "collecting_unit"]))
        .then(_date_in(rng, i, "early_day", window.start, window.end, "early", policy))
        .otherwise(_date_in(rng, i, "window_day", window.start, window.end, "window", policy))
    )
    employee = sit == "from_employee_insurance"
    schools = geo.schools
    channel_name = (
        pl.when(ch == "online")
        .then(rng.pick(i, "app", [a for a, _, _ in ONLINE_APPS], [w for _, _, w in ONLINE_APPS]))
        .when(ch == "bank_debit")
        .then(
            pl.when(rng.unit(i, "bank_name") < 0.7)
            .then(pl.lit(f"{_stem(geo.county_name)}农商银行"))
            .otherwise(pl.lit("中国邮政储蓄银行"))
        )
    )
    return frame.with_columns(
        paid_on=pl.when(pl.col("pays")).then(paid_on),
        channel_name=channel_name,
        collecting_unit=pl.when(ch == "collecting_unit")
        .then(pl.col("township"))
        .when(ch == "school")
        .then(_lookup([s.name for s in schools], pl.col("school_index").fill_null(0), pl.String())),
        employee_insurance_years=pl.when(employee).then((2 + rng.below(i, "employee_years", 14)).cast(pl.Int32)),
        employee_insurance_gap_months=pl.when(employee).then(gap.cast(pl.Int32)),
        lapsed_years=pl.lit(0, dtype=pl.Int32),
    )


QUOTE_CHUNK_ROWS = 100_000
"""Rows quoted at a time: the engine's intermediate columns for a million rows would double peak memory."""
QUOTE_INPUTS = (
    "id_number", "name", "county", "residency", "categories", "household_role", "employee_insurance_years",
    "employee_insurance_gap_months", "lapsed_years", "situation", "paid_on",
)  # fmt: skip


def _quote(policy_id: str, frame: pl.DataFrame, today: dt.date) -> pl.DataFrame:
    """`quote_frame` in chunks; only error, eligible, reasons and amount_due_fen, in the frame's order."""
    inputs = frame.select([c for c in QUOTE_INPUTS if c in frame.columns])
    parts = [
        quote_frame(load_policy(policy_id), inputs.slice(start, QUOTE_CHUNK_ROWS), today).select(
            "error", "eligible", "reasons", "amount_due_fen"
        )
        for start in range(0, max(inputs.height, 1), QUOTE_CHUNK_ROWS)
    ]
    return pl.concat(parts)


KEPT_COLUMNS = (
    "i", "hh", "rank", "newborn", "age", "birth", "id_number", "name", "phone", "residency", "category",
    "second_category", "categories", "household_role", "village_index", "township", "township_code", "village",
    "village_code", "school_index", "grade", "class_no", "on_roster", "died_on", "situation", "paid_on",
    "male", "elder",
)  # fmt: skip
"""The columns of the persons frame used after the events are priced."""


def _events(
    frame: pl.DataFrame, geo: Geography, policy_id: str, rng: _Rng, serials: int = 0
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Payment events priced by `quote_frame`, in payment order, with transaction ids (serial numbers from
    `serials` on: the parts of a county share one sequence); rows the policy cannot quote (none for 341323)
    are dropped and counted."""
    policy = load_policy(policy_id)
    events = (
        frame.lazy()
        .filter(pl.col("pays"))
        .select(
            "i",
            "id_number",
            "name",
            pl.lit(geo.county).alias("county"),
            "residency",
            "categories",
            "household_role",
            "employee_insurance_years",
            "employee_insurance_gap_months",
            "lapsed_years",
            "situation",
            "paid_on",
            "channel",
            "channel_name",
            "collecting_unit",
            "township",
            "village",
        )
        .collect()
    )
    quoted = _quote(policy_id, events, policy.benefit_period.end + dt.timedelta(days=1))
    ok = quoted["error"].is_null() & quoted["eligible"].fill_null(False)
    refused = quoted.filter(~ok)
    unquotable = {
        "rows": refused.height,
        "by_reason": dict(
            refused.select(pl.coalesce(pl.col("error"), pl.col("reasons").list.join("；")).alias("why"))
            .group_by("why")
            .len()
            .sort(["len", "why"], descending=[True, False])
            .head(10)
            .rows()
        ),
    }
    events = events.with_columns(amount_fen=quoted["amount_due_fen"]).filter(ok)
    events = events.with_columns(_order=rng.bits(pl.col("i"), "payment_order")).sort(["paid_on", "_order"])
    multiplier, offset = 73_939_133, rng.python("txn").randrange(100_000_000)
    prefix = (
        pl.when(pl.col("channel") == "online")
        .then(pl.col("channel_name").replace_strict({a: p for a, p, _ in ONLINE_APPS}, default="WX"))
        .otherwise(pl.col("channel").replace_strict(CHANNEL_PREFIX, default="QT"))
    )
    serial = ((pl.int_range(pl.len(), dtype=pl.Int64) + serials) * multiplier + offset) % 100_000_000
    events = events.with_columns(
        txn_id=pl.concat_str([prefix, pl.col("paid_on").dt.to_string("%Y%m%d"), serial.cast(pl.String).str.zfill(8)]),
        _index=pl.int_range(pl.len(), dtype=pl.Int64).over("paid_on"),
    )
    return events, {"unquotable": unquotable, "txn": (multiplier, offset, serials)}


# ------------------------------------------------------------------------------------------------ writing


def _payment_place(row: dict[str, Any]) -> dict[str, Any]:
    """Where a payment event is: its day's file and its 0-based row index there."""
    return {"file": f"payments/{row['paid_on'].isoformat()}.parquet", "index": row["_index"]}


def _write_csv(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """UTF-8 with a BOM; a lazy frame is streamed to the file.  Atomic and 0600 like every output
    (canbao.outputs), but not formula-escaped: these are the inputs an office would send, as sent."""
    with atomic_output(path) as temporary:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_csv(temporary, include_bom=True)
        else:
            frame.write_csv(temporary, include_bom=True)


def _csv_rows(frame: pl.DataFrame, key: str, values: Sequence[str]) -> dict[str, list[int]]:
    """Spreadsheet row numbers (header = 1) of the rows whose `key` is in `values`."""
    found = (
        frame.select(pl.col(key), (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row"))
        .filter(pl.col(key).is_in(list(values)))
        .group_by(key, maintain_order=True)
        .agg("row")
    )
    return {k: list(rows) for k, rows in found.iter_rows()}


def _date_text(expr: pl.Expr, fmt: str = "%Y-%m-%d") -> pl.Expr:
    return expr.dt.to_string(fmt)


def _department_lists(
    frame: pl.DataFrame, rng: _Rng, faults: _Faults, out: Path, persons: int, policy: Policy
) -> tuple[dict[str, int], dict[str, int]]:
    """The five departments' lists with their faults; returns rows per file and list rows per category."""
    i = pl.col("i")
    window = policy.collection_window
    heads = frame.filter(pl.col("rank") == 0).select("hh", pl.col("name").alias("head_name"))
    memberships = pl.concat(
        [
            frame.filter(pl.col("category").is_not_null()).with_columns(list_category=pl.col("category"), _dual=0),
            frame.filter(pl.col("second_category").is_not_null()).with_columns(
                list_category=pl.col("second_category"), _dual=1
            ),
        ]
    )
    # Households are certified together (same date, same wording); persons newly certified who enroll after
    # the window carry the later date (动态新增).
    dynamic = (pl.col("situation") == "special_group") & pl.col("paid_on").is_not_null()
    dynamic_date = (pl.col("paid_on") - pl.duration(days=1 + rng.below(i, "certified_late", 20))).clip(
        lower_bound=window.end + dt.timedelta(days=1)
    )
    certified = pl.when(dynamic).then(dynamic_date)
    memberships = memberships.join(heads, on="hh", how="left", maintain_order="left").with_columns(
        valid_from=certified.otherwise(
            _date_in(
                rng,
                pl.col("hh"),
                "certified",
                dt.date(window.start.year - 7, 1, 1),
                window.start - dt.timedelta(days=30),
                "uniform",
                policy,
            )
        ),
        monitored_from=certified.otherwise(
            _date_in(
                rng,
                pl.col("hh"),
                "monitored",
                dt.date(window.start.year - 1, 6, 1),
                window.start - dt.timedelta(days=10),
                "uniform",
                policy,
            )
        ),
    )
    word = pl.lit(None, dtype=pl.String)
    for category, words in CATEGORY_WORDS.items():
        word = (
            pl.when(pl.col("list_category") == category)
            .then(rng.pick(pl.col("hh"), "word_" + category, words))
            .otherwise(word)
        )
    memberships = memberships.with_columns(word=word).sort(["township_code", "village_code", "hh", "rank", "_dual"])
    role_words = pl.col("household_role").replace_strict(HOUSEHOLD_ROLE_LABELS, default=None)
    disability_kind = rng.below(i, "disability_kind", len(DISABILITY_KINDS))
    disability_level = 1 + rng.below(i, "disability_level", 2)
    layouts: dict[str, list[pl.Expr]] = {
        "civil_affairs": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("公民身份号码"),
            pl.col("word").alias("人员类别"),
            pl.col("township").alias("乡镇（街道）"),
            pl.col("village").alias("村（社区）"),
            _date_text(pl.col("valid_from")).alias("认定日期"),
        ],
        "rural_revitalization": [
            pl.col("head_name").alias("户主姓名"),
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            pl.col("word").alias("人员类别"),
            pl.col("township").alias("乡镇"),
            pl.col("village").alias("村"),
            _date_text(pl.col("monitored_from"), "%Y/%m/%d").alias("纳入监测时间"),
        ],
        "health_commission": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号"),
            pl.col("word").alias("类别"),
            role_words.alias("家庭角色"),
            pl.col("township").alias("乡镇"),
        ],
        "veterans_affairs": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            pl.col("word").alias("优抚类别"),
            pl.col("township").alias("乡镇"),
        ],
        "disabled_federation": [
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            _lookup(DISABILITY_KINDS, disability_kind, pl.String()).alias("残疾类别"),
            pl.when(disability_level == 1).then(pl.lit("一级")).otherwise(pl.lit("二级")).alias("残疾等级"),
            pl.concat_str(
                [pl.col("written_id"), (disability_kind + 1).cast(pl.String), disability_level.cast(pl.String)]
            ).alias("残疾人证号"),
            pl.col("township").alias("乡镇"),
        ],
    }
    id_column = {
        "civil_affairs": "公民身份号码",
        "rural_revitalization": "身份证号码",
        "health_commission": "身份证号",
        "veterans_affairs": "身份证号码",
        "disabled_federation": "身份证号码",
    }
    numbered = {"civil_affairs", "rural_revitalization"}

    # Duplicated rows (second copy right after the first) and bad check characters: persons without faults.
    dup_people = faults.pick(rng, memberships, pl.lit(True), _fault_count(persons, "duplicate_row"), "duplicate")
    bad_people = faults.pick(rng, memberships, pl.lit(True), _fault_count(persons, "bad_check_digit"), "bad_check")
    dup_ids, bad_ids = dup_people["i"].to_list(), bad_people["i"].to_list()
    bad_numbers: dict[str, str] = {}
    r = rng.python("bad_check")
    for id_number in bad_people["id_number"].to_list():
        k = CHECK_CHARACTERS.index(id_number[-1])
        bad_numbers[id_number] = id_number[:-1] + CHECK_CHARACTERS[(k + 1 + r.randrange(10)) % 11]
    memberships = pl.concat(
        [memberships.with_columns(_copy=0), memberships.filter(i.is_in(dup_ids)).with_columns(_copy=1)]
    ).sort(["township_code", "village_code", "hh", "rank", "_dual", "_copy"])
    memberships = memberships.with_columns(
        written_id=pl.col("id_number").replace(bad_numbers) if bad_numbers else pl.col("id_number")
    )

    files: dict[str, int] = {}
    rows_per_category = {c: 0 for c in CATEGORIES}
    locations: dict[int, list[dict[str, Any]]] = {}
    for department, columns in layouts.items():
        members = memberships.filter(pl.col("list_category").is_in(list(DEPARTMENT_CATEGORIES[department])))
        for c, count in members.filter(pl.col("_copy") == 0).group_by("list_category").len().rows():
            rows_per_category[c] += count
        written = [
            e if e.meta.output_name() != id_column[department] else pl.col("written_id").alias(id_column[department])
            for e in columns
        ]
        table = members.select(written)
        if department in numbered:
            table = table.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("序号"), pl.all())
        path = f"lists/{department}.csv"
        _write_csv(table, out / path)
        files[path] = table.height
        found = members.select("i", (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row")).filter(
            pl.col("i").is_in(sorted(faults.used))
        )
        for person, row in found.rows():
            locations.setdefault(person, []).append({"file": path, "row": row})

    people = memberships.filter(pl.col("_copy") == 0).unique("i", keep="first", maintain_order=True)
    names = dict(
        zip(
            people["i"].to_list(),
            zip(people["id_number"].to_list(), people["name"].to_list(), strict=True),
            strict=True,
        )
    )
    second = frame.filter(pl.col("second_category").is_not_null())
    for person, first, extra in second.select("i", "category", "second_category").rows():
        id_number, name = names[person]
        faults.entries["dual_identity"].append(
            {"id_number": id_number, "name": name, "categories": [first, extra], "rows": locations[person]}
        )
    for person in dup_ids:
        id_number, name = names[person]
        faults.entries["duplicate_row"].append({"id_number": id_number, "name": name, "rows": locations[person]})
    for person in bad_ids:
        id_number, name = names[person]
        faults.entries["bad_check_digit"].append(
            {"id_number": id_number, "name": name, "bad_id_number": bad_numbers[id_number], "rows": locations[person]}
        )
    return files, rows_per_category


def _tax_and_bank(
    events: pl.DataFrame,
    frame: pl.DataFrame,
    policy: Policy,
    rng: _Rng,
    faults: _Faults,
    out: Path,
    txn: tuple[int, int, int],
) -> dict[str, int]:
    n = frame.height
    i = pl.col("i")
    positive_online = (pl.col("amount_fen") > 0) & (pl.col("channel") == "online")
    missing = faults.pick(rng, events, positive_online, _fault_count(n, "enrollment_without_payment"), "no_money")
    mismatch = faults.pick(rng, events, pl.col("amount_fen") > 0, _fault_count(n, "amount_mismatch"), "mismatch")
    # Money for a person who never enrolled: alive, on the roster, no list, did not renew.
    idle = pl.col("on_roster") & ~pl.col("pays") & pl.col("died_on").is_null() & (pl.col("categories").list.len() == 0)
    ghosts = faults.pick(rng, frame, idle, _fault_count(n, "tax_without_enrollment"), "ghost")
    window = policy.collection_window
    multiplier, offset, serials = txn
    standard = to_fen(policy.personal_contribution)
    ghost_rows = ghosts.select(
        "i",
        "id_number",
        "name",
        paid_on=_date_in(rng, i, "ghost_day", window.start, window.end, "window", policy),
        channel=pl.lit("online"),
        channel_name=pl.lit("微信"),
        amount_fen=pl.lit(standard, dtype=pl.Int64),
        _order=rng.bits(i, "payment_order"),
        _serial=pl.int_range(pl.len(), dtype=pl.Int64) + events.height + serials,
    ).with_columns(
        txn_id=pl.concat_str(
            [
                pl.lit("WX"),
                pl.col("paid_on").dt.to_string("%Y%m%d"),
                ((pl.col("_serial") * multiplier + offset) % 100_000_000).cast(pl.String).str.zfill(8),
            ]
        )
    )
    missing_txns = missing["txn_id"].to_list()
    columns = ["i", "id_number", "name", "paid_on", "channel", "channel_name", "amount_fen", "_order", "txn_id"]
    records = pl.concat(
        [events.filter(~pl.col("txn_id").is_in(missing_txns)).select(columns), ghost_rows.select(columns)]
    ).sort(["paid_on", "_order"], maintain_order=True)
    channel_word = (
        pl.when(pl.col("channel") == "online")
        .then(pl.col("channel_name"))
        .otherwise(pl.col("channel").replace_strict(TAX_CHANNEL_WORDS, default=None))
    )
    tax = records.lazy().select(
        pl.col("name").alias("缴费人姓名"),
        pl.col("id_number").alias("证件号码"),
        yuan_text(pl.col("amount_fen")).alias("缴费金额(元)"),
        _date_text(pl.col("paid_on")).alias("缴费日期"),
        pl.col("txn_id").alias("交易流水号"),
        channel_word.alias("渠道"),
    )
    r = rng.python("mismatch")
    bank_amounts: dict[str, int] = {}
    for k, (txn_id, amount) in enumerate(mismatch.select("txn_id", "amount_fen").rows()):
        wrong = [amount - 100, amount * 10, amount - 1][(k + r.randrange(3)) % 3]
        bank_amounts[txn_id] = wrong
    paid = records.filter(pl.col("amount_fen") > 0).select("paid_on", "txn_id", "amount_fen", "channel", "channel_name")
    bank_fen = pl.col("txn_id").replace_strict(bank_amounts, default=pl.col("amount_fen"), return_dtype=pl.Int64)
    bank = paid.lazy().select(
        _date_text(pl.col("paid_on")).alias("交易日期"),
        pl.col("txn_id").alias("交易流水号"),
        yuan_text(bank_fen).alias("金额(元)"),
        pl.concat_str([pl.lit("城乡居民医保缴费 "), channel_word]).alias("摘要"),
    )
    _write_csv(tax, out / "tax_records.csv")
    _write_csv(bank, out / "bank_statement.csv")
    wanted = [*ghost_rows["txn_id"].to_list(), *mismatch["txn_id"].to_list()]
    tax_rows = _csv_rows(records, "txn_id", wanted)
    bank_rows = _csv_rows(paid, "txn_id", wanted)
    for row in ghost_rows.iter_rows(named=True):
        txn_id = row["txn_id"]
        faults.entries["tax_without_enrollment"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "txn_id": txn_id,
                "amount_fen": row["amount_fen"],
                "rows": [
                    {"file": "tax_records.csv", "row": tax_rows[txn_id][0]},
                    {"file": "bank_statement.csv", "row": bank_rows[txn_id][0]},
                ],
            }
        )
    for row in missing.iter_rows(named=True):
        faults.entries["enrollment_without_payment"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "txn_id": row["txn_id"],
                "amount_fen": row["amount_fen"],
                "rows": [_payment_place(row)],
            }
        )
    for row in mismatch.iter_rows(named=True):
        txn_id = row["txn_id"]
        faults.entries["amount_mismatch"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "txn_id": txn_id,
                "tax_amount_fen": row["amount_fen"],
                "bank_amount_fen": bank_amounts[txn_id],
                "rows": [
                    {"file": "tax_records.csv", "row": tax_rows[txn_id][0]},
                    {"file": "bank_statement.csv", "row": bank_rows[txn_id][0]},
                    _payment_place(row),
                ],
            }
        )
    return {"tax_records.csv": records.height, "bank_statement.csv": paid.height}


def _roster(frame: pl.DataFrame, county: str, last_policy_id: str | None, out: Path) -> pl.Series:
    """Last year's roster, by village and household; 缴费金额 as last year's policy prices it.  Returns its
    ID numbers in file order."""
    needed = ["village_index", "hh", "rank", "id_number", "name", "township", "village", "residency", "phone"]
    needed += ["categories", "household_role", "birth"]
    roster = frame.filter(pl.col("on_roster")).select(needed).sort(["village_index", "hh", "rank"])
    amount = pl.lit(None, dtype=pl.Int64)
    if last_policy_id is not None:
        last = load_policy(last_policy_id)
        start = last.collection_window.start
        newborn = pl.col("birth") >= start
        priced = roster.select(
            "id_number",
            "name",
            pl.lit(county).alias("county"),
            "residency",
            "categories",
            "household_role",
            pl.when(newborn).then(pl.lit("newborn")).otherwise(pl.lit("regular")).alias("situation"),
            pl.when(newborn)
            .then(pl.col("birth") + pl.duration(days=20))
            .otherwise(pl.lit(start + dt.timedelta(days=30)))
            .alias("paid_on"),
        )
        quoted = _quote(last_policy_id, priced, last.benefit_period.end + dt.timedelta(days=1))
        ok = quoted["error"].is_null() & quoted["eligible"].fill_null(False)
        roster = roster.with_columns(_amount=quoted["amount_due_fen"], _ok=ok)
        amount = pl.when(pl.col("_ok")).then(pl.col("_amount"))
    table = roster.lazy().select(
        pl.col("id_number").alias("身份证号码"),
        pl.col("name").alias("姓名"),
        pl.col("township").alias("乡镇"),
        pl.col("village").alias("村"),
        pl.col("residency").alias("居民类型"),
        pl.col("phone").alias("联系电话"),
        yuan_text(amount).alias("缴费金额"),
    )
    _write_csv(table, out / "roster_2021.csv")
    return roster["id_number"]


def _deaths(frame: pl.DataFrame, events: pl.DataFrame, roster: pl.Series, faults: _Faults, out: Path) -> pl.DataFrame:
    dead = frame.filter(pl.col("died_on").is_not_null()).sort(["died_on", "id_number"])
    table = dead.select(
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        _date_text(pl.col("died_on")).alias("死亡日期"),
    )
    _write_csv(table, out / "deaths.csv")
    on_roster = dead.filter(pl.col("on_roster"))
    ids = on_roster["id_number"].to_list()
    death_rows = _csv_rows(table, "身份证号码", ids)
    roster_rows = _csv_rows(roster.to_frame("id_number"), "id_number", ids)
    paid = {
        r["id_number"]: r
        for r in events.filter(pl.col("id_number").is_in(ids))
        .select("id_number", "txn_id", "paid_on", "_index")
        .to_dicts()
    }
    for row in on_roster.select("id_number", "name", "died_on").iter_rows(named=True):
        id_number = row["id_number"]
        rows: list[dict[str, Any]] = [
            {"file": "deaths.csv", "row": death_rows[id_number][0]},
            {"file": "roster_2021.csv", "row": roster_rows[id_number][0]},
        ]
        entry: dict[str, Any] = {
            "id_number": id_number,
            "name": row["name"],
            "died_on": row["died_on"].isoformat(),
            "status": "paid" if id_number in paid else "due",
        }
        if id_number in paid:
            rows.append(_payment_place(paid[id_number]))
            entry["txn_id"] = paid[id_number]["txn_id"]
        entry["rows"] = rows
        faults.entries["dead_on_roster"].append(entry)
    return table


def _neighbour(county: str) -> str:
    others = sorted(c for c in COUNTY_NAMES if c != county)
    return min(others, key=lambda c: (abs(int(c) - int(county)), -int(c)))


def _other_county(
    county: str, frame: pl.DataFrame, events: pl.DataFrame, policy: Policy, rng: _Rng, faults: _Faults, out: Path
) -> pl.DataFrame:
    """A neighbouring county's enrollments for the same benefit year, with persons also paying here."""
    other = _neighbour(county)
    geo = _geography(other, rng)
    window = policy.collection_window
    standard = to_fen(policy.personal_contribution)
    n = max(30, frame.height // 400)
    f = pl.col("f")
    fillers = pl.DataFrame({"f": pl.int_range(n, eager=True, dtype=pl.Int64) + 1_000_000_000}).with_columns(
        male=rng.unit(f, "other_sex") < 0.5,
        birth=pl.lit(dt.date(1945, 1, 1)) + pl.duration(days=rng.below(f, "other_birth", 70 * 365)),
        division=pl.lit(other),
    )
    fillers = fillers.with_columns(id_number=_id_numbers(rng, fillers)[0]).filter(
        ~pl.col("id_number").is_in(frame["id_number"].implode())
    )
    fillers = fillers.with_columns(
        name=_names(rng, f, f + 7, pl.col("male"), ~pl.col("male")),
        residency=pl.when(rng.unit(f, "other_residency") < 0.9)
        .then(pl.lit("local_hukou"))
        .otherwise(pl.lit("long_term_resident")),
        key=f,
    )
    doubles = faults.pick(
        rng,
        events,
        (pl.col("situation") == "regular") & (pl.col("channel") == "online"),
        _fault_count(frame.height, "enrolled_in_two_counties"),
        "two_counties",
    )
    doubles_rows = doubles.select(
        "id_number", "name", pl.lit("long_term_resident").alias("residency"), pl.col("i").alias("key")
    )
    people = pl.concat([fillers.select("id_number", "name", "residency", "key"), doubles_rows])
    key = pl.col("key")
    village = rng.weighted(key, "other_village", [v.weight for v in geo.villages])
    table = (
        people.with_columns(_order=rng.bits(key, "other_order"))
        .sort("_order")
        .select(
            pl.col("id_number").alias("身份证号码"),
            pl.col("name").alias("姓名"),
            pl.lit(geo.county_name).alias("县（区）"),
            _lookup([v.township for v in geo.villages], village, pl.String()).alias("乡镇"),
            _lookup([v.name for v in geo.villages], village, pl.String()).alias("村"),
            pl.col("residency").alias("居民类型"),
            _date_text(_date_in(rng, key, "other_day", window.start, window.end, "window", policy)).alias("缴费日期"),
            pl.lit(f"{to_yuan(standard)}").alias("缴费金额"),
        )
    )
    _write_csv(table, out / "other_county_roster.csv")
    rows = _csv_rows(table, "身份证号码", doubles["id_number"].to_list())
    for row in doubles.iter_rows(named=True):
        faults.entries["enrolled_in_two_counties"].append(
            {
                "id_number": row["id_number"],
                "name": row["name"],
                "other_county": {"code": other, "name": geo.county_name},
                "txn_id": row["txn_id"],
                "rows": [
                    {"file": "other_county_roster.csv", "row": rows[row["id_number"]][0]},
                    _payment_place(row),
                ],
            }
        )
    return table


def _schools(frame: pl.DataFrame, geo: Geography, out: Path) -> dict[str, int]:
    students = frame.filter((pl.col("residency") == "student") & pl.col("died_on").is_null()).sort(
        ["school_index", "age", "class_no", "i"]
    )
    table = students.select(
        "school_index",
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        _lookup([s.name for s in geo.schools], pl.col("school_index"), pl.String()).alias("学校"),
        pl.col("grade").alias("年级"),
        pl.concat_str([pl.col("class_no").cast(pl.String), pl.lit("班")]).alias("班级"),
    )
    parts = {int(k[0]): v for k, v in table.partition_by("school_index", as_dict=True, maintain_order=True).items()}
    rows: dict[str, int] = {}
    for index, school in enumerate(geo.schools):
        part = parts.get(index, table.clear()).drop("school_index")
        path = f"schools/{school.name}.csv"
        _write_csv(part, out / path)
        rows[path] = part.height
    return rows


def _population(frame: pl.DataFrame, geo: Geography, out: Path) -> int:
    """Every synthetic person as the generator knows them (see the module docstring)."""
    rank = pl.col("rank")
    relation = (
        pl.when(rank == 0)
        .then(pl.lit("户主"))
        .when(rank == 1)
        .then(pl.lit("配偶"))
        .when(pl.col("elder"))
        .then(pl.lit("父母"))
        .when(pl.col("newborn"))
        .then(pl.lit("新生儿"))
        .otherwise(pl.lit("子女"))
    )
    school = _lookup([s.name for s in geo.schools], pl.col("school_index").fill_null(0), pl.String())
    table = frame.sort(["village_index", "hh", "rank", "i"]).select(
        "id_number",
        "name",
        pl.when(pl.col("male")).then(pl.lit("male")).otherwise(pl.lit("female")).alias("sex"),
        pl.col("birth").alias("birth_date"),
        pl.col("hh").alias("household_id"),
        relation.alias("household_relation"),
        "residency",
        "categories",
        "household_role",
        "township",
        "township_code",
        "village",
        "village_code",
        "phone",
        pl.when(pl.col("school_index").is_not_null()).then(school).alias("school"),
        "grade",
        pl.col("on_roster").alias("on_roster_2021"),
        pl.col("pays").alias("enrolled"),
        "died_on",
    )
    table.write_parquet(out / "population.parquet", compression="zstd", statistics=True)
    return table.height


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Integers proportional to `weights` summing exactly to `total` (largest remainders, ties by order)."""
    if not weights:
        return []
    weights = list(weights) if sum(weights) > 0 else [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda k: (-(total * weights[k] % whole), k))
    for k in order[: total - sum(shares)]:
        shares[k] += 1
    return shares


def _normalized_xlsx(data: bytes) -> bytes:
    """The workbook with fixed document dates and zip timestamps (openpyxl stamps both with 'now')."""
    fixed = dt.datetime(*FIXED_TIMESTAMP).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{fixed}\g<3>", content.decode()
                )
                content = text.encode()
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, content)
    return buffer.getvalue()


def _township_plan(geo: Geography, rng: _Rng) -> tuple[list[int], list[int]]:
    """Per township: the enrollment target in percent of its population (0: a stretch target) and the
    e-voucher activation level (percent of the county's target share)."""
    r = rng.python("township_plan")
    share, low, high = TARGET_WITHIN_REACH
    reach = [r.randint(low, high) if r.random() < share else 0 for _ in geo.townships]
    levels = [r.randint(*E_VOUCHER_LEVELS[0 if f else 1]) for f in reach]
    return reach, levels


def _village_population(frame: pl.DataFrame, geo: Geography) -> list[int]:
    """Persons alive per village, in the geography's order: what the targets are apportioned by."""
    alive = dict(frame.filter(pl.col("died_on").is_null()).group_by("village_index").len().rows())
    return [int(alive.get(k, 0)) for k in range(len(geo.villages))]


def _targets(
    weights: list[int], geo: Geography, rng: _Rng, enrollment: int, e_voucher: int, out: Path
) -> dict[str, int]:
    from openpyxl import Workbook

    reach = _township_plan(geo, rng)[0]
    people = [0] * len(geo.townships)
    for w, v in zip(weights, geo.villages, strict=True):
        people[v.township_index] += w
    reached = sum(p * f for p, f in zip(people, reach, strict=True))
    stretched = sum(p for p, f in zip(people, reach, strict=True) if not f)
    # Per-mille factor of the stretch townships: what the reach townships leave of 100% of the population.
    stretch = max(1, (100 * sum(people) - reached) * 10 // max(1, stretched))
    weighted = [w * (reach[v.township_index] * 10 or stretch) for w, v in zip(weights, geo.villages, strict=True)]
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "canbao synth"
    rows: dict[str, int] = {}
    for title, total, shares in (("参保任务", enrollment, weighted), ("电子凭证任务", e_voucher, weights)):
        sheet = workbook.create_sheet(title)
        sheet.append(["乡镇", "乡镇代码", "村", "村代码", "任务数"])
        for village, count in zip(geo.villages, _apportion(total, shares), strict=True):
            sheet.append([village.township, village.township_code, village.name, village.code, count])
        rows[title] = len(geo.villages)
    buffer = io.BytesIO()
    workbook.save(buffer)
    (out / "targets.xlsx").write_bytes(_normalized_xlsx(buffer.getvalue()))
    return rows


def _e_voucher_activations(
    frame: pl.DataFrame, geo: Geography, policy: Policy, rng: _Rng, e_voucher: int, out: Path
) -> int:
    """医保电子凭证激活记录 (see the module docstring): a rate per township, some activations after the window."""
    i = pl.col("i")
    window = policy.collection_window
    levels = dict(zip([t.code for t in geo.townships], _township_plan(geo, rng)[1], strict=True))
    share = e_voucher / max(1, frame.height)
    rate = pl.col("township_code").replace_strict(levels, return_dtype=pl.Int64) * share / 100
    u = rng.unit(i, "e_voucher")
    late_end = window.end + dt.timedelta(days=59)
    activated_on = (
        pl.when(u < rate)
        .then(_date_in(rng, i, "e_voucher_day", window.start, window.end, "window", policy))
        .when(u < rate + E_VOUCHER_LATE)
        .then(_date_in(rng, i, "e_voucher_late", window.end + dt.timedelta(days=1), late_end, "uniform", policy))
    )
    table = (
        frame.filter(pl.col("died_on").is_null() & ~pl.col("newborn") & (pl.col("on_roster") | pl.col("pays")))
        .with_columns(activated_on=activated_on, _order=rng.bits(i, "e_voucher_order"))
        .filter(pl.col("activated_on").is_not_null())
        .sort(["activated_on", "_order"])
        .select(
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码"),
            _date_text(pl.col("activated_on")).alias("激活日期"),
            rng.pick(
                i, "e_voucher_channel", [c for c, _ in E_VOUCHER_CHANNELS], [w for _, w in E_VOUCHER_CHANNELS]
            ).alias("激活渠道"),
        )
    )
    _write_csv(table, out / "e_voucher_activations.csv")
    return table.height


def _collections(events: pl.DataFrame, out: Path) -> dict[str, int]:
    """Each collecting unit's list of the payments it collected (代收单位缴费清单), in payment order."""
    collected = events.filter(pl.col("channel").is_in(["collecting_unit", "school"])).select(
        pl.col("collecting_unit").alias("代收单位"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        yuan_text(pl.col("amount_fen")).alias("缴费金额(元)"),
        _date_text(pl.col("paid_on")).alias("缴费日期"),
        pl.col("txn_id").alias("交易流水号"),
    )
    rows: dict[str, int] = {}
    for unit in sorted(collected["代收单位"].unique().to_list()):
        part = collected.filter(pl.col("代收单位") == unit)
        path = f"collections/{unit}.csv"
        _write_csv(part, out / path)
        rows[path] = part.height
    return rows


def _write_payments(events: pl.DataFrame, out: Path) -> dict[str, int]:
    rows: dict[str, int] = {}
    directory = out / "payments"
    directory.mkdir(parents=True, exist_ok=True)
    columns = [pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()]
    for (day,), part in events.partition_by("paid_on", as_dict=True, maintain_order=True).items():
        path = f"payments/{day.isoformat()}.parquet"
        part.select(columns).write_parquet(out / path, compression="zstd", statistics=True)
        rows[path] = part.height
    return rows


# ---------------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Manifest:
    """What `build_county` wrote: ``data`` is manifest.json as a dict (see the module docstring)."""

    path: Path
    data: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def faults(self) -> dict[str, list[dict[str, Any]]]:
        faults: dict[str, list[dict[str, Any]]] = self.data["faults"]
        return faults

    @property
    def folders(self) -> list[Path]:
        """Where the county's lists, roster and payments are: the folder itself, or each of its parts."""
        return [self.directory / part["path"] for part in self.data.get("parts", [])] or [self.directory]

    @property
    def files(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.data["files"]
        return files

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / "manifest.json"
        return cls(path, json.loads(path.read_text(encoding="utf-8")))


def _prepare_out(out: Path) -> None:
    """Create DIR; a previous synth output in it is replaced, anything else refuses."""
    if out.exists() and not out.is_dir():
        raise InputError("--out", f"{out} 不是目录")
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").is_file():
            raise InputError("--out", f"目录 {out} 不为空，且不是 canbao synth 的输出（没有 manifest.json）")
        for name in OWN_DIRS:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for name in OWN_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


PART_SIZE = 1_100_000
"""A county larger than this is written in parts of at most this many persons (``parts/00`` …), each a
county folder of its own (its lists, roster, schools, payments, records and faults), so that neither the
generator nor a season run ever holds more than a part in memory; ``targets.xlsx`` stays whole."""


def build_county(
    county: str,
    persons: int,
    seed: int,
    out: Path,
    *,
    policy_id: str | None = None,
    last_policy_id: str | None = None,
    target: int | None = None,
    e_voucher_target: int | None = None,
    part_size: int = PART_SIZE,
) -> Manifest:
    """Write a synthetic county's campaign into `out` (see the module docstring) and return its manifest.

    `target` and `e_voucher_target` default to the notice's 1,100,000 and 171,250 scaled by
    persons / 1,100,000.  The policies default to :func:`choose_policies`.  Above `part_size` persons the
    county is written in parts (see :data:`PART_SIZE`).
    """
    if not (len(county) == 6 and county.isascii() and county.isdigit()) or county[:2] == "00":
        raise InputError("--county", f"县区代码 {county!r} 应为6位数字（GB/T 2260）")
    if persons < MIN_PERSONS:
        raise InputError("--persons", f"人数至少为 {MIN_PERSONS}")
    if part_size < MIN_PERSONS:
        raise InputError("--part-size", f"每片人数至少为 {MIN_PERSONS}")
    if policy_id is None:
        policy_id, chosen_last = choose_policies(county)
        last_policy_id = last_policy_id or chosen_last
    policy = load_policy(policy_id)
    if county not in policy.region.counties:
        raise InputError("--policy", f"政策 {policy_id} 不覆盖县区代码 {county}")
    if last_policy_id is not None and county not in load_policy(last_policy_id).region.counties:
        raise InputError("--last-policy", f"政策 {last_policy_id} 不覆盖县区代码 {county}")
    enrollment = target if target is not None else round(NOTICE_TARGET * persons / NOTICE_POPULATION)
    e_voucher = (
        e_voucher_target if e_voucher_target is not None else round(NOTICE_E_VOUCHER * persons / NOTICE_POPULATION)
    )
    _prepare_out(out)

    rng = _Rng(seed)
    geo = _geography(county, rng)
    ids = _IdSequences(rng)
    parts = -(-persons // part_size)
    head: dict[str, Any] = {
        "generator": "canbao synth",
        "format": 1,
        "seed": seed,
        "persons": persons,
        "county": {"code": county, "name": geo.county_name},
        "policy": policy_id,
        "last_policy": last_policy_id,
        "benefit_year": policy.benefit_year,
        "season": _season_dates(policy),
        "targets": {"enrollment": enrollment, "e_voucher": e_voucher},
    }
    if parts == 1:
        part = _write_part(out, geo, policy, last_policy_id, persons, rng, ids, 0, e_voucher)
        sheets = _targets(part.population, geo, rng, enrollment, e_voucher, out)
        files = _files(out, {**part.rows, "targets.xlsx": 0}, sheets)
        data = {**head, "counts": part.counts, "schools": _schools_of(geo), "files": files, "faults": part.faults}
        return _write_manifest(out, data)

    population = [0] * len(geo.villages)
    counts: dict[str, Any] = {}
    faults: dict[str, list[dict[str, Any]]] = {k: [] for k in FAULT_KINDS}
    listing: list[dict[str, Any]] = []
    serials = 0
    shares = _apportion(e_voucher, sizes := _apportion(persons, [1] * parts))
    for k, (n, share) in enumerate(zip(sizes, shares, strict=True)):
        where = f"parts/{k:02d}"
        part = _write_part(out / where, geo, policy, last_policy_id, n, _Rng(seed, k), ids, serials, share)
        serials = part.serials
        population = [a + b for a, b in zip(population, part.population, strict=True)]
        counts = _add_counts(counts, part.counts)
        for kind, entries in part.faults.items():
            for entry in entries:
                places = [{**place, "file": f"{where}/{place['file']}"} for place in entry["rows"]]
                faults[kind].append({**entry, "rows": places})
        part_data = {**head, "persons": n, "part": k, "targets": {"enrollment": None, "e_voucher": share},
                     "counts": part.counts, "schools": _schools_of(geo), "faults": part.faults,
                     "files": _files(out / where, part.rows, {})}  # fmt: skip
        _write_manifest(out / where, part_data)
        listing.append({"path": where, "persons": n})
    sheets = _targets(population, geo, rng, enrollment, e_voucher, out)
    data = {**head, "counts": counts, "schools": _schools_of(geo), "parts": listing,
            "files": _files(out, {"targets.xlsx": 0}, sheets), "faults": faults}  # fmt: skip
    return _write_manifest(out, data)


@dataclass(frozen=True)
class _Part:
    rows: dict[str, int]  # file → rows written
    counts: dict[str, Any]
    faults: dict[str, list[dict[str, Any]]]
    population: list[int]  # alive per village, for the targets
    serials: int  # the next transaction serial number


def _write_part(
    out: Path,
    geo: Geography,
    policy: Policy,
    last_policy_id: str | None,
    persons: int,
    rng: _Rng,
    ids: _IdSequences,
    serials: int,
    e_voucher: int,
) -> _Part:
    """Everything of a county (or of one part of it) but the targets."""
    out.mkdir(parents=True, exist_ok=True)
    faults = _Faults()
    frame = _season(_persons(persons, geo, policy, rng, ids), geo, policy, rng, faults)
    events, info = _events(frame, geo, policy.policy, rng, serials)
    frame = frame.select(KEPT_COLUMNS).with_columns(pays=pl.col("i").is_in(events["i"].implode()))

    rows: dict[str, int] = {}
    lists, per_category = _department_lists(frame, rng, faults, out, persons, policy)
    rows.update(lists)
    rows.update(_tax_and_bank(events, frame, policy, rng, faults, out, info["txn"]))
    roster = _roster(frame, geo.county, last_policy_id, out)
    rows["roster_2021.csv"] = roster.len()
    rows["deaths.csv"] = _deaths(frame, events, roster, faults, out).height
    rows["other_county_roster.csv"] = _other_county(geo.county, frame, events, policy, rng, faults, out).height
    rows.update(_schools(frame, geo, out))
    rows["population.parquet"] = _population(frame, geo, out)
    rows.update(_write_payments(events, out))
    rows["e_voucher_activations.csv"] = _e_voucher_activations(frame, geo, policy, rng, e_voucher, out)
    rows.update(_collections(events, out))

    on_roster = frame.filter(pl.col("on_roster"))
    counts: dict[str, Any] = {
        "households": frame["hh"].n_unique(),
        "townships": len(geo.townships),
        "villages": len(geo.villages),
        "schools": len(geo.schools),
        "newborns": int(frame["newborn"].sum()),
        "students": int((frame["residency"] == "student").sum()),
        "deaths": int(frame["died_on"].is_not_null().sum()),
        "roster": roster.len(),
        "payments": events.height,
        "renewed": int(on_roster["pays"].sum()),
        "not_renewed": int((~on_roster["pays"]).sum()),
        "new_enrollees": int(events.height - on_roster["pays"].sum()),
        "payments_by_situation": dict(events.group_by("situation").len().sort("situation").rows()),
        "payments_by_channel": dict(events.group_by("channel").len().sort("channel").rows()),
        "list_rows_by_category": {c: n for c, n in per_category.items() if n},
        "unquotable": info["unquotable"],
    }
    used = serials + events.height + _fault_count(persons, "tax_without_enrollment")
    return _Part(rows, counts, faults.entries, _village_population(frame, geo), used)


def _season_dates(policy: Policy) -> dict[str, Any]:
    window, period = policy.collection_window, policy.benefit_period
    return {
        "window": [window.start.isoformat(), window.end.isoformat()],
        "migrant_extension_end": policy.migrant_extension.end.isoformat() if policy.migrant_extension else None,
        "benefit_period": [period.start.isoformat(), period.end.isoformat()],
    }


def _schools_of(geo: Geography) -> list[dict[str, str]]:
    return [{"name": s.name, "township": s.township, "level": s.level} for s in geo.schools]


_SHARED_COUNTS = ("townships", "villages", "schools")  # the same in every part: not added up


def _add_counts(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """The counts of the parts added up (numbers added, dictionaries key by key; the places counted once)."""
    out = dict(total)
    for key, value in part.items():
        if key in _SHARED_COUNTS or key not in out:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _add_counts(out[key], value)
        elif isinstance(value, int):
            out[key] = out[key] + value
    return out


def _files(out: Path, rows: dict[str, int], sheets: dict[str, int]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    for path in sorted(rows):
        entry: dict[str, Any] = {"path": path}
        if path == "targets.xlsx":
            entry["sheets"] = sheets
        else:
            entry["rows"] = rows[path]
        entry["sha256"] = _sha256(out / path)
        files.append(entry)
    return files


def _write_manifest(out: Path, data: dict[str, Any]) -> Manifest:
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Manifest(manifest_path, data)
