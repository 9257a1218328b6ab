"""A real hub core on a real WebSocket server (port 0) for integration tests: gateway, guardian, pipeline."""

from __future__ import annotations

import asyncio
import inspect
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import connect

from enigma_apex import bootstrap
from enigma_apex.adapters import ws_server
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.store import integrity, tokens
from enigma_apex.app.service import HubService
from enigma_apex.client import new_id, now
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import Clock
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode
from tests.integration.hubproc import IN_SESSION

ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"},
    {"name": "A2", "profile": "topstep-combine-50k", "executor": "nt8"},
    {"name": "A3", "profile": "apex4-eod-eval-50k", "executor": "other"},
]


def in_session_clock() -> SystemClock:
    """A running clock that starts on a Tuesday at 10:00 New York time: every firm's session is open, whatever the
    hour or the day the tests run (at 16:50 New York time entries are refused before the close, at 17:30 the
    market is shut, and on a Sunday it is closed)."""
    return SystemClock(IN_SESSION - datetime.now(UTC))


@asynccontextmanager
async def running_hub(
    tmp_path, clock: Clock | None = None, accounts=None, signals=None, extra=None, *, present=(), **gateway
):
    """``extra``: more top-level configuration sections (``ai``, ``groups``, ``ocr``, ...). ``present``: executors
    that connect (and stay connected, silent) as the hub starts — an account whose executor never connected is
    REDUCING."""
    cfg = Settings.model_validate(
        {
            "hub": {"data_dir": str(tmp_path / "data")},
            "gateway": {"port": 0, **gateway},
            "signals": signals or {},
            "accounts": ACCOUNTS if accounts is None else accounts,
            **(extra or {}),
        }
    )
    clock = clock or in_session_clock()
    store, _ = bootstrap.open_store(cfg, clock)
    guardian = bootstrap.build_guardian(cfg, store, clock)
    service = HubService(cfg, None, store, clock, clock.monotonic(), guardian=guardian)
    gateway_service, _pipeline = bootstrap.build_gateway(service, guardian)
    made = {}
    for name, role, expires in (
        ("nt8", "executor", None),
        ("other", "executor", None),
        ("tv", "signal", None),
        ("dash", "dashboard", None),
        ("obs", "observer", None),
        ("old", "dashboard", clock.now() - timedelta(days=1)),
    ):
        made[name] = store.writer.write(
            lambda ctx, n=name, r=role, e=expires: tokens.create_token(ctx, name=n, role=r, expires_at=e)
        )[0]
    for name in present:
        if name not in made:
            made[name] = store.writer.write(lambda ctx, n=name: tokens.create_token(ctx, name=n, role="executor"))[0]
    server = await ws_server.start(gateway_service)
    watchdog = asyncio.create_task(gateway_service.watchdog())
    url = f"ws://127.0.0.1:{ws_server.bound_port(server)}"
    sockets = []
    try:
        for name in present:
            ws = await connect(url)
            sockets.append(ws)
            await login(ws, made[name])
            waiting = f"executor:{name}"
            await eventually(
                lambda w=waiting: all(w not in t.reducing_reasons for t in guardian.trackers.values()),
                what=f"{name} registered",
            )
        yield url, made, gateway_service, store, guardian
    finally:
        for ws in sockets:
            await ws.close()
        watchdog.cancel()
        await gateway_service.pipeline.close()
        server.close()
        await server.wait_closed()
        with store.engine.connect() as conn:  # every row the hub trusts was sealed when it was written
            unsealed = integrity.verify_seals(conn) if store.writer.healthy else []
        store.close()
    assert not unsealed, unsealed[:5]


async def eventually(check: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Wait until ``check()`` (a function or a coroutine function) returns something true; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def hello(token: str, name: str = "test", instance: str | None = None) -> str:
    return encode(m.Hello(id=new_id(), ts=now(), token=token, client=name, instance=instance))


async def recv(ws: Any, kind: str | None = None, timeout: float = 5.0) -> Any:
    while True:
        message = decode(await asyncio.wait_for(ws.recv(), timeout))
        if kind is None or getattr(message, "type", None) == kind:
            return message


async def login(ws: Any, token: str, instance: str | None = None) -> Any:
    """Authenticate a connected client; returns the welcome."""
    await ws.send(hello(token, instance=instance))
    return await recv(ws, "welcome")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def until_closed(ws: Any, timeout: float = 5.0) -> tuple[list[Any], int | None]:
    """Every message received until the hub closes the connection, and the close code it sent."""
    from websockets.exceptions import ConnectionClosed

    received: list[Any] = []
    try:
        while True:
            received.append(decode(await asyncio.wait_for(ws.recv(), timeout)))
    except ConnectionClosed as closed:
        return received, None if closed.rcvd is None else closed.rcvd.code
