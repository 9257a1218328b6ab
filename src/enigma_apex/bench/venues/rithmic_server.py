"""A loopback server that plays a Rithmic gateway (the conformance suite and ``bench execution`` use it).

It speaks the real protobuf messages (Rithmic's ``.proto`` definitions as shipped by ``rithmic-rapi``) over
WebSocket, one plant per connection, with a ``SimBroker`` as the exchange. Each behaviour follows the
reference named beside it (the [R…] list is in ``execution/rithmic.py``):

- system info (16 → 17) [R10]; login (10 → 11: ``fcm_id``, ``ib_id``, ``heartbeat_interval``; a wrong
  password or system is ``rp_code`` ``[code, text]``) [R2]; heartbeats (18 → 19) [R3]; logout (12 → 13);
  requests before a login, or of another plant, are rejected (75) [R8];
- ORDER_PLANT: account list (302 → rows + end) and trade routes (310 → rows + end) [R4][R9]; order updates
  (308); working orders replayed on ``RequestShowOrders`` (320: 351 with ``is_snapshot``) [R6]; new, bracket,
  modify and cancel orders, cancel-all and exit-position (312 / 330 / 314 / 316 / 346 / 3504) [R5], answered
  with ``basket_id`` and followed by notifications: 351 OPEN / MODIFIED / COMPLETE (``completion_reason``
  Fill / Cancel / Reject), 352 FILL / CANCEL / REJECT [R6]; bracket legs are orders of their own whose
  ``original_basket_id`` is the entry's and whose ``user_tag`` is the entry's;
- PNL_PLANT: updates (400) and snapshot (402 → 450 per position, 451 per account, then 403); 450 / 451 pushed
  after every fill and every price change of a held contract [R7];
- TICKER_PLANT: market data (100 → 101, then 151 best bid/offer and 150 last trade as they change).

Controls for the tests: ``forced_logout()`` (77, then the socket closes), ``drop()`` (sockets cut), a short
heartbeat interval, a wrong password, plants whose login is refused (``refused_plants``).
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pyrithmic.protocol import decode, encode
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from enigma_apex.adapters.brokers.rithmic import message
from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.execution import rithmic as rp
from enigma_apex.execution.events import BrokerEvent, FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.rithmic import T
from enigma_apex.execution.sim import SimBroker

USER, PASSWORD, SYSTEM = "trader", "correct horse", "Rithmic Test"
FCM, IB, ROUTE = "FCM1", "IB1", "simulator"
ANSWERS = {  # request template -> its answer
    T.SUBSCRIBE_ORDERS: T.SUBSCRIBE_ORDERS_RESPONSE, T.SHOW_ORDERS: T.SHOW_ORDERS_RESPONSE,
    T.NEW_ORDER: T.NEW_ORDER_RESPONSE, T.BRACKET_ORDER: T.BRACKET_ORDER_RESPONSE,
    T.MODIFY_ORDER: T.MODIFY_ORDER_RESPONSE, T.CANCEL_ORDER: T.CANCEL_ORDER_RESPONSE,
    T.CANCEL_ALL: T.CANCEL_ALL_RESPONSE, T.EXIT_POSITION: T.EXIT_POSITION_RESPONSE,
    T.PNL_UPDATES: T.PNL_UPDATES_RESPONSE, T.PNL_SNAPSHOT: T.PNL_SNAPSHOT_RESPONSE,
    T.MARKET_DATA: T.MARKET_DATA_RESPONSE, T.ACCOUNT_LIST: T.ACCOUNT_LIST_RESPONSE,
    T.TRADE_ROUTES: T.TRADE_ROUTES_RESPONSE,
}  # fmt: skip
PLANT_OF = {  # which plant serves which request [R1]
    T.ACCOUNT_LIST: rp.Infra.ORDER_PLANT, T.TRADE_ROUTES: rp.Infra.ORDER_PLANT,
    T.SUBSCRIBE_ORDERS: rp.Infra.ORDER_PLANT, T.SHOW_ORDERS: rp.Infra.ORDER_PLANT, T.NEW_ORDER: rp.Infra.ORDER_PLANT,
    T.BRACKET_ORDER: rp.Infra.ORDER_PLANT, T.MODIFY_ORDER: rp.Infra.ORDER_PLANT,
    T.CANCEL_ORDER: rp.Infra.ORDER_PLANT, T.CANCEL_ALL: rp.Infra.ORDER_PLANT, T.EXIT_POSITION: rp.Infra.ORDER_PLANT,
    T.PNL_UPDATES: rp.Infra.PNL_PLANT, T.PNL_SNAPSHOT: rp.Infra.PNL_PLANT, T.MARKET_DATA: rp.Infra.TICKER_PLANT,
}  # fmt: skip
OK = ["0"]


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    infra: rp.Infra | None = None
    orders_of: set[str] = field(default_factory=set)
    pnl_of: set[str] = field(default_factory=set)
    market: set[str] = field(default_factory=set)


@dataclass
class Reply:
    """A request's answer: pushes before it, its rows, its end, then the events it caused."""

    before: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    events: list[BrokerEvent] = field(default_factory=list)
    market: Contract | None = None


