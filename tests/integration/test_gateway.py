"""The WebSocket gateway on a real server (port 0): auth, roles, bad input, order flow, reconnect, stop cascade."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import schema as s
from enigma_apex.bench.venues.harness import PaperProcessHarness
from enigma_apex.client import HubClient, new_id, now
from enigma_apex.domain.orders import Bracket, OrderIntent, Side
from enigma_apex.domain.symbols import Contract
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, hello, recv, run, running_hub

MNQ = Contract("MNQ", 2026, 12)


def test_auth_success_failure_expiry_and_hello_timeout(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, hello_timeout_s=0.5) as (url, made, *_):
            async with connect(url) as ws:
                await ws.send(hello(made["dash"]))
                welcome = await recv(ws)
                assert isinstance(welcome, m.Welcome) and welcome.role == "dashboard"
                assert welcome.accounts == ["A1", "A2", "A3"]
            for token, code in (("eat_not_a_real_token", "AUTH_FAILED"), (made["old"], "AUTH_FAILED")):
                async with connect(url) as ws:
                    await ws.send(hello(token))
                    error = await recv(ws)
                    assert error.code == code
                    await ws.wait_closed()
                    assert ws.close_code == 4001
            async with connect(url) as ws:
                await ws.send(encode(m.Ping(id="p", ts=now())))
                assert (await recv(ws)).code == "AUTH_REQUIRED"
            async with connect(url) as ws:
                await ws.wait_closed()  # said nothing: closed after the hello timeout
                assert ws.close_code == 4001

    run(scenario())


def test_failed_sign_ins_are_limited_per_token_and_address_and_a_valid_token_always_gets_in(tmp_path):
    """Every local client shares 127.0.0.1: one client retrying a stale token must not lock the others out."""

    async def answer(url, token):
        async with connect(url) as ws:
            await ws.send(hello(token))
            return await recv(ws)

    async def scenario():
        limits = {"auth_failures_per_min": 2, "auth_failures_per_address_per_min": 6}
        async with running_hub(tmp_path, **limits) as (url, made, *_):
            stale = [(await answer(url, "eat_stale_token_123")).code for _ in range(4)]
            assert stale == ["AUTH_FAILED", "AUTH_FAILED", "RATE_LIMITED", "RATE_LIMITED"]
            limited = await answer(url, "eat_stale_token_123")
            assert "retry in" in limited.message
            assert (await answer(url, "eat_another_typo_1")).code == "AUTH_FAILED"  # another token: its own count
            assert isinstance(await answer(url, made["nt8"]), m.Welcome)  # a valid token is let in regardless
            assert (await answer(url, "eat_third_wrong_9")).code == "RATE_LIMITED"  # the address is over its limit
            assert isinstance(await answer(url, made["dash"]), m.Welcome)

    run(scenario())


def test_roles_limit_what_each_client_may_send(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, _gateway, _store, guardian):
            async with connect(url) as ws:
                await ws.send(hello(made["tv"]))
                await recv(ws, "welcome")
                await ws.send(encode(m.EmergencyStop(id="e1", ts=now())))
                error = await recv(ws, "error")
                assert (error.code, error.ref) == ("FORBIDDEN", "e1")
            async with connect(url) as ws:
                await ws.send(hello(made["obs"]))
                await recv(ws, "welcome")
                await ws.send(encode(m.Halt(id="h1", ts=now(), account="A1")))
                assert (await recv(ws, "error")).code == "FORBIDDEN"
            async with connect(url) as ws:
                await ws.send(hello(made["nt8"]))
                await recv(ws, "welcome")
                update = m.AccountUpdate(id="u1", ts=now(), account="A3", balance=Decimal(1))  # not its account
                await ws.send(encode(update))
                assert (await recv(ws, "error")).code == "FORBIDDEN"
            assert guardian.tracker("A1").trading_state()[0].value != "halted"

    run(scenario())


def test_bad_input_gets_coded_errors_and_the_connection_stays_open(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, max_errors_per_min=8) as (url, made, *_), connect(url) as ws:
            await ws.send(hello(made["nt8"]))
            await recv(ws, "welcome")
            bad = [
                ("{not json", "BAD_JSON", None),
                (
                    json.dumps({"v": 1, "type": "warp", "id": "x", "ts": "2026-11-23T10:00:00Z"}),
                    "UNKNOWN_TYPE",
                    "$.type",
                ),
                (
                    json.dumps(
                        {
                            "v": 1,
                            "type": "account.update",
                            "id": "x",
                            "ts": "2026-11-23T10:00:00Z",
                            "account": "A1",
                            "balance": "NaN",
                        }
                    ),
                    "INVALID",
                    "$.balance",
                ),
                (
                    json.dumps(
                        {
                            "v": 1,
                            "type": "position",
                            "id": "x",
                            "ts": "2026-11-23T10:00:00Z",
                            "account": "A1",
                            "symbol": "MNQ 12-26",
                            "quantity": 1,
                            "average_price": "21000.10",
                        }
                    ),
                    "BAD_PRICE",
                    "$.average_price",
                ),
                (
                    json.dumps(
                        {
                            "v": 1,
                            "type": "position",
                            "id": "x",
                            "ts": "2026-11-23T10:00:00Z",
                            "account": "A1",
                            "symbol": "FOO 12-26",
                            "quantity": 1,
                        }
                    ),
                    "UNKNOWN_SYMBOL",
                    "$.symbol",
                ),
                ("x" * 70_000, "TOO_LARGE", None),
            ]
            for frame, code, path in bad:
                await ws.send(frame)
                error = await recv(ws, "error")
                assert (error.code, error.path) == (code, path), frame[:80]
            await ws.send(encode(m.Ping(id="still", ts=now())))
            assert isinstance(await recv(ws, "pong"), m.Pong)  # still open
            for _ in range(5):
                await ws.send("{")
            await ws.wait_closed()
            assert ws.close_code == 4008  # too many errors in a minute

    run(scenario())


class Executor:
    """A test executor that behaves as the NinjaTrader add-on must: each key is placed once."""

    def __init__(self, url, token):
        self.seen: dict[str, int] = {}
        self.flattened: list[str] = []
        self.client = HubClient(url, token, "test-executor", self.on_message, heartbeat_s=0.5, executor=True)

    async def on_message(self, message):
        if isinstance(message, m.OrderPlace | m.Flatten):  # the client library already dropped duplicates
            self.seen[message.key] = self.seen.get(message.key, 0) + 1
            if isinstance(message, m.Flatten):
                self.flattened.append(message.account)
            await self.client.send(m.Ack(id=new_id(), ts=now(), ack=message.seq, key=message.key, status="accepted"))


def test_orders_are_stored_sent_acknowledged_and_never_placed_twice_across_reconnects(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, _guardian):
            executor = Executor(url, made["nt8"])
            task = asyncio.create_task(executor.client.run())
            await executor.client.connected.wait()
            intent = OrderIntent("sig1:A1", "A1", MNQ, Side.BUY, 2, bracket=Bracket(Decimal("20990"), Decimal("21020")))
            await gateway.place_order(intent)
            await executor.client.drop()  # the TCP connection dies between send and ack (maybe)
            second = OrderIntent("sig2:A1", "A1", MNQ, Side.SELL, 1)
            await gateway.place_order(second)  # placed while the executor is away: stored, sent on reconnect
            await gateway.place_order(intent)  # the same key again: nothing new
            for _ in range(200):
                if executor.client.connections >= 2 and {"sig1:A1", "sig2:A1"} <= set(executor.seen):
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            with store.engine.connect() as conn:
                rows = conn.execute(select(s.orders.c.idempotency_key, s.orders.c.status, s.orders.c.seq)).all()
            assert sorted(r.idempotency_key for r in rows) == ["sig1:A1", "sig2:A1"]
            assert {r.status for r in rows} == {"accepted"}
            assert sorted(r.seq for r in rows) == [1, 2]
            assert executor.seen == {
                "sig1:A1": 1,
                "sig2:A1": 1,
            }  # every key delivered once; repeats acked as duplicates
            await executor.client.stop()
            task.cancel()

    run(scenario())


def test_the_executor_client_acknowledges_a_resent_key_as_duplicate_without_passing_it_on(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, _guardian):
            delivered = []
            client = HubClient(url, made["nt8"], "slow-executor", delivered.append, heartbeat_s=0.5, executor=True)
            task = asyncio.create_task(client.run())
            await client.connected.wait()
            await gateway.place_order(OrderIntent("sig9:A1", "A1", MNQ, Side.BUY, 1))
            for _ in range(250):  # the handler got it but never acknowledged (a crash before the ack)
                if any(getattr(x, "key", None) == "sig9:A1" for x in delivered):
                    break
                await asyncio.sleep(0.02)
            await client.drop()  # the hub resends the unacknowledged order on reconnect
            for _ in range(250):
                if client.duplicates:
                    break
                await asyncio.sleep(0.02)
            assert client.duplicates == 1 and client.connections == 2
            assert [x.key for x in delivered if isinstance(x, m.OrderPlace)] == ["sig9:A1"]
            for _ in range(250):  # the hub records the duplicate acknowledgement: the order is no longer resent
                with store.engine.connect() as conn:
                    status = conn.execute(select(s.orders.c.status)).scalar_one()
                if status == "accepted":
                    break
                await asyncio.sleep(0.02)
            assert status == "accepted"
            await client.stop()
            task.cancel()

    run(scenario())


def test_account_updates_mark_the_guardian_and_reach_subscribed_dashboards(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, _gateway, _store, _guardian):
            async with connect(url) as dash, connect(url) as nt:
                await dash.send(hello(made["dash"]))
                await recv(dash, "welcome")
                await dash.send(encode(m.Subscribe(id="s", ts=now(), topics=["risk"])))
                await recv(dash, "risk.update")
                await nt.send(hello(made["nt8"]))
                await recv(nt, "welcome")
                await nt.send(
                    encode(
                        m.AccountUpdate(
                            id="u", ts=now(), account="A1", balance=Decimal("50400"), open_pnl=Decimal("-25.50")
                        )
                    )
                )
                while True:
                    update = await recv(dash, "risk.update")
                    if update.account == "A1" and update.equity == Decimal("50374.50"):
                        break
                assert (
                    update.threshold == Decimal("48374.50") and update.state == "ACTIVE"
                )  # the intraday peak includes open P&L

    run(scenario())


def test_emergency_stop_persists_halted_then_flattens_every_owned_account(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, _gateway, store, guardian):
            executor = Executor(url, made["nt8"])
            task = asyncio.create_task(executor.client.run())
            await executor.client.connected.wait()
            async with connect(url) as dash:
                await dash.send(hello(made["dash"]))
                await recv(dash, "welcome")
                await dash.send(encode(m.EmergencyStop(id="stop", ts=now(), reason="phone button")))
                for _ in range(200):
                    if sorted(executor.flattened) == ["A1", "A2"]:
                        break
                    await asyncio.sleep(0.02)
            assert sorted(executor.flattened) == ["A1", "A2"]
            for account in ("A1", "A2", "A3"):  # A3's executor is away: halted, flattened when it connects
                assert guardian.tracker(account).trading_state()[0].value == "halted"
            with store.engine.connect() as conn:
                states = conn.execute(select(s.account_state.c.state)).scalars().all()
            assert set(states) == {"halted"}
            await executor.client.stop()
            task.cancel()

    run(scenario())


def _position(account: str, quantity: int, ident: str = "p") -> str:
    return encode(
        m.PositionMsg(id=ident, ts=now(), account=account, symbol="MNQ 12-26", quantity=quantity,
                      average_price=Decimal("21000")),
    )  # fmt: skip


def _risk_states(messages: dict[str, str]):
    async def read(ws) -> None:
        while True:
            message = await recv(ws, "risk.update")
            messages[message.account] = message.state

    return read


def test_risk_subscribers_hear_an_executor_come_and_go_without_waiting_for_a_mark(tmp_path):
    """The executor's hello clears its accounts' REDUCING: a dashboard subscribed to risk hears ACTIVE at once (not
    at the next account update), and REDUCING when the executor goes."""

    async def scenario():
        async with running_hub(tmp_path) as (url, made, _gateway, _store, _guardian):
            states: dict[str, str] = {}
            async with connect(url) as dash:
                await dash.send(hello(made["dash"]))
                await recv(dash, "welcome")
                await dash.send(encode(m.Subscribe(id="sub", ts=now(), topics=["risk"])))
                await recv(dash, "result")
                reader = asyncio.create_task(_risk_states(states)(dash))
                await eventually(lambda: states.get("A1") == "REDUCING", what="A1 REDUCING before nt8 connects")
                async with connect(url) as nt:
                    await nt.send(hello(made["nt8"]))
                    await recv(nt, "welcome")
                    await eventually(lambda: states.get("A1") == states.get("A2") == "ACTIVE", what="ACTIVE heard")
                await eventually(lambda: states.get("A1") == "REDUCING", what="REDUCING heard after nt8 left")
                assert states.get("A3") == "REDUCING"  # its executor never came
                reader.cancel()

    run(scenario())


def test_a_replaced_connections_late_position_is_ignored(tmp_path):
    """An executor reconnects while a frame of its old connection is still being read (the old socket's buffer is
    read after the new connection registered): the old position report is stale and must not clear the mismatch
    the new connection reported."""

    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, _store, guardian):
            old = await connect(url)
            await old.send(hello(made["nt8"], instance="i-1"))
            await recv(old, "welcome")
            await eventually(lambda: gateway.executors.get("nt8") is not None, what="nt8 registered")
            old_peer = gateway.executors["nt8"]
            async with connect(url) as new:
                await new.send(hello(made["nt8"], instance="i-1"))  # the same executor, after a restart
                await recv(new, "welcome")
                await eventually(lambda: gateway.executors.get("nt8") is not old_peer, what="the new connection")
                await new.send(_position("A1", 2, "new-p"))
                await new.send(encode(m.Ping(id="sync", ts=now())))
                await recv(new, "pong")
                assert "reconcile" in guardian.tracker("A1").trading_state()[1]
                await gateway.on_frame(old_peer, _position("A1", 0, "old-p"))  # the old socket's last frame
                state, reason = guardian.tracker("A1").trading_state()
                assert state.value == "reducing" and "reconcile" in reason, (state, reason)
            await old.close()

    run(scenario())


def test_a_position_read_before_the_executor_reconnected_is_ignored_once_its_reports_are_recorded(tmp_path):
    """The old connection's position was read while its last report was still being recorded (a position waits for
    the reports before it). The executor reconnects meanwhile and reports a mismatch. When the old report is
    recorded, the old position is stale by then and must not clear the new connection's mismatch."""

    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, guardian):
            held, release = threading.Event(), threading.Event()

            def hold_the_ack(conn, cursor, statement, *_):
                if statement.lstrip().upper().startswith("UPDATE ORDERS") and not held.is_set():
                    held.set()
                    release.wait(10)

            event.listen(store.engine, "before_cursor_execute", hold_the_ack)
            try:
                async with connect(url) as old:
                    await old.send(hello(made["nt8"], instance="i-1"))
                    await recv(old, "welcome")
                    await eventually(lambda: gateway.executors.get("nt8") is not None, what="nt8 registered")
                    old_peer = gateway.executors["nt8"]
                    await gateway.place_order(OrderIntent("held-ack", "A1", MNQ, Side.BUY, 1))
                    placed = await recv(old, "order.place")
                    await old.send(encode(m.Ack(id="a", ts=now(), key=placed.key, status="accepted")))
                    await eventually(held.is_set, what="the acknowledgement's write under way")
                    late = asyncio.create_task(gateway.on_frame(old_peer, _position("A1", 0, "old-p")))
                    await asyncio.sleep(0)  # the old position is read: it waits for the acknowledgement's write
                    assert not late.done()
                    async with connect(url) as new:
                        await new.send(hello(made["nt8"], instance="i-1"))  # the same executor, after a restart
                        await recv(new, "welcome")
                        await eventually(lambda: gateway.executors.get("nt8") is not old_peer, what="new connection")
                        await new.send(_position("A1", 2, "new-p"))
                        await eventually(
                            lambda: "reconcile" in guardian.tracker("A1").trading_state()[1], what="the mismatch"
                        )
                        release.set()
                        await asyncio.wait_for(late, 10)
                        state, reason = guardian.tracker("A1").trading_state()
                        assert state.value == "reducing" and "reconcile" in reason, (state, reason)
            finally:
                release.set()
                event.remove(store.engine, "before_cursor_execute", hold_the_ack)

    run(scenario())


