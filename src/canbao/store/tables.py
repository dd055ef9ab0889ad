"""The registry and the ledger as tables (SQLAlchemy 2 Core).  Money is integer fen; the ledger is append-only
(triggers refuse UPDATE and DELETE on it, see the first migration); balances are derived by summing it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only
Fen = BigInteger

persons = Table(
    "persons",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("id_number", String(18), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("sex", String(6), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("county", String(6), nullable=False),
    Column("township", String(64)),
    Column("village", String(64)),
    Column("residency", String(40), nullable=False),
    Column("phone", String(20)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the portal's person search, exact and by prefix; byte order on PostgreSQL (migration 0012)
    Index("ix_persons_name", "name", postgresql_ops={"name": "varchar_pattern_ops"}),
)

import_batches = Table(
    "import_batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # department_list, roster, school
    Column("department", String(40)),
    Column("file_name", String(255), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("rows_total", Integer, nullable=False),
    Column("rows_accepted", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("benefit_year", Integer),  # a roster's year (null: imported before migration 0007)
    UniqueConstraint("kind", "file_sha256", name="uq_import_batches_file"),
)

import_rows = Table(
    "import_rows",
    metadata,
    Column("batch_id", Id, primary_key=True),  # no foreign key: written with its batch (migration 0003)
    Column("row_number", Integer, primary_key=True),
    Column("id_number", String(18)),
    Column("outcome", String(12), nullable=False),  # accepted, rejected, duplicate
    Column("reason", Text),
    Column("person_id", Id),  # the accepted row's person (migration 0007)
)

identity_memberships = Table(
    "identity_memberships",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # no foreign keys: written in bulk with their persons and batch by the list import (migrations 0003, 0005)
    Column("person_id", Id, nullable=False, index=True),
    Column("category", String(24), nullable=False),
    Column("department", String(40), nullable=False),
    Column("valid_from", Date),
    Column("valid_to", Date),
    Column("batch_id", Id, nullable=False),
    # parent / child as the household list gives it (004 二(三)); null when the list does not say (0008)
    Column("household_role", Text),
    UniqueConstraint("person_id", "category", "batch_id", name="uq_identity_memberships_once"),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("persons.id"), nullable=False, index=True),
    Column("policy", String(64), nullable=False),
    Column("benefit_year", Integer, nullable=False),
    Column("situation", String(32), nullable=False),
    Column("status", String(12), nullable=False),  # active, refunded, suspended, terminated
    Column("live", Boolean, nullable=False),  # active or suspended: at most one per person and year
    Column("paid_on", Date, nullable=False),
    Column("benefit_start", Date, nullable=False),
    Column("benefit_end", Date, nullable=False),
    Column("waiting_months", Integer, nullable=False),
    Column("rule", Text, nullable=False),
    Column("personal_standard_fen", Fen, nullable=False),
    Column("amount_due_fen", Fen, nullable=False),
    Column("net_personal_fen", Fen, nullable=False),
    Column("subsidy_category", String(24)),
    Column("subsidy_kind", String(24)),
    Column("subsidy_timing", String(24)),
    Column("subsidy_fen", Fen),
    Column("fiscal_central_fen", Fen),
    Column("fiscal_province_fen", Fen),
    Column("fiscal_city_fen", Fen),
    Column("fiscal_county_fen", Fen),
    Column("fiscal_total_fen", Fen),
    Column("channel", String(20), nullable=False),
    Column("channel_name", String(40)),
    Column("collecting_unit", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_on", Date),
    Column("end_reason", String(40)),
    Index(
        "uq_enrollments_live",
        "person_id",
        "benefit_year",
        unique=True,
        sqlite_where=text("live"),
        postgresql_where=text("live"),
    ),
    Index("ix_enrollments_year_person", "benefit_year", "person_id", "live", "paid_on"),  # progress (0006)
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("enrollment_id", Id, ForeignKey("enrollments.id"), nullable=False, index=True),
    Column("person_id", Id, ForeignKey("persons.id"), nullable=False, index=True),
    # payment, refund, assistance_subsidy, county_subsidy_refund; refunds are positive amounts going out
    Column("kind", String(24), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("channel", String(20)),
    Column("channel_name", String(40)),
    Column("channel_txn_id", String(64), index=True),  # replays are looked up by transaction id
    Column("out_trade_no", String(32)),  # an online payment's order (issue 15, migration 0015)
    Column("collecting_unit", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text),
    Index(
        "uq_ledger_entries_txn",
        "channel",
        "channel_txn_id",
        unique=True,
        sqlite_where=text("channel_txn_id IS NOT NULL"),
        postgresql_where=text("channel_txn_id IS NOT NULL"),
    ),
    # once per enrollment: its refund, its county subsidy paid back, the reversal of its upfront assistance
    # (a correction, the same kind with the opposite sign, is not limited: migration 0010)
    *(
        Index(name, "enrollment_id", unique=True, sqlite_where=text(where), postgresql_where=text(where))
        for name, where in (
            ("uq_ledger_entries_refund", "kind = 'refund' AND amount_fen >= 0"),
            ("uq_ledger_entries_county_subsidy_refund", "kind = 'county_subsidy_refund' AND amount_fen >= 0"),
            ("uq_ledger_entries_subsidy_reversal", "kind = 'assistance_subsidy' AND amount_fen < 0"),
        )
    ),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(40)),  # masked ID number or batch; the portal's person:<id> (migration 0012)
    Column("outcome", String(12), nullable=False),  # done, refused, replayed
    Column("detail", Text),
    Index("ix_audit_log_subject", "subject"),
)

# Due records of a season (催缴): what each person on last year's roster and the current identity lists owes
# for the benefit year, quoted in one pass when the season opens.  Not money: an expectation, replaced
# whole when the season is opened again.
dues = Table(
    "dues",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # No foreign key (migration 0009): written only by season open from the persons it reads, in one transaction.
    Column("person_id", Id, nullable=False),
    Column("policy", String(64), nullable=False),
    Column("benefit_year", Integer, nullable=False),
    Column("township", String(64)),
    Column("village", String(64)),
    Column("amount_due_fen", Fen, nullable=False),
    Column("net_personal_fen", Fen, nullable=False),
    Column("subsidy_category", String(24)),
    Column("subsidy_kind", String(24)),
    Column("subsidy_timing", String(24)),
    Column("subsidy_fen", Fen),
    Column("how_to_pay", String(24), nullable=False),  # online, collecting_unit, school
    Column("source", String(24), nullable=False),  # last_year, identity_list
    Column("opened_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("person_id", "benefit_year", name="uq_dues_person_year"),
    Index("ix_dues_year_place", "benefit_year", "township", "village"),
)

# Targets of the campaign (任务分解表) per benefit year, kind (enrollment / e_voucher) and village; a year's
# targets are replaced whole when its table is imported again (migration 0006).
targets = Table(
    "targets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("benefit_year", Integer, nullable=False),
    Column("kind", String(12), nullable=False),  # enrollment, e_voucher
    Column("township", String(64), nullable=False),
    Column("township_code", String(12)),
    Column("village", String(64), nullable=False),
    Column("village_code", String(12)),
    Column("target", Integer, nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("benefit_year", "kind", "township", "village", name="uq_targets_place"),
)

# 医保电子凭证激活: one row per person (the first activation recorded).  No foreign key: written in bulk in the
# transaction that checked every person is registered; persons are never deleted (as memberships, 0005).
e_voucher_activations = Table(
    "e_voucher_activations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, nullable=False),
    Column("activated_on", Date, nullable=False),
    Column("channel", String(40)),
    Column("file_name", String(255), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("person_id", name="uq_e_voucher_activations_person"),
)

# The portal's accounts (issue 14, migration 0011_accounts).  A user is never deleted (the audit log names
# them): disabling ends their sessions and refuses their logins.  The area columns the role uses are set, the
# others null (services.accounts checks which); department is a vocabulary Department id.
users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("county", String(6)),
    Column("township", String(64)),
    Column("village", String(64)),
    Column("school", String(64)),
    Column("department", String(40)),
    Column("password_hash", String(255), nullable=False),  # Argon2id, PHC string ($argon2id$v=19$…)
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
    Column("password_set_at", DateTime(timezone=True)),  # an administrator's reset: earlier failures not counted
)

# A signed-in browser: only the SHA-256 of its cookie's token is kept, so a copy of the database opens no
# session.  Ended at logout or when the user is disabled; idle and absolute limits are checked on each use.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the cookie's token
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("address", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_web_sessions_user", "user_id"),
    Index("ix_web_sessions_last_seen", "last_seen_at"),  # the purge (services.housekeeping)
)

# Every login attempt, for the throttle (per account and per address over a window) and for the record.
# `throttled`: refused by the throttle without checking the password; such attempts do not extend the lock.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("throttled", Boolean, nullable=False, server_default=text("false")),
    Index("ix_login_attempts_username_at", "username", "at"),
    Index("ix_login_attempts_address_at", "address", "at"),
    Index("ix_login_attempts_at", "at"),  # the purge (services.housekeeping)
)

# Background jobs of the portal (canbao.services.jobs, migration 0013): long work run on a worker thread,
# its progress and result; a job never half-writes (its work is one use case's transaction).
jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("status", String(12), nullable=False),  # queued, running, done, failed
    Column("params", Text, nullable=False),  # JSON
    Column("today", Date, nullable=False),  # the campaign's day the job was started on
    Column("user_id", Id, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("staff", Text, nullable=False),  # JSON: the role and area the job is scoped by
    Column("runner", String(32)),  # the runner (a serving process) that claimed it
    Column("done_steps", BigInteger, nullable=False),
    Column("total_steps", BigInteger, nullable=False),
    Column("stage", Text),
    Column("result", Text),  # JSON
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_user", "user_id", "id"),
)

# The payment channels canbao takes notifications from (issue 15, migration 0014): a channel's kind, merchant
# and the keys its notifications are verified with. The APIv3 key is a secret (it decrypts WeChat Pay's
# notifications): kept here, with the registry's own protection, and never shown back (`canbao channel list`
# shows its fingerprint).
payment_channels = Table(
    "payment_channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # wechatpay_v3, alipay
    Column("merchant_id", String(64), nullable=False),  # WeChat Pay's mchid, Alipay's app_id
    Column("platform_public_key", Text, nullable=False),  # PEM
    Column("platform_serial", String(64)),  # WeChat Pay: the serial its notifications name
    Column("api_v3_key", Text),  # WeChat Pay: the 32-byte APIv3 key
    # 主动查单 (migration 0016): the merchant's private key (PEM) signs canbao's order queries
    Column("merchant_private_key", Text),
    Column("merchant_serial", String(64)),  # WeChat Pay: the merchant API certificate's serial
    Column("gateway_url", String(200)),  # the channel's API address; None: the channel's published one
    # the pay step (migration 0017): WeChat's appid and AppSecret (网页授权), its OAuth hosts; canbao's public URL
    Column("app_id", String(64)),
    Column("app_secret", Text),
    Column("public_url", String(200)),
    Column("oauth_url", String(200)),  # None: https://open.weixin.qq.com
    Column("sns_url", String(200)),  # None: https://api.weixin.qq.com
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
)

# WeChat Pay's further platform keys of a channel (migration 0020): the new certificate beside the old while
# WeChat signs with both, or the 微信支付公钥 beside the certificate while it switches; the serial picks the key.
channel_platform_keys = Table(
    "channel_platform_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(40), ForeignKey("payment_channels.name"), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("public_key", Text, nullable=False),  # PEM
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("added_by", String(64), nullable=False),
    UniqueConstraint("channel", "serial"),
)

# Residents' online payments (issue 15, migration 0015).  An order is what canbao asks a channel to collect: its
# persons were quoted when it was made, and its amount is theirs summed.  A notification is recorded in the inbox
# (one row per channel and channel transaction) before canbao answers the channel, then applied once.
orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("out_trade_no", String(32), nullable=False, unique=True),
    Column("channel", String(40), nullable=False),  # payment_channels.name
    Column("channel_kind", String(20), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("benefit_year", Integer, nullable=False),
    Column("payer_id_number", String(18), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("status", String(12), nullable=False),  # open, paid, flagged, closed
    Column("token_sha256", String(64), nullable=False),  # the resident's key to the order's status page
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("paid_at", DateTime(timezone=True)),
    Column("channel_txn_id", String(64)),
    Column("queried_at", DateTime(timezone=True)),  # the last 主动查单
    Column("query_answer", String(200)),  # what it answered, in words (migration 0016)
    Index("ix_orders_status_created", "status", "created_at"),
    Index("ix_orders_payer", "payer_id_number"),
)

order_persons = Table(
    "order_persons",
    metadata,
    Column("order_id", Id, primary_key=True),
    Column("seq", Integer, primary_key=True),  # 1: the first person; the ledger's transaction id is suffixed after
    Column("id_number", String(18), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("application", Text, nullable=False),  # JSON: the quote contract's person and situation
    Column("township", String(64)),
    Column("village", String(64)),
    Column("phone", String(20)),
    Column("amount_fen", Fen, nullable=False),
    Column("enrollment_id", Id),
)

channel_notifications = Table(
    "channel_notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(40), nullable=False),
    Column("channel_kind", String(20), nullable=False),
    Column("transaction_id", String(64), nullable=False),  # WeChat's transaction_id, Alipay's trade_no
    Column("out_trade_no", String(64), nullable=False),
    Column("notification_id", String(64)),
    Column("amount_fen", Fen, nullable=False),
    Column("succeeded_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(12), nullable=False),  # notify, query (主动查单)
    Column("status", String(12), nullable=False),  # pending, applied, flagged
    Column("flag_reason", Text),
    Column("claimed_by", String(32)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("applied_at", DateTime(timezone=True)),
    UniqueConstraint("channel", "transaction_id", name="uq_channel_notifications_txn"),
    Index("ix_channel_notifications_status", "status", "id"),
)

resident_attempts = Table(
    "resident_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("address", String(64), nullable=False),
    Column("id_sha256", String(64)),  # never the ID number itself
    Column("action", String(20), nullable=False),
    Column("failed", Boolean, nullable=False),
    Index("ix_resident_attempts_address_at", "address", "at"),
    Index("ix_resident_attempts_id_at", "id_sha256", "at"),
    Index("ix_resident_attempts_at", "at"),  # the purge (services.housekeeping)
)

refund_requests = Table(
    "refund_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("enrollment_id", Id, nullable=False, index=True),
    Column("person_id", Id, nullable=False),
    Column("reason", String(40), nullable=False),
    Column("refundable", Boolean, nullable=False),
    Column("amount_fen", Fen),
    Column("why", Text, nullable=False),
    Column("status", String(12), nullable=False),  # requested, refunded, declined
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("requested_on", Date, nullable=False),
)

certificates = Table(
    "certificates",
    metadata,
    Column("code", String(16), primary_key=True),  # the verification code printed on a 参保凭证
    Column("enrollment_id", Id, nullable=False, index=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)
