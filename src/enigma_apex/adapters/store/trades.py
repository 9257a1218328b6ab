"""Round-trip trades rebuilt from the fills in the database, for the trade statistics.

A trade starts when an account's position in a contract leaves zero and ends when it returns to
zero. Its initial risk R comes from the stop of the order that opened it (the bracket stop stored
with the order); trades without a known stop are left out (their R is unknown). Its setup is the
signal source and instrument root (plus the AlgoBox power bucket) of the opening order's decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, select

from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store.repository import _contract
from enigma_apex.domain.orders import Fill, Position, Side
from enigma_apex.sizing.stats import TradeRecord, power_bucket

ZERO = Decimal(0)


@dataclass
class _Open:
    position: Position
    pnl: Decimal
    risk: Decimal | None
    setup: str


def load_trades(
    conn: Connection, account: str | None = None, power_edges: tuple[int, ...] = (50, 70, 85)
) -> list[TradeRecord]:
    query = (
        select(s.fills, s.orders.c.bracket, s.signals.c.source, s.signals.c.power)
        .select_from(
            s.fills.outerjoin(s.orders, s.fills.c.order_id == s.orders.c.id)
            .outerjoin(s.decisions, s.orders.c.decision_id == s.decisions.c.id)
            .outerjoin(s.signals, s.decisions.c.signal_id == s.signals.c.id)
        )
        .order_by(s.fills.c.ts, s.fills.c.fill_id)
    )
    if account is not None:
        query = query.where(s.fills.c.account_id == account)
    open_trades: dict[tuple[str, str], _Open] = {}
    out: list[TradeRecord] = []
    for row in conn.execute(query):
        contract = _contract(row.symbol)
        key = (row.account_id, row.symbol)
        fill = Fill(
            row.id, "", row.account_id, contract, Side(row.side), row.quantity, row.price, row.commission, row.ts
        )
        current = open_trades.get(key)
        if current is None:
            stop = json.loads(row.bracket or "{}").get("stop")
            risk = abs(row.price - Decimal(stop)) * contract.spec.point_value * row.quantity if stop else None
            setup = f"{row.source or 'unknown'}:{contract.root}"
            bucket = power_bucket(row.power, power_edges) if row.source == "algobox" else None
            current = _Open(Position(row.account_id, contract), ZERO, risk, setup + (f":{bucket}" if bucket else ""))
            open_trades[key] = current
        current.position, realised = current.position.apply(fill)
        current.pnl += realised - row.commission
        if current.position.is_flat:
            del open_trades[key]
            if current.risk:
                out.append(TradeRecord(row.account_id, current.setup, current.pnl, current.risk))
    return out
