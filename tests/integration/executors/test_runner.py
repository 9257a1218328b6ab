"""The executor runner's own duties: a lost hub leaves accounts flat, a failing connector is a rejection (never a
crash), and the C# client reports the account's balance on connect."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from enigma_apex.adapters.store import schema as s
from enigma_apex.bench.venues.harness import CSharpHarness, PaperHarness
from enigma_apex.domain.orders import OrderIntent, OrderStatus, Side
from enigma_apex.domain.symbols import parse_symbol
from tests.integration.executors.csharp import mono_or_skip
from tests.integration.gatewaykit import eventually, running_hub

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))
ACCOUNTS = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]


def test_the_paper_executor_flattens_when_the_hub_stays_away(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url,
            tokens,
            gateway,
            store,
            _g,
        ):
            harness = PaperHarness(tmp_path, flatten_after_s=0.5)
            await harness.start(url, tokens["nt8"], {"A1": D(50000)})
            try:
                await harness.quote(MNQ, D("21000.00"), D("21000.25"))
                await gateway.place_order(OrderIntent("k1", "A1", MNQ, Side.BUY, 2))
                await eventually(lambda: bool(harness.venue.positions("A1")))
                revoke_every_token(store)  # from now on the hub refuses the executor
                await gateway.executors["nt8"].close(1012, "test: hub going away")
                await eventually(lambda: harness.runner.flattened_on_disconnect >= 1)
                assert harness.venue.positions("A1") == []
            finally:
                await harness.stop()

    asyncio.run(scenario())


def test_a_failing_connector_is_a_rejection_with_its_reason_and_the_runner_goes_on(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url,
            tokens,
            gateway,
            store,
            _g,
        ):
            harness = PaperHarness(tmp_path)
            await harness.start(url, tokens["nt8"], {"A1": D(50000)})
            try:
                await harness.quote(MNQ, D("21000.00"), D("21000.25"))
                place = harness.connector.place

                async def broken(request):
                    if request.key == "k-bad":
                        raise RuntimeError("broker API timed out")
                    return await place(request)

                harness.connector.place = broken
                await gateway.place_order(OrderIntent("k-bad", "A1", MNQ, Side.BUY, 1))
                await gateway.place_order(OrderIntent("k-good", "A1", MNQ, Side.BUY, 1))

                def status(key):
                    with store.engine.connect() as conn:
                        row = conn.execute(
                            select(s.orders.c.status, s.orders.c.reason).where(s.orders.c.idempotency_key == key)
                        ).one()
                    return row

                await eventually(lambda: status("k-good").status == OrderStatus.FILLED.value)
                bad = status("k-bad")
                assert bad.status == "rejected" and "RuntimeError: broker API timed out" in bad.reason
            finally:
                await harness.stop()

    asyncio.run(scenario())


def test_the_csharp_client_reports_the_accounts_balance_on_connect(tmp_path):
    mono_or_skip()

    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url,
            tokens,
            _gw,
            _st,
            guardian,
        ):
            harness = CSharpHarness(tmp_path)
            await harness.start(url, tokens["nt8"], {"A1": D("50123.45")})
            try:
                await eventually(lambda: guardian.tracker("A1").snapshot().equity == D("50123.45"))
            finally:
                await harness.stop()

    asyncio.run(scenario())


def revoke_every_token(store) -> None:
    """Through the hub's writer, as `token revoke` does (the rows stay sealed)."""
    from enigma_apex.adapters.store import tokens as token_store

    with store.engine.connect() as conn:
        ids = [t.token_id for t in token_store.list_tokens(conn)]
    store.writer.write(lambda ctx: [token_store.revoke_token(ctx, i) for i in ids])
