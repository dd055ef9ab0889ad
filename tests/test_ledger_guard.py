"""The ledger guarded below the application, through the application's own engine: on PostgreSQL it runs as a
role that may only read and append the ledger; on SQLite triggers refuse REPLACE as well as UPDATE and DELETE.
The normal paths still work; the SQLite file is private to its owner; a lock held too long is a clear refusal."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from canbao.errors import CanbaoError
from canbao.services.payments import Payment, ledger_of, pay, record_county_subsidy_refund, refund
from canbao.store import db
from canbao.store.db import make_engine
from canbao.store.tables import audit_log, ledger_entries
from conftest import application, fresh_database

BENGBU = "anhui/bengbu/2022"


def paid(engine: Engine, txn: str = "g-1") -> dict[str, Any]:
    app = application("340322", "1960-03-02", "regular", "2021-10-15", ["dibao"])
    pay(engine, Payment(BENGBU, app, "online", txn, Decimal("40"), channel_name="微信"), "clerk")
    return app


def refused(engine: Engine, statement: str) -> None:
    with pytest.raises(DBAPIError), engine.begin() as c:
        c.exec_driver_sql(statement)


def amounts(engine: Engine) -> list[int]:
    with engine.connect() as c:
        return list(c.execute(select(ledger_entries.c.amount_fen).order_by(ledger_entries.c.id)).scalars())


def test_the_app_can_neither_rewrite_nor_remove_ledger_entries(engine: Engine) -> None:
    paid(engine)
    for statement in (
        "UPDATE ledger_entries SET amount_fen = 1",
        "DELETE FROM ledger_entries",
        "UPDATE audit_log SET detail = NULL",
        "DELETE FROM audit_log",
    ):
        refused(engine, statement)
    if engine.dialect.name == "postgresql":
        for statement in (
            "TRUNCATE ledger_entries",
            "TRUNCATE audit_log",
            "ALTER TABLE ledger_entries DISABLE TRIGGER ALL",
            "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only",
            "DROP TRIGGER ledger_entries_append_only ON ledger_entries",
            "CREATE TABLE planted (n integer)",
        ):
            refused(engine, statement)
    assert amounts(engine) == [4000, 28000]
    with engine.connect() as c:
        assert c.execute(select(audit_log.c.outcome)).scalars().all() == ["done"]


def test_postgresql_runs_the_app_as_the_app_role_and_the_owner_still_cannot_truncate(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        app_engine, owner = make_engine(url), make_engine(url, app_role=False)
        _as_app_and_owner(app_engine, owner)


def _as_app_and_owner(app_engine: Engine, owner: Engine) -> None:
    try:
        paid(app_engine)
        with app_engine.connect() as c:
            assert c.exec_driver_sql("SELECT current_user").scalar_one() == db.app_role_name()
        with owner.connect() as c:
            assert c.exec_driver_sql("SELECT current_user").scalar_one() != db.app_role_name()
        refused(owner, "TRUNCATE ledger_entries")  # the statement trigger: TRUNCATE fires no row trigger
        assert amounts(owner) == [4000, 28000]
    finally:
        app_engine.dispose()
        owner.dispose()


def test_postgresql_app_role_can_still_analyze_through_the_owners_function(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        engine = make_engine(url)
        try:
            _analyze(engine)
        finally:
            engine.dispose()


def _analyze(engine: Engine) -> None:
    paid(engine)
    with engine.begin() as c:
        c.execute(text("SELECT canbao_analyze(ARRAY['ledger_entries', 'persons', 'no_such_table'])"))
        analyzed = c.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables "
                "WHERE last_analyze IS NOT NULL AND schemaname = current_schema()"
            )
        ).scalars()
        assert sorted(analyzed) == ["ledger_entries", "persons"]


def test_sqlite_refuses_insert_or_replace_over_a_ledger_entry(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        engine = make_engine(url)
        try:
            _replace(engine, url)
        finally:
            engine.dispose()


def _replace(engine: Engine, database_url: str) -> None:
    app = paid(engine)
    with engine.connect() as c:
        first = c.execute(select(ledger_entries).order_by(ledger_entries.c.id)).mappings().first()
    assert first is not None
    columns = ", ".join(first.keys())
    values = {**first, "amount_fen": 1}
    marks = ", ".join(f":{k}" for k in first)
    # through the app's engine, then a plain sqlite3 connection without canbao's pragmas
    with pytest.raises(DBAPIError), engine.begin() as c:
        c.execute(text(f"INSERT OR REPLACE INTO ledger_entries ({columns}) VALUES ({marks})"), values)
    with pytest.raises(DBAPIError), engine.begin() as c:  # another id, the same channel transaction
        c.execute(text(f"INSERT OR REPLACE INTO ledger_entries ({columns}) VALUES ({marks})"), {**values, "id": 99})
    plain = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        with pytest.raises(sqlite3.IntegrityError):
            plain.execute(f"REPLACE INTO ledger_entries ({columns}) VALUES ({marks})", {**values, "recorded_at": "x"})
        with pytest.raises(sqlite3.IntegrityError):
            plain.execute("INSERT INTO ledger_entries SELECT * FROM ledger_entries WHERE true ON CONFLICT DO NOTHING")
    finally:
        plain.close()
    assert ledger_of(engine, app["person"]["id_number"])["amount_fen"].to_list() == [4000, 28000]


def test_a_second_refund_entry_for_an_enrollment_is_refused_by_the_database(engine: Engine) -> None:
    app = paid(engine)
    refund(engine, app["person"]["id_number"], 2022, "death", dt.date(2021, 12, 1), "clerk")
    with engine.connect() as c:
        entry = c.execute(select(ledger_entries).where(ledger_entries.c.kind == "refund")).mappings().one()
    same = {k: v for k, v in entry.items() if k != "id"}
    for kind, amount in (("refund", 4000), ("refund", 0), ("assistance_subsidy", -28000)):
        with pytest.raises(DBAPIError), engine.begin() as c:
            c.execute(ledger_entries.insert().values(**same | {"kind": kind, "amount_fen": amount}))
    # a correction (the same kind, the opposite sign) stays possible
    with engine.begin() as c:
        c.execute(ledger_entries.insert().values(**same | {"amount_fen": -4000, "note": "冲正"}))
    assert amounts(engine) == [4000, 28000, 4000, -28000, -4000]


def test_upgrading_a_ledger_with_duplicate_refunds_is_refused_naming_the_enrollment(database_url: str) -> None:
    from alembic import command

    engine = make_engine(database_url)
    app = paid(engine)
    refund(engine, app["person"]["id_number"], 2022, "death", dt.date(2021, 12, 1), "clerk")
    engine.dispose()
    command.downgrade(db.alembic_config(database_url), "0009")
    owner = make_engine(database_url, app_role=False)
    try:
        with owner.begin() as c:  # what the concurrency fault left behind
            c.exec_driver_sql(
                "INSERT INTO ledger_entries (enrollment_id, person_id, kind, amount_fen, recorded_at, actor) "
                "SELECT enrollment_id, person_id, kind, amount_fen, recorded_at, actor FROM ledger_entries "
                "WHERE kind = 'refund'"
            )
            enrollment = c.exec_driver_sql("SELECT max(enrollment_id) FROM ledger_entries").scalar_one()
    finally:
        owner.dispose()
    with pytest.raises(CanbaoError, match=f"参保记录 {enrollment} 有重复的 refund 分录"):
        db.upgrade(database_url)
    assert db.current_revision(database_url) == "0009"


def test_the_normal_paths_still_work_as_the_app(engine: Engine) -> None:
    """Payments, a refund, a county subsidy paid back, replays and a second enrollment after the refund."""
    app = paid(engine)
    refund(engine, app["person"]["id_number"], 2022, "death", dt.date(2021, 12, 1), "clerk")
    pay(engine, Payment(BENGBU, app, "online", "g-2", Decimal("40")), "clerk")
    veteran = application("340321", "1950-01-01", "regular", "2024-10-02", ["key_entitled"])
    huaiyuan = "anhui/bengbu/huaiyuan/2025"
    pay(engine, Payment(huaiyuan, veteran, "collecting_unit", "hy", Decimal("400"), township="榴城镇"), "clerk")
    assert record_county_subsidy_refund(engine, veteran["person"]["id_number"], 2025, "榴城镇", "township") == 40000
    assert pay(engine, Payment(BENGBU, app, "online", "g-2", Decimal("40")), "clerk").replayed
    assert amounts(engine) == [4000, 28000, 4000, -28000, 4000, 28000, 40000, 40000]


def test_the_sqlite_database_and_its_journal_are_private_to_their_owner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'private.db'}"
    db.upgrade(url)
    engine = make_engine(url)
    try:
        paid(engine)
        with engine.connect() as c:  # a reader keeps the -wal and -shm files open
            c.exec_driver_sql("SELECT 1")
            files = sorted(p.name for p in tmp_path.iterdir())
            modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in tmp_path.iterdir()}
    finally:
        engine.dispose()
    assert files == ["private.db", "private.db-shm", "private.db-wal"]
    assert modes == dict.fromkeys(files, 0o600)


def test_a_write_lock_held_too_long_is_a_clear_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    db.upgrade(url)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)
    engine = make_engine(url)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
        app = application("340322", "1985-06-15", "regular", "2021-10-15")
        with pytest.raises(CanbaoError) as err:
            pay(engine, Payment(BENGBU, app, "online", "busy-1", Decimal("320")), "clerk")
        assert str(err.value) == "数据库正忙（另一个写入仍在进行），请稍后重试"
        holder.execute("ROLLBACK")
        assert not pay(engine, Payment(BENGBU, app, "online", "busy-1", Decimal("320")), "clerk").replayed
    finally:
        holder.close()
        engine.dispose()


def test_postgresql_upgrade_grants_the_app_role_exactly_its_rights_again_and_again(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        db.upgrade(url)  # again: idempotent, and it covers every table of the schema
        owner = make_engine(url, app_role=False)
        try:
            with owner.connect() as c:
                grants = c.execute(
                    text(
                        "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
                        "FROM information_schema.role_table_grants WHERE grantee = :role "
                        "AND table_schema = current_schema() GROUP BY table_name"
                    ),
                    {"role": db.app_role_name()},
                ).all()
        finally:
            owner.dispose()
    rights = dict(grants)
    assert rights.pop("ledger_entries") == rights.pop("audit_log") == "INSERT,SELECT"
    assert rights.pop("alembic_version") == "SELECT"
    assert set(rights) == {"persons", "enrollments", "import_batches", "import_rows", "identity_memberships",
                           "dues", "targets", "e_voucher_activations",
                           "users", "web_sessions", "login_attempts", "jobs",  # the portal (issue 14)
                           "payment_channels", "channel_platform_keys",  # online payments (issue 15)
                           "orders", "order_persons", "channel_notifications", "resident_attempts",
                           "refund_requests", "certificates"}  # fmt: skip
    assert set(rights.values()) == {"DELETE,INSERT,SELECT,UPDATE"}
