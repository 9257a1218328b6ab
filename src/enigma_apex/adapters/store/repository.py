"""Repository: explicit-connection functions that map domain objects to rows and back.

Writes take a ``WriteContext`` (they run inside the group-commit writer's transaction and may add
audit rows atomically); reads take a plain ``Connection``. ORM rows never leave this module.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Executable, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store.audit import canonical_json
from enigma_apex.adapters.store.writer import WriteContext
from enigma_apex.analysis.answer import Analysis
from enigma_apex.domain.accounts import TradingState
from enigma_apex.domain.events import ComponentHealth, TradingStateChanged
from enigma_apex.domain.orders import (
    ORDER_REF_LENGTH,
    ORDER_REF_PREFIX,
    Fill,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Position,
    Side,
    order_ref,
)
from enigma_apex.domain.signals import Signal
from enigma_apex.domain.symbols import Contract, Notation, format_symbol


def new_id() -> str:
    return uuid.uuid4().hex


def symbol_of(contract: Contract) -> str:
    return format_symbol(contract, Notation.NINJATRADER)


def _contract(symbol: str) -> Contract:
    root, rest = symbol.split(" ")
    month, year = rest.split("-")
    return Contract(root, 2000 + int(year), int(month))


# ---------------------------------------------------------------- accounts and their persisted state
@dataclass(frozen=True)
class AccountRecord:
    name: str
    profile: str
    platform: str | None
    executor: str
    group: str


@dataclass(frozen=True)
class StoredAccountState:
    account: str
    state: TradingState
    state_reason: str = ""
    peak: Decimal | None = None
    threshold: Decimal | None = None
    locked: bool = False
    balance: Decimal | None = None
    open_pnl: Decimal | None = None
    session_date: date | None = None
    day_start_balance: Decimal | None = None
    day_pnl: Decimal | None = None
    detail: str = "{}"


def sync_accounts(ctx: WriteContext, records: list[AccountRecord]) -> list[str]:
    """Insert or update configured accounts; new ones start ACTIVE. Never touches persisted state."""
    now = ctx.clock.now()
    existing = {row.id: row for row in ctx.conn.execute(select(s.accounts)).all()}
    created: list[str] = []
    for rec in records:
        values = {
            "profile": rec.profile,
            "platform": rec.platform,
            "executor": rec.executor,
            "group_name": rec.group,
            "updated_at": now,
        }
        old = existing.get(rec.name)
        if old is None:
            ctx.conn.execute(s.accounts.insert().values(id=rec.name, created_at=now, **values))
            ctx.conn.execute(
                s.account_state.insert().values(
                    account_id=rec.name,
                    state=TradingState.ACTIVE.value,
                    state_reason="new account",
                    locked=False,
                    detail="{}",
                    updated_at=now,
                )
            )
            ctx.seal("account_state", rec.name)
            ctx.audit(
                "account.created",
                {"profile": rec.profile, "platform": rec.platform, "executor": rec.executor},
                account=rec.name,
            )
            created.append(rec.name)
        elif (old.profile, old.platform, old.executor, old.group_name) != (
            rec.profile,
            rec.platform,
            rec.executor,
            rec.group,
        ):
            ctx.conn.execute(update(s.accounts).where(s.accounts.c.id == rec.name).values(**values))
            ctx.audit(
                "account.updated",
                {
                    "profile": rec.profile,
                    "platform": rec.platform,
                    "executor": rec.executor,
                    "was_profile": old.profile,
                },
                account=rec.name,
            )
    return created


def load_account_states(conn: Connection) -> dict[str, StoredAccountState]:
    out: dict[str, StoredAccountState] = {}
    for row in conn.execute(select(s.account_state)).all():
        out[row.account_id] = StoredAccountState(
            account=row.account_id,
            state=TradingState(row.state),
            state_reason=row.state_reason,
            peak=row.peak,
            threshold=row.threshold,
            locked=bool(row.locked),
            balance=row.balance,
            open_pnl=row.open_pnl,
            session_date=date.fromisoformat(row.session_date) if row.session_date else None,
            day_start_balance=row.day_start_balance,
            day_pnl=row.day_pnl,
            detail=row.detail,
        )
    return out


# Statements built once with bound parameters: compiled once, cached by SQLAlchemy (the hot write paths).
_SAVE_STATE = (
    update(s.account_state)
    .where(s.account_state.c.account_id == bindparam("b_account"))
    .values(
        {
            c: bindparam(c)
            for c in (
                "state",
                "state_reason",
                "peak",
                "threshold",
                "locked",
                "balance",
                "open_pnl",
                "session_date",
                "day_start_balance",
                "day_pnl",
                "detail",
                "updated_at",
            )
        }
    )
)
_SET_STATE = (
    update(s.account_state)
    .where(s.account_state.c.account_id == bindparam("b_account"))
    .values(state=bindparam("state"), state_reason=bindparam("state_reason"), updated_at=bindparam("updated_at"))
)


def save_account_state(ctx: WriteContext, st: StoredAccountState) -> None:
    save_account_states(ctx, [st])


def save_account_states(ctx: WriteContext, states: list[StoredAccountState]) -> None:
    """Every account's state in one statement (executemany): an emergency stop writes hundreds at once."""
    if not states:
        return
    ctx.conn.execute(_SAVE_STATE, [_state_params(ctx, st) for st in states])
    for st in states:
        ctx.seal("account_state", st.account)