def test_an_orders_acknowledgement_states_and_fill_are_written_together_and_committed_in_one_transaction(tmp_path):
    """The paper executor, a process of its own as ``up`` runs it, writes a market order's acknowledgement and what
    the venue reported while placing it (working, the fill, filled) in one write to its socket: the hub reads them
    together, and one transaction records them all (frames written one by one can reach the hub one by one, and the
    first, handed to the writer alone, makes the rest wait for a commit of their own). After each fill the
    guardian's book holds the position and no working order."""
    transactions: list[list[str]] = []
    open_statements: dict[int, list[str]] = {}

    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, guardian):

            @event.listens_for(store.engine, "before_cursor_execute")
            def statement(conn, _cursor, text, _parameters, _context, _many):
                open_statements.setdefault(id(conn), []).append(" ".join(text.split()[:3]))

            @event.listens_for(store.engine, "commit")
            def committed(conn):
                transactions.append(open_statements.pop(id(conn), []))

            venue = PaperProcessHarness(tmp_path / "paper")
            await venue.start(url, made["nt8"], {"A1": Decimal(50000)})
            try:
                await venue.quote(MNQ, Decimal("21000.00"), Decimal("21000.25"))
                await eventually(lambda: MNQ in gateway.pipeline.quotes, what="the quote at the hub")
                for i in range(6):
                    side, held = (Side.BUY, 1) if i % 2 == 0 else (Side.SELL, None)
                    await gateway.place_order(OrderIntent(f"one-write-{i}", "A1", MNQ, side, 1))
                    await eventually(lambda h=held: guardian.book.positions.get("A1", {}).get(MNQ) == h, what="fill")
                    assert guardian.book.working.get("A1", {}) == {}
            finally:
                await venue.stop()
            assert guardian.tracker("A1").s.traded_today

    run(scenario())
    with_fill = [t for t in transactions if "INSERT INTO fills" in t]
    assert len(with_fill) == 6
    for statements in with_fill:  # the acknowledgement (pending -> accepted), working, the fill's own, filled
        assert statements.count("UPDATE orders SET") == 4, statements


