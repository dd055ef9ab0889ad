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

from canbao.synth.county import PART_SIZE, build_county
from canbao.synth.manifest import Manifest
from canbao.synth.policies import choose_policies
from canbao.synth.tables import CATEGORY_WORDS, COUNTY_NAMES, EVENT_COLUMNS, FAULT_KINDS, LINGBI, MIN_PERSONS

__all__ = [
    "CATEGORY_WORDS",
    "COUNTY_NAMES",
    "EVENT_COLUMNS",
    "FAULT_KINDS",
    "LINGBI",
    "MIN_PERSONS",
    "PART_SIZE",
    "Manifest",
    "build_county",
    "choose_policies",
]
