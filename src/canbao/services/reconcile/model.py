"""The reconciliation's vocabulary and frames: kinds of difference, the three tests, the sources, the
registry's side (REGISTRY_SCHEMA), a finding (FINDING_SCHEMA) and the result (:class:`Reconciliation`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

KIND_LABELS: dict[str, str] = {
    "money_without_person": "有款无人",
    "person_without_money": "有人无款",
    "amount_mismatch": "金额不符",
    "person_mismatch": "人员不符",
    "counted_twice": "重复计数",
    "refund_unmatched": "退费无对应",
    "other_channel": "渠道不符",
    "unknown_unit": "代收单位不符",
    "in_transit": "在途",
    "daily_total": "日合计不符",
    "two_places": "重复参保",
}
TEST_LABELS: dict[str, str] = {"ledgers_agree": "账账相符", "money_agrees": "账款相符", "persons_agree": "钱人一致"}
SOURCE_LABELS: dict[str, str] = {
    "registry": "医保参保登记",
    "tax": "税务征收明细",
    "bank": "银行待报解账户流水",
    "collecting_unit": "代收单位清单",
    "other_county": "外县参保名册",
}
COLLECTED_CHANNELS = ("collecting_unit", "school")  # the channels whose units hand in lists (000 四(一))

# How many calendar days the bank may book a payment after (or before) the tax bureau's date before the
# difference breaks 账款相符.  No notice gives a number (000 五 and 004 六 ask only that the accounts agree), so it
# is a parameter of the reconciliation, not a policy value: 3 days covers a payment made on a Friday evening
# and booked on Monday.  Give more around a long holiday (国庆, 春节).
CLEARING_DAYS = 3

LIST_KIND_LABELS: dict[str, str] = {
    "list_rejected": "名单退回行",
    "list_duplicate": "名单重复行",
    "dual_identity": "双重（多重）身份",
}


REGISTRY_SCHEMA: dict[str, pl.DataType] = {
    "txn_id": pl.String(),
    "amount_fen": pl.Int64(),
    "enrollment_id": pl.Int64(),
    "person_id": pl.Int64(),
    "paid_on": pl.Date(),
    "live": pl.Boolean(),
    "id_number": pl.String(),
    "collected_by": pl.String(),  # the collecting unit, for payments through a unit or a school (else null)
    "channel": pl.String(),  # the ledger's channel (online, collecting_unit, school, bank_debit); may be null
    "name": pl.String(),  # name, township and village may be left null: see with_places
    "township": pl.String(),
    "village": pl.String(),
}


# The registry's refunds of the benefit year (ledger entries of kind refund, corrections included), one row per
# enrollment: what a refund line (a negative amount) of the tax bureau is matched with, by person.
REFUND_SCHEMA: dict[str, pl.DataType] = {
    "enrollment_id": pl.Int64(),
    "id_number": pl.String(),
    "refund_fen": pl.Int64(),  # positive: the money that goes back to the person
    "refunded_on": pl.Date(),  # the enrollment's end (the refund's request date)
}


@dataclass(frozen=True)
class Reconciliation:
    as_of: dt.date
    findings: pl.DataFrame  # one row per difference (FINDING_SCHEMA)
    daily: pl.DataFrame  # paid_on, tax_fen, bank_fen, difference_fen, in_transit_fen, explained_by
    counts: dict[str, int]  # records compared per source
    tests: dict[str, bool]  # ledgers_agree, money_agrees, persons_agree

    def by_kind(self) -> dict[str, int]:
        counts = dict(self.findings.group_by("kind").len().rows())
        return {k: int(counts.get(k, 0)) for k in KIND_LABELS}


FINDING_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "txn_id": pl.String(),
    "id_number": pl.String(),
    "name": pl.String(),
    "township": pl.String(),
    "village": pl.String(),
    "paid_on": pl.Date(),
    "registry_fen": pl.Int64(),
    "tax_fen": pl.Int64(),
    "bank_fen": pl.Int64(),
    "unit_fen": pl.Int64(),
    "detail": pl.String(),
    "where": pl.String(),
    "ledgers_agree": pl.Boolean(),
    "money_agrees": pl.Boolean(),
    "persons_agree": pl.Boolean(),
}
