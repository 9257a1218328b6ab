"""`enigma-apex bench pipeline`: a TradingView webhook POST over real HTTP (uvicorn on loopback) until the
resulting ``order.place`` reaches a connected executor over the real WebSocket gateway; with the AI analyst
off (the deterministic scorer decides) and with a loopback OpenAI-compatible model answering after a delay.
Entries and exits alternate and the executor fills each order, so every alert is planned against the position the
last one left. The reversal figure runs the real paper broker as the executor: a strategy reversal alert until
the paper broker receives the new entry (the close sent, filled, reported, the entry planned and sent).

The clock is fixed on a Tuesday at 10:00 New York so the gate sees an open market whenever the bench runs.
Everything shares one process, so the figures include the client's own work and are upper bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from enigma_apex import bootstrap
from enigma_apex.adapters import ws_server
from enigma_apex.adapters.brokers.paper import PaperConnector
from enigma_apex.adapters.brokers.runner import ExecutorRunner, Result
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.store import repository, tokens
from enigma_apex.adapters.store import schema as s
from enigma_apex.app.service import HubService
from enigma_apex.bench.gateway import filled
from enigma_apex.bench.loopback_model import loopback_model
from enigma_apex.bench.stats import summary_ms
from enigma_apex.client import new_id, now
from enigma_apex.config.models import PaperSection, Settings
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution.events import OrderRequest
from enigma_apex.execution.market import Tick
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode

TRADING_HOURS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SECRET = "bench-webhook-secret-5d1c"  # noqa: S105 - a throwaway secret for a loopback-only bench


def run(alerts: int = 200, ai_alerts: int = 30, model_delay_ms: float = 200, reversals: int = 100) -> dict[str, Any]:
    results: dict[str, Any] = {"ai_off": asyncio.run(_run(alerts, None))}
    results["reversal"] = asyncio.run(_reversals(reversals))
    with loopback_model() as model:
        model.delay = model_delay_ms / 1000
        results["ai_loopback_model"] = {
            **asyncio.run(_run(ai_alerts, model.base_url)),
            "model_delay_ms": model_delay_ms,
        }
    results["path"] = "webhook POST sent -> parsed, analysed, gated, sized, stored -> order.place at the executor"
    results["targets"] = {"ai_off_p99_ms": 10, "ai_loopback_p99_ms": 250}
    results["reversal_path"] = (
        "reversal alert POST sent -> close planned, stored, sent -> filled by the paper broker -> fill recorded -> "
        "entry planned, sized, stored, sent -> entry received by the paper broker"
    )
    return results


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the bench owns the process
        pass


def _settings(folder: str, ai: dict[str, Any], executor: str, *, analyse: bool = True) -> Settings:
    return Settings.model_validate(
        {
            "groups": {"default": {"analyse": analyse}},
            "hub": {"data_dir": str(Path(folder) / "data")},
            "gateway": {"port": 0},
            "signals": {"default_mode": "auto", "tradingview_secret": SECRET, "webhook_max_age_s": 3600},
            "ai": ai,
            "sizing": {"base_risk_pct": 20, "min_trades_for_kelly": 10_000},  # round trips that only pay the spread
            "accounts": [
                {
                    "name": "BENCH-1",
                    "profile": "apex4-intraday-eval-50k",
                    "executor": executor,
                    "default_stop_ticks": 40,
                }
            ],
        }
    )


class _Hub:
    """A hub core with its WebSocket gateway and its HTTP server on loopback."""

    def __init__(self, cfg: Settings, clock: ManualClock) -> None:
        self.cfg, self.clock = cfg, clock
        self.store, _ = bootstrap.open_store(cfg, clock)
        guardian = bootstrap.build_guardian(cfg, self.store, clock)
        self.service = HubService(cfg, None, self.store, clock, clock.monotonic(), guardian=guardian)
        self.gateway, self.pipeline = bootstrap.build_gateway(self.service, guardian)

    async def __aenter__(self) -> _Hub:
        self.ws = await ws_server.start(self.gateway)
        self.url = f"ws://127.0.0.1:{ws_server.bound_port(self.ws)}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as the hub
        sock.bind(("127.0.0.1", 0))
        self.http_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(self.service), log_config=None, access_log=False, lifespan="off")
        self.http_server = _Server(config)
        self.serving = asyncio.create_task(self.http_server.serve(sockets=[sock]))
        while not self.http_server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        gc.collect()
        gc.freeze()  # as the hub does once started: what start-up made stays out of every later collector's pass
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.http_server.should_exit = True
        await self.serving
        await self.pipeline.close()
        self.ws.close()
        await self.ws.wait_closed()
        self.store.close()

    def token(self, name: str) -> str:
        return self.store.writer.write(lambda ctx: tokens.create_token(ctx, name=name, role="executor")[0])

    def alert(self, body: dict[str, Any]) -> dict[str, Any]:
        self.clock.advance(timedelta(seconds=1))  # each alert its own time: none is a repeat of another
        return {**body, "time": self.clock.now().isoformat().replace("+00:00", "Z")}


async def _run(alerts: int, model_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        ai: dict[str, Any] = {"enabled": False}
        if model_url is not None:
            ai = {"enabled": True, "base_url": model_url, "model": "loopback", "timeout_s": "1.5"}
        async with _Hub(_settings(folder, ai, "paper"), ManualClock(TRADING_HOURS)) as hub:
            executor = await connect(hub.url, compression=None)
            await executor.send(encode(m.Hello(id=new_id(), ts=now(), token=hub.token("paper"), client="bench-paper")))
            decode(await executor.recv())  # welcome
            latencies: list[float] = []
            entries: list[float] = []
            exits: list[float] = []
            answered_later = 0
            async with httpx.AsyncClient(base_url=hub.http_url) as http:
                for i in range(alerts + 1):  # the first alert warms the path up and is not counted
                    entry = i % 2 == 0
                    body: dict[str, Any] = {"ticker": "MNQ1!", "action": "buy" if entry else "exit", "comment": f"{i}"}
                    if entry:
                        body.update(price=f"{21000 + i}.00", stopLoss={"amount": 20}, quantity=1)
                    start = time.perf_counter()
                    response = await http.post(f"/webhooks/tradingview/{SECRET}", json=hub.alert(body))
                    placed = decode(await executor.recv())
                    elapsed = (time.perf_counter() - start) * 1000
                    # 202: not decided within the webhook's answer time (a loaded machine), stored, then executed
                    if response.status_code not in (200, 202) or not isinstance(placed, m.OrderPlace):
                        raise RuntimeError(f"the alert was not executed: {response.status_code} {response.text}")
                    answered_later += response.status_code == 202
                    ack = m.Ack(id=new_id(), ts=now(), ack=placed.seq, key=placed.key, status="accepted")
                    await executor.send(encode(ack))
                    for report in filled(placed, Decimal(f"{21000 + i}.00")):
                        await executor.send(encode(report))
                    # the connection's frames are handled in order: the pong says the reports were recorded
                    await executor.send(encode(m.Ping(id=new_id(), ts=now())))
                    while not isinstance(decode(await executor.recv()), m.Pong):
                        pass
                    await _settled(hub, placed)
                    if i:
                        latencies.append(elapsed)
                        (entries if entry else exits).append(elapsed)
            with hub.store.engine.connect() as conn:
                sources: dict[str, int] = dict(
                    conn.execute(select(s.analyses.c.source, func.count()).group_by(s.analyses.c.source)).all()
                )
            await executor.close()
    return {
        "alerts": alerts,
        **summary_ms(latencies, 3),
        "entries": summary_ms(entries, 3),
        "exits": summary_ms(exits, 3),
        "analysed_by": sources,
        "answered_before_decided": answered_later,
    }


async def _until(check: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    """Poll ``check`` until it holds; past ``within_s`` the bench stops and says what it was waiting for."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {within_s:.0f} s for {what}")
        await asyncio.sleep(0.0005)


