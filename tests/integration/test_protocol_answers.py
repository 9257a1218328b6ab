"""What ``docs/protocol.md`` promises a client, each on the real gateway: every control is answered, unknown accounts
refuse a stop (unless ``known_only``), fill identity is per (account, executor), text that cannot be encoded and
loosely typed values are refused with a path, a reconnecting executor never waits for its old socket, order-flow
``seq`` is on ``order.place`` only, and an executor that never connected leaves its accounts REDUCING."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import schema as s
from enigma_apex.client import now
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, hello, login, recv, run, running_hub, until_closed

TS = "2026-12-01T15:00:00Z"


def state(guardian, account: str) -> str:
    return guardian.tracker(account).trading_state()[0].value


def test_every_control_is_answered_and_an_unknown_account_halts_nothing(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, present=("nt8", "other")) as (url, made, _g, _store, guardian):
            async with connect(url) as dash:
                await login(dash, made["dash"])
                await dash.send(encode(m.Subscribe(id="s1", ts=now(), topics=["risk"])))
                answer = await recv(dash, "result")
                assert (answer.ref, answer.topics) == ("s1", ["risk"])
                await dash.send(encode(m.Subscribe(id="s2", ts=now(), topics=["orders"])))
                answer = await recv(dash, "result")
                assert (answer.ref, answer.topics) == ("s2", ["orders", "risk"])  # every topic now delivered

                # a stop naming an account the hub does not know: an error, and nothing is halted
                stop = m.EmergencyStop(id="e1", ts=now(), accounts=["A1", "NOPE"], reason="phone")
                await dash.send(encode(stop))
                error = await recv(dash, "error")
                assert (error.code, error.ref, error.path) == ("UNKNOWN_ACCOUNT", "e1", "$.accounts[1]")
                assert [state(guardian, a) for a in ("A1", "A2", "A3")] == ["active"] * 3

                # known_only: the known ones are halted, the unknown one reported
                await dash.send(encode(stop.model_copy(update={"id": "e2", "known_only": True})))
                answer = await recv(dash, "result")
                assert answer.ref == "e2" and set(answer.accounts) == {"A1", "NOPE"}
                assert "not halted" in answer.accounts["NOPE"]
                assert state(guardian, "A1") == "halted" and state(guardian, "A2") == "active"

                await dash.send(encode(m.Halt(id="h1", ts=now(), account="A2", reason="lunch")))
                answer = await recv(dash, "result")
                assert answer.ref == "h1" and list(answer.accounts) == ["A2"] and state(guardian, "A2") == "halted"

                await dash.send(encode(m.Resume(id="r1", ts=now(), account="A2")))
                answer = await recv(dash, "result")
                assert (answer.ref, answer.accounts) == ("r1", {"A2": "ACTIVE"})

                await dash.send(encode(m.EmergencyStop(id="e3", ts=now())))  # every account
                answer = await recv(dash, "result")
                assert answer.ref == "e3" and set(answer.accounts) == {"A1", "A2", "A3"}
                await dash.send(encode(m.Resume(id="r2", ts=now(), account="NOPE")))
                error = await recv(dash, "error")
                assert (error.code, error.ref) == ("UNKNOWN_ACCOUNT", "r2")

    run(scenario())


def _fill(fill_id: str, account: str, n: int) -> m.FillMsg:
    return m.FillMsg(
        id=f"f{n}",
        ts=now(),
        fill_id=fill_id,
        key=f"manual-{account}",
        account=account,
        symbol="MNQ 12-26",
        side="buy",
        quantity=1,
        price=Decimal("21000.25"),
        executed_at=datetime.now(UTC),
    )


def test_a_broker_fill_id_is_unique_per_account_and_executor_only(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, _g, store, guardian), connect(url) as nt8:
            await login(nt8, made["nt8"])
            # the same broker fill id on two accounts: two fills; the same on one account again: one
            for n, account in enumerate(("A1", "A2", "A2")):
                await nt8.send(encode(_fill("BRK-1", account, n)))
            for account in ("A1", "A2"):
                position = m.PositionMsg(id=f"p{account}", ts=now(), account=account, symbol="MNQ 12-26", quantity=1)
                await nt8.send(encode(position))
            await nt8.send(encode(m.Ping(id="sync", ts=now())))
            await recv(nt8, "pong")
            with store.engine.connect() as conn:
                rows = conn.execute(select(s.fills.c.account_id, s.fills.c.executor, s.fills.c.fill_id)).all()
            assert sorted(rows) == [("A1", "nt8", "BRK-1"), ("A2", "nt8", "BRK-1")]
            assert state(guardian, "A1") == "active" and state(guardian, "A2") == "active"  # positions reconcile

    run(scenario())


def test_refused_input_names_its_path_and_the_connection_lives(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, present=("nt8",), signals={"default_mode": "auto"}) as (
            url,
            made,
            _g,
            store,
            _guardian,
        ):
            async with connect(url) as dash:
                await login(dash, made["dash"])
                bad = [
                    ('{"v": 1, "type": "ping", "id": "\\ud800x", "ts": "' + TS + '"}', "$.id", None),
                    (json.dumps({"v": 1, "type": "halt", "id": "h", "ts": TS, "reason": "x\ud800"}), "$.reason", "h"),
                    (
                        json.dumps(
                            {"v": 1, "type": "signal", "id": "q", "ts": TS, "symbol": "MNQ", "side": "long"}
                            | {"entry": "21000", "stop": "20980", "quantity": True}
                        ),
                        "$.quantity",
                        "q",
                    ),
                    (json.dumps({"v": 1, "type": "ping", "id": "t", "ts": 1764600000}), "$.ts", "t"),
                ]
                for frame, path, ref in bad:
                    await dash.send(frame)
                    error = await recv(dash, "error")
                    assert (error.code, error.path, error.ref) == ("INVALID", path, ref), frame
                await dash.send(encode(m.Ping(id="alive", ts=now())))
                assert (await recv(dash, "pong")).ref == "alive"
                with store.engine.connect() as conn:
                    assert conn.execute(select(func.count()).select_from(s.signals)).scalar() == 0
                # a binary frame closes with 1003 (text frames only)
                await dash.send(b"\x00")
                _received, code = await until_closed(dash)
                assert code == 1003
            async with connect(url) as short:  # a token shorter than any the hub issues
                await short.send(
                    json.dumps({"v": 1, "type": "hello", "id": "h", "ts": TS, "token": "abc", "client": "x"})
                )
                error = await recv(short, "error")
                assert error.code == "AUTH_FAILED"
                _received, code = await until_closed(short)
                assert code == 4001

    run(scenario())


def test_the_new_session_of_a_reconnecting_executor_never_waits_for_the_old_socket(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, present=("nt8",)) as (url, made, gateway, _store, _guardian):
            old_ws = await connect(url)
            await login(old_ws, made["other"], instance="client-1")
            old = gateway.executors["other"]
            released = asyncio.Event()
            closing: list[tuple[int, str]] = []

            async def half_open_close(code: int, reason: str) -> None:  # the old socket's close never completes
                closing.append((code, reason))
                await released.wait()

            old.close = half_open_close
            async with connect(url) as new_ws:
                await login(new_ws, made["other"], instance="client-1")  # the same client, reconnecting
                await new_ws.send(encode(m.Ping(id="first", ts=now())))
                assert (await recv(new_ws, "pong")).ref == "first"  # answered while the old close still hangs
                assert closing == [(1000, "replaced by a new connection")] and not released.is_set()
                released.set()
            await old_ws.close()

    run(scenario())


def test_seq_is_on_order_place_only(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, present=("other",), signals={"default_mode": "auto"}) as (
            url,
            made,
            _gateway,
            _store,
            _guardian,
        ):
            async with connect(url) as nt8, connect(url) as dash:
                await login(nt8, made["nt8"])
                await login(dash, made["dash"])
                signal = m.SignalMsg(
                    id="s1", ts=now(), symbol="MNQ 12-26", side="long", entry=Decimal(21000), stop=Decimal(20980)
                )
                await dash.send(encode(signal))
                place = await recv(nt8, "order.place")
                assert isinstance(place.seq, int) and place.seq >= 1
                await dash.send(encode(m.Halt(id="h", ts=now(), account="A1")))
                flatten = await recv(nt8, "flatten")
                assert flatten.account == "A1" and flatten.seq is None

    run(scenario())


def test_an_executor_that_never_connected_leaves_its_accounts_reducing_and_is_alerted(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, present=("nt8",), executor_grace_s=0.2) as (
            url,
            made,
            _g,
            store,
            guardian,
        ):
            state_a3, reason = guardian.tracker("A3").trading_state()
            assert state_a3.value == "reducing" and "other has not connected" in reason
            assert state(guardian, "A1") == "active"

            def absent_alerts():
                with store.engine.connect() as conn:
                    query = select(s.alerts.c.severity, s.alerts.c.message).where(s.alerts.c.kind == "executor.absent")
                    return conn.execute(query).all()

            alerts = await eventually(absent_alerts, what="the executor.absent alert")
            assert alerts[0][0] == "critical" and "A3" in alerts[0][1]
            async with connect(url) as other:
                await login(other, made["other"])
                await eventually(lambda: state(guardian, "A3") == "active", what="A3 active once its executor came")
            assert len(absent_alerts()) == 1

    run(scenario())


def test_a_hello_with_a_good_token_but_a_bad_field_is_invalid_not_an_auth_failure(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, *_), connect(url) as ws:
            data = json.loads(hello(made["dash"])) | {"resume_seq": -1}
            await ws.send(json.dumps(data))
            error = await recv(ws, "error")
            assert (error.code, error.path) == ("INVALID", "$.resume_seq")
            _received, code = await until_closed(ws)
            assert code == 4001

    run(scenario())
