"""ProjectX (TopstepX and the other firms on it): REST for orders and look-ups, SignalR hubs for live state.

References are in ``execution/projectx.py`` ([X1]…[X8]).

- **Auth** [X2]: ``loginKey`` once; the token is renewed with ``/api/Auth/validate`` an hour before its 24-hour
  end, and a 401 renews (then logs in again) once before the request is repeated. No key or token is logged.
- **Rate limits** [X4]: a 429 is waited out (``Retry-After``, else a doubling pause) and the request sent again,
  up to ``MAX_RATE_WAIT_S``; past that the request fails with a clear reason (an order: rejected, never sent
  twice — a 429 means it was not taken).
- **Orders** carry the hub's idempotency key as ``customTag`` [X6]; after a restart ``Order/searchOpen`` gives
  the working orders and their tags, so a resent key is never placed twice. Brackets are ProjectX's own
  (``stopLossBracket`` / ``takeProfitBracket``, OCO at the venue) in ticks from the entry's reference price;
  the two orders ProjectX opens at the fill become the bracket's ``:stop`` and ``:target``.
- **Live state** [X8] comes from the user hub (accounts, orders, positions, trades) through ``pysignalr``; the
  market hub's quotes mark open P&L (the Gateway API's account has a balance, not an open P&L). A hub that
  drops is reconnected with a fresh token, and the executor re-reads open orders, positions and today's trades
  over REST, so a fill made meanwhile is still reported (once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from pysignalr.client import SignalRClient

from enigma_apex.adapters.brokers.runner import Emit, Quote, Result
from enigma_apex.config.models import ProjectXSection
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.orders import OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.domain.values import ZERO, round_cents
from enigma_apex.errors import EnigmaError, UnknownSymbolError
from enigma_apex.execution import projectx as px
from enigma_apex.execution.events import (
    AccountState,
    BrokerEvent,
    FillEvent,
    OrderEvent,
    OrderRequest,
    PositionEvent,
    bracket_leg,
)
from enigma_apex.execution.protection import Leg, working_legs

log = structlog.get_logger(__name__)

RENEW_BEFORE_S = 3600.0
MAX_RATE_WAIT_S = 20.0
QUOTE_WAIT_S = 2.0


class ProjectXError(EnigmaError):
    """A refusal or failure from ProjectX, with a sentence a trader can act on."""


class ProjectXRest:
    def __init__(
        self, base_url: str, username: str, api_key: str, *, timeout_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout_s)
        self.username = username
        self._api_key = api_key
        self.sleep = sleep
        self.token: str | None = None
        self.expires_at = 0.0  # monotonic
        self.logins = self.renewals = self.rate_limited = 0

    def __repr__(self) -> str:  # never print the key or the token
        return f"ProjectXRest(username={self.username!r})"

    async def close(self) -> None:
        await self.http.aclose()

    async def login(self) -> None:
        response = await self.http.post("api/Auth/loginKey", json={"userName": self.username, "apiKey": self._api_key})
        body = _json(response)
        refused = px.failure(body) if response.status_code == 200 else f"HTTP {response.status_code}"
        if refused or not body.get("token"):
            raise ProjectXError(f"ProjectX refused the login: {refused or 'no token'}")
        self.token = str(body["token"])
        self.expires_at = time.monotonic() + px.TOKEN_LIFETIME_S
        self.logins += 1

    async def renew(self) -> None:
        """``/api/Auth/validate`` → ``newToken``; a refusal means logging in again [X2]."""
        response = await self.http.post("api/Auth/validate", headers=self._auth())
        body = _json(response)
        if response.status_code != 200 or px.failure(body) or not body.get("newToken"):
            await self.login()
            return
        self.token = str(body["newToken"])
        self.expires_at = time.monotonic() + px.TOKEN_LIFETIME_S
        self.renewals += 1

    async def keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.expires_at - time.monotonic() - RENEW_BEFORE_S))
            if self.expires_at - time.monotonic() <= RENEW_BEFORE_S:
                try:
                    await self.renew()
                except (ProjectXError, httpx.HTTPError) as exc:
                    log.error("projectx.renew_failed", error=str(exc))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST: a 401 renews once; a 429 waits (``Retry-After``) and repeats; a refusal raises."""
        if self.token is None:
            await self.login()
        renewed, waited, pause = False, 0.0, 0.5
        while True:
            response = await self.http.post(path, json=body, headers=self._auth())
            if response.status_code == 401 and not renewed:
                renewed = True
                await self.renew()
                continue
            if response.status_code == 429:
                self.rate_limited += 1
                delay = _retry_after(response) or pause
                pause = min(pause * 2, 8.0)
                if waited + delay > MAX_RATE_WAIT_S:
                    raise ProjectXError(
                        f"ProjectX's rate limit (HTTP 429) held {path} for over {MAX_RATE_WAIT_S:.0f} s"
                    )
                log.warning("projectx.rate_limited", path=path, wait_s=delay)
                waited += delay
                await self.sleep(delay)
                continue
            data = _json(response)
            if response.status_code >= 400:
                raise ProjectXError(f"ProjectX answered HTTP {response.status_code} to {path}")
            return data


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


