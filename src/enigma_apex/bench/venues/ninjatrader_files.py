"""Plays NinjaTrader's ATI for the conformance suite and ``bench execution``:
it reads the Order Instruction Files the connector writes to
``incoming`` (deleting each, as NinjaTrader does), applies them to a ``SimBroker`` and writes the documented
outgoing files — ``<ORDER ID>.txt`` for orders placed with an ORDER ID, ``<Instrument> <Exchange>_<Account>_
Position.txt`` for positions and ``<Connection>.txt``."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from enigma_apex.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution import ati
from enigma_apex.execution.events import BrokerEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.sim import SimBroker

NT_STATES = {
    OrderStatus.ACCEPTED: "Accepted",
    OrderStatus.WORKING: "Working",
    OrderStatus.PARTIALLY_FILLED: "PartFilled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.REJECTED: "Rejected",
}
TYPES = {
    "MARKET": OrderType.MARKET,
    "LIMIT": OrderType.LIMIT,
    "STOP": OrderType.STOP,
    "STOPLIMIT": OrderType.STOP_LIMIT,
}


def now() -> datetime:
    return datetime.now(UTC)


class FakeNinjaTrader:
    def __init__(self, folder: Path, venue: SimBroker) -> None:
        self.incoming = folder / "incoming"
        self.outgoing = folder / "outgoing"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.outgoing.mkdir(parents=True, exist_ok=True)
        self.venue = venue
        self.lines: list[str] = []  # every instruction line read, in order
        self.with_id: set[str] = set()
        self._n = 0
        (self.outgoing / "Simulated Data Feed.txt").write_text("CONNECTED", encoding="ascii")

    async def run(self) -> None:
        while True:
            self.process()
            await asyncio.sleep(0.005)

    def process(self) -> None:
        for path in sorted(self.incoming.glob("oif*.txt")):
            text = path.read_text(encoding="ascii")
            path.unlink()
            for line in text.splitlines():
                if line:
                    self.lines.append(line)
                    self.apply(ati.parse_line(line))

    def apply(self, ins: ati.Instruction) -> None:
        at = now()
        if ins.command == "PLACE":
            self._n += 1
            oid = ins.order or f"NT-{self._n}"
            if ins.order:
                self.with_id.add(oid)
            request = OrderRequest(
                oid, ins.account, parse_symbol(ins.instrument, on=at.date()), Side(ins.action.lower()), ins.quantity,
                TYPES[ins.order_type], ins.limit_price, ins.stop_price, tif=TimeInForce(ins.tif.lower()),
            )  # fmt: skip
            events = self.venue.place(request, at)
            if ins.oco and oid in self.venue.orders:
                self.venue.orders[oid].oco = ins.oco
            self.publish(events)
        elif ins.command == "CANCEL":
            if ins.order in self.venue.orders:
                self.publish(self.venue.cancel(ins.order, at))
        elif ins.command == "CHANGE":
            order = self.venue.orders.get(ins.order)
            if order is not None and ins.quantity:
                order.request = replace(order.request, quantity=ins.quantity)
                self.publish([order.event()])
        elif ins.command == "CLOSEPOSITION":
            contract = parse_symbol(ins.instrument, on=at.date())
            events = []
            for order in self.venue.working(ins.account):
                if order.request.contract == contract:
                    events += self.venue.cancel(order.request.key, at)
            for position in self.venue.positions(ins.account):
                if position.contract == contract:
                    self._n += 1
                    side = Side.SELL if position.quantity > 0 else Side.BUY
                    close = OrderRequest(f"NT-close-{self._n}", ins.account, contract, side, abs(position.quantity))
                    events += self.venue.place(close, at)
            self.publish(events)
        elif ins.command == "FLATTENEVERYTHING":
            for account in self.venue.accounts:
                self.publish(self.venue.flatten(account, at))
        else:
            raise AssertionError(f"unexpected ATI command {ins.command}")

    def publish(self, events: list[BrokerEvent]) -> None:
        for event in events:
            if isinstance(event, OrderEvent) and event.key in self.with_id:
                average = "0" if event.average_price is None else ati.price_text(event.average_price)
                self._write(f"{event.key}.txt", f"{NT_STATES[event.status]};{event.filled_quantity};{average}")
            elif isinstance(event, PositionEvent):
                q = event.quantity
                side = "FLAT" if q == 0 else ("LONG" if q > 0 else "SHORT")
                average = "0" if event.average_price is None else ati.price_text(event.average_price)
                self._write(ati.position_file_name(event.contract, event.account), f"{side};{abs(q)};{average}")

    def _write(self, name: str, text: str) -> None:
        temp = self.outgoing / (name + ".part")
        temp.write_text(text, encoding="ascii")
        os.replace(temp, self.outgoing / name)
