"""The ledger guarded below the application: once-per-enrollment entries, no TRUNCATE, no REPLACE

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

- One refund, one county subsidy paid back (先缴后补) and one reversal of the upfront assistance per
  enrollment: partial unique indexes, the last line behind the use cases' row locks.  (A payment and its
  upfront assistance are written with their enrollment, whose id is drawn in the same transaction: nothing to
  race for.)  A ledger that already holds such duplicates is refused, naming the enrollments.
- PostgreSQL: TRUNCATE fires no row trigger; a statement trigger refuses it.  ANALYZE needs the tables'
  owner: `canbao_analyze(text[])` runs it with the owner's rights (SECURITY DEFINER, search_path pinned) for
  the application role that `store.db.upgrade` grants EXECUTE to.
- The audit log is append-only as the ledger is (UPDATE, DELETE and on PostgreSQL TRUNCATE refused).
- SQLite: INSERT OR REPLACE deletes the row it replaces without the delete trigger (unless
  recursive_triggers is on, which canbao's connections set); a BEFORE INSERT trigger refuses any insert that
  would replace an entry, so no other client can rewrite one that way either.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from canbao.errors import CanbaoError

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Money going out (or a reversal) once per enrollment; its correction, an entry of the same kind with the
# opposite sign, stays possible.
ONCE = {
    "uq_ledger_entries_refund": "kind = 'refund' AND amount_fen >= 0",
    "uq_ledger_entries_county_subsidy_refund": "kind = 'county_subsidy_refund' AND amount_fen >= 0",
    "uq_ledger_entries_subsidy_reversal": "kind = 'assistance_subsidy' AND amount_fen < 0",
}
MESSAGE = "ledger_entries is append-only: an entry with this id, transaction or kind exists already"


def upgrade() -> None:
    for name, where in ONCE.items():
        twice = (
            op.get_bind()
            .exec_driver_sql(
                f"SELECT enrollment_id FROM ledger_entries WHERE {where} GROUP BY enrollment_id HAVING count(*) > 1 "
                "ORDER BY enrollment_id LIMIT 20"
            )
            .scalars()
            .all()
        )
        if twice:  # left by the concurrency fault this migration closes: to be reconciled by hand first
            kind = where.split("'")[1]
            raise CanbaoError(
                f"台账中参保记录 {', '.join(map(str, twice))} 有重复的 {kind} 分录，"
                "无法建立唯一索引：请先核对并处理这些分录，再升级数据库"
            )
        op.create_index(
            name, "ledger_entries", ["enrollment_id"], unique=True,
            sqlite_where=sa.text(where), postgresql_where=sa.text(where),
        )  # fmt: skip
    _append_only_audit_log()
    if op.get_bind().dialect.name == "sqlite":
        once = " OR ".join(
            f"({where.replace('kind', 'NEW.kind').replace('amount_fen', 'NEW.amount_fen')} AND EXISTS "
            f"(SELECT 1 FROM ledger_entries WHERE enrollment_id = NEW.enrollment_id AND {where}))"
            for where in ONCE.values()
        )
        op.execute(
            "CREATE TRIGGER ledger_entries_no_replace BEFORE INSERT ON ledger_entries WHEN "
            "EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.id) "
            "OR (NEW.channel_txn_id IS NOT NULL AND EXISTS (SELECT 1 FROM ledger_entries "
            "WHERE channel = NEW.channel AND channel_txn_id = NEW.channel_txn_id)) "
            f"OR {once} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        return
    # ledger_entries_append_only() (0001) raises; as a statement trigger it refuses TRUNCATE.
    op.execute(
        "CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only()"
    )
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    op.execute(
        f"""CREATE FUNCTION canbao_analyze(tables text[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = {schema}, pg_temp AS $$
        DECLARE t text;
        BEGIN
            FOREACH t IN ARRAY tables LOOP
                IF EXISTS (SELECT 1 FROM pg_class WHERE relname = t AND relkind = 'r'
                           AND relnamespace = current_schema()::regnamespace) THEN
                    EXECUTE format('ANALYZE %I.%I', current_schema(), t);
                END IF;
            END LOOP;
        END $$"""
    )
    op.execute("REVOKE ALL ON FUNCTION canbao_analyze(text[]) FROM PUBLIC")


AUDIT_MESSAGE = "audit_log is append-only"


def _append_only_audit_log() -> None:
    """The audit log, like the ledger, is only ever appended to."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{AUDIT_MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{AUDIT_MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER ledger_entries_no_replace")
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    else:
        op.execute("DROP FUNCTION canbao_analyze(text[])")
        op.execute("DROP TRIGGER ledger_entries_no_truncate ON ledger_entries")
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    for name in ONCE:
        op.drop_index(name, "ledger_entries")
