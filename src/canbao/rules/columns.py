"""The frame of persons the rules read, and the column names every rule shares.

Input columns (one row per person and payment), as in the CLI contract and the glossary:
id_number, name, county, residency, categories (list), employee_insurance_active, employee_insurance_years,
employee_insurance_gap_months, lapsed_years, repaid_years, household_role, situation, paid_on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import polars as pl

INPUT_SCHEMA: dict[str, pl.DataType] = {
    "id_number": pl.String(),
    "name": pl.String(),
    "county": pl.String(),
    "residency": pl.String(),
    "categories": pl.List(pl.String()),
    "employee_insurance_active": pl.Boolean(),
    "employee_insurance_years": pl.Int32(),
    "employee_insurance_gap_months": pl.Int32(),
    "lapsed_years": pl.Int32(),
    "repaid_years": pl.Int32(),
    "household_role": pl.String(),
    "situation": pl.String(),
    "paid_on": pl.Date(),
}

# Optional input columns and the value a missing one takes.
DEFAULTS: dict[str, object] = {
    "name": None,
    "categories": [],
    "employee_insurance_active": False,
    "employee_insurance_years": None,
    "employee_insurance_gap_months": None,
    "lapsed_years": 0,
    "repaid_years": 0,
    "household_role": None,
}


def input_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows of the input contract (as `canbao.quote.application_row` gives them) as a frame typed by
    INPUT_SCHEMA; further keys (a payment's channel, amount …) become columns of their own."""
    schema = {k: v for k, v in INPUT_SCHEMA.items() if k in rows[0]}
    extra = {k: v for k, v in rows[0].items() if k not in INPUT_SCHEMA}
    frame = pl.DataFrame([{k: r[k] for k in schema} for r in rows], schema=schema)
    if extra:
        frame = frame.with_columns(pl.Series(k, [r[k] for r in rows]) for k in extra)
    return frame


REQUIRED = ("id_number", "county", "residency", "situation", "paid_on")

paid_on = pl.col("paid_on")
birth_date = pl.col("birth_date")
situation = pl.col("situation")
categories = pl.col("categories")


_TRUE = ["true", "1", "yes", "y", "是", "t"]
_FALSE = ["false", "0", "no", "n", "否", "f", ""]


def _from_text(col: str, dtype: pl.DataType) -> pl.Expr:
    """Parse a text column (as read from CSV) into its type; unparseable values become null."""
    text = pl.col(col).str.strip_chars()
    if col == "categories":
        return (
            text.fill_null("")
            .str.replace_all(r"[,，;；\s]+", ";")
            .str.strip_chars(";")
            .str.split(";")
            .list.filter(pl.element() != "")
        )
    if dtype == pl.Date():
        return text.str.to_date("%Y-%m-%d", strict=False)
    if dtype == pl.Boolean():
        lower = text.str.to_lowercase()
        return pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False)
    if dtype == pl.String():
        return pl.when(text != "").then(text)
    return text.cast(dtype, strict=False)


def prepare(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Add missing optional columns and cast every input column to its type.

    Text columns (as read from CSV) are parsed: categories split on ';' or ',', dates as YYYY-MM-DD.  A value
    that does not parse is named in `_bad_input` (the first such column) so that its row is refused.  Absent
    required columns are added as nulls so that each row is refused with its own message.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    exprs: list[pl.Expr] = []
    bad: list[pl.Expr] = []
    for col, dtype in INPUT_SCHEMA.items():
        if col not in schema:
            exprs.append(pl.lit(DEFAULTS.get(col), dtype=dtype).alias(col))
        elif schema[col] == pl.String() and dtype != pl.String():
            parsed = _from_text(col, dtype)
            exprs.append(parsed.alias(col))
            given = pl.col(col).str.strip_chars().fill_null("") != ""
            bad.append(pl.when(given & parsed.is_null()).then(pl.lit(col)))
        elif schema[col] == pl.String():
            exprs.append(_from_text(col, dtype).alias(col))
        else:
            exprs.append(pl.col(col).cast(dtype, strict=False).alias(col))
    bad_input = pl.coalesce(bad) if bad else pl.lit(None, dtype=pl.String)
    lf = lf.with_columns(bad_input.alias("_bad_input")).with_columns(exprs)
    return lf.with_columns(
        pl.col("categories").fill_null(pl.lit([], dtype=pl.List(pl.String()))),
        pl.col("employee_insurance_active").fill_null(False),
        pl.col("lapsed_years").fill_null(0),
        pl.col("repaid_years").fill_null(0),
    )


def age_on(reference: dt.date) -> pl.Expr:
    """Whole years of age on `reference` (周岁)."""
    before_birthday = (reference.month * 100 + reference.day) < (
        birth_date.dt.month().cast(pl.Int32) * 100 + birth_date.dt.day().cast(pl.Int32)
    )
    return pl.lit(reference.year) - birth_date.dt.year().cast(pl.Int32) - before_birthday.cast(pl.Int32)


def first_match(pairs: list[tuple[pl.Expr, pl.Expr]], otherwise: pl.Expr | None = None) -> pl.Expr:
    """`when c1 then v1 when c2 then v2 ... otherwise`: the value of the first condition that holds."""
    if not pairs:
        return otherwise if otherwise is not None else pl.lit(None)
    chain: Any = pl
    for condition, value in pairs:
        chain = chain.when(condition).then(value)
    return cast(pl.Expr, chain.otherwise(otherwise if otherwise is not None else pl.lit(None)))


# A name a spreadsheet would take for a formula (OWASP's leading characters, canbao.outputs) or that holds
# a tab, a line break or another control character is not a person's name: refused wherever a name comes in.
_NAME_SHOWN = 20  # characters of a refused name repeated in its message


def not_a_name(name: pl.Expr) -> pl.Expr:
    """True where `name` cannot be a person's name: it begins (after spaces) with = + - @, or holds a control
    character (tab, CR, LF, …)."""
    return name.str.contains(r"^\s*[=+\-@]|\p{Cc}")  # one pass over the column


def not_a_name_message(name: pl.Expr) -> pl.Expr:
    """Why: 姓名“…”不像人名（…）, the name shown with its control characters as � and cut to 20 characters; the
    message itself begins with 姓名, so it cannot act as a formula wherever it is written."""
    shown = name.str.replace_all(r"\p{Cc}", "�")
    shown = pl.when(shown.str.len_chars() > _NAME_SHOWN).then(shown.str.slice(0, _NAME_SHOWN) + "…").otherwise(shown)
    return pl.concat_str([pl.lit("姓名“"), shown, pl.lit("”不像人名（不能以 = + - @ 开头，不能含制表符或控制字符）")])
