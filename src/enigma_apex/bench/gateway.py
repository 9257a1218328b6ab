"""`enigma-apex bench gateway`: broadcast, ingress, order dispatch and the emergency-stop cascade.

Everything runs on loopback. The broadcast, ingress and dispatch clients share the hub's process and event loop
(the bare `websockets` broadcast server runs in the same conditions, which is what the ratio compares). The
signal-to-order and emergency-stop phases run their clients — the signal source, the executors, the dashboard that
presses the stop — in a spawned process of their own, as they are in use (a webhook or the screen reader,
NinjaTrader or an executor process, a browser or a phone): their work does not share the hub's loop and
interpreter lock, and every time is taken on one side, in that process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import broadcast, serve

from enigma_apex import bootstrap
from enigma_apex.adapters import ws_server
from enigma_apex.adapters.store import tokens
from enigma_apex.app.gateway import GatewayService
from enigma_apex.app.service import HubService
from enigma_apex.bench.stats import summary_ms
from enigma_apex.client import new_id, now
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.orders import OrderIntent, Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import ProtocolError, decode, encode

EXECUTORS = 5
BROADCAST_ROUNDS = 3  # each figure is the median of this many runs
WAIT_S = 30.0  # no single step of the bench may wait longer: past it, the bench says what it waited for
TRADING_HOURS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 New York
ACCOUNTS_PER_EXECUTOR = 4


def run(
    broadcast_events: int = 2000,
    updates: int = 2000,
    orders: int = 200,
    stops: int = 20,
    signals: int = 200,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The figures; ``progress`` hears the name of each phase as it starts. Raises ``StalledError`` when a step waits
    past ``WAIT_S``."""
    return asyncio.run(_run(broadcast_events, updates, orders, stops, signals, progress or (lambda _phase: None)))


@dataclass
class LoopbackHub:
    """The hub's core in this process: the store, the guardian and the gateway on a loopback port, with tokens."""

    cfg: Settings
    store: Any
    guardian: Any
    gateway: GatewayService
    secrets: dict[str, str]  # client name -> token
    url: str
    data_dir: Path


@contextlib.asynccontextmanager
async def loopback_hub(accounts: list[dict[str, Any]], clients: list[tuple[str, str]]) -> AsyncIterator[LoopbackHub]:
    """A hub core with these accounts (auto mode, the database in a temporary folder, its clock at ``TRADING_HOURS``)
    and a token per (name, role) in ``clients``. Long-lived objects are frozen out of the collector, as the hub does
    once started."""
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        cfg = Settings.model_validate(
            {
                "hub": {"data_dir": str(data_dir)},
                "gateway": {"port": 0, "max_backlog": 1_000_000},
                "accounts": accounts,
                "signals": {"default_mode": "auto"},
            }
        )
        clock = ManualClock(TRADING_HOURS)  # the gate sees an open market whenever the bench runs
        store, _ = bootstrap.open_store(cfg, clock)
        guardian = bootstrap.build_guardian(cfg, store, clock)
        service = HubService(cfg, None, store, clock, clock.monotonic(), guardian=guardian)
        gateway, _pipeline = bootstrap.build_gateway(service, guardian)
        secrets_ = {name: store.writer.write(_token_op(name, role)) for name, role in clients}
        server = await ws_server.start(gateway)
        gc.collect()
        gc.freeze()
        try:
            url = f"ws://127.0.0.1:{ws_server.bound_port(server)}"
            yield LoopbackHub(cfg, store, guardian, gateway, secrets_, url, data_dir)
        finally:
            server.close()
            await server.wait_closed()
            store.close()


