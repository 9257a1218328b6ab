"""`enigma-apex bench execution`: how long an order takes through each executor, over loopback.

**Order round trip** (per executor): the hub stores an order and sends ``order.place``; the executor places it
at its venue (the paper broker's engine; NinjaTrader's ATI folders played by a test double; Tradovate's REST and
WebSocket, Rithmic's protobuf plants and ProjectX's REST and SignalR hubs each played by a loopback server built
from the published specification; the C# protocol client under Mono with the venue behind stdin/stdout),
acknowledges it, and reports the fill, which the hub stores and broadcasts. Timed from ``place_order`` to the
fill's broadcast reaching a subscribed client — a process of its own, as a dashboard is (``bench/watcher.py``).
Market orders of one contract, alternately buy and sell, each after a random pause of up to 50 ms (so no order is
in step with a poll).

**ATI file round trip**: the connector writes an Order Instruction File, the NinjaTrader double reads it and
writes the order-state file, the connector's next poll reads it (``ati.poll_ms`` as configured, 50 ms).

CrossTrade publishes 34 ms for its add-on path and 194 ms for its older OIF path (webhook received → instruction
at the add-on; integrations.md §4 [C9]); the paths differ from ours, so the ratios are a rough comparison only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from enigma_apex import bootstrap
from enigma_apex.adapters import ws_server
from enigma_apex.adapters.brokers.ati import AtiConnector
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.store import tokens
from enigma_apex.app.service import HubService
from enigma_apex.bench.stats import summary_ms
from enigma_apex.bench.venues import mono
from enigma_apex.bench.venues.harness import HARNESSES, AtiHarness, PaperProcessHarness, now
from enigma_apex.bench.venues.ninjatrader_files import FakeNinjaTrader
from enigma_apex.config.models import AtiSection, Settings
from enigma_apex.domain.instruments import instrument
from enigma_apex.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import front_contract
from enigma_apex.execution.events import BrokerEvent, OrderEvent, OrderRequest
from enigma_apex.execution.sim import SimBroker

CROSSTRADE_ADDON_MS = 34  # [C9]
CROSSTRADE_OIF_MS = 194  # [C9]
KINDS = ("paper", "ati", "tradovate", "rithmic", "projectx", "csharp")
PAUSE_S = 0.05  # a random pause of up to 50 ms before each order, so no order is in step with a poll


def run(
    orders: int = 200, kinds: tuple[str, ...] = KINDS, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The figures; ``progress`` hears each executor's name as its round trips start."""
    tell = progress or (lambda _phase: None)
    results: dict[str, Any] = {"orders": orders, "round_trip": {}}
    for kind in kinds:
        if kind == "csharp" and not mono.available():
            results["round_trip"][kind] = {"skipped": "Mono is not installed (apt install mono-devel)"}
            continue
        tell(f"{orders} orders through {kind}")
        results["round_trip"][kind] = asyncio.run(_round_trips(kind, orders))
    tell(f"{orders} ATI file round trips")
    results["ati_file_round_trip"] = asyncio.run(_ati_files(orders, AtiSection().poll_ms))
    addon = results["round_trip"].get("csharp", {}).get("p50_ms")
    results["published"] = {"crosstrade_addon_ms": CROSSTRADE_ADDON_MS, "crosstrade_oif_ms": CROSSTRADE_OIF_MS}
    results["ratio_to_published"] = {
        "csharp_addon_p50_vs_34ms": None if addon is None else round(addon / CROSSTRADE_ADDON_MS, 3),
        "ati_p50_vs_194ms": round(results["round_trip"]["ati"]["p50_ms"] / CROSSTRADE_OIF_MS, 3)
        if "ati" in results["round_trip"]
        else None,
    }
    return results


