"""`make demo` end to end at a small size: the season runs and its summary agrees with the ledger."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from sqlalchemy import func, select

from canbao.season_demo import run
from canbao.store.db import make_engine
from canbao.store.tables import enrollments, ledger_entries
from canbao.synth import Manifest


def test_the_demo_runs_a_season_and_leaves_everything_in_one_folder(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    run(2_000, 5, tmp_path, console=console)
    text = console.export_text()
    assert "参保进度" in text and "按渠道收缴" in text and "按身份资助" in text
    assert (tmp_path / "canbao.db").is_file() and list((tmp_path / "feedback").glob("*.xlsx"))
    assert list((tmp_path / "due_lists").glob("催缴清单-*.xlsx"))
    reports = tmp_path / "reports"
    assert list(reports.glob("对账-*.xlsx")) and list(reports.glob("progress/*.png"))
    assert list(reports.glob("rewards/*.xlsx")) and list(reports.glob("funds/*.xlsx"))
    assert "账账相符✗" in text  # the synthetic county's injected faults break all three tests
    outcome = pl.read_csv(tmp_path / "payments_outcome.csv")
    engine = make_engine(f"sqlite:///{tmp_path / 'canbao.db'}")
    with engine.connect() as c:
        live = c.execute(select(func.count()).where(enrollments.c.live)).scalar_one()
        paid = c.execute(
            select(func.sum(ledger_entries.c.amount_fen)).where(ledger_entries.c.kind == "payment")
        ).scalar_one()
    engine.dispose()
    assert live == outcome.filter(pl.col("outcome") == "enrolled").height > 1_500
    assert f"{paid // 100:,}" in text  # the printed total is the ledger's


def test_a_county_in_parts_runs_its_season_part_by_part(tmp_path: Path) -> None:
    """A city-sized county is imported part by part and its payment days gathered from every part; the
    season's totals are the ledger's, the same as for a county written whole."""
    console = Console(record=True, width=140)
    run(2_400, 5, tmp_path, console=console, part_size=800)
    text = console.export_text()
    assert "parts/02/" in text and "分 3 片" in text
    outcome = pl.read_csv(tmp_path / "payments_outcome.csv")
    payments = sum(Manifest.load(tmp_path / "county").data["counts"]["payments_by_channel"].values())
    engine = make_engine(f"sqlite:///{tmp_path / 'canbao.db'}")
    with engine.connect() as c:
        live = c.execute(select(func.count()).where(enrollments.c.live)).scalar_one()
    engine.dispose()
    assert outcome.height == payments and live == outcome.filter(pl.col("outcome") == "enrolled").height > 1_800
    assert f"缴费通知 {payments:,} 笔" in text
