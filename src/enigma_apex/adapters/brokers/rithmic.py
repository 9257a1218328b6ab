"""Rithmic: the Protocol Buffer API over one WebSocket per plant (execution/rithmic.py has the references).

- **Plants**: ORDER_PLANT (accounts, trade routes, orders and their notifications), PNL_PLANT (positions and
  the account's open and closed P&L, pushed as they change) and TICKER_PLANT (best bid/offer and last trade of
  the contracts the executor trades). Each is its own WebSocket with its own login [R2] and heartbeat [R3].
- **Messages** are Rithmic's ``.proto`` definitions as shipped by ``rithmic-rapi`` (``pyrithmic.protocol``:
  the template registry, ``encode`` and ``decode``); the session logic here is this project's own, so that the
  executor can trust Rithmic's own certificate authority (``rithmic.ca_file``), reach a loopback venue in tests,
  and reconcile with the hub after every reconnection (docs/execution.md says why).
- **Orders** carry the hub's idempotency key as ``user_tag`` [R5], echoed in every notification: after a
  restart ``RequestShowOrders`` replays the working orders and their tags, so a resent key is never placed
  twice. Brackets go as ``RequestBracketOrder`` with ticks from the entry's reference price (its limit or stop,
  or the current quote for a market entry); the legs Rithmic creates at the fill are the bracket's ``:stop`` and
  ``:target``.
- **Failures**: a refused login is a clear error; a forced logout [R8], a dropped plant or a silent one is
  reconnected with backoff and set up again (accounts, subscriptions, snapshots), while the other plants keep
  working. No credential is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from google.protobuf.message import Message
from pyrithmic.protocol import decode, encode
from pyrithmic.protocol.registry import TEMPLATE_REGISTRY
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from enigma_apex.adapters.brokers.runner import Emit, Quote, Result
from enigma_apex.config.models import RithmicSection
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.domain.values import ZERO, round_cents
from enigma_apex.errors import EnigmaError, UnknownSymbolError
from enigma_apex.execution import rithmic as rp
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
from enigma_apex.execution.rithmic import T

log = structlog.get_logger(__name__)

QUOTE_WAIT_S = 2.0


class RithmicError(EnigmaError):
    """A refusal or failure from Rithmic, with a sentence a trader can act on."""


def message(template: int, **fields: Any) -> Message:
    """A protobuf message of the template, its fields set (repeated fields from lists)."""
    msg = TEMPLATE_REGISTRY[template]()
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list):
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return msg


def ssl_context(url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    """TLS for ``wss://`` (the system's authorities, plus Rithmic's own when ``ca_file`` is set)."""
    if not url.startswith("wss://"):
        return None
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


Push = Callable[[int, Any], Awaitable[None]]