async def _run(
    events: int, updates: int, orders: int, stops: int, signals: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    accounts = [
        {
            "name": f"B{e}-{a}",
            "profile": "apex4-intraday-eval-50k",
            "executor": f"exec{e}",
            "group": "solo" if (e, a) == (0, 0) else "default",
        }
        for e in range(EXECUTORS)
        for a in range(ACCOUNTS_PER_EXECUTOR)
    ]
    tokens = (
        [(f"exec{e}", "executor") for e in range(EXECUTORS)]
        + [(f"dash{i}", "dashboard") for i in range(50)]
        + [("tv", "signal"), ("stop", "dashboard")]
    )
    async with loopback_hub(accounts, tokens) as hub:
        url, gateway, secrets_, cfg = hub.url, hub.gateway, hub.secrets, hub.cfg
        results: dict[str, Any] = {}
        for clients in (10, 50):
            progress(f"broadcast to {clients} clients (ours and bare websockets, alternating)")
            ours_runs, bare_runs = [], []
            for _ in range(BROADCAST_ROUNDS):  # alternating: a burst of load on the machine hits both alike
                ours_runs.append(await _broadcast_ours(url, gateway, secrets_, clients, events))
                bare_runs.append(await _broadcast_bare(clients, events))
            ours, bare = statistics.median(ours_runs), statistics.median(bare_runs)
            results[f"broadcast_{clients}_clients"] = {
                "deliveries_per_s": round(ours),
                "bare_websockets_per_s": round(bare),
                "ratio_to_bare": round(ours / bare, 2),
                "rounds": BROADCAST_ROUNDS,
            }
        progress(f"{updates} account updates in")
        results["account_update_ingress"] = await _ingress(url, secrets_, cfg, updates)
        progress(f"{orders} orders dispatched")
        results["order_dispatch"] = await _orders(url, gateway, secrets_, orders)
        progress(f"{signals} signals to orders")
        results["signal_to_order"] = await in_client_process(_signals, url, secrets_, signals)
        progress(f"{stops} emergency stops")
        results["emergency_stop"] = await in_client_process(_stops, url, secrets_, stops)
    ingress = results["account_update_ingress"]["messages_per_s"]
    results["seed_design_ratios"] = {
        "throughput_vs_1000_msg_s": round(ingress / 1000, 1),
        "signal_to_order_p99_vs_500_ms": round(500 / max(results["signal_to_order"]["p99_ms"], 1e-3), 1),
        "stop_p99_vs_1_s": round(1000 / max(results["emergency_stop"]["p99_ms"], 1e-3), 1),
    }
    results["targets"] = {
        "broadcast_10_clients_per_s": 50000,
        "ratio_to_bare": 0.9,
        "signal_to_order_p99_ms": 5,
        "stop_p99_ms": 20,
    }
    return results


async def in_client_process(phase: Callable[..., Awaitable[dict[str, Any]]], *args: Any) -> dict[str, Any]:
    """Run a bench phase's clients in a spawned process (``phase``: a module-level coroutine function) while this
    loop goes on serving them; its figures come back (a ``StalledError`` there is raised here)."""
    context = multiprocessing.get_context("spawn")  # the same on Windows; nothing inherited from this process
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, _client_main, phase, args)


def _client_main(phase: Callable[..., Awaitable[dict[str, Any]]], args: tuple[Any, ...]) -> dict[str, Any]:
    gc.collect()
    gc.freeze()
    return asyncio.run(phase(*args))  # type: ignore[arg-type]


class StalledError(RuntimeError):
    """A bench step waited past its deadline; the message says for what."""


async def within(awaitable: Any, what: str, seconds: float = WAIT_S) -> Any:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise StalledError(f"waited {seconds:.0f} s for {what}") from None


def _token_op(name: str, role: str) -> Any:
    def op(ctx: Any) -> str:
        return tokens.create_token(ctx, name=name, role=role)[0]

    return op


async def hello(ws: Any, token: str) -> None:
    await ws.send(encode(m.Hello(id=new_id(), ts=now(), token=token, client="bench")))
    await ws.recv()


async def _count_until_end(ws: Any) -> int:
    count = 0
    async for frame in ws:
        if '"end"' in frame:
            return count
        count += 1
    return count


