"""Resident ID numbers (居民身份证号码) as defined by GB 11643-1999 «公民身份号码».

An 18-character citizen identity number is laid out as::

    AAAAAA YYYYMMDD SSS C
    ││││││ ││││││││ │││ └ check character, ISO 7064:1983 MOD 11-2 ('0'-'9' or 'X')
    ││││││ ││││││││ └┴┴── sequence code; the last of its digits is odd for men, even for women
    ││││││ └┴┴┴┴┴┴┴────── date of birth
    └┴┴┴┴┴─────────────── address code (administrative division, GB/T 2260)

The older 15-digit numbers (GB 11643-1989) have a two-digit year (always 19xx) and no check
character; they are converted to the 18-character form by inserting "19" and appending the check.

The scalar helpers are for tests, synthetic data and single values. The vectorized functions
build Polars expressions and never loop over rows in Python.

The check digit is computed without splitting the number into 17 single digits: since
13 ≡ 2 (mod 11), reading the 17 decimal digits as a base-13 numeral gives
V = Σ dᵢ·13^(17-i) ≡ Σ dᵢ·2^(17-i) (mod 11), and the standard weights are exactly
2^(18-i) mod 11, so the weighted sum is ≡ 2·V (mod 11). The largest V (seventeen 9s)
is below 2^63, so a single ``str.to_integer(base=13)`` does the work.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

__all__ = [
    "CHECK_CHARACTERS",
    "PROVINCE_CODES",
    "WEIGHTS",
    "check_digit",
    "check_digits",
    "convert_legacy_15",
    "make_id_number",
    "mask_id_number",
    "mask_id_numbers",
    "parse_id_numbers",
    "redact_id_numbers",
]

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""Weights of the first 17 digits, 2^(18-i) mod 11."""

CHECK_CHARACTERS = "10X98765432"
"""Check character indexed by (weighted sum mod 11)."""

PROVINCE_CODES: frozenset[str] = frozenset(
    [f"{n}" for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47))]
    + [f"{n}" for n in (*range(50, 55), *range(61, 66), 71, 81, 82)]
)
"""First two digits of the address code: provinces, autonomous regions, municipalities, SARs, Taiwan."""

_PROVINCE_NUMBERS: list[int] = sorted(int(code) for code in PROVINCE_CODES)

EARLIEST_BIRTH = dt.date(1890, 1, 1)

ERROR_EMPTY = "身份证号码为空"
ERROR_FORMAT = "身份证号码应为18位（或15位旧号码），前17位为数字，末位为数字或X"
ERROR_DIVISION = "身份证号码前6位行政区划代码无效"
ERROR_DATE = "身份证号码中的出生日期不是有效日期"
ERROR_FUTURE = "身份证号码中的出生日期晚于今天"
ERROR_TOO_OLD = "身份证号码中的出生日期早于1890年"
ERROR_CHECK_PREFIX = "身份证号码校验位错误，应为 "

_ERROR_MESSAGES: list[str] = [
    ERROR_EMPTY,
    ERROR_FORMAT,
    ERROR_DIVISION,
    ERROR_DATE,
    ERROR_FUTURE,
    ERROR_TOO_OLD,
    *(ERROR_CHECK_PREFIX + character for character in CHECK_CHARACTERS),
]

# [0-9], not \d: the Rust regex \d also matches non-ASCII digits such as full-width '１'.
_FORMAT_PATTERN = r"^(?:[0-9]{17}[0-9X]|[0-9]{15})$"


