"""kill -9 in the middle of an import and of a payment file (issue 12): nothing is half-written, and a rerun
ends where an uninterrupted run ends — on SQLite and PostgreSQL.

Each command runs as the `canbao` process an office would run, killed at points drawn from a seeded random
generator over the time an uninterrupted run takes (so the kills land before, during and after the writes).
After every kill the registry holds the file whole or not at all, and no temporary file is left beside the
outputs once the next run has started; after the last rerun the registry, the ledger and the outputs are
those of a run that was never interrupted."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select

from canbao.store.db import make_engine
from canbao.store.tables import enrollments, import_batches, ledger_entries, persons
from canbao.synth import Manifest, build_county
from conftest import fresh_database

COUNTY = "341323"
# Where the kills land, as fractions of an uninterrupted run's time, each moved by a seeded random jitter: from
# start-up (reading the file, quoting) through the writes to the outputs at the end.
KILL_POINTS = (0.3, 0.6, 0.9)  # start-up, the writes, the outputs (five points made this file the suite's tail)
CANBAO = [sys.executable, "-m", "canbao.cli"]


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return build_county(COUNTY, 12_000, 11, tmp_path_factory.mktemp("crash") / "county")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as database:
        yield database


def _kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _command(url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CANBAO_DATABASE_URL": url}
    return subprocess.Popen([*CANBAO, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(url: str, *args: str) -> float:
    """Run to the end; returns how long it took."""
    started = time.monotonic()
    process = _command(url, *args)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    return time.monotonic() - started


def _kill_at(url: str, seconds: float, *args: str) -> None:
    process = _command(url, *args)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()


def _kill_points(took: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [took * (fraction + rng.uniform(-0.05, 0.05)) for fraction in KILL_POINTS]


def _temporaries(folder: Path, finals: set[str]) -> list[str]:
    """Files beside the outputs that are neither an input nor a finished output: what a killed run left."""
    return sorted(p.name for p in folder.iterdir() if p.name not in finals)


def _registry(url: str) -> dict[str, pl.DataFrame]:
    """What an interrupted run must agree with, without the ids and times that differ from run to run."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            people = c.execute(
                select(persons.c.id_number, persons.c.name, persons.c.township, persons.c.village, persons.c.phone)
            ).all()
            enrolled = c.execute(
                select(persons.c.id_number, enrollments.c.benefit_year, enrollments.c.status,
                       enrollments.c.amount_due_fen, enrollments.c.benefit_start, enrollments.c.channel)
                .join(persons, persons.c.id == enrollments.c.person_id)
            ).all()  # fmt: skip
            ledger = c.execute(
                select(persons.c.id_number, ledger_entries.c.kind, ledger_entries.c.amount_fen,
                       ledger_entries.c.channel, ledger_entries.c.channel_txn_id)
                .join(persons, persons.c.id == ledger_entries.c.person_id)
            ).all()  # fmt: skip
            batches = c.execute(select(import_batches.c.kind, import_batches.c.file_sha256)).all()
    finally:
        engine.dispose()

    def frame(rows: list[object], names: list[str]) -> pl.DataFrame:
        return pl.DataFrame([tuple(r) for r in rows], schema=names, orient="row").sort(names, nulls_last=True)  # type: ignore[arg-type]

    return {
        "persons": frame(list(people), ["id_number", "name", "township", "village", "phone"]),
        "enrollments": frame(list(enrolled), ["id_number", "year", "status", "due", "start", "channel"]),
        "ledger": frame(list(ledger), ["id_number", "kind", "amount_fen", "channel", "txn"]),
        "batches": frame(list(batches), ["kind", "sha"]),
    }