@dataclass(slots=True)
class Known:
    key: str
    account: str
    contract: Contract
    side: Side
    quantity: int = 0
    filled: int = 0
    notional: Decimal = ZERO
    status: OrderStatus = OrderStatus.ACCEPTED
    order_type: OrderType = OrderType.MARKET
    bracket: bool = False


@dataclass(slots=True)
class Book:
    name: str
    account_id: int
    balance: Decimal = ZERO
    synced: bool = False
    positions: dict[Contract, tuple[int, Decimal | None]] = field(default_factory=dict)


class Hub:
    """One SignalR hub connection (pysignalr): a fresh negotiation and token on every (re)connection."""

    def __init__(self, name: str, url: str, token: Callable[[], str], handlers: dict[str, Callable[..., Any]],
                 on_open: Callable[[SignalRClient], Awaitable[None]]) -> None:  # fmt: skip
        self.name, self.url, self.token, self.handlers, self.on_open = name, url, token, handlers, on_open
        self.state = "down"
        self.connects = 0
        self.client: SignalRClient | None = None
        self._closed = asyncio.Event()

    async def forever(self) -> None:
        delay = 0.25
        while True:
            self._closed.clear()
            token = self.token()
            url = f"{self.url}?{urlencode({'access_token': token})}"
            client = SignalRClient(url, headers={"Authorization": f"Bearer {token}"}, retry_count=1,
                                   connection_timeout=10)  # fmt: skip
            for target, handler in self.handlers.items():
                client.on(target, handler)

            async def opened(client: SignalRClient = client) -> None:
                self.connects += 1
                self.state = "connected"
                try:
                    await self.on_open(client)
                except Exception:  # a failed subscription: start the connection again
                    log.exception("projectx.subscribe_failed", hub=self.name)
                    self._closed.set()

            async def closed() -> None:
                self.state = "reconnecting"
                self._closed.set()

            client.on_open(opened)
            client.on_close(closed)
            self.client = client
            task = asyncio.create_task(client.run())
            ended = asyncio.create_task(self._closed.wait())
            try:
                await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for running in (task, ended):
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await running
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("projectx.hub_failed", hub=self.name, error=str(task.exception()))
            self.state = "reconnecting"
            self.client = None
            await asyncio.sleep(delay)
            delay = 0.25 if self.connects else min(delay * 2, 30.0)

    def drop(self) -> None:
        self._closed.set()


