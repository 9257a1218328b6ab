"""Tradovate: REST for orders and look-ups, one WebSocket for the account's live state.

- Auth: ``/auth/accesstokenrequest`` once, then ``/auth/renewaccesstoken`` before the 80-minute expiry (new
  tokens would end our other sessions [V1][V3]); a 401 renews once, then authenticates again.
- Requests: ``isAutomated: true`` on every order; an answer with ``p-ticket`` / ``p-time`` (penalty ticket
  [V13]) is waited out and sent again with the ticket; ``p-captcha`` or HTTP 429 is a clear error (Tradovate asks
  for about an hour's pause); ``failureReason`` / ``errorText`` become the order's rejection reason.
- WebSocket: ``authorize``, then ``user/syncrequest`` (snapshot of accounts, positions, orders, cash) and
  ``props`` events after it — fills, orders, positions and cash balances become broker events. ``[]`` every
  2.5 s; a dropped socket is reconnected with backoff and re-synced (the snapshot reconciles positions).
- Orders carry our idempotency key as ``clOrdId``; after a restart the synced orders tell which keys are placed.
- No credential or token is ever logged (``adapters/logging.py`` redacts them too).

Every HTTP call goes through an injectable ``httpx`` transport; the tests run this code against a loopback
server that implements the documented bodies and frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from enigma_apex.adapters.brokers.runner import Emit, Quote, Result
from enigma_apex.config.models import TradovateSection
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.orders import OrderStatus, Side
from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.domain.values import ZERO, round_cents
from enigma_apex.errors import EnigmaError, UnknownSymbolError
from enigma_apex.execution import tradovate as tv
from enigma_apex.execution.events import (
    AccountState,
    BrokerEvent,
    FillEvent,
    OrderEvent,
    OrderRequest,
    PositionEvent,
    bracket_leg,
)
from enigma_apex.execution.protection import Leg, leg_kind, working_legs

log = structlog.get_logger(__name__)

RENEW_BEFORE_S = 10 * 60  # renew ten minutes before the 80-minute expiry
MAX_PENALTY_WAIT_S = 60.0


class TradovateError(EnigmaError):
    """A refusal or failure from Tradovate, with a sentence a trader can act on."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    app_id: str
    app_version: str
    cid: int | None
    sec: str

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.username,
            "password": self.password,
            "appId": self.app_id,
            "appVersion": self.app_version,
        }
        if self.cid is not None:
            body["cid"] = self.cid
        if self.sec:
            body["sec"] = self.sec
        return body

    def __repr__(self) -> str:  # never print the secrets
        return f"Credentials(username={self.username!r}, app_id={self.app_id!r})"


class TradovateRest:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout_s, transport=transport)
        self.sleep = sleep
        self.monotonic = monotonic
        self.access_token: str | None = None
        self.user_id: int | None = None
        self.expires_at = 0.0  # monotonic
        self.renewals = 0
        self.penalties = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def authenticate(self) -> None:
        response = await self.http.post("auth/accesstokenrequest", json=self.credentials.body())
        body = self._json(response)
        if response.status_code != 200 or "accessToken" not in body:
            text = body.get("errorText") if isinstance(body, dict) else None
            raise TradovateError(f"Tradovate refused the login: {text or f'HTTP {response.status_code}'}")
        self._take(body)

    async def renew(self) -> None:
        response = await self.http.get("auth/renewaccesstoken", headers=self._auth())
        body = self._json(response)
        if response.status_code != 200 or "accessToken" not in body:
            await self.authenticate()
            return
        self.renewals += 1
        self._take(body)

    def _take(self, body: dict[str, Any]) -> None:
        self.access_token = str(body["accessToken"])
        if body.get("userId") is not None:
            self.user_id = int(body["userId"])
        lifetime = float(tv.TOKEN_LIFETIME_S)
        if body.get("expirationTime"):
            with contextlib.suppress(ValueError):
                expiry = datetime.fromisoformat(str(body["expirationTime"]).replace("Z", "+00:00"))
                lifetime = (expiry - datetime.now(UTC)).total_seconds()
        self.expires_at = self.monotonic() + lifetime

    def seconds_left(self) -> float:
        return self.expires_at - self.monotonic()

    async def keep_fresh(self) -> None:
        """Renew the token before it expires, for as long as the connector runs."""
        while True:
            await self.sleep(max(1.0, self.seconds_left() - RENEW_BEFORE_S))
            if self.seconds_left() <= RENEW_BEFORE_S:
                try:
                    await self.renew()
                except (TradovateError, httpx.HTTPError) as exc:
                    log.error("tradovate.renew_failed", error=str(exc))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return {}

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, params: Any = None) -> Any:
        """One request: renews on 401 (once), waits out penalty tickets, raises ``TradovateError`` otherwise."""
        if self.access_token is None:
            await self.authenticate()
        payload = dict(body) if body is not None else None
        renewed = False
        waited = 0.0
        while True:
            response = await self.http.request(method, path, json=payload, params=params, headers=self._auth())
            data = self._json(response)
            if response.status_code == 401 and not renewed:
                renewed = True
                await self.renew()
                continue
            if response.status_code == 429:
                raise TradovateError("Tradovate's rate limit was reached (HTTP 429): wait about an hour")
            if response.status_code >= 400:
                text = data.get("errorText") if isinstance(data, dict) else None
                raise TradovateError(f"Tradovate answered HTTP {response.status_code} to {path}: {text or 'no detail'}")
            if isinstance(data, dict) and data.get("p-ticket"):
                if data.get("p-captcha"):
                    raise TradovateError("Tradovate asks for a captcha (too many requests): pause for about an hour")
                delay = float(data.get("p-time", 1))
                waited += delay
                if waited > MAX_PENALTY_WAIT_S:
                    raise TradovateError(f"Tradovate penalty tickets exceeded {MAX_PENALTY_WAIT_S:.0f} s for {path}")
                self.penalties += 1
                log.warning("tradovate.penalty", path=path, wait_s=delay)
                await self.sleep(delay)
                if method == "GET":  # a GET has no body: the ticket goes in the query
                    params = {**dict(params or {}), "p-ticket": data["p-ticket"]}
                else:
                    payload = {**(payload or {}), "p-ticket": data["p-ticket"]}
                continue
            return data


