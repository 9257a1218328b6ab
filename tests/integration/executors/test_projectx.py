"""The ProjectX connector's own duties against the loopback gateway: a refused key, the token expiring, rate
limits (429), hubs that drop (fills made meanwhile still reported, once), open P&L marked from the market hub,
orders found again by their tag after a restart, and no key or token in any log line."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
import structlog

from enigma_apex.adapters.brokers.projectx import ProjectXConnector, ProjectXError
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.bench.venues import projectx_server as fake_projectx
from enigma_apex.bench.venues.projectx_server import FakeProjectX
from enigma_apex.config.models import ProjectXSection
from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution.events import FillEvent, OrderEvent, OrderRequest
from enigma_apex.execution.sim import SimBroker
from tests.integration.gatewaykit import eventually

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))


class Rig:
    def __init__(self, api_key=fake_projectx.API_KEY):
        self.venue = SimBroker({"A1": D(50000)}, id_prefix="PX")
        self.fake = FakeProjectX(self.venue, {"A1": 4001})
        self.api_key = api_key
        self.events = []

    async def __aenter__(self):
        self.urls = await self.fake.start()
        await self.fake.quote(MNQ, D("21000.00"), D("21000.25"))
        self.connector = self.new_connector()
        return self

    def new_connector(self):
        api, user, market = self.urls
        cfg = ProjectXSection(api_url=api, user_hub_url=user, market_hub_url=market, username=fake_projectx.USER,
                              api_key=self.api_key)  # fmt: skip
        return ProjectXConnector(cfg, ["A1"], SystemClock())

    async def start(self):
        await self.connector.start(self.events.append)

    async def __aexit__(self, *exc):
        await self.connector.close()
        await self.fake.stop()

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def test_a_wrong_api_key_is_a_clear_error():
    async def scenario():
        async with Rig(api_key="wrong") as rig:
            with pytest.raises(ProjectXError, match="Invalid credentials"):
                await rig.start()

    asyncio.run(scenario())


def test_an_expired_token_is_renewed_and_the_order_goes_out_once():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            rig.fake.expire_tokens()
            result = await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
            assert result.accepted and rig.fake.logins == 2
            await eventually(lambda: len(rig.of(FillEvent)) == 1, what="the fill")
            assert len(rig.fake.tags) == 1

    asyncio.run(scenario())


def test_rate_limits_are_waited_out_and_the_request_sent_again():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            rig.fake.rate_limit_next = 3
            result = await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.SELL, 2))
            assert result.accepted and rig.connector.rest.rate_limited == 3 and rig.fake.rate_limited == 3
            assert len(rig.fake.tags) == 1

    asyncio.run(scenario())


def test_a_market_bracket_sends_signed_ticks_and_the_legs_are_known():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            bracket = Bracket(D("21010.00"), D("20980.00"))  # a short: stop above, target below
            assert (await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.SELL, 1, bracket=bracket))).accepted
            await eventually(lambda: {leg.key for leg in rig.connector.protective_legs("A1", MNQ)} == {"k1:stop", "k1:target"},
                             what="both legs")  # fmt: skip
            stop = next(o for o in rig.venue.working("A1") if o.request.order_type is OrderType.STOP)
            assert stop.request.stop_price == D("21010.00")

    asyncio.run(scenario())


def test_a_refused_order_carries_the_gateways_reason():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            wrong = OrderRequest("k1", "A1", MNQ, Side.BUY, 1, OrderType.STOP, stop_price=D("20900"))
            result = await rig.connector.place(wrong)
            assert not result.accepted and "20900" in result.reason

    asyncio.run(scenario())


def test_a_dropped_user_hub_reconnects_and_a_fill_made_meanwhile_is_reported_once():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            limit = OrderRequest("k1", "A1", MNQ, Side.BUY, 1, OrderType.LIMIT, limit_price=D("20990.00"))
            assert (await rig.connector.place(limit)).accepted
            await eventually(lambda: rig.fake.connections["user"] == 1 and rig.fake.peers, what="hubs up")
            rig.connector.user_hub.drop()  # the hub goes away ...
            await rig.fake.drop_hubs("user")
            await rig.fake.quote(MNQ, D("20989.75"), D("20990.00"))  # ... and the limit fills meanwhile
            await eventually(lambda: rig.fake.connections["user"] >= 2, what="the user hub back")
            await eventually(lambda: len(rig.of(FillEvent)) == 1, what="the fill, from the trade search")
            await eventually(lambda: rig.connector.positions("A1"), what="the position")
            await rig.fake.quote(MNQ, D("20991.00"), D("20991.25"))
            await asyncio.sleep(0)  # a late hub event for the same trade must not count twice
            assert len(rig.of(FillEvent)) == 1
            assert any(e.status is OrderStatus.FILLED for e in rig.of(OrderEvent))

    asyncio.run(scenario())


def test_open_pnl_is_marked_from_the_market_hub():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
            await eventually(lambda: rig.connector.positions("A1"), what="long 1")
            await rig.fake.quote(MNQ, D("20990.00"), D("20990.25"))
            await eventually(lambda: rig.connector.account_state("A1").open_pnl == D("-20.25"), what="the mark")

    asyncio.run(scenario())


def test_after_a_restart_working_orders_are_found_by_their_tag_and_not_placed_again():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            limit = OrderRequest("k-lim", "A1", MNQ, Side.BUY, 1, OrderType.LIMIT, limit_price=D("20950.00"))
            assert (await rig.connector.place(limit)).accepted
            await rig.connector.close()
            rig.connector = rig.new_connector()
            await rig.start()
            result = await rig.connector.place(limit)
            assert result.accepted and result.reason == "already at ProjectX"
            assert len(rig.fake.tags) == 1

    asyncio.run(scenario())


def test_no_key_or_token_appears_in_logs_or_reprs():
    async def scenario():
        async with Rig() as rig:
            with structlog.testing.capture_logs() as logs:
                await rig.start()
                rig.fake.rate_limit_next = 1
                await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
            text = repr(logs) + repr(rig.connector.rest) + repr(rig.connector.cfg)
            for secret in (fake_projectx.API_KEY, rig.connector.rest.token):
                assert secret and secret not in text

    asyncio.run(scenario())


def test_after_a_restart_a_brackets_legs_still_follow_the_position():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            bracket = Bracket(D("20990.00"), D("21020.00"))
            assert (await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 2, bracket=bracket))).accepted
            await eventually(lambda: len(rig.connector.protective_legs("A1", MNQ)) == 2, what="the legs")
            await rig.connector.close()
            rig.connector = rig.new_connector()  # the filled entry is gone from the open orders
            await rig.start()
            legs = rig.connector.protective_legs("A1", MNQ)
            assert sorted(leg.kind for leg in legs) == ["stop", "target"] and {leg.remaining for leg in legs} == {2}
            assert (await rig.connector.resize("A1", legs[0].key, 1)).accepted  # an exit shrinks them as before
            await eventually(lambda: sorted(o.remaining for o in rig.venue.working("A1")) == [1, 2], what="shrunk")

    asyncio.run(scenario())