def test_reports_sent_back_to_back_are_recorded_in_order_before_the_position_is_compared(tmp_path):
    """An ack, the order's states and its fill sent in one burst are recorded in order, and the position that
    follows is compared with the fill already recorded: no mismatch, and the pong after them means all of it is
    recorded."""

    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, guardian):
            async with connect(url) as nt:
                await nt.send(hello(made["nt8"]))
                await recv(nt, "welcome")
                intent = OrderIntent("burst-1", "A1", Contract("MNQ", 2026, 12), Side.BUY, 2)
                await gateway.place_order(intent)
                placed = await recv(nt, "order.place")
                frames = [
                    m.Ack(id="a", ts=now(), key=placed.key, status="accepted"),
                    m.OrderUpdate(id="u1", ts=now(), key=placed.key, account="A1", status="working"),
                    *[
                        m.FillMsg(id=f"f{i}", ts=now(), fill_id=f"fill-{i}", key=placed.key, account="A1",
                                  symbol="MNQ 12-26", side="buy", quantity=1, price=Decimal("21000.25"),
                                  executed_at=now())
                        for i in range(2)
                    ],
                    m.OrderUpdate(id="u2", ts=now(), key=placed.key, account="A1", status="filled",
                                  filled_quantity=2, average_price=Decimal("21000.25")),
                ]  # fmt: skip
                for frame in frames:
                    await nt.send(encode(frame))
                await nt.send(_position("A1", 2))
                await nt.send(encode(m.Ping(id="sync", ts=now())))
                await recv(nt, "pong")
                with store.engine.connect() as conn:
                    row = conn.execute(
                        select(s.orders.c.status, s.orders.c.filled_quantity).where(
                            s.orders.c.idempotency_key == "burst-1"
                        )
                    ).one()
                    fills = conn.execute(select(s.fills.c.fill_id)).scalars().all()
                assert (row.status, row.filled_quantity) == ("filled", 2)
                assert sorted(fills) == ["fill-0", "fill-1"]
                assert "reconcile" not in guardian.tracker("A1").trading_state()[1]
                with store.engine.connect() as conn:
                    kinds = set(conn.execute(select(s.alerts.c.kind)).scalars())
                assert "reconcile.mismatch" not in kinds

    run(scenario())


