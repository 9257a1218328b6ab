"""The AddOn and the Strategy inside the faithful fake of NinjaTrader 8 (``ninjatrader/fake``, built from the Help
Guide), against the real hub: exits after a bracket, reversals, accounts that connect late, a failing timer
callback, long account names, ATM templates, flatten after the hub is away, two clients on one token, reports
across a dropped connection, NinjaTrader's own connection loss, the settings window, and the managed strategy."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store import schema as s
from enigma_apex.domain.orders import (
    Bracket,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    order_ref,
)
from enigma_apex.domain.symbols import parse_symbol
from tests.integration.executors.csharp import mono_or_skip
from tests.integration.executors.ninjahost import MNQ, NinjaHost, held, legs, working
from tests.integration.gatewaykit import eventually, run, running_hub

D = Decimal
CONTRACT = parse_symbol(MNQ, on=date(2026, 11, 23))
LONG_NAME = "APEX-PA-150K-TRADER-WITH-A-VERY-LONG-ACCOUNT-NAME-0000000000001"  # 63 characters
ACCOUNTS = [
    {"name": name, "profile": "apex4-intraday-eval-50k", "executor": "nt8"} for name in ("A1", "A2", "A3", LONG_NAME)
]


@contextlib.asynccontextmanager
async def scene(tmp_path, accounts=("A1", "A2"), **addon):
    """The hub, and NinjaTrader with the AddOn connected (``addon`` None: no AddOn)."""
    mono_or_skip()
    async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (url, tokens, gateway, store, g):
        async with NinjaHost(tmp_path / "nt") as nt:
            for name in accounts:
                await nt.do("account", name=name, cash=50000, status="Connected")
            await nt.do("price", instrument=MNQ, last=21000)
            if addon.get("start", True):
                settings = {"hub_url": url, "token": tokens["nt8"], **{k: v for k, v in addon.items() if k != "start"}}
                await nt.do("settings", **settings)
                await nt.do("addon_start")
                await nt.until(lambda st: any(c["connected"] for c in st["connections"]), "the AddOn connected")
            yield nt, url, tokens, gateway, store, g


def position(store, account):
    with store.engine.connect() as conn:
        return repository.get_position(conn, account, CONTRACT).quantity


def order(store, key):
    with store.engine.connect() as conn:
        return repository.get_order(conn, key)


def reason(store, key):
    with store.engine.connect() as conn:
        return conn.execute(select(s.orders.c.reason).where(s.orders.c.idempotency_key == key)).scalar() or ""


def alerts(store, kind):
    with store.engine.connect() as conn:
        return conn.execute(select(s.alerts).where(s.alerts.c.kind == kind)).all()


def entry(key, account="A1", side=Side.BUY, qty=2, **kw):
    return OrderIntent(key, account, CONTRACT, side, qty, **kw)


def exit_(key, account="A1", side=Side.SELL, qty=2):
    return OrderIntent(key, account, CONTRACT, side, qty, purpose=OrderPurpose.EXIT)


def stop_loss(state, account="A1"):
    """The working quantity of a managed strategy's "Stop loss" orders."""
    return sum(int(o["quantity"]) - int(o["filled"]) for o in working(state, account) if o["name"] == "Stop loss")


BRACKET = Bracket(stop=D("20990.00"), target=D("21020.00"))


def test_an_exit_after_a_bracket_shrinks_then_cancels_its_legs_and_never_opens_the_other_side(tmp_path):
    async def scenario():
        async with scene(tmp_path) as (nt, _url, _t, gateway, store, _g):
            await gateway.place_order(entry("k1", bracket=BRACKET))
            await nt.until(lambda st: held(st, "A1") == 2 and legs(st, "A1", ":stop") == 2 and legs(st, "A1", ":target") == 2,
                           "long 2 with its stop and target")  # fmt: skip
            await gateway.place_order(exit_("x1", qty=1))  # a partial exit: the legs follow the position
            await nt.until(lambda st: held(st, "A1") == 1 and legs(st, "A1", ":stop") == 1 and legs(st, "A1", ":target") == 1,
                           "legs shrunk to 1")  # fmt: skip
            await gateway.place_order(exit_("x2", qty=5))  # more than held: capped, never short
            state = await nt.until(lambda st: held(st, "A1") == 0 and not working(st, "A1"), "flat, no leg left")
            await eventually(lambda: position(store, "A1") == 0, what="the hub sees flat")
            # nothing opens later: the price runs through where the legs were
            for last in (21030, 20980, 21000):
                await nt.do("price", instrument=MNQ, last=last)
            state = await nt.state()
            assert held(state, "A1") == 0 and not state["violations"]
            # an exit with nothing to close is refused, not turned into a short
            stored = await gateway.place_order(exit_("x3", qty=1))
            await eventually(
                lambda: order(store, stored.idempotency_key).status == OrderStatus.REJECTED, what="refused exit"
            )
            assert "nothing to close" in reason(store, stored.idempotency_key)
            assert held(await nt.state(), "A1") == 0
            assert order(store, "x2").filled_quantity == 1

    run(scenario())


