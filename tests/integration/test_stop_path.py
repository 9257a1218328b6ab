"""The stop path, over every interleaving of: an entry placed (never acknowledged), the executor disconnecting, an
emergency stop (or a breach that FAILS the account), the executor reconnecting, and the hub restarting.

Whatever the order: once the account is stopped, no entry for it ever reaches an executor (on any connection, before
or after a restart); the entry it had not acknowledged is cancelled in the database, never resent; and on every
connection after the stop the first order-flow message for the account is its flatten."""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import repository
from enigma_apex.client import new_id, now
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.orders import OrderIntent, OrderPurpose, OrderStatus, Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, login, recv, running_hub

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
MNQ = Contract("MNQ", 2026, 12)
ACCOUNTS = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]
FLOW = ("order.place", "order.cancel", "flatten")


def orders() -> list[tuple[str, ...]]:
    """Every order of the four events in which a reconnect follows a disconnect, with a restart (while the
    executor is away) or not."""
    out = []
    for perm in itertools.permutations(("place", "disconnect", "stop", "reconnect")):
        if perm.index("disconnect") > perm.index("reconnect"):
            continue
        out.append(perm)
        at = perm.index("disconnect") + 1  # the hub restarts while the executor is away
        out.append((*perm[:at], "restart", *perm[at:]))
    return out


class Executor:
    """A silent executor: receives, never acknowledges; records what arrives on each connection."""

    def __init__(self) -> None:
        self.connections: list[list[m.Message]] = []
        self.ws = None

    async def connect(self, url: str, token: str) -> None:
        self.ws = await connect(url)
        await login(self.ws, token)
        self.connections.append([])

    async def read_all(self) -> None:
        """Everything delivered so far on this connection (a pong ends it: the frames before it were handled)."""
        await self.ws.send(encode(m.Ping(id=new_id(), ts=now())))
        while True:
            message = await recv(self.ws)
            if message.type == "pong":
                return
            if message.type in FLOW:
                self.connections[-1].append(message)

    async def drop(self) -> None:
        await self.read_all()
        await self.ws.close()
        self.ws = None


@pytest.mark.parametrize("how", ["halted", "failed"])
@pytest.mark.parametrize("events", orders(), ids=lambda e: "-".join(e))
def test_a_stopped_account_never_receives_an_entry_and_hears_its_flatten_first(tmp_path, events, how):
    async def scenario():
        clock = ManualClock(NOW)
        executor = Executor()
        stopped_on: int | None = None  # the index of the connection that the stop concerns first
        live_at_stop = False
        async with AsyncExitStack() as stack:
            hub = await stack.enter_async_context(running_hub(tmp_path, clock, ACCOUNTS, heartbeat_timeout_s=60))
            url, made, gateway, store, guardian = hub
            await executor.connect(url, made["nt8"])
            for event in events:
                if event == "place":
                    await gateway.place_order(OrderIntent("entry-1", "A1", MNQ, Side.BUY, 1))
                elif event == "disconnect":
                    await executor.drop()
                elif event == "reconnect":
                    await executor.connect(url, made["nt8"])
                elif event == "stop":
                    live_at_stop = executor.ws is not None
                    stopped_on = len(executor.connections) - (1 if live_at_stop else 0)
                    if how == "halted":
                        await gateway.emergency_stop(["A1"], "test stop", "test")
                    else:  # a breach: the account FAILS (the balance under the threshold)
                        await asyncio.to_thread(guardian.mark, "A1", Decimal(46000), Decimal(0))
                        assert guardian.tracker("A1").trading_state()[0].value == "failed"
                elif event == "restart":
                    await stack.aclose()
                    hub = await stack.enter_async_context(
                        running_hub(tmp_path, clock, ACCOUNTS, heartbeat_timeout_s=60)
                    )
                    url, made, gateway, store, guardian = hub
            if executor.ws is not None:
                await executor.read_all()

            def entry_cancelled() -> bool:
                with store.engine.connect() as conn:
                    entry = repository.get_order(conn, "entry-1")
                return entry is not None and entry.status is OrderStatus.CANCELLED

            # never acknowledged: cancelled in the database (the flatten cancels it at the venue if it got there)
            await eventually(entry_cancelled, what="the unacknowledged entry cancelled")
        assert stopped_on is not None
        for index, received in enumerate(executor.connections[stopped_on:], start=stopped_on):
            kinds = [(msg.type, getattr(msg, "purpose", None)) for msg in received if msg.account == "A1"]
            entry = ("order.place", OrderPurpose.ENTRY.value)
            if index == stopped_on and live_at_stop:  # an entry sent before the stop, then the flatten
                assert entry not in kinds or kinds.index(entry) < kinds.index(("flatten", None)), (events, kinds)
            else:  # a connection after the stop: the flatten first, never an entry
                assert kinds and kinds[0] == ("flatten", None), (events, index, kinds)
                assert entry not in kinds, (events, index, kinds)

    asyncio.run(scenario())