class PlantSession:
    """One plant's WebSocket: login, heartbeats, requests with their answers, pushes to ``on_push``."""

    def __init__(
        self, url: str, infra: rp.Infra, login: dict[str, Any], context: ssl.SSLContext | None, on_push: Push,
        *, timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self.url = url
        self.infra = infra
        self.login_fields = login
        self.context = context
        self.on_push = on_push
        self.timeout_s = timeout_s
        self.ws: ClientConnection | None = None
        self.closed = asyncio.Event()
        self.fcm_id = self.ib_id = ""
        self.heartbeat_s = rp.DEFAULT_HEARTBEAT_S
        self.heartbeats = 0
        self._pending: dict[str, tuple[list[Any], asyncio.Future[list[Any]]]] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_send = time.monotonic()

    async def open(self) -> None:
        kwargs: dict[str, Any] = {"max_size": 4 * 1024 * 1024, "open_timeout": self.timeout_s, "compression": None}
        if self.context is not None:
            kwargs["ssl"] = self.context
        self.ws = await connect(self.url, **kwargs)
        self._tasks.append(asyncio.create_task(self._read(self.ws)))
        answer = await self.request(
            T.LOGIN, template_version=rp.TEMPLATE_VERSION, infra_type=int(self.infra), **self.login_fields
        )
        last = answer[-1]
        if not rp.ok(list(last.rp_code)):
            await self.close()
            raise RithmicError(f"Rithmic refused the {self.infra.name} login: {rp.rp_text(list(last.rp_code))}")
        self.fcm_id, self.ib_id = last.fcm_id, last.ib_id
        if last.heartbeat_interval > 0:
            self.heartbeat_s = float(last.heartbeat_interval)
        self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def request(self, template: int, **fields: Any) -> list[Any]:
        """Send one request; its answers, the last one carrying ``rp_code`` [R4]."""
        ws = self.ws
        if ws is None or self.closed.is_set():
            raise ConnectionError(f"the {self.infra.name} connection is down")
        tag = f"q{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        rows: list[Any] = []
        self._pending[tag] = (rows, future)
        try:
            await self._send(encode(template, message(template, user_msg=[tag], **fields)))
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise RithmicError(f"Rithmic did not answer template {template} within {self.timeout_s:.0f} s") from None
        finally:
            self._pending.pop(tag, None)

    async def _send(self, data: bytes) -> None:
        if self.ws is None:
            raise ConnectionError(f"the {self.infra.name} connection is down")
        await self.ws.send(data)
        self._last_send = time.monotonic()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                if not isinstance(raw, bytes):
                    continue
                try:
                    template, msg = decode(raw)
                except Exception:  # noqa: BLE001 - a frame we cannot read is logged, never fatal
                    log.warning("rithmic.undecodable", plant=self.infra.name, size=len(raw))
                    continue
                tag = msg.user_msg[0] if hasattr(msg, "user_msg") and len(msg.user_msg) else None
                waiting = self._pending.get(tag) if tag is not None else None
                if waiting is not None:
                    rows, future = waiting
                    rows.append(msg)
                    if len(getattr(msg, "rp_code", ())) and not future.done():
                        future.set_result(rows)
                    continue
                if template == T.FORCED_LOGOUT:
                    log.warning("rithmic.forced_logout", plant=self.infra.name)
                    break
                if template in (T.HEARTBEAT_RESPONSE, T.LOGOUT_RESPONSE):
                    continue
                try:
                    await self.on_push(template, msg)
                except Exception:  # an unexpected notification never ends the session
                    log.exception("rithmic.push_failed", plant=self.infra.name, template=template)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for _rows, future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"the {self.infra.name} connection was lost"))
            with contextlib.suppress(Exception):
                await ws.close()

    async def _heartbeat(self) -> None:
        """A heartbeat whenever nothing was sent for half the interval the login named [R3]."""
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            while not self.closed.is_set():
                await asyncio.sleep(max(0.05, self.heartbeat_s / 4))
                if time.monotonic() - self._last_send >= self.heartbeat_s / 2:
                    await self._send(encode(T.HEARTBEAT, message(T.HEARTBEAT)))
                    self.heartbeats += 1

    async def close(self) -> None:
        if self.ws is not None and not self.closed.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send(encode(T.LOGOUT, message(T.LOGOUT, user_msg=["bye"]))), 1)
            with contextlib.suppress(Exception):
                await self.ws.close()
        self.closed.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                await _cancelled(task)

    def abort(self) -> None:
        """Drop the socket without a logout (tests of reconnection)."""
        if self.ws is not None:
            self.ws.transport.abort()


@dataclass(slots=True)
class Known:
    """An order this connector placed or found."""

    key: str
    account: str
    contract: Contract
    side: Side
    quantity: int = 0
    filled: int = 0
    notional: Decimal = ZERO
    status: OrderStatus = OrderStatus.ACCEPTED
    leg_price: Decimal | None = None
    price_type: int = rp.MARKET


@dataclass(slots=True)
class Book:
    account_id: str
    balance: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    open_pnl: Decimal = ZERO
    have_pnl: bool = False
    positions: dict[Contract, tuple[int, Decimal | None]] = field(default_factory=dict)