@dataclass
class Basket:
    basket_id: str
    tag: str
    parent: str = ""  # a bracket leg's entry basket
    status: OrderStatus = OrderStatus.WORKING
    announced: bool = False


class FakeRithmic:
    def __init__(self, venue: SimBroker, accounts: list[str], *, heartbeat_s: float = 30.0) -> None:
        self.venue = venue
        self.account_ids = list(accounts)
        self.heartbeat_s = heartbeat_s
        self.password = PASSWORD
        self.refused_plants: set[rp.Infra] = set()
        self.clients: set[Client] = set()
        self.baskets: dict[str, Basket] = {}  # venue key -> basket
        self.by_basket: dict[str, str] = {}  # basket id -> venue key
        self.by_tag: dict[str, str] = {}  # user tag -> basket id (entries)
        self._ids = itertools.count(1)
        self._fills = itertools.count(1)
        self.logins: dict[rp.Infra, int] = {}
        self.heartbeats = 0
        self.requests: list[int] = []
        self.server: Server | None = None

    # ------------------------------------------------------------------ serving
    async def start(self) -> str:
        self.server = await serve(self._serve, "127.0.0.1", 0, compression=None)
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def drop(self, infra: rp.Infra | None = None) -> None:
        """Cut the sockets (of one plant), no goodbye."""
        for client in list(self.clients):
            if infra is None or client.infra is infra:
                client.ws.transport.abort()

    async def forced_logout(self, infra: rp.Infra | None = None) -> None:
        """77, then the socket closes [R8]."""
        for client in list(self.clients):
            if infra is None or client.infra is infra:
                with contextlib.suppress(ConnectionClosed):
                    await client.ws.send(encode(T.FORCED_LOGOUT, message(T.FORCED_LOGOUT)))
                    await client.ws.close()

    async def _serve(self, ws: ServerConnection) -> None:
        client = Client(ws)
        self.clients.add(client)
        try:
            async for raw in ws:
                if not isinstance(raw, bytes):
                    continue
                try:
                    template, msg = decode(raw)
                except Exception:  # noqa: BLE001 - what a gateway cannot read it rejects
                    await self._send(client, T.REJECT, rp_code=["3", "bad message"])
                    continue
                self.requests.append(template)
                await self._handle(client, template, msg)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)

    async def _send(self, client: Client, template: int, **fields: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(encode(template, message(template, **fields)))

    async def _handle(self, client: Client, template: int, msg: Any) -> None:
        tag = list(msg.user_msg) if hasattr(msg, "user_msg") else []
        if template == T.SYSTEM_INFO:
            await self._send(client, T.SYSTEM_INFO_RESPONSE, user_msg=tag, rp_code=OK, system_name=[SYSTEM])
            return
        if template == T.LOGIN:
            if msg.user != USER or msg.password != self.password:
                await self._send(client, T.LOGIN_RESPONSE, user_msg=tag, rp_code=["13", "permission denied"])
                return
            if rp.Infra(msg.infra_type) in self.refused_plants:  # e.g. no market data on this user
                await self._send(
                    client, T.LOGIN_RESPONSE, user_msg=tag, rp_code=["13", "permission denied for this plant"]
                )
                return
            if msg.system_name != SYSTEM:
                await self._send(
                    client, T.LOGIN_RESPONSE, user_msg=tag, rp_code=["5", f"unknown system {msg.system_name}"]
                )
                return
            client.infra = rp.Infra(msg.infra_type)
            self.logins[client.infra] = self.logins.get(client.infra, 0) + 1
            await self._send(client, T.LOGIN_RESPONSE, user_msg=tag, rp_code=OK, fcm_id=FCM, ib_id=IB,
                             heartbeat_interval=self.heartbeat_s, template_version=rp.TEMPLATE_VERSION)  # fmt: skip
            return
        if client.infra is None:
            await self._send(client, T.REJECT, user_msg=tag, rp_code=["7", "not logged in"])
            return
        if template == T.HEARTBEAT:
            self.heartbeats += 1
            await self._send(client, T.HEARTBEAT_RESPONSE, rp_code=OK)
            return
        if template == T.LOGOUT:
            await self._send(client, T.LOGOUT_RESPONSE, user_msg=tag, rp_code=OK)
            await client.ws.close()
            return
        plant = PLANT_OF.get(T(template)) if template in T._value2member_map_ else None
        if plant is None or plant is not client.infra:
            await self._send(client, T.REJECT, user_msg=tag, rp_code=["6", "not served by this plant"])
            return
        answer = ANSWERS[T(template)]
        reply = self._answer(client, T(template), msg)
        for push, fields in reply.before:  # a snapshot's rows are pushes ahead of the answer's end [R6][R7]
            await self._send(client, push, **fields)
        for row in reply.rows:
            await self._send(client, answer, user_msg=tag, rq_handler_rp_code=OK, **row)
        end = {"rp_code": ["1", reply.error] if reply.error else OK, **reply.end}
        await self._send(client, answer, user_msg=tag, **end)
        await self.publish(reply.events)
        if reply.market is not None:
            await self._market_to(client, reply.market)

    # ------------------------------------------------------------------ requests
    def _answer(self, client: Client, template: T, msg: Any) -> Reply:
        at = now()
        if template == T.ACCOUNT_LIST:
            return Reply(rows=[{"fcm_id": FCM, "ib_id": IB, "account_id": a, "account_name": a,
                                "account_currency": "USD"} for a in self.account_ids])  # fmt: skip
        if template == T.TRADE_ROUTES:
            return Reply(rows=[{"fcm_id": FCM, "ib_id": IB, "exchange": x, "trade_route": ROUTE, "status": "UP",
                                "is_default": True} for x in ("CME", "CBOT", "NYMEX", "COMEX")])  # fmt: skip
        if template == T.SUBSCRIBE_ORDERS:
            client.orders_of.add(msg.account_id)
            return Reply()
        if template == T.SHOW_ORDERS:
            before = []
            for order in self.venue.working(msg.account_id):
                fields = self._notification_351(order.event(), rp.N351_OPEN, snapshot=True)
                if fields is not None:
                    before.append((int(T.ORDER_NOTIFICATION), fields))
            return Reply(before=before)
        if template in (T.NEW_ORDER, T.BRACKET_ORDER):
            return self._new_order(template, msg, at)
        if template in (T.CANCEL_ORDER, T.MODIFY_ORDER):
            target = self.venue.orders.get(self.by_basket.get(msg.basket_id) or "")
            if target is None or target.status.is_terminal:
                return Reply(error="order is not working")
            if template == T.CANCEL_ORDER:
                return Reply(end={"basket_id": msg.basket_id}, events=self.venue.cancel(target.request.key, at))
            resized = self.venue.resize(target.request.key, int(msg.quantity) - target.filled, at)
            return Reply(end={"basket_id": msg.basket_id}, events=resized)
        events: list[BrokerEvent] = []
        if template == T.CANCEL_ALL:
            for order in self.venue.working(msg.account_id):
                events += self.venue.cancel(order.request.key, at)
            return Reply(events=events)
        if template == T.EXIT_POSITION:
            contract = parse_symbol(msg.symbol, on=at.date())
            for order in self.venue.working(msg.account_id):
                if order.request.contract == contract:
                    events += self.venue.cancel(order.request.key, at)
            for position in self.venue.positions(msg.account_id):
                if position.contract == contract:
                    basket = self._new_basket("")
                    side = Side.SELL if position.quantity > 0 else Side.BUY
                    request = OrderRequest(basket.basket_id, msg.account_id, contract, side, abs(position.quantity))
                    self._remember(basket)
                    events += self.venue.place(request, at)
            return Reply(end={"symbol": msg.symbol, "exchange": msg.exchange}, events=events)
        if template == T.PNL_UPDATES:
            client.pnl_of.add(msg.account_id)
            return Reply()
        if template == T.PNL_SNAPSHOT:
            before = [(int(T.INSTRUMENT_PNL), self._instrument(msg.account_id, p.contract, True))
                      for p in self.venue.positions(msg.account_id)]  # fmt: skip
            before.append((int(T.ACCOUNT_PNL), self._account(msg.account_id, True)))
            return Reply(before=before)
        if template == T.MARKET_DATA:
            client.market.add(msg.symbol)
            return Reply(market=parse_symbol(msg.symbol, on=at.date()))
        return Reply()

    async def _raw(self, client: Client, data: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(data)

    def _new_order(self, template: T, msg: Any, at: datetime) -> Reply:
        if msg.account_id not in self.account_ids or msg.fcm_id != FCM or msg.ib_id != IB:
            return Reply(error="no such account for this user")
        if msg.trade_route != ROUTE:
            return Reply(error=f"no trade route {msg.trade_route!r}")
        if msg.manual_or_auto != rp.AUTO:
            return Reply(error="manual_or_auto must say AUTO for a program's orders")
        try:
            contract = parse_symbol(msg.symbol, on=at.date())
        except ValueError:
            return Reply(error=f"unknown symbol {msg.symbol}")
        if contract.spec.exchange != msg.exchange:
            return Reply(error=f"{msg.symbol} does not trade on {msg.exchange}")
        order_type = rp.ORDER_TYPES.get(msg.price_type)
        if order_type is None or msg.quantity <= 0:
            return Reply(error="unsupported order")
        side = rp.side_of(msg.transaction_type)
        price = rp.decimal_of(msg.price) if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        trigger = rp.decimal_of(msg.trigger_price) if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        bracket = None
        if template == T.BRACKET_ORDER:  # ticks from the price the entry will fill at [R5]
            quote = self.venue.quotes.get(contract)
            reference = price or trigger or (None if quote is None else (quote.ask if side is Side.BUY else quote.bid))
            if reference is None:
                return Reply(error="no market for the bracket")
            tick = contract.spec.tick_size
            sign = 1 if side is Side.BUY else -1
            stop = reference - sign * tick * msg.stop_ticks[0] if len(msg.stop_ticks) else None
            target = reference + sign * tick * msg.target_ticks[0] if len(msg.target_ticks) else None
            bracket = Bracket(stop, target)
        basket = self._new_basket(msg.user_tag)
        request = OrderRequest(
            basket.basket_id, msg.account_id, contract, side, int(msg.quantity), order_type, price, trigger, bracket,
            TimeInForce.DAY if msg.duration == rp.DAY else TimeInForce.GTC,
        )  # fmt: skip
        self._remember(basket)
        if msg.user_tag:
            self.by_tag[msg.user_tag] = basket.basket_id
        events = self.venue.place(request, at)
        return Reply(rows=[{"basket_id": basket.basket_id, "user_tag": msg.user_tag}],
                     end={"basket_id": basket.basket_id, "user_tag": msg.user_tag}, events=events)  # fmt: skip

    def _new_basket(self, tag: str, parent: str = "") -> Basket:
        return Basket(f"{next(self._ids) + 100000}", tag, parent)

    def _remember(self, basket: Basket) -> None:
        self.baskets[basket.basket_id] = basket
        self.by_basket[basket.basket_id] = basket.basket_id

    # ------------------------------------------------------------------ notifications
    def _basket_of(self, key: str) -> Basket:
        """The basket of a venue order; a bracket leg (``<entry>:stop``) gets its own, linked to the entry."""
        basket = self.baskets.get(key)
        if basket is None:
            parent = self.baskets.get(key.rsplit(":", 1)[0]) if ":" in key else None
            basket = self._new_basket(parent.tag if parent else "", parent.basket_id if parent else "")
            self.baskets[key] = basket
            self.by_basket[basket.basket_id] = key
        return basket

    def _order_fields(self, event: OrderEvent) -> dict[str, Any]:
        order = self.venue.orders[event.key]
        request = order.request
        basket = self._basket_of(event.key)
        fields: dict[str, Any] = {
            "user_tag": basket.tag, "basket_id": basket.basket_id, "fcm_id": FCM, "ib_id": IB,
            "account_id": request.account, "symbol": rp.symbol(request.contract),
            "exchange": rp.exchange(request.contract), "quantity": request.quantity,
            "transaction_type": rp.transaction(request.side), "price_type": rp.PRICE_TYPES[request.order_type],
            "total_fill_size": order.filled, "total_unfilled_size": order.remaining, "trade_route": ROUTE,
        }  # fmt: skip
        if basket.parent:
            fields["original_basket_id"] = basket.parent
        if request.limit_price is not None:
            fields["price"] = float(request.limit_price)
        if request.stop_price is not None:
            fields["trigger_price"] = float(request.stop_price)
        if order.average is not None:
            fields["avg_fill_price"] = float(order.average)
        return fields

    def _notification_351(self, event: OrderEvent, notify: int, *, snapshot: bool = False,
                          reason: str = "") -> dict[str, Any] | None:  # fmt: skip
        if event.key not in self.venue.orders:
            return None
        fields = self._order_fields(event)
        fields.update(
            notify_type=notify, is_snapshot=snapshot, status="open" if notify != rp.N351_COMPLETE else "complete"
        )
        if reason:
            fields["completion_reason"] = reason
        if event.reason and notify == rp.N351_COMPLETE:
            fields["text"] = event.reason
        return fields

    async def publish(self, events: list[BrokerEvent]) -> None:
        for event in events:
            if isinstance(event, OrderEvent) and event.key in self.venue.orders:
                account = event.account
                basket = self._basket_of(event.key)
                if event.status in (OrderStatus.WORKING, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
                    notify = rp.N351_MODIFIED if basket.announced else rp.N351_OPEN
                    basket.announced = True
                    await self._orders(account, T.ORDER_NOTIFICATION, self._notification_351(event, notify))
                elif event.status is OrderStatus.FILLED:
                    await self._orders(account, T.ORDER_NOTIFICATION,
                                       self._notification_351(event, rp.N351_COMPLETE, reason="Fill"))  # fmt: skip
                elif event.status is OrderStatus.CANCELLED:
                    fields = self._order_fields(event) | {"notify_type": rp.N352_CANCEL, "text": event.reason}
                    await self._orders(account, T.EXCHANGE_NOTIFICATION, fields)
                    await self._orders(account, T.ORDER_NOTIFICATION,
                                       self._notification_351(event, rp.N351_COMPLETE, reason="Cancel"))  # fmt: skip
                elif event.status is OrderStatus.REJECTED:
                    fields = self._order_fields(event) | {"notify_type": rp.N352_REJECT, "text": event.reason}
                    await self._orders(account, T.EXCHANGE_NOTIFICATION, fields)
                    await self._orders(account, T.ORDER_NOTIFICATION,
                                       self._notification_351(event, rp.N351_COMPLETE, reason="Reject"))  # fmt: skip
                basket.status = event.status
            elif isinstance(event, FillEvent):
                fields = self._order_fields(OrderEvent(event.key, event.account, OrderStatus.WORKING))
                fields |= {"notify_type": rp.N352_FILL, "fill_id": str(next(self._fills)), "fill_size": event.quantity,
                           "fill_price": float(event.price), "fill_time": event.executed_at.strftime("%H:%M:%S"),
                           "fill_date": event.executed_at.strftime("%Y%m%d")}  # fmt: skip
                await self._orders(event.account, T.EXCHANGE_NOTIFICATION, fields)
                await self._pnl(event.account, event.contract)
            elif isinstance(event, PositionEvent):
                await self._pnl(event.account, event.contract)

    async def _orders(self, account: str, template: int, fields: dict[str, Any] | None) -> None:
        if fields is None:
            return
        data = encode(template, message(template, **fields))
        for client in list(self.clients):
            if client.infra is rp.Infra.ORDER_PLANT and account in client.orders_of:
                await self._raw(client, data)

    def _instrument(self, account: str, contract: Contract, snapshot: bool = False) -> dict[str, Any]:
        position = next((p for p in self.venue.positions(account) if p.contract == contract), None)
        quantity = 0 if position is None else position.quantity
        quote = self.venue.quotes.get(contract)
        open_pnl = Decimal(0) if position is None or quote is None else position.open_pnl(quote.last)
        fields: dict[str, Any] = {
            "is_snapshot": snapshot, "fcm_id": FCM, "ib_id": IB, "account_id": account,
            "symbol": rp.symbol(contract), "exchange": rp.exchange(contract), "product_code": contract.root,
            "net_quantity": quantity, "buy_qty": max(quantity, 0), "sell_qty": max(-quantity, 0),
            "open_position_pnl": f"{open_pnl:.2f}", "open_position_quantity": abs(quantity),
        }  # fmt: skip
        if position is not None and quantity:
            fields["avg_open_fill_price"] = float(position.average_price)
        return fields

    def _account(self, account: str, snapshot: bool = False) -> dict[str, Any]:
        state = self.venue.account_state(account)
        return {"is_snapshot": snapshot, "fcm_id": FCM, "ib_id": IB, "account_id": account,
                "account_balance": f"{state.balance:.2f}", "open_position_pnl": f"{state.open_pnl:.2f}",
                "closed_position_pnl": f"{state.realized_pnl:.2f}"}  # fmt: skip

    async def _pnl(self, account: str, contract: Contract) -> None:
        instrument = encode(T.INSTRUMENT_PNL, message(T.INSTRUMENT_PNL, **self._instrument(account, contract)))
        totals = encode(T.ACCOUNT_PNL, message(T.ACCOUNT_PNL, **self._account(account)))
        for client in list(self.clients):
            if client.infra is rp.Infra.PNL_PLANT and account in client.pnl_of:
                await self._raw(client, instrument)
                await self._raw(client, totals)

    async def _market_to(self, client: Client, contract: Contract) -> None:
        quote = self.venue.quotes.get(contract)
        if quote is None:
            return
        symbol, where = rp.symbol(contract), rp.exchange(contract)
        await self._raw(client, encode(T.BEST_BID_OFFER, message(T.BEST_BID_OFFER, symbol=symbol, exchange=where,
                        bid_price=float(quote.bid), ask_price=float(quote.ask), bid_size=10, ask_size=10)))  # fmt: skip
        await self._raw(client, encode(T.LAST_TRADE, message(T.LAST_TRADE, symbol=symbol, exchange=where,
                        trade_price=float(quote.last), trade_size=1)))  # fmt: skip

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        """The market moves: resting orders may fill; prices and open P&L go to the subscribers."""
        events = self.venue.set_quote(contract, bid, ask, now())
        await self.publish(events)
        for client in list(self.clients):
            if client.infra is rp.Infra.TICKER_PLANT and rp.symbol(contract) in client.market:
                await self._market_to(client, contract)
        for account in self.account_ids:
            if account in self.venue.accounts and any(p.contract == contract for p in self.venue.positions(account)):
                await self._pnl(account, contract)


__all__ = ["PASSWORD", "SYSTEM", "USER", "FakeRithmic"]
