"""The WebSocket server: thin glue between ``websockets`` and the gateway service."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from enigma_apex.app.gateway import CLOSE_AUTH, GatewayService, Peer

log = structlog.get_logger("enigma_apex.ws")

HARD_FRAME_LIMIT = 1024 * 1024  # frames above the protocol's 64 KiB get an error; above this the socket closes


def _tls(gateway: GatewayService) -> ssl.SSLContext | None:
    cfg = gateway.settings.gateway
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return context


async def start(gateway: GatewayService) -> Server:
    cfg = gateway.settings.gateway
    gateway.loop = asyncio.get_running_loop()

    async def handler(connection: ServerConnection) -> None:
        address = str(connection.remote_address[0]) if connection.remote_address else "?"

        async def close(code: int, reason: str) -> None:
            await connection.close(code, reason)

        peer = Peer(address=address, send_text=connection.send, close=close)
        writer = asyncio.create_task(gateway.drain(peer))
        try:
            try:
                first = await asyncio.wait_for(connection.recv(), cfg.hello_timeout_s)
            except TimeoutError:
                await connection.close(CLOSE_AUTH, "hello timeout")
                return
            if not await gateway.authenticate(peer, first):
                await asyncio.sleep(0)  # let the writer send the error
                await _flush(peer)
                await connection.close(CLOSE_AUTH, "authentication failed")
                return
            async for frame in connection:
                await gateway.on_frame(peer, frame)
                if peer.closed:
                    break
        except ConnectionClosed:
            pass
        finally:
            await gateway.disconnected(peer)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer

    return await serve(
        handler,
        cfg.host,
        cfg.port,
        max_size=HARD_FRAME_LIMIT,
        compression=None,
        ping_interval=20,
        ping_timeout=20,
        ssl=_tls(gateway),
    )


async def _flush(peer: Peer) -> None:
    for _ in range(50):
        if not peer.fifo:
            return
        await asyncio.sleep(0.01)


def bound_port(server: Server) -> int:
    sockets: Any = server.sockets
    return int(sockets[0].getsockname()[1])
