"""What the hub knows of prices: each symbol's last, bid and ask, and its bars — the executor's own when it sends
them (``market.data`` ``bars``), else one-minute bars the hub builds from the last prices it hears. Kept in
memory (the last ``keep`` bars a symbol), for the dashboard's charts and the journal's excursions. Pure: the
caller passes the time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Bar:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0

    def with_price(self, price: Decimal) -> Bar:
        return replace(self, high=max(self.high, price), low=min(self.low, price), close=price)


@dataclass
class Quote:
    ts: datetime
    last: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None


class MarketBook:
    def __init__(self, keep: int = 1440) -> None:
        self.keep = keep
        self.quotes: dict[str, Quote] = {}
        self.bars: dict[str, list[Bar]] = {}
        self._own_bars: set[str] = set()  # symbols whose executor sends bars: not built here

    def update(
        self,
        symbol: str,
        ts: datetime,
        last: Decimal | None,
        bid: Decimal | None,
        ask: Decimal | None,
        bars: list[Bar] | None = None,
    ) -> None:
        quote = self.quotes.setdefault(symbol, Quote(ts))
        quote.ts = ts
        quote.last, quote.bid, quote.ask = last or quote.last, bid or quote.bid, ask or quote.ask
        if bars:
            self._own_bars.add(symbol)
            self._merge(symbol, bars)
        elif last is not None and symbol not in self._own_bars:
            self._tick(symbol, ts, last)

    def _merge(self, symbol: str, bars: list[Bar]) -> None:
        known = {b.start: b for b in self.bars.get(symbol, [])}
        known.update({b.start: b for b in bars})
        self.bars[symbol] = sorted(known.values(), key=lambda b: b.start)[-self.keep :]

    def _tick(self, symbol: str, ts: datetime, price: Decimal) -> None:
        start = ts.replace(second=0, microsecond=0)
        series = self.bars.setdefault(symbol, [])
        if series and series[-1].start == start:
            series[-1] = series[-1].with_price(price)
        elif not series or series[-1].start < start:
            series.append(Bar(start, price, price, price, price))
            del series[: -self.keep]

    def last(self, symbol: str) -> Decimal | None:
        quote = self.quotes.get(symbol)
        return None if quote is None else quote.last

    def view(self, symbol: str, since: datetime | None = None) -> dict[str, Any]:
        quote = self.quotes.get(symbol)
        bars = [b for b in self.bars.get(symbol, []) if since is None or b.start >= since]
        return {
            "symbol": symbol,
            "ts": None if quote is None else quote.ts.isoformat(),
            "last": _s(None if quote is None else quote.last),
            "bid": _s(None if quote is None else quote.bid),
            "ask": _s(None if quote is None else quote.ask),
            "bars": [
                {
                    "start": b.start.isoformat(),
                    "open": str(b.open),
                    "high": str(b.high),
                    "low": str(b.low),
                    "close": str(b.close),
                    "volume": b.volume,
                }
                for b in bars
            ],
        }

    def excursion(self, symbol: str, start: datetime, end: datetime) -> tuple[Decimal, Decimal] | None:
        """The lowest low and highest high of the bars from ``start`` to ``end`` (None: no bar covers it)."""
        inside = [b for b in self.bars.get(symbol, []) if start - MINUTE < b.start <= end]
        if not inside:
            return None
        return min(b.low for b in inside), max(b.high for b in inside)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


__all__ = ["Bar", "MarketBook", "Quote"]