def test_a_reversal_closes_then_enters_and_leaves_only_the_new_legs(tmp_path):
    async def scenario():
        async with scene(tmp_path) as (nt, _url, _t, gateway, store, _g):
            await gateway.place_order(entry("k1", qty=1, bracket=BRACKET))
            await nt.until(lambda st: held(st, "A1") == 1 and legs(st, "A1", ":stop") == 1, "long 1, protected")
            await gateway.place_order(exit_("close", qty=1))
            await nt.until(lambda st: held(st, "A1") == 0 and not working(st, "A1"), "closed")
            short_bracket = Bracket(stop=D("21010.00"), target=D("20980.00"))
            await gateway.place_order(entry("k2", side=Side.SELL, qty=1, bracket=short_bracket))
            state = await nt.until(
                lambda st: held(st, "A1") == -1 and legs(st, "A1", ":stop") == 1, "short 1, protected"
            )
            assert {o["name"] for o in working(state, "A1")} == {f"{order_ref('k2')}:stop", f"{order_ref('k2')}:target"}
            assert all(o["action"] == "BuyToCover" for o in working(state, "A1"))
            await eventually(lambda: position(store, "A1") == -1, what="the hub sees short 1")

    run(scenario())


def test_an_account_that_connects_later_is_traded_and_a_lost_connection_makes_it_reducing(tmp_path):
    async def scenario():
        async with scene(tmp_path, accounts=("A1",)) as (nt, _url, _t, gateway, store, guardian):
            await eventually(lambda: "A3" in gateway.broker_down, what="A3 reported absent")  # not in NinjaTrader yet
            await nt.do("account", name="A3", cash=50000, status="Connected")  # e.g. Rithmic connected after start
            await eventually(lambda: "A3" not in gateway.broker_down, what="A3 reported connected")
            await gateway.place_order(entry("k3", account="A3", qty=1))
            await eventually(lambda: position(store, "A3") == 1, what="A3's fill reported")
            # NinjaTrader loses A3's connection: REDUCING with an alert; orders refused by the AddOn meanwhile
            await nt.do("status", account="A3", status="ConnectionLost", message="Rithmic: server closed")
            await eventually(lambda: "Rithmic: server closed" in guardian.tracker("A3").trading_state()[1], what="why")
            assert guardian.tracker("A3").trading_state()[0].value == "reducing"
            await eventually(lambda: alerts(store, "broker.disconnected"), what="the alert")
            stored = await gateway.place_order(exit_("x3", account="A3", qty=1))
            await eventually(
                lambda: order(store, stored.idempotency_key).status == OrderStatus.REJECTED, what="refused"
            )
            assert "connection_lost" in reason(store, stored.idempotency_key)
            await nt.do("status", account="A3", status="Connected", message="")
            await eventually(lambda: guardian.tracker("A3").trading_state()[0].value == "active", what="ACTIVE again")
            # removed from NinjaTrader: unsubscribed (no handlers left on it)
            await nt.do("remove", account="A3")
            await nt.until(lambda st: st["accounts"]["A3"]["handlers"] == 0, "unsubscribed")

    run(scenario())