def _is_ascii_digits(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for the first 17 digits."""
    if not _is_ascii_digits(first17, 17):
        raise ValueError("the first part of an ID number must be exactly 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def make_id_number(division: str, birth: dt.date, sequence: int) -> str:
    """A well-formed 18-character number: 6-digit division, birth date, 3-digit sequence, check.

    The division code is not checked against the province list, so tests can build numbers
    that are invalid for that reason only.
    """
    if not _is_ascii_digits(division, 6):
        raise ValueError("the division code must be exactly 6 digits")
    if not 0 <= sequence <= 999:
        raise ValueError("the sequence code must be between 0 and 999")
    if birth.year < 1000:
        raise ValueError("the birth year must have four digits")
    first17 = f"{division}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return first17 + check_digit(first17)


def mask_id_number(id_number: str) -> str:
    """Keep the first 6 and last 4 characters and star the rest; shorter than 10: all stars."""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def convert_legacy_15(id15: str) -> str:
    """A 15-digit number (GB 11643-1989, births 19xx) in the 18-character form."""
    if not _is_ascii_digits(id15, 15):
        raise ValueError("a legacy ID number must be exactly 15 digits")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + check_digit(first17)


def _weighted_sum_mod_11(first17: pl.Expr) -> pl.Expr:
    # Base-13 reading of the digits; see the module docstring. Null when unparsable. The letters
    # A-C (base-13 digits) must be excluded by the caller's format check.
    value = first17.str.to_integer(base=13, strict=False)
    return (value % 11) * 2 % 11


def _lookup(values: list[str], index: pl.Expr) -> pl.Expr:
    """values[index], null where index is null."""
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(index)


def _check_characters(first17: pl.Expr) -> pl.Expr:
    return _lookup(list(CHECK_CHARACTERS), _weighted_sum_mod_11(first17))


def check_digits(first17: pl.Expr) -> pl.Expr:
    """Vectorized :func:`check_digit`: the check character, null unless exactly 17 ASCII digits."""
    valid = first17.str.contains(r"^[0-9]{17}$")
    name = first17.meta.output_name(raise_if_undetermined=False) or "check_digit"
    return pl.when(valid).then(_check_characters(first17)).otherwise(pl.lit(None, dtype=pl.String)).alias(name)


def mask_id_numbers(ids: pl.Expr) -> pl.Expr:
    """Vectorized :func:`mask_id_number`; nulls stay null."""
    text = ids.cast(pl.String)
    # Signed: `len_chars` is unsigned, and `length - 10` would wrap for a short value (to ~4e9 stars).
    length = text.str.len_chars().cast(pl.Int64)
    keep = length >= 10
    stars = pl.when(keep).then(length - 10).otherwise(length).clip(lower_bound=0)
    return pl.concat_str(
        [
            text.str.head(pl.when(keep).then(6).otherwise(0)),
            pl.lit("").str.pad_start(stars, "*"),
            text.str.tail(pl.when(keep).then(4).otherwise(0)),
        ]
    ).alias(ids.meta.output_name(raise_if_undetermined=False) or "id_number")


# A run of 18 (17 digits and a check character) or 15 digits, not part of a longer number: what an ID number
# looks like in free text (full-width digits too). A letter beside it does not protect it.
_ID_IN_TEXT = re.compile(r"(?<![0-9０-９])(?:[0-9０-９]{17}[0-9Xx０-９Ｘｘ]|[0-9０-９]{15})(?![0-9０-９])")


def redact_id_numbers(text: str) -> str:
    """`text` with every ID-number-like run masked: the last line of defence for messages, logs and audit."""
    return _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group()), text)


def parse_id_numbers(ids: pl.Expr, today: dt.date) -> pl.Expr:
    """Validate and decode ID numbers; a struct expression with one row per input value.

    Fields:

    - ``id_number`` (String): the normalized 18-character number (whitespace stripped,
      upper-case X, 15-digit numbers converted); null when invalid.
    - ``birth_date`` (Date), ``sex`` ('male' / 'female'), ``division`` (first 6 digits):
      null when invalid.
    - ``id_error`` (String): null when valid, otherwise one Chinese sentence naming the first
      problem found. It never contains the number itself.

    ``ids`` must be a single column. Non-string input (e.g. integers read from a spreadsheet)
    is cast to text first. The struct takes the input's output name (``"id_number"`` if that
    cannot be determined); use ``.alias`` or ``.struct.unnest()``.

    Intermediate values are bound once as struct fields (``struct.with_fields`` and
    ``struct.eval``), so an eager ``DataFrame.select``, which does not eliminate common
    subexpressions, still computes each step a single time.
    """
    f = pl.field
    raw = ids.cast(pl.String)
    steps = (
        pl.struct(raw.str.strip_chars().str.to_uppercase().alias("s"))
        .struct.with_fields(length=f("s").str.len_bytes())
        .struct.with_fields(
            well_formed=f("s").str.contains(_FORMAT_PATTERN),
            first17=pl.when(f("length") == 15)
            .then(pl.concat_str([f("s").str.head(6), pl.lit("19"), f("s").str.slice(6, 9)]))
            .otherwise(f("s").str.head(17)),
        )
        .struct.with_fields(
            # The 17 digits as one decimal integer (below 10^17, fits Int64); null if not digits.
            digits=f("first17").cast(pl.Int64, strict=False),
            birth=f("first17").str.slice(6, 8).str.to_date("%Y%m%d", strict=False, cache=False),
            remainder=_weighted_sum_mod_11(f("first17")),
        )
        .struct.with_fields(expected=_lookup(list(CHECK_CHARACTERS), f("remainder")))
        .struct.with_fields(
            # An index into _ERROR_MESSAGES, null when valid: integers are much cheaper than
            # a chain of string columns.
            error_code=pl.when(f("s").is_null() | (f("length") == 0))
            .then(0)
            .when(~f("well_formed"))
            .then(1)
            .when(~(f("digits") // 10**15).is_in(_PROVINCE_NUMBERS))
            .then(2)
            .when(f("birth").is_null())
            .then(3)
            .when(f("birth") > pl.lit(today, dtype=pl.Date))
            .then(4)
            .when(f("birth") < pl.lit(EARLIEST_BIRTH, dtype=pl.Date))
            .then(5)
            .when((f("length") == 18) & ~f("s").str.ends_with(f("expected")))
            .then(6 + f("remainder"))
            .otherwise(None),
        )
    )
    ok = f("error_code").is_null()
    name = ids.meta.output_name(raise_if_undetermined=False) or "id_number"
    return steps.struct.eval(
        id_number=pl.when(ok).then(
            pl.when(f("length") == 15).then(pl.concat_str([f("first17"), f("expected")])).otherwise(f("s"))
        ),
        birth_date=pl.when(ok).then(f("birth")),
        # The 17th digit is the last digit of `digits`: odd for men, even for women.
        sex=pl.when(ok).then(pl.when(f("digits") % 2 == 1).then(pl.lit("male")).otherwise(pl.lit("female"))),
        division=pl.when(ok).then(f("s").str.head(6)),
        id_error=_lookup(_ERROR_MESSAGES, f("error_code")),
    ).alias(name)
