"""Every vendor example (tests/vendor_alerts.py) ends in the position its vendor documents on the paper broker, on
NinjaTrader through ATI files, on Tradovate, Rithmic and ProjectX (their loopback venues): the real hub (webhook parsing, planner, pipeline, gateway) and the
real executor, each account starting where the row says (placed through the hub, filled at the venue)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from enigma_apex.adapters.store import repository
from enigma_apex.app.webhooks import TradingViewWebhook
from enigma_apex.bench.venues.harness import HARNESSES
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.orders import Bracket, OrderIntent, Side
from enigma_apex.intake.tradingview import Alert, parse_alert
from tests.integration.gatewaykit import eventually, running_hub
from tests.vendor_alerts import CASES

D = Decimal
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York: the firms' sessions are open


def account(i: int) -> str:
    return f"V{i:02d}"


ACCOUNTS = [
    {"name": account(i), "profile": "apex4-intraday-eval-50k", "executor": "nt8", "default_stop_ticks": 40,
     "household": account(i)}
    for i in range(len(CASES))
]  # fmt: skip


def position(store, name, contract):
    with store.engine.connect() as conn:
        return repository.get_position(conn, name, contract).quantity


def live_orders(store, name):
    with store.engine.connect() as conn:
        return repository.working_orders(conn, name)


@pytest.mark.parametrize("kind", ["paper", "ati", "tradovate", "rithmic", "projectx"])
def test_every_vendor_example_ends_in_its_documented_position(tmp_path, kind):
    async def scenario():
        extra = {"groups": {a["name"]: {"analyse": False} for a in ACCOUNTS}, "sizing": {"base_risk_pct": 50}}
        accounts = [{**a, "group": a["name"]} for a in ACCOUNTS]
        async with running_hub(
            tmp_path, ManualClock(NOW), accounts, {"default_mode": "auto"}, extra, heartbeat_timeout_s=30
        ) as (
            url,
            tokens,
            gateway,
            store,
            _guardian,
        ):
            harness = HARNESSES[kind](tmp_path / kind)
            await harness.start(url, tokens["nt8"], {a["name"]: D(50000) for a in ACCOUNTS})
            try:
                contract = parse_alert(b'{"ticker": "MNQ1!", "action": "exit"}', today=NOW.date()).contract
                await harness.quote(contract, D("21000.00"), D("21000.25"))
                gateway.pipeline.quotes[contract] = D("21000.00")  # ATI reports no prices: as from another feed
                # every account starts where its row says, placed through the hub and filled at the venue
                for i, case in enumerate(CASES):
                    if case.start:
                        side = Side.BUY if case.start > 0 else Side.SELL
                        # protected: over ATI an unprotected position stands at the flatten line (no new risk)
                        stop = Bracket(stop=D("20990.00") if case.start > 0 else D("21010.00"))
                        intent = OrderIntent(f"start-{i}", account(i), contract, side, abs(case.start), bracket=stop)
                        await gateway.place_order(intent)
                for i, case in enumerate(CASES):
                    name = account(i)
                    await eventually(
                        lambda n=name, c=case: position(store, n, contract) == c.start, what=f"{case} start"
                    )
                hook = TradingViewWebhook(gateway.pipeline)
                failures = []
                for i, case in enumerate(CASES):
                    raw = json.dumps(case.body).encode() if isinstance(case.body, dict) else case.body.encode()
                    alert = parse_alert(raw, today=NOW.date())
                    assert isinstance(alert, Alert), (case.name, alert)
                    signal = replace(hook._signal(alert), group=account(i))
                    await gateway.pipeline.submit(signal)
                    name = account(i)
                    try:
                        await eventually(
                            lambda n=name, c=case: (
                                position(store, n, contract) == c.end
                                and not live_orders(store, n)
                                and not any(w.account == n for w in gateway.pipeline.waits.values())
                            ),
                            timeout=10,
                            what=f"{case}",
                        )
                    except AssertionError:
                        failures.append((case.name, position(store, name, contract), case.end))
                assert not failures, failures
                # the venue holds what the hub recorded
                for i, case in enumerate(CASES):
                    held = {p.contract: p.quantity for p in harness.venue.positions(account(i))}
                    assert held.get(contract, 0) == case.end, case.name
            finally:
                await harness.stop()

    asyncio.run(scenario())
