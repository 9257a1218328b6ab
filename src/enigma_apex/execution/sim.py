"""The simulated broker: a matching engine for paper accounts (and the venue the executor tests play).

Slippage model (docs/execution.md):

- **market**: fills at once at the opposite side of the quote (buy at the ask, sell at the bid), plus
  ``market_slippage_ticks`` against the trader; no quote for the instrument → rejected.
- **stop** (stop-market, bracket stops included): triggers when the quote reaches the stop (buy: ask ≥ stop,
  sell: bid ≤ stop) and fills at the worse of the stop and the quote, plus ``stop_slippage_ticks`` against the
  trader — stops are where real fills slip. A stop already on the wrong side of the market is rejected.
- **limit**: a marketable limit fills at once at the quote (never worse than its price); otherwise it rests and
  fills at its price when the quote crosses it (buy: ask ≤ limit, sell: bid ≥ limit). No slippage.
- **liquidity**: a resting order fills at most ``liquidity`` contracts per quote update (0 = all), which is how
  partial fills happen; market orders always fill in full.
- **brackets**: each fill of an entry adds the filled quantity to its protective stop and target
  (``<key>:stop`` / ``<key>:target``), one-cancels-other: a leg's fill shrinks the other; at zero it is cancelled.
- **commission**: per contract per side, by instrument root.

Pure: time comes in as arguments, events come out as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from enigma_apex.domain.orders import Bracket, Fill, OrderStatus, OrderType, Position, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, Notation, format_symbol, parse_symbol
from enigma_apex.domain.values import ZERO, round_cents
from enigma_apex.execution.events import (
    AccountState,
    BrokerEvent,
    FillEvent,
    OrderEvent,
    OrderRequest,
    PositionEvent,
    bracket_leg,
)

# Commission per contract per side (exchange + clearing + broker), an assumption close to what prop-firm
# platforms charge; set your own under [paper.commissions].
DEFAULT_MINI_COMMISSION = Decimal("2.00")
DEFAULT_MICRO_COMMISSION = Decimal("0.62")


def commission_per_side(table: Mapping[str, Decimal], contract: Contract) -> Decimal:
    """The configured rate for the contract's root, else the default for a mini or a micro."""
    rate = table.get(contract.root)
    if rate is not None:
        return rate
    return DEFAULT_MICRO_COMMISSION if contract.spec.is_micro else DEFAULT_MINI_COMMISSION


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    at: datetime


@dataclass(slots=True)
class SimOrder:
    request: OrderRequest
    broker_id: str
    status: OrderStatus = OrderStatus.WORKING
    filled: int = 0
    notional: Decimal = ZERO  # sum of price x quantity filled
    oco: str | None = None  # the entry key of a bracket leg
    legs_given: int = 0  # an entry's quantity already handed to its bracket legs

    @property
    def remaining(self) -> int:
        return self.request.quantity - self.filled

    @property
    def average(self) -> Decimal | None:
        return None if self.filled == 0 else self.notional / self.filled

    def event(self, reason: str = "") -> OrderEvent:
        return OrderEvent(
            self.request.key,
            self.request.account,
            self.status,
            self.filled,
            self.average,
            self.broker_id,
            reason,
        )


@dataclass(slots=True)
class SimAccount:
    name: str
    start_balance: Decimal
    realized: Decimal = ZERO
    commissions: Decimal = ZERO
    positions: dict[Contract, Position] = field(default_factory=dict)


