"""Market data for the paper broker: a random walk per instrument, or a replay of the user's own CSV.

**Random walk.** Each step moves the mid price by a normal draw with the instrument's intraday volatility
scaled to the step (σ_step = price · σ_annual · √(step / trading seconds in a year)), snapped to the tick; the
quote is one tick wide. The annual volatilities are round figures of the instruments' usual realised
volatility (an assumption for simulation, not a forecast); start prices are round recent levels. Both can be
overridden per root under ``[paper]``.

**Replay.** A CSV with a header and the columns ``time,symbol,price`` (ticks; optional ``bid``, ``ask``) or
``time,symbol,open,high,low,close`` (bars, replayed as open → high → low → close, or open → low → high →
close for a down bar). Times are ISO-8601 with an offset. The file is read in order; the paper broker waits
the recorded gaps divided by ``replay_speed``.

Pure: the random source is passed in (seeded for tests), lines are parsed from strings.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.domain.values import Snap, snap_to_tick
from enigma_apex.errors import UnknownSymbolError

TRADING_SECONDS_PER_YEAR = 252 * 23 * 3600  # CME Globex: 23 hours a day

# Annualised volatility (fraction) and a start price per instrument family (assumptions for simulation).
VOLATILITY: dict[str, float] = {
    "ES": 0.16, "NQ": 0.22, "YM": 0.15, "RTY": 0.22, "CL": 0.35, "GC": 0.16, "SI": 0.28, "6E": 0.08,
    "ZN": 0.06, "ZB": 0.12,
}  # fmt: skip
START_PRICE: dict[str, Decimal] = {
    "ES": Decimal("6000"), "NQ": Decimal("21000"), "YM": Decimal("44000"), "RTY": Decimal("2300"),
    "CL": Decimal("70"), "GC": Decimal("2600"), "SI": Decimal("31"), "6E": Decimal("1.08"),
    "ZN": Decimal("110"), "ZB": Decimal("118"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tick:
    at: datetime | None  # None for simulated ticks (the clock decides)
    contract: Contract
    bid: Decimal
    ask: Decimal
    last: Decimal


class RandomWalk:
    """One random walk per contract; ``step(seconds)`` returns a new tick for each."""

    def __init__(
        self,
        contracts: Iterable[Contract],
        rng: random.Random,
        *,
        volatility: dict[str, float] | None = None,
        start: dict[str, Decimal] | None = None,
    ) -> None:
        self.rng = rng
        self.mid: dict[Contract, Decimal] = {}
        self.sigma: dict[Contract, float] = {}
        vols, starts = {**VOLATILITY, **(volatility or {})}, {**START_PRICE, **(start or {})}
        for contract in contracts:
            family = contract.spec.family
            price = starts.get(contract.root, starts.get(family, Decimal(100)))
            self.mid[contract] = snap_to_tick(price, contract.spec.tick_size)
            self.sigma[contract] = vols.get(contract.root, vols.get(family, 0.2))

    def step(self, seconds: float) -> list[Tick]:
        ticks = []
        for contract, mid in self.mid.items():
            tick = contract.spec.tick_size
            sigma = float(mid) * self.sigma[contract] * math.sqrt(seconds / TRADING_SECONDS_PER_YEAR)
            moved = snap_to_tick(mid + Decimal(repr(self.rng.gauss(0.0, sigma))), tick, Snap.NEAREST)
            moved = max(moved, snap_to_tick(tick * 2, tick))
            self.mid[contract] = moved
            ticks.append(Tick(None, contract, moved - tick, moved, moved))
        return ticks


def parse_replay(text: str, *, on: datetime) -> Iterator[Tick]:
    """Ticks from a replay CSV (see the module doc); a bad row raises ``ValueError`` naming its line."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or [])
    bars = {"open", "high", "low", "close"} <= columns
    if not {"time", "symbol"} <= columns or not (bars or "price" in columns):
        raise ValueError("replay CSV needs the columns time,symbol,price or time,symbol,open,high,low,close")
    for number, row in enumerate(reader, start=2):
        try:
            at = datetime.fromisoformat(row["time"])
            if at.tzinfo is None:
                raise ValueError("time without a UTC offset")
            contract = parse_symbol(row["symbol"], on=on.date())
            tick = contract.spec.tick_size
            if bars:
                o, h, lo, c = (Decimal(row[k]) for k in ("open", "high", "low", "close"))
                if not lo <= min(o, c) <= max(o, c) <= h:
                    raise ValueError("open/close outside low..high")
                path = (o, lo, h, c) if c >= o else (o, h, lo, c)
                for price in path:
                    yield Tick(at, contract, price - tick, price, price)
            else:
                price = Decimal(row["price"])
                bid = Decimal(row["bid"]) if row.get("bid") else price - tick
                ask = Decimal(row["ask"]) if row.get("ask") else price
                if price <= 0 or bid > ask:
                    raise ValueError("a price is not positive or bid > ask")
                yield Tick(at, contract, bid, ask, price)
        except (ValueError, ArithmeticError, KeyError, TypeError, UnknownSymbolError) as exc:
            raise ValueError(f"replay line {number}: {exc}") from None


__all__ = ["START_PRICE", "VOLATILITY", "RandomWalk", "Tick", "parse_replay"]
