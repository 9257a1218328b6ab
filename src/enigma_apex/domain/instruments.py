"""Futures instrument specifications, as data.

Tick size and tick value are the exchanges' published contract terms. Sessions are CME Globex hours in
exchange-agnostic Eastern time (Sunday to Friday, 18:00 to 17:00 ET, with the daily 17:00 to 18:00
maintenance break); firm-specific close times (Apex 16:59 ET, MFFU 16:10 ET, ...) live in the firm
profiles, not here. The roll rule decides which contract ``NQ1!`` means on a given day (see
``symbols.front_contract`` and docs/architecture.md, "Symbols and the roll rule").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from enum import Enum

from enigma_apex.errors import UnknownSymbolError

MONTH_CODES = "FGHJKMNQUVXZ"  # January .. December
QUARTERLY = (3, 6, 9, 12)
ALL_MONTHS = tuple(range(1, 13))


class RollKind(Enum):
    """How the roll date of a contract month is computed."""

    NTH_WEEKDAY = "nth_weekday"  # the n-th given weekday of the contract month (ES: 2nd Thursday)
    DAY_OF_PRIOR_MONTH = "day_of_prior_month"  # a fixed day of the month before the contract month


@dataclass(frozen=True, slots=True)
class RollRule:
    kind: RollKind
    n: int = 2  # NTH_WEEKDAY: which occurrence
    weekday: int = 3  # NTH_WEEKDAY: Monday=0 .. Sunday=6 (3 = Thursday)
    day: int = 15  # DAY_OF_PRIOR_MONTH: day of the month before the contract month
    # last trading day: this many days after the roll date; None: the last day of the contract month (contracts
    # with physical delivery trade into it). An estimate on the late side: it decides when a symbol is "expired".
    last_trade_after_roll_days: int | None = None

    def describe(self) -> str:
        if self.kind is RollKind.NTH_WEEKDAY:
            names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
            return f"{_ordinal(self.n)} {names[self.weekday]} of the contract month"
        return f"day {self.day} of the month before the contract month"


@dataclass(frozen=True, slots=True)
class TradingSession:
    """Daily session: opens at ``open`` on the previous calendar day, closes at ``close`` (local ``tz``)."""

    open: time
    close: time
    tz: str = "America/New_York"
    weekdays_open: str = "Sunday to Friday"


CME_GLOBEX = TradingSession(open=time(18, 0), close=time(17, 0))


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Contract terms of one futures root."""

    root: str
    name: str
    exchange: str
    tick_size: Decimal
    tick_value: Decimal
    months: tuple[int, ...]
    roll: RollRule
    family: str  # instruments of one family are correlated (ES and MES): used by the hedging guard
    micro: str | None = None  # the micro root of a mini
    mini: str | None = None  # the mini root of a micro
    micro_ratio: int = 10  # how many micros make one mini (notional)
    session: TradingSession = CME_GLOBEX
    currency: str = "USD"
    point_value: Decimal = field(init=False)  # dollars per one full point of price

    def __post_init__(self) -> None:
        object.__setattr__(self, "point_value", self.tick_value / self.tick_size)

    @property
    def is_micro(self) -> bool:
        return self.mini is not None

    def month_codes(self) -> str:
        return " ".join(MONTH_CODES[m - 1] for m in self.months)


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


_INDEX_ROLL = RollRule(RollKind.NTH_WEEKDAY, n=2, weekday=3, last_trade_after_roll_days=8)  # 3rd-Friday expiry
_NOTICE_ROLL = RollRule(RollKind.DAY_OF_PRIOR_MONTH, day=25)  # before first notice day (end of prior month)
_ENERGY_ROLL = RollRule(RollKind.DAY_OF_PRIOR_MONTH, day=12, last_trade_after_roll_days=8)  # last trade ~20th
_GOLD_MONTHS = (2, 4, 6, 8, 10, 12)  # G J M Q V Z
_SILVER_MONTHS = (3, 5, 7, 9, 12)  # H K N U Z