def test_a_failing_timer_callback_is_reported_and_ninjatrader_keeps_running(tmp_path):
    async def scenario():
        async with scene(tmp_path) as (nt, _url, _t, gateway, store, guardian):
            await nt.do("fail_get", account="A1", error="adapter read failed")  # Account.Get throws on the timer
            state = await nt.until(lambda st: any("balance-timer" in line for line in st["output"]), "the error logged")
            assert nt.alive and any("adapter read failed" in line for line in state["output"])
            # reported to the hub as health (the welcome's own read may fail first, when it comes after the fault)
            await eventually(lambda: any("ninjatrader.balance-timer degraded" in a.message
                                         for a in alerts(store, "executor.health")), what="the timer's health")  # fmt: skip
            await nt.do("fail_get", account="A1", error=None)
            await gateway.place_order(entry("k1", qty=1))
            await nt.until(lambda st: held(st, "A1") == 1, "still trading")
            await nt.do("price", instrument=MNQ, last=20990)  # open P&L -$20 reaches the guardian between fills
            await eventually(lambda: guardian.tracker("A1").equity == D("49980.00"), what="open P&L marked")

    run(scenario())


def test_long_account_names_give_order_names_of_at_most_50_characters(tmp_path):
    async def scenario():
        async with scene(tmp_path, accounts=(LONG_NAME,)) as (nt, _url, _t, gateway, store, _g):
            key = f"sig:{'7f3a9c' * 5}ab:{LONG_NAME}"  # what the pipeline makes: far over 50 characters
            await gateway.place_order(entry(key, account=LONG_NAME, bracket=BRACKET))
            state = await nt.until(
                lambda st: held(st, LONG_NAME) == 2 and legs(st, LONG_NAME, ":stop") == 2, "protected"
            )
            names = state["accounts"][LONG_NAME]["names"]
            assert names and max(len(n) for n in names) <= 50 and not state["violations"]
            assert order_ref(key) in names
            await eventually(lambda: order(store, key).status == OrderStatus.FILLED, what="filled under its key")

    run(scenario())


def test_an_atm_entry_is_named_entry_and_reported_by_its_reference(tmp_path):
    async def scenario():
        mono_or_skip()
        async with scene(tmp_path, start=False) as (nt, url, tokens, gateway, store, _g):
            await nt.do("atm_template", name="Scalp", stop=40, target=80)
            await nt.do("settings", hub_url=url, token=tokens["nt8"], atm_template="Scalp")
            await nt.do("addon_start")
            await nt.until(lambda st: any(c["connected"] for c in st["connections"]), "connected")
            await gateway.place_order(entry("k-atm", qty=1, bracket=BRACKET))
            state = await nt.until(lambda st: held(st, "A1") == 1 and len(working(st, "A1")) == 2, "ATM legs")
            assert {o["name"] for o in working(state, "A1")} == {"Stop1", "Target1"} and not state["violations"]
            assert "Entry" in state["accounts"]["A1"]["names"]
            await eventually(lambda: order(store, "k-atm").status == OrderStatus.FILLED, what="the entry, by its ref")
            await eventually(lambda: position(store, "A1") == 1, what="the hub's position")

    run(scenario())


def test_flatten_after_disconnect_flattens_only_the_accounts_this_client_owns(tmp_path):
    async def scenario():
        async with scene(tmp_path, accounts=("A1", "MANUAL"), flatten_after_s=1) as (nt, _u, _t, gateway, store, _g):
            await gateway.place_order(entry("k1", qty=1))
            await nt.do("manual", account="MANUAL", instrument=MNQ, quantity=3)  # a personal account, not the hub's
            await nt.until(lambda st: held(st, "A1") == 1 and held(st, "MANUAL") == 3, "both open")
            await eventually(lambda: position(store, "A1") == 1, what="reported")
            from tests.integration.executors.test_ninjatrader import revoke_every_token

            revoke_every_token(store)  # the hub refuses this client from now on
            await gateway.executors["nt8"].close(1012, "test: hub going away")
            state = await nt.until(lambda st: held(st, "A1") == 0, "A1 flattened", timeout=20)
            assert held(state, "MANUAL") == 3  # never touched
            assert any("flattening" in c["status"] or "refused" in c["status"] for c in state["connections"])

    run(scenario())