async def _broadcast_ours(
    url: str, gateway: GatewayService, secrets_: dict[str, str], clients: int, events: int
) -> float:
    sockets = [await connect(url, compression=None) for _ in range(clients)]
    for i, ws in enumerate(sockets):
        await hello(ws, secrets_[f"dash{i}"])
        await ws.send(encode(m.Subscribe(id=new_id(), ts=now(), topics=["market"])))
    await asyncio.sleep(0.2)
    counters = [asyncio.create_task(_count_until_end(ws)) for ws in sockets]
    start = time.perf_counter()
    for i in range(events):
        message = m.MarketData(id=f"md{i}", ts=now(), symbol="MNQ 12-26", last=Decimal("21000.25"))
        gateway.broadcast("market", message, None)  # uncoalesced: every event is a delivery
        if i % 50 == 0:
            await asyncio.sleep(0)
    for peer in list(gateway.peers):
        if "market" in peer.topics:
            peer.fifo.append('{"id":"end"}')
            peer.wake.set()
    counted: list[int] = await within(asyncio.gather(*counters), f"the end of the broadcast at {clients} clients")
    received = sum(counted)
    elapsed = time.perf_counter() - start
    for ws in sockets:
        await ws.close()
    await asyncio.sleep(0.1)
    return received / elapsed


