"""What an executor is to the gateway (docs/protocol.md): one identity per client (a second client on the same
executor token is refused with IN_USE while the first answers, the same client reconnecting replaces its old
connection, a dead one is taken over), orders named by their compact reference (ack, update and fill by
``order_ref`` and ``<order_ref>:stop``), and the broker connection of each account (``account.status``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store import schema as s
from enigma_apex.client import now
from enigma_apex.domain.orders import Bracket, OrderIntent, Side, order_ref
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, login, recv, run, running_hub, until_closed

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))


def alerts(store, kind):
    with store.engine.connect() as conn:
        return conn.execute(select(s.alerts).where(s.alerts.c.kind == kind)).all()


def state(guardian, account):
    return guardian.tracker(account).trading_state()


def test_a_second_client_on_a_connected_executor_token_is_refused_and_the_first_stays(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, guardian):
            async with connect(url) as first, connect(url) as second:
                await login(first, made["nt8"], instance="addon")
                session = gateway.executors["nt8"].session
                await second.send(
                    encode(m.Hello(id="h2", ts=now(), token=made["nt8"], client="strategy", instance="strategy"))
                )
                received, code = await until_closed(second)
                error = next(f for f in received if f.type == "error")
                assert (error.code, error.ref, code) == ("IN_USE", "h2", 4005)
                assert "already connected" in error.message and "token create" in error.message
                # the first connection is untouched: same session, still answered, its accounts ACTIVE
                assert gateway.executors["nt8"].session == session
                await first.send(encode(m.Ping(id="still", ts=now())))
                assert (await recv(first, "pong")).ref == "still"
                assert state(guardian, "A1")[0].value == "active"
                await eventually(lambda: alerts(store, "executor.in_use"), what="the in-use alert")

    run(scenario())


def test_the_same_client_reconnecting_replaces_its_connection(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, _store, _guardian):
            old = await connect(url)
            await login(old, made["nt8"], instance="addon")
            async with connect(url) as new:
                await login(new, made["nt8"], instance="addon")
                _received, code = await until_closed(old)
                assert code == 1000 and gateway.executors["nt8"].session != ""
                await new.send(encode(m.Ping(id="p", ts=now())))
                assert (await recv(new, "pong")).ref == "p"

    run(scenario())


def test_a_connection_that_does_not_answer_its_probe_is_taken_over(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, takeover_probe_s=0.2) as (url, made, gateway, _store, _guardian):
            dead = await connect(url)
            await login(dead, made["nt8"], instance="crashed-client")
            asked: list[float] = []

            async def never_answers(within_s: float) -> bool:  # a half-open socket: the ping is never answered
                asked.append(within_s)
                return False

            gateway.executors["nt8"].probe = never_answers
            async with connect(url) as new:
                await login(new, made["nt8"], instance="restarted-client")
                assert asked == [0.2]
                await new.send(encode(m.Ping(id="p", ts=now())))
                assert (await recv(new, "pong")).ref == "p"
            await dead.close()

    run(scenario())


def test_an_executor_names_orders_by_their_compact_reference(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, guardian), connect(url) as nt8:
            await login(nt8, made["nt8"], instance="addon")
            dash = await connect(url)
            await login(dash, made["dash"])
            await dash.send(encode(m.Subscribe(id="s", ts=now(), topics=["orders"])))
            await recv(dash, "result")
            key = "sig:7f3a9c0d11e24b5f8a6c3d2e1f0a9b8c:A-VERY-LONG-ACCOUNT-NAME-AT-A-FIRM-0001"[:64]
            bracket = Bracket(stop=D("20990.00"), target=D("21020.00"))
            await gateway.place_order(OrderIntent(key, "A1", MNQ, Side.BUY, 1, bracket=bracket))
            place = await recv(nt8, "order.place")
            ref = order_ref(key)
            assert place.key == key and place.order_ref == ref and len(ref) <= 20
            await nt8.send(encode(m.Ack(id="a1", ts=now(), key=ref, status="accepted")))
            await nt8.send(encode(m.OrderUpdate(id="u1", ts=now(), key=ref, account="A1", status="working")))
            fill = m.FillMsg(
                id="f1",
                ts=now(),
                fill_id="F-1",
                key=ref,
                account="A1",
                symbol="MNQ 12-26",
                side="buy",
                quantity=1,
                price=D("21000.25"),
                executed_at=datetime.now(UTC),
            )
            await nt8.send(encode(fill))
            await eventually(lambda: order(store, key).filled_quantity == 1, what="the entry filled by its ref")
            # the stop leg, named after the reference, is the entry's ``:stop`` leg
            stop_fill = fill.model_copy(
                update={"id": "f2", "fill_id": "F-2", "key": f"{ref}:stop", "side": "sell", "price": D("20990.00")}
            )
            await nt8.send(encode(stop_fill))
            assert (await recv(dash, "fill")).key == key  # the entry's fill, told under the hub's own key
            heard = await recv(dash, "fill")
            assert (heard.key, heard.fill_id) == (f"{key}:stop", "F-2")  # told under the hub's own key
            await eventually(lambda: position(store) == 0, what="flat after the stop")
            # a reference the hub never issued stays as it is: an order the executor made on its own
            with store.engine.connect() as conn:
                assert repository.resolve_key(conn, "eaaaaaaaaaaaaaaaaa") == "eaaaaaaaaaaaaaaaaa"
                assert repository.resolve_key(conn, ref + ":target") == key + ":target"
            assert state(guardian, "A1")[0].value == "active"
            await dash.close()

    run(scenario())


def order(store, key):
    with store.engine.connect() as conn:
        return repository.get_order(conn, key)


def position(store):
    with store.engine.connect() as conn:
        return repository.get_position(conn, "A1", MNQ).quantity


def test_a_lost_broker_connection_makes_the_account_reducing_until_it_is_back(tmp_path):
    async def scenario():
        async with running_hub(tmp_path) as (url, made, _gateway, store, guardian), connect(url) as nt8:
            await login(nt8, made["nt8"], instance="addon")
            lost = m.AccountStatus(
                id="s1", ts=now(), account="A1", connection="connection_lost", message="Rithmic: server closed"
            )
            await nt8.send(encode(lost))
            await eventually(lambda: "connection lost: Rithmic: server closed" in state(guardian, "A1")[1], what="why")
            assert state(guardian, "A1")[0].value == "reducing"
            assert state(guardian, "A2")[0].value == "active"  # only that account
            await nt8.send(encode(lost.model_copy(update={"id": "s2", "connection": "connecting"})))
            await eventually(lambda: alerts(store, "broker.disconnected"), what="the alert")
            await nt8.send(encode(m.AccountStatus(id="s3", ts=now(), account="A1", connection="connected")))
            await eventually(lambda: state(guardian, "A1")[0].value == "active", what="ACTIVE again")
            # the alert is written just after the state flips back: wait for it, then count both
            await eventually(lambda: alerts(store, "broker.connected"), what="the alert that it is back")
            assert len(alerts(store, "broker.disconnected")) == 1  # one alert per outage
            assert len(alerts(store, "broker.connected")) == 1
            # another executor's account: refused, nothing changes
            foreign = m.AccountStatus(id="s4", ts=now(), account="A3", connection="disconnected")
            await nt8.send(encode(foreign))
            error = await recv(nt8, "error")
            assert (error.code, error.ref) == ("FORBIDDEN", "s4")
            assert state(guardian, "A3")[0].value != "reducing" or "broker" not in state(guardian, "A3")[1]

    run(scenario())


def test_over_ati_an_open_position_counts_its_loss_to_its_stop(tmp_path):
    """An executor that cannot see P&L (``open_pnl`` absent): the guardian counts the loss to the protective stop;
    with no stop, everything down to one cent short of the flatten line (no new risk, not flattened)."""

    async def scenario():
        async with running_hub(tmp_path) as (url, made, gateway, store, guardian), connect(url) as nt8:
            await login(nt8, made["nt8"], instance="ati")
            for key, account, stop in (("k1", "A1", D("20990.00")), ("k2", "A2", None)):
                bracket = Bracket(stop=stop) if stop is not None else None
                await gateway.place_order(OrderIntent(key, account, MNQ, Side.BUY, 2, bracket=bracket))
                place = await recv(nt8, "order.place")
                fill = m.FillMsg(
                    id=f"f-{key}",
                    ts=now(),
                    fill_id=f"F-{key}",
                    key=place.order_ref,
                    account=account,
                    symbol="MNQ 12-26",
                    side="buy",
                    quantity=2,
                    price=D("21000.00"),
                    executed_at=datetime.now(UTC),
                )
                await nt8.send(encode(fill))
            for account in ("A1", "A2"):
                await nt8.send(encode(m.AccountUpdate(id=f"b-{account}", ts=now(), account=account, balance=50000)))
            # A1: 2 MNQ x 10 points x $2 = $40 to its stop
            await eventually(lambda: guardian.tracker("A1").equity == D("49960.00"), what="A1 marked to its stop")
            assert state(guardian, "A1")[0].value == "active"
            t2 = guardian.tracker("A2")
            await eventually(lambda: t2.equity < D(50000), what="A2 marked to its flatten line")
            assert t2.room_to_flatten(t2.equity) == D("0.01")  # one cent short of its flatten line
            # its state follows with the mark of its balance (the account update after the fill): wait for it
            await eventually(lambda: state(guardian, "A2")[0].value == "reducing", what=f"A2 REDUCING, now "
                             f"{state(guardian, 'A2')}")  # fmt: skip
            assert not alerts(store, "guardian.flatten") and position_of(store, "A2") == 2

    run(scenario())


def position_of(store, account):
    with store.engine.connect() as conn:
        return repository.get_position(conn, account, MNQ).quantity