def test_disconnect_and_reconcile_mismatch_put_accounts_in_reducing(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, heartbeat_timeout_s=1.0) as (url, made, _gateway, store, guardian):
            async with connect(url) as nt:
                await nt.send(hello(made["nt8"]))
                await recv(nt, "welcome")
                await nt.send(
                    encode(
                        m.PositionMsg(
                            id="p",
                            ts=now(),
                            account="A1",
                            symbol="MNQ 12-26",
                            quantity=2,
                            average_price=Decimal("21000"),
                        )
                    )
                )
                await nt.send(encode(m.Ping(id="q", ts=now())))
                await recv(nt, "pong")
                state, reason = guardian.tracker("A1").trading_state()
                assert state.value == "reducing" and "reconcile" in reason
            for _ in range(100):
                if guardian.tracker("A2").trading_state()[0].value == "reducing":
                    break
                await asyncio.sleep(0.02)
            assert "disconnected" in guardian.tracker("A2").trading_state()[1]
            for _ in range(100):  # REDUCING is set first; the alert row commits just after
                with store.engine.connect() as conn:
                    kinds = set(conn.execute(select(s.alerts.c.kind)).scalars())
                if "executor.disconnected" in kinds:
                    break
                await asyncio.sleep(0.02)
            assert {"reconcile.mismatch", "executor.disconnected"} <= kinds
            async with connect(url) as nt:  # silent executor: dropped after the heartbeat timeout
                await nt.send(hello(made["nt8"]))
                await recv(nt, "welcome")
                await nt.wait_closed()
                assert nt.close_code == 4010

    run(scenario())


