"""Reconciliation (对账): the insurance agency's registry, the tax bureau's collection records, the bank's
pending-settlement account statement and the collecting units' lists, matched transaction by transaction and
person by person (000 五, 004 六: 账账相符、账款相符、钱人一致).

Every record is keyed by its channel transaction id (交易流水号), the one number all four carry.  A
transaction is in scope when any record of it is dated on or before the reconciliation date; the records are
then compared wherever they are dated, so a payment recorded on 12-31 by one side and 01-01 by the other is
not a difference.  Each difference is one row of `Reconciliation.findings`, with a kind:

- ``money_without_person`` 有款无人: tax, bank or collecting-unit money for a transaction the registry has
  no enrollment for;
- ``person_without_money`` 有人无款: an enrollment whose payment the tax bureau did not record, a tax record
  whose money never reached the bank, or a collecting-unit payment missing from the unit's list;
- ``amount_mismatch`` 金额不符: the same transaction with different amounts;
- ``person_mismatch`` 人员不符: the same transaction under different ID numbers;
- ``counted_twice`` 重复计数: a transaction twice in one file, or a person who already paid paying again;
- ``daily_total`` 日合计不符: the bank's and the tax bureau's totals of one day differ (the transactions
  above that explain the difference are named, and what they do not explain is shown);
- ``two_places`` 重复参保: a person enrolled here and on another county's roster for the same year.

The three tests hold when no finding breaks them: 账账相符 (registry, tax and collecting units agree),
账款相符 (the tax records agree with the money in the bank), 钱人一致 (every payment belongs to exactly one
enrolled person, and every enrolled person's payment is there).

The package, along its seams:

- ``model``: the kinds, tests and sources, the frames' schemas and :class:`Reconciliation`;
- ``files``: :func:`read_records` / :func:`read_many` read the files (layouts in docs/file-layouts.md);
- ``matching``: :func:`reconcile`, pure Polars over frames (no database);
- ``registry``: :func:`load_registry` reads the registry's side, :func:`list_findings` the lists' checks;
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
)
from canbao.services.reconcile.matching import reconcile
from canbao.services.reconcile.model import (
    COLLECTED_CHANNELS,
    FINDING_SCHEMA,
    KIND_LABELS,
    LIST_KIND_LABELS,
    REGISTRY_SCHEMA,
    SOURCE_LABELS,
    TEST_LABELS,
    Reconciliation,
)
from canbao.services.reconcile.registry import (
    latest_benefit_year,
    list_findings,
    load_registry,
    policy_of_year,
    with_places,
)
from canbao.services.reconcile.run import STEPS, ReconciliationRun, run_reconciliation
from canbao.services.reconcile.workbook import write_reconciliation

__all__ = [
    "COLLECTED_CHANNELS",
    "ERRORS_SHOWN",
    "FIELD_WORDS",
    "FINDING_SCHEMA",
    "KIND_LABELS",
    "LAYOUTS",
    "LIST_KIND_LABELS",
    "REGISTRY_SCHEMA",
    "SOURCE_LABELS",
    "STEPS",
    "TEST_LABELS",
    "Layout",
    "Reconciliation",
    "ReconciliationRun",
    "latest_benefit_year",
    "list_findings",
    "load_registry",
    "policy_of_year",
    "read_many",
    "read_other_counties",
    "read_records",
    "reconcile",
    "run_reconciliation",
    "with_places",
    "write_reconciliation",
]
