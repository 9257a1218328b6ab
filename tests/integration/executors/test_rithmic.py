"""The Rithmic connector's own duties against the loopback gateway: a refused login, heartbeats, a forced logout
and a dropped plant, exchange rejects, open P&L from the PnL plant, orders found again after a restart, and no
credential in any log line."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from decimal import Decimal

import pytest
import structlog

from enigma_apex.adapters.brokers.rithmic import RithmicConnector, RithmicError
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.bench.venues import rithmic_server as fake_rithmic
from enigma_apex.bench.venues.rithmic_server import FakeRithmic
from enigma_apex.config.models import RithmicSection
from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution.events import FillEvent, OrderEvent, OrderRequest, PositionEvent
from enigma_apex.execution.rithmic import Infra
from enigma_apex.execution.sim import SimBroker
from tests.integration.gatewaykit import eventually

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))


SCENARIO_S = 120.0  # a scenario that waits longer is stuck: it fails naming every task's stack


def run_bounded(scenario):
    """Run a scenario with a deadline; past it, the stacks of every task still running are in the failure."""

    async def bounded():
        task = asyncio.ensure_future(scenario)
        done, _ = await asyncio.wait({task}, timeout=SCENARIO_S)
        if done:
            return task.result()
        stacks = []
        for other in asyncio.all_tasks():
            out = io.StringIO()
            other.print_stack(file=out)
            stacks.append(out.getvalue()[-1200:])
        task.cancel()
        raise AssertionError(f"the scenario ran past {SCENARIO_S:.0f} s; tasks:\n" + "\n".join(stacks))

    asyncio.run(bounded())


class Rig:
    def __init__(self, password=fake_rithmic.PASSWORD, system=fake_rithmic.SYSTEM, heartbeat_s=30.0):
        self.venue = SimBroker({"A1": D(50000)}, id_prefix="RT")
        self.fake = FakeRithmic(self.venue, ["A1"], heartbeat_s=heartbeat_s)
        self.password, self.system = password, system
        self.events = []

    async def __aenter__(self):
        self.url = await self.fake.start()
        await self.fake.quote(MNQ, D("21000.00"), D("21000.25"))
        self.connector = self.new_connector()
        return self

    def new_connector(self):
        cfg = RithmicSection(gateway_url=self.url, system_name=self.system, user=fake_rithmic.USER,
                             password=self.password)  # fmt: skip
        return RithmicConnector(cfg, ["A1"], SystemClock())

    async def start(self):
        await self.connector.start(self.events.append)

    async def __aexit__(self, *exc):
        await self.connector.close()
        await self.fake.stop()

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def test_a_wrong_password_or_system_is_a_clear_error():
    async def scenario():
        async with Rig(password="wrong") as rig:
            with pytest.raises(RithmicError, match="permission denied"):
                await rig.start()
        async with Rig(system="Nowhere") as rig:
            with pytest.raises(RithmicError, match="unknown system"):
                await rig.start()

    run_bounded(scenario())


def test_each_plant_logs_in_and_keeps_its_heartbeat():
    async def scenario():
        async with Rig(heartbeat_s=0.4) as rig:
            await rig.start()
            assert rig.fake.logins == {Infra.ORDER_PLANT: 1, Infra.PNL_PLANT: 1, Infra.TICKER_PLANT: 1}
            await eventually(lambda: rig.fake.heartbeats >= 3, what="heartbeats from idle plants")
            assert rig.connector.health()[0] == "ok"

    run_bounded(scenario())


def test_a_market_bracket_fills_and_its_legs_are_the_brackets_stop_and_target():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            request = OrderRequest("k1", "A1", MNQ, Side.BUY, 2, bracket=Bracket(D("20990.00"), D("21020.00")))
            assert (await rig.connector.place(request)).accepted
            await eventually(lambda: len(rig.of(FillEvent)) == 1, what="the entry fill")
            await eventually(lambda: {leg.key for leg in rig.connector.protective_legs("A1", MNQ)} == {"k1:stop", "k1:target"},
                             what="both legs known")  # fmt: skip
            stops = [o for o in rig.venue.working("A1") if o.request.order_type is OrderType.STOP]
            assert stops[0].request.stop_price == D("20990.00")
            assert rig.connector.positions("A1") == [PositionEvent("A1", MNQ, 2, D("21000.25"))]

    run_bounded(scenario())


def test_open_pnl_streams_from_the_pnl_plant_as_prices_move():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
            await eventually(lambda: rig.connector.positions("A1"), what="the position")
            await rig.fake.quote(MNQ, D("20990.00"), D("20990.25"))  # last 20990.125: 10.125 points x $2 lower
            await eventually(lambda: rig.connector.account_state("A1").open_pnl == D("-20.25"), what="open loss")
            assert (
                rig.connector.account_state("A1").balance == rig.venue.account_state("A1").balance
            )  # after commission

    run_bounded(scenario())


def test_an_exchange_reject_carries_its_reason():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            wrong = OrderRequest("k1", "A1", MNQ, Side.BUY, 1, OrderType.STOP, stop_price=D("20900"))
            assert (await rig.connector.place(wrong)).accepted  # Rithmic takes it, then the exchange refuses it
            await eventually(lambda: any(e.status is OrderStatus.REJECTED for e in rig.of(OrderEvent)), what="reject")
            reject = next(e for e in rig.of(OrderEvent) if e.status is OrderStatus.REJECTED)
            assert "20900" in reject.reason

    run_bounded(scenario())


def test_a_forced_logout_or_a_dropped_plant_reconnects_and_trading_goes_on():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            await rig.fake.forced_logout(Infra.ORDER_PLANT)
            await eventually(lambda: rig.fake.logins[Infra.ORDER_PLANT] == 2, what="the order plant back")
            await eventually(lambda: rig.connector.health()[0] == "ok", what="healthy again")
            assert (await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.SELL, 1))).accepted
            await eventually(lambda: len(rig.of(FillEvent)) == 1, what="a fill after the forced logout")
            await rig.fake.drop(Infra.PNL_PLANT)
            await eventually(lambda: rig.fake.logins[Infra.PNL_PLANT] == 2, what="the PnL plant back")
            await rig.fake.quote(MNQ, D("21010.00"), D("21010.25"))
            await eventually(lambda: rig.connector.account_state("A1").open_pnl < 0, what="marks after the drop")

    run_bounded(scenario())


def test_after_a_restart_working_orders_are_found_by_their_tag_and_not_placed_again():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            limit = OrderRequest("k-lim", "A1", MNQ, Side.BUY, 1, OrderType.LIMIT, limit_price=D("20950.00"))
            assert (await rig.connector.place(limit)).accepted
            await rig.connector.close()
            rig.connector = rig.new_connector()  # its memory is gone, the gateway's is not
            await rig.start()
            result = await rig.connector.place(limit)
            assert result.accepted and result.reason == "already at Rithmic"
            assert len([o for o in rig.venue.orders.values() if o.request.order_type is OrderType.LIMIT]) == 1

    run_bounded(scenario())


def test_no_credential_appears_in_logs_or_reprs():
    async def scenario():
        async with Rig() as rig:
            with structlog.testing.capture_logs() as logs:
                await rig.start()
                await rig.fake.forced_logout()
                await eventually(lambda: rig.fake.logins[Infra.ORDER_PLANT] == 2, what="reconnected")
            text = repr(logs) + repr(rig.connector.cfg)
            assert fake_rithmic.PASSWORD not in text

    run_bounded(scenario())


def test_without_the_ticker_plant_trading_goes_on_and_a_market_bracket_is_refused_not_sent_bare():
    async def scenario():
        async with Rig() as rig:
            rig.fake.refused_plants.add(Infra.TICKER_PLANT)
            await rig.start()
            assert rig.connector.health()[0] == "degraded"
            bracket = Bracket(D("20990.00"), D("21020.00"))
            refused = await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1, bracket=bracket))
            assert not refused.accepted and "bracket" in refused.reason and not rig.venue.orders
            limit = OrderRequest("k2", "A1", MNQ, Side.BUY, 1, OrderType.LIMIT, limit_price=D("21000.25"),
                                 bracket=bracket)  # fmt: skip
            assert (await rig.connector.place(limit)).accepted  # its ticks count from its own price
            await eventually(lambda: len(rig.connector.protective_legs("A1", MNQ)) == 2, what="the legs")

    run_bounded(scenario())


def test_after_a_restart_a_brackets_working_legs_are_known_as_its_legs():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            bracket = Bracket(D("20990.00"), D("21020.00"))
            assert (await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1, bracket=bracket))).accepted
            await eventually(lambda: len(rig.connector.protective_legs("A1", MNQ)) == 2, what="the legs")
            await rig.connector.close()
            rig.connector = rig.new_connector()  # the entry is filled and gone from the working orders
            await rig.start()
            assert {leg.key for leg in rig.connector.protective_legs("A1", MNQ)} == {"k1:stop", "k1:target"}
            assert "k1" not in rig.connector.keys  # the entry's key is not taken by a leg

    run_bounded(scenario())
