"""Read models for the HTTP API and the dashboard: accounts with their live risk state, and pages of the
recorded signals, orders, fills, positions, alerts, component health and audit log, as JSON-ready dicts
(money and prices as decimal strings, times as ISO-8601 with an offset). Reads only; the writer is untouched."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import deque
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import desc, func, select

from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store.store import Store
from enigma_apex.app.guardian import GuardianService
from enigma_apex.app.market import MarketBook
from enigma_apex.config.models import Settings
from enigma_apex.domain import journal
from enigma_apex.domain.symbols import format_symbol, parse_symbol
from enigma_apex.rules.ruin import ruin_price


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _row(row: Any, json_columns: tuple[str, ...] = ()) -> dict[str, Any]:
    data = dict(row._mapping)
    for column in json_columns:
        if isinstance(data.get(column), str):
            with contextlib.suppress(ValueError):
                data[column] = json.loads(data[column])
    return {k: jsonable(v) for k, v in data.items()}


Visible = frozenset[str] | None  # the accounts a caller sees (None: every account)


def account_views(
    settings: Settings, guardian: GuardianService, connected: set[str], visible: Visible = None
) -> list[dict[str, Any]]:
    """Every configured account with its tracker's snapshot (state, equity, threshold, distance to ruin, …)."""
    result = []
    for entry in settings.accounts:
        if visible is not None and entry.name not in visible:
            continue
        tracker = guardian.tracker(entry.name)
        snap = tracker.snapshot()
        profile = tracker.profile
        held = guardian.book.positions.get(entry.name, {})
        view = {
            "account": entry.name,
            "profile": entry.profile,
            "group": entry.group,
            "executor": entry.executor,
            "executor_connected": entry.executor in connected,
            **{k: jsonable(v) for k, v in dataclasses.asdict(snap).items() if k != "account"},
        }
        view["state"] = str(view["state"]).upper()
        view["open_positions"] = {format_symbol(c): q for c, q in sorted(held.items(), key=lambda i: str(i[0])) if q}
        view["progress"] = jsonable(
            {
                "phase": profile.phase,
                "start": profile.start,
                "drawdown": profile.drawdown,
                "target": profile.target,
                "profit": snap.balance - profile.start,
                "target_left": None if profile.target is None else max(profile.start + profile.target - snap.balance,
                                                                       Decimal(0)),
                "min_trading_days": profile.min_trading_days,
                "time_limit_days": profile.time_limit_days,
            }
        )  # fmt: skip
        result.append(view)
    return result


