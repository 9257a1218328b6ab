"""The Tradovate connector's own duties against the loopback server: login errors, token renewal, penalty
tickets, socket drops, rejections, and no credential in any log line."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
import structlog

from enigma_apex.adapters.brokers.tradovate import TradovateConnector, TradovateError
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.bench.venues import tradovate_server as fake_tradovate
from enigma_apex.bench.venues.tradovate_server import FakeTradovate
from enigma_apex.config.models import TradovateSection
from enigma_apex.domain.orders import OrderType, Side
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution.events import FillEvent, OrderRequest
from enigma_apex.execution.sim import SimBroker
from tests.integration.gatewaykit import eventually

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))


class Rig:
    def __init__(self, password=fake_tradovate.PASSWORD):
        self.venue = SimBroker({"A1": D(50000)}, id_prefix="TV")
        self.fake = FakeTradovate(self.venue, {"A1": 101})
        self.password = password
        self.events = []

    async def __aenter__(self):
        rest, ws = await self.fake.start()
        self.venue.set_quote(MNQ, D("21000.00"), D("21000.25"), fake_tradovate.now())
        cfg = TradovateSection(username=fake_tradovate.USER, password=self.password, rest_url=rest, ws_url=ws,
                               cid=1, sec="topsecret-sec")  # fmt: skip
        self.connector = TradovateConnector(cfg, ["A1"], SystemClock())
        return self

    async def start(self):
        await self.connector.start(self.events.append)

    async def __aexit__(self, *exc):
        await self.connector.close()
        await self.fake.stop()


def fills(events):
    return [e for e in events if isinstance(e, FillEvent)]


def test_a_wrong_password_is_a_clear_error():
    async def scenario():
        async with Rig(password="wrong") as rig:
            with pytest.raises(TradovateError, match="Incorrect username or password"):
                await rig.start()

    asyncio.run(scenario())


def test_the_token_is_renewed_before_expiry_and_an_expired_one_logs_in_again():
    async def scenario():
        async with Rig() as rig:
            rig.fake.token_lifetime = timedelta(seconds=3)
            await rig.start()
            await eventually(lambda: rig.fake.renewals >= 1)  # renewed, not a new login
            assert rig.fake.logins == 1
            rig.fake.expire_tokens()  # e.g. the machine slept past the expiry
            result = await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
            assert result.accepted and rig.fake.logins == 2
            await eventually(lambda: len(fills(rig.events)) == 1)

    asyncio.run(scenario())


def test_penalty_tickets_are_waited_out_and_the_request_is_sent_again_with_the_ticket():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            rig.fake.penalty_next = 2
            result = await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
            assert result.accepted and rig.connector.rest.penalties == 2 and not rig.fake.tickets
            assert sum(1 for key in rig.venue.orders if not key.startswith("manual")) == 1  # placed once

    asyncio.run(scenario())


def test_a_rejected_order_carries_tradovates_reason():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            wrong = OrderRequest("k1", "A1", MNQ, Side.BUY, 1, OrderType.STOP, stop_price=D("20900"))
            result = await rig.connector.place(wrong)
            assert not result.accepted and "buy stop 20900" in result.reason

    asyncio.run(scenario())


def test_a_dropped_socket_reconnects_resyncs_and_keeps_reporting_fills():
    async def scenario():
        async with Rig() as rig:
            await rig.start()
            await rig.fake.drop_sockets()
            await eventually(lambda: rig.connector.socket_connects == 2 and rig.connector.socket_state == "synced")
            assert (await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.SELL, 2))).accepted
            await eventually(lambda: len(fills(rig.events)) == 1)
            await eventually(lambda: rig.fake.heartbeats >= 1)  # "[]" every 2.5 s

    asyncio.run(scenario())


def test_no_credential_or_token_appears_in_logs_or_reprs():
    async def scenario():
        async with Rig() as rig:
            with structlog.testing.capture_logs() as logs:
                await rig.start()
                rig.fake.penalty_next = 1
                await rig.connector.place(OrderRequest("k1", "A1", MNQ, Side.BUY, 1))
                await rig.fake.drop_sockets()
                await eventually(lambda: rig.connector.socket_connects == 2)
            text = repr(logs) + repr(rig.connector.rest.credentials) + repr(rig.connector.cfg)
            token = rig.connector.rest.access_token
            for secret in (fake_tradovate.PASSWORD, "topsecret-sec", token):
                assert secret and secret not in text

    asyncio.run(scenario())
