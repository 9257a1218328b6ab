"""The one schema shared by every component (SQLAlchemy Core). Migrations live in ``migrations/``.

Money is ``DecimalText``, instants are ``UTCText``; JSON documents are text written by the
repository (sorted keys), so the audit hash of a row never depends on the database.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from enigma_apex.adapters.store.types import DecimalText, UTCText

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ACCOUNT_FK = "accounts.id"

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("profile", String(64), nullable=False),
    Column("platform", String(16)),
    Column("executor", String(64), nullable=False),
    Column("group_name", String(64), nullable=False),
    Column("created_at", UTCText, nullable=False),
    Column("updated_at", UTCText, nullable=False),
)

# What must survive a restart: peak, threshold, lock, trading state, the current day's figures.
account_state = Table(
    "account_state",
    metadata,
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("state_reason", Text, nullable=False, default=""),
    Column("peak", DecimalText),
    Column("threshold", DecimalText),
    Column("locked", Boolean, nullable=False, default=False),
    Column("balance", DecimalText),
    Column("open_pnl", DecimalText),
    Column("session_date", String(10)),
    Column("day_start_balance", DecimalText),
    Column("day_pnl", DecimalText),
    Column("detail", Text, nullable=False, default="{}"),
    Column("updated_at", UTCText, nullable=False),
)

signals = Table(
    "signals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("entry", DecimalText),
    Column("stop", DecimalText),
    Column("target", DecimalText),
    Column("group_name", String(64)),
    Column("power", Integer),
    Column("confluence", Integer),
    Column("dedup_key", String(128), unique=True),
    Column("received_at", UTCText, nullable=False),
    Column("raw", Text, nullable=False, default="{}"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("signal_id", String(64), ForeignKey("signals.id"), nullable=False),
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK)),
    Column("created_at", UTCText, nullable=False),
    Column("action", String(16), nullable=False),
    Column("quantity", Integer, nullable=False, default=0),
    Column("ai", Text, nullable=False, default="{}"),
    Column("verdicts", Text, nullable=False, default="[]"),
    Column("sizing", Text, nullable=False, default="{}"),
    Index(None, "signal_id"),
)

analyses = Table(
    "analyses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("signal_id", String(64), ForeignKey("signals.id"), nullable=False),
    Column("created_at", UTCText, nullable=False),
    Column("source", String(8), nullable=False),  # ai | scorer
    Column("model", String(128)),
    Column("prompt_version", String(32)),
    Column("score", Integer, nullable=False),
    Column("action", String(8), nullable=False),
    Column("confidence", DecimalText, nullable=False),
    Column("reasons", Text, nullable=False, default="[]"),
    Column("fallback_reason", Text),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", DecimalText, nullable=False),
    Column("latency_ms", Float),
    Index(None, "signal_id"),
    Index(None, "created_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK), nullable=False),
    Column("decision_id", String(64), ForeignKey("decisions.id")),
    Column("executor", String(64), nullable=False),
    Column("seq", Integer),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("purpose", String(8), nullable=False),
    Column("limit_price", DecimalText),
    Column("stop_price", DecimalText),
    Column("tif", String(8), nullable=False, default="day", server_default="day"),
    Column("bracket", Text, nullable=False, default="{}"),
    Column("status", String(20), nullable=False),
    Column("filled_quantity", Integer, nullable=False, default=0),
    Column("average_price", DecimalText),
    Column("broker_order_id", String(64)),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCText, nullable=False),
    Column("updated_at", UTCText, nullable=False),
    UniqueConstraint("executor", "seq"),
    Index(None, "account_id", "status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", String(64), primary_key=True),  # the hub's id of the fill
    Column("order_id", String(64), ForeignKey("orders.id")),
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK), nullable=False),
    Column("executor", String(64), nullable=False, server_default=""),  # who reported it
    Column("fill_id", String(128), nullable=False),  # the executor's id: a repeated report is a no-op
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", DecimalText, nullable=False),
    Column("commission", DecimalText, nullable=False),
    Column("ts", UTCText, nullable=False),
    Index(None, "account_id", "ts"),
    UniqueConstraint("account_id", "executor", "fill_id"),  # a fill's identity: (account, executor, fill id)
)

# An order's compact reference (domain.orders.order_ref) -> its key: executors whose broker limits names (NinjaTrader)
# name orders by the reference and may report them by it.
order_refs = Table(
    "order_refs",
    metadata,
    Column("order_ref", String(24), primary_key=True),
    Column("idempotency_key", String(128), nullable=False, unique=True),
)

# Each account's equity curve: a sample when its figures changed, at most one a minute (the dashboard's history;
# the last hours at finer grain live in the hub's memory).
equity_samples = Table(
    "equity_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK), nullable=False),
    Column("ts", UTCText, nullable=False),
    Column("equity", DecimalText, nullable=False),
    Column("threshold", DecimalText, nullable=False),
    Column("peak", DecimalText, nullable=False),
    Column("locked", Boolean, nullable=False),
    Index(None, "account_id", "ts"),
)

positions = Table(
    "positions",
    metadata,
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("average_price", DecimalText, nullable=False),
    Column("updated_at", UTCText, nullable=False),
)

trading_state_changes = Table(
    "trading_state_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK), nullable=False),
    Column("old_state", String(16), nullable=False),
    Column("new_state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("ts", UTCText, nullable=False),
    Index(None, "account_id", "ts"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", UTCText, nullable=False),
    Column("severity", String(8), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("account_id", String(64), ForeignKey(ACCOUNT_FK)),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
)

component_health = Table(
    "component_health",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("component", String(48), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("ts", UTCText, nullable=False),
    Index(None, "component", "ts"),
)

errors = Table(
    "errors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", UTCText, nullable=False),
    Column("level", String(16), nullable=False),
    Column("logger", String(128), nullable=False),
    Column("event", String(200), nullable=False),
    Column("context", Text, nullable=False, default="{}"),
    Index(None, "ts"),
)

config_changes = Table(
    "config_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", UTCText, nullable=False),
    Column("key", String(96), nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("applied", Boolean, nullable=False),
    Column("source", String(32), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

# Append-only, hash-chained: hash = SHA-256(prev_hash + canonical row content).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ts", UTCText, nullable=False),
    Column("kind", String(48), nullable=False),
    Column("account_id", String(64)),
    Column("actor", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_log_kind", "kind"),
)

client_tokens = Table(
    "client_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("accounts", Text, nullable=False, default="[]"),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", UTCText, nullable=False),
    Column("expires_at", UTCText),
    Column("revoked_at", UTCText),
)
