"""The scenario host (``ninjatrader/tests/ScenarioHost.cs``) under Mono: the real AddOn and Strategy inside the
faithful fake of NinjaTrader 8 (``ninjatrader/fake``). A test plays NinjaTrader's user and market through it."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

from enigma_apex.bench.venues import mono

MNQ = "MNQ 12-26"


class NinjaHost:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: asyncio.subprocess.Process | None = None
        self.ids = itertools.count(1)
        self.lock = asyncio.Lock()

    async def __aenter__(self) -> NinjaHost:
        exe = await asyncio.to_thread(mono.scenario_exe)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            "mono", str(exe), str(self.folder / "NinjaTrader 8") + "/",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await self.do("instrument", name=MNQ, tick=0.25, point=2)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            await asyncio.wait_for(self.do("quit", answer=False), 5)
            await asyncio.wait_for(self.proc.wait(), 10)
        except (TimeoutError, ConnectionError, RuntimeError):
            self.proc.kill()
            await self.proc.wait()

    async def do(self, op: str, *, answer: bool = True, **fields: Any) -> dict[str, Any]:
        """One command; its answer (an ``error`` in it fails the test)."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        async with self.lock:
            ident = next(self.ids)
            self.proc.stdin.write((json.dumps({"op": op, "id": ident, **fields}) + "\n").encode())
            await self.proc.stdin.drain()
            if not answer:
                return {}
            line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
            if not line:
                raise RuntimeError(f"the NinjaTrader process ended (exit {await self.proc.wait()}) during {op}")
            reply = json.loads(line)
        assert "error" not in reply, (op, reply["error"])
        return reply  # type: ignore[no-any-return]

    async def state(self) -> dict[str, Any]:
        return await self.do("state")

    async def account(self, name: str) -> dict[str, Any]:
        return (await self.state())["accounts"][name]  # type: ignore[no-any-return]

    async def until(self, check: Any, what: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll the host's state until ``check(state)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.state()
            if check(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {json.dumps(state)[:3000]}")
            await asyncio.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


def held(state: dict[str, Any], account: str, symbol: str = MNQ) -> int:
    return int(state["accounts"][account]["positions"].get(symbol, 0))


def working(state: dict[str, Any], account: str) -> list[dict[str, Any]]:
    return state["accounts"][account]["working"]  # type: ignore[no-any-return]


def legs(state: dict[str, Any], account: str, kind: str) -> int:
    """The working quantity of the hub's protective legs of one kind (``:stop`` / ``:target``)."""
    return sum(int(o["quantity"]) - int(o["filled"]) for o in working(state, account) if o["name"].endswith(kind))