def _state_params(ctx: WriteContext, st: StoredAccountState) -> dict[str, Any]:
    return {
        "b_account": st.account,
        "state": st.state.value,
        "state_reason": st.state_reason,
        "peak": st.peak,
        "threshold": st.threshold,
        "locked": st.locked,
        "balance": st.balance,
        "open_pnl": st.open_pnl,
        "session_date": st.session_date.isoformat() if st.session_date else None,
        "day_start_balance": st.day_start_balance,
        "day_pnl": st.day_pnl,
        "detail": st.detail,
        "updated_at": ctx.clock.now(),
    }


_INSERT_ALERT = s.alerts.insert()  # built once: its compiled form is cached


# The new rows' ids, in any order (each is sealed; none is matched to its event): asking them in the parameters'
# order makes SQLAlchemy insert the rows one statement each on SQLite.
_INSERT_STATE_CHANGES = s.trading_state_changes.insert().returning(s.trading_state_changes.c.id)


def record_state_changes(ctx: WriteContext, events: list[TradingStateChanged]) -> None:
    """Several accounts' state changes in one statement, for accounts whose state row this transaction also writes
    (``save_account_states``): the change rows, their seals and audit rows (an emergency stop's many halts)."""
    if not events:
        return
    rows = [
        dict(account_id=e.account, old_state=e.old.value, new_state=e.new.value, reason=e.reason, ts=e.ts)
        for e in events
    ]
    for key in ctx.conn.execute(_INSERT_STATE_CHANGES, rows).scalars().all():
        ctx.seal("trading_state_changes", key)
    for event in events:
        ctx.audit(
            "state.changed",
            {"old": event.old.value, "new": event.new.value, "reason": event.reason},
            account=event.account,
            ts=event.ts,
        )


def record_state_change(ctx: WriteContext, event: TradingStateChanged) -> None:
    """Persist a trading-state change (HALTED survives restarts) with its audit row, and the account's state row."""
    record_state_changes(ctx, [event])
    ctx.conn.execute(
        _SET_STATE,
        {"b_account": event.account, "state": event.new.value, "state_reason": event.reason, "updated_at": event.ts},
    )
    ctx.seal("account_state", event.account)


