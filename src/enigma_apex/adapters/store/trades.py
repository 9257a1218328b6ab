"""Round-trip trades rebuilt from the fills in the database, for the trade statistics.

A trade starts when an account's position in a contract leaves zero and ends when it returns to
zero. Its initial risk R comes from the stop of the order that opened it (the bracket stop stored
with the order); trades without a known stop are left out (their R is unknown). Its setup is the
signal source and instrument root (plus the AlgoBox power bucket) of the opening order's decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, or_, select

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
    """Every closed trade (of ``account``, or of every account), oldest first."""
    return TradeReplay(power_edges).feed(conn.execute(_fills(account)))


class TradeReplay:
    """Trades rebuilt fill by fill in the fills' order (time, then the executor's fill id), kept open between calls:
    ``catch_up`` reads only the fills recorded since, so a new fill costs its own rows, not the account's history."""

    def __init__(self, power_edges: tuple[int, ...] = (50, 70, 85)) -> None:
        self.power_edges = power_edges
        self.fills = 0  # fills replayed so far
        self.last: tuple[datetime, str] | None = None  # the last one's place in the order
        self._open: dict[tuple[str, str], _Open] = {}

    def catch_up(self, conn: Connection, account: str) -> list[TradeRecord] | None:
        """The trades of ``account`` closed by the fills recorded since the last call, oldest first. None when the
        history changed behind the replay (a fill recorded late with an earlier time, say): replay it afresh. A replay
        that has read nothing yet reads every fill of the account and never answers None."""
        if self.last is None:
            return self.feed(conn.execute(_fills(account)))
        at, fill_id = self.last
        rows = conn.execute(_FILLS_AFTER, {"account": account, "at": at, "fill_id": fill_id}).all()
        # the count may include a fill committed between the two reads (PostgreSQL reads each statement's own
        # snapshot): then it disagrees, and the account is replayed afresh, which reads it too
        total = conn.execute(_FILL_COUNT, {"account": account}).scalar_one()
        if self.fills + len(rows) != total:
            return None
        return self.feed(rows)

    def feed(self, rows: Iterable[Any]) -> list[TradeRecord]:
        """Replay rows of ``_fills`` (in its order); returns the trades they close."""
        out: list[TradeRecord] = []
        for row in rows:
            self.fills += 1
            self.last = (row.ts, row.fill_id)
            contract = _contract(row.symbol)
            key = (row.account_id, row.symbol)
            fill = Fill(
                row.id, "", row.account_id, contract, Side(row.side), row.quantity, row.price, row.commission, row.ts
            )
            current = self._open.get(key)
            if current is None:
                stop = json.loads(row.bracket or "{}").get("stop")
                risk = abs(row.price - Decimal(stop)) * contract.spec.point_value * row.quantity if stop else None
                setup = f"{row.source or 'unknown'}:{contract.root}"
                bucket = power_bucket(row.power, self.power_edges) if row.source == "algobox" else None
                setup += f":{bucket}" if bucket else ""
                current = _Open(Position(row.account_id, contract), ZERO, risk, setup)
                self._open[key] = current
            current.position, realised = current.position.apply(fill)
            current.pnl += realised - row.commission
            if current.position.is_flat:
                del self._open[key]
                if current.risk:
                    out.append(TradeRecord(row.account_id, current.setup, current.pnl, current.risk))
        return out


def _fills(account: str | None) -> Select[Any]:
    """Fills with what their trade needs (the opening order's bracket, the signal's source and power), in order."""
    query = (
        select(s.fills, s.orders.c.bracket, s.signals.c.source, s.signals.c.power)
        .select_from(
            s.fills.outerjoin(s.orders, s.fills.c.order_id == s.orders.c.id)
            .outerjoin(s.decisions, s.orders.c.decision_id == s.decisions.c.id)
            .outerjoin(s.signals, s.decisions.c.signal_id == s.signals.c.id)
        )
        .order_by(s.fills.c.ts, s.fills.c.fill_id)
    )
    return query if account is None else query.where(s.fills.c.account_id == account)


# built once: a fill's refresh runs them with its values
_FILLS_AFTER = _fills(None).where(
    s.fills.c.account_id == bindparam("account"),
    or_(
        s.fills.c.ts > bindparam("at", type_=s.fills.c.ts.type),
        and_(s.fills.c.ts == bindparam("at", type_=s.fills.c.ts.type), s.fills.c.fill_id > bindparam("fill_id")),
    ),
)
_FILL_COUNT = select(func.count()).select_from(s.fills).where(s.fills.c.account_id == bindparam("account"))