class EquityHistory:
    """Each account's equity, threshold and peak: sampled every ``every_s`` while the hub runs and kept in memory
    for ``hours`` (the fine grain of the last hours), and kept in the database (``equity_samples``) when the
    figures changed, at most once every ``keep_every_s`` per account: the curve over any range survives restarts."""

    def __init__(self, every_s: float = 5.0, hours: float = 8.0, keep_every_s: float = 60.0) -> None:
        self.every_s = every_s
        self.keep_every_s = keep_every_s
        self.samples: dict[str, deque[tuple[datetime, Decimal, Decimal, Decimal, bool]]] = {}
        self.maxlen = int(hours * 3600 / every_s)
        self._kept: dict[str, tuple[datetime, tuple[Decimal, Decimal, Decimal, bool]]] = {}

    def sample(self, guardian: GuardianService, accounts: list[str], now: datetime) -> list[dict[str, Any]]:
        """Take a sample of every account; the rows due for the database (``repository.insert_equity_samples``)."""
        due = []
        for account in accounts:
            snap = guardian.tracker(account).snapshot()
            figures = (snap.equity, snap.threshold, snap.peak, snap.locked)
            self.samples.setdefault(account, deque(maxlen=self.maxlen)).append((now, *figures))
            kept = self._kept.get(account)
            if kept is None or (kept[1] != figures and (now - kept[0]).total_seconds() >= self.keep_every_s):
                self._kept[account] = (now, figures)
                due.append({"account_id": account, "ts": now, "equity": snap.equity, "threshold": snap.threshold,
                            "peak": snap.peak, "locked": snap.locked})  # fmt: skip
        return due

    def of(
        self,
        account: str,
        store: Store | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        points: int = 1500,
    ) -> list[dict[str, Any]]:
        """The curve from ``since`` to ``until`` (the stored samples, then the finer ones in memory), thinned to
        about ``points`` samples, oldest first."""
        recent = [r for r in self.samples.get(account, ()) if (since is None or r[0] >= since)
                  and (until is None or r[0] <= until)]  # fmt: skip
        rows: list[tuple[datetime, Decimal, Decimal, Decimal, bool]] = []
        if store is not None:
            table = s.equity_samples
            query = select(table.c.ts, table.c.equity, table.c.threshold, table.c.peak, table.c.locked).where(
                table.c.account_id == account
            )
            if since is not None:
                query = query.where(table.c.ts >= since)
            first_recent = recent[0][0] if recent else until
            if first_recent is not None:
                query = query.where(table.c.ts < first_recent)
            with store.engine.connect() as conn:
                rows = [tuple(r) for r in conn.execute(query.order_by(table.c.ts))]
        merged = rows + recent
        step = max(1, -(-len(merged) // max(1, points)))
        thinned = merged[::step]
        if merged and thinned[-1] is not merged[-1]:
            thinned.append(merged[-1])  # the latest figure is always shown
        keys = ("ts", "equity", "threshold", "peak", "locked")
        return [dict(zip(keys, jsonable(list(row)), strict=True)) for row in thinned]


def account_detail(
    settings: Settings,
    guardian: GuardianService,
    store: Store,
    market: MarketBook,
    account: str,
    connected: set[str],
    now: datetime,
) -> dict[str, Any]:
    """One account as its page shows it: the live figures, the evaluation's progress, and each open position with
    its mark, open P&L and ruin prices (where the guardian flattens it, where the firm's rule ends the account),
    and the working orders."""
    view = next(v for v in account_views(settings, guardian, connected) if v["account"] == account)
    tracker = guardian.tracker(account)
    snap = tracker.snapshot()
    view["positions"] = []
    recent = orders(store, account, None, 200)
    flatten_room = tracker.room_to_flatten(snap.balance) + snap.open_pnl  # from here to the guardian's flatten
    breach_room = snap.distance if snap.dll_remaining is None else min(snap.distance, snap.dll_remaining)
    for row in positions(store, account):
        contract = parse_symbol(row["symbol"], on=now.date())
        spec = contract.spec
        average = Decimal(row["average_price"])
        mark = market.last(format_symbol(contract)) or average
        quantity = int(row["quantity"])
        entry = next((o for o in recent if o["symbol"] == row["symbol"] and o["purpose"] == "entry"
                      and o["filled_quantity"]), None)  # fmt: skip
        bracket = entry["bracket"] if entry is not None and isinstance(entry["bracket"], dict) else {}
        view["positions"].append(
            {
                **row,
                "stop": bracket.get("stop"),  # the protective legs of the entry that opened it
                "target": bracket.get("target"),
                "mark": str(mark),
                "open_pnl": str((mark - average) * quantity * spec.point_value),
                "flatten_price": jsonable(ruin_price(mark, quantity, spec.point_value, spec.tick_size, flatten_room)),
                "ruin_price": jsonable(ruin_price(mark, quantity, spec.point_value, spec.tick_size, breach_room)),
            }
        )
    view["orders"] = [o for o in recent if o["status"] in WORKING]
    return view


WORKING = ("pending", "accepted", "working", "partially_filled")


def trades(
    settings: Settings,
    store: Store,
    market: MarketBook,
    account: str | None,
    since: datetime | None,
    now: datetime,
    visible: Visible = None,
) -> dict[str, Any]:
    """The trade journal: fills grouped into trades (entry, exit, P&L, commission, R, MAE/MFE where bars cover
    the trade), with the summary by source and setup, the daily P&L and the running expectancy."""
    query = (
        select(
            s.fills.c.account_id, s.fills.c.symbol, s.fills.c.side, s.fills.c.quantity, s.fills.c.price,
            s.fills.c.commission, s.fills.c.ts, s.orders.c.idempotency_key, s.orders.c.bracket,
            s.signals.c.source, s.signals.c.confluence, s.signals.c.raw,
        )
        .select_from(
            s.fills.outerjoin(s.orders, s.fills.c.order_id == s.orders.c.id)
            .outerjoin(s.decisions, s.orders.c.decision_id == s.decisions.c.id)
            .outerjoin(s.signals, s.decisions.c.signal_id == s.signals.c.id)
        )
        .order_by(s.fills.c.ts)
    )  # fmt: skip
    query = _fills_of(query, account, since, visible)
    with store.engine.connect() as conn:  # the newest 20,000 fills (``since`` reaches further back), oldest first
        rows = list(reversed(conn.execute(query.order_by(None).order_by(desc(s.fills.c.ts)).limit(20_000)).all()))
    fills = []
    for r in rows:
        bracket = _json(r.bracket) or {}
        raw = _json(r.raw) or {}
        setup = f"L{r.confluence}" if r.confluence else (str(raw.get("note"))[:40] if raw.get("note") else None)
        stop = bracket.get("stop") if isinstance(bracket, dict) else None
        fills.append(
            journal.JournalFill(
                r.account_id,
                r.symbol,
                r.side,
                int(r.quantity),
                Decimal(r.price),
                Decimal(r.commission),
                r.ts,
                r.idempotency_key,
                Decimal(stop) if stop else None,
                r.source,
                setup,
            )
        )
    today = now.date()
    made = journal.build_trades(fills, lambda symbol: parse_symbol(symbol, on=today).spec.point_value)
    for trade in made:
        seen = market.excursion(format_symbol(parse_symbol(trade.symbol, on=today)), trade.opened, trade.closed or now)
        if seen is not None:
            journal.with_excursion(trade, *seen)
    summary = journal.summarise(made)
    return {
        "trades": [_trade(t) for t in reversed(made)],
        "summary": jsonable(dataclasses.asdict(summary)),
        "by_source": {k: jsonable(dataclasses.asdict(v)) for k, v in journal.by(made, lambda t: t.source).items()},
        "by_setup": {k: jsonable(dataclasses.asdict(v)) for k, v in journal.by(made, lambda t: t.setup).items()},
        "daily": {d.isoformat(): str(v) for d, v in journal.daily(made).items()},
        "expectancy": [{"at": at.isoformat(), "expectancy": str(v)} for at, v in journal.expectancy_curve(made)],
    }


def _trade(t: journal.Trade) -> dict[str, Any]:
    out: dict[str, Any] = jsonable(
        {
            "account": t.account, "symbol": t.symbol, "direction": t.direction, "quantity": t.quantity,
            "opened": t.opened, "closed": t.closed, "entry": t.entry.quantize(Decimal("0.0001")).normalize(),
            "exit": None if t.exit is None else t.exit.quantize(Decimal("0.0001")).normalize(),
            "gross": t.gross.quantize(Decimal("0.01")), "commission": t.commission.quantize(Decimal("0.01")),
            "net": t.net.quantize(Decimal("0.01")), "stop": t.stop, "r": t.r, "source": t.source,
            "setup": t.setup, "mae": t.mae, "mfe": t.mfe,
        }
    )  # fmt: skip
    return out


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    with contextlib.suppress(ValueError):
        return json.loads(text)
    return None


def guardian_record(
    store: Store, market: MarketBook, since: datetime | None, now: datetime, visible: Visible = None
) -> list[dict[str, Any]]:
    """What the guardian refused, and what the prices that followed say of it: for a refused entry with a stop,
    whether the market then reached its stop (a loss avoided) or its target (a profit missed) first, per contract,
    from the bars the hub holds."""
    query = (
        select(
            s.decisions.c.account_id, s.decisions.c.created_at, s.decisions.c.verdicts, s.decisions.c.sizing,
            s.signals.c.symbol, s.signals.c.direction, s.signals.c.source,
        )
        .select_from(s.decisions.join(s.signals, s.decisions.c.signal_id == s.signals.c.id))
        .where(s.decisions.c.action == "refused")
        .order_by(desc(s.decisions.c.created_at))
        .limit(500)
    )  # fmt: skip
    if since is not None:
        query = query.where(s.decisions.c.created_at >= since)
    if visible is not None:
        query = query.where(s.decisions.c.account_id.in_(sorted(visible)))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    today = now.date()
    out = []
    for r in rows:
        verdicts = _json(r.verdicts) or []
        inputs = (_json(r.sizing) or {}).get("inputs") or {}
        entry, stop, target = (Decimal(v) if v else None for v in (inputs.get("entry"), inputs.get("stop"),
                                                                   inputs.get("target")))  # fmt: skip
        outcome, per_contract = "unknown", None
        if entry is not None and stop is not None and r.direction in ("long", "short"):
            contract = parse_symbol(r.symbol, on=today)
            bars = [b for b in market.bars.get(format_symbol(contract), []) if b.start >= r.created_at]
            outcome, per_contract = _what_followed(bars, r.direction, entry, stop, target, contract.spec.point_value)
        out.append(
            jsonable(
                {
                    "account": r.account_id,
                    "at": r.created_at,
                    "symbol": r.symbol,
                    "direction": r.direction,
                    "source": r.source,
                    "rules": [v.get("code") for v in verdicts if isinstance(v, dict)],
                    "reasons": [v.get("reason") for v in verdicts if isinstance(v, dict)],
                    "outcome": outcome,
                    "per_contract": per_contract,
                }
            )
        )
    return out


def _what_followed(
    bars: list[Any], direction: str, entry: Decimal, stop: Decimal, target: Decimal | None, point_value: Decimal
) -> tuple[str, Decimal | None]:
    long = direction == "long"
    for bar in bars:
        hit_stop = bar.low <= stop if long else bar.high >= stop
        hit_target = target is not None and (bar.high >= target if long else bar.low <= target)
        if hit_stop:  # both in one bar: the stop is taken as first (the careful reading)
            return "stop reached: loss avoided", -abs(entry - stop) * point_value
        if hit_target and target is not None:
            return "target reached: profit missed", abs(target - entry) * point_value
    return ("no bars after it" if not bars else "neither reached yet"), None


def _limit(query: Any, limit: int) -> Any:
    return query.limit(max(1, min(limit, 1000)))


def signals(
    store: Store, since: datetime | None, limit: int, groups: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Signals, newest first; ``groups``: only signals sent to these groups (a bound caller's accounts' groups)."""
    query = select(s.signals).order_by(desc(s.signals.c.received_at))
    if groups is not None:
        named = s.signals.c.group_name.in_(sorted(groups))
        query = query.where(named | s.signals.c.group_name.is_(None)) if "default" in groups else query.where(named)
    if since is not None:
        query = query.where(s.signals.c.received_at >= since)
    with store.engine.connect() as conn:
        return [_row(r, ("raw",)) for r in conn.execute(_limit(query, limit))]


def orders(
    store: Store, account: str | None, status: str | None, limit: int, visible: Visible = None
) -> list[dict[str, Any]]:
    query = select(s.orders).order_by(desc(s.orders.c.created_at))
    if visible is not None:
        query = query.where(s.orders.c.account_id.in_(sorted(visible)))
    if account is not None:
        query = query.where(s.orders.c.account_id == account)
    if status is not None:
        query = query.where(s.orders.c.status == status)
    with store.engine.connect() as conn:
        return [_row(r, ("bracket",)) for r in conn.execute(_limit(query, limit))]


def fills(
    store: Store, account: str | None, since: datetime | None, limit: int, visible: Visible = None
) -> list[dict[str, Any]]:
    query = _fills_of(select(s.fills).order_by(desc(s.fills.c.ts)), account, since, visible)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(_limit(query, limit))]


def _fills_of(query: Any, account: str | None, since: datetime | None, visible: Visible) -> Any:
    """A query of fills narrowed to the caller's accounts, one account, and a start time."""
    if visible is not None:
        query = query.where(s.fills.c.account_id.in_(sorted(visible)))
    if account is not None:
        query = query.where(s.fills.c.account_id == account)
    if since is not None:
        query = query.where(s.fills.c.ts >= since)
    return query


def positions(store: Store, account: str | None, visible: Visible = None) -> list[dict[str, Any]]:
    query = select(s.positions).where(s.positions.c.quantity != 0).order_by(s.positions.c.account_id)
    if visible is not None:
        query = query.where(s.positions.c.account_id.in_(sorted(visible)))
    if account is not None:
        query = query.where(s.positions.c.account_id == account)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def alerts(
    store: Store, severity: str | None, since: datetime | None, limit: int, visible: Visible = None
) -> list[dict[str, Any]]:
    """Alerts, newest first; a caller that sees some accounts only gets those accounts' alerts."""
    query = select(s.alerts).order_by(desc(s.alerts.c.id))
    if visible is not None:
        query = query.where(s.alerts.c.account_id.in_(sorted(visible)))
    if severity is not None:
        query = query.where(s.alerts.c.severity == severity)
    if since is not None:
        query = query.where(s.alerts.c.ts >= since)
    with store.engine.connect() as conn:
        return [_row(r, ("detail",)) for r in conn.execute(_limit(query, limit))]


def components(store: Store) -> list[dict[str, Any]]:
    """The latest health row of each component."""
    table = s.component_health
    latest = select(table.c.component, func.max(table.c.id).label("id")).group_by(table.c.component).subquery()
    query = select(table).join(latest, table.c.id == latest.c.id).order_by(table.c.component)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def audit_page(store: Store, before_id: int | None, limit: int) -> dict[str, Any]:
    """Newest first; ``next`` is the ``before_id`` of the following page (None at the end)."""
    return _page(store, s.audit_log, "payload", before_id, limit)


def errors_page(store: Store, before_id: int | None, limit: int) -> dict[str, Any]:
    """The errors the hub logged, newest first, paged like the audit log."""
    return _page(store, s.errors, "context", before_id, limit)


def _page(store: Store, table: Any, document: str, before_id: int | None, limit: int) -> dict[str, Any]:
    limit = max(1, min(limit, 500))
    query = select(table).order_by(desc(table.c.id)).limit(limit + 1)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    with store.engine.connect() as conn:
        rows = list(conn.execute(query))
    entries = [_row(r, (document,)) for r in rows[:limit]]
    return {"entries": entries, "next": entries[-1]["id"] if len(rows) > limit else None}


__all__ = [
    "EquityHistory",
    "account_views",
    "alerts",
    "audit_page",
    "components",
    "errors_page",
    "fills",
    "jsonable",
    "orders",
    "positions",
    "signals",
]
