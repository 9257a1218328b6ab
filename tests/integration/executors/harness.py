"""Executors under test, each wired to one venue: a ``SimBroker`` that plays the broker (or NinjaTrader).

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
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from enigma_apex.adapters.brokers.ati import AtiConnector
from enigma_apex.adapters.brokers.paper import PaperConnector
from enigma_apex.adapters.brokers.runner import ExecutorRunner
from enigma_apex.adapters.brokers.tradovate import TradovateConnector
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.config.models import PaperSection, TradovateSection
from enigma_apex.domain.orders import Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.execution import ati
from enigma_apex.execution.events import OrderRequest
from enigma_apex.execution.market import Tick
from enigma_apex.execution.sim import SimAccount, SimBroker
from tests.integration.executors import fake_tradovate
from tests.integration.executors.fake_ninjatrader import FakeNinjaTrader
from tests.integration.executors.fake_tradovate import FakeTradovate


def now() -> datetime:
    return datetime.now(UTC)


class PaperHarness:
    name = "paper"

    def __init__(self, folder: Path) -> None:
        self.connector: PaperConnector | None = None
        self.runner: ExecutorRunner | None = None
        self.task: asyncio.Task[None] | None = None
        self._manual = 0

    def venue_key(self, key: str) -> str:
        return key

    @property
    def venue(self) -> SimBroker:
        assert self.connector is not None
        return self.connector.sim

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token = url, token
        self.connector = PaperConnector(accounts, PaperSection(), SystemClock(), market=False)
        await self._run()

    async def _run(self) -> None:
        assert self.connector is not None
        self.runner = ExecutorRunner(self.connector, self.url, self.token, heartbeat_s=1.0, update_hz=10)
        self.task = asyncio.create_task(self.runner.run())
        await asyncio.wait_for(self.runner.client.connected.wait(), 10)

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        assert self.connector is not None
        self.connector.tick([Tick(None, contract, bid, ask, ask)])

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self._manual += 1
        self.venue.place(OrderRequest(f"manual-{self._manual}", account, contract, side, quantity), now())

    async def restart(self) -> None:
        await self._stop_runner()
        await self._run()

    async def _stop_runner(self) -> None:
        if self.runner is not None and self.task is not None:
            await self.runner.stop()
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def stop(self) -> None:
        await self._stop_runner()


class AtiHarness:
    """The ATI connector writing real files to a temporary folder; ``FakeNinjaTrader`` reads and answers them."""

    name = "ati"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.venue = SimBroker({}, id_prefix="NT")
        self.nt = FakeNinjaTrader(folder, self.venue)
        self.runner: ExecutorRunner | None = None
        self.task: asyncio.Task[None] | None = None
        self._manual = 0

    def venue_key(self, key: str) -> str:
        return ati.order_id(key)

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token, self.accounts = url, token, accounts
        for name, balance in accounts.items():
            self.venue.accounts[name] = SimAccount(name, balance)
        self.nt_task = asyncio.create_task(self.nt.run())
        await self._run()

    async def _run(self) -> None:
        self.connector = AtiConnector(dict(self.accounts), self.folder, SystemClock(), name="nt8", poll_ms=10)
        self.runner = ExecutorRunner(self.connector, self.url, self.token, heartbeat_s=1.0, update_hz=10)
        self.task = asyncio.create_task(self.runner.run())
        await asyncio.wait_for(self.runner.client.connected.wait(), 10)

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        self.nt.publish(self.venue.set_quote(contract, bid, ask, now()))

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self._manual += 1  # a manual trade in NinjaTrader while the connector is down: a position file changes
        self.nt.publish(
            self.venue.place(OrderRequest(f"manual-{self._manual}", account, contract, side, quantity), now())
        )

    async def restart(self) -> None:
        await self._stop_runner()
        await self._run()

    async def _stop_runner(self) -> None:
        if self.runner is not None and self.task is not None:
            await self.runner.stop()
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def stop(self) -> None:
        await self._stop_runner()
        self.nt_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.nt_task


class TradovateHarness:
    """The Tradovate connector (REST + WebSocket) against ``FakeTradovate`` on loopback."""

    name = "tradovate"

    def __init__(self, folder: Path) -> None:
        self.venue = SimBroker({}, id_prefix="TV")
        self.fake = FakeTradovate(self.venue, {"A1": 101, "A2": 102})
        self.runner: ExecutorRunner | None = None
        self.task: asyncio.Task[None] | None = None
        self._manual = 0

    def venue_key(self, key: str) -> str:
        return str(self.fake.cl_ord[key])

    async def start(self, url: str, token: str, accounts: dict[str, Decimal]) -> None:
        self.url, self.token, self.accounts = url, token, accounts
        for name, balance in accounts.items():
            self.venue.accounts[name] = SimAccount(name, balance)
        self.rest_url, self.ws_url = await self.fake.start()
        await self._run()

    def settings(self) -> TradovateSection:
        return TradovateSection(
            name="nt8", username=fake_tradovate.USER, password=fake_tradovate.PASSWORD, rest_url=self.rest_url,
            ws_url=self.ws_url, cid=1, sec="s3cret",
        )  # fmt: skip

    async def _run(self) -> None:
        self.connector = TradovateConnector(self.settings(), list(self.accounts), SystemClock())
        self.runner = ExecutorRunner(self.connector, self.url, self.token, heartbeat_s=1.0, update_hz=10)
        self.task = asyncio.create_task(self.runner.run())
        await asyncio.wait_for(self.runner.client.connected.wait(), 10)

    async def quote(self, contract: Contract, bid: Decimal, ask: Decimal) -> None:
        await self.fake.publish(self.venue.set_quote(contract, bid, ask, now()))

    async def offline_trade(self, account: str, contract: Contract, side: Side, quantity: int) -> None:
        self._manual += 1  # a position carried in from before: no fill of today's to explain it
        self.venue.place(OrderRequest(f"manual-{self._manual}", account, contract, side, quantity), now())

    async def restart(self) -> None:
        await self._stop_runner()
        await self._run()

    async def _stop_runner(self) -> None:
        if self.runner is not None and self.task is not None:
            await self.runner.stop()
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def stop(self) -> None:
        await self._stop_runner()
        await self.fake.stop()


HARNESSES = {"paper": PaperHarness, "ati": AtiHarness, "tradovate": TradovateHarness}