class RithmicConnector:
    def __init__(self, cfg: RithmicSection, accounts: list[str], clock: Clock) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.clock = clock
        self.wanted = list(accounts)
        self.context = ssl_context(cfg.gateway_url, cfg.ca_file)
        self.login = {
            "user": cfg.user, "password": cfg.password.get_secret_value() if cfg.password else "",
            "system_name": cfg.system_name, "app_name": cfg.app_name, "app_version": cfg.app_version,
        }  # fmt: skip
        self.sessions: dict[rp.Infra, PlantSession] = {}
        self.state: dict[rp.Infra, str] = {}
        self.connects: dict[rp.Infra, int] = {}
        self.books: dict[str, Book] = {}
        self.routes: dict[str, str] = {}  # exchange -> trade route
        self.orders: dict[str, Known] = {}  # basket id -> order
        self.keys: dict[str, str] = {}  # our key -> basket id
        self.tagged: dict[str, OrderRequest] = {}  # keys being placed: their notifications may come first
        self.seen_fills: set[str] = set()
        self.quotes_by: dict[Contract, Quote] = {}
        self.watched: set[Contract] = set()
        self._snapshot: dict[str, set[Contract]] = {}
        self._quote_seen: dict[Contract, asyncio.Event] = {}
        self._emit: Emit | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # ------------------------------------------------------------------ Connector
    async def start(self, emit: Emit) -> None:
        self._emit = emit
        plants = [rp.Infra.ORDER_PLANT, rp.Infra.PNL_PLANT]
        if self.cfg.market_data:
            plants.append(rp.Infra.TICKER_PLANT)
        for infra in plants:  # the order and PnL plants must log in (a refusal is the caller's error) ...
            try:
                await self._connect(infra)
            except (OSError, ConnectionError, ConnectionClosed, InvalidHandshake, TimeoutError, RithmicError) as exc:
                if infra is not rp.Infra.TICKER_PLANT:
                    raise
                # ... prices are optional: without them market brackets are refused and the PnL plant still marks
                log.warning("rithmic.ticker_unavailable", error=str(exc))
        self._tasks = [asyncio.create_task(self._keep(infra)) for infra in plants]

    async def _connect(self, infra: rp.Infra) -> None:
        self.state[infra] = "connecting"
        session = PlantSession(self.cfg.gateway_url, infra, self.login, self.context, self._on_push,
                               timeout_s=float(self.cfg.request_timeout_s))  # fmt: skip
        try:
            await session.open()
            self.sessions[infra] = session
            await self._set_up(infra, session)
        except BaseException:
            await session.close()
            self.state[infra] = "down"
            raise
        self.connects[infra] = self.connects.get(infra, 0) + 1
        self.state[infra] = "logged in"

    async def _keep(self, infra: rp.Infra) -> None:
        """Reconnect a plant that went away (forced logout, dropped socket, restart), with backoff."""
        delay = 0.25
        while not self._closing:
            session = self.sessions.get(infra)
            if session is not None:
                await session.closed.wait()
                await session.close()
            if self._closing:
                return
            self.state[infra] = "reconnecting"
            log.warning("rithmic.plant_lost", plant=infra.name)
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._connect(infra)
                    delay = 0.25
                    break
                except (OSError, ConnectionError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError,
                        RithmicError) as exc:  # fmt: skip
                    log.warning("rithmic.reconnect_failed", plant=infra.name, error=str(exc))
                    delay = min(delay * 2, 30.0)

    async def _set_up(self, infra: rp.Infra, session: PlantSession) -> None:
        ids = {"fcm_id": session.fcm_id, "ib_id": session.ib_id}
        if infra is rp.Infra.ORDER_PLANT:
            rows = await session.request(T.ACCOUNT_LIST, user_type=rp.USER_TYPE_TRADER, **ids)
            self._check(rows, "the account list")
            listed = {row.account_id for row in rows if row.account_id}
            for name in self.wanted:
                if name in listed and name not in self.books:
                    self.books[name] = Book(name)
            missing = sorted(set(self.wanted) - listed)
            if missing:
                log.error("rithmic.unknown_accounts", accounts=missing)
            routes = await session.request(T.TRADE_ROUTES, subscribe_for_updates=False)
            for row in routes:
                if row.exchange and row.trade_route and (row.is_default or row.exchange not in self.routes):
                    self.routes[row.exchange] = row.trade_route
            for name in self.books:
                self._check(await session.request(T.SUBSCRIBE_ORDERS, account_id=name, **ids), "order updates")
                self._check(await session.request(T.SHOW_ORDERS, account_id=name, **ids), "the working orders")
        elif infra is rp.Infra.PNL_PLANT:
            for name, book in self.books.items():
                self._check(await session.request(T.PNL_UPDATES, request=rp.SUBSCRIBE, account_id=name, **ids),
                            "P&L updates")  # fmt: skip
                held = {c for c, (q, _) in book.positions.items() if q}
                self._snapshot[name] = set()  # the snapshot's positions come as pushes before its answer
                try:
                    self._check(await session.request(T.PNL_SNAPSHOT, account_id=name, **ids), "the P&L snapshot")
                    seen = self._snapshot[name]
                finally:
                    self._snapshot.pop(name, None)
                for contract in held - seen:  # held before, absent now: flat
                    book.positions[contract] = (0, None)
                    self._publish([PositionEvent(name, contract, 0, None)])
        else:
            for contract in sorted(self.watched):
                await self._subscribe(session, contract)

    @staticmethod
    def _check(rows: list[Any], what: str) -> None:
        last = rows[-1] if rows else None
        if last is None or not rp.ok(list(last.rp_code)):
            raise RithmicError(f"Rithmic refused {what}: {rp.rp_text(list(last.rp_code) if last else [])}")

    async def place(self, request: OrderRequest) -> Result:
        if request.account not in self.books:
            return Result(False, f"account {request.account} is not a Rithmic account of this user")
        if request.key in self.keys or request.key in self.tagged:
            return Result(True, "already at Rithmic")
        session = self.sessions.get(rp.Infra.ORDER_PLANT)
        if session is None or session.closed.is_set():
            return Result(False, "the Rithmic order plant is not connected; the order was not sent")
        contract = request.contract
        await self._watch(contract)
        fields: dict[str, Any] = {
            "user_tag": request.key, "fcm_id": session.fcm_id, "ib_id": session.ib_id, "account_id": request.account,
            "symbol": rp.symbol(contract), "exchange": rp.exchange(contract), "quantity": request.quantity,
            "transaction_type": rp.transaction(request.side), "manual_or_auto": rp.AUTO,
            "duration": rp.DAY if request.tif is TimeInForce.DAY else rp.GTC,
            "price_type": rp.PRICE_TYPES[request.order_type],
            "trade_route": self.routes.get(rp.exchange(contract), self.cfg.trade_route),
        }  # fmt: skip
        if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            fields["price"] = float(request.limit_price or 0)
        if request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            fields["trigger_price"] = float(request.stop_price or 0)
        template = T.NEW_ORDER
        bracket = request.bracket
        if bracket is not None and (bracket.stop is not None or bracket.target is not None):
            reference = await self._reference(request)
            if reference is None:
                return Result(False, f"no {contract} price to set the bracket's ticks from; the order was not sent")
            tick = contract.spec.tick_size
            template = T.BRACKET_ORDER
            kind = rp.TARGET_AND_STOP if bracket.stop is not None and bracket.target is not None else (
                rp.STOP_ONLY if bracket.stop is not None else rp.TARGET_ONLY)  # fmt: skip
            fields["bracket_type"] = kind
            fields["user_type"] = rp.USER_TYPE_TRADER
            if bracket.stop is not None:
                fields["stop_quantity"] = [request.quantity]
                fields["stop_ticks"] = [rp.bracket_ticks(reference, bracket.stop, tick)]
            if bracket.target is not None:
                fields["target_quantity"] = [request.quantity]
                fields["target_ticks"] = [rp.bracket_ticks(reference, bracket.target, tick)]
        self.tagged[request.key] = request
        try:
            rows = await session.request(template, **fields)
        except (ConnectionError, RithmicError, ConnectionClosed) as exc:
            return Result(False, f"Rithmic did not confirm the order: {exc}")
        finally:
            self.tagged.pop(request.key, None)
        last = rows[-1]
        if not rp.ok(list(last.rp_code)):
            return Result(False, rp.rp_text(list(last.rp_code)))
        basket = next((row.basket_id for row in rows if getattr(row, "basket_id", "")), "")
        if basket and basket not in self.orders:
            self._know(basket, request)
        return Result(True)

    async def _reference(self, request: OrderRequest) -> Decimal | None:
        """The price a bracket's ticks count from: the entry's own price, else the side of the quote it takes."""
        if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            return request.limit_price
        if request.order_type is OrderType.STOP:
            return request.stop_price
        quote = await self._quote(request.contract)
        if quote is None:
            return None
        return quote.ask if request.side is Side.BUY else quote.bid

    async def _watch(self, contract: Contract) -> None:
        """Prices of a contract traded (market brackets, the hub's market data), once per contract."""
        ticker = self.sessions.get(rp.Infra.TICKER_PLANT)
        if contract not in self.watched and ticker is not None and not ticker.closed.is_set():
            self.watched.add(contract)
            with contextlib.suppress(ConnectionError, RithmicError, ConnectionClosed):
                await self._subscribe(ticker, contract)

    async def _quote(self, contract: Contract) -> Quote | None:
        if contract not in self.quotes_by:
            await self._watch(contract)
            seen = self._quote_seen.setdefault(contract, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.wait(), QUOTE_WAIT_S)
        return self.quotes_by.get(contract)

    async def _subscribe(self, session: PlantSession, contract: Contract) -> None:
        rows = await session.request(T.MARKET_DATA, symbol=rp.symbol(contract), exchange=rp.exchange(contract),
                                     request=rp.SUBSCRIBE, update_bits=rp.LAST_TRADE_BIT | rp.BBO_BIT)  # fmt: skip
        self._check(rows, f"market data for {contract}")

    async def cancel(self, account: str, key: str) -> Result:
        basket = self.keys.get(key)
        known = None if basket is None else self.orders.get(basket)
        if basket is None or known is None:
            return Result(False, f"no order {key} known to this executor")
        return await self._cancel(basket, known.account)

    async def _cancel(self, basket: str, account: str) -> Result:
        session = self.sessions.get(rp.Infra.ORDER_PLANT)
        if session is None:
            return Result(False, "the Rithmic order plant is not connected")
        try:
            rows = await session.request(T.CANCEL_ORDER, fcm_id=session.fcm_id, ib_id=session.ib_id,
                                         account_id=account, basket_id=basket, manual_or_auto=rp.AUTO)  # fmt: skip
        except (ConnectionError, RithmicError, ConnectionClosed) as exc:
            return Result(False, str(exc))
        last = rows[-1]
        return Result(rp.ok(list(last.rp_code)), "" if rp.ok(list(last.rp_code)) else rp.rp_text(list(last.rp_code)))

    async def flatten(self, account: str, *, cancel_working: bool = True) -> Result:
        """Cancel the account's working orders (``RequestCancelAllOrders``), then exit every position it holds
        (``RequestExitPosition`` per contract). Goes out even while other requests wait."""
        book = self.books.get(account)
        session = self.sessions.get(rp.Infra.ORDER_PLANT)
        if book is None:
            return Result(False, f"account {account} is not a Rithmic account of this user")
        if session is None or session.closed.is_set():
            return Result(False, "the Rithmic order plant is not connected: flatten in R | Trader now")
        ids = {"fcm_id": session.fcm_id, "ib_id": session.ib_id, "account_id": account}
        problems = []
        try:
            if cancel_working:
                rows = await session.request(T.CANCEL_ALL, user_type=rp.USER_TYPE_TRADER, manual_or_auto=rp.AUTO,
                                             **ids)  # fmt: skip
                if not rp.ok(list(rows[-1].rp_code)):
                    problems.append(f"cancel all: {rp.rp_text(list(rows[-1].rp_code))}")
            for contract, (quantity, _) in sorted(book.positions.items()):
                if not quantity:
                    continue
                rows = await session.request(T.EXIT_POSITION, symbol=rp.symbol(contract),
                                             exchange=rp.exchange(contract), manual_or_auto=rp.AUTO,
                                             trading_algorithm="", **ids)  # fmt: skip
                if not rp.ok(list(rows[-1].rp_code)):
                    problems.append(f"{contract}: {rp.rp_text(list(rows[-1].rp_code))}")
        except (ConnectionError, RithmicError, ConnectionClosed) as exc:
            problems.append(str(exc))
        return Result(not problems, "; ".join(problems))

    def accounts(self) -> list[str]:
        return sorted(self.books)

    def protective_legs(self, account: str, contract: Contract) -> list[Leg]:
        """The bracket legs of this connector's entries that are still working."""
        return working_legs(self.orders.values(), account, contract)

    async def resize(self, account: str, key: str, quantity: int) -> Result:
        """``RequestModifyOrder`` to the new size, or a cancel for 0."""
        basket = self.keys.get(key)
        known = None if basket is None else self.orders.get(basket)
        session = self.sessions.get(rp.Infra.ORDER_PLANT)
        if basket is None or known is None or session is None:
            return Result(False, f"no order {key} known to this executor")
        if quantity <= 0:
            return await self._cancel(basket, account)
        fields: dict[str, Any] = {
            "fcm_id": session.fcm_id, "ib_id": session.ib_id, "account_id": account, "basket_id": basket,
            "symbol": rp.symbol(known.contract), "exchange": rp.exchange(known.contract),
            "quantity": known.filled + quantity, "price_type": known.price_type, "manual_or_auto": rp.AUTO,
        }  # fmt: skip
        if known.leg_price is not None:
            fields["trigger_price" if known.price_type == rp.STOP_MARKET else "price"] = float(known.leg_price)
        try:
            rows = await session.request(T.MODIFY_ORDER, **fields)
        except (ConnectionError, RithmicError, ConnectionClosed) as exc:
            return Result(False, str(exc))
        if not rp.ok(list(rows[-1].rp_code)):
            return Result(False, rp.rp_text(list(rows[-1].rp_code)))
        known.quantity = known.filled + quantity
        return Result(True)

    def account_state(self, account: str) -> AccountState | None:
        book = self.books.get(account)
        if book is None or not book.have_pnl:
            return None
        return AccountState(account, round_cents(book.balance), round_cents(book.closed_pnl),
                            round_cents(book.open_pnl))  # fmt: skip

    def positions(self, account: str) -> list[PositionEvent]:
        book = self.books.get(account)
        if book is None:
            return []
        return [PositionEvent(account, c, q, avg) for c, (q, avg) in sorted(book.positions.items()) if q]

    def quotes(self) -> list[Quote]:
        return list(self.quotes_by.values())

    def health(self) -> tuple[str, str]:
        down = [infra.name for infra, state in self.state.items() if state != "logged in"]
        if rp.Infra.ORDER_PLANT.name in down:
            return "down", f"Rithmic order plant {self.state[rp.Infra.ORDER_PLANT]}: orders cannot be sent"
        if down:
            return "degraded", f"Rithmic {', '.join(down)} reconnecting; orders still go out"
        return "ok", f"{len(self.books)} account(s) on {self.cfg.system_name}"

    async def close(self) -> None:
        self._closing = True  # a plant's keeper stops at its next turn even if a cancellation is lost
        for task in self._tasks:
            await _cancelled(task)
        for session in list(self.sessions.values()):
            await session.close()

    # ------------------------------------------------------------------ pushes
    async def _on_push(self, template: int, msg: Any) -> None:
        if template == T.ORDER_NOTIFICATION:
            self._order(msg, rp.notice_351(msg.notify_type, msg.completion_reason, msg.text))
        elif template == T.EXCHANGE_NOTIFICATION:
            fields = {"fill_id": msg.fill_id, "fill_size": msg.fill_size, "fill_price": msg.fill_price,
                      "text": msg.text}  # fmt: skip
            self._order(msg, rp.notice_352(msg.notify_type, fields))
        elif template == T.INSTRUMENT_PNL:
            self._position(msg)
        elif template == T.ACCOUNT_PNL:
            self._account(msg)
        elif template in (T.BEST_BID_OFFER, T.LAST_TRADE):
            self._market(template, msg)

    def _contract(self, symbol: str) -> Contract | None:
        try:
            return parse_symbol(symbol, on=self.clock.now().date())
        except (ValueError, UnknownSymbolError):
            return None

    def _find(self, msg: Any) -> Known | None:
        """The order a notification is about: by ``basket_id``; else a bracket leg (``original_basket_id``: the
        entry's key, from the entry or — after a restart — the tag the leg carries); else ours by its ``user_tag``;
        else an order of the account placed elsewhere (its fills count too)."""
        basket = msg.basket_id
        known = self.orders.get(basket)
        if known is not None or not basket:
            return known
        if msg.account_id not in self.books:
            return None
        contract = self._contract(msg.symbol)
        if contract is None:
            return None
        side = rp.side_of(msg.transaction_type)
        parent = self.orders.get(msg.original_basket_id) if msg.original_basket_id else None
        parent_key = parent.key if parent is not None else msg.user_tag  # after a restart: the entry's tag
        if msg.original_basket_id and msg.original_basket_id != basket and parent_key:
            stop = msg.price_type in (rp.STOP_MARKET, rp.STOP_LIMIT)
            key = bracket_leg(parent_key, "stop" if stop else "target")
            price = rp.decimal_of(msg.trigger_price if stop else msg.price)
            known = Known(key, msg.account_id, contract, side, msg.quantity, leg_price=price,
                          price_type=msg.price_type)  # fmt: skip
        elif msg.user_tag and (msg.user_tag in self.tagged or leg_kind(msg.user_tag) is None):
            known = Known(msg.user_tag, msg.account_id, contract, side, msg.quantity, price_type=msg.price_type)
        else:
            known = Known(f"rithmic-order:{basket}", msg.account_id, contract, side, msg.quantity)
        self.orders[basket] = known
        self.keys[known.key] = basket
        return known

    def _know(self, basket: str, request: OrderRequest) -> None:
        self.orders[basket] = Known(request.key, request.account, request.contract, request.side, request.quantity,
                                    price_type=rp.PRICE_TYPES[request.order_type])  # fmt: skip
        self.keys[request.key] = basket

    def _order(self, msg: Any, notice: rp.Notice) -> None:
        known = self._find(msg)
        if known is None:
            return
        if msg.quantity:
            known.quantity = int(msg.quantity)
        events: list[BrokerEvent] = []
        if notice.fill is not None:
            fill_id, size, price = notice.fill
            tag = f"rit-{msg.basket_id}-{fill_id}"
            if tag in self.seen_fills:
                return
            self.seen_fills.add(tag)
            known.filled += size
            known.notional += price * size
            events.append(FillEvent(tag, known.key, known.account, known.contract, known.side, size, price, ZERO,
                                    self.clock.now()))  # fmt: skip
            status = OrderStatus.FILLED if known.quantity and known.filled >= known.quantity else (
                OrderStatus.PARTIALLY_FILLED)  # fmt: skip
        else:
            if notice.status is None:
                return
            status = notice.status
            if status is OrderStatus.WORKING and known.filled:
                status = OrderStatus.PARTIALLY_FILLED
            if status is OrderStatus.FILLED and known.quantity and known.filled < known.quantity:
                return  # the fills that complete it are on their way (352)
        if known.status.is_terminal or status == known.status:
            self._publish(events)
            return
        known.status = status
        average = None if known.filled == 0 else known.notional / known.filled
        reason = notice.reason if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) else ""
        events.append(OrderEvent(known.key, known.account, status, known.filled, average, msg.basket_id, reason))
        self._publish(events)

    def _position(self, msg: Any) -> Contract | None:
        book = self.books.get(msg.account_id)
        contract = self._contract(msg.symbol)
        if book is None or contract is None:
            return None
        quantity = int(msg.net_quantity) if msg.HasField("net_quantity") else int(msg.buy_qty) - int(msg.sell_qty)
        average = rp.decimal_of(msg.avg_open_fill_price) if quantity and msg.avg_open_fill_price else None
        if msg.account_id in self._snapshot:
            self._snapshot[msg.account_id].add(contract)
        if book.positions.get(contract) != (quantity, average):
            book.positions[contract] = (quantity, average)
            self._publish([PositionEvent(book.account_id, contract, quantity, average)])
        return contract

    def _account(self, msg: Any) -> None:
        book = self.books.get(msg.account_id)
        if book is None:
            return
        if msg.account_balance:
            book.balance = rp.money(msg.account_balance)
        if msg.HasField("closed_position_pnl"):
            book.closed_pnl = rp.money(msg.closed_position_pnl)
        if msg.HasField("open_position_pnl"):
            book.open_pnl = rp.money(msg.open_position_pnl)
        book.have_pnl = True

    def _market(self, template: int, msg: Any) -> None:
        contract = self._contract(msg.symbol)
        if contract is None:
            return
        old = self.quotes_by.get(contract)
        bid, ask, last = (old.bid, old.ask, old.last) if old else (ZERO, ZERO, ZERO)
        if template == T.BEST_BID_OFFER:
            bid = rp.decimal_of(msg.bid_price) if msg.HasField("bid_price") else bid
            ask = rp.decimal_of(msg.ask_price) if msg.HasField("ask_price") else ask
        elif msg.HasField("trade_price"):
            last = rp.decimal_of(msg.trade_price)
        if bid and ask:
            self.quotes_by[contract] = Quote(contract, bid, ask, last or (bid + ask) / 2)
            self._quote_seen.setdefault(contract, asyncio.Event()).set()

    def _publish(self, events: list[BrokerEvent]) -> None:
        if self._emit is not None:
            for event in events:
                self._emit(event)

    # ------------------------------------------------------------------ tests
    def drop(self, infra: rp.Infra) -> None:
        session = self.sessions.get(infra)
        if session is not None:
            session.abort()


async def system_names(url: str, ca_file: Path | None, timeout_s: float = 10.0) -> list[str]:
    """``RequestRithmicSystemInfo`` [R10]: the systems a gateway serves (``doctor`` asks before logging in)."""
    kwargs: dict[str, Any] = {"open_timeout": timeout_s}
    context = ssl_context(url, ca_file)
    if context is not None:
        kwargs["ssl"] = context
    async with connect(url, **kwargs) as ws:
        await ws.send(encode(T.SYSTEM_INFO, message(T.SYSTEM_INFO, user_msg=["doctor"])))
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout_s)
            if isinstance(raw, bytes):
                template, msg = decode(raw)
                if template == T.SYSTEM_INFO_RESPONSE:
                    return list(msg.system_name)


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait until it is done, cancelling again while it is not: a cancellation that arrives as an
    inner ``asyncio.wait_for`` completes can be lost (Python 3.11), and a plant keeper would then wait forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()


__all__ = ["PlantSession", "RithmicConnector", "RithmicError", "message", "ssl_context", "system_names"]
