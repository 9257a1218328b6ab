"""The paper broker: the simulated matching engine (``execution/sim.py``) behind the executor protocol.

``enigma-apex paper`` runs it as its own process that connects to the gateway exactly as NinjaTrader does
(``up`` starts it in paper mode). Quotes come from a random walk per instrument or a CSV replay
(``execution/market.py``); accounts, positions and working orders are saved to ``paper-state.json`` in the
data folder after every change, so a restart continues where it stopped (a lost balance would look like a
loss to the compliance guardian).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import structlog

from enigma_apex.adapters.brokers.runner import Emit, Quote, Result
from enigma_apex.adapters.profile_files import load_registry
from enigma_apex.config.models import PaperSection, Settings
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.instruments import instrument
from enigma_apex.domain.orders import OrderStatus
from enigma_apex.domain.symbols import Contract, front_contract
from enigma_apex.execution.events import AccountState, BrokerEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.market import RandomWalk, Tick, parse_replay
from enigma_apex.execution.protection import Leg, leg_kind
from enigma_apex.execution.sim import SimBroker

log = structlog.get_logger(__name__)

SAMPLE_REPLAY = "sample"


def sample_replay_text() -> str:
    return resources.files("enigma_apex.execution").joinpath("data/sample_ticks.csv").read_text(encoding="utf-8")


def paper_accounts(settings: Settings, executor: str = "paper") -> dict[str, Decimal]:
    """Accounts owned by an executor, with their start balances (``[paper] balances`` or the firm's start)."""
    registry = load_registry(settings.rules.profile_dir)
    return {
        entry.name: settings.paper.balances.get(entry.name, registry.get(entry.profile).start)
        for entry in settings.accounts
        if entry.executor == executor
    }


class PaperConnector:
    name = "paper"

    def __init__(
        self,
        accounts: dict[str, Decimal],
        cfg: PaperSection,
        clock: Clock,
        *,
        state_file: Path | None = None,
        replay_text: str | None = None,
        market: bool = True,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.state_file = state_file
        self.sim = SimBroker(
            accounts,
            commissions=cfg.commissions,
            market_slippage_ticks=cfg.market_slippage_ticks,
            stop_slippage_ticks=cfg.stop_slippage_ticks,
            liquidity=cfg.liquidity,
            id_prefix=f"PAPER-{secrets.token_hex(3)}",  # fill ids stay unique across restarts
        )
        today = clock.now().date()
        if state_file is not None and state_file.exists():
            self.sim.restore(json.loads(state_file.read_text(encoding="utf-8")), on=today)
        seed = cfg.seed if cfg.seed is not None else secrets.randbits(32)
        contracts = [front_contract(instrument(root), today) for root in cfg.instruments]
        rng = random.Random(seed)  # noqa: S311 - a simulated market, not cryptography
        self.walk = RandomWalk(contracts, rng, volatility=cfg.volatility, start=cfg.start_prices)
        self.replay_text = replay_text
        self.market = market
        self._emit: Emit | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ Connector
    async def start(self, emit: Emit) -> None:
        self._emit = emit
        if self.market:
            for tick in self.walk.step(0.0):
                self.sim.set_quote(tick.contract, tick.bid, tick.ask, self.clock.now(), tick.last)
            self._task = asyncio.create_task(self._replay() if self.replay_text else self._random_walk())

    async def place(self, request: OrderRequest) -> Result:
        if request.contract not in self.sim.quotes and self.market and not self.replay_text:
            self._start_walk(request.contract)
        events = self.sim.place(request, self.clock.now())
        self._publish(events)
        first = events[0]
        rejected = isinstance(first, OrderEvent) and first.status is OrderStatus.REJECTED
        return Result(not rejected, first.reason if rejected and isinstance(first, OrderEvent) else "")

    async def cancel(self, account: str, key: str) -> Result:
        events = self.sim.cancel(key, self.clock.now())
        self._publish(events)
        first = events[0]
        ok = isinstance(first, OrderEvent) and first.status is OrderStatus.CANCELLED
        return Result(ok, "" if ok else getattr(first, "reason", "not cancelled"))

    async def flatten(self, account: str, *, cancel_working: bool = True) -> Result:
        if account not in self.sim.accounts:
            return Result(False, f"unknown account {account}")
        self._publish(self.sim.flatten(account, self.clock.now(), cancel_working=cancel_working))
        return Result(True)

    def accounts(self) -> list[str]:
        return sorted(self.sim.accounts)

    def protective_legs(self, account: str, contract: Contract) -> list[Leg]:
        legs = []
        for order in self.sim.protective_legs(account, contract):
            kind = leg_kind(order.request.key)
            if kind is not None:
                legs.append(Leg(order.request.key, kind, order.request.side, order.remaining))
        return legs

    async def resize(self, account: str, key: str, quantity: int) -> Result:
        events = self.sim.resize(key, quantity, self.clock.now())
        self._publish(events)
        first = events[0] if events else None
        refused = isinstance(first, OrderEvent) and first.status is OrderStatus.REJECTED
        return Result(not refused, first.reason if isinstance(first, OrderEvent) else "")

    def account_state(self, account: str) -> AccountState | None:
        return self.sim.account_state(account)

    def positions(self, account: str) -> list[PositionEvent]:
        held = {p.contract: p for p in self.sim.positions(account)}
        return [PositionEvent(account, c, p.quantity, p.average_price) for c, p in held.items()]

    def quotes(self) -> list[Quote]:
        return [Quote(c, q.bid, q.ask, q.last) for c, q in self.sim.quotes.items()]

    def health(self) -> tuple[str, str]:
        source = "replay" if self.replay_text else "random walk"
        return "ok", f"{len(self.sim.accounts)} account(s), {len(self.sim.quotes)} instrument(s), {source}"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._save()

    # ------------------------------------------------------------------ market
    def _start_walk(self, contract: Contract) -> None:
        extra = RandomWalk([contract], self.walk.rng, volatility=self.cfg.volatility, start=self.cfg.start_prices)
        self.walk.mid[contract] = extra.mid[contract]
        self.walk.sigma[contract] = extra.sigma[contract]
        for tick in extra.step(0.0):
            self.sim.set_quote(tick.contract, tick.bid, tick.ask, self.clock.now(), tick.last)

    async def _random_walk(self) -> None:
        interval = float(self.cfg.tick_interval_s)
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick(self.walk.step(interval))
            except Exception:  # a failed quote must not stop the market
                log.exception("paper.tick_failed")

    async def _replay(self) -> None:
        assert self.replay_text is not None  # noqa: S101 - only started with a replay
        speed = float(self.cfg.replay_speed)
        while True:  # the file loops
            previous: datetime | None = None
            for tick in self._ticks():
                if previous is not None and tick.at is not None:
                    await asyncio.sleep(max(0.0, (tick.at - previous).total_seconds()) / speed)
                previous = tick.at
                self.tick([tick])
            await asyncio.sleep(0.1)

    def _ticks(self) -> Iterator[Tick]:
        assert self.replay_text is not None  # noqa: S101
        return parse_replay(self.replay_text, on=self.clock.now())

    def tick(self, ticks: list[Tick]) -> None:
        """New quotes: resting orders they reach fill."""
        events: list[BrokerEvent] = []
        for tick in ticks:
            events += self.sim.set_quote(tick.contract, tick.bid, tick.ask, self.clock.now(), tick.last)
        if events:
            self._publish(events)

    def _publish(self, events: list[BrokerEvent]) -> None:
        if self._emit is not None:
            for event in events:
                self._emit(event)
        self._save()

    def _save(self) -> None:
        """Write the state to a temporary file and rename it over the old one (never half a file)."""
        if self.state_file is None:
            return
        temp = self.state_file.with_suffix(".tmp")
        temp.write_text(json.dumps(self.sim.snapshot(), indent=1), encoding="utf-8")
        os.replace(temp, self.state_file)


def load_replay(cfg: PaperSection, base: Path) -> str | None:
    if cfg.replay_file is None:
        return None
    if str(cfg.replay_file) == SAMPLE_REPLAY:
        return sample_replay_text()
    path = cfg.replay_file if cfg.replay_file.is_absolute() else base / cfg.replay_file
    text = path.read_text(encoding="utf-8")
    list(parse_replay(text, on=datetime.now(UTC)))  # a bad file fails at start, naming its line
    return text


__all__ = ["SAMPLE_REPLAY", "PaperConnector", "load_replay", "paper_accounts", "sample_replay_text"]
