"""Reconciliation (对账): the insurance agency's registry, the tax bureau's collection records, the bank's
pending-settlement account statement and the collecting units' lists, matched transaction by transaction and
person by person (000 五, 004 六: 账账相符、账款相符、钱人一致).

Every record is keyed by its channel transaction id (交易流水号), the one number all four carry.  A
transaction is in scope when any record of it is dated on or before the reconciliation date; the records are
then compared wherever they are dated.  A payment the bank books on another day than the tax bureau (12-31 and
01-01) is in transit (在途): it breaks 账款相符 only when the days between exceed the clearing window
(``clearing_days``, default CLEARING_DAYS = 3: no notice gives a number).  A refund line (a negative amount,
退费) is its own transaction and is matched with the registry's refund of its person.  Each difference is
one row of `Reconciliation.findings`, with a kind:

- ``money_without_person`` 有款无人: tax, bank or collecting-unit money for a transaction the registry has
  no enrollment for;
- ``person_without_money`` 有人无款: an enrollment whose payment the tax bureau did not record, a tax record
  whose money never reached the bank, or a collecting-unit payment missing from the unit's list;
- ``amount_mismatch`` 金额不符: the same transaction with different amounts, or a refund line whose amount is
  not the registry's refund;
- ``person_mismatch`` 人员不符: the same transaction under different ID numbers;
- ``counted_twice`` 重复计数: a transaction twice in one file, a person who already paid paying again, or a
  second refund line for one refund;
- ``refund_unmatched`` 退费无对应: a refund line of the tax bureau with no refund of its person in the
  registry, a bank refund with no tax refund line, or a tax refund the bank has not paid out in time;
- ``other_channel`` 渠道不符: a collecting unit listing a payment the registry has through another channel
  (online, a bank debit) or another unit;
- ``unknown_unit`` 代收单位不符: a collecting unit's list whose 代收单位 is no unit of the registry (give an
  alias: ``unit_aliases``); its rows are still compared by transaction;
- ``in_transit`` 在途: tax and bank on different days, or a tax record not yet booked by the bank (breaks
  账款相符 only beyond the clearing window);
- ``daily_total`` 日合计不符: the bank's and the tax bureau's totals of one day differ by more than its money
  in transit (the transactions above that explain the difference are named, and what they do not explain is
  shown);
- ``two_places`` 重复参保: a person enrolled here and on another county's roster for the same year.

The three tests hold when no finding breaks them: 账账相符 (registry, tax and collecting units agree),
账款相符 (the tax records agree with the money in the bank), 钱人一致 (every payment belongs to exactly one
enrolled person, and every enrolled person's payment is there).

The package, along its seams:

- ``model``: the kinds, tests and sources, the frames' schemas and :class:`Reconciliation`;
- ``files``: :func:`read_records` / :func:`read_many` read the files (layouts in docs/file-layouts.md);
- ``matching``: :func:`reconcile`, pure Polars over frames (no database), with ``checks`` (repeats, unit
  names, day totals, other counties);
- ``registry``: :func:`load_registry` and :func:`load_refunds` read the registry's side, :func:`list_findings`
  the lists' checks;
- ``workbook``: :func:`write_reconciliation`, the clerk's workbook;
- ``run``: :func:`run_reconciliation`, the use case (files, registry, matching, workbook).
"""

from canbao.services.reconcile.files import (
    ERRORS_SHOWN,
    FIELD_WORDS,
    LAYOUTS,
    Layout,
    read_many,
    read_other_counties,
    read_records,
    read_unit_aliases,
)
from canbao.services.reconcile.matching import reconcile
from canbao.services.reconcile.model import (
    CLEARING_DAYS,
    COLLECTED_CHANNELS,
    FINDING_SCHEMA,
    KIND_LABELS,
    LIST_KIND_LABELS,
    REFUND_SCHEMA,
    REGISTRY_SCHEMA,
    SOURCE_LABELS,
    TEST_LABELS,
    Reconciliation,
)
from canbao.services.reconcile.registry import (
    latest_benefit_year,
    list_findings,
    load_refunds,
    load_registry,
    policies_of_year,
    policy_of_year,
    with_places,
)
from canbao.services.reconcile.run import STEPS, ReconciliationRun, run_reconciliation
from canbao.services.reconcile.workbook import write_reconciliation

__all__ = [
    "CLEARING_DAYS",
    "COLLECTED_CHANNELS",
    "ERRORS_SHOWN",
    "FIELD_WORDS",
    "FINDING_SCHEMA",
    "KIND_LABELS",
    "LAYOUTS",
    "LIST_KIND_LABELS",
    "REFUND_SCHEMA",
    "REGISTRY_SCHEMA",
    "SOURCE_LABELS",
    "STEPS",
    "TEST_LABELS",
    "Layout",
    "Reconciliation",
    "ReconciliationRun",
    "latest_benefit_year",
    "list_findings",
    "load_refunds",
    "load_registry",
    "policies_of_year",
    "policy_of_year",
    "read_many",
    "read_other_counties",
    "read_records",
    "read_unit_aliases",
    "reconcile",
    "run_reconciliation",
    "with_places",
    "write_reconciliation",
]