FRAMES = st.one_of(
    st.text(max_size=300),
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "type": st.sampled_from(
                ["account.update", "fill", "position", "ack", "ping", "order.update", "market.data", "signal", "halt"]
            ),
            "id": st.text(min_size=1, max_size=10),
            "ts": st.just("2026-11-23T10:00:00Z"),
        },
        optional={
            "account": st.sampled_from(["A1", "A2", "A3", "ZZ", 5]),
            "balance": st.one_of(st.integers(), st.text(max_size=5), st.floats()),
            "symbol": st.sampled_from(["MNQ 12-26", "ES", "??", 1]),
            "quantity": st.integers(-5, 5),
            "key": st.text(max_size=5),
            "price": st.sampled_from(["21000.25", "1e400", "-1", "x"]),
        },
    ).map(json.dumps),
)


def test_fuzzed_frames_never_break_the_server(tmp_path_factory):
    frames: list[str] = []

    @settings(max_examples=150, deadline=None)
    @given(FRAMES)
    def collect(frame):
        frames.append(frame)

    collect()

    async def scenario():
        async with running_hub(tmp_path_factory.mktemp("fuzz"), max_errors_per_min=10_000) as (url, made, *_):
            async with connect(url) as ws:
                await ws.send(hello(made["nt8"]))
                await recv(ws, "welcome")
                for frame in frames:
                    await ws.send(frame)
                await ws.send(encode(m.Ping(id="alive", ts=now())))
                assert isinstance(await recv(ws, "pong", timeout=20), m.Pong)

    run(scenario())


