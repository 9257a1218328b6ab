"""A subscribed client in a process of its own, for ``bench execution``: it times when each order's broadcasts reach it.

Run as ``python -m enigma_apex.bench.watcher URL TOKEN``. It signs in as an observer, subscribes to ``orders``, prints
``ready``, then one JSON line per order once the order's fill has reached it: ``{"key": …, "seen": {step: t}}``, where
``t`` is ``time.perf_counter()`` when the frame was read. That clock is the machine's monotonic counter
(``CLOCK_MONOTONIC`` on Linux and macOS, ``QueryPerformanceCounter`` on Windows), the same in every process, so the
bench compares it with its own. One line per order and nothing while the order is in flight: the bench reads the
pipe after the fill, never while the hub is recording it.

A dashboard or a phone is a client of its own: timing the broadcast in a client that shares the hub's interpreter
would count the hub's work after the fill (the book's refresh, the guardian) against the client's reading.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

from enigma_apex.client import new_id, now
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode


async def watch(url: str, token: str) -> None:
    async with connect(url, compression=None, max_size=None) as hub:
        await hub.send(encode(m.Hello(id=new_id(), ts=now(), token=token, client="bench-watcher")))
        welcome = decode(await hub.recv())
        if not isinstance(welcome, m.Welcome):
            raise SystemExit(f"the hub did not sign the watcher in: {welcome}")
        await hub.send(encode(m.Subscribe(id=new_id(), ts=now(), topics=["orders"])))
        print("ready", flush=True)
        seen: dict[str, dict[str, float]] = {}
        async for frame in hub:
            at = time.perf_counter()
            message = decode(frame)
            if isinstance(message, m.OrderUpdate):
                seen.setdefault(message.key, {}).setdefault(f"{message.status}_recorded", at)
            elif isinstance(message, m.FillMsg):
                steps = seen.pop(message.key, {})
                steps["fill_recorded"] = at
                print(json.dumps({"key": message.key, "seen": steps}), flush=True)


def main() -> None:
    url, token = sys.argv[1], sys.argv[2]
    asyncio.run(watch(url, token))


if __name__ == "__main__":
    main()
