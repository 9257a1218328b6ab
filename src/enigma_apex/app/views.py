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
from enigma_apex.config.models import Settings


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
        snap = guardian.tracker(entry.name).snapshot()
        view = {
            "account": entry.name,
            "profile": entry.profile,
            "group": entry.group,
            "executor": entry.executor,
            "executor_connected": entry.executor in connected,
            **{k: jsonable(v) for k, v in dataclasses.asdict(snap).items() if k != "account"},
        }
        view["state"] = str(view["state"]).upper()
        result.append(view)
    return result


class EquityHistory:
    """Each account's equity, threshold and peak sampled every few seconds while the hub runs (the account
    page's curve), kept in memory for ``hours``; the fills in the database are the permanent record."""

    def __init__(self, every_s: float = 5.0, hours: float = 8.0) -> None:
        self.every_s = every_s
        self.samples: dict[str, deque[tuple[str, str, str, str, bool]]] = {}
        self.maxlen = int(hours * 3600 / every_s)

    def sample(self, guardian: GuardianService, accounts: list[str], now: datetime) -> None:
        for account in accounts:
            snap = guardian.tracker(account).snapshot()
            row = (now.isoformat(), str(snap.equity), str(snap.threshold), str(snap.peak), snap.locked)
            self.samples.setdefault(account, deque(maxlen=self.maxlen)).append(row)

    def of(self, account: str) -> list[dict[str, Any]]:
        keys = ("ts", "equity", "threshold", "peak", "locked")
        return [dict(zip(keys, row, strict=True)) for row in self.samples.get(account, ())]


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
    query = select(s.fills).order_by(desc(s.fills.c.ts))
    if visible is not None:
        query = query.where(s.fills.c.account_id.in_(sorted(visible)))
    if account is not None:
        query = query.where(s.fills.c.account_id == account)
    if since is not None:
        query = query.where(s.fills.c.ts >= since)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(_limit(query, limit))]


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