def test_an_unacknowledged_flatten_raises_a_critical_alert(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, flatten_timeout_s=0.3) as (url, made, gateway, store, _guardian):
            async with connect(url) as nt:  # an executor that never acknowledges
                await nt.send(hello(made["nt8"]))
                await recv(nt, "welcome")
                await gateway.emergency_stop(["A1"], "test", "test")
                assert (await recv(nt, "flatten")).account == "A1"
                for _ in range(100):
                    with store.engine.connect() as conn:
                        kinds = set(conn.execute(select(s.alerts.c.kind)).scalars())
                    if "flatten.unconfirmed" in kinds:
                        break
                    await nt.send(encode(m.Ping(id=new_id(), ts=now())))
                    await asyncio.sleep(0.05)
                assert "flatten.unconfirmed" in kinds

    run(scenario())


def _test_peer(gateway, *, writes_taken: int):
    """A dashboard whose socket is played by lists: the writes made at once (each a list of frames; the socket takes
    the first ``writes_taken`` of them), and the frames awaited one by one (the path with backpressure, used when the
    socket cannot take a write now)."""
    from enigma_apex.app.gateway import Peer

    writes: list[list[str]] = []
    awaited: list[str] = []

    def send_now(frames):
        if len(writes) >= writes_taken:
            return False
        writes.append(list(frames))
        return True

    async def send_text(text):
        awaited.append(text)

    async def close(code, reason):
        return None

    peer = Peer(address="test", send_text=send_text, close=close, role="dashboard", send_now=send_now)
    peer.topics.add("orders")
    gateway.peers.add(peer)
    return peer, writes, awaited, asyncio.create_task(gateway.drain(peer))