# ---------------------------------------------------------------- signals and decisions
_SIGNAL_BY_ID = select(s.signals.c.id).where(s.signals.c.id == bindparam("b_id"))
# INSERT ... ON CONFLICT (<unique column>) DO NOTHING, per dialect: one statement where a SELECT then an INSERT were
_INSERT_NEW: dict[tuple[str, tuple[str, ...], str], Executable] = {}
_ON_CONFLICT: dict[str, Callable[[Table], Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _insert_new(conn: Connection, table: Table, unique: tuple[str, ...], values: dict[str, Any]) -> bool:
    """Insert the row unless a row with the same values in the ``unique`` columns (a unique constraint) exists: one
    statement where a SELECT and an INSERT were (the two databases the hub supports, config.models.DatabaseSection,
    both have ON CONFLICT). True when it was inserted. A conflict on another unique constraint is an error, as for a
    plain insert."""
    dialect = conn.dialect.name
    statement = _INSERT_NEW.get((table.name, unique, dialect))
    if statement is None:
        conflict = _ON_CONFLICT[dialect](table).on_conflict_do_nothing(index_elements=[table.c[c] for c in unique])
        statement = conflict.execution_options(preserve_rowcount=True)  # an INSERT's count is kept only if asked
        _INSERT_NEW[(table.name, unique, dialect)] = statement
    return bool(conn.execute(statement, values).rowcount)


_INSERT_DECISION = s.decisions.insert()
_INSERT_ANALYSIS = s.analyses.insert()


def signal_exists(conn: Connection, signal_id: str) -> bool:
    return conn.execute(_SIGNAL_BY_ID, {"b_id": signal_id}).first() is not None


def insert_signal(ctx: WriteContext, signal: Signal, dedup_key: str | None = None, raw: Any = None) -> bool:
    """Store a signal; False when ``dedup_key`` was seen before (nothing written)."""
    inserted = _insert_new(
        ctx.conn,
        s.signals,
        ("dedup_key",),
        dict(
            id=signal.signal_id,
            source=signal.source.value,
            symbol=symbol_of(signal.contract),
            direction=signal.direction.value,
            entry=signal.entry,
            stop=signal.stop,
            target=signal.target,
            group_name=signal.group,
            power=signal.power,
            confluence=signal.confluence,
            dedup_key=dedup_key,
            received_at=signal.received_at,
            raw=canonical_json(raw if raw is not None else {}),
        ),
    )
    if not inserted:
        return False
    ctx.audit(
        "signal.received",
        {
            "id": signal.signal_id,
            "source": signal.source.value,
            "symbol": symbol_of(signal.contract),
            "direction": signal.direction.value,
        },
    )
    return True


def insert_decision(
    ctx: WriteContext,
    *,
    signal_id: str,
    account: str | None,
    action: str,
    quantity: int,
    ai: Any,
    verdicts: Any,
    sizing: Any,
    decision_id: str | None = None,
) -> str:
    decision_id = decision_id or new_id()
    ctx.conn.execute(
        _INSERT_DECISION,
        dict(
            id=decision_id,
            signal_id=signal_id,
            account_id=account,
            created_at=ctx.clock.now(),
            action=action,
            quantity=quantity,
            ai=canonical_json(ai),
            verdicts=canonical_json(verdicts),
            sizing=canonical_json(sizing),
        ),
    )
    ctx.audit(
        "decision",
        {"id": decision_id, "signal": signal_id, "action": action, "quantity": quantity},
        account=account,
    )
    return decision_id


def insert_analysis(ctx: WriteContext, signal_id: str, analysis: Analysis, analysis_id: str | None = None) -> str:
    """One analysis of a signal (model or scorer), with its tokens and cost."""
    analysis_id = analysis_id or new_id()
    ctx.conn.execute(
        _INSERT_ANALYSIS,
        dict(
            id=analysis_id,
            signal_id=signal_id,
            created_at=ctx.clock.now(),
            source=analysis.source,
            model=analysis.model,
            prompt_version=analysis.prompt_version,
            score=analysis.score,
            action=analysis.action,
            confidence=analysis.confidence,
            reasons=canonical_json(list(analysis.reasons)),
            fallback_reason=analysis.fallback_reason,
            prompt_tokens=analysis.prompt_tokens,
            completion_tokens=analysis.completion_tokens,
            cost_usd=analysis.cost_usd,
            latency_ms=analysis.latency_ms,
        ),
    )
    return analysis_id


def list_decisions(
    conn: Connection,
    since: datetime | None = None,
    limit: int = 100,
    account: str | None = None,
    visible: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Decisions, newest first, each with its signal and analysis: the decision record as users read it."""
    query = (
        select(
            s.decisions,
            s.signals.c.source,
            s.signals.c.symbol.label("signal_symbol"),
            s.signals.c.direction,
            s.signals.c.entry,
            s.signals.c.stop,
            s.signals.c.target,
            s.signals.c.group_name,
            s.signals.c.power,
            s.signals.c.confluence,
            s.signals.c.received_at,
        )
        .select_from(s.decisions.join(s.signals, s.decisions.c.signal_id == s.signals.c.id))
        .order_by(s.decisions.c.created_at.desc(), s.decisions.c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(s.decisions.c.created_at >= since)
    if account is not None:
        query = query.where(s.decisions.c.account_id == account)
    if visible is not None:
        query = query.where(s.decisions.c.account_id.in_(sorted(visible)))
    rows = conn.execute(query).all()
    ids = sorted({r.id for r in rows})
    orders: dict[str, list[dict[str, Any]]] = {}
    if ids:
        for o in conn.execute(
            select(
                s.orders.c.decision_id,
                s.orders.c.idempotency_key,
                s.orders.c.symbol,
                s.orders.c.side,
                s.orders.c.quantity,
                s.orders.c.status,
                s.orders.c.filled_quantity,
                s.orders.c.average_price,
            )
            .where(s.orders.c.decision_id.in_(ids))
            .order_by(s.orders.c.created_at)
        ):
            orders.setdefault(o.decision_id, []).append(
                {
                    "key": o.idempotency_key,
                    "symbol": o.symbol,
                    "side": o.side,
                    "quantity": o.quantity,
                    "status": o.status,
                    "filled": o.filled_quantity,
                    "average_price": None if o.average_price is None else str(o.average_price),
                }
            )
    return [
        {
            "decision_id": r.id,
            "at": r.created_at.isoformat(),
            "account": r.account_id,
            "action": r.action,
            "quantity": r.quantity,
            "signal": {
                "id": r.signal_id,
                "source": r.source,
                "symbol": r.signal_symbol,
                "direction": r.direction,
                "entry": None if r.entry is None else str(r.entry),
                "stop": None if r.stop is None else str(r.stop),
                "target": None if r.target is None else str(r.target),
                "group": r.group_name,
                "power": r.power,
                "confluence": r.confluence,
                "received_at": r.received_at.isoformat(),
            },
            "analysis": json.loads(r.ai),
            "verdicts": json.loads(r.verdicts),
            "sizing": json.loads(r.sizing),
            "orders": orders.get(r.id, []),
        }
        for r in rows
    ]


# ---------------------------------------------------------------- orders, fills, positions
@dataclass(frozen=True)
class StoredOrder:
    order_id: str
    idempotency_key: str
    account: str
    executor: str
    seq: int | None
    contract: Contract
    side: Side
    quantity: int
    status: OrderStatus
    filled_quantity: int
    average_price: Decimal | None
    created: bool  # False when the key existed already
    purpose: OrderPurpose = OrderPurpose.ENTRY


_ORDER_BY_KEY = select(s.orders).where(s.orders.c.idempotency_key == bindparam("b_key"))
_ORDER_ID_BY_KEY = select(s.orders.c.id).where(s.orders.c.idempotency_key == bindparam("b_key"))
_KEY_BY_REF = select(s.order_refs.c.idempotency_key).where(s.order_refs.c.order_ref == bindparam("b_ref"))
# an UPDATE whose SET clause comes from the parameters given (the columns a call changes)
_UPDATE_ORDER_BY_KEY = update(s.orders).where(s.orders.c.idempotency_key == bindparam("b_key"))
_UPDATE_ORDER_BY_ID = update(s.orders).where(s.orders.c.id == bindparam("b_id"))
_UPDATE_IF_PENDING = update(s.orders).where(  # the SET clause from the parameters
    (s.orders.c.idempotency_key == bindparam("b_key")) & (s.orders.c.status == OrderStatus.PENDING.value)
)


def insert_order(
    ctx: WriteContext,
    intent: OrderIntent,
    *,
    executor: str,
    seq: int | None = None,
    decision_id: str | None = None,
) -> StoredOrder:
    """Store an order before it is sent. A repeated idempotency key returns the stored order unchanged."""
    now = ctx.clock.now()
    order_id = new_id()
    bracket = {} if intent.bracket is None else {"stop": intent.bracket.stop, "target": intent.bracket.target}
    inserted = _insert_new(
        ctx.conn,
        s.orders,
        ("idempotency_key",),
        dict(
            id=order_id,
            idempotency_key=intent.idempotency_key,
            account_id=intent.account,
            decision_id=decision_id,
            executor=executor,
            seq=seq,
            symbol=symbol_of(intent.contract),
            side=intent.side.value,
            quantity=intent.quantity,
            order_type=intent.order_type.value,
            purpose=intent.purpose.value,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            tif=intent.tif.value,
            bracket=canonical_json(bracket),
            status=OrderStatus.PENDING.value,
            filled_quantity=0,
            reason="",
            created_at=now,
            updated_at=now,
        ),
    )
    if not inserted:  # a repeated key: the stored order, unchanged
        return _order_from_row(ctx.conn.execute(_ORDER_BY_KEY, {"b_key": intent.idempotency_key}).one(), created=False)
    ctx.seal("orders", intent.idempotency_key)
    # the compact reference, unless another key has it already (that order keeps it; this one goes by its key)
    _insert_new(ctx.conn, s.order_refs, ("order_ref",), {"order_ref": order_ref(intent.idempotency_key),
                                                      "idempotency_key": intent.idempotency_key})  # fmt: skip
    ctx.audit(
        "order.stored",
        {
            "id": order_id,
            "key": intent.idempotency_key,
            "symbol": symbol_of(intent.contract),
            "side": intent.side.value,
            "quantity": intent.quantity,
            "purpose": intent.purpose.value,
            "executor": executor,
            "seq": seq,
        },
        account=intent.account,
    )
    return StoredOrder(
        order_id,
        intent.idempotency_key,
        intent.account,
        executor,
        seq,
        intent.contract,
        intent.side,
        intent.quantity,
        OrderStatus.PENDING,
        0,
        None,
        created=True,
    )


LEG_SUFFIXES = (":stop", ":target")


def resolve_key(conn: Connection, key: str) -> str:
    """The hub's key for what an executor reported: the key itself, the key of an order named by its compact
    reference (``domain.orders.order_ref``), or ``<entry key>:stop`` / ``:target`` for a leg named after the
    reference. A key the hub does not know comes back unchanged (an order the executor made on its own). A key
    that cannot be a reference is the key itself, with no query (the common case: executors that echo the key)."""
    head, suffix = key, ""
    for leg in LEG_SUFFIXES:
        if key.endswith(leg):
            head, suffix = key[: -len(leg)], leg
    if not head.startswith(ORDER_REF_PREFIX) or len(head) != ORDER_REF_LENGTH:
        return key
    if conn.execute(_ORDER_ID_BY_KEY, {"b_key": key}).first() is not None:  # a key of that very shape
        return key
    row = conn.execute(_KEY_BY_REF, {"b_ref": head}).first()
    return key if row is None else row.idempotency_key + suffix


def protective_stops(conn: Connection, account: str) -> dict[Contract, Decimal]:
    """Per contract, the bracket stop of the latest entry that filled on it (newest first wins): the price an open
    position is protected at, for executors that cannot report open P&L."""
    rows = conn.execute(
        select(s.orders.c.symbol, s.orders.c.bracket)
        .where(
            (s.orders.c.account_id == account)
            & (s.orders.c.purpose == OrderPurpose.ENTRY.value)
            & (s.orders.c.filled_quantity > 0)
        )
        .order_by(s.orders.c.created_at.desc())
    )
    stops: dict[Contract, Decimal] = {}
    for row in rows:
        contract = _contract(row.symbol)
        stop = json.loads(row.bracket or "{}").get("stop")
        if contract not in stops and stop not in (None, ""):
            stops[contract] = Decimal(str(stop))
    return stops


def acknowledge_order(ctx: WriteContext, idempotency_key: str, status: OrderStatus, reason: str = "") -> bool:
    """The executor's answer to an order: a PENDING order becomes ``status`` (accepted or rejected); an order
    already further along (a fill or an order state reported first) is left as it is. True when it changed."""
    return _settle_if_pending(ctx, idempotency_key, status, reason, reason)


def _settle_if_pending(ctx: WriteContext, key: str, status: OrderStatus, reason: str, audited: str) -> bool:
    """A PENDING order becomes ``status`` (``reason`` on the row, ``audited`` in the audit row); any other is left."""
    values: dict[str, Any] = {"b_key": key, "status": status.value, "updated_at": ctx.clock.now()}
    if reason:
        values["reason"] = reason
    if not ctx.conn.execute(_UPDATE_IF_PENDING, values).rowcount:
        return False
    ctx.seal("orders", key)
    ctx.audit("order.updated", {"key": key, "status": status.value, "reason": audited})
    return True


def update_order(
    ctx: WriteContext,
    idempotency_key: str,
    *,
    status: OrderStatus,
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    broker_order_id: str | None = None,
    reason: str = "",
) -> bool:
    values: dict[str, Any] = {"b_key": idempotency_key, "status": status.value, "updated_at": ctx.clock.now()}
    if filled_quantity is not None:
        values["filled_quantity"] = filled_quantity
    if average_price is not None:
        values["average_price"] = average_price
    if broker_order_id is not None:
        values["broker_order_id"] = broker_order_id
    if reason:
        values["reason"] = reason
    result = ctx.conn.execute(_UPDATE_ORDER_BY_KEY, values)
    if result.rowcount:
        ctx.seal("orders", idempotency_key)
        ctx.audit("order.updated", {"key": idempotency_key, "status": status.value, "reason": reason})
    return bool(result.rowcount)


LIVE_STATUSES = (
    OrderStatus.PENDING.value,
    OrderStatus.ACCEPTED.value,
    OrderStatus.WORKING.value,
    OrderStatus.PARTIALLY_FILLED.value,
)


@dataclass(frozen=True)
class WorkingOrder:
    """An order that is neither filled nor cancelled, rejected or expired."""

    key: str
    account: str
    executor: str
    contract: Contract
    side: Side
    remaining: int
    purpose: OrderPurpose
    order_type: OrderType
    status: OrderStatus
    created_at: datetime


def working_orders(conn: Connection, account: str | None = None) -> list[WorkingOrder]:
    """Live orders (pending, accepted, working, partially filled), oldest first."""
    query = select(s.orders).where(s.orders.c.status.in_(LIVE_STATUSES)).order_by(s.orders.c.created_at)
    if account is not None:
        query = query.where(s.orders.c.account_id == account)
    return [_working(r) for r in conn.execute(query)]


def _working(r: Any) -> WorkingOrder:
    return WorkingOrder(
        r.idempotency_key, r.account_id, r.executor, _contract(r.symbol), Side(r.side),
        max(0, r.quantity - r.filled_quantity), OrderPurpose(r.purpose), OrderType(r.order_type),
        OrderStatus(r.status), r.created_at,
    )  # fmt: skip


def order_states(conn: Connection, keys: list[str]) -> dict[str, tuple[OrderStatus, str]]:
    """Status and reason of each stored order among ``keys``."""
    if not keys:
        return {}
    rows = conn.execute(
        select(s.orders.c.idempotency_key, s.orders.c.status, s.orders.c.reason).where(
            s.orders.c.idempotency_key.in_(keys)
        )
    )
    return {r.idempotency_key: (OrderStatus(r.status), r.reason) for r in rows}


def last_signal_with_key_prefix(conn: Connection, prefix: str) -> datetime | None:
    """When the newest signal whose de-duplication key starts with ``prefix`` was received."""
    row = conn.execute(
        select(s.signals.c.received_at)
        .where(s.signals.c.dedup_key.like(prefix.replace("%", r"\%").replace("_", r"\_") + "%", escape="\\"))
        .order_by(s.signals.c.received_at.desc())
        .limit(1)
    ).first()
    return None if row is None else row.received_at


_UNSENT_ENTRIES = select(s.orders.c.idempotency_key, s.orders.c.account_id).where(
    s.orders.c.account_id.in_(bindparam("accounts", expanding=True))
    & (s.orders.c.status == OrderStatus.PENDING.value)
    & (s.orders.c.purpose == OrderPurpose.ENTRY.value)
)


def cancel_unsent_entries(ctx: WriteContext, reasons: dict[str, str]) -> list[str]:
    """Entries of these accounts (account -> why) no executor has acknowledged: cancelled here, so they are never
    (re)sent (an account that is HALTED or FAILED takes only exits and flattens). One query for every account (an
    emergency stop halts them all in one transaction). Returns their keys."""
    if not reasons:
        return []
    rows = ctx.conn.execute(_UNSENT_ENTRIES, {"accounts": list(reasons)}).all()
    done: list[str] = []
    for account, reason in reasons.items():
        done += cancel_pending(ctx, [r.idempotency_key for r in rows if r.account_id == account], reason)
    return done


def cancel_pending(ctx: WriteContext, keys: list[str], reason: str) -> list[str]:
    """Orders among ``keys`` still PENDING (no executor acknowledged them): cancelled, never (re)sent."""
    row_reason, audited = f"never sent: {reason}"[:500], reason[:300]
    return [key for key in keys if _settle_if_pending(ctx, key, OrderStatus.CANCELLED, row_reason, audited)]


def get_order(conn: Connection, idempotency_key: str) -> StoredOrder | None:
    row = conn.execute(_ORDER_BY_KEY, {"b_key": idempotency_key}).first()
    return None if row is None else _order_from_row(row, created=False)


def _order_from_row(row: Any, *, created: bool) -> StoredOrder:
    return StoredOrder(
        order_id=row.id,
        idempotency_key=row.idempotency_key,
        account=row.account_id,
        executor=row.executor,
        seq=row.seq,
        contract=_contract(row.symbol),
        side=Side(row.side),
        quantity=row.quantity,
        status=OrderStatus(row.status),
        filled_quantity=row.filled_quantity,
        average_price=row.average_price,
        created=created,
        purpose=OrderPurpose(row.purpose),
    )


_FILL_IDENTITY = ("account_id", "executor", "fill_id")  # the fills' unique constraint (schema.fills)
_ORDER_FOR_FILL = select(s.orders.c.id, s.orders.c.quantity, s.orders.c.filled_quantity, s.orders.c.status).where(
    s.orders.c.idempotency_key == bindparam("b_key")
)
_FILLS_OF_ORDER = select(s.fills.c.quantity, s.fills.c.price).where(s.fills.c.order_id == bindparam("b_order"))
_POSITION = select(s.positions).where(
    (s.positions.c.account_id == bindparam("b_account")) & (s.positions.c.symbol == bindparam("b_symbol"))
)
_UPDATE_POSITION = update(s.positions).where(
    (s.positions.c.account_id == bindparam("b_account")) & (s.positions.c.symbol == bindparam("b_symbol"))
)
_INSERT_POSITION = s.positions.insert()


def insert_fill(ctx: WriteContext, fill: Fill, executor: str = "") -> bool:
    """Record a fill and update the position. A fill is identified by (account, executor, fill id): a repeated
    report is ignored (returns False); another account's fill with the same broker id is a fill of its own."""
    order = ctx.conn.execute(_ORDER_FOR_FILL, {"b_key": fill.idempotency_key}).first()
    symbol = symbol_of(fill.contract)
    fill_row_id = new_id()
    inserted = _insert_new(
        ctx.conn,
        s.fills,
        _FILL_IDENTITY,
        dict(
            id=fill_row_id,
            fill_id=fill.fill_id,
            executor=executor,
            order_id=order.id if order else None,
            account_id=fill.account,
            symbol=symbol,
            side=fill.side.value,
            quantity=fill.quantity,
            price=fill.price,
            commission=fill.commission,
            ts=fill.ts,
        ),
    )
    if not inserted:  # a repeated report
        return False
    if order is not None:  # the fills are the truth: an order whose fills cover it is filled, at their average
        rows = ctx.conn.execute(_FILLS_OF_ORDER, {"b_order": order.id}).all()
        total = sum(r.quantity for r in rows)
        filled = max(total, order.filled_quantity)
        values: dict[str, Any] = {"b_id": order.id, "filled_quantity": filled, "updated_at": fill.ts}
        if total:
            values["average_price"] = (sum(r.price * r.quantity for r in rows) / total).quantize(Decimal("0.00000001"))
        if filled >= order.quantity and order.status != OrderStatus.FILLED.value:
            values["status"] = OrderStatus.FILLED.value  # whatever was recorded before (a cancel that came late)
        elif filled and order.status in (
            OrderStatus.PENDING.value,
            OrderStatus.ACCEPTED.value,
            OrderStatus.WORKING.value,
        ):
            values["status"] = OrderStatus.PARTIALLY_FILLED.value
        ctx.conn.execute(_UPDATE_ORDER_BY_ID, values)
        ctx.seal("orders", fill.idempotency_key)
    ctx.seal("fills", fill_row_id)
    current = get_position(ctx.conn, fill.account, fill.contract)
    updated, realised = current.apply(fill)
    row = {"quantity": updated.quantity, "average_price": updated.average_price, "updated_at": fill.ts}
    if not ctx.conn.execute(_UPDATE_POSITION, {"b_account": fill.account, "b_symbol": symbol, **row}).rowcount:
        ctx.conn.execute(_INSERT_POSITION, {"account_id": fill.account, "symbol": symbol, **row})
    ctx.audit(
        "fill",
        {
            "id": fill.fill_id,
            "key": fill.idempotency_key,
            "symbol": symbol,
            "side": fill.side.value,
            "quantity": fill.quantity,
            "price": fill.price,
            "commission": fill.commission,
            "realised": realised,
        },
        account=fill.account,
        ts=fill.ts,
    )
    return True


def get_position(conn: Connection, account: str, contract: Contract) -> Position:
    row = conn.execute(_POSITION, {"b_account": account, "b_symbol": symbol_of(contract)}).first()
    if row is None:
        return Position(account, contract)
    return Position(account, contract, row.quantity, row.average_price)


def list_positions(conn: Connection, account: str | None = None) -> list[Position]:
    query = select(s.positions).where(s.positions.c.quantity != 0)
    if account is not None:
        query = query.where(s.positions.c.account_id == account)
    return [Position(r.account_id, _contract(r.symbol), r.quantity, r.average_price) for r in conn.execute(query)]


# ---------------------------------------------------------------- health, alerts, config changes
def record_component_health(ctx: WriteContext, event: ComponentHealth) -> None:
    ctx.conn.execute(
        s.component_health.insert(),
        dict(component=event.component, status=event.status, detail=event.detail, ts=event.ts),
    )
    ctx.audit(
        "component.health", {"component": event.component, "status": event.status, "detail": event.detail}, ts=event.ts
    )


def insert_equity_samples(ctx: WriteContext, rows: list[dict[str, Any]]) -> None:
    """Samples of accounts' equity curves (``app.views.EquityHistory``); not audited: a derived view."""
    if rows:
        ctx.conn.execute(s.equity_samples.insert(), rows)


def prune_equity_samples(ctx: WriteContext, before: datetime) -> int:
    """Delete the equity samples older than ``before``; how many went."""
    result = ctx.conn.execute(s.equity_samples.delete().where(s.equity_samples.c.ts < before))
    return int(result.rowcount or 0)


OFFSITE_BACKUP = "backup.offsite"  # the audit row of a backup stored off this machine


def last_offsite_backup(conn: Connection) -> tuple[datetime, dict[str, Any]] | None:
    """When the newest off-site backup was stored, and its audit payload (target, name, size)."""
    row = conn.execute(
        select(s.audit_log.c.ts, s.audit_log.c.payload)
        .where(s.audit_log.c.kind == OFFSITE_BACKUP)
        .order_by(s.audit_log.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.ts, json.loads(row.payload))


def record_alerts(ctx: WriteContext, alerts: list[dict[str, Any]]) -> None:
    """Several alerts (severity, kind, message, account) in one statement, each with its audit row."""
    if not alerts:
        return
    now = ctx.clock.now()
    rows = [_alert_row(now, a["severity"], a["kind"], a["message"], a.get("account"), "pending", a.get("detail"))
            for a in alerts]  # fmt: skip
    ctx.conn.execute(_INSERT_ALERT, rows)
    for a in alerts:
        ctx.audit(
            "alert", {"severity": a["severity"], "kind": a["kind"], "message": a["message"]}, account=a.get("account")
        )


def _alert_row(
    ts: datetime, severity: str, kind: str, message: str, account: str | None, status: str, detail: Any
) -> dict[str, Any]:
    return dict(ts=ts, severity=severity, kind=kind, account_id=account, message=message, status=status,
                detail=canonical_json(detail or {}))  # fmt: skip


def record_alert(
    ctx: WriteContext,
    *,
    severity: str,
    kind: str,
    message: str,
    account: str | None = None,
    status: str = "pending",
    detail: Any = None,
) -> int:
    result = ctx.conn.execute(
        _INSERT_ALERT, _alert_row(ctx.clock.now(), severity, kind, message, account, status, detail)
    )
    ctx.audit("alert", {"severity": severity, "kind": kind, "message": message}, account=account)
    key = result.inserted_primary_key
    return int(key[0]) if key is not None else 0


def record_config_change(
    ctx: WriteContext, *, key: str, old: Any, new: Any, applied: bool, source: str, note: str = ""
) -> None:
    old_text, new_text = json.dumps(old, default=str), json.dumps(new, default=str)
    ctx.conn.execute(
        s.config_changes.insert(),
        dict(
            ts=ctx.clock.now(),
            key=key,
            old_value=old_text,
            new_value=new_text,
            applied=applied,
            source=source,
            note=note,
        ),
    )
    ctx.audit(
        "config.changed" if applied else "config.refused",
        {"key": key, "old": old_text, "new": new_text, "source": source, "note": note},
    )


def recent_config_changes(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(select(s.config_changes).order_by(s.config_changes.c.id.desc()).limit(limit)).all()
    return [dict(row._mapping) for row in rows]


def latest_ts(conn: Connection, table: Any) -> datetime | None:
    row = conn.execute(select(table.c.ts).order_by(table.c.ts.desc()).limit(1)).first()
    return None if row is None else row.ts


def insert_errors(ctx: WriteContext, rows: list[dict[str, Any]]) -> int:
    """Errors the hub logged (``adapters.logging.ErrorBuffer``), with their context."""
    if not rows:
        return 0
    ctx.conn.execute(
        s.errors.insert(),
        [
            dict(
                ts=datetime.fromtimestamp(r["created"], UTC),
                level=r["level"],
                logger=r["logger"],
                event=r["event"] or "(no event)",
                context=canonical_json(r["context"]),
            )
            for r in rows
        ],
    )
    return len(rows)
