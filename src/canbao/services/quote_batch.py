"""`canbao quote-batch`: quote a whole population from CSV or Parquet, rejects to their own file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from canbao.errors import InputError
from canbao.outputs import atomic_outputs, csv_safe
from canbao.policy import load_policy
from canbao.rules.engine import quote_frame

CHUNK_ROWS = 250_000


def read_persons(path: Path) -> pl.DataFrame:
    """Persons from CSV (every column read as text, parsed by the engine) or Parquet."""
    if not path.is_file():
        raise InputError("--input", f"文件不存在：{path}")
    try:
        if path.suffix.lower() == ".parquet":
            return pl.read_parquet(path)
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError("--input", f"文件 {path} 无法读取：{first}") from None
    raise InputError("--input", f"只支持 .csv 或 .parquet 文件：{path}")


def run(policy_id: str, source: Path, output: Path, rejects: Path | None = None) -> str:
    load_policy(policy_id)  # an unknown policy is refused before any work
    persons = read_persons(source).with_row_index("source_row", offset=1)
    rejects = rejects or output.with_name(output.stem + ".rejects.csv")
    good: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("测算", total=persons.height)
        for start in range(0, persons.height, CHUNK_ROWS):
            chunk = quote_frame(policy_id, persons.slice(start, CHUNK_ROWS))
            failed = pl.col("error").is_not_null()
            good.append(chunk.filter(~failed))
            bad.append(chunk.filter(failed).select([*persons.columns, "error_field", "error"]))
            progress.advance(task, chunk.height)
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
