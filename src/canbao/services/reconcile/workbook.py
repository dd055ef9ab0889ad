"""The clerk's workbook of a reconciliation."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from canbao.money import yuan_text
from canbao.reports import write_workbook
from canbao.services.reconcile.model import KIND_LABELS, LIST_KIND_LABELS, SOURCE_LABELS, TEST_LABELS, Reconciliation

# ---------------------------------------------------------------------------------------------------- workbook


def _finding_sheet(findings: pl.DataFrame) -> pl.DataFrame:
    return findings.select(
        pl.col("kind").replace_strict(KIND_LABELS, default=pl.col("kind")).alias("差异类型"),
        pl.col("paid_on").dt.to_string("%Y-%m-%d").alias("日期"),
        pl.col("txn_id").alias("交易流水号"),
        pl.col("name").alias("姓名"),
        pl.col("id_number").alias("身份证号码"),
        pl.col("township").alias("乡镇"),
        pl.col("village").alias("村（社区）"),
        yuan_text(pl.col("registry_fen")).alias("医保登记金额（元）"),
        yuan_text(pl.col("tax_fen")).alias("税务金额（元）"),
        yuan_text(pl.col("bank_fen")).alias("银行金额（元）"),
        yuan_text(pl.col("unit_fen")).alias("代收单位金额（元）"),
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
    day-by-day bank/tax totals, and the list checks; an empty sheet says the check found nothing."""
    summary = pl.DataFrame(
        {
            "项目": [f"{label}" for label in TEST_LABELS.values()]
            + [f"差异：{label}" for label in KIND_LABELS.values()]
            + [f"比对记录数：{SOURCE_LABELS[s]}" for s in result.counts],
            "结果": ["相符" if result.tests[t] else "不相符" for t in TEST_LABELS]
            + [str(n) for n in result.by_kind().values()]
            + [str(n) for n in result.counts.values()],
        }
    )
    summary = pl.concat([pl.DataFrame({"项目": ["对账截止日期"], "结果": [result.as_of.isoformat()]}), summary])
    sheets: dict[str, pl.DataFrame] = {"汇总": summary}
    for kind, label in KIND_LABELS.items():
        if kind != "daily_total":
            sheets[label] = _finding_sheet(result.findings.filter(pl.col("kind") == kind))
    sheets["银行税务日对账"] = result.daily.select(
        pl.col("paid_on").dt.to_string("%Y-%m-%d").alias("日期"),
        yuan_text(pl.col("tax_fen")).alias("税务合计（元）"),
        yuan_text(pl.col("bank_fen")).alias("银行合计（元）"),
        yuan_text(pl.col("difference_fen")).alias("差额（元）"),
        pl.col("explained_by").alias("银行与税务不一致的交易流水号"),
        pl.when(pl.col("difference_fen") == 0).then(pl.lit("相符")).otherwise(pl.lit("不相符")).alias("结果"),
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
    return write_workbook(path, sheets | (extra or {}))
