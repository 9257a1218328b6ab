"""Signal in → decision → order.place at the executor, over the real gateway (port 0), with a fixed clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import schema as s
from enigma_apex.client import new_id, now
from enigma_apex.domain.clock import ManualClock
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, login, recv, run, running_hub

TUESDAY_10_ET = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # regular trading hours, no holiday


def signal(**fields):
    base = {"id": new_id(), "ts": now(), "symbol": "MNQ 12-26", "side": "long"}
    return m.SignalMsg(**{**base, **fields})


def rows(store, table, **where):
    query = select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with store.engine.connect() as conn:
        return conn.execute(query).all()


def test_signal_becomes_a_stored_decision_and_an_order_at_the_executor(tmp_path):
    clock = ManualClock(TUESDAY_10_ET)

    async def scenario():
        async with running_hub(tmp_path, clock, signals={"default_mode": "auto"}) as (url, made, _g, store, guardian):
            async with connect(url) as nt8, connect(url) as tv:
                await login(nt8, made["nt8"])
                await login(tv, made["tv"])
                sent = signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"), target=Decimal("21040.00"))
                await tv.send(encode(sent))
                decisions = [await recv(tv, "decision") for _ in range(3)]
                by_account = {d.account: d for d in decisions}
                assert set(by_account) == {"A1", "A2", "A3"}
                assert all(by_account[a].action == "take" and by_account[a].quantity > 0 for a in ("A1", "A2"))
                # A3's executor has never connected: no new entry is queued for it
                assert by_account["A3"].action == "refused"
                assert any("has not connected" in v.reason for v in by_account["A3"].verdicts)
                placed = {}
                for _ in range(2):  # nt8 owns A1 and A2; A3 waits for its own executor
                    order = await recv(nt8, "order.place")
                    placed[order.account] = order
                assert set(placed) == {"A1", "A2"}
                a1 = placed["A1"]
                assert a1.key == f"sig:{decisions[0].signal_id}:A1"
                assert (a1.side, a1.order_type, a1.purpose) == ("buy", "market", "entry")
                assert a1.bracket == m.Bracket(stop=Decimal("20980.00"), target=Decimal("21040.00"))
                assert a1.quantity == by_account["A1"].quantity
                # everything is on disk, linked: signal → decision → order
                (stored_signal,) = rows(store, s.signals)
                assert stored_signal.symbol == "MNQ 12-26" and stored_signal.entry == Decimal("21000.00")
                decision_rows = rows(store, s.decisions, signal_id=stored_signal.id)
                assert {r.account_id for r in decision_rows} == {"A1", "A2", "A3"}
                (order_row,) = rows(store, s.orders, idempotency_key=a1.key)
                (decision_row,) = rows(store, s.decisions, id=order_row.decision_id)
                assert decision_row.account_id == "A1" and decision_row.action == "take"
                sizing = json.loads(decision_row.sizing)
                assert sizing["inputs"] == {"entry": "21000.00", "stop": "20980.00", "target": "21040.00"}
                assert sizing["quantity"] == a1.quantity and sizing["breakdown"]
                # the same frame again (a reconnecting source): refused, nothing new anywhere
                await tv.send(encode(sent))
                error = await recv(tv, "error")
                assert (error.code, error.ref) == ("DUPLICATE", sent.id)
                assert len(rows(store, s.orders)) == 2 and len(rows(store, s.decisions)) == 3
                # a stop on the wrong side of the entry: BAD_PRICE at $.stop, nothing stored
                wrong = signal(entry=Decimal("21000.00"), stop=Decimal("21010.00"))
                await tv.send(encode(wrong))
                error = await recv(tv, "error")
                assert (error.code, error.path, error.ref) == ("BAD_PRICE", "$.stop", wrong.id)
                assert len(rows(store, s.signals)) == 1
            # A3's executor connects: A3 takes the next signal and its order reaches it
            async with connect(url) as other, connect(url) as tv:
                await login(other, made["other"])
                await login(tv, made["tv"])
                await eventually(lambda: not guardian.tracker("A3").reducing_reasons, what="A3 no longer waiting")
                later = signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"))
                await tv.send(encode(later))
                decided = {d.account: d for d in [await recv(tv, "decision") for _ in range(3)]}
                assert decided["A3"].action == "take"
                late = await recv(other, "order.place")
                assert (late.account, late.key) == ("A3", f"sig:{decided['A3'].signal_id}:A3")

    run(scenario())


def test_refusals_are_recorded_with_their_reason_and_send_nothing(tmp_path):
    clock = ManualClock(TUESDAY_10_ET)
    accounts = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]

    async def scenario():
        async with running_hub(tmp_path, clock, accounts, {"default_mode": "auto"}) as (url, made, gw, store, _gd):
            async with connect(url) as nt8, connect(url) as tv:
                await login(nt8, made["nt8"])
                await login(tv, made["tv"])
                await tv.send(encode(signal(entry=Decimal("21000.00"))))  # no stop, no default_stop_ticks
                decision = await recv(tv, "decision")
                assert decision.action == "refused" and "no stop" in decision.reason
                await tv.send(encode(signal(stop=Decimal("20980.00"))))  # no entry and no market data yet
                decision = await recv(tv, "decision")
                assert decision.action == "refused" and "no market data" in decision.reason
                # a halted account refuses entries: the gate's verdicts come with the decision
                await gw.emergency_stop(["A1"], "test", "test")
                await recv(nt8, "flatten")
                await tv.send(encode(signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"))))
                decision = await recv(tv, "decision")
                assert decision.action == "refused" and decision.quantity == 0
                assert "TRADING_HALTED" in {v.code for v in decision.verdicts}
                # a group nobody is in: one decision without an account
                await tv.send(encode(signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"), group="swing")))
                decision = await recv(tv, "decision")
                assert (decision.action, decision.account) == ("skip", None)
                assert "swing" in decision.reason
            assert rows(store, s.orders) == []
            assert len(rows(store, s.decisions)) == 4

    run(scenario())


def test_market_data_prices_a_signal_without_entry_and_an_exit_closes_the_family(tmp_path):
    clock = ManualClock(TUESDAY_10_ET)
    accounts = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8", "default_stop_ticks": 40}]

    async def scenario():
        async with running_hub(tmp_path, clock, accounts, {"default_mode": "auto"}) as (url, made, _g, _s, _gd):
            async with connect(url) as nt8, connect(url) as tv:
                await login(nt8, made["nt8"])
                await login(tv, made["tv"])
                await nt8.send(
                    encode(m.MarketData(id=new_id(), ts=now(), symbol="MNQ 12-26", last=Decimal("21010.25")))
                )
                await nt8.send(encode(m.Ping(id="sync", ts=now())))
                await recv(nt8, "pong")
                await tv.send(encode(signal(side="short")))
                decision = await recv(tv, "decision")
                assert decision.action == "take"
                order = await recv(nt8, "order.place")
                assert order.side == "sell"
                assert order.bracket.stop == Decimal("21020.25")  # 40 ticks of 0.25 above the last price
                # the executor reports positions in both NQ and MNQ: an exit on MNQ closes the whole family
                for symbol, quantity in (("MNQ 12-26", -3), ("NQ 12-26", 1)):
                    await nt8.send(
                        encode(m.PositionMsg(id=new_id(), ts=now(), account="A1", symbol=symbol, quantity=quantity))
                    )
                await nt8.send(encode(m.Ping(id="sync", ts=now())))  # one connection's frames are handled in order
                await recv(nt8, "pong")
                await tv.send(encode(signal(side="exit")))
                decision = await recv(tv, "decision")
                assert decision.action == "take" and decision.quantity == 4
                exits = {}
                for _ in range(2):
                    placed = await recv(nt8, "order.place")
                    exits[placed.symbol] = placed
                assert (exits["MNQ 12-26"].side, exits["MNQ 12-26"].quantity) == ("buy", 3)
                assert (exits["NQ 12-26"].side, exits["NQ 12-26"].quantity) == ("sell", 1)
                assert {o.purpose for o in exits.values()} == {"exit"}

    run(scenario())


def test_confirm_mode_waits_for_approval_rejects_and_expires(tmp_path):
    clock = ManualClock(TUESDAY_10_ET)
    accounts = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]

    async def scenario():
        async with running_hub(tmp_path, clock, accounts, {"confirm_timeout_s": 30}) as (url, made, gw, store, _gd):
            async with connect(url) as nt8, connect(url) as tv, connect(url) as dash:
                for ws, who in ((nt8, "nt8"), (tv, "tv"), (dash, "dash")):
                    await login(ws, made[who])
                await dash.send(encode(m.Subscribe(id=new_id(), ts=now(), topics=["decisions"])))
                first = signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"))
                await tv.send(encode(first))
                waiting = await recv(dash, "decision")
                assert waiting.action == "confirm" and "waiting for approval" in waiting.reason
                assert rows(store, s.orders) == []
                # a signal source may not approve its own signal
                await tv.send(encode(m.Approve(id="ap0", ts=now(), signal_id=waiting.signal_id)))
                assert (await recv(tv, "error")).code == "FORBIDDEN"
                await dash.send(encode(m.Approve(id="ap1", ts=now(), signal_id=waiting.signal_id)))
                taken = await recv(dash, "decision")
                assert taken.action == "take"
                order = await recv(nt8, "order.place")
                assert order.key == f"sig:{waiting.signal_id}:A1"
                await dash.send(encode(m.Approve(id="ap2", ts=now(), signal_id=waiting.signal_id)))
                assert (await recv(dash, "error")).code == "NOT_PENDING"
                # reject
                await tv.send(encode(signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"))))
                second = await recv(dash, "decision")
                await dash.send(encode(m.Reject(id="rj", ts=now(), signal_id=second.signal_id)))
                assert (await recv(dash, "decision")).action == "rejected"
                # expiry: the watchdog records it once the deadline has passed
                await tv.send(encode(signal(entry=Decimal("21000.00"), stop=Decimal("20980.00"))))
                third = await recv(dash, "decision")
                clock.advance(timedelta(seconds=31))
                expired = await recv(dash, "decision")
                assert (expired.signal_id, expired.action) == (third.signal_id, "expired")
                assert not gw.pipeline.pending
            assert len(rows(store, s.orders)) == 1

    run(scenario())
