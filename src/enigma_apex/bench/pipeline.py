"""`enigma-apex bench pipeline`: a TradingView webhook POST over real HTTP (uvicorn on loopback) until the
resulting ``order.place`` reaches a connected executor over the real WebSocket gateway; with the AI analyst
off (the deterministic scorer decides) and with a loopback OpenAI-compatible model answering after a delay.

The clock is fixed on a Tuesday at 10:00 New York so the gate sees an open market whenever the bench runs.
Everything shares one process, so the figures include the client's own work and are upper bounds.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from enigma_apex import bootstrap
from enigma_apex.adapters import ws_server
from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store import tokens
from enigma_apex.app.service import HubService
from enigma_apex.bench.loopback_model import loopback_model
from enigma_apex.bench.stats import summary_ms
from enigma_apex.client import new_id, now
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import ManualClock
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode

TRADING_HOURS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SECRET = "bench-webhook-secret-5d1c"  # noqa: S105 - a throwaway secret for a loopback-only bench


def run(alerts: int = 200, ai_alerts: int = 30, model_delay_ms: float = 200) -> dict[str, Any]:
    results: dict[str, Any] = {"ai_off": asyncio.run(_run(alerts, None))}
    with loopback_model() as model:
        model.delay = model_delay_ms / 1000
        results["ai_loopback_model"] = {
            **asyncio.run(_run(ai_alerts, model.base_url)),
            "model_delay_ms": model_delay_ms,
        }
    results["path"] = "webhook POST sent -> parsed, analysed, gated, sized, stored -> order.place at the executor"
    results["targets"] = {"ai_off_p99_ms": 10, "ai_loopback_p99_ms": 250}
    return results


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the bench owns the process
        pass


async def _run(alerts: int, model_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        ai: dict[str, Any] = {"enabled": False}
        if model_url is not None:
            ai = {"enabled": True, "base_url": model_url, "model": "loopback", "timeout_s": "1.5"}
        cfg = Settings.model_validate(
            {
                "hub": {"data_dir": str(Path(folder) / "data")},
                "gateway": {"port": 0},
                "signals": {"default_mode": "auto", "tradingview_secret": SECRET, "webhook_max_age_s": 3600},
                "ai": ai,
                "accounts": [{"name": "BENCH-1", "profile": "apex4-intraday-eval-50k", "executor": "paper"}],
            }
        )
        clock = ManualClock(TRADING_HOURS)
        store, _ = bootstrap.open_store(cfg, clock)
        guardian = bootstrap.build_guardian(cfg, store, clock)
        service = HubService(cfg, None, store, clock, clock.monotonic(), guardian=guardian)
        gateway, pipeline = bootstrap.build_gateway(service, guardian)
        token = store.writer.write(lambda ctx: tokens.create_token(ctx, name="paper", role="executor")[0])
        ws = await ws_server.start(gateway)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as the hub
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        http_server = _Server(uvicorn.Config(create_app(service), log_config=None, access_log=False, lifespan="off"))
        serving = asyncio.create_task(http_server.serve(sockets=[sock]))
        while not http_server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        try:
            executor = await connect(f"ws://127.0.0.1:{ws_server.bound_port(ws)}", compression=None)
            await executor.send(encode(m.Hello(id=new_id(), ts=now(), token=token, client="bench-paper")))
            decode(await executor.recv())  # welcome
            latencies: list[float] = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                for i in range(alerts + 1):  # the first alert warms the path up and is not counted
                    alert = {
                        "ticker": "MNQ1!",
                        "action": "buy" if i % 2 == 0 else "sell",
                        "price": f"{21000 + i}.00",
                        "stopLoss": {"amount": 20},
                        "time": clock.now().isoformat().replace("+00:00", "Z"),
                        "comment": f"bench {i}",
                    }
                    start = time.perf_counter()
                    response = await http.post(f"/webhooks/tradingview/{SECRET}", json=alert)
                    placed = decode(await executor.recv())
                    elapsed = (time.perf_counter() - start) * 1000
                    if response.status_code != 200 or not isinstance(placed, m.OrderPlace):
                        raise RuntimeError(f"the alert was not executed: {response.status_code} {response.text}")
                    ack = m.Ack(id=new_id(), ts=now(), ack=placed.seq, key=placed.key, status="accepted")
                    await executor.send(encode(ack))
                    if i:
                        latencies.append(elapsed)
            with store.engine.connect() as conn:
                sources: dict[str, int] = dict(
                    conn.execute(select(s.analyses.c.source, func.count()).group_by(s.analyses.c.source)).all()
                )
            await executor.close()
        finally:
            http_server.should_exit = True
            await serving
            await pipeline.close()
            ws.close()
            await ws.wait_closed()
            store.close()
    return {"alerts": alerts, **summary_ms(latencies, 3), "analysed_by": sources}
