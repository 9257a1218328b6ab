"""Orders, fills and positions."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum

from enigma_apex.domain.symbols import Contract
from enigma_apex.domain.values import ZERO

ORDER_REF_PREFIX = "ea"
ORDER_REF_LENGTH = 18  # the prefix and 16 base-32 characters (80 bits of the key's SHA-256)


def order_ref(key: str) -> str:
    """An order's compact reference: what an executor names the order at a broker whose names are short (NinjaTrader
    limits order and signal names to 50 characters, and appends to them). The same key always gives the same
    reference; the hub maps a reference back to its key (``adapters/store/repository.resolve_key``)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return ORDER_REF_PREFIX + base64.b32encode(digest).decode("ascii").lower()[: ORDER_REF_LENGTH - 2]


class Side(Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # stop-market
    STOP_LIMIT = "stop_limit"


class TimeInForce(Enum):
    DAY = "day"
    GTC = "gtc"


class OrderPurpose(Enum):
    """Why the order exists; the compliance gate never blocks EXIT or FLATTEN."""

    ENTRY = "entry"
    EXIT = "exit"
    FLATTEN = "flatten"


class OrderStatus(Enum):
    PENDING = "pending"  # stored, not yet acknowledged by the executor
    ACCEPTED = "accepted"  # executor acknowledged
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class Bracket:
    """Protective orders attached to an entry, one cancels the other."""

    stop: Decimal | None = None
    target: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What the hub wants an executor to do. ``idempotency_key`` makes re-sending safe."""

    idempotency_key: str
    account: str
    contract: Contract
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    purpose: OrderPurpose = OrderPurpose.ENTRY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    bracket: Bracket | None = None
    tif: TimeInForce = TimeInForce.DAY

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError("order quantity must be positive")
        if self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise ValueError(f"{self.order_type.value} order needs a limit price")
        if self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise ValueError(f"{self.order_type.value} order needs a stop price")

    @property
    def reduces_only(self) -> bool:
        return self.purpose is not OrderPurpose.ENTRY


@dataclass(frozen=True, slots=True)
class Order:
    intent: OrderIntent
    status: OrderStatus = OrderStatus.PENDING
    filled_quantity: int = 0
    average_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str = ""

    def with_status(self, status: OrderStatus, reason: str = "") -> Order:
        return replace(self, status=status, reason=reason or self.reason)


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    idempotency_key: str
    account: str
    contract: Contract
    side: Side
    quantity: int
    price: Decimal
    commission: Decimal
    ts: datetime


@dataclass(frozen=True, slots=True)
class Position:
    """Net position of one account in one contract; ``quantity`` is signed (long > 0)."""

    account: str
    contract: Contract
    quantity: int = 0
    average_price: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def open_pnl(self, mark: Decimal) -> Decimal:
        if self.quantity == 0:
            return ZERO
        points = (mark - self.average_price) * self.quantity
        return points * self.contract.spec.point_value

    def apply(self, fill: Fill) -> tuple[Position, Decimal]:
        """The position after ``fill`` and the P&L it realised (before commission)."""
        signed = fill.quantity * fill.side.sign
        qty, avg = self.quantity, self.average_price
        if qty == 0 or (qty > 0) == (signed > 0):
            new_qty = qty + signed
            new_avg = (avg * abs(qty) + fill.price * abs(signed)) / abs(new_qty)
            return replace(self, quantity=new_qty, average_price=new_avg), ZERO
        closing = min(abs(qty), abs(signed))
        direction = 1 if qty > 0 else -1
        realised = (fill.price - avg) * closing * direction * self.contract.spec.point_value
        new_qty = qty + signed
        if new_qty == 0:
            return replace(self, quantity=0, average_price=ZERO), realised
        if (new_qty > 0) == (qty > 0):
            return replace(self, quantity=new_qty), realised
        return replace(self, quantity=new_qty, average_price=fill.price), realised  # reversed