class SimBroker:
    def __init__(
        self,
        accounts: Mapping[str, Decimal],
        *,
        commissions: Mapping[str, Decimal] | None = None,
        market_slippage_ticks: int = 0,
        stop_slippage_ticks: int = 1,
        liquidity: int = 0,
        id_prefix: str = "SIM",
    ) -> None:
        self.accounts = {name: SimAccount(name, Decimal(balance)) for name, balance in accounts.items()}
        self.commission_table = dict(commissions or {})
        self.market_slippage_ticks = market_slippage_ticks
        self.stop_slippage_ticks = stop_slippage_ticks
        self.liquidity = liquidity
        self.id_prefix = id_prefix
        self.quotes: dict[Contract, Quote] = {}
        self.orders: dict[str, SimOrder] = {}
        self._ids = 0
        self._fills = 0

    # ------------------------------------------------------------------ queries
    def commission(self, contract: Contract) -> Decimal:
        return commission_per_side(self.commission_table, contract)

    def account_state(self, account: str) -> AccountState:
        acct = self.accounts[account]
        open_pnl = ZERO
        for contract, position in acct.positions.items():
            quote = self.quotes.get(contract)
            if quote is not None and position.quantity:
                open_pnl += position.open_pnl(quote.last)
        balance = acct.start_balance + acct.realized - acct.commissions
        return AccountState(account, round_cents(balance), round_cents(acct.realized), round_cents(open_pnl))

    def positions(self, account: str) -> list[Position]:
        return [p for p in self.accounts[account].positions.values() if p.quantity]

    def working(self, account: str | None = None) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if not o.status.is_terminal and (account is None or o.request.account == account)
        ]

    # ------------------------------------------------------------------ commands
    def place(self, request: OrderRequest, at: datetime) -> list[BrokerEvent]:
        """Accept (and maybe fill) or reject an order. The first event says which."""
        problem = self._problem(request)
        order = SimOrder(request, self._next_id())
        if problem:
            order.status = OrderStatus.REJECTED
            if request.key not in self.orders:
                self.orders[request.key] = order
            return [order.event(problem)]
        self.orders[request.key] = order
        events: list[BrokerEvent] = [order.event()]
        quote = self.quotes.get(request.contract)
        if quote is not None:
            events += self._match(order, quote, at, arrival=True)
        return events

    def cancel(self, key: str, at: datetime) -> list[BrokerEvent]:
        order = self.orders.get(key)
        if order is None:
            return [OrderEvent(key, "", OrderStatus.REJECTED, reason=f"no order {key}")]
        if order.status.is_terminal:
            return [order.event(f"already {order.status.value}")]
        order.status = OrderStatus.CANCELLED
        return [order.event("cancelled")]

    def resize(self, key: str, remaining: int, at: datetime) -> list[BrokerEvent]:
        """Change a working order's unfilled quantity (0 cancels it); a broker's order modification."""
        order = self.orders.get(key)
        if order is None:
            return [OrderEvent(key, "", OrderStatus.REJECTED, reason=f"no order {key}")]
        if order.status.is_terminal:
            return [order.event(f"already {order.status.value}")]
        if remaining <= 0:
            order.status = OrderStatus.CANCELLED
            return [order.event("cancelled: nothing left to protect")]
        order.request = replace(order.request, quantity=order.filled + remaining)
        return [order.event()]

    def protective_legs(self, account: str, contract: Contract) -> list[SimOrder]:
        """Working bracket legs of the account in the contract, oldest first."""
        return [
            o
            for o in self.orders.values()
            if o.oco is not None
            and not o.status.is_terminal
            and o.request.account == account
            and o.request.contract == contract
        ]

    def flatten(self, account: str, at: datetime, *, cancel_working: bool = True) -> list[BrokerEvent]:
        """Cancel the account's working orders, then close every position at the market."""
        events: list[BrokerEvent] = []
        if cancel_working:
            for order in self.working(account):
                order.status = OrderStatus.CANCELLED
                events.append(order.event("flatten"))
        for position in self.positions(account):
            side = Side.SELL if position.quantity > 0 else Side.BUY
            key = f"flatten:{account}:{position.contract.format(Notation.CME)}:{self._next_id()}"
            request = OrderRequest(key, account, position.contract, side, abs(position.quantity))
            events += self.place(request, at)
        return events

    def set_quote(
        self, contract: Contract, bid: Decimal, ask: Decimal, at: datetime, last: Decimal | None = None
    ) -> list[BrokerEvent]:
        """A new quote: resting orders that it reaches fill (at most ``liquidity`` each)."""
        if ask < bid:
            raise ValueError(f"crossed quote for {contract}: bid {bid} > ask {ask}")
        quote = Quote(bid, ask, last if last is not None else (bid + ask) / 2, at)
        self.quotes[contract] = quote
        events: list[BrokerEvent] = []
        for order in list(self.orders.values()):
            if order.request.contract == contract and not order.status.is_terminal:
                events += self._match(order, quote, at, arrival=False)
        return events

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """Accounts, positions and working orders as JSON-ready data (the paper broker saves it after changes)."""
        return {
            "ids": self._ids,
            "accounts": {
                a.name: {
                    "start_balance": str(a.start_balance),
                    "realized": str(a.realized),
                    "commissions": str(a.commissions),
                    "positions": [
                        [format_symbol(p.contract, Notation.CME), p.quantity, str(p.average_price)]
                        for p in a.positions.values()
                        if p.quantity
                    ],
                }
                for a in self.accounts.values()
            },
            "orders": [_order_data(o) for o in self.working()],
        }

    def restore(self, data: Mapping[str, Any], *, on: date) -> None:
        """Load a :meth:`snapshot`; accounts it does not name keep their configured start."""
        self._ids = max(self._ids, int(data.get("ids", 0)))
        for name, acct in data.get("accounts", {}).items():
            if name not in self.accounts:
                continue
            target = self.accounts[name]
            target.start_balance = Decimal(acct["start_balance"])
            target.realized = Decimal(acct["realized"])
            target.commissions = Decimal(acct["commissions"])
            for symbol, quantity, average in acct["positions"]:
                contract = parse_symbol(symbol, on=on)
                target.positions[contract] = Position(name, contract, int(quantity), Decimal(average))
        for item in data.get("orders", []):
            if item["account"] in self.accounts:
                order = _order_from(item, on=on)
                self.orders[order.request.key] = order

    # ------------------------------------------------------------------ matching
    def _problem(self, request: OrderRequest) -> str:
        if request.account not in self.accounts:
            return f"unknown account {request.account}"
        if request.quantity <= 0:
            return "quantity must be positive"
        existing = self.orders.get(request.key)
        if existing is not None:
            return f"duplicate order key {request.key}"
        quote = self.quotes.get(request.contract)
        if quote is None and request.order_type is OrderType.MARKET:
            return f"no market data for {request.contract}"
        tick = request.contract.spec.tick_size
        for price in (request.limit_price, request.stop_price):
            if price is not None and (price <= 0 or price % tick):
                return f"price {price} is not on the {tick} tick of {request.contract}"
        if request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and quote is not None:
            stop = request.stop_price
            assert stop is not None  # noqa: S101 - OrderRequest of a stop type always carries one (protocol model)
            if request.side is Side.BUY and stop <= quote.ask:
                return f"buy stop {stop} is at or below the market ({quote.ask})"
            if request.side is Side.SELL and stop >= quote.bid:
                return f"sell stop {stop} is at or above the market ({quote.bid})"
        return ""

    def _match(self, order: SimOrder, quote: Quote, at: datetime, *, arrival: bool) -> list[BrokerEvent]:
        request = order.request
        buy = request.side is Side.BUY
        touch = quote.ask if buy else quote.bid
        tick = request.contract.spec.tick_size
        against = tick if buy else -tick
        price: Decimal | None = None
        if request.order_type is OrderType.MARKET:
            price = touch + against * self.market_slippage_ticks
            return self._execute(order, order.remaining, price, at)
        if request.order_type is OrderType.LIMIT:
            limit = request.limit_price
            assert limit is not None  # noqa: S101
            if (buy and touch <= limit) or (not buy and touch >= limit):
                price = touch if arrival else limit
        elif request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            stop = request.stop_price
            assert stop is not None  # noqa: S101
            if (buy and touch >= stop) or (not buy and touch <= stop):
                if request.order_type is OrderType.STOP:
                    worse = max(stop, touch) if buy else min(stop, touch)
                    price = worse + against * self.stop_slippage_ticks
                else:
                    limit = request.limit_price
                    assert limit is not None  # noqa: S101
                    if (buy and touch <= limit) or (not buy and touch >= limit):
                        price = touch
        if price is None:
            return []
        quantity = order.remaining if self.liquidity <= 0 else min(order.remaining, self.liquidity)
        return self._execute(order, quantity, price, at)

    def _execute(self, order: SimOrder, quantity: int, price: Decimal, at: datetime) -> list[BrokerEvent]:
        request = order.request
        account = self.accounts[request.account]
        order.filled += quantity
        order.notional += price * quantity
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        commission = round_cents(self.commission(request.contract) * quantity)
        self._fills += 1
        fill_id = f"{self.id_prefix}-F{self._fills}"
        position = account.positions.get(request.contract, Position(request.account, request.contract))
        domain_fill = Fill(
            fill_id, request.key, request.account, request.contract, request.side, quantity, price, commission, at
        )
        position, realised = position.apply(domain_fill)
        account.positions[request.contract] = position
        account.realized += realised
        account.commissions += commission
        events: list[BrokerEvent] = [
            FillEvent(fill_id, request.key, request.account, request.contract, request.side, quantity, price,
                      commission, at),
            order.event(),
            PositionEvent(request.account, request.contract, position.quantity,
                          position.average_price if position.quantity else None),
        ]  # fmt: skip
        if order.oco is not None:
            events += self._shrink_sibling(order, quantity, at)
        elif request.bracket is not None:
            events += self._protect(order, at)
        return events

    def _protect(self, entry: SimOrder, at: datetime) -> list[BrokerEvent]:
        """Give the newly filled quantity of an entry to its stop and target legs."""
        request, bracket = entry.request, entry.request.bracket
        assert bracket is not None  # noqa: S101
        add = entry.filled - entry.legs_given
        entry.legs_given = entry.filled
        events: list[BrokerEvent] = []
        for leg, order_type, price in (
            ("stop", OrderType.STOP, bracket.stop),
            ("target", OrderType.LIMIT, bracket.target),
        ):
            if price is None:
                continue
            key = bracket_leg(request.key, leg)
            existing = self.orders.get(key)
            if existing is not None and not existing.status.is_terminal:
                existing.request = replace(existing.request, quantity=existing.request.quantity + add)
                events.append(existing.event())
                continue
            leg_request = OrderRequest(
                key, request.account, request.contract, request.side.opposite, add, order_type,
                limit_price=price if order_type is OrderType.LIMIT else None,
                stop_price=price if order_type is OrderType.STOP else None,
                tif=request.tif,
            )  # fmt: skip
            problem = self._problem(leg_request) if existing is None else ""
            leg_order = SimOrder(leg_request, self._next_id(), oco=request.key)
            if problem:
                leg_order.status = OrderStatus.REJECTED
                self.orders[key] = leg_order
                events.append(leg_order.event(problem))
                continue
            self.orders[key] = leg_order
            events.append(leg_order.event())
            quote = self.quotes.get(request.contract)
            if quote is not None:
                events += self._match(leg_order, quote, at, arrival=False)
        return events

    def _shrink_sibling(self, leg: SimOrder, quantity: int, at: datetime) -> list[BrokerEvent]:
        events: list[BrokerEvent] = []
        for other in self.orders.values():
            if other is leg or other.oco != leg.oco or other.status.is_terminal:
                continue
            left = other.request.quantity - quantity
            if left <= other.filled:
                other.status = OrderStatus.CANCELLED
                events.append(other.event("one-cancels-other"))
            else:
                other.request = replace(other.request, quantity=left)
                events.append(other.event())
        return events

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self.id_prefix}-{self._ids}"


