"""Trade signals as they enter the hub, whatever their source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum

from enigma_apex.domain.symbols import Contract


class SignalSource(Enum):
    MANUAL = "manual"
    TRADINGVIEW = "tradingview"
    ALGOBOX = "algobox"
    API = "api"


class Direction(Enum):
    LONG = "long"
    SHORT = "short"
    EXIT = "exit"  # close whatever is open in the symbol


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
    max_quantity: int | None = None  # the source's own size: an upper bound for the sizer, never a target
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.direction is not Direction.EXIT and self.entry is not None and self.stop is not None:
            wrong_side = (self.direction is Direction.LONG and self.stop >= self.entry) or (
                self.direction is Direction.SHORT and self.stop <= self.entry
            )
            if wrong_side:
                raise ValueError(
                    f"{self.direction.value} signal has its stop {self.stop} on the wrong side of "
                    f"the entry {self.entry}"
                )
