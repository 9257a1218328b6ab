"""A loopback server that plays Tradovate (the conformance suite and ``bench execution`` use it):
the documented REST bodies and WebSocket frames, a ``SimBroker`` as
the exchange. Controls for the tests: short token lifetimes, penalty tickets, dropped sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Notation, parse_symbol
from enigma_apex.execution.events import BrokerEvent, FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.sim import SimBroker

USER, PASSWORD = "trader", "correct horse"
ORD_STATUS = {
    OrderStatus.ACCEPTED: "PendingNew",
    OrderStatus.WORKING: "Working",
    OrderStatus.PARTIALLY_FILLED: "Working",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Canceled",
    OrderStatus.REJECTED: "Rejected",
}
TYPES = {
    "Market": OrderType.MARKET,
    "Limit": OrderType.LIMIT,
    "Stop": OrderType.STOP,
    "StopLimit": OrderType.STOP_LIMIT,
}


def now() -> datetime:
    return datetime.now(UTC)


class FakeTradovate:
    def __init__(self, venue: SimBroker, accounts: dict[str, int]) -> None:
        self.venue = venue
        self.account_ids = dict(accounts)  # name -> id
        self.names = {v: k for k, v in accounts.items()}
        self.tokens: dict[str, datetime] = {}
        self.token_lifetime = timedelta(minutes=80)
        self.penalty_next = 0
        self.tickets: set[str] = set()
        self.contracts: dict[str, int] = {}
        self.next_id = 1000
        self.ids: dict[str, int] = {}  # venue key -> Tradovate order id
        self.keys: dict[int, str] = {}
        self.cl_ord: dict[str, int] = {}  # clOrdId -> order id
        self.fill_history: list[dict[str, Any]] = []
        self.sockets: set[WebSocket] = set()
        self.calls: list[str] = []
        self.logins = 0
        self.renewals = 0
        self.heartbeats = 0
        self.app = Starlette(
            routes=[
                Route("/v1/auth/accesstokenrequest", self.login, methods=["POST"]),
                Route("/v1/auth/renewaccesstoken", self.renew, methods=["GET"]),
                Route("/v1/account/list", self.account_list, methods=["GET"]),
                Route("/v1/contract/find", self.contract_find, methods=["GET"]),
                Route("/v1/contract/item", self.contract_item, methods=["GET"]),
                Route("/v1/order/placeorder", self.place, methods=["POST"]),
                Route("/v1/order/placeoso", self.place, methods=["POST"]),
                Route("/v1/order/cancelorder", self.cancel, methods=["POST"]),
                Route("/v1/order/modifyorder", self.modify, methods=["POST"]),
                Route("/v1/order/liquidateposition", self.liquidate, methods=["POST"]),
                WebSocketRoute("/v1/websocket", self.websocket),
            ]
        )

    # ------------------------------------------------------------------ serving
    async def start(self) -> tuple[str, str]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as Tradovate
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises what stopped the server
                raise RuntimeError("the fake Tradovate server stopped during start-up")
            await asyncio.sleep(0.01)
        return f"http://127.0.0.1:{port}/v1", f"ws://127.0.0.1:{port}/v1/websocket"

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.drop_sockets()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def drop_sockets(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(1011)

    def expire_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = now() - timedelta(seconds=1)

    # ------------------------------------------------------------------ REST
    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        return token in self.tokens and self.tokens[token] > now()

    def _token(self) -> dict[str, Any]:
        token = secrets.token_hex(16)
        expiry = now() + self.token_lifetime
        self.tokens[token] = expiry
        expires = expiry.isoformat().replace("+00:00", "Z")
        return {"accessToken": token, "mdAccessToken": token, "expirationTime": expires,
                "userId": 7, "userStatus": "Active", "name": USER, "hasLive": False}  # fmt: skip

    async def login(self, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("name") != USER or body.get("password") != PASSWORD:
            return JSONResponse({"errorText": "Incorrect username or password. Please try again."})
        self.logins += 1
        return JSONResponse(self._token())

    async def renew(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"errorText": "Access is denied"}, status_code=401)
        self.renewals += 1
        return JSONResponse(self._token())

    async def _guard(self, request: Request) -> tuple[JSONResponse | None, dict[str, Any]]:
        """401 without a live token; a penalty ticket when the test asked for one."""
        body: dict[str, Any] = {}
        if request.method == "POST":
            body = await request.json()
        self.calls.append(request.url.path)
        if not self._authorized(request):
            return JSONResponse({"errorText": "Access is denied"}, status_code=401), body
        ticket = body.pop("p-ticket", None) or request.query_params.get("p-ticket")
        if ticket is not None:
            self.tickets.discard(ticket)
        elif self.penalty_next > 0:
            self.penalty_next -= 1
            ticket = secrets.token_hex(4)
            self.tickets.add(ticket)
            return JSONResponse({"p-ticket": ticket, "p-time": 0.05}), body
        return None, body

    async def account_list(self, request: Request) -> JSONResponse:
        refused, _ = await self._guard(request)
        return refused or JSONResponse([{"id": i, "name": n, "active": True} for n, i in self.account_ids.items()])

    def _contract_id(self, name: str) -> int:
        if name not in self.contracts:
            self.contracts[name] = 5000 + len(self.contracts)
        return self.contracts[name]

    async def contract_find(self, request: Request) -> JSONResponse:
        refused, _ = await self._guard(request)
        if refused:
            return refused
        name = request.query_params.get("name", "")
        try:
            parse_symbol(name, on=now().date())
        except ValueError:
            return JSONResponse({"errorText": f"contract {name} not found"}, status_code=404)
        return JSONResponse({"id": self._contract_id(name), "name": name})

    async def contract_item(self, request: Request) -> JSONResponse:
        refused, _ = await self._guard(request)
        if refused:
            return refused
        wanted = int(request.query_params.get("id", "0"))
        for name, cid in self.contracts.items():
            if cid == wanted:
                return JSONResponse({"id": cid, "name": name})
        return JSONResponse({"errorText": "not found"}, status_code=404)

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def place(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        if body.get("isAutomated") is not True:  # exchange policy: every order not placed by a human says so
            return JSONResponse({"errorText": "isAutomated must be true for automated orders"}, status_code=400)
        account = self.names.get(int(body["accountId"]))
        if account is None or body.get("accountSpec") != USER:
            return JSONResponse({"failureReason": "UnknownReason", "failureText": "unknown account"})
        contract = parse_symbol(body["symbol"], on=now().date())
        self._contract_id(body["symbol"])
        order_id = self._new_id()
        stop = target = None
        answer: dict[str, Any] = {"orderId": order_id}
        for name in ("bracket1", "bracket2"):
            leg = body.get(name)
            if leg is None:
                continue
            leg_id = self._new_id()
            answer["oso1Id" if name == "bracket1" else "oso2Id"] = leg_id
            if leg["orderType"] == "Stop":
                stop = Decimal(repr(leg["stopPrice"]))
                self._map(f"{order_id}:stop", leg_id)
            else:
                target = Decimal(repr(leg["price"]))
                self._map(f"{order_id}:target", leg_id)
        order_type = TYPES[body["orderType"]]
        price = Decimal(repr(body["price"])) if "price" in body else None
        stop_price = Decimal(repr(body["stopPrice"])) if "stopPrice" in body else None
        vreq = OrderRequest(
            str(order_id), account, contract, Side.BUY if body["action"] == "Buy" else Side.SELL, int(body["orderQty"]),
            order_type, price, stop_price, Bracket(stop, target) if stop or target else None,
            TimeInForce.DAY if body.get("timeInForce", "Day") == "Day" else TimeInForce.GTC,
        )  # fmt: skip
        self._map(str(order_id), order_id)
        if body.get("clOrdId"):
            self.cl_ord[body["clOrdId"]] = order_id
        events = self.venue.place(vreq, now())
        first = events[0]
        if isinstance(first, OrderEvent) and first.status is OrderStatus.REJECTED:
            return JSONResponse({"failureReason": "UnknownReason", "failureText": first.reason})
        await self.publish(events, created=str(order_id), cl_ord=body.get("clOrdId"))
        return JSONResponse(answer)

    def _map(self, key: str, order_id: int) -> None:
        self.ids[key] = order_id
        self.keys[order_id] = key

    async def cancel(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        key = self.keys.get(int(body["orderId"]))
        order = self.venue.orders.get(key or "")
        if order is None or order.status.is_terminal:
            return JSONResponse({"failureReason": "TooLate", "failureText": "order is not working"})
        await self.publish(self.venue.cancel(order.request.key, now()))
        return JSONResponse({"orderId": int(body["orderId"])})

    async def modify(self, request: Request) -> JSONResponse:
        """``/order/modifyorder`` [V8]: ``orderId``, ``orderQty`` (the order's new size), ``orderType`` (required),
        ``price`` / ``stopPrice``; a filled or cancelled order is too late."""
        refused, body = await self._guard(request)
        if refused:
            return refused
        if body.get("isAutomated") is not True:
            return JSONResponse({"errorText": "isAutomated must be true for automated orders"}, status_code=400)
        if "orderType" not in body or "orderQty" not in body:
            return JSONResponse({"errorText": "orderId, orderQty and orderType are required"}, status_code=400)
        key = self.keys.get(int(body["orderId"]))
        order = self.venue.orders.get(key or "")
        if order is None or order.status.is_terminal:
            return JSONResponse({"failureReason": "TooLate", "failureText": "order is not working"})
        events = self.venue.resize(order.request.key, int(body["orderQty"]) - order.filled, now())
        await self.publish(events)
        return JSONResponse({"orderId": int(body["orderId"])})

    async def liquidate(self, request: Request) -> JSONResponse:
        refused, body = await self._guard(request)
        if refused:
            return refused
        if "admin" not in body:
            return JSONResponse({"errorText": "admin is required"}, status_code=400)
        account = self.names[int(body["accountId"])]
        name = next(n for n, i in self.contracts.items() if i == int(body["contractId"]))
        contract = parse_symbol(name, on=now().date())
        events = []
        for order in self.venue.working(account):
            if order.request.contract == contract:
                events += self.venue.cancel(order.request.key, now())
        await self.publish(events)
        order_id = None
        for position in self.venue.positions(account):
            if position.contract == contract:
                order_id = self._new_id()
                self._map(str(order_id), order_id)
                side = Side.SELL if position.quantity > 0 else Side.BUY
                close = OrderRequest(str(order_id), account, contract, side, abs(position.quantity))
                await self.publish(self.venue.place(close, now()), created=str(order_id))
        return JSONResponse({"orderId": order_id} if order_id else {"failureReason": "UnknownReason",
                                                                     "failureText": "no position"})  # fmt: skip

    # ------------------------------------------------------------------ WebSocket
    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("o")
        authorized = False
        try:
            while True:
                text = await ws.receive_text()
                if text == "[]":
                    self.heartbeats += 1
                    continue
                endpoint, request_id, _query, body = text.split("\n", 3)
                if endpoint == "authorize":
                    authorized = body in self.tokens and self.tokens[body] > now()
                    await ws.send_text("a" + json.dumps([{"i": int(request_id), "s": 200 if authorized else 401}]))
                    if not authorized:
                        await ws.close(1008)
                        return
                    self.sockets.add(ws)
                elif endpoint == "user/syncrequest" and authorized:
                    reply = {"i": int(request_id), "s": 200, "d": self.snapshot()}
                    await ws.send_text("a" + json.dumps([reply]))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.discard(ws)

    def snapshot(self) -> dict[str, Any]:
        positions, orders, cash = [], [], []
        for name, account_id in self.account_ids.items():
            if name not in self.venue.accounts:
                continue
            for position in self.venue.positions(name):
                cid = self._contract_id(position.contract.format(_short()))
                positions.append({"id": cid * 10 + account_id, "accountId": account_id, "contractId": cid,
                                  "netPos": position.quantity, "netPrice": float(position.average_price)})  # fmt: skip
            state = self.venue.account_state(name)
            cash.append(
                {"accountId": account_id, "amount": float(state.balance), "realizedPnL": float(state.realized_pnl)}
            )
            for order in self.venue.working(name):
                order_id = self.ids.get(order.request.key)
                cl = next((k for k, v in self.cl_ord.items() if v == order_id), None)
                orders.append(self._order_entity(order.event(), order_id, cl))
        listed = [{"id": i, "name": n} for n, i in self.account_ids.items()]
        return {"users": [{"id": 7, "name": USER}], "accounts": listed, "positions": positions, "orders": orders,
                "cashBalances": cash, "fills": list(self.fill_history)}  # fmt: skip

    def _order_entity(self, event: OrderEvent, order_id: int | None, cl_ord: str | None = None) -> dict[str, Any]:
        order = self.venue.orders[event.key]
        entity = {"id": order_id, "accountId": self.account_ids[event.account],
                  "contractId": self._contract_id(order.request.contract.format(_short())),
                  "action": "Buy" if order.request.side is Side.BUY else "Sell",
                  "ordStatus": ORD_STATUS.get(event.status, "Working"), "timestamp": now().isoformat()}  # fmt: skip
        if cl_ord:
            entity["clOrdId"] = cl_ord
        if event.status is OrderStatus.REJECTED:
            entity["text"] = event.reason
        return entity

    async def publish(self, events: list[BrokerEvent], created: str | None = None, cl_ord: str | None = None) -> None:
        items = []
        if created is not None:  # Tradovate announces a new order before anything happens to it
            order = self.venue.orders[created]
            new = OrderEvent(created, order.request.account, OrderStatus.ACCEPTED)
            entity = self._order_entity(new, self.ids[created], cl_ord)
            items.append({"e": "props", "d": {"entityType": "order", "eventType": "Created", "entity": entity}})
        for event in events:
            if isinstance(event, OrderEvent):
                order_id = self.ids.get(event.key)
                if order_id is None:
                    order_id = self._new_id()
                    self._map(event.key, order_id)
                entity = self._order_entity(event, order_id, cl_ord if event.key == created else None)
                items.append({"e": "props", "d": {"entityType": "order", "eventType": "Updated", "entity": entity}})
            elif isinstance(event, FillEvent):
                order_id = self.ids.get(event.key)
                fill = {"id": self._new_id(), "orderId": order_id,
                        "contractId": self._contract_id(event.contract.format(_short())),
                        "action": "Buy" if event.side is Side.BUY else "Sell", "qty": event.quantity,
                        "price": float(event.price), "timestamp": event.executed_at.isoformat()}  # fmt: skip
                self.fill_history.append(fill)
                items.append({"e": "props", "d": {"entityType": "fill", "eventType": "Created", "entity": fill}})
                state = self.venue.account_state(event.account)
                cash = {"accountId": self.account_ids[event.account], "amount": float(state.balance),
                        "realizedPnL": float(state.realized_pnl)}  # fmt: skip
                items.append({"e": "props", "d": {"entityType": "cashBalance", "eventType": "Updated", "entity": cash}})
            elif isinstance(event, PositionEvent):
                cid = self._contract_id(event.contract.format(_short()))
                account_id = self.account_ids[event.account]
                entity = {"id": cid * 10 + account_id, "accountId": account_id,
                          "contractId": cid, "netPos": event.quantity,
                          "netPrice": None if event.average_price is None else float(event.average_price)}  # fmt: skip
                items.append({"e": "props", "d": {"entityType": "position", "eventType": "Updated", "entity": entity}})
        if items:
            frame = "a" + json.dumps(items)
            for ws in list(self.sockets):
                with contextlib.suppress(Exception):
                    await ws.send_text(frame)


def _short() -> Notation:
    return Notation.CME_SHORT