def _pair(
    mini: str,
    micro: str,
    name: str,
    exchange: str,
    tick: str,
    mini_tick_value: str,
    micro_tick: str,
    micro_tick_value: str,
    months: tuple[int, ...],
    roll: RollRule,
    ratio: int = 10,
) -> tuple[InstrumentSpec, InstrumentSpec]:
    return (
        InstrumentSpec(mini, name, exchange, Decimal(tick), Decimal(mini_tick_value), months, roll,
                       family=mini, micro=micro, micro_ratio=ratio),
        InstrumentSpec(micro, f"Micro {name}", exchange, Decimal(micro_tick), Decimal(micro_tick_value),
                       months, roll, family=mini, mini=mini, micro_ratio=ratio),
    )  # fmt: skip


_SPECS: tuple[InstrumentSpec, ...] = (
    *_pair("ES", "MES", "E-mini S&P 500", "CME", "0.25", "12.50", "0.25", "1.25", QUARTERLY, _INDEX_ROLL),
    *_pair("NQ", "MNQ", "E-mini Nasdaq-100", "CME", "0.25", "5.00", "0.25", "0.50", QUARTERLY, _INDEX_ROLL),
    *_pair("YM", "MYM", "E-mini Dow ($5)", "CBOT", "1", "5.00", "1", "0.50", QUARTERLY, _INDEX_ROLL),
    *_pair("RTY", "M2K", "E-mini Russell 2000", "CME", "0.10", "5.00", "0.10", "0.50", QUARTERLY, _INDEX_ROLL),
    *_pair("CL", "MCL", "Crude Oil", "NYMEX", "0.01", "10.00", "0.01", "1.00", ALL_MONTHS, _ENERGY_ROLL),
    *_pair("GC", "MGC", "Gold", "COMEX", "0.10", "10.00", "0.10", "1.00", _GOLD_MONTHS, _NOTICE_ROLL),
    # Silver: 5,000 oz vs the 1,000 oz micro, so five micros make one mini.
    *_pair("SI", "SIL", "Silver", "COMEX", "0.005", "25.00", "0.005", "5.00", _SILVER_MONTHS, _NOTICE_ROLL, 5),
    # Euro FX: 125,000 EUR vs 12,500 EUR; the micro trades a coarser tick.
    *_pair("6E", "M6E", "Euro FX", "CME", "0.00005", "6.25", "0.0001", "1.25", QUARTERLY, _INDEX_ROLL),
    InstrumentSpec("ZN", "10-Year T-Note", "CBOT", Decimal("0.015625"), Decimal("15.625"), QUARTERLY,
                   _NOTICE_ROLL, family="ZN"),  # tick = half of 1/32
    InstrumentSpec("ZB", "30-Year T-Bond", "CBOT", Decimal("0.03125"), Decimal("31.25"), QUARTERLY,
                   _NOTICE_ROLL, family="ZB"),  # tick = 1/32
)  # fmt: skip

INSTRUMENTS: dict[str, InstrumentSpec] = {spec.root: spec for spec in _SPECS}


class InstrumentCategory(Enum):
    MINI = "mini"
    MICRO = "micro"
    STANDALONE = "standalone"


def category(spec: InstrumentSpec) -> InstrumentCategory:
    if spec.mini is not None:
        return InstrumentCategory.MICRO
    if spec.micro is not None:
        return InstrumentCategory.MINI
    return InstrumentCategory.STANDALONE


def supported_roots() -> list[str]:
    return sorted(INSTRUMENTS)


def instrument(root: str) -> InstrumentSpec:
    """The spec for ``root`` or ``UnknownSymbolError`` listing what is supported."""
    spec = INSTRUMENTS.get(root.upper())
    if spec is None:
        raise UnknownSymbolError(
            f"unknown instrument {root!r}; supported roots: {', '.join(supported_roots())}", "symbol"
        )
    return spec
