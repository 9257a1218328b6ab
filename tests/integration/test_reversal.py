"""A reversal closes the opposite position first and enters only after the close has filled; without the fill
in time, no entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import schema as s
from enigma_apex.client import new_id, now
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import Contract
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import login, recv, run, running_hub

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
MNQ = Contract("MNQ", 2026, 12)
ACCOUNTS = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]
SETTINGS = {"default_mode": "auto", "reversal_timeout_s": 20}


def fill(key: str, side: str, quantity: int) -> m.FillMsg:
    return m.FillMsg(
        id=new_id(),
        ts=now(),
        fill_id=new_id(),
        key=key,
        account="A1",
        symbol="MNQ 12-26",
        side=side,
        quantity=quantity,
        price=Decimal("21000.00"),
        executed_at=NOW,
    )


async def sync(ws) -> None:
    """One connection's frames are handled in order: a pong means everything before it was."""
    await ws.send(encode(m.Ping(id=new_id(), ts=now())))
    await recv(ws, "pong")


async def short_two(nt8) -> None:
    await nt8.send(encode(fill("manual-short", "sell", 2)))
    await nt8.send(encode(m.PositionMsg(id=new_id(), ts=now(), account="A1", symbol="MNQ 12-26", quantity=-2)))
    await sync(nt8)


def long_signal(clock) -> Signal:
    return Signal("S1", SignalSource.MANUAL, MNQ, Direction.LONG, clock.now(), Decimal("21000.00"), Decimal("20980.00"))


def orders(store):
    with store.engine.connect() as conn:
        return conn.execute(select(s.orders).order_by(s.orders.c.created_at)).all()


def test_the_entry_waits_for_the_close_fill(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, SETTINGS) as (url, made, g, store, _gd):
            async with connect(url) as nt8:
                await login(nt8, made["nt8"])
                await short_two(nt8)
                outcome = await g.pipeline.submit(long_signal(clock))
                (decision,) = outcome.decisions
                assert decision.action == "take" and decision.reason.startswith("reverse: the account is -2 MNQ")
                close = await recv(nt8, "order.place")
                assert (close.key, close.side, close.quantity, close.purpose) == (
                    "sig:S1:A1:c1:MNQZ26",
                    "buy",
                    2,
                    "exit",
                )
                await sync(nt8)
                assert [o.idempotency_key for o in orders(store)] == ["sig:S1:A1:c1:MNQZ26"]  # no entry yet
                await nt8.send(encode(fill(close.key, "buy", 1)))  # partial: still short 1
                await sync(nt8)
                assert len(orders(store)) == 1
                await nt8.send(encode(fill(close.key, "buy", 1)))  # flat now: the entry goes
                entry = await recv(nt8, "order.place")
                assert (entry.key, entry.side, entry.purpose) == ("sig:S1:A1", "buy", "entry")
                assert entry.quantity >= 1 and entry.bracket.stop == Decimal("20980.00")
                await g.pipeline.expire_and_record()
                assert g.pipeline.waits == {}
            with store.engine.connect() as conn:
                actions = conn.execute(select(s.decisions.c.action).order_by(s.decisions.c.created_at)).scalars()
                assert list(actions) == ["take", "take"]

    run(scenario())


def test_no_close_fill_in_time_means_no_entry(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, SETTINGS) as (url, made, g, store, _gd):
            async with connect(url) as nt8:
                await login(nt8, made["nt8"])
                await short_two(nt8)
                await g.pipeline.submit(long_signal(clock))
                await recv(nt8, "order.place")
                clock.advance(timedelta(seconds=21))
                await g.pipeline.expire_and_record()
                await nt8.send(encode(fill("sig:S1:A1:c1:MNQZ26", "buy", 2)))  # too late: nothing follows
                await sync(nt8)
            assert [o.idempotency_key for o in orders(store)] == ["sig:S1:A1:c1:MNQZ26"]
            with store.engine.connect() as conn:
                rows = conn.execute(select(s.decisions.c.action, s.decisions.c.sizing)).all()
            assert sorted(r.action for r in rows) == ["expired", "take"]
            assert any("did not fill in time" in r.sizing for r in rows)

    run(scenario())
