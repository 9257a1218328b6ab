"""Trade signals as they enter the hub, whatever their source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Literal

from enigma_apex.domain.orders import OrderType, TimeInForce
from enigma_apex.domain.symbols import Contract

PositionSide = Literal["long", "short", "flat"]


class SignalSource(Enum):
    MANUAL = "manual"
    TRADINGVIEW = "tradingview"
    ALGOBOX = "algobox"
    API = "api"


class Direction(Enum):
    LONG = "long"
    SHORT = "short"
    EXIT = "exit"  # close whatever is open in the symbol
    ADD = "add"  # add to the open position, in its direction (TradersPost ``action=add``)
    CANCEL = "cancel"  # cancel the working entry orders in the symbol, nothing else

    @property
    def is_entry_side(self) -> bool:
        return self in (Direction.LONG, Direction.SHORT)


class Reading(Enum):
    """How a buy or sell that carries no position of its own is read against the account's position."""

    ENTRY = "entry"  # get into this direction: an opposite position is closed first, then the entry
    PARTIAL = "partial"  # TradersPost: a quantity below the opposite position is a partial exit; same side refused
    NET = "net"  # an order that nets against the position (CrossTrade PLACE, PickMyTrade without reverse close)
    REPLACE = "replace"  # close what is open first, then hold the order's quantity (flatten first / no pyramiding)


@dataclass(frozen=True, slots=True)
class StrategyPosition:
    """The source's own position after this signal (TradingView strategy placeholders, CrossTrade's sync fields,
    TradersPost's ``sentiment``, the default strategy message). Sizes are absolute, in the source's contracts."""

    side: PositionSide
    size: int | None = None
    prev_side: PositionSide | None = None
    prev_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("size", "prev_size"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.side == "flat" and self.size:
            raise ValueError("a flat position has no size")


@dataclass(frozen=True, slots=True)
class Signal:
    signal_id: str
    source: SignalSource
    contract: Contract
    direction: Direction
    received_at: datetime
    entry: Decimal | None = None
    stop: Decimal | None = None
    target: Decimal | None = None
    group: str | None = None
    power: int | None = None  # AlgoBox power level
    confluence: int | None = None  # AlgoBox confluence level (1..4)
    note: str = ""
    max_quantity: int | None = None  # the source's own order size: an upper bound for the sizer, never a target
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # the entry order the source asks for (market unless it says otherwise)
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    position: StrategyPosition | None = None  # what the source says its position is after this signal
    reading: Reading = Reading.ENTRY  # how a buy or sell without ``position`` is read
    require_position: frozenset[PositionSide] = frozenset()  # act only when the account is in one of these states

    def __post_init__(self) -> None:
        if self.direction.is_entry_side and self.entry is not None and self.stop is not None:
            wrong_side = (self.direction is Direction.LONG and self.stop >= self.entry) or (
                self.direction is Direction.SHORT and self.stop <= self.entry
            )
            if wrong_side:
                raise ValueError(
                    f"{self.direction.value} signal has its stop {self.stop} on the wrong side of "
                    f"the entry {self.entry}"
                )
        if self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise ValueError(f"a {self.order_type.value} entry needs a limit price")
        if self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise ValueError(f"a {self.order_type.value} entry needs a stop price")

    @property
    def entry_price(self) -> Decimal | None:
        """The price the entry is expected at: its limit (or stop) price for a resting order, else ``entry``."""
        if self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            return self.limit_price
        if self.order_type is OrderType.STOP:
            return self.stop_price
        return self.entry

    @property
    def closes_only(self) -> bool:
        """The signal can only reduce exposure, whatever the account holds (never analysed, never held for
        approval): an exit, a cancel, or a strategy position that the order moves towards flat."""
        if self.direction in (Direction.EXIT, Direction.CANCEL):
            return True
        position = self.position
        if position is None:
            return False
        if position.side == "flat":
            return True
        return self.direction.is_entry_side and (position.side == "long") != (self.direction is Direction.LONG)
