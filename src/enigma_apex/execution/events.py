"""Order requests an executor receives and the events a broker reports back, broker-neutral.

An executor turns the hub's ``order.place`` / ``order.cancel`` / ``flatten`` into an :class:`OrderRequest`
or a call, hands it to its broker connector and reports each :class:`BrokerEvent` to the hub as
``order.update``, ``fill`` or ``position`` (``adapters/brokers/runner.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from enigma_apex.domain.orders import Bracket, OrderPurpose, OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract
from enigma_apex.domain.values import ZERO


@dataclass(frozen=True, slots=True)
class OrderRequest:
    key: str
    account: str
    contract: Contract
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    bracket: Bracket | None = None
    tif: TimeInForce = TimeInForce.DAY
    purpose: OrderPurpose = OrderPurpose.ENTRY  # exits and flattens only reduce (the runner caps them)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A change of an order's state. ``key`` is the hub's idempotency key (bracket legs: ``<key>:stop``,
    ``<key>:target``)."""

    key: str
    account: str
    status: OrderStatus
    filled_quantity: int = 0
    average_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FillEvent:
    fill_id: str
    key: str
    account: str
    contract: Contract
    side: Side
    quantity: int
    price: Decimal
    commission: Decimal
    executed_at: datetime


@dataclass(frozen=True, slots=True)
class PositionEvent:
    account: str
    contract: Contract
    quantity: int  # signed, long > 0
    average_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountState:
    account: str
    balance: Decimal
    realized_pnl: Decimal = ZERO
    open_pnl: Decimal | None = ZERO  # None: the venue shows no open P&L (ATI); the guardian estimates it


BrokerEvent = OrderEvent | FillEvent | PositionEvent


def bracket_leg(key: str, leg: str) -> str:
    """The key of a bracket's protective order: ``<entry key>:stop`` or ``<entry key>:target``."""
    return f"{key}:{leg}"


__all__ = [
    "AccountState",
    "BrokerEvent",
    "FillEvent",
    "OrderEvent",
    "OrderRequest",
    "PositionEvent",
    "bracket_leg",
]
