"""A loopback server that plays a ProjectX gateway (the conformance suite and ``bench execution`` use it).

REST routes and real-time hubs as gateway.docs.projectx.com documents them ([X…] in ``execution/projectx.py``),
with a ``SimBroker`` as the exchange:

- ``/api/Auth/loginKey`` and ``/api/Auth/validate`` (24-hour tokens, ``newToken``) [X2]; answers with
  ``success`` / ``errorCode`` / ``errorMessage`` [X3]; HTTP 429 with ``Retry-After`` when a test asks [X4];
  401 without a live token;
- ``/api/Account/search``, ``/api/Contract/search`` and ``/searchById`` (ids ``CON.F.US.<root>.<M><YY>``,
  names ``MNQZ6``) [X5]; ``/api/Order/place`` (``customTag`` unique per account; signed bracket ticks:
  a long's stop negative, its target positive), ``/cancel``, ``/modify``, ``/searchOpen`` [X6];
  ``/api/Position/searchOpen`` and ``/closeContract``, ``/api/Trade/search`` [X7];
- SignalR (the ASP.NET Core SignalR transport and JSON hub protocol: ``POST …/negotiate``, then a WebSocket
  whose records end with 0x1E; handshake ``{"protocol":"json","version":1}`` answered ``{}``; invocation
  type 1, completion 3, ping 6, close 7) for the user hub (``SubscribeAccounts`` / ``SubscribeOrders`` /
  ``SubscribePositions`` / ``SubscribeTrades``; events ``GatewayUserAccount`` / ``GatewayUserOrder`` /
  ``GatewayUserPosition`` / ``GatewayUserTrade``) and the market hub (``SubscribeContractQuotes``;
  ``GatewayQuote(contractId, quote)``) [X8].

Bracket legs are orders of their own, without a tag, opened when the entry fills. Controls for the tests:
``expire_tokens()``, ``rate_limit_next``, ``drop_hubs()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from enigma_apex.domain.orders import Bracket, OrderStatus, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.execution import projectx as px
from enigma_apex.execution.events import BrokerEvent, FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.sim import SimBroker

USER, API_KEY = "trader", "px-key-correct-horse"
RS = "\x1e"  # SignalR record separator


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime | None = None) -> str:
    return (at or now()).isoformat()


def contract_id(contract: Contract) -> str:
    return f"CON.F.US.{contract.root}.{contract.month_code}{contract.year % 100:02d}"


@dataclass(eq=False)
class HubPeer:
    ws: WebSocket
    hub: str
    accounts: set[int] = field(default_factory=set)
    quotes: set[str] = field(default_factory=set)


class FakeProjectX:
    def __init__(self, venue: SimBroker, accounts: dict[str, int]) -> None:
        self.venue = venue
        self.account_ids = dict(accounts)  # name -> id
        self.names = {v: k for k, v in accounts.items()}
        self.tokens: dict[str, datetime] = {}
        self.token_lifetime = timedelta(hours=24)
        self.rate_limit_next = 0
        self.order_ids = itertools.count(9000)
        self.trade_ids = itertools.count(70000)
        self.ids: dict[str, int] = {}  # venue key -> order id
        self.keys: dict[int, str] = {}
        self.tags: dict[tuple[int, str], int] = {}  # (account id, customTag) -> order id
        self.tag_of: dict[int, str] = {}
        self.trades: list[dict[str, Any]] = []
        self.peers: set[HubPeer] = set()
        self.logins = self.validations = self.pings = self.rate_limited = 0
        self.connections: dict[str, int] = {"user": 0, "market": 0}
        self.app = Starlette(routes=[
            Route("/api/Auth/loginKey", self.login_key, methods=["POST"]),
            Route("/api/Auth/validate", self.validate, methods=["POST"]),
            Route("/api/Account/search", self.account_search, methods=["POST"]),
            Route("/api/Contract/search", self.contract_search, methods=["POST"]),
            Route("/api/Contract/searchById", self.contract_by_id, methods=["POST"]),
            Route("/api/Order/place", self.place, methods=["POST"]),
            Route("/api/Order/cancel", self.cancel, methods=["POST"]),
            Route("/api/Order/modify", self.modify, methods=["POST"]),
            Route("/api/Order/searchOpen", self.search_open, methods=["POST"]),
            Route("/api/Position/searchOpen", self.positions, methods=["POST"]),
            Route("/api/Position/closeContract", self.close_contract, methods=["POST"]),
            Route("/api/Trade/search", self.trade_search, methods=["POST"]),
            Route("/hubs/user/negotiate", self.negotiate, methods=["POST"]),
            Route("/hubs/market/negotiate", self.negotiate, methods=["POST"]),
            WebSocketRoute("/hubs/user", self.user_hub),
            WebSocketRoute("/hubs/market", self.market_hub),
        ])  # fmt: skip

    # ------------------------------------------------------------------ serving
    async def start(self) -> tuple[str, str, str]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("the fake ProjectX server stopped during start-up")
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        return base, f"{base}/hubs/user", f"{base}/hubs/market"

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.drop_hubs()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def drop_hubs(self, hub: str | None = None) -> None:
        for peer in list(self.peers):
            if hub is None or peer.hub == hub:
                with contextlib.suppress(Exception):
                    await peer.ws.close(1011)

    def expire_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = now() - timedelta(seconds=1)

    # ------------------------------------------------------------------ REST plumbing
    def _live(self, token: str) -> bool:
        return token in self.tokens and self.tokens[token] > now()

    def _token_of(self, request: Request | WebSocket) -> str:
        header = request.headers.get("authorization", "")
        return header.removeprefix("Bearer ") if header else request.query_params.get("access_token", "")

    async def _guard(self, request: Request) -> tuple[JSONResponse | None, dict[str, Any]]:
        """429 when the test asks for one [X4]; 401 without a live token; the JSON body."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            self.rate_limited += 1
            return JSONResponse({"title": "Too Many Requests"}, status_code=429, headers={"Retry-After": "0"}), {}
        if not self._live(self._token_of(request)):
            return JSONResponse({"title": "Unauthorized"}, status_code=401), {}
        if not isinstance(body, dict):
            return _refuse(1, "the request body must be a JSON object"), {}
        return None, body

    def _new_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = now() + self.token_lifetime
        return token

    async def login_key(self, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("userName") != USER or body.get("apiKey") != API_KEY:
            return _refuse(3, "Invalid credentials")
        self.logins += 1
        return _ok(token=self._new_token())

    async def validate(self, request: Request) -> JSONResponse:
        if not self._live(self._token_of(request)):
            return JSONResponse({"title": "Unauthorized"}, status_code=401)
        self.validations += 1
        return _ok(newToken=self._new_token())

    async def account_search(self, request: Request) -> JSONResponse:
        refused, _ = await self._guard(request)
        if refused:
            return refused
        accounts = [self._account(name) for name in self.account_ids if name in self.venue.accounts]
        return _ok(accounts=accounts)

    def _account(self, name: str) -> dict[str, Any]:
        state = self.venue.account_state(name)
        return {"id": self.account_ids[name], "name": name, "balance": float(state.balance), "canTrade": True,
                "isVisible": True, "simulated": True}  # fmt: skip

    def _contract_item(self, contract: Contract) -> dict[str, Any]:
        spec = contract.spec
        return {"id": contract_id(contract), "name": px.contract_name(contract), "description": spec.name,
                "tickSize": float(spec.tick_size), "tickValue": float(spec.tick_value),
                "activeContract": True}  # fmt: skip

    async def contract_search(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        try:
            contract = parse_symbol(str(body.get("searchText", "")), on=now().date())
        except ValueError:
            return _ok(contracts=[])
        return _ok(contracts=[self._contract_item(contract)])

    def _contract_from(self, cid: str) -> Contract | None:
        parts = cid.split(".")
        if len(parts) != 5 or parts[:3] != ["CON", "F", "US"]:
            return None
        try:
            return parse_symbol(f"{parts[3]}{parts[4]}", on=now().date())
        except ValueError:
            return None

    async def contract_by_id(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        contract = self._contract_from(str(body.get("contractId", "")))
        if contract is None:
            return _refuse(1, "contract not found")
        return _ok(contract=self._contract_item(contract))

    # ------------------------------------------------------------------ orders
    async def place(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        account_id = int(body.get("accountId", -1))
        name = self.names.get(account_id)
        contract = self._contract_from(str(body.get("contractId", "")))
        if name is None:
            return _refuse(1, "Account not found")
        if contract is None:
            return _refuse(1, "Contract not found")
        order_type = px.ORDER_TYPES.get(int(body.get("type", 0)))
        size = body.get("size")
        if order_type is None or not isinstance(size, int) or size <= 0:
            return _refuse(2, "Invalid order type or size")
        tag = body.get("customTag")
        if tag and (account_id, tag) in self.tags:
            return _refuse(2, "An order with this custom tag already exists for this account")
        side = px.side_of(int(body.get("side", 0)))
        limit = px.decimal_of(body["limitPrice"]) if body.get("limitPrice") is not None else None
        stop = px.decimal_of(body["stopPrice"]) if body.get("stopPrice") is not None else None
        bracket = None
        if body.get("stopLossBracket") or body.get("takeProfitBracket"):
            quote = self.venue.quotes.get(contract)
            reference = limit or stop or (None if quote is None else (quote.ask if side is Side.BUY else quote.bid))
            if reference is None:
                return _refuse(2, "No market data for the bracket")
            tick = contract.spec.tick_size
            levels: dict[str, Decimal] = {}
            for name_, wanted_sign in (("stopLossBracket", -1), ("takeProfitBracket", 1)):
                leg = body.get(name_)
                if not leg:
                    continue
                ticks = int(leg.get("ticks", 0))
                sign = wanted_sign if side is Side.BUY else -wanted_sign
                if ticks == 0 or (ticks > 0) != (sign > 0):
                    relation = "less than" if sign < 0 else "greater than"
                    return _refuse(2, f"Invalid {name_} ticks ({ticks}): they must be {relation} zero for this side")
                levels[name_] = reference + tick * ticks
            bracket = Bracket(levels.get("stopLossBracket"), levels.get("takeProfitBracket"))
        order_id = next(self.order_ids)
        key = str(order_id)
        vreq = OrderRequest(key, name, contract, side, size, order_type, limit, stop, bracket, TimeInForce.DAY)
        events = self.venue.place(vreq, now())
        first = events[0]
        if isinstance(first, OrderEvent) and first.status is OrderStatus.REJECTED:
            del self.venue.orders[key]
            return _refuse(2, first.reason)
        self._map(key, order_id)
        if tag:
            self.tags[(account_id, tag)] = order_id
            self.tag_of[order_id] = tag
        return _ok(orderId=order_id, background=BackgroundTask(self.publish, events))

    def _map(self, key: str, order_id: int) -> None:
        self.ids[key] = order_id
        self.keys[order_id] = key

    def _working(self, body: dict[str, Any]) -> Any:
        key = self.keys.get(int(body.get("orderId", -1)))
        order = self.venue.orders.get(key or "")
        if order is None or self.account_ids.get(order.request.account) != int(body.get("accountId", -2)):
            return None
        return order

    async def cancel(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        order = self._working(body)
        if order is None or order.status.is_terminal:
            return _refuse(2, "Order not found or not open")
        return _ok(background=BackgroundTask(self.publish, self.venue.cancel(order.request.key, now())))

    async def modify(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        order = self._working(body)
        if order is None or order.status.is_terminal:
            return _refuse(2, "Order not found or not open")
        if body.get("size") is None:
            return _refuse(2, "Nothing to modify")
        events = self.venue.resize(order.request.key, int(body["size"]) - order.filled, now())
        return _ok(background=BackgroundTask(self.publish, events))

    async def search_open(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        name = self.names.get(int(body.get("accountId", -1)))
        if name is None:
            return _refuse(1, "Account not found")
        return _ok(orders=[self._order(o.event()) for o in self.venue.working(name) if o.request.key in self.ids
                           or self._leg_id(o.request.key)])  # fmt: skip

    async def positions(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        name = self.names.get(int(body.get("accountId", -1)))
        if name is None:
            return _refuse(1, "Account not found")
        held = [self._position(PositionEvent(name, p.contract, p.quantity, p.average_price))
                for p in self.venue.positions(name)]  # fmt: skip
        return _ok(positions=held)

    async def close_contract(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        name = self.names.get(int(body.get("accountId", -1)))
        contract = self._contract_from(str(body.get("contractId", "")))
        if name is None or contract is None:
            return _refuse(1, "Account or contract not found")
        at = now()
        events: list[BrokerEvent] = []
        for order in self.venue.working(name):  # the position's brackets go with it
            if order.request.contract == contract:
                events += self.venue.cancel(order.request.key, at)
        held = next((p for p in self.venue.positions(name) if p.contract == contract), None)
        if held is None:
            return _refuse(2, "No open position for this contract")
        order_id = next(self.order_ids)
        self._map(str(order_id), order_id)
        close = OrderRequest(str(order_id), name, contract, Side.SELL if held.quantity > 0 else Side.BUY,
                             abs(held.quantity))  # fmt: skip
        events += self.venue.place(close, at)
        return _ok(background=BackgroundTask(self.publish, events))

    async def trade_search(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        account_id = int(body.get("accountId", -1))
        return _ok(trades=[t for t in self.trades if t["accountId"] == account_id])

    # ------------------------------------------------------------------ payloads [X8]
    def _leg_id(self, key: str) -> int:
        if key not in self.ids:
            self._map(key, next(self.order_ids))
        return self.ids[key]

    def _order(self, event: OrderEvent) -> dict[str, Any]:
        order = self.venue.orders[event.key]
        request = order.request
        order_id = self._leg_id(event.key)
        status = event.status
        payload = {
            "id": order_id, "accountId": self.account_ids[request.account],
            "contractId": contract_id(request.contract), "symbolId": f"F.US.{request.contract.root}",
            "creationTimestamp": stamp(), "updateTimestamp": stamp(), "status": px.STATUS_CODES.get(status, 1),
            "type": px.TYPES[request.order_type], "side": px.side_code(request.side), "size": request.quantity,
            "limitPrice": None if request.limit_price is None else float(request.limit_price),
            "stopPrice": None if request.stop_price is None else float(request.stop_price),
            "fillVolume": order.filled, "filledPrice": None if order.average is None else float(order.average),
            "customTag": self.tag_of.get(order_id),
        }  # fmt: skip
        return payload

    def _position(self, event: PositionEvent) -> dict[str, Any]:
        account_id = self.account_ids[event.account]
        kind = 0 if event.quantity == 0 else (px.LONG if event.quantity > 0 else px.SHORT)
        return {"id": hash((account_id, event.contract)) & 0xFFFFFF, "accountId": account_id,
                "contractId": contract_id(event.contract), "creationTimestamp": stamp(), "type": kind,
                "size": abs(event.quantity),
                "averagePrice": None if event.average_price is None else float(event.average_price)}  # fmt: skip

    async def publish(self, events: list[BrokerEvent]) -> None:
        for event in events:
            if isinstance(event, OrderEvent) and event.key in self.venue.orders:
                account_id = self.account_ids[event.account]
                await self._user(account_id, "GatewayUserOrder", self._order(event))
            elif isinstance(event, FillEvent):
                account_id = self.account_ids[event.account]
                trade = {"id": next(self.trade_ids), "accountId": account_id,
                         "contractId": contract_id(event.contract), "creationTimestamp": stamp(event.executed_at),
                         "price": float(event.price), "profitAndLoss": None, "fees": float(event.commission),
                         "side": px.side_code(event.side), "size": event.quantity, "voided": False,
                         "orderId": self._leg_id(event.key)}  # fmt: skip
                self.trades.append(trade)
                await self._user(account_id, "GatewayUserTrade", trade)
                await self._user(account_id, "GatewayUserAccount", self._account(event.account))
            elif isinstance(event, PositionEvent):
                await self._user(self.account_ids[event.account], "GatewayUserPosition", self._position(event))

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        events = self.venue.set_quote(contract, bid, ask, now())
        await self.publish(events)
        await self._quote_to(contract, None)

    async def _quote_to(self, contract: Contract, only: HubPeer | None) -> None:
        quote = self.venue.quotes.get(contract)
        if quote is None:
            return
        cid = contract_id(contract)
        data = {"symbol": f"F.US.{contract.root}", "symbolName": px.contract_name(contract),
                "lastPrice": float(quote.last), "bestBid": float(quote.bid), "bestAsk": float(quote.ask),
                "change": 0.0, "changePercent": 0.0, "open": float(quote.last), "high": float(quote.last),
                "low": float(quote.last), "volume": 0, "lastUpdated": stamp(), "timestamp": stamp()}  # fmt: skip
        text = json.dumps({"type": 1, "target": "GatewayQuote", "arguments": [cid, data]}) + RS
        for peer in [only] if only is not None else list(self.peers):
            if peer.hub == "market" and cid in peer.quotes:
                with contextlib.suppress(Exception):
                    await peer.ws.send_text(text)

    async def _user(self, account_id: int, target: str, payload: dict[str, Any]) -> None:
        text = json.dumps({"type": 1, "target": target, "arguments": [payload]}) + RS
        for peer in list(self.peers):
            if peer.hub == "user" and account_id in peer.accounts:
                with contextlib.suppress(Exception):
                    await peer.ws.send_text(text)

    # ------------------------------------------------------------------ SignalR
    async def negotiate(self, request: Request) -> JSONResponse:
        """The SignalR negotiation (transport protocol, negotiateVersion 1)."""
        if not self._live(self._token_of(request)):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        connection = secrets.token_urlsafe(12)
        return JSONResponse({"connectionId": connection, "connectionToken": connection, "negotiateVersion": 1,
                             "availableTransports": [{"transport": "WebSockets",
                                                      "transferFormats": ["Text", "Binary"]}]})  # fmt: skip

    async def user_hub(self, ws: WebSocket) -> None:
        await self._hub(ws, "user")

    async def market_hub(self, ws: WebSocket) -> None:
        await self._hub(ws, "market")

    async def _hub(self, ws: WebSocket, hub: str) -> None:
        if not self._live(self._token_of(ws)):
            await ws.close(1008)
            return
        await ws.accept()
        peer = HubPeer(ws, hub)
        buffer = ""
        try:
            handshake = await ws.receive_text()
            request = json.loads(handshake.split(RS, 1)[0])
            if request.get("protocol") != "json":
                await ws.send_text(json.dumps({"error": "only the json protocol is served"}) + RS)
                await ws.close()
                return
            await ws.send_text("{}" + RS)
            self.peers.add(peer)
            self.connections[hub] += 1
            while True:
                buffer += await ws.receive_text()
                *records, buffer = buffer.split(RS)
                for record in records:
                    if record:
                        await self._record(peer, json.loads(record))
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            self.peers.discard(peer)

    async def _record(self, peer: HubPeer, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == 6:
            self.pings += 1
            return
        if kind == 7:
            await peer.ws.close()
            return
        if kind != 1:
            return
        target, args = record.get("target"), record.get("arguments") or []
        if peer.hub == "user" and target in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades") and args:
            peer.accounts.add(int(args[0]))
        elif peer.hub == "market" and target == "SubscribeContractQuotes" and args:
            peer.quotes.add(str(args[0]))
            contract = self._contract_from(str(args[0]))
            if contract is not None:
                await self._quote_to(contract, peer)
        if record.get("invocationId"):
            await peer.ws.send_text(json.dumps({"type": 3, "invocationId": record["invocationId"],
                                                "result": None}) + RS)  # fmt: skip


def _ok(background: BackgroundTask | None = None, **fields: Any) -> JSONResponse:
    return JSONResponse({**fields, "success": True, "errorCode": 0, "errorMessage": None}, background=background)


def _refuse(code: int, text: str) -> JSONResponse:
    return JSONResponse({"success": False, "errorCode": code, "errorMessage": text})


__all__ = ["API_KEY", "USER", "FakeProjectX", "contract_id"]
