"""The WebSocket server: thin glue between ``websockets`` and the gateway service."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from enigma_apex.app.gateway import CLOSE_AUTH, CLOSE_BINARY, GatewayService, Peer

log = structlog.get_logger("enigma_apex.ws")

HARD_FRAME_LIMIT = 1024 * 1024  # frames above the protocol's 64 KiB get an error; above this the socket closes
WRITE_AT_ONCE_BELOW = 64 * 1024  # bytes waiting in a socket's buffer under which a frame is written without a wait


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
            """Send the close frame now; the closing handshake is not waited for longer than a second."""
            with contextlib.suppress(TimeoutError, ConnectionClosed):
                await asyncio.wait_for(asyncio.shield(connection.close(code, reason)), 1.0)

        async def probe(within_s: float) -> bool:
            """A WebSocket ping answered within ``within_s``: the connection is alive."""
            try:
                waiter = await connection.ping()
                await asyncio.wait_for(waiter, within_s)
            except (TimeoutError, ConnectionClosed):
                return False
            return True

        def send_now(texts: Sequence[str]) -> bool:
            """Write the frames now, in one write to the socket, without a wait, while the socket keeps up (as
            websockets' broadcast writes: through the connection's protocol); False when its buffer is over the mark
            or it is not open, and nothing was written: the caller awaits ``send``, which waits for the buffer."""
            transport = connection.transport
            if connection.protocol.state is not State.OPEN or transport.get_write_buffer_size() >= WRITE_AT_ONCE_BELOW:
                return False
            for text in texts:
                connection.protocol.send_text(text.encode())
            transport.writelines([data for data in connection.protocol.data_to_send() if data])
            return True

        peer = Peer(address=address, send_text=connection.send, close=close, probe=probe, send_now=send_now)
        writer = asyncio.create_task(gateway.drain(peer))
        try:
            try:
                first = await asyncio.wait_for(connection.recv(), cfg.hello_timeout_s)
            except TimeoutError:
                await close(CLOSE_AUTH, "hello timeout")
                return
            if isinstance(first, bytes):
                await close(CLOSE_BINARY, "text frames only: the protocol is JSON text")
                return
            if not await gateway.authenticate(peer, first):
                await _flush(peer)
                await close(*(peer.closing or (CLOSE_AUTH, "authentication failed")))
                return
            async for frame in connection:
                if isinstance(frame, bytes):
                    peer.closing = (CLOSE_BINARY, "text frames only: the protocol is JSON text")
                else:
                    await gateway.on_frame(peer, frame)
                if peer.closing is not None:  # the frames queued before it go first
                    await _flush(peer)
                    peer.closed = True
                    await close(*peer.closing)
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
        open_timeout=cfg.handshake_timeout_s,  # a connection that never finishes its handshake is closed
        ssl=_tls(gateway),
    )


async def _flush(peer: Peer) -> None:
    """Until the frames queued for the peer have been written (at most half a second)."""
    for _ in range(50):
        await asyncio.sleep(0)  # the writer takes its turn
        if not peer.fifo and not peer.batch and not peer.sending:
            return
        await asyncio.sleep(0.01)


def bound_port(server: Server) -> int:
    sockets: Any = server.sockets
    return int(sockets[0].getsockname()[1])