async def _round_trips(kind: str, orders: int) -> dict[str, Any]:
    rng = random.Random(7)  # noqa: S311 - timing jitter, not cryptography
    with tempfile.TemporaryDirectory() as folder:
        cfg = Settings.model_validate(
            {
                "hub": {"data_dir": str(Path(folder) / "data")},
                "gateway": {"port": 0, "heartbeat_timeout_s": 60},
                "accounts": [{"name": "BENCH-1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}],
            }
        )
        clock = SystemClock()
        store, _ = bootstrap.open_store(cfg, clock)
        guardian = bootstrap.build_guardian(cfg, store, clock)
        service = HubService(cfg, None, store, clock, clock.monotonic(), guardian=guardian)
        gateway, pipeline = bootstrap.build_gateway(service, guardian)
        executor_token = store.writer.write(lambda ctx: tokens.create_token(ctx, name="nt8", role="executor")[0])
        watcher_token = store.writer.write(lambda ctx: tokens.create_token(ctx, name="bench", role="observer")[0])
        server = await ws_server.start(gateway)
        url = f"ws://127.0.0.1:{ws_server.bound_port(server)}"
        harness: Any
        if kind == "ati":
            harness = AtiHarness(Path(folder) / kind, poll_ms=AtiSection().poll_ms)  # as shipped
        elif kind == "paper":
            harness = PaperProcessHarness(Path(folder) / kind)  # a process of its own, as `up` runs it
        else:
            harness = HARNESSES[kind](Path(folder) / kind)
        contract = front_contract(instrument("MNQ"), clock.now().date())
        try:
            await harness.start(url, executor_token, {"BENCH-1": Decimal(50000)})
            await harness.quote(contract, Decimal("21000.00"), Decimal("21000.25"))
            watcher = await _start_watcher(url, watcher_token)
            gc.collect()
            gc.freeze()  # as the hub does once started
            try:
                latencies: list[float] = []
                phases: dict[str, list[float]] = {}  # when each step of the order was recorded, from the start
                for i in range(orders + 1):  # the first order warms the path up and is not counted
                    key = f"bench-{kind}-{i}"
                    side = Side.BUY if i % 2 == 0 else Side.SELL
                    await asyncio.sleep(rng.uniform(0, PAUSE_S))  # orders arrive at random moments
                    start = time.perf_counter()
                    await gateway.place_order(OrderIntent(key, "BENCH-1", contract, side, 1, OrderType.MARKET))
                    seen = {"stored_and_sent": time.perf_counter()}
                    while True:
                        line = await asyncio.wait_for(watcher.stdout.readline(), 30)  # type: ignore[union-attr]
                        if not line:
                            raise RuntimeError(f"the watcher process exited (code {await watcher.wait()})")
                        heard = json.loads(line)
                        if heard["key"] == key:
                            seen.update(heard["seen"])
                            break
                    if i:
                        latencies.append((seen["fill_recorded"] - start) * 1000)
                        for step, at in seen.items():
                            phases.setdefault(step, []).append((at - start) * 1000)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    watcher.kill()
                await watcher.wait()
        finally:
            await harness.stop()
            await pipeline.close()
            server.close()
            await server.wait_closed()
            store.close()
    steps = sorted(phases.items(), key=lambda item: sorted(item[1])[len(item[1]) // 2])
    return {
        **summary_ms(latencies, 2),
        "path": "place_order -> order.place -> venue fill -> fill stored and broadcast",
        # each step's time from place_order, as the subscribed client sees it broadcast once recorded
        "steps_ms": {step: summary_ms(times, 2) for step, times in steps},
    }


async def _start_watcher(url: str, token: str) -> asyncio.subprocess.Process:
    """The subscribed client, in a process of its own; returns once it is signed in and subscribed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enigma_apex.bench.watcher", url, token, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None  # noqa: S101 - asked for above
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise RuntimeError(f"the watcher process did not sign in (exit code {await process.wait()})")
    return process


async def _ati_files(orders: int, poll_ms: int) -> dict[str, Any]:
    rng = random.Random(7)  # noqa: S311 - timing jitter, not cryptography
    with tempfile.TemporaryDirectory() as folder:
        venue = SimBroker({"BENCH-1": Decimal(50000)}, id_prefix="NT")
        contract = front_contract(instrument("MNQ"), now().date())
        venue.set_quote(contract, Decimal("21000.00"), Decimal("21000.25"), now())
        nt = FakeNinjaTrader(Path(folder), venue)
        nt_task = asyncio.create_task(nt.run())
        connector = AtiConnector({"BENCH-1": Decimal(50000)}, Path(folder), SystemClock(), poll_ms=poll_ms)
        seen: asyncio.Queue[BrokerEvent] = asyncio.Queue()
        await connector.start(seen.put_nowait)
        latencies: list[float] = []
        try:
            for i in range(orders + 1):
                key = f"file-{i}"
                side = Side.BUY if i % 2 == 0 else Side.SELL
                await asyncio.sleep(rng.uniform(0, poll_ms / 1000))  # not in step with the poll
                start = time.perf_counter()
                await connector.place(OrderRequest(key, "BENCH-1", contract, side, 1))
                while True:
                    event = await asyncio.wait_for(seen.get(), 30)
                    if isinstance(event, OrderEvent) and event.key == key and event.status is OrderStatus.FILLED:
                        break
                if i:
                    latencies.append((time.perf_counter() - start) * 1000)
        finally:
            await connector.close()
            nt_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nt_task
    path = "OIF written -> read by NinjaTrader's side -> order-state file -> read by the connector's poll"
    return {**summary_ms(latencies, 2), "poll_ms": poll_ms, "files_written": connector.files_written, "path": path}


__all__ = ["KINDS", "run"]
