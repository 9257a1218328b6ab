"""An asyncio client for the hub's WebSocket gateway (used by executors, the CLI, the dashboard, tests).

It authenticates with ``hello``, sends a ``ping`` every heartbeat, reconnects with exponential
backoff and jitter after any drop, and tells the hub on reconnect the last order-flow ``seq`` it
processed (``resume_seq``); the hub then re-sends whatever was not acknowledged.

As an executor (``executor=True``) it also keeps the idempotency keys of the order-flow messages it
has passed on (the most recent ``keys_kept``): a key that comes again is answered with
``ack status=duplicate`` and never reaches the handler, so a resend cannot place an order twice.
The handler acknowledges first deliveries itself (``accepted`` or ``rejected``). ``on_connect`` runs after
every ``welcome``, before any message is passed on (an executor reports its positions there).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import ProtocolError, decode, encode

Handler = Callable[[m.Message], Awaitable[None] | None]


def new_id() -> str:
    return secrets.token_hex(8)


def now() -> datetime:
    return datetime.now(UTC)


class HubClient:
    def __init__(
        self,
        url: str,
        token: str,
        name: str,
        on_message: Handler | None = None,
        *,
        heartbeat_s: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        ssl: Any = None,
        executor: bool = False,
        keys_kept: int = 100_000,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.name = name
        self.on_message = on_message
        self.heartbeat_s = heartbeat_s
        self.backoff = backoff
        self.ssl = ssl
        self.last_seq: int | None = None
        self.welcome: m.Welcome | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self._ws: ClientConnection | None = None
        self._stopping = False
        self.executor = executor
        self.keys_kept = keys_kept
        self.seen_keys: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0
        self.on_connect = on_connect
        self._jitter = random.Random()  # noqa: S311 - reconnect jitter, not cryptography; never the shared generator
        # one identity for this client's every reconnect: the hub replaces our own half-open connection at once,
        # and refuses another client with the same executor token (IN_USE) while we are connected
        self.instance = secrets.token_hex(8) if executor else None

    async def run(self) -> None:
        """Connect, and reconnect after every drop, until ``stop``."""
        delay = self.backoff[0]
        while not self._stopping:
            try:
                async with connect(self.url, ssl=self.ssl, compression=None, max_size=1024 * 1024) as ws:
                    self._ws = ws
                    await ws.send(
                        encode(
                            m.Hello(
                                id=new_id(),
                                ts=now(),
                                token=self.token,
                                client=self.name,
                                resume_seq=self.last_seq,
                                instance=self.instance,
                            )
                        )
                    )
                    first = decode(await ws.recv())
                    if not isinstance(first, m.Welcome):
                        raise PermissionError(getattr(first, "message", "authentication refused"))
                    self.welcome = first
                    self.connections += 1
                    self.connected.set()
                    delay = self.backoff[0]
                    beat = asyncio.create_task(self._heartbeat(ws))
                    try:
                        if self.on_connect is not None:
                            await self.on_connect()
                        async for frame in ws:
                            message = decode(frame)
                            if isinstance(message, ProtocolError):
                                continue
                            if message.seq:
                                self.last_seq = max(self.last_seq or 0, message.seq)
                            if self.executor and await self._duplicate(ws, message):
                                continue
                            if self.on_message is not None:
                                result = self.on_message(message)
                                if asyncio.iscoroutine(result):
                                    await result
                    finally:
                        beat.cancel()
            except PermissionError:
                raise
            except (OSError, ConnectionClosed, TimeoutError):
                pass
            finally:
                self._ws = None
                self.connected.clear()
            if self._stopping:
                break
            await asyncio.sleep(delay * (0.5 + self._jitter.random()))
            delay = min(delay * 2, self.backoff[1])

    async def _duplicate(self, ws: ClientConnection, message: m.Message) -> bool:
        """True (and acknowledged as a duplicate) when this order-flow key was passed on before."""
        if not isinstance(message, m.OrderPlace | m.OrderCancel | m.Flatten):
            return False
        if message.key in self.seen_keys:
            self.duplicates += 1
            ack = m.Ack(id=new_id(), ts=now(), ack=message.seq, key=message.key, status="duplicate")
            await ws.send(encode(ack))
            return True
        self.seen_keys[message.key] = None
        while len(self.seen_keys) > self.keys_kept:
            self.seen_keys.popitem(last=False)
        return False

    async def _heartbeat(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self.heartbeat_s)
                await ws.send(encode(m.Ping(id=new_id(), ts=now())))

    async def send(self, message: m.Message) -> None:
        await self.connected.wait()
        if self._ws is None:
            raise ConnectionError("not connected")
        try:
            await self._ws.send(encode(message))
        except ConnectionClosed as exc:
            raise ConnectionError(f"connection closed: {exc}") from exc

    async def send_all(self, messages: Sequence[m.Message]) -> bool:
        """Send several messages in one write to the socket (one frame each): the hub reads them together, where
        frames written one by one can reach it one by one. False when the connection failed: then none of them
        counts as sent (a resend is safe: the hub records each report once)."""
        frames = [encode(message).encode() for message in messages]
        await self.connected.wait()
        ws = self._ws
        if ws is None:
            return False
        try:
            async with ws.send_context():  # websockets' way to write frames from user code (it checks the state)
                for frame in frames:
                    ws.protocol.send_text(frame)
                # the frames' bytes in one write to the socket (written one by one, the first can reach the hub and
                # be handled while the others are still on their way); nothing is left for the context to write
                ws.transport.writelines(ws.protocol.data_to_send())
        except (ConnectionClosed, OSError):
            return False
        return True

    async def drop(self) -> None:
        """Close the TCP connection abruptly (tests of reconnect)."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
