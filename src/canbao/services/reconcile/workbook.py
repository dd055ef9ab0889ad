"""The clerk's workbook of a reconciliation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from canbao.money import yuan_decimal
from canbao.reports.xlsx import NumberKind, write_workbook
from canbao.services.reconcile.model import KIND_LABELS, LIST_KIND_LABELS, SOURCE_LABELS, TEST_LABELS, Reconciliation

# ---------------------------------------------------------------------------------------------------- workbook


def _numbers(sheets: Mapping[str, pl.DataFrame]) -> dict[str, NumberKind]:
    """Every sheet's amounts (decimal yuan) and counts (integers) as numeric cells (reports.write_workbook)."""
    kinds: dict[str, NumberKind] = {}
    for frame in sheets.values():
        for column, dtype in frame.schema.items():
            if isinstance(dtype, pl.Decimal):
                kinds[column] = "yuan"
            elif dtype.is_integer():
                kinds.setdefault(column, "count")
    return kinds


def _write(path: Path, sheets: Mapping[str, pl.DataFrame]) -> Path:
    return write_workbook(path, sheets, numbers=_numbers(sheets))


def _finding_sheet(findings: pl.DataFrame) -> pl.DataFrame:
    return findings.select(
        pl.col("kind").replace_strict(KIND_LABELS, default=pl.col("kind")).alias("差异类型"),
        pl.col("paid_on").dt.to_string("%Y-%m-%d").alias("日期"),
        pl.col("txn_id").alias("交易流水号"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        pl.col("township").alias("乡镇"),
        pl.col("village").alias("村（社区）"),
        yuan_decimal(pl.col("registry_fen")).alias("医保登记金额（元）"),
        yuan_decimal(pl.col("tax_fen")).alias("税务金额（元）"),
        yuan_decimal(pl.col("bank_fen")).alias("银行金额（元）"),
        yuan_decimal(pl.col("unit_fen")).alias("代收单位金额（元）"),
        pl.col("detail").alias("说明"),
        pl.col("where").alias("所在记录"),
        pl.lit("").alias("核实结果"),
    )


def write_reconciliation(
    path: Path,
    result: Reconciliation,
    lists: pl.DataFrame | None = None,
    extra: dict[str, pl.DataFrame] | None = None,
) -> Path:
    """The clerk's workbook: 汇总 first (the three tests, counts), then one sheet per kind of difference, the
    day-by-day bank/tax totals, and the list checks; an empty sheet says the check found nothing.  Amounts
    (元) and counts are numeric cells with a number format."""
    items = (
        [("对账截止日期", result.as_of.isoformat(), None)]
        + [(label, "相符" if result.tests[t] else "不相符", None) for t, label in TEST_LABELS.items()]
        + [(f"差异：{KIND_LABELS[k]}", None, n) for k, n in result.by_kind().items()]
        + [(f"比对记录数：{SOURCE_LABELS[s]}", None, n) for s, n in result.counts.items()]
    )
    summary = pl.DataFrame(items, schema={"项目": pl.String, "结果": pl.String, "数量": pl.Int64}, orient="row")
    sheets: dict[str, pl.DataFrame] = {"汇总": summary}
    for kind, label in KIND_LABELS.items():
        if kind != "daily_total":
            sheets[label] = _finding_sheet(result.findings.filter(pl.col("kind") == kind))
    sheets["银行税务日对账"] = result.daily.select(
        pl.col("paid_on").dt.to_string("%Y-%m-%d").alias("日期"),
        yuan_decimal(pl.col("tax_fen")).alias("税务合计（元）"),
        yuan_decimal(pl.col("bank_fen")).alias("银行合计（元）"),
        yuan_decimal(pl.col("difference_fen")).alias("差额（元）"),
        yuan_decimal(pl.col("in_transit_fen")).alias("其中在途（元）"),
        pl.col("explained_by").alias("银行与税务不一致的交易流水号"),
        pl.when(pl.col("difference_fen") == 0)
        .then(pl.lit("相符"))
        .when(pl.col("difference_fen") == pl.col("in_transit_fen"))
        .then(pl.lit("在途"))
        .otherwise(pl.lit("不相符"))
        .alias("结果"),
    )
    if lists is not None:
        sheets["名单核查"] = lists.select(
            pl.col("kind").replace_strict(LIST_KIND_LABELS, default=pl.col("kind")).alias("类型"),
            pl.col("file").alias("文件"),
            pl.col("row").alias("行号"),
            pl.col("name").alias("姓名"),
            pl.col("id_number").alias("身份证号码（原文）"),
            pl.col("detail").alias("说明"),
        )
    return _write(path, sheets | (extra or {}))
