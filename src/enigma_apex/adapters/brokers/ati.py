"""NinjaTrader 8 through ATI order files: no C# needed (Tools > Options > Automated Trading Interface).

Orders go to NinjaTrader's ``incoming`` folder as Order Instruction Files (``execution/ati.py`` builds the lines),
written under a temporary name and renamed to a new ``oif_<id>.txt`` so NinjaTrader never reads half a file and
never sees a name twice. Order states, positions and connection states come back as files in ``outgoing``,
read every ``poll_ms``: a rising filled amount becomes a fill (its price from the change of the average price),
a position file a position, a connection file the connector's health.

- Brackets: without an ATM template, the stop and target are placed (one OCO id) once the entry shows a fill,
  for the filled quantity, and grown with ``CHANGE`` as more fills; a leg's fill shrinks its sibling.
  With ``ati.atm_template`` the entry names that ATM strategy and NinjaTrader manages stop and target.
- Flatten of one account: ``CLOSEPOSITION`` for each instrument it holds and ``CANCEL`` for each order of ours
  still working — never the global ``FLATTENEVERYTHING`` (``enigma-apex ati flatten-everything`` writes that one
  on the user's request).
- ``CLOSEPOSITION``'s own orders carry no ORDER ID, so their fills never reach ``outgoing``: the position file's
  move to flat is recorded as the closing fill at the last price this connector saw for the instrument (an
  estimate, logged as such; the AddOn reports real fills).
- ATI reports no balance: the connector keeps a ledger from the fills it sees (start balance from
  ``ati.start_balance``, commission per ``ati.commission``); open P&L is not known through ATI.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import structlog

from enigma_apex.adapters.brokers.runner import Emit, Quote, Result
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.orders import Fill, OrderStatus, OrderType, Position, Side
from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.domain.values import ZERO, Snap, round_cents, snap_to_tick
from enigma_apex.errors import UnknownSymbolError
from enigma_apex.execution import ati
from enigma_apex.execution.events import (
    AccountState,
    BrokerEvent,
    FillEvent,
    OrderEvent,
    OrderRequest,
    PositionEvent,
    bracket_leg,
)
from enigma_apex.execution.protection import Leg, leg_kind
from enigma_apex.execution.sim import commission_per_side

log = structlog.get_logger(__name__)


def default_folder() -> Path:
    return Path.home() / "Documents" / "NinjaTrader 8"


@dataclass(slots=True)
class Tracked:
    request: OrderRequest
    status: OrderStatus = OrderStatus.PENDING
    filled: int = 0
    average: Decimal | None = None
    parent: str | None = None  # the entry key of a bracket leg
    legs_given: int = 0


class AtiConnector:
    def __init__(
        self,
        accounts: dict[str, Decimal],
        folder: Path,
        clock: Clock,
        *,
        name: str = "ati",
        atm_template: str = "",
        poll_ms: int = 50,
        commission: dict[str, Decimal] | None = None,
    ) -> None:
        self.name = name
        self.incoming = folder / "incoming"
        self.outgoing = folder / "outgoing"
        self.clock = clock
        self.atm_template = atm_template
        self.poll_s = poll_ms / 1000
        self.commission_table = dict(commission or {})
        self.opening = dict(accounts)
        self.realized: dict[str, Decimal] = dict.fromkeys(accounts, ZERO)
        self.commissions: dict[str, Decimal] = dict.fromkeys(accounts, ZERO)
        self.ledger: dict[tuple[str, Contract], Position] = {}
        self.reported: dict[tuple[str, Contract], tuple[int, Decimal | None]] = {}  # NinjaTrader's position files
        self.orders: dict[str, Tracked] = {}
        self.known_ids: set[str] = set()  # order ids seen in outgoing (ours, from before a restart too)
        self.connections: dict[str, str] = {}
        self._closes = 0
        self.closing: set[tuple[str, Contract]] = set()  # CLOSEPOSITION sent, position file not flat yet
        self.last_price: dict[Contract, Decimal] = {}
        self.files_written = 0
        self._seen: dict[str, tuple[float, int]] = {}  # outgoing file -> (mtime, size) last read
        self._emit: Emit | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ Connector
    async def start(self, emit: Emit) -> None:
        self._emit = emit
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.outgoing.mkdir(parents=True, exist_ok=True)
        self.poll(initial=True)  # positions and our orders from before a restart
        self._task = asyncio.create_task(self._poll_forever())

    async def place(self, request: OrderRequest) -> Result:
        if request.account not in self.opening:
            return Result(False, f"account {request.account} is not traded through ATI here")
        oid = ati.order_id(request.key)
        if request.key in self.orders or oid in self.known_ids:
            return Result(True, "already at NinjaTrader")  # never placed twice, even after a restart
        strategy = self.atm_template if request.bracket is not None else ""
        line = ati.place(
            request.account, request.contract, request.side, request.quantity, request.order_type,
            limit_price=request.limit_price, stop_price=request.stop_price, tif=request.tif, order=oid,
            strategy=strategy, strategy_id=f"{oid}.ATM" if strategy else "",
        )  # fmt: skip
        self.orders[request.key] = Tracked(request, legs_given=request.quantity if strategy else 0)
        self.write([line])
        return Result(True)

    async def cancel(self, account: str, key: str) -> Result:
        tracked = self.orders.get(key)
        if tracked is None and ati.order_id(key) not in self.known_ids:
            return Result(False, f"no order {key} known to this executor")
        if tracked is not None and tracked.status.is_terminal:
            return Result(False, f"order {key} is already {tracked.status.value}")
        self.write([ati.cancel(ati.order_id(key))])
        return Result(True)

    async def flatten(self, account: str, *, cancel_working: bool = True) -> Result:
        if account not in self.opening:
            return Result(False, f"account {account} is not traded through ATI here")
        held = {c for (a, c), (q, _) in self.reported.items() if a == account and q}
        held |= {c for (a, c), p in self.ledger.items() if a == account and p.quantity}
        lines = [ati.close_position(account, contract) for contract in sorted(held)]
        self.closing |= {(account, contract) for contract in held}
        if cancel_working:
            for key, tracked in self.orders.items():
                mine = tracked.request.account == account and not tracked.status.is_terminal
                if mine and tracked.request.contract not in held:  # CLOSEPOSITION cancels that instrument's orders
                    lines.append(ati.cancel(ati.order_id(key)))
        if lines:
            self.write(lines)
        return Result(True)

    def accounts(self) -> list[str]:
        return sorted(self.opening)

    def protective_legs(self, account: str, contract: Contract) -> list[Leg]:
        """The stops and targets this connector placed for its entries (an ATM template's are NinjaTrader's)."""
        legs = []
        for key, tracked in self.orders.items():
            request = tracked.request
            kind = leg_kind(key)
            mine = tracked.parent is not None and request.account == account and request.contract == contract
            if mine and kind is not None and not tracked.status.is_terminal:
                legs.append(Leg(key, kind, request.side, request.quantity - tracked.filled))
        return legs

    async def resize(self, account: str, key: str, quantity: int) -> Result:
        tracked = self.orders.get(key)
        if tracked is None or tracked.status.is_terminal:
            return Result(False, f"no working order {key}")
        if quantity <= 0:
            self.write([ati.cancel(ati.order_id(key))])
            return Result(True)
        total = tracked.filled + quantity
        tracked.request = replace(tracked.request, quantity=total)
        self.write([ati.change(ati.order_id(key), quantity=total)])
        return Result(True)

    def account_state(self, account: str) -> AccountState | None:
        if account not in self.opening:
            return None
        balance = self.opening[account] + self.realized[account] - self.commissions[account]
        # ATI files carry no P&L: open_pnl None lets the guardian count each position's loss to its stop
        return AccountState(account, round_cents(balance), round_cents(self.realized[account]), None)

    def positions(self, account: str) -> list[PositionEvent]:
        """NinjaTrader's own position files where it wrote them, else the ledger of fills."""
        result = {c: (q, avg) for (a, c), (q, avg) in self.reported.items() if a == account}
        for (a, c), p in self.ledger.items():
            if a == account and c not in result:
                result[c] = (p.quantity, p.average_price if p.quantity else None)
        return [PositionEvent(account, c, q, avg) for c, (q, avg) in sorted(result.items()) if q]

    def quotes(self) -> list[Quote]:
        return []

    def health(self) -> tuple[str, str]:
        if not self.incoming.is_dir():
            return "down", f"{self.incoming} is missing (is ATI enabled in NinjaTrader?)"
        down = sorted(name for name, state in self.connections.items() if state != "CONNECTED")
        if down:
            return "degraded", f"NinjaTrader connection(s) down: {', '.join(down)}"
        return "ok", f"ATI files in {self.incoming.parent}; {self.files_written} written"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def flatten_everything(self) -> None:
        """The global stop: every account on every NinjaTrader connection (the user asked for it)."""
        self.write([ati.flatten_everything()])

    # ------------------------------------------------------------------ files
    def write(self, lines: list[str]) -> Path:
        """One new OIF: written to a temporary name, then renamed (NinjaTrader reads only ``oif*.txt``)."""
        name = f"oif_{self.clock.now():%Y%m%d%H%M%S}_{secrets.token_hex(6)}"
        temp = self.incoming / f"{name}.tmp"
        temp.write_text("".join(line + "\r\n" for line in lines), encoding="ascii")
        final = self.incoming / f"{name}.txt"
        os.replace(temp, final)
        self.files_written += 1
        return final

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self.poll()
            except OSError as exc:  # the folder went away: report it as health, keep trying
                log.warning("ati.poll_failed", error=str(exc))
            except Exception:  # a file we cannot read must never stop the order flow
                log.exception("ati.poll_error")

    def poll(self, *, initial: bool = False) -> None:
        """Read every outgoing file that changed since the last read."""
        events: list[BrokerEvent] = []
        with os.scandir(self.outgoing) as scan:
            entries = sorted(scan, key=lambda e: ati.is_position_file(e.name))  # fills before the positions they make
            for entry in entries:
                if not entry.name.endswith(".txt") or not entry.is_file():
                    continue
                stat = entry.stat()
                mark = (stat.st_mtime, stat.st_size)
                if self._seen.get(entry.name) == mark:
                    continue
                try:
                    text = Path(entry.path).read_text(encoding="utf-8-sig").strip()
                except OSError:
                    continue  # NinjaTrader holds it: read it next time
                if not text:
                    continue
                self._seen[entry.name] = mark
                events += self._read(entry.name, text, initial=initial)
        if events and self._emit is not None:
            for event in events:
                self._emit(event)

    def _read(self, name: str, text: str, *, initial: bool) -> list[BrokerEvent]:
        if ati.is_position_file(name):
            return self._read_position(name, text)
        stem = name[: -len(".txt")]
        key = ati.key_of(stem)
        if key is not None:
            self.known_ids.add(stem)
            tracked = self.orders.get(key)
            if tracked is None:
                return []  # ours, from before a restart: known, so a resend is not placed again
            try:
                state = ati.parse_order_state(text)
            except ValueError as exc:
                log.warning("ati.bad_order_file", file=name, error=str(exc))
                return []
            return self._order_state(key, tracked, state)
        if text.upper() in ("CONNECTED", "DISCONNECTED"):
            self.connections[stem] = text.upper()
        return []

    def _read_position(self, name: str, text: str) -> list[BrokerEvent]:
        try:
            parsed = ati.parse_position(name, text)
            contract = parse_symbol(parsed.instrument, on=self.clock.now().date())
        except (ValueError, UnknownSymbolError) as exc:  # an instrument the hub does not trade: not ours
            log.warning("ati.bad_position_file", file=name, error=str(exc))
            return []
        if parsed.account not in self.opening:
            return []
        slot = (parsed.account, contract)
        value = (parsed.quantity, parsed.average_price)
        if self.reported.get(slot) == value:
            return []
        self.reported[slot] = value
        events: list[BrokerEvent] = []
        if slot in self.closing:
            events += self._close_fill(slot, parsed.quantity)
        events.append(PositionEvent(parsed.account, contract, parsed.quantity, parsed.average_price))
        return events

    def _close_fill(self, slot: tuple[str, Contract], reported: int) -> list[BrokerEvent]:
        """A CLOSEPOSITION's own orders carry no ORDER ID, so ATI never reports their fills: the change of the
        position file is recorded as the fill, at the last price this connector saw for the instrument."""
        account, contract = slot
        if reported == 0:
            self.closing.discard(slot)
        ledger = self.ledger.get(slot, Position(account, contract))
        closed = ledger.quantity - reported
        if closed == 0 or (ledger.quantity > 0) != (closed > 0) or abs(closed) > abs(ledger.quantity):
            return []
        price = self.last_price.get(contract, ledger.average_price)
        if price <= 0:
            return []  # nothing to estimate it from: the position report alone tells the hub
        side = Side.SELL if closed > 0 else Side.BUY
        self._closes += 1
        key = f"ati-close:{account}:{self._closes}"
        request = OrderRequest(key, account, contract, side, abs(closed))
        self.orders[key] = Tracked(request, OrderStatus.FILLED)
        log.warning("ati.close_fill_estimated", account=account, contract=str(contract), price=str(price))
        return [self._fill(key, request, abs(closed), price)]

    # ------------------------------------------------------------------ order states -> events
    def _order_state(self, key: str, tracked: Tracked, state: ati.OrderState) -> list[BrokerEvent]:
        request = tracked.request
        events: list[BrokerEvent] = []
        new = state.filled - tracked.filled
        if new > 0:
            price = self._fill_price(tracked, state)
            tracked.filled, tracked.average = state.filled, state.average_price
            events.append(self._fill(key, request, new, price))
        if state.status is not tracked.status or new > 0:
            tracked.status = state.status
            reason = "rejected by NinjaTrader (its log says why)" if state.status is OrderStatus.REJECTED else ""
            events.append(
                OrderEvent(key, request.account, state.status, state.filled, state.average_price,
                           ati.order_id(key), reason)
            )  # fmt: skip
        if new > 0:
            if tracked.parent is not None:
                self._shrink_sibling(tracked, new)
            elif request.bracket is not None and not self.atm_template:
                self._protect(key, tracked)
        return events

    def _fill_price(self, tracked: Tracked, state: ati.OrderState) -> Decimal:
        tick = tracked.request.contract.spec.tick_size
        if state.average_price is None:
            return tracked.request.limit_price or tracked.request.stop_price or ZERO
        before = (tracked.average or ZERO) * tracked.filled
        price = (state.average_price * state.filled - before) / (state.filled - tracked.filled)
        return snap_to_tick(price, tick, Snap.NEAREST)

    def _fill(self, key: str, request: OrderRequest, quantity: int, price: Decimal) -> FillEvent:
        at: datetime = self.clock.now()
        commission = round_cents(commission_per_side(self.commission_table, request.contract) * quantity)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        tracked = self.orders[key]
        fill_id = f"ati-{digest}-{tracked.filled or quantity}"  # the same file read twice gives the same id
        self.last_price[request.contract] = price
        slot = (request.account, request.contract)
        position = self.ledger.get(slot, Position(request.account, request.contract))
        position, realised = position.apply(
            Fill(fill_id, key, request.account, request.contract, request.side, quantity, price, commission, at)
        )
        self.ledger[slot] = position
        self.realized[request.account] += realised
        self.commissions[request.account] += commission
        return FillEvent(fill_id, key, request.account, request.contract, request.side, quantity, price, commission, at)

    def _protect(self, key: str, entry: Tracked) -> None:
        """Place (or grow) the entry's stop and target for its filled quantity, one OCO group."""
        request, bracket = entry.request, entry.request.bracket
        assert bracket is not None  # noqa: S101 - only called for entries with a bracket
        add = entry.filled - entry.legs_given
        if add <= 0:
            return
        entry.legs_given = entry.filled
        lines = []
        oco = f"{ati.order_id(key)}.OCO"
        for leg, order_type, price in (
            ("stop", OrderType.STOP, bracket.stop),
            ("target", OrderType.LIMIT, bracket.target),
        ):
            if price is None:
                continue
            leg_key = bracket_leg(key, leg)
            existing = self.orders.get(leg_key)
            if existing is not None and not existing.status.is_terminal:
                total = existing.request.quantity + add
                existing.request = replace(existing.request, quantity=total)
                lines.append(ati.change(ati.order_id(leg_key), quantity=total))
                continue
            leg_request = OrderRequest(
                leg_key, request.account, request.contract, request.side.opposite, add, order_type,
                limit_price=price if order_type is OrderType.LIMIT else None,
                stop_price=price if order_type is OrderType.STOP else None, tif=request.tif,
            )  # fmt: skip
            self.orders[leg_key] = Tracked(leg_request, parent=key)
            lines.append(
                ati.place(
                    request.account,
                    request.contract,
                    leg_request.side,
                    add,
                    order_type,
                    limit_price=leg_request.limit_price,
                    stop_price=leg_request.stop_price,
                    tif=request.tif,
                    oco=oco,
                    order=ati.order_id(leg_key),
                )
            )
        if lines:
            self.write(lines)

    def _shrink_sibling(self, leg: Tracked, quantity: int) -> None:
        lines = []
        for key, other in self.orders.items():
            if other is leg or other.parent != leg.parent or other.status.is_terminal:
                continue
            left = other.request.quantity - quantity
            other.request = replace(other.request, quantity=max(left, other.filled))
            if left <= other.filled:
                lines.append(ati.cancel(ati.order_id(key)))
            else:
                lines.append(ati.change(ati.order_id(key), quantity=left))
        if lines:
            self.write(lines)


__all__ = ["AtiConnector", "default_folder"]