def test_a_second_client_on_the_same_token_is_refused_and_nothing_flaps(tmp_path):
    async def scenario():
        async with scene(tmp_path) as (nt, url, tokens, gateway, store, guardian):
            session = gateway.executors["nt8"].session
            await nt.do("strategy_start", account="A1", instrument=MNQ, hub_url=url, token=tokens["nt8"])
            state = await nt.until(
                lambda st: any(c["who"] == "strategy" and c["status"].startswith("in use") for c in st["connections"]),
                "the strategy refused",
            )
            addon = next(c for c in state["connections"] if c["who"] == "addon")
            assert addon["connected"] and addon["connections"] == 1
            assert gateway.executors["nt8"].session == session
            assert guardian.tracker("A1").trading_state()[0].value == "active"
            await eventually(lambda: alerts(store, "executor.in_use"), what="the alert")
            state = await nt.state()  # the refused client backs off (30 s): no reconnect storm
            assert next(c for c in state["connections"] if c["who"] == "addon")["connections"] == 1
            assert len(alerts(store, "executor.in_use")) == 1

    run(scenario())


def test_reports_made_while_the_connection_is_down_arrive_after_it_is_back(tmp_path):
    async def scenario():
        async with scene(tmp_path) as (nt, _url, _t, gateway, store, _g):
            await gateway.place_order(
                entry("k-lim", qty=2, order_type=OrderType.LIMIT, limit_price=D("20995.00"), tif=TimeInForce.DAY)
            )
            await nt.until(lambda st: len(working(st, "A1")) == 1, "the limit entry working")
            await nt.do("drop")
            await nt.do("price", instrument=MNQ, last=20995)  # filled while the hub connection is down
            await nt.until(lambda st: held(st, "A1") == 2, "filled at NinjaTrader")
            await eventually(lambda: position(store, "A1") == 2, what="the fill reported after the reconnect")
            await eventually(lambda: order(store, "k-lim").status == OrderStatus.FILLED, what="its state too")

    run(scenario())


def test_an_order_the_addon_refused_stays_refused_when_the_hub_lost_the_refusal(tmp_path):
    """The AddOn refuses an order (its account lost its connection) and the refusal never reaches the hub. On the
    next connection the hub sends the order again: the AddOn answers with the refusal again, not ``duplicate``
    (which the hub records as accepted), so the order ends REJECTED with the AddOn's reason."""

    async def scenario():
        async with scene(tmp_path) as (nt, _url, _t, gateway, store, _g):
            lost: list[str] = []
            on_frame = gateway.on_frame

            async def losing_the_refusal(peer, frame):
                if '"rejected"' in frame and not lost:  # the connection died before the hub read this frame
                    lost.append(frame)
                    return
                await on_frame(peer, frame)

            gateway.on_frame = losing_the_refusal
            await nt.do("status", account="A1", status="ConnectionLost", message="Rithmic: server closed")
            await gateway.place_order(entry("k-refused", qty=1))
            await eventually(lambda: lost, what="the AddOn's refusal")
            assert order(store, "k-refused").status == OrderStatus.PENDING
            await nt.do("drop")  # the hub sends the pending order again on the next connection
            await eventually(
                lambda: order(store, "k-refused").status != OrderStatus.PENDING, what="the answer to the resend"
            )
            assert order(store, "k-refused").status == OrderStatus.REJECTED
            assert "connection_lost" in reason(store, "k-refused")

    run(scenario())


def test_the_window_saves_the_settings_reconnects_and_never_keeps_the_token_in_clear(tmp_path):
    async def scenario():
        async with scene(tmp_path, start=False) as (nt, url, tokens, gateway, _store, _g):
            await nt.do("settings", hub_url="ws://127.0.0.1:1", token="")  # nothing usable yet
            await nt.do("addon_start")
            bad = await nt.do("window", hub_url=url, token=tokens["nt8"], flatten_after_text="soon")
            assert "flatten after disconnect" in bad["problem"]
            good = await nt.do("window", hub_url=url, token=tokens["nt8"], accounts="A1, A2", flatten_after_text="30")
            assert good["problem"] == "" and good["menu_items_left"] == 0
            state = await nt.until(lambda st: any(c["connected"] for c in st["connections"]), "connected")
            await eventually(lambda: "nt8" in gateway.executors, what="the hub sees the AddOn")
            saved = json.loads(state["settings_file"])
            assert (
                saved["hub_url"] == url and saved["accounts"] == "A1, A2" and saved["flatten_after_disconnect_s"] == 30
            )
            assert tokens["nt8"] not in state["settings_file"] and saved["token"].startswith("dpapi:")
            assert not any(tokens["nt8"] in line for line in state["output"])
            stopped = await nt.do("addon_stop")
            assert stopped["ms"] < 500  # State.Terminated never blocks NinjaTrader

    run(scenario())