def _order_data(order: SimOrder) -> dict[str, Any]:
    r = order.request
    bracket = None if r.bracket is None else [_text(r.bracket.stop), _text(r.bracket.target)]
    return {
        "key": r.key, "account": r.account, "symbol": format_symbol(r.contract, Notation.CME), "side": r.side.value,
        "quantity": r.quantity, "type": r.order_type.value, "limit": _text(r.limit_price), "stop": _text(r.stop_price),
        "bracket": bracket, "tif": r.tif.value, "broker_id": order.broker_id, "status": order.status.value,
        "filled": order.filled, "notional": str(order.notional), "oco": order.oco, "legs_given": order.legs_given,
    }  # fmt: skip


def _order_from(item: Mapping[str, Any], *, on: date) -> SimOrder:
    def price(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    bracket = None if item["bracket"] is None else Bracket(price(item["bracket"][0]), price(item["bracket"][1]))
    request = OrderRequest(
        item["key"], item["account"], parse_symbol(item["symbol"], on=on), Side(item["side"]), int(item["quantity"]),
        OrderType(item["type"]), price(item["limit"]), price(item["stop"]), bracket, TimeInForce(item["tif"]),
    )  # fmt: skip
    return SimOrder(
        request, item["broker_id"], OrderStatus(item["status"]), int(item["filled"]), Decimal(item["notional"]),
        item["oco"], int(item["legs_given"]),
    )  # fmt: skip


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


__all__ = [
    "DEFAULT_MICRO_COMMISSION",
    "DEFAULT_MINI_COMMISSION",
    "Quote",
    "SimBroker",
    "SimOrder",
    "commission_per_side",
]