class ProjectXConnector:
    def __init__(self, cfg: ProjectXSection, accounts: list[str], clock: Clock) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.clock = clock
        self.wanted = list(accounts)
        self.rest = ProjectXRest(cfg.api_url, cfg.username, cfg.api_key.get_secret_value() if cfg.api_key else "",
                                 timeout_s=float(cfg.request_timeout_s))  # fmt: skip
        self.books: dict[str, Book] = {}
        self.by_id: dict[int, Book] = {}
        self.contract_ids: dict[Contract, str] = {}
        self.contracts: dict[str, Contract] = {}
        self.orders: dict[int, Known] = {}
        self.keys: dict[str, int] = {}
        self.tagged: dict[str, OrderRequest] = {}
        self.seen_trades: set[int] = set()
        self.quotes_by: dict[Contract, Quote] = {}
        self.watched: set[str] = set()
        self.started_at = clock.now()
        self._quote_seen: dict[Contract, asyncio.Event] = {}
        self._emit: Emit | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.user_hub = Hub("user", cfg.user_hub_url, self._token, {
            "GatewayUserAccount": self._on_account, "GatewayUserOrder": self._on_order,
            "GatewayUserPosition": self._on_position, "GatewayUserTrade": self._on_trade,
        }, self._user_open)  # fmt: skip
        self.market_hub = Hub("market", cfg.market_hub_url, self._token, {"GatewayQuote": self._on_quote},
                              self._market_open)  # fmt: skip
        self._synced = asyncio.Event()

    def _token(self) -> str:
        return self.rest.token or ""

    # ------------------------------------------------------------------ Connector
    async def start(self, emit: Emit) -> None:
        self._emit = emit
        await self.rest.login()
        listed = await self.rest.call("api/Account/search", {"onlyActiveAccounts": True})
        refused = px.failure(listed)
        if refused:
            raise ProjectXError(f"ProjectX refused the account search: {refused}")
        for item in listed.get("accounts") or []:
            if item.get("name") in self.wanted:
                book = Book(str(item["name"]), int(item["id"]), px.decimal_of(item.get("balance", 0)))
                self.books[book.name] = book
                self.by_id[book.account_id] = book
        missing = sorted(set(self.wanted) - set(self.books))
        if missing:
            log.error("projectx.unknown_accounts", accounts=missing)
        self._tasks = [asyncio.create_task(self.rest.keep_fresh()), asyncio.create_task(self.user_hub.forever()),
                       asyncio.create_task(self.market_hub.forever())]  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), 10)

    async def _user_open(self, client: SignalRClient) -> None:
        """Subscribe, then read what may have changed while the hub was away [X7][X8]."""
        await client.send("SubscribeAccounts", [])
        for book in self.books.values():
            for target in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
                await client.send(target, [book.account_id])  # type: ignore[list-item]  # hub arguments
        await self._resync()
        self._synced.set()

    async def _market_open(self, client: SignalRClient) -> None:
        for contract_id in sorted(self.watched):
            await client.send("SubscribeContractQuotes", [contract_id])  # type: ignore[list-item]

    async def _resync(self) -> None:
        listed = await self.rest.call("api/Account/search", {"onlyActiveAccounts": True})
        for item in listed.get("accounts") or []:
            await self._on_account(item)
        for book in self.books.values():
            positions = await self.rest.call("api/Position/searchOpen", {"accountId": book.account_id})
            seen: set[Contract] = set()
            for item in positions.get("positions") or []:
                contract = await self._position(item)
                if contract is not None:
                    seen.add(contract)
            for contract, (quantity, _) in list(book.positions.items()):
                if quantity and contract not in seen:
                    book.positions[contract] = (0, None)
                    self._publish([PositionEvent(book.name, contract, 0, None)])
            orders = await self.rest.call("api/Order/searchOpen", {"accountId": book.account_id})
            for item in orders.get("orders") or []:  # after the positions: an untagged stop protects one
                await self._on_order(item)
            since = (self.started_at - timedelta(hours=12)).astimezone(UTC).isoformat()
            trades = await self.rest.call("api/Trade/search", {"accountId": book.account_id, "startTimestamp": since})
            for item in trades.get("trades") or []:
                await self._trade(item)
            book.synced = True

    async def place(self, request: OrderRequest) -> Result:
        book = self.books.get(request.account)
        if book is None:
            return Result(False, f"account {request.account} is not a ProjectX account of this user")
        if request.key in self.keys or request.key in self.tagged:
            return Result(True, "already at ProjectX")
        try:
            contract_id = await self._contract_id(request.contract)
            await self._watch(contract_id)
            body = px.place_body(book.account_id, contract_id, request.key, request.side, request.quantity,
                                 request.order_type, request.limit_price, request.stop_price)  # fmt: skip
            bracket = request.bracket
            if bracket is not None and (bracket.stop is not None or bracket.target is not None):
                reference = await self._reference(request, contract_id)
                if reference is None:
                    return Result(False, f"no {request.contract} price to set the bracket's ticks from; not sent")
                body |= px.bracket_fields(bracket, reference, request.contract.spec.tick_size)
            self.tagged[request.key] = request
            answer = await self.rest.call("api/Order/place", body)
        except (ProjectXError, httpx.HTTPError) as exc:
            return Result(False, str(exc))
        finally:
            self.tagged.pop(request.key, None)
        refused = px.failure(answer)
        if refused is not None or answer.get("orderId") is None:
            return Result(False, refused or "ProjectX returned no order id")
        order_id = int(answer["orderId"])
        if order_id not in self.orders:
            self._know(order_id, request)
        return Result(True)

    def _know(self, order_id: int, request: OrderRequest) -> Known:
        known = Known(request.key, request.account, request.contract, request.side, request.quantity,
                      order_type=request.order_type, bracket=request.bracket is not None)  # fmt: skip
        self.orders[order_id] = known
        self.keys[request.key] = order_id
        return known

    async def _reference(self, request: OrderRequest, contract_id: str) -> Decimal | None:
        if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            return request.limit_price
        if request.order_type is OrderType.STOP:
            return request.stop_price
        quote = await self._quote(request.contract, contract_id)
        return None if quote is None else (quote.ask if request.side is Side.BUY else quote.bid)

    async def _quote(self, contract: Contract, contract_id: str) -> Quote | None:
        if contract not in self.quotes_by:
            await self._watch(contract_id)
            seen = self._quote_seen.setdefault(contract, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.wait(), QUOTE_WAIT_S)
        return self.quotes_by.get(contract)

    async def _watch(self, contract_id: str) -> None:
        """Quotes of a contract traded or held (open P&L marks, market brackets) [X8]."""
        if contract_id in self.watched:
            return
        self.watched.add(contract_id)
        client = self.market_hub.client
        if client is not None and self.market_hub.state == "connected":
            with contextlib.suppress(Exception):
                await client.send("SubscribeContractQuotes", [contract_id])  # type: ignore[list-item]

    async def cancel(self, account: str, key: str) -> Result:
        order_id = self.keys.get(key)
        book = self.books.get(account)
        if order_id is None or book is None:
            return Result(False, f"no order {key} known to this executor")
        return await self._simple("api/Order/cancel", {"accountId": book.account_id, "orderId": order_id})

    async def _simple(self, path: str, body: dict[str, Any]) -> Result:
        try:
            refused = px.failure(await self.rest.call(path, body))
        except (ProjectXError, httpx.HTTPError) as exc:
            return Result(False, str(exc))
        return Result(refused is None, refused or "")

    async def flatten(self, account: str, *, cancel_working: bool = True) -> Result:
        """Cancel the account's working orders, then ``Position/closeContract`` for every contract held."""
        book = self.books.get(account)
        if book is None:
            return Result(False, f"account {account} is not a ProjectX account of this user")
        problems = []
        if cancel_working:
            for order_id, known in list(self.orders.items()):
                if known.account == account and not known.status.is_terminal:
                    result = await self._simple("api/Order/cancel", {"accountId": book.account_id, "orderId": order_id})
                    if not result.accepted and "not" not in result.reason.lower():
                        problems.append(f"cancel {known.key}: {result.reason}")
        for contract, (quantity, _) in sorted(book.positions.items()):
            if quantity:
                body = {"accountId": book.account_id, "contractId": await self._contract_id(contract)}
                result = await self._simple("api/Position/closeContract", body)
                if not result.accepted:
                    problems.append(f"{contract}: {result.reason}")
        return Result(not problems, "; ".join(problems))

    def accounts(self) -> list[str]:
        return sorted(self.books)

    def protective_legs(self, account: str, contract: Contract) -> list[Leg]:
        """The bracket legs of this connector's entries that are still working."""
        return working_legs(self.orders.values(), account, contract)

    async def resize(self, account: str, key: str, quantity: int) -> Result:
        order_id = self.keys.get(key)
        known = None if order_id is None else self.orders.get(order_id)
        book = self.books.get(account)
        if order_id is None or known is None or book is None:
            return Result(False, f"no order {key} known to this executor")
        if quantity <= 0:
            return await self.cancel(account, key)
        result = await self._simple("api/Order/modify", {"accountId": book.account_id, "orderId": order_id,
                                                         "size": known.filled + quantity})  # fmt: skip
        if result.accepted:
            known.quantity = known.filled + quantity
        return result

    def account_state(self, account: str) -> AccountState | None:
        """Balance from ProjectX; open P&L marked here from the market hub's prices (the API has none)."""
        book = self.books.get(account)
        if book is None or not book.synced:
            return None
        open_pnl = ZERO
        for contract, (quantity, average) in book.positions.items():
            quote = self.quotes_by.get(contract)
            if quantity and average is not None and quote is not None:
                open_pnl += (quote.last - average) * quantity * contract.spec.point_value
        return AccountState(account, round_cents(book.balance), ZERO, round_cents(open_pnl))

    def positions(self, account: str) -> list[PositionEvent]:
        book = self.books.get(account)
        if book is None:
            return []
        return [PositionEvent(account, c, q, avg) for c, (q, avg) in sorted(book.positions.items()) if q]

    def quotes(self) -> list[Quote]:
        return list(self.quotes_by.values())

    def health(self) -> tuple[str, str]:
        if self.user_hub.state != "connected":
            return "degraded", f"ProjectX user hub {self.user_hub.state}; orders still go over REST"
        if self.market_hub.state != "connected":
            return "degraded", f"ProjectX market hub {self.market_hub.state}: open P&L not marked"
        return "ok", f"{len(self.books)} account(s), token renewed {self.rest.renewals} time(s)"

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.rest.close()

    # ------------------------------------------------------------------ look-ups
    async def _contract_id(self, contract: Contract) -> str:
        if contract in self.contract_ids:
            return self.contract_ids[contract]
        name = px.contract_name(contract)
        found = await self.rest.call("api/Contract/search", {"searchText": name, "live": self.cfg.live})
        for item in found.get("contracts") or []:
            if item.get("name") == name:
                self.contract_ids[contract] = str(item["id"])
                self.contracts[str(item["id"])] = contract
                return str(item["id"])
        raise ProjectXError(f"ProjectX does not list the contract {name}")

    async def _contract(self, contract_id: str) -> Contract | None:
        if contract_id not in self.contracts:
            found = await self.rest.call("api/Contract/searchById", {"contractId": contract_id})
            item = found.get("contract") or {}
            try:
                contract = parse_symbol(str(item.get("name", "")), on=self.clock.now().date())
            except (ValueError, UnknownSymbolError):
                return None
            self.contracts[contract_id] = contract
            self.contract_ids[contract] = contract_id
        return self.contracts[contract_id]

    # ------------------------------------------------------------------ hub events
    async def _on_account(self, *args: Any) -> None:
        item = px.unwrap(_first(args))
        if item is None:
            return
        book = self.by_id.get(int(item.get("id", -1)))
        if book is not None and item.get("balance") is not None:
            book.balance = px.decimal_of(item["balance"])

    async def _on_order(self, *args: Any) -> None:
        item = px.unwrap(_first(args))
        if item is None:
            return
        order_id = int(item.get("id", -1))
        book = self.by_id.get(int(item.get("accountId", -1)))
        known = self.orders.get(order_id)
        if known is None:
            if book is None:
                return
            contract = await self._contract(str(item.get("contractId", "")))
            if contract is None:
                return
            known = self._new_known(order_id, item, book, contract)
        status = px.status_of(item.get("status"))
        if item.get("size"):
            known.quantity = int(item["size"])
        if status is None:
            return
        if status is OrderStatus.WORKING and known.filled:
            status = OrderStatus.PARTIALLY_FILLED
        if status is OrderStatus.FILLED and known.filled < known.quantity:
            known.status = OrderStatus.PARTIALLY_FILLED  # the trades that complete it follow
            return
        if known.status.is_terminal or status == known.status:
            return
        known.status = status
        average = None if known.filled == 0 else known.notional / known.filled
        reason = str(item.get("errorMessage") or item.get("text") or status.value) if status in (
            OrderStatus.REJECTED, OrderStatus.CANCELLED) else ""  # fmt: skip
        self._publish([OrderEvent(known.key, known.account, status, known.filled, average, str(order_id), reason)])

    def _new_known(self, order_id: int, item: dict[str, Any], book: Book, contract: Contract) -> Known:
        """An order not (yet) known: ours by its tag, a bracket leg of one of our entries, or someone else's."""
        side = px.side_of(int(item.get("side", 0)))
        order_type = px.ORDER_TYPES.get(int(item.get("type", 2)), OrderType.MARKET)
        tag = str(item.get("customTag") or "")
        if tag in self.tagged:  # being placed: the event came before the answer
            return self._know(order_id, self.tagged[tag])
        if tag and tag not in self.keys:
            key = tag
        else:
            key = self._leg_key(book.name, contract, side, order_type) or self._orphan_leg(
                order_id, book, contract, side, order_type, item
            )
        known = Known(key, book.name, contract, side, int(item.get("size") or 0), order_type=order_type)
        self.orders[order_id] = known
        self.keys[key] = order_id
        return known

    def _leg_key(self, account: str, contract: Contract, side: Side, order_type: OrderType) -> str | None:
        """The newest bracket entry of the account and contract, filled, whose leg of this kind is not yet known:
        its stop (a stop order) or target (a limit order) on the other side [X6]."""
        leg = "stop" if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else "target"
        for known in reversed(list(self.orders.values())):
            if (known.bracket and known.account == account and known.contract == contract and known.filled
                    and known.side is side.opposite and bracket_leg(known.key, leg) not in self.keys):  # fmt: skip
                return bracket_leg(known.key, leg)
        return None

    @staticmethod
    def _orphan_leg(order_id: int, book: Book, contract: Contract, side: Side, order_type: OrderType,
                    item: dict[str, Any]) -> str:  # fmt: skip
        """A working stop or limit without a tag against a position the account holds (a bracket leg whose entry
        this executor no longer remembers, or a protective order set by hand): it protects that position, so it
        follows it (``…:stop`` / ``…:target``: shrunk by exits, cancelled when flat). Anything else is just an
        order of the account."""
        held = book.positions.get(contract, (0, None))[0]
        working = px.status_of(item.get("status")) in (OrderStatus.WORKING, OrderStatus.ACCEPTED)
        against = (held > 0 and side is Side.SELL) or (held < 0 and side is Side.BUY)
        if working and against and order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            return f"projectx-order:{order_id}:stop"
        if working and against and order_type is OrderType.LIMIT:
            return f"projectx-order:{order_id}:target"
        return f"projectx-order:{order_id}"

    async def _on_position(self, *args: Any) -> None:
        item = px.unwrap(_first(args))
        if item is not None:
            await self._position(item)

    async def _position(self, item: dict[str, Any]) -> Contract | None:
        book = self.by_id.get(int(item.get("accountId", -1)))
        if book is None:
            return None
        contract = await self._contract(str(item.get("contractId", "")))
        if contract is None:
            return None
        size = int(item.get("size") or 0)
        if size:
            await self._watch(str(item.get("contractId", "")))
        quantity = -size if int(item.get("type", px.LONG)) == px.SHORT else size
        average = px.decimal_of(item["averagePrice"]) if quantity and item.get("averagePrice") is not None else None
        if book.positions.get(contract) != (quantity, average):
            book.positions[contract] = (quantity, average)
            self._publish([PositionEvent(book.name, contract, quantity, average)])
        return contract

    async def _on_trade(self, *args: Any) -> None:
        item = px.unwrap(_first(args))
        if item is not None:
            await self._trade(item)

    async def _trade(self, item: dict[str, Any]) -> None:
        trade_id = int(item.get("id", -1))
        if trade_id in self.seen_trades or item.get("voided"):
            return
        known = self.orders.get(int(item.get("orderId", -1)))
        if known is None:
            book = self.by_id.get(int(item.get("accountId", -1)))
            contract = await self._contract(str(item.get("contractId", ""))) if book is not None else None
            if book is None or contract is None:
                return
            known = self._new_known(int(item.get("orderId", -1)), item | {"size": 0}, book, contract)
        self.seen_trades.add(trade_id)
        quantity, price = int(item["size"]), px.decimal_of(item["price"])
        known.filled += quantity
        known.notional += price * quantity
        fees = px.decimal_of(item.get("fees") or 0)
        event = FillEvent(f"px-{trade_id}", known.key, known.account, known.contract, known.side, quantity, price,
                          fees, self.clock.now())  # fmt: skip
        events: list[BrokerEvent] = [event]
        status = OrderStatus.FILLED if known.quantity and known.filled >= known.quantity else (
            OrderStatus.PARTIALLY_FILLED)  # fmt: skip
        if status != known.status and not known.status.is_terminal:
            known.status = status
            average = known.notional / known.filled
            events.append(OrderEvent(known.key, known.account, status, known.filled, average,
                                     str(item.get("orderId")), ""))  # fmt: skip
        self._publish(events)

    async def _on_quote(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], list):
            args = tuple(args[0])
        if len(args) < 2 or not isinstance(args[1], dict):
            return
        contract = self.contracts.get(str(args[0]))
        data = args[1]
        if contract is None:
            return
        old = self.quotes_by.get(contract)
        bid = px.decimal_of(data["bestBid"]) if data.get("bestBid") is not None else (old.bid if old else None)
        ask = px.decimal_of(data["bestAsk"]) if data.get("bestAsk") is not None else (old.ask if old else None)
        last = px.decimal_of(data["lastPrice"]) if data.get("lastPrice") is not None else (old.last if old else None)
        if bid is not None and ask is not None:
            self.quotes_by[contract] = Quote(contract, bid, ask, last if last is not None else (bid + ask) / 2)
            self._quote_seen.setdefault(contract, asyncio.Event()).set()

    def _publish(self, events: list[BrokerEvent]) -> None:
        if self._emit is not None:
            for event in events:
                self._emit(event)


def _first(args: tuple[Any, ...]) -> Any:
    """pysignalr hands an invocation's arguments as one list; the event's object is its first item."""
    if len(args) == 1 and isinstance(args[0], list):
        return args[0][0] if args[0] else None
    return args[0] if args else None


__all__ = ["ProjectXConnector", "ProjectXError", "ProjectXRest"]