async def _settled(hub: _Hub, order: m.OrderPlace) -> None:
    """Until the hub has recorded the order's fill and its book shows it (the next alert plans against it)."""

    def recorded() -> bool:
        with hub.store.engine.connect() as conn:
            stored = repository.get_order(conn, order.key)
            held = {p.contract: p.quantity for p in repository.list_positions(conn, order.account)}
        filled = stored is not None and stored.status.is_terminal
        return filled and hub.pipeline.guardian.book.positions.get(order.account, {}) == held and not hub.pipeline.waits

    await _until(recorded, "the hub to record the fill")


async def _reversals(count: int) -> dict[str, Any]:
    """Strategy reversals through the real paper broker (its own executor runner over the gateway)."""
    with tempfile.TemporaryDirectory() as folder:
        # not analysed: a hundred losing round trips would make the scorer's hit-rate term skip the entries
        settings = _settings(folder, {"enabled": False}, "paper", analyse=False)
        async with _Hub(settings, ManualClock(TRADING_HOURS)) as hub:
            paper = PaperConnector({"BENCH-1": Decimal(50_000)}, PaperSection(), SystemClock(), market=False)
            received: dict[str, float] = {}
            place = paper.place

            async def timed_place(request: OrderRequest) -> Result:
                received.setdefault(request.key, time.perf_counter())
                return await place(request)

            paper.place = timed_place  # type: ignore[method-assign]
            runner = ExecutorRunner(paper, hub.url, hub.token("paper"), heartbeat_s=1.0, update_hz=20)
            task = asyncio.create_task(runner.run())
            await asyncio.wait_for(runner.client.connected.wait(), 10)
            contract = parse_symbol("MNQ1!", on=TRADING_HOURS.date())
            paper.tick([Tick(None, contract, Decimal("21000.00"), Decimal("21000.25"), Decimal("21000.00"))])
            await _until(lambda: contract in hub.pipeline.quotes, "the paper broker's price at the hub")
            latencies: list[float] = []
            try:
                async with httpx.AsyncClient(base_url=hub.http_url) as http:
                    side = 1
                    first = {"ticker": "MNQ1!", "action": "buy", "sentiment": "long", "quantity": "1"}
                    await _post_and_wait(http, hub, first, received, 1)
                    for _ in range(count):
                        side = -side
                        body = {"ticker": "MNQ1!", "action": "buy" if side > 0 else "sell",
                                "sentiment": "long" if side > 0 else "short", "quantity": "2"}  # fmt: skip
                        latencies.append(await _post_and_wait(http, hub, body, received, side))
            finally:
                await runner.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return {"reversals": count, **summary_ms(latencies, 3)}


async def _post_and_wait(
    http: httpx.AsyncClient, hub: _Hub, body: dict[str, Any], received: dict[str, float], side: int
) -> float:
    """POST the alert; the time until the paper broker received the entry (ms), then until the position is there."""
    start = time.perf_counter()
    response = await http.post(f"/webhooks/tradingview/{SECRET}", json=hub.alert(body))
    if response.status_code != 200:
        raise RuntimeError(f"the alert was refused: {response.status_code} {response.text}")
    signal_id = response.json()["signal_id"]
    key = f"sig:{signal_id}:BENCH-1"
    said = "; ".join(
        f"{d['action']}: {d['reason']} {[v['reason'] for v in d['verdicts']]}" for d in response.json()["decisions"]
    )
    await _until(lambda: key in received, f"the entry of {signal_id} at the paper broker (the hub said: {said})")
    elapsed = (received[key] - start) * 1000

    def arrived() -> bool:
        with hub.store.engine.connect() as conn:
            held = {p.contract.root: p.quantity for p in repository.list_positions(conn, "BENCH-1")}
        return held.get("MNQ") == side and not hub.pipeline.waits

    await _until(arrived, f"the position {side:+d} recorded")
    return elapsed