def test_the_strategy_exits_with_quantity_keeps_resting_entries_and_reports_the_account(tmp_path):
    async def scenario():
        async with scene(tmp_path, accounts=("A1",), start=False) as (nt, url, tokens, gateway, store, _g):
            started = await nt.do("strategy_start", account="A1", instrument=MNQ, hub_url=url, token=tokens["nt8"])
            assert started["token_property"] == ""  # not kept where workspaces are saved
            await nt.until(lambda st: any(c["connected"] for c in st["connections"]), "connected")
            await gateway.place_order(entry("k1", qty=2, bracket=BRACKET))
            await nt.until(lambda st: held(st, "A1") == 2 and stop_loss(st) == 2, "managed stop and target")
            await gateway.place_order(exit_("x1", qty=1))  # ExitLong(1): never a reversal
            await nt.until(lambda st: held(st, "A1") == 1 and stop_loss(st) == 1, "reduced, legs follow")
            await gateway.place_order(exit_("x2", qty=1))
            await nt.until(lambda st: held(st, "A1") == 0 and not working(st, "A1"), "flat, legs cancelled")
            # a resting entry survives the end of the bar; stop-limit goes out as a stop-limit
            await gateway.place_order(entry("k2", qty=1, order_type=OrderType.LIMIT, limit_price=D("20950.00")))
            await gateway.place_order(
                entry("k3", qty=1, order_type=OrderType.STOP_LIMIT, stop_price=D("21050.00"), limit_price=D("21051.00"))
            )
            await nt.until(lambda st: len(working(st, "A1")) == 2, "two resting entries")
            await nt.do("bar")
            await nt.do("bar")
            state = await nt.state()
            assert sorted(o["type"] for o in working(state, "A1")) == ["Limit", "StopLimit"]
            # a manual trade on the account: the hub sees the account's position, not the strategy's
            await nt.do("manual", account="A1", instrument=MNQ, quantity=1)
            await eventually(lambda: position(store, "A1") == 1, what="PositionAccount reported")
            assert not (await nt.state())["strategy_errors"]

    run(scenario())


def test_an_exit_on_session_close_without_an_order_is_reported(tmp_path):
    async def scenario():
        async with scene(tmp_path, accounts=("A1",), start=False) as (nt, url, tokens, gateway, store, _g):
            await nt.do("strategy_start", account="A1", instrument=MNQ, hub_url=url, token=tokens["nt8"])
            await nt.until(lambda st: any(c["connected"] for c in st["connections"]), "connected")
            await gateway.place_order(entry("k1", qty=1))
            await eventually(lambda: position(store, "A1") == 1, what="long 1")
            await nt.do("session_close", price=21001)
            await eventually(lambda: position(store, "A1") == 0, what="the session-close exit reported")
            # a day-only strategy refuses a good-till-cancelled entry with the reason
            stored = await gateway.place_order(entry("k-gtc", qty=1, order_type=OrderType.LIMIT,
                                                     limit_price=D("20900.00"), tif=TimeInForce.GTC))  # fmt: skip
            await eventually(
                lambda: order(store, stored.idempotency_key).status == OrderStatus.REJECTED, what="refused"
            )
            assert "Time in force" in reason(store, stored.idempotency_key)

    run(scenario())


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=128))
def test_every_name_the_client_makes_is_at_most_50_characters(key):
    ref = order_ref(key)
    names = [ref, f"{ref}:stop", f"{ref}:target", f"{ref}:oco:{2**31 - 1}", "Entry"]
    assert max(map(len, names)) <= 50 and len(ref) <= 20


def test_the_client_computes_the_hubs_order_references(tmp_path):
    async def scenario():
        mono_or_skip()
        async with NinjaHost(tmp_path / "nt") as nt:
            for key in ("sig:7f3a9c:APEX-1", "k", "é-ünïcode-key", "x" * 128):
                assert (await nt.do("ref", key=key))["ref"] == order_ref(key)

    run(scenario())
