"""Quote a whole population from CSV or Parquet, rejects to their own file (`canbao quote-batch`)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import polars as pl

from canbao.errors import InputError
from canbao.outputs import atomic_outputs, csv_safe
from canbao.policy import load_policy
from canbao.rules.engine import quote_frame
from canbao.services.payment_batch import id_check_day
from canbao.tabular.textfiles import CONTROL, csv_bytes, read_csv_text

CHUNK_ROWS = 250_000


def read_persons(path: Path, option: str = "input") -> pl.DataFrame:
    """Persons from CSV (every column read as text, parsed by the engine; see canbao.tabular.textfiles) or
    Parquet. A refusal names the field `option`, the file and, where it can, the row and column."""
    if not path.is_file():
        raise InputError(option, f"文件不存在：{path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(option, f"只支持 .csv 或 .parquet 文件：{path.name}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(option, f"无法读取文件 {path.name}：{exc.strerror}") from None
    if suffix == ".csv":
        frame = read_csv_text(csv_bytes(data, path.name, option), path.name, option)
        return frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError, ValueError):
        raise InputError(option, f"文件 {path.name} 不是有效的 Parquet 文件") from None
    for name, dtype in frame.schema.items():  # one value a cell, as in a CSV file; categories may be a list
        scalar = not dtype.is_nested() and dtype not in (pl.Binary, pl.Object)
        if not (scalar or (name == "categories" and dtype == pl.List(pl.String))):
            raise InputError(option, f"文件 {path.name} 的“{CONTROL.sub('?', name)}”列是 {dtype} 类型，应为文本或数字")
    for name in frame.columns:  # as CSV files are checked while decoded (PostgreSQL text cannot hold NUL)
        if CONTROL.search(name):
            raise InputError(option, f"文件 {path.name} 的列名“{CONTROL.sub('?', name)}”含有控制字符")
        if frame.schema[name] == pl.String:
            bad = frame[name].str.contains(CONTROL.pattern)
            if bad.any():
                row = int(bad.arg_max() or 0) + 1
                raise InputError(option, f"文件 {path.name} 第 {row} 行“{name}”列含有控制字符（如 NUL），请删除")
    return frame


ProgressHook = Callable[[str, int, int], None]  # (phase, done, total)


def run(
    policy_id: str,
    source: Path,
    output: Path,
    rejects: Path | None = None,
    progress: ProgressHook | None = None,
    today: dt.date | None = None,
) -> str:
    """Quote every row of `source` into `output` (Parquet) and the refused rows into `rejects` (default
    `<output stem>.rejects.csv`); `progress("测算", done, total)` after each chunk. Returns the summary."""
    policy = load_policy(policy_id)  # an unknown policy is refused before any work
    day = id_check_day(policy, today)
    persons = read_persons(source).with_row_index("source_row", offset=1)
    rejects = rejects or output.with_name(output.stem + ".rejects.csv")
    good: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    done = 0
    for start in range(0, persons.height, CHUNK_ROWS):
        chunk = quote_frame(policy, persons.slice(start, CHUNK_ROWS), day)
        failed = pl.col("error").is_not_null()
        good.append(chunk.filter(~failed))
        bad.append(chunk.filter(failed).select([*persons.columns, "error_field", "error"]))
        done += chunk.height
        if progress is not None:
            progress("测算", done, persons.height)
    quoted = pl.concat(good) if good else pl.DataFrame()
    rejected = pl.concat(bad, how="diagonal_relaxed") if bad else pl.DataFrame()
    csv_ready = rejected.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(";") for c, t in rejected.schema.items() if t == pl.List
    ).with_columns(pl.col(c).cast(pl.String) for c, t in rejected.schema.items() if t != pl.List)
    with atomic_outputs([output, rejects]) as (quoted_file, rejects_file):  # both or neither
        quoted.write_parquet(quoted_file)
        csv_safe(csv_ready).write_csv(rejects_file)
    eligible = int(quoted["eligible"].sum()) if quoted.height else 0
    return (
        f"测算 {persons.height} 人：可参保 {eligible} 人，不符合参保条件 {quoted.height - eligible} 人，"
        f"输入有误或政策未覆盖 {rejected.height} 人\n结果：{output}\n退回清单：{rejects}"
    )
