"""Executors wired to a venue that plays the broker (or NinjaTrader), for the conformance suite and
``bench execution``: each executor, each wired to one venue: a ``SimBroker`` that plays the broker (or NinjaTrader).

Every harness offers the same handful of operations, so one conformance suite drives them all:

- ``start(url, token, accounts)`` / ``stop()``: run the executor against the hub;
- ``quote(contract, bid, ask)``: the market moves at the venue (resting orders may fill);
- ``offline_trade(account, contract, side, qty)``: the venue's position changes without the executor being
  able to report a fill (a trade made while the executor was not running);
- ``restart()``: stop the executor process/task and start a fresh one (its memory is gone, the venue's is not).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from enigma_apex.adapters.brokers.ati import AtiConnector
from enigma_apex.adapters.brokers.paper import PaperConnector
from enigma_apex.adapters.brokers.projectx import ProjectXConnector
from enigma_apex.adapters.brokers.rithmic import RithmicConnector
from enigma_apex.adapters.brokers.runner import ExecutorRunner
from enigma_apex.adapters.brokers.tradovate import TradovateConnector
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.bench.venues import mono, projectx_server, rithmic_server, tradovate_server
from enigma_apex.bench.venues.ninjatrader_files import FakeNinjaTrader
from enigma_apex.bench.venues.projectx_server import FakeProjectX
from enigma_apex.bench.venues.rithmic_server import FakeRithmic
from enigma_apex.bench.venues.tradovate_server import FakeTradovate
from enigma_apex.config.models import PaperSection, ProjectXSection, RithmicSection, TradovateSection
from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, format_symbol, parse_symbol
from enigma_apex.execution import ati
from enigma_apex.execution.events import BrokerEvent, FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.market import Tick
from enigma_apex.execution.sim import SimAccount, SimBroker


def now() -> datetime:
    return datetime.now(UTC)


_MANUAL = itertools.count(1)


def manual_order(account: str, contract: Contract, side: Side, quantity: int) -> OrderRequest:
    """A market order placed at the venue by hand, not through the hub."""
    return OrderRequest(f"manual-{next(_MANUAL)}", account, contract, side, quantity)


class _RunnerHarness:
    """A Python connector under the shared ``ExecutorRunner``; subclasses say how to build the connector."""

    flatten_after_s: float | None = None
    url = token = ""

    def __init__(self) -> None:
        self.runner: ExecutorRunner | None = None
        self.task: asyncio.Task[None] | None = None

    def connector_for_run(self) -> Any:
        raise NotImplementedError

    async def _run(self) -> None:
        self.runner = ExecutorRunner(
            self.connector_for_run(), self.url, self.token, heartbeat_s=1.0, update_hz=10,
            flatten_after_disconnect_s=self.flatten_after_s,
        )  # fmt: skip
        self.task = asyncio.create_task(self.runner.run())
        await asyncio.wait_for(self.runner.client.connected.wait(), 10)

    async def restart(self) -> None:
        """A fresh executor (its memory gone) on the same venue."""
        await self._stop_runner()
        await self._run()

    async def _stop_runner(self) -> None:
        if self.runner is not None and self.task is not None:
            await self.runner.stop()
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class PaperHarness(_RunnerHarness):
    name = "paper"

    def __init__(self, folder: Path, flatten_after_s: float | None = None) -> None:
        super().__init__()
        self.flatten_after_s = flatten_after_s
        self.connector: PaperConnector | None = None

    def venue_key(self, key: str) -> str:
        return key

    @property
    def venue(self) -> SimBroker:
        if self.connector is None:
            raise RuntimeError("not started")
        return self.connector.sim

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token = url, token
        self.connector = PaperConnector(accounts, PaperSection(), SystemClock(), market=False)
        await self._run()

    def connector_for_run(self) -> PaperConnector:
        if self.connector is None:
            raise RuntimeError("not started")
        return self.connector  # the same engine across restarts: the venue keeps its orders

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        if self.connector is None:
            raise RuntimeError("not started")
        self.connector.tick([Tick(None, contract, bid, ask, ask)])

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self.venue.place(manual_order(account, contract, side, quantity), now())

    async def stop(self) -> None:
        await self._stop_runner()


class PaperProcessHarness:
    """The paper executor as ``enigma-apex up`` runs it: a process of its own (spawned), its journal a file in
    the data folder, the hub reached over loopback. ``bench execution`` times the paper round trip through it, so
    the executor's work does not share the hub's event loop and interpreter lock (the in-process ``PaperHarness``
    serves the conformance suite, which drives the venue directly)."""

    name = "paper"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._context = multiprocessing.get_context("spawn")  # the same on Windows; nothing inherited
        self._commands: Any = self._context.Queue()
        self._connected: Any = self._context.Event()
        self._process: Any = None

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = (url, token, {a: str(b) for a, b in accounts.items()}, str(self.folder), self._commands, self._connected)
        self._process = self._context.Process(target=_paper_child, args=args, name="bench-paper", daemon=True)
        self._process.start()
        deadline = asyncio.get_running_loop().time() + 60
        while not self._connected.is_set():
            if not self._process.is_alive() or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the paper executor process did not connect (exit code {self._process.exitcode})")
            await asyncio.sleep(0.02)

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        self._commands.put(("quote", format_symbol(contract), str(bid), str(ask)))

    async def stop(self) -> None:
        if self._process is None:
            return
        self._commands.put(("stop",))
        await asyncio.to_thread(self._process.join, 15)
        if self._process.is_alive():
            self._process.kill()


def _paper_child(url: str, token: str, accounts: dict[str, str], folder: str, commands: Any, connected: Any) -> None:
    from enigma_apex.adapters.brokers.journal import Journal

    async def main() -> None:
        connector = PaperConnector(
            {a: Decimal(b) for a, b in accounts.items()}, PaperSection(), SystemClock(), market=False
        )
        runner = ExecutorRunner(
            connector, url, token, heartbeat_s=1.0, update_hz=10, journal=Journal(Path(folder) / "paper-journal.jsonl")
        )
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.client.connected.wait(), 30)
        connected.set()
        while True:
            command = await asyncio.to_thread(commands.get)
            if command[0] == "stop":
                break
            _kind, symbol, bid, ask = command
            contract = parse_symbol(symbol, on=now().date())
            connector.tick([Tick(None, contract, Decimal(bid), Decimal(ask), Decimal(ask))])
        await runner.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


class AtiHarness(_RunnerHarness):
    """The ATI connector writing real files to a temporary folder; ``FakeNinjaTrader`` reads and answers them."""

    name = "ati"

    def __init__(self, folder: Path, poll_ms: int = 10) -> None:
        super().__init__()
        self.poll_ms = poll_ms
        self.folder = folder
        self.venue = SimBroker({}, id_prefix="NT")
        self.nt = FakeNinjaTrader(folder, self.venue)

    def venue_key(self, key: str) -> str:
        return ati.order_id(key)

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token, self.accounts = url, token, accounts
        for name, balance in accounts.items():
            self.venue.accounts[name] = SimAccount(name, balance)
        self.nt_task = asyncio.create_task(self.nt.run())
        await self._run()

    def connector_for_run(self) -> AtiConnector:
        return AtiConnector(dict(self.accounts), self.folder, SystemClock(), name="nt8", poll_ms=self.poll_ms)

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        self.nt.publish(self.venue.set_quote(contract, bid, ask, now()))

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        # a manual trade in NinjaTrader while the connector is down: a position file changes
        self.nt.publish(self.venue.place(manual_order(account, contract, side, quantity), now()))

    async def stop(self) -> None:
        await self._stop_runner()
        self.nt_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.nt_task


class TradovateHarness(_RunnerHarness):
    """The Tradovate connector (REST + WebSocket) against ``FakeTradovate`` on loopback."""

    name = "tradovate"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.venue = SimBroker({}, id_prefix="TV")
        self.fake = FakeTradovate(self.venue, {})

    def venue_key(self, key: str) -> str:
        return str(self.fake.cl_ord[key])

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token, self.accounts = url, token, accounts
        for number, (name, balance) in enumerate(accounts.items()):
            self.venue.accounts[name] = SimAccount(name, balance)
            self.fake.account_ids[name] = 101 + number  # Tradovate's own account ids
            self.fake.names[101 + number] = name
        self.rest_url, self.ws_url = await self.fake.start()
        await self._run()

    def settings(self) -> TradovateSection:
        return TradovateSection(
            name="nt8", username=tradovate_server.USER, password=tradovate_server.PASSWORD, rest_url=self.rest_url,
            ws_url=self.ws_url, cid=1, sec="s3cret",
        )  # fmt: skip

    def connector_for_run(self) -> TradovateConnector:
        return TradovateConnector(self.settings(), list(self.accounts), SystemClock())

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        await self.fake.publish(self.venue.set_quote(contract, bid, ask, now()))

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        # a position carried in from before: no fill of today's to explain it
        self.venue.place(manual_order(account, contract, side, quantity), now())

    async def stop(self) -> None:
        await self._stop_runner()
        await self.fake.stop()


class RithmicHarness(_RunnerHarness):
    """The Rithmic connector (order, PnL and ticker plants) against ``FakeRithmic`` on loopback."""

    name = "rithmic"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.venue = SimBroker({}, id_prefix="RT")
        self.fake = FakeRithmic(self.venue, [])
        self.connector: RithmicConnector | None = None

    def venue_key(self, key: str) -> str:
        return self.fake.by_tag[key]

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token, self.accounts = url, token, accounts
        for name, balance in accounts.items():
            self.venue.accounts[name] = SimAccount(name, balance)
            self.fake.account_ids.append(name)
        self.gateway_url = await self.fake.start()
        await self._run()

    def settings(self) -> RithmicSection:
        return RithmicSection(
            name="nt8", gateway_url=self.gateway_url, system_name=rithmic_server.SYSTEM, user=rithmic_server.USER,
            password=rithmic_server.PASSWORD,
        )  # fmt: skip

    def connector_for_run(self) -> RithmicConnector:
        self.connector = RithmicConnector(self.settings(), list(self.accounts), SystemClock())
        return self.connector

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        await self.fake.quote(contract, bid, ask)

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self.venue.place(manual_order(account, contract, side, quantity), now())

    async def stop(self) -> None:
        await self._stop_runner()
        await self.fake.stop()


class ProjectXHarness(_RunnerHarness):
    """The ProjectX connector (REST + SignalR user and market hubs) against ``FakeProjectX`` on loopback."""

    name = "projectx"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.venue = SimBroker({}, id_prefix="PX")
        self.fake = FakeProjectX(self.venue, {})
        self.connector: ProjectXConnector | None = None

    def venue_key(self, key: str) -> str:
        return next(str(order_id) for (_, tag), order_id in self.fake.tags.items() if tag == key)

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token, self.accounts = url, token, accounts
        for number, (name, balance) in enumerate(accounts.items()):
            self.venue.accounts[name] = SimAccount(name, balance)
            self.fake.account_ids[name] = 4001 + number  # ProjectX's own account ids
            self.fake.names[4001 + number] = name
        self.api_url, self.user_hub, self.market_hub = await self.fake.start()
        await self._run()

    def settings(self) -> ProjectXSection:
        return ProjectXSection(
            name="nt8", api_url=self.api_url, user_hub_url=self.user_hub, market_hub_url=self.market_hub,
            username=projectx_server.USER, api_key=projectx_server.API_KEY,
        )  # fmt: skip

    def connector_for_run(self) -> ProjectXConnector:
        self.connector = ProjectXConnector(self.settings(), list(self.accounts), SystemClock())
        return self.connector

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        await self.fake.quote(contract, bid, ask)

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self.venue.place(manual_order(account, contract, side, quantity), now())

    async def stop(self) -> None:
        await self._stop_runner()
        await self.fake.stop()


class CSharpHarness:
    """The C# protocol client (ExecutorSession + HubConnection) under Mono; this test plays NinjaTrader's
    accounts for it over stdin/stdout with a ``SimBroker``."""

    name = "csharp"

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.venue = SimBroker({}, id_prefix="NT")
        self.extra_env = env or {}
        self.flattens: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.statuses: list[str] = []

    def venue_key(self, key: str) -> str:
        return key

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        mono.require()
        self.url, self.token, self.accounts = url, token, accounts
        for name, balance in accounts.items():
            self.venue.accounts[name] = SimAccount(name, balance)
        await self._run()

    async def _run(self) -> None:
        exe = await asyncio.to_thread(mono.host_exe)
        env = {**os.environ, "ENIGMA_APEX_TOKEN": self.token, **self.extra_env}
        self.connected = asyncio.Event()
        self.proc = await asyncio.create_subprocess_exec(
            "mono", str(exe), self.url, ",".join(self.accounts), env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), 30)

    async def _read(self) -> None:
        if self.proc is None or self.proc.stdout is None:
            raise RuntimeError("not started")
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            op = message["op"]
            if op == "status":
                self.statuses.append(message["text"])
                if message["text"] == "connected":
                    self.connected.set()
                continue
            answer, events = self._apply(message)
            self._write({"op": "result", "id": message["id"], **answer})
            self._events(events)

    def _write(self, message: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None:
            raise RuntimeError("not started")
        self.proc.stdin.write((json.dumps(message, default=str) + "\n").encode())

    def _apply(self, message: dict[str, Any]) -> tuple[dict[str, Any], list[BrokerEvent]]:
        at = now()
        op = message["op"]
        if op == "place":
            o = message["order"]
            if o["key"] in self.venue.orders:  # NinjaTrader's account knows its order names: never placed twice
                return {"accepted": True, "reason": "already placed"}, []
            bracket = None
            if o["bracket_stop"] is not None or o["bracket_target"] is not None:
                bracket = Bracket(_dec(o["bracket_stop"]), _dec(o["bracket_target"]))
            request = OrderRequest(
                o["key"], o["account"], parse_symbol(o["symbol"], on=at.date()), Side(o["side"]), int(o["quantity"]),
                OrderType(o["order_type"]), _dec(o["limit_price"]), _dec(o["stop_price"]), bracket,
                TimeInForce(o["tif"]),
            )  # fmt: skip
            events = self.venue.place(request, at)
            first = events[0]
            if isinstance(first, OrderEvent) and first.status is OrderStatus.REJECTED:
                return {"accepted": False, "reason": first.reason}, []
            return {"accepted": True, "reason": ""}, events
        if op == "cancel":
            events = self.venue.cancel(message["key"], at)
            first = events[0]
            ok = isinstance(first, OrderEvent) and first.status is OrderStatus.CANCELLED
            return {"accepted": ok, "reason": getattr(first, "reason", "") if not ok else ""}, events
        if op == "flatten":
            self.flattens.append(message["account"])
            return {"accepted": True, "reason": ""}, self.venue.flatten(message["account"], at)
        if op == "positions":
            held = [
                {"symbol": format_symbol(p.contract), "quantity": p.quantity, "average_price": str(p.average_price)}
                for p in self.venue.positions(message["account"])
            ]
            return {"positions": held}, []
        state = self.venue.account_state(message["account"])
        return {"balance": str(state.balance), "realized": str(state.realized_pnl), "open": str(state.open_pnl)}, []

    def _events(self, events: list[BrokerEvent]) -> None:
        for event in events:
            if isinstance(event, FillEvent):
                self._write({"op": "event", "kind": "fill", "fill_id": event.fill_id, "key": event.key,
                             "account": event.account, "symbol": format_symbol(event.contract),
                             "side": event.side.value, "quantity": event.quantity, "price": str(event.price),
                             "commission": str(event.commission),
                             "executed_at": event.executed_at.isoformat()})  # fmt: skip
            elif isinstance(event, OrderEvent):
                self._write({"op": "event", "kind": "order", "key": event.key, "account": event.account,
                             "status": event.status.value, "filled": event.filled_quantity,
                             "average_price": None if event.average_price is None else str(event.average_price),
                             "broker_id": event.broker_order_id, "reason": event.reason})  # fmt: skip
            elif isinstance(event, PositionEvent):
                self._write({"op": "event", "kind": "position", "account": event.account,
                             "symbol": format_symbol(event.contract), "quantity": event.quantity,
                             "average_price": _text(event.average_price)})  # fmt: skip

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        self._events(self.venue.set_quote(contract, bid, ask, now()))

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self.venue.place(manual_order(account, contract, side, quantity), now())

    async def drop(self) -> None:
        self._write({"op": "drop"})

    async def restart(self) -> None:
        await self._stop_process()
        await self._run()

    async def _stop_process(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ConnectionError):
            self._write({"op": "quit"})
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader

    async def stop(self) -> None:
        await self._stop_process()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


HARNESSES = {
    "paper": PaperHarness, "ati": AtiHarness, "tradovate": TradovateHarness, "rithmic": RithmicHarness,
    "projectx": ProjectXHarness, "csharp": CSharpHarness,
}  # fmt: skip
