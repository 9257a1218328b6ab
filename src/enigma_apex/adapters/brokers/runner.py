"""The executor side of the gateway protocol, shared by every Python broker connector.

``ExecutorRunner`` holds a :class:`~enigma_apex.client.HubClient` (executor mode: a repeated idempotency key is
answered ``duplicate`` and never reaches the connector), turns ``order.place`` / ``order.cancel`` / ``flatten``
into connector calls, acknowledges each, and reports the connector's events as ``order.update``, ``fill`` and
``position``. On every (re)connection it reports each owned account's positions (the hub reconciles them with
its fills) and its balance; afterwards ``account.update`` goes out ``update_hz`` times a second and
``market.data`` when a quote changes. After ``flatten_after_disconnect_s`` without the hub (when set) it
flattens every account it owns: a lost hub leaves accounts flat, not exposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import structlog

from enigma_apex.adapters.brokers.journal import Journal
from enigma_apex.client import HubClient, new_id, now
from enigma_apex.domain.orders import Bracket, OrderPurpose, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, format_symbol, parse_symbol
from enigma_apex.errors import UnknownSymbolError
from enigma_apex.execution.events import AccountState, BrokerEvent, FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.protection import Leg, fit, reduce_only
from enigma_apex.protocol import messages as m

log = structlog.get_logger(__name__)

AVERAGE_PLACES = Decimal("0.00000001")

Emit = Callable[[BrokerEvent], None]


@dataclass(frozen=True, slots=True)
class Result:
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Quote:
    contract: Contract
    bid: Decimal
    ask: Decimal
    last: Decimal


class Connector(Protocol):
    """What a broker connector offers the runner. Events (fills, order states, positions) go to ``emit``."""

    name: str

    async def start(self, emit: Emit) -> None: ...

    async def place(self, request: OrderRequest) -> Result: ...

    async def cancel(self, account: str, key: str) -> Result: ...

    async def flatten(self, account: str, *, cancel_working: bool = True) -> Result: ...

    def accounts(self) -> list[str]: ...

    def account_state(self, account: str) -> AccountState | None: ...

    def positions(self, account: str) -> list[PositionEvent]: ...

    def quotes(self) -> list[Quote]: ...

    def health(self) -> tuple[str, str]: ...  # (ok | degraded | down, detail)

    def protective_legs(self, account: str, contract: Contract) -> list[Leg]: ...  # working bracket legs, oldest first

    async def resize(self, account: str, key: str, quantity: int) -> Result: ...  # a leg's remaining size (0: cancel)

    async def close(self) -> None: ...


class ExecutorRunner:
    def __init__(
        self,
        connector: Connector,
        url: str,
        token: str,
        *,
        update_hz: float = 4.0,
        flatten_after_disconnect_s: float | None = None,
        heartbeat_s: float = 5.0,
        ssl: object = None,
        journal: Journal | None = None,
    ) -> None:
        self.connector = connector
        # without a file the journal is kept in memory: a report lost with a torn-down socket is sent again on the
        # next connection all the same
        self.journal = journal if journal is not None else Journal(None)
        self.update_hz = update_hz
        self.flatten_after_disconnect_s = flatten_after_disconnect_s
        self.client = HubClient(
            url, token, connector.name, self._on_message, heartbeat_s=heartbeat_s, ssl=ssl, executor=True,
            on_connect=self._on_connect,
        )  # fmt: skip
        # the connector's reports not sent yet, oldest first (the event is None once its protection was fitted)
        self._reports: deque[tuple[BrokerEvent | None, m.Message]] = deque()
        self._reports_ready = asyncio.Event()
        self._sending = asyncio.Lock()  # one sender at a time: reports leave in the order the venue made them
        self._tasks: list[asyncio.Task[None]] = []
        self._fits: set[asyncio.Task[None]] = set()  # protective legs being fitted to a new position
        self._last_quotes: dict[Contract, Quote] = {}
        self.placed = 0
        self.rejected = 0
        self.flattened_on_disconnect = 0

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> None:
        self.journal.load()
        for key in self.journal.keys:  # sent again by the hub after a lost acknowledgement: never placed twice
            self.client.seen_keys[key] = None
        await self.connector.start(self._emitted)
        gc.collect()
        gc.freeze()  # as the hub does: what start-up made lives for the whole run, out of every later GC pass
        client = asyncio.create_task(self.client.run())
        self._tasks = [
            asyncio.create_task(self._send_events()),
            asyncio.create_task(self._send_updates()),
            asyncio.create_task(self._watch_connection()),
        ]
        try:
            await client
        except PermissionError:
            # the hub refuses this token now (revoked or expired): it is as away as a lost connection
            if self.client.connections and self.flatten_after_disconnect_s is not None:
                flattened = self.flattened_on_disconnect
                await asyncio.sleep(self.flatten_after_disconnect_s + 0.2)
                if self.flattened_on_disconnect == flattened:  # the connection watch did not do it meanwhile
                    await self._flatten_all()
            raise
        finally:
            for task in [*self._tasks, *self._fits]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.connector.close()
            self.journal.close()

    async def stop(self) -> None:
        await self.client.stop()

    # ------------------------------------------------------------------ hub -> broker
    async def _on_message(self, message: m.Message) -> None:
        if isinstance(message, m.OrderPlace):
            self.journal.placed(message.key)  # before the venue sees it (write-ahead)
            result = await self._place(message)
            self.placed += result.accepted
            self.rejected += not result.accepted
            # the acknowledgement, then what the venue reported while placing it (a market order's fill), written
            # back to back: the hub reads them together and records them in one transaction
            if not await self._send_reports(self._ack_message(message, result)):
                self._reports_ready.set()  # the connection failed: the rest go with the background sender
        elif isinstance(message, m.OrderCancel):
            await self._ack(message, await self.connector.cancel(message.account, message.order_key))
        elif isinstance(message, m.Flatten):
            result = await self.connector.flatten(message.account, cancel_working=message.cancel_working)
            log.warning("executor.flatten", account=message.account, reason=message.reason, ok=result.accepted)
            await self._ack(message, result)

    async def _place(self, message: m.OrderPlace) -> Result:
        try:
            contract = parse_symbol(message.symbol, on=now().date())
        except (ValueError, UnknownSymbolError) as exc:
            return Result(False, str(exc))
        bracket = None
        if message.bracket is not None and (message.bracket.stop is not None or message.bracket.target is not None):
            bracket = Bracket(message.bracket.stop, message.bracket.target)
        purpose = OrderPurpose(message.purpose)
        quantity = message.quantity
        if purpose is not OrderPurpose.ENTRY:  # an exit only reduces: never more than the position it closes
            held = sum(p.quantity for p in self.connector.positions(message.account) if p.contract == contract)
            quantity = reduce_only(held, Side(message.side), message.quantity)
            if quantity == 0:
                return Result(False, f"reduce-only: no {contract} position for this {message.side} to close")
        request = OrderRequest(
            message.key, message.account, contract, Side(message.side), quantity,
            OrderType(message.order_type), message.limit_price, message.stop_price, bracket,
            TimeInForce(message.tif), purpose,
        )  # fmt: skip
        try:
            return await self.connector.place(request)
        except Exception as exc:  # a connector failure is a rejection the hub can see, never a crash
            log.exception("executor.place_failed", key=message.key)
            return Result(False, f"{type(exc).__name__}: {exc}"[:500])

    @staticmethod
    def _ack_message(message: m.OrderPlace | m.OrderCancel | m.Flatten, result: Result) -> m.Ack:
        status = "accepted" if result.accepted else "rejected"
        return m.Ack(id=new_id(), ts=now(), ack=message.seq, key=message.key, status=status, reason=result.reason[:500])

    async def _ack(self, message: m.OrderCancel | m.Flatten, result: Result) -> None:
        ack = self._ack_message(message, result)
        try:
            await self.client.send(ack)
        except (ConnectionError, OSError):
            pass  # an acceptance lost here is answered `duplicate` to the resend; a refusal is in the journal
        finally:
            self.journal.reported(ack)  # a refused order (numbered: an order.place) is sent again on reconnect

    # ------------------------------------------------------------------ broker -> hub
    async def _on_connect(self) -> None:
        """Report the journal's recent fills and final order states again (a hub that crashed may have lost them;
        it records each once), then every owned account's positions and balance (the hub reconciles them)."""
        for report in self.journal.recent():
            await self.client.send(report)
        for account in self._owned():
            try:
                reports: list[m.Message] = [self._position(p) for p in self.connector.positions(account)]
                state = self.connector.account_state(account)
                if state is not None:
                    reports.append(self._account(state))
            except Exception:  # a value the protocol cannot carry: logged; the hub reconciles on the next report
                log.exception("executor.bad_report", account=account)
                continue
            for report in reports:
                await self.client.send(report)

    def _owned(self) -> list[str]:
        welcome = self.client.welcome
        mine = set(self.connector.accounts())
        if welcome is None:
            return sorted(mine)
        return sorted(mine & set(welcome.accounts)) if welcome.accounts else sorted(mine)

    def _emitted(self, event: BrokerEvent) -> None:
        """The connector reports an event: journaled at once, before the venue's own record moves on (the paper
        venue saves its state right after it emits; a process killed between the two would otherwise know a fill
        its journal never sends again), then queued for the hub."""
        try:
            message = self._message(event)
        except Exception:  # an event the protocol cannot carry (a broker's bad value): logged, never fatal
            log.exception("executor.bad_event", event=repr(event)[:500])
            return
        self.journal.reported(message)
        self._reports.append((event, message))
        self._reports_ready.set()

    async def _send_events(self) -> None:
        while True:
            await self._reports_ready.wait()
            self._reports_ready.clear()
            if not await self._send_reports():
                await asyncio.sleep(0.05)  # kept until the hub is back: a fill is never dropped
                self._reports_ready.set()

    async def _send_reports(self, ack: m.Ack | None = None) -> bool:
        """Send the reports waiting, oldest first and in one write, behind ``ack`` (an order's acknowledgement)
        when given. False when the connection failed: the reports stay queued, in order, for the next connection.
        An acknowledgement is never sent again: an acceptance lost is answered ``duplicate`` to the hub's resend,
        and a refusal is in the journal (sent again on reconnect)."""
        async with self._sending:
            if ack is None and not self._reports:
                return True
            queued = list(self._reports)
            self._reports.clear()
            for event, _message in queued:
                if isinstance(event, PositionEvent):
                    self._fit_protection(event)
            first = [] if ack is None else [ack]
            try:
                sent = await self.client.send_all([*first, *(message for _event, message in queued)])
            finally:
                if ack is not None:
                    self.journal.reported(ack)  # a refused order (numbered: an order.place) is sent again on reconnect
            if not sent:  # kept, in order, for the next connection (their protection is fitted already)
                self._reports.extendleft((None, message) for _event, message in reversed(queued))
            return sent

    def _fit_protection(self, event: PositionEvent) -> None:
        """The position changed: protective legs larger than it (or on its wrong side) shrink or go (in the
        background; a failure is logged, the hub's flatten remains the safety net)."""
        try:
            legs = self.connector.protective_legs(event.account, event.contract)
        except Exception:  # a connector that cannot list its legs must not stop the reports
            log.exception("executor.legs_failed", account=event.account)
            return
        changes = fit(event.quantity, legs)
        if changes:
            task = asyncio.create_task(self._resize(event.account, changes))
            self._fits.add(task)
            task.add_done_callback(self._fits.discard)

    async def _resize(self, account: str, changes: list[tuple[str, int]]) -> None:
        for key, quantity in changes:
            try:
                result = await self.connector.resize(account, key, quantity)
            except Exception:  # one leg that cannot be changed must not stop the others
                log.exception("executor.resize_failed", key=key)
                continue
            log.info("executor.leg_fitted", key=key, quantity=quantity, ok=result.accepted, reason=result.reason)

    def _message(self, event: BrokerEvent) -> m.Message:
        if isinstance(event, FillEvent):
            return m.FillMsg(
                id=new_id(), ts=now(), fill_id=event.fill_id, key=event.key, account=event.account,
                symbol=format_symbol(event.contract), side=event.side.value, quantity=event.quantity,
                price=event.price, commission=event.commission, executed_at=event.executed_at,
            )  # fmt: skip
        if isinstance(event, OrderEvent):
            return m.OrderUpdate(
                id=new_id(), ts=now(), key=event.key, account=event.account, status=event.status.value,
                filled_quantity=event.filled_quantity, average_price=_average(event.average_price),
                broker_order_id=event.broker_order_id, reason=event.reason[:500],
            )  # fmt: skip
        return self._position(event)

    @staticmethod
    def _position(event: PositionEvent) -> m.PositionMsg:
        return m.PositionMsg(
            id=new_id(), ts=now(), account=event.account, symbol=format_symbol(event.contract),
            quantity=event.quantity, average_price=_average(event.average_price),
        )  # fmt: skip

    @staticmethod
    def _account(state: AccountState) -> m.AccountUpdate:
        return m.AccountUpdate(
            id=new_id(), ts=now(), account=state.account, balance=state.balance,
            realized_pnl=state.realized_pnl, open_pnl=state.open_pnl,
        )  # fmt: skip

    async def _send_updates(self) -> None:
        """Balances ``update_hz`` times a second, quotes when they change, health every 5 s."""
        period = 1.0 / self.update_hz
        last_health = 0.0
        while True:
            await asyncio.sleep(period)
            if not self.client.connected.is_set():
                continue
            health_due = time.monotonic() - last_health >= 5.0
            try:
                await self._send_state(health=health_due)
            except (ConnectionError, OSError):
                continue
            except Exception:  # a connector that fails to report must not stop the reports for good
                log.exception("executor.update_failed")
            if health_due:
                last_health = time.monotonic()

    async def _send_state(self, *, health: bool) -> None:
        for quote in self.connector.quotes():
            if self._last_quotes.get(quote.contract) != quote:
                self._last_quotes[quote.contract] = quote
                symbol = format_symbol(quote.contract)
                market = m.MarketData(
                    id=new_id(), ts=now(), symbol=symbol, last=quote.last, bid=quote.bid, ask=quote.ask
                )
                await self.client.send(market)
        for account in self._owned():
            state = self.connector.account_state(account)
            if state is not None:
                await self.client.send(self._account(state))
        if health:
            status, detail = self.connector.health()
            component = m.ComponentStatus(status=status, detail=detail[:500])
            await self.client.send(m.Health(id=new_id(), ts=now(), components={self.connector.name: component}))

    async def _watch_connection(self) -> None:
        """Flatten every owned account after ``flatten_after_disconnect_s`` away from the hub (when set)."""
        if self.flatten_after_disconnect_s is None:
            return
        away_since: float | None = None
        flattened = False
        while True:
            await asyncio.sleep(0.1)
            if self.client.connected.is_set():
                away_since, flattened = None, False
                continue
            if self.client.connections == 0:
                continue  # never connected yet: nothing was placed through us
            away_since = away_since or time.monotonic()
            if not flattened and time.monotonic() - away_since >= self.flatten_after_disconnect_s:
                flattened = True
                await self._flatten_all()

    async def _flatten_all(self) -> None:
        for account in self.connector.accounts():
            log.warning("executor.flatten_on_disconnect", account=account)
            try:
                await self.connector.flatten(account)
            except Exception:  # one account's failure must not keep the others exposed
                log.exception("executor.flatten_failed", account=account)
        self.flattened_on_disconnect += 1


def _average(price: Decimal | None) -> Decimal | None:
    """An average fill price as the protocol carries it: 8 decimal places (averages of several fills are
    repeating decimals, e.g. 20999.083333…; the venue keeps the exact figure for its P&L)."""
    return None if price is None else price.quantize(AVERAGE_PLACES)


__all__ = ["Connector", "Emit", "ExecutorRunner", "Quote", "Result"]
