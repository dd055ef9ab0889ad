"""`make demo` end to end at a small size: the season runs and its summary agrees with the ledger."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import polars as pl
from rich.console import Console
from sqlalchemy import func, select

from canbao.season_demo import feedback_path, keep_previous_database, run
from canbao.store.db import make_engine
from canbao.store.tables import enrollments, ledger_entries
from canbao.synth import Manifest


def _previous_run(database: Path) -> None:
    """A database as a previous run leaves it, with a table of its own to recognise it by."""
    with sqlite3.connect(database) as c:
        c.execute("create table previous_run (n integer)")
        c.execute("insert into previous_run values (42)")
    c.close()


def test_the_demo_runs_a_season_and_leaves_everything_in_one_folder(tmp_path: Path) -> None:
    """Also the finding "rerunning make demo deletes the demo's database": the previous run's database is kept
    under a new name, said in the output, and the output says which database the run uses."""
    _previous_run(tmp_path / "canbao.db")
    console = Console(record=True, width=300)
    run(2_000, 5, tmp_path, console=console)
    text = console.export_text()
    assert "参保进度" in text and "按渠道收缴" in text and "按身份资助" in text
    (kept,) = tmp_path.glob("canbao-*.db")
    with sqlite3.connect(kept) as c:
        assert c.execute("select n from previous_run").fetchall() == [(42,)]
    c.close()
    assert f"数据库：{(tmp_path / 'canbao.db').resolve()}（本次新建）" in text and str(kept.resolve()) in text
    # Feedback beside each imported list, <list>_反馈.xlsx, as canbao import writes it.
    county = tmp_path / "county"
    assert (tmp_path / "canbao.db").is_file() and (county / "roster_2021_反馈.xlsx").is_file()
    assert (county / "lists" / "civil_affairs_反馈.xlsx").is_file() and list(county.glob("schools/*_反馈.xlsx"))
    assert not (tmp_path / "feedback").exists()
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
    assert (tmp_path / "county" / "parts" / "02" / "roster_2021_反馈.xlsx").is_file()
    outcome = pl.read_csv(tmp_path / "payments_outcome.csv")
    payments = sum(Manifest.load(tmp_path / "county").data["counts"]["payments_by_channel"].values())
    engine = make_engine(f"sqlite:///{tmp_path / 'canbao.db'}")
    with engine.connect() as c:
        live = c.execute(select(func.count()).where(enrollments.c.live)).scalar_one()
    engine.dispose()
    assert outcome.height == payments and live == outcome.filter(pl.col("outcome") == "enrolled").height > 1_800
    assert f"缴费通知 {payments:,} 笔" in text


def test_feedback_goes_beside_the_list_with_the_clis_name(tmp_path: Path) -> None:
    assert feedback_path(tmp_path / "lists" / "civil_affairs.csv") == tmp_path / "lists" / "civil_affairs_反馈.xlsx"


def test_a_rerun_keeps_the_previous_database_and_its_companions_never_deletes_one(tmp_path: Path) -> None:
    """The finding "rerunning make demo deletes the demo's database": each previous database is renamed after
    the time it was last written (China Standard Time), with its -wal and -shm files; a second one written in the
    same second gets its own name."""
    database = tmp_path / "canbao.db"
    assert keep_previous_database(database) is None
    names = []
    for n in (1, 2):
        database.write_text(f"run {n}")
        Path(f"{database}-wal").write_text(f"wal {n}")
        for written in (database, Path(f"{database}-wal")):
            os.utime(written, (1_764_588_600, 1_764_588_600))  # 2025-12-01 19:30:00 in China Standard Time
        kept = keep_previous_database(database)
        assert kept is not None and kept.read_text() == f"run {n}"
        assert Path(f"{kept}-wal").read_text() == f"wal {n}" and not database.exists()
        names.append(kept.name)
    assert names == ["canbao-2025-12-01-193000.db", "canbao-2025-12-01-193000-2.db"]