@dataclass(slots=True)
class Known:
    """An order this connector placed (or found placed after a restart)."""

    key: str
    account: str
    contract: Contract
    side: Side
    filled: int = 0
    status: OrderStatus = OrderStatus.ACCEPTED
    notional: Decimal = ZERO
    quantity: int = 0  # the order's size (0: not known, an order found after a restart)
    leg_price: Decimal | None = None  # a bracket leg's stop or limit price (modifyorder needs it)


@dataclass(slots=True)
class AccountBook:
    name: str
    account_id: int
    balance: Decimal = ZERO
    realized: Decimal = ZERO
    positions: dict[Contract, tuple[int, Decimal | None]] = field(default_factory=dict)


class TradovateConnector:
    def __init__(
        self,
        cfg: TradovateSection,
        accounts: list[str],
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rest: TradovateRest | None = None,
    ) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.clock = clock
        rest_url, ws_url = tv.HOSTS[cfg.environment]
        self.rest_url, self.ws_url = cfg.rest_url or rest_url, cfg.ws_url or ws_url
        credentials = Credentials(
            cfg.username, cfg.password.get_secret_value() if cfg.password else "", cfg.app_id, cfg.app_version,
            cfg.cid, cfg.sec.get_secret_value() if cfg.sec else "",
        )  # fmt: skip
        self.rest = rest or TradovateRest(
            self.rest_url, credentials, timeout_s=float(cfg.request_timeout_s), transport=transport
        )
        self.wanted = list(accounts)
        self.books: dict[str, AccountBook] = {}
        self.by_id: dict[int, AccountBook] = {}
        self.contracts: dict[int, Contract] = {}
        self.contract_ids: dict[Contract, int] = {}
        self.orders: dict[int, Known] = {}  # Tradovate order id -> what it is
        self.keys: dict[str, int] = {}  # our key -> Tradovate order id
        self.seen_fills: set[int] = set()
        self.socket_state = "down"
        self.socket_connects = 0
        self._emit: Emit | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ws: ClientConnection | None = None
        self._request_id = 0
        self._synced = asyncio.Event()
        self._inflight = 0
        self._parked: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------------ Connector
    async def start(self, emit: Emit) -> None:
        self._emit = emit
        await self.rest.authenticate()
        listed = await self.rest.call("GET", "account/list")
        for item in listed if isinstance(listed, list) else []:
            if item.get("name") in self.wanted:
                book = AccountBook(str(item["name"]), int(item["id"]))
                self.books[book.name] = book
                self.by_id[book.account_id] = book
        missing = sorted(set(self.wanted) - set(self.books))
        if missing:
            log.error("tradovate.unknown_accounts", accounts=missing)
        self._tasks = [asyncio.create_task(self.rest.keep_fresh()), asyncio.create_task(self._socket_forever())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), 10)

    async def place(self, request: OrderRequest) -> Result:
        book = self.books.get(request.account)
        if book is None:
            return Result(False, f"account {request.account} is not a Tradovate account of this user")
        if request.key in self.keys:
            return Result(True, "already at Tradovate")
        self._inflight += 1  # events for orders we do not know yet wait until Tradovate has answered
        try:
            await self._contract_id(request.contract)
            if request.bracket is not None:
                path, body = "order/placeoso", tv.oso_body(self.cfg.username, book.account_id, request)
            else:
                path, body = "order/placeorder", tv.order_body(self.cfg.username, book.account_id, request)
            answer = await self.rest.call("POST", path, body)
            refused = tv.failure(answer)
            if refused is not None or not isinstance(answer, dict) or "orderId" not in answer:
                return Result(False, refused or "Tradovate returned no order id")
            self._know(int(answer["orderId"]), request.key, request)
            legs = [("oso1Id", "stop" if request.bracket and request.bracket.stop is not None else "target"),
                    ("oso2Id", "target")]  # fmt: skip
            for field_name, leg in legs:
                if answer.get(field_name) is not None:
                    self._know(int(answer[field_name]), bracket_leg(request.key, leg), request, exit_leg=True)
            return Result(True)
        except (TradovateError, httpx.HTTPError) as exc:
            return Result(False, str(exc))
        finally:
            self._inflight -= 1
            parked, self._parked = self._parked, []
            for kind, entity in parked:
                await self._props({"entityType": kind, "entity": entity})

    async def cancel(self, account: str, key: str) -> Result:
        order_id = self.keys.get(key)
        if order_id is None:
            return Result(False, f"no order {key} known to this executor")
        try:
            answer = await self.rest.call("POST", "order/cancelorder", {"orderId": order_id, "isAutomated": True})
        except (TradovateError, httpx.HTTPError) as exc:
            return Result(False, str(exc))
        refused = tv.failure(answer)
        return Result(refused is None, refused or "")

    async def flatten(self, account: str, *, cancel_working: bool = True) -> Result:
        """``liquidateposition`` per contract held (it cancels that contract's orders too), then cancels our
        other working orders."""
        book = self.books.get(account)
        if book is None:
            return Result(False, f"account {account} is not a Tradovate account of this user")
        problems = []
        held = [c for c, (q, _) in book.positions.items() if q]
        for contract in held:
            body = {"accountId": book.account_id, "contractId": await self._contract_id(contract), "admin": False,
                    "isAutomated": True}  # fmt: skip
            try:
                refused = tv.failure(await self.rest.call("POST", "order/liquidateposition", body))
            except (TradovateError, httpx.HTTPError) as exc:
                refused = str(exc)
            if refused:
                problems.append(f"{contract}: {refused}")
        if cancel_working:
            for order_id, known in list(self.orders.items()):
                if known.account == account and not known.status.is_terminal and known.contract not in held:
                    with contextlib.suppress(TradovateError, httpx.HTTPError):
                        await self.rest.call("POST", "order/cancelorder", {"orderId": order_id, "isAutomated": True})
        return Result(not problems, "; ".join(problems))

    def accounts(self) -> list[str]:
        return sorted(self.books)

    def protective_legs(self, account: str, contract: Contract) -> list[Leg]:
        """The bracket legs of this connector's entries that are still working."""
        return working_legs(self.orders.values(), account, contract)

    async def resize(self, account: str, key: str, quantity: int) -> Result:
        """``modifyorder`` to the new size [V8], or ``cancelorder`` for 0."""
        order_id = self.keys.get(key)
        known = None if order_id is None else self.orders.get(order_id)
        if order_id is None or known is None:
            return Result(False, f"no order {key} known to this executor")
        if quantity <= 0:
            return await self.cancel(account, key)
        stop = leg_kind(key) == "stop"
        body: dict[str, Any] = {"orderId": order_id, "orderQty": known.filled + quantity, "isAutomated": True,
                                "orderType": "Stop" if stop else "Limit"}  # fmt: skip
        if known.leg_price is not None:
            body["stopPrice" if stop else "price"] = float(known.leg_price)
        try:
            answer = await self.rest.call("POST", "order/modifyorder", body)
        except (TradovateError, httpx.HTTPError) as exc:
            return Result(False, str(exc))
        refused = tv.failure(answer)
        if refused is None:
            known.quantity = known.filled + quantity
        return Result(refused is None, refused or "")

    def account_state(self, account: str) -> AccountState | None:
        book = self.books.get(account)
        if book is None or not self._synced.is_set():
            return None
        return AccountState(account, round_cents(book.balance), round_cents(book.realized), ZERO)

    def positions(self, account: str) -> list[PositionEvent]:
        book = self.books.get(account)
        if book is None:
            return []
        return [PositionEvent(account, c, q, avg) for c, (q, avg) in sorted(book.positions.items()) if q]

    def quotes(self) -> list[Quote]:
        return []

    def health(self) -> tuple[str, str]:
        if self.socket_state != "synced":
            return "degraded", f"Tradovate socket {self.socket_state}; orders still go over REST"
        return "ok", f"{len(self.books)} account(s), token renewed {self.rest.renewals} time(s)"

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.rest.close()

    # ------------------------------------------------------------------ look-ups
    async def _contract_id(self, contract: Contract) -> int:
        if contract in self.contract_ids:
            return self.contract_ids[contract]
        found = await self.rest.call("GET", "contract/find", params={"name": tv.contract_name(contract)})
        if not isinstance(found, dict) or "id" not in found:
            raise TradovateError(f"Tradovate does not know the contract {tv.contract_name(contract)}")
        self.contract_ids[contract] = int(found["id"])
        self.contracts[int(found["id"])] = contract
        return int(found["id"])

    async def _contract(self, contract_id: int) -> Contract | None:
        if contract_id not in self.contracts:
            item = await self.rest.call("GET", "contract/item", params={"id": contract_id})
            if not isinstance(item, dict) or "name" not in item:
                return None
            try:
                contract = parse_symbol(str(item["name"]), on=self.clock.now().date())
            except (ValueError, UnknownSymbolError):
                return None  # a contract the hub does not trade
            self.contracts[contract_id] = contract
            self.contract_ids[contract] = contract_id
        return self.contracts[contract_id]

    def _know(self, order_id: int, key: str, request: OrderRequest, *, exit_leg: bool = False) -> None:
        side = request.side.opposite if exit_leg else request.side
        price = None
        if exit_leg and request.bracket is not None:
            price = request.bracket.stop if leg_kind(key) == "stop" else request.bracket.target
        self.orders[order_id] = Known(key, request.account, request.contract, side, quantity=request.quantity,
                                      leg_price=price)  # fmt: skip
        self.keys[key] = order_id

    # ------------------------------------------------------------------ WebSocket
    async def _socket_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._socket_once()
                delay = 0.5
            except (OSError, ConnectionClosed, TimeoutError, TradovateError, ValueError, httpx.HTTPError) as exc:
                log.warning("tradovate.socket_dropped", error=str(exc))
            except Exception:  # an unexpected answer must never end the account's live state for good
                log.exception("tradovate.socket_error")
            self.socket_state = "reconnecting"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _socket_once(self) -> None:
        async with connect(self.ws_url, compression=None, max_size=8 * 1024 * 1024) as ws:
            self._ws = ws
            self.socket_state = "connecting"
            if tv.parse_frame(str(await asyncio.wait_for(ws.recv(), 10))).kind != "o":
                raise TradovateError("the socket did not open")
            await ws.send(tv.request_frame("authorize", 0, self.rest.access_token or ""))
            self._request_id = 0
            beat = asyncio.create_task(self._heartbeat(ws))
            try:
                sync_id: int | None = None
                async for raw in ws:
                    frame = tv.parse_frame(str(raw))
                    if frame.kind == "c":
                        raise TradovateError(f"Tradovate closed the socket: {frame.items}")
                    for item in frame.items:
                        if item.get("i") == 0 and sync_id is None:
                            if item.get("s") != 200:
                                await self.rest.renew()
                                raise TradovateError(f"socket authorization refused ({item.get('s')})")
                            self._request_id += 1
                            sync_id = self._request_id
                            body = {"users": [self.rest.user_id]}
                            await ws.send(tv.request_frame("user/syncrequest", sync_id, body))
                        elif sync_id is not None and item.get("i") == sync_id:
                            await self._snapshot(item.get("d") or {})
                            self.socket_connects += 1
                            self.socket_state = "synced"
                            self._synced.set()
                        elif item.get("e") == "props":
                            await self._props(item.get("d") or {})
            finally:
                beat.cancel()
                self._ws = None

    async def _heartbeat(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(tv.HEARTBEAT_S)
                await ws.send("[]")

    async def drop_socket(self) -> None:
        """Abort the WebSocket (tests of reconnection)."""
        if self._ws is not None:
            self._ws.transport.abort()

    # ------------------------------------------------------------------ snapshot and events
    async def _snapshot(self, data: dict[str, Any]) -> None:
        for item in data.get("orders", []):
            key = item.get("clOrdId")
            book = self.by_id.get(int(item.get("accountId", -1)))
            if key and book is not None and int(item["id"]) not in self.orders:
                contract = await self._contract(int(item["contractId"]))
                if contract is not None:
                    side = Side.BUY if item.get("action") == "Buy" else Side.SELL
                    self.orders[int(item["id"])] = Known(str(key), book.name, contract, side)
                    self.keys[str(key)] = int(item["id"])
        for item in data.get("cashBalances", []):
            self._cash(item)
        seen: set[tuple[str, Contract]] = set()
        for item in data.get("positions", []):
            event = await self._position(item)
            if event is not None:
                seen.add((event.account, event.contract))
                self._publish([event])
        for book in self.books.values():  # positions the snapshot no longer lists are flat
            for contract, (quantity, _) in list(book.positions.items()):
                if quantity and (book.name, contract) not in seen:
                    book.positions[contract] = (0, None)
                    self._publish([PositionEvent(book.name, contract, 0, None)])
        for item in data.get("fills", []):
            await self._fill(item)

    async def _props(self, data: dict[str, Any]) -> None:
        kind, entity = data.get("entityType"), data.get("entity") or {}
        if self._inflight:
            order_id = int(entity.get("orderId" if kind == "fill" else "id", -1))
            if self._parked or (kind in ("fill", "order") and order_id not in self.orders):
                # perhaps the order whose placement is still being answered: it and what follows it (its
                # position, in order) wait for the answer
                self._parked.append((str(kind), entity))
                return
        if kind == "fill":
            await self._fill(entity)
        elif kind == "order":
            await self._order(entity)
        elif kind == "position":
            event = await self._position(entity)
            if event is not None:
                self._publish([event])
        elif kind == "cashBalance":
            self._cash(entity)

    async def _fill(self, item: dict[str, Any]) -> None:
        fill_id = int(item["id"])
        known = self.orders.get(int(item.get("orderId", -1)))
        if fill_id in self.seen_fills or known is None:
            return  # an order of another user's account, or a fill already reported
        self.seen_fills.add(fill_id)
        quantity, price = int(item["qty"]), tv.decimal_of(item["price"])
        known.filled += quantity
        known.notional += price * quantity
        side = Side.BUY if item.get("action") == "Buy" else Side.SELL
        event = FillEvent(f"tdv-{fill_id}", known.key, known.account, known.contract, side, quantity, price, ZERO,
                          self.clock.now())  # fmt: skip
        self._publish([event])

    async def _order(self, item: dict[str, Any]) -> None:
        order_id = int(item.get("id", -1))
        known = self.orders.get(order_id)
        book = self.by_id.get(int(item.get("accountId", -1)))
        if known is None and book is not None and item.get("contractId") is not None:
            # an order not placed through the hub (a liquidation, a trade in Tradovate's own app): its fills are
            # this account's fills too, reported under a key of their own
            contract = await self._contract(int(item["contractId"]))
            if contract is None:
                return
            side = Side.BUY if item.get("action") == "Buy" else Side.SELL
            known = Known(f"tdv-order:{order_id}", book.name, contract, side)
            self.orders[order_id] = known
        status = tv.status_of(str(item.get("ordStatus", "")))
        if known is None or status is None:
            return
        if status is OrderStatus.FILLED or (status is OrderStatus.WORKING and known.filled):
            status = OrderStatus.FILLED if status is OrderStatus.FILLED else OrderStatus.PARTIALLY_FILLED
        known.status = status
        average = None if known.filled == 0 else known.notional / known.filled
        reason = str(item.get("text") or item.get("rejectReason") or "") if status is OrderStatus.REJECTED else ""
        self._publish([OrderEvent(known.key, known.account, status, known.filled, average, str(item["id"]), reason)])

    async def _position(self, item: dict[str, Any]) -> PositionEvent | None:
        book = self.by_id.get(int(item.get("accountId", -1)))
        if book is None:
            return None
        contract = await self._contract(int(item["contractId"]))
        if contract is None:
            return None
        quantity = int(item.get("netPos", 0))
        average = tv.decimal_of(item["netPrice"]) if quantity and item.get("netPrice") is not None else None
        if book.positions.get(contract) == (quantity, average):
            return None
        book.positions[contract] = (quantity, average)
        return PositionEvent(book.name, contract, quantity, average)

    def _cash(self, item: dict[str, Any]) -> None:
        book = self.by_id.get(int(item.get("accountId", -1)))
        if book is not None and item.get("amount") is not None:
            book.balance = tv.decimal_of(item["amount"])
            book.realized = tv.decimal_of(item.get("realizedPnL", 0))

    def _publish(self, events: list[BrokerEvent]) -> None:
        if self._emit is not None:
            for event in events:
                self._emit(event)


__all__ = ["Credentials", "TradovateConnector", "TradovateError", "TradovateRest"]