async def _broadcast_bare(clients: int, events: int) -> float:
    conns: set[Any] = set()

    async def handler(connection: Any) -> None:
        conns.add(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        sockets = [await connect(f"ws://127.0.0.1:{port}", compression=None) for _ in range(clients)]
        while len(conns) < clients:  # noqa: ASYNC110 - the server handler registers connections
            await asyncio.sleep(0.01)
        counters = [asyncio.create_task(_count_until_end(ws)) for ws in sockets]
        start = time.perf_counter()
        for i in range(events):
            text = encode(m.MarketData(id=f"md{i}", ts=now(), symbol="MNQ 12-26", last=Decimal("21000.25")))
            broadcast(conns, text)
            if i % 50 == 0:
                await asyncio.sleep(0)
        broadcast(conns, '{"id":"end"}')
        counted: list[int] = await within(
            asyncio.gather(*counters), f"the end of the bare broadcast at {clients} clients"
        )
        received = sum(counted)
        elapsed = time.perf_counter() - start
        for ws in sockets:
            await ws.close()
    return received / elapsed


async def _ingress(url: str, secrets_: dict[str, str], cfg: Settings, updates: int) -> dict[str, Any]:
    sockets = [await connect(url, compression=None) for _ in range(EXECUTORS)]
    for e, ws in enumerate(sockets):
        await hello(ws, secrets_[f"exec{e}"])

    async def feed(e: int, ws: Any) -> None:
        names = [a.name for a in cfg.accounts if a.executor == f"exec{e}"]
        for i in range(updates // EXECUTORS):
            balance = Decimal(50000 + (i % 40) * 5)
            await ws.send(
                encode(m.AccountUpdate(id=new_id(), ts=now(), account=names[i % len(names)], balance=balance))
            )
        await ws.send(encode(m.Ping(id="fin", ts=now())))
        async for frame in ws:
            if '"pong"' in frame:
                break

    start = time.perf_counter()
    await within(asyncio.gather(*(feed(e, ws) for e, ws in enumerate(sockets))), "the account updates' pongs")
    elapsed = time.perf_counter() - start
    for ws in sockets:
        await ws.close()
    await asyncio.sleep(0.1)
    return {"executors": EXECUTORS, "messages": updates, "messages_per_s": round(updates / elapsed)}


async def _orders(url: str, gateway: GatewayService, secrets_: dict[str, str], orders: int) -> dict[str, Any]:
    ws = await connect(url, compression=None)
    await hello(ws, secrets_["exec0"])
    contract = Contract("MNQ", 2026, 12)
    latencies = []
    for i in range(orders):
        intent = OrderIntent(f"bench-{i}-{new_id()}", "B0-0", contract, Side.BUY if i % 2 else Side.SELL, 1)
        start = time.perf_counter()
        await gateway.place_order(intent)
        while True:
            message = decode(await within(ws.recv(), f"order.place {intent.idempotency_key}"))
            if isinstance(message, m.OrderPlace) and message.key == intent.idempotency_key:
                break
        latencies.append((time.perf_counter() - start) * 1000)
        await ws.send(encode(m.Ack(id=new_id(), ts=now(), key=intent.idempotency_key, status="accepted")))
        # the venue cancels it (a day order at the close, say): no working order is left to later phases
        await ws.send(encode(m.OrderUpdate(id=new_id(), ts=now(), key=intent.idempotency_key, account="B0-0",
                                           status="cancelled")))  # fmt: skip
    # one connection's frames are handled in order: after the pong every cancel is recorded, so no order of this
    # phase is still working when the signals start
    await ws.send(encode(m.Ping(id="orders-done", ts=now())))
    while not isinstance(decode(await within(ws.recv(), "the pong after the last cancel")), m.Pong):
        pass
    await ws.close()
    return {
        "orders": orders,
        **summary_ms(latencies, 3),
        "path": "stored (committed) -> order.place received by a connected executor",
    }


async def _signals(url: str, secrets_: dict[str, str], signals: int) -> dict[str, Any]:
    """A signal client sends; the executor owning the one account of group `solo` receives the order and fills it.
    Entries and exits alternate, so every signal acts on the position the last one left."""
    executor = await connect(url, compression=None)
    await hello(executor, secrets_["exec0"])
    source = await connect(url, compression=None)
    await hello(source, secrets_["tv"])
    control = await Control.open(url, secrets_["stop"])
    await control.until_active(["B0-0"])
    await control.ws.close()
    latencies = []
    for i in range(signals):
        side = "long" if i % 2 == 0 else "exit"
        stop = Decimal("20980.00") if side == "long" else None
        message = m.SignalMsg(
            id=new_id(), ts=now(), symbol="MNQ 12-26", side=side, entry=Decimal("21000.00"), stop=stop, group="solo"
        )
        frame = encode(message)
        start = time.perf_counter()
        await source.send(frame)
        while True:  # orders of the dispatch phase still unacknowledged are resent first: acknowledge and skip
            placed = decode(await _order_or_why(executor, source, f"the order of signal {i} ({side})"))
            if isinstance(placed, m.OrderCancel):  # as a venue would: the cancel is done
                await executor.send(encode(m.Ack(id=new_id(), ts=now(), key=placed.key, status="accepted")))
                await executor.send(encode(m.OrderUpdate(id=new_id(), ts=now(), key=placed.order_key,
                                                         account=placed.account, status="cancelled")))  # fmt: skip
            elif isinstance(placed, m.OrderPlace):
                await executor.send(encode(m.Ack(id=new_id(), ts=now(), key=placed.key, status="accepted")))
                if placed.key.startswith("sig:"):
                    break
        latencies.append((time.perf_counter() - start) * 1000)
        # the venue fills it (the exits at a profit, so the record the sizer reads stays a winning one): the next
        # signal sees the position
        for report in filled(placed, Decimal("21000.00") if side == "long" else Decimal("21010.00")):
            await executor.send(encode(report))
        # the hub has taken the fill before the next signal (one connection's frames are handled in order): else
        # the next entry rightly waits for this close still in flight, and is decided later
        await executor.send(encode(m.Ping(id=f"sync{i}", ts=now())))
        while not isinstance(decode(await within(executor.recv(), f"the pong after signal {i}'s fill")), m.Pong):
            pass
        decision = decode(await within(source.recv(), f"the decision of signal {i}"))
        if not isinstance(decision, m.DecisionMsg) or decision.action != "take":
            raise RuntimeError(f"bench signal {i} ({side}) was not taken: {decision}")
    await executor.close()
    await source.close()
    return {
        "signals": signals,
        **summary_ms(latencies, 3),
        "path": "signal frame sent -> stored, planned, gated, sized, decision + order committed -> order.place",
    }


async def _order_or_why(executor: Any, source: Any, what: str) -> Any:
    """The executor's next frame; past the deadline, the error names what the signal's decision said, if one came."""
    try:
        return await within(executor.recv(), what)
    except StalledError as exc:
        try:
            said = await asyncio.wait_for(source.recv(), 1.0)
        except TimeoutError:
            said = "no decision either"
        raise StalledError(f"{exc}; the signal source got: {said}") from None


def filled(order: m.OrderPlace, price: Decimal = Decimal("21000.00")) -> list[m.Message]:
    """What an executor reports when the venue fills an order at once: the fill, the order state, the position."""
    return [
        m.FillMsg(
            id=new_id(), ts=now(), fill_id=new_id(), key=order.key, account=order.account, symbol=order.symbol,
            side=order.side, quantity=order.quantity, price=price, executed_at=now(),
        ),
        m.OrderUpdate(
            id=new_id(), ts=now(), key=order.key, account=order.account, status="filled",
            filled_quantity=order.quantity, average_price=price,
        ),
    ]  # fmt: skip


async def _stops(url: str, secrets_: dict[str, str], stops: int) -> dict[str, Any]:
    """A dashboard presses the stop; every executor must receive a flatten for each of its accounts. Then the
    dashboard resumes every account for the next run."""
    sockets = [await connect(url, compression=None) for _ in range(EXECUTORS)]
    for e, ws in enumerate(sockets):
        await hello(ws, secrets_[f"exec{e}"])
    names = [f"B{e}-{a}" for e in range(EXECUTORS) for a in range(ACCOUNTS_PER_EXECUTOR)]
    control = await Control.open(url, secrets_["stop"])
    await control.until_active(names)
    latencies = []
    for run_ in range(stops):

        async def wait_flattens(ws: Any) -> None:
            seen = 0
            while seen < ACCOUNTS_PER_EXECUTOR:
                if isinstance(decode(await ws.recv()), m.Flatten):
                    seen += 1

        waiters = [asyncio.create_task(wait_flattens(ws)) for ws in sockets]
        stop = m.EmergencyStop(id=new_id(), ts=now(), reason="bench")
        start = time.perf_counter()
        await control.ws.send(encode(stop))
        await within(asyncio.gather(*waiters), f"a flatten for every account at every executor (stop {run_})")
        latencies.append((time.perf_counter() - start) * 1000)
        await control.result(stop.id, f"the result of stop {run_}")
        for name in names:
            resume = m.Resume(id=new_id(), ts=now(), account=name)
            await control.ws.send(encode(resume))
            await control.result(resume.id, f"the result of resuming {name}")
        await control.until_active(names)
    for ws in [*sockets, control.ws]:
        await ws.close()
    return {
        "accounts": EXECUTORS * ACCOUNTS_PER_EXECUTOR,
        "executors": EXECUTORS,
        "runs": stops,
        **summary_ms(latencies, 2),
        "path": "emergency.stop frame sent by a dashboard -> HALTED persisted for every account -> flatten received "
        "by every executor",
    }


@dataclass
class Control:
    """A dashboard connection subscribed to risk: it knows every account's last state, and reads the answers to
    the controls it sends."""

    ws: Any
    states: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def open(cls, url: str, token: str) -> Control:
        ws = await connect(url, compression=None)
        await hello(ws, token)
        control = cls(ws)
        subscribe = m.Subscribe(id=new_id(), ts=now(), topics=["risk"])
        await ws.send(encode(subscribe))
        await control.result(subscribe.id, "the answer to subscribe")
        return control

    async def _next(self, what: str) -> m.Message | ProtocolError:
        message = decode(await within(self.ws.recv(), what))
        if isinstance(message, m.RiskUpdate):
            self.states[message.account] = message.state
            self.reasons[message.account] = message.state_reason
        return message

    async def result(self, ref: str, what: str) -> m.Result:
        """The answer to the message ``ref`` (an error frame fails the bench, naming it)."""
        while True:
            message = await self._next(what)
            if isinstance(message, m.Result) and message.ref == ref:
                return message
            if isinstance(message, m.Error) and message.ref == ref:
                raise RuntimeError(f"{what}: {message.code} {message.message}")

    async def until_active(self, names: list[str]) -> None:
        """Until every named account is ACTIVE (an executor that has just said hello clears its accounts' REDUCING
        a moment after its welcome)."""
        while any(self.states.get(name) != "ACTIVE" for name in names):
            waiting = sorted(n for n in names if self.states.get(n) != "ACTIVE")
            states = ", ".join(f"{n} {self.states.get(n, 'unknown')} ({self.reasons.get(n, '')})" for n in waiting[:3])
            await self._next(f"ACTIVE for every account (now: {states})")