def _ids(frames):
    return [json.loads(frame)["id"] for frame in frames]


def test_a_clients_first_frame_of_a_loop_turn_is_written_at_once_and_the_rest_together_in_order(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (_url, _made, gateway, _store, _guardian):
            _peer, writes, awaited, drain = _test_peer(gateway, writes_taken=100)
            for i in range(4):
                gateway.broadcast("orders", m.Pong(id=f"a{i}", ts=now()), None)
            assert [_ids(w) for w in writes] == [["a0"]]  # the turn's first, at once; the rest when the turn ends
            await asyncio.sleep(0)  # the next loop turn
            assert [_ids(w) for w in writes] == [["a0"], ["a1", "a2", "a3"]] and awaited == []
            gateway.broadcast("orders", m.Pong(id="b0", ts=now()), None)  # a new turn's first: at once
            gateway.broadcast("orders", m.Pong(id="c0", ts=now()), ("k", "latest"))  # a coalesced value after it
            await eventually(lambda: sum(len(w) for w in writes) == 6, what="the next turn's frames")
            assert [_ids(w) for w in writes][2:] == [["b0"], ["c0"]]
            drain.cancel()

    run(scenario())


def test_frames_the_socket_cannot_take_now_go_first_in_its_queue_and_are_sent_in_order(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (_url, _made, gateway, _store, _guardian):
            peer, writes, awaited, drain = _test_peer(gateway, writes_taken=1)
            for i in range(3):
                gateway.broadcast("orders", m.Pong(id=f"a{i}", ts=now()), None)
            await asyncio.sleep(0)  # the turn's batch is refused: queued, in order
            gateway.broadcast("orders", m.Pong(id="b0", ts=now()), None)  # behind them
            await eventually(lambda: len(awaited) == 3, what="the queued frames")
            assert [_ids(w) for w in writes] == [["a0"]] and _ids(awaited) == ["a1", "a2", "b0"]
            assert peer.backlog == 0
            drain.cancel()

    run(scenario())


def test_a_burst_in_one_loop_turn_past_the_backlog_limit_drops_the_client(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, max_backlog=100) as (_url, _made, gateway, _store, _guardian):
            peer, writes, _awaited, drain = _test_peer(gateway, writes_taken=100)
            for i in range(150):  # one turn: the first is written, the rest wait for the turn's end
                gateway.broadcast("orders", m.Pong(id=f"x{i}", ts=now()), None)
            assert peer.closed and peer.backlog == 0 and [_ids(w) for w in writes] == [["x0"]]
            drain.cancel()

    run(scenario())


def test_a_slow_dashboard_is_dropped_instead_of_building_a_backlog(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, max_backlog=100) as (_url, _made, gateway, _store, _guardian):
            from enigma_apex.app.gateway import Peer

            closed: list[int] = []
            blocked = asyncio.Event()

            async def never_sends(text):
                await blocked.wait()

            async def close(code, reason):
                closed.append(code)

            peer = Peer(address="test", send_text=never_sends, close=close, role="dashboard")
            peer.topics.add("orders")
            gateway.peers.add(peer)
            drain = asyncio.create_task(gateway.drain(peer))
            for i in range(150):  # uncoalesced messages pile up behind a reader that never reads
                gateway.broadcast("orders", m.Pong(id=f"x{i}", ts=now()), None)
            await asyncio.sleep(0.05)
            assert closed == [4009] and peer.backlog == 0
            for i in range(500):  # coalesced broadcasts keep one value per key: no backlog at all
                gateway.broadcast("orders", m.Pong(id=f"y{i}", ts=now()), ("k", "same"))
            drain.cancel()

    run(scenario())