def _same(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    for name in left:
        assert left[name].equals(right[name]), f"{name} differs after the interrupted runs"


def _import_args(folder: Path, year: int) -> list[str]:
    return ["import", "roster", "--file", str(folder / "roster.csv"), "--county", COUNTY, "--year", str(year)]


def test_an_import_killed_anywhere_is_whole_or_absent_and_its_rerun_is_a_clean_run(
    county: Manifest, url: str, tmp_path: Path
) -> None:
    roster = next(county.directory.glob("roster_*.csv"))
    year = int(roster.stem.split("_")[1])
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for folder in (clean, killed):
        folder.mkdir()
        shutil.copy(roster, folder / "roster.csv")
    (tmp_path / "c").mkdir()
    with fresh_database(_kind(url), tmp_path / "c") as clean_url:
        took = _finish(clean_url, *_import_args(clean, year))
        expected = _registry(clean_url)
    finals = {p.name for p in clean.iterdir()} - {"canbao.db", "canbao.db-wal", "canbao.db-shm"}
    for at in _kill_points(took, seed=12):
        _kill_at(url, at, *_import_args(killed, year))
        now = _registry(url)
        # Whole or absent: a batch on record has all its persons, no batch means no persons.
        assert (now["batches"].height, now["persons"].height) in {(0, 0), (1, expected["persons"].height)}
        if now["batches"].height:
            _same(now, expected)
    _finish(url, *_import_args(killed, year))
    _same(_registry(url), expected)
    assert _temporaries(killed, finals) == [], "a killed run's temporaries survived the next run"


def _payments(county: Manifest, folder: Path) -> Path:
    days = sorted((county.directory / "payments").glob("*.parquet"))
    path = folder / "payments.parquet"
    pl.concat([pl.read_parquet(day) for day in days]).write_parquet(path)
    return path


def _season(url: str, county: Manifest, folder: Path) -> list[str]:
    """The registry a payment file lands in: last year's roster imported and the season opened."""
    roster = next(county.directory.glob("roster_*.csv"))
    policy = str(county.data["policy"])
    folder.mkdir()
    shutil.copy(roster, folder / "roster.csv")
    _finish(url, *_import_args(folder, int(roster.stem.split("_")[1])))
    _finish(url, "season", "open", "--policy", policy)
    file = _payments(county, folder)
    return ["season", "apply-payments", "--policy", policy, "--file", str(file), "--report", str(folder / "out.csv")]


def test_a_payment_file_killed_anywhere_leaves_whole_payments_and_its_rerun_is_a_clean_run(
    county: Manifest, url: str, tmp_path: Path
) -> None:
    (tmp_path / "c").mkdir()
    with fresh_database(_kind(url), tmp_path / "c") as clean_url:
        args = _season(clean_url, county, tmp_path / "clean")
        took = _finish(clean_url, *args)
        expected = _registry(clean_url)
        expected_outcomes = pl.read_csv(tmp_path / "clean" / "out.csv")
    args = _season(url, county, tmp_path / "killed")
    rerun = [*args[:-1], str(tmp_path / "killed" / "rerun.csv")]
    for at in _kill_points(took, seed=34):
        _kill_at(url, at, *args)
        now = _registry(url)
        # Whole payments only: every enrollment written has its payment entry, and no entry is without one.
        paid = now["ledger"].filter(pl.col("kind") == "payment")
        live = now["enrollments"].filter(pl.col("status") == "active")
        assert sorted(paid["id_number"].to_list()) == sorted(live["id_number"].to_list())
        report = tmp_path / "killed" / "out.csv"
        if report.exists():  # an outcome report is there only when complete
            assert pl.read_csv(report).height == expected_outcomes.height
    _finish(url, *rerun)
    _same(_registry(url), expected)
    again = pl.read_csv(tmp_path / "killed" / "rerun.csv")
    assert again.height == expected_outcomes.height
    # The rerun answers every payment: the ones an earlier run committed as replays, the rest as the clean run.
    assert (
        again.filter(pl.col("outcome") == "refused")["payment_row"].to_list()
        == expected_outcomes.filter(pl.col("outcome") == "refused")["payment_row"].to_list()
    )
    finals = {"roster.csv", "roster_反馈.xlsx", "payments.parquet", "out.csv", "rerun.csv"}
    assert _temporaries(tmp_path / "killed", finals) == []
