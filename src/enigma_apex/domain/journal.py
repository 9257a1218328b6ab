"""The trade journal (pure): fills become trades, trades become the figures a trader reviews.

A trade runs from flat to flat in one account and contract: the fills that open or add make its entry (their
average price), the fills that reduce make its exit; a fill that reverses the position closes the trade and opens
the next with the rest. P&L is in dollars from the contract's point value; commissions are shared out by
quantity. R is the net P&L over the risk planned at entry (entry to stop, times quantity and point value) when the
entry's stop is known. A trading day is the CME session's: it starts at 18:00 New York time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from enigma_apex.domain.values import ZERO

NEW_YORK = ZoneInfo("America/New_York")
SESSION_ROLL = time(18, 0)


@dataclass(frozen=True, slots=True)
class JournalFill:
    account: str
    symbol: str
    side: str  # buy | sell
    quantity: int
    price: Decimal
    commission: Decimal
    ts: datetime
    order_key: str | None = None
    stop: Decimal | None = None  # the stop the order's bracket carried
    source: str | None = None  # the signal's source
    setup: str | None = None  # what kind of signal (its note, its confluence)


@dataclass
class Trade:
    account: str
    symbol: str
    direction: str  # long | short
    opened: datetime
    entry: Decimal = ZERO
    quantity: int = 0  # the most contracts held
    closed: datetime | None = None
    exit: Decimal | None = None
    gross: Decimal = ZERO
    commission: Decimal = ZERO
    stop: Decimal | None = None
    source: str = "unknown"
    setup: str = "-"
    mae: Decimal | None = None  # worst open P&L while held (from bars), dollars
    mfe: Decimal | None = None  # best open P&L while held (from bars), dollars
    _held: int = 0
    _cost: Decimal = ZERO  # sum of price x quantity of the opening fills
    _opened_qty: int = 0
    _exit_value: Decimal = ZERO
    _exit_qty: int = 0
    point_value: Decimal = Decimal(1)
    keys: list[str] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        return self.gross - self.commission

    @property
    def risk(self) -> Decimal | None:
        """The dollars at risk planned at entry (entry to stop), None without a stop."""
        if self.stop is None or not self._opened_qty:
            return None
        per = abs(self.entry - self.stop) * self.point_value
        return per * self.quantity if per > 0 else None

    @property
    def r(self) -> Decimal | None:
        risk = self.risk
        return None if risk is None or self.closed is None else (self.net / risk).quantize(Decimal("0.01"))


def trading_day(ts: datetime) -> date:
    local = ts.astimezone(NEW_YORK)
    return local.date() + timedelta(days=1) if local.time() >= SESSION_ROLL else local.date()


def build_trades(fills: Iterable[JournalFill], point_value: Callable[[str], Decimal]) -> list[Trade]:
    """Trades from fills (any order: they are sorted by time), oldest first; an open trade has no ``closed``."""
    open_trades: dict[tuple[str, str], Trade] = {}
    done: list[Trade] = []
    for fill in sorted(fills, key=lambda f: f.ts):
        key = (fill.account, fill.symbol)
        signed = fill.quantity if fill.side == "buy" else -fill.quantity
        left, fee_each = signed, fill.commission / fill.quantity if fill.quantity else ZERO
        while left:
            trade = open_trades.get(key)
            if trade is None:
                trade = Trade(
                    fill.account, fill.symbol, "long" if left > 0 else "short", fill.ts, stop=fill.stop,
                    source=fill.source or "unknown", setup=fill.setup or "-", point_value=point_value(fill.symbol),
                )  # fmt: skip
                open_trades[key] = trade
            same_way = (trade._held >= 0) == (left > 0) if trade._held else True
            if same_way:
                qty = abs(left)
                trade._held += left
                trade._cost += fill.price * qty
                trade._opened_qty += qty
                trade.entry = trade._cost / trade._opened_qty
                trade.quantity = max(trade.quantity, abs(trade._held))
                if trade.stop is None:
                    trade.stop = fill.stop
                trade.commission += fee_each * qty
                left = 0
            else:
                qty = min(abs(left), abs(trade._held))
                sign = 1 if trade._held > 0 else -1
                trade.gross += (fill.price - trade.entry) * qty * sign * trade.point_value
                trade._exit_value += fill.price * qty
                trade._exit_qty += qty
                trade.exit = trade._exit_value / trade._exit_qty
                trade.commission += fee_each * qty
                trade._held += qty * -sign
                left += qty * sign
                if trade._held == 0:
                    trade.closed = fill.ts
                    done.append(trade)
                    del open_trades[key]
            if fill.order_key and fill.order_key not in trade.keys:
                trade.keys.append(fill.order_key)
    return sorted([*done, *open_trades.values()], key=lambda t: t.opened)


def with_excursion(trade: Trade, low: Decimal, high: Decimal) -> Trade:
    """MAE and MFE from the lowest and highest price seen while the trade was open."""
    q = Decimal(trade.quantity) * trade.point_value
    if trade.direction == "long":
        trade.mae, trade.mfe = min(ZERO, (low - trade.entry) * q), max(ZERO, (high - trade.entry) * q)
    else:
        trade.mae, trade.mfe = min(ZERO, (trade.entry - high) * q), max(ZERO, (trade.entry - low) * q)
    return trade


@dataclass(frozen=True, slots=True)
class Summary:
    trades: int
    wins: int
    net: Decimal
    expectancy: Decimal  # mean net P&L per closed trade
    mean_r: Decimal | None  # over the trades with a known R
    win_rate: Decimal | None


def summarise(trades: Iterable[Trade]) -> Summary:
    closed = [t for t in trades if t.closed is not None]
    if not closed:
        return Summary(0, 0, ZERO, ZERO, None, None)
    net = sum((t.net for t in closed), ZERO)
    wins = sum(1 for t in closed if t.net > 0)
    rs = [t.r for t in closed if t.r is not None]
    mean_r = (sum(rs, ZERO) / len(rs)).quantize(Decimal("0.01")) if rs else None
    return Summary(
        len(closed), wins, net, (net / len(closed)).quantize(Decimal("0.01")), mean_r,
        (Decimal(wins) / len(closed)).quantize(Decimal("0.001")),
    )  # fmt: skip


def by(trades: Iterable[Trade], key: Callable[[Trade], str]) -> dict[str, Summary]:
    groups: dict[str, list[Trade]] = defaultdict(list)
    for trade in trades:
        groups[key(trade)].append(trade)
    return {name: summarise(group) for name, group in sorted(groups.items())}


def daily(trades: Iterable[Trade]) -> dict[date, Decimal]:
    """Net P&L per trading day of the closed trades."""
    days: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for trade in trades:
        if trade.closed is not None:
            days[trading_day(trade.closed)] += trade.net
    return dict(sorted(days.items()))


def expectancy_curve(trades: Iterable[Trade]) -> list[tuple[datetime, Decimal]]:
    """The running expectancy (mean net P&L per trade) after each closed trade."""
    out, total = [], ZERO
    closed = sorted((t for t in trades if t.closed is not None), key=lambda t: t.closed or t.opened)
    for n, trade in enumerate(closed, start=1):
        total += trade.net
        out.append((trade.closed or trade.opened, (total / n).quantize(Decimal("0.01"))))
    return out


__all__ = ["JournalFill", "Summary", "Trade", "build_trades", "by", "daily", "expectancy_curve", "summarise",
           "trading_day", "with_excursion"]  # fmt: skip
