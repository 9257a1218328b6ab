"""TradingView webhooks over HTTP (ASGI) into the real pipeline and gateway: executed, refused, stale, repeated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.store import schema as s
from enigma_apex.domain.clock import ManualClock
from tests.integration.gatewaykit import login, recv, run, running_hub

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
SECRET = "tv-Secret-9f2c41d7"
ACCOUNTS = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]


def stamp(seconds_ago: float = 1) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def table(store, t):
    with store.engine.connect() as conn:
        return conn.execute(select(t)).all()


def test_tradingview_alerts_are_executed_once_and_bad_ones_refused_and_recorded(tmp_path):
    clock = ManualClock(NOW)
    signals = {"default_mode": "auto", "tradingview_secret": SECRET}

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, signals) as (url, made, gateway, store, _g):
            app = create_app(gateway.hub)
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http,
                connect(url) as nt8,
            ):
                await login(nt8, made["nt8"])
                hook = f"/webhooks/tradingview/{SECRET}"
                alert = {
                    "ticker": "CME_MINI:MNQ1!",
                    "action": "buy",
                    "price": "21000.00",
                    "quantity": 1,
                    "stopLoss": {"amount": 20},
                    "time": stamp(),
                }
                # a wrong secret looks like nothing is there, and stores nothing
                response = await http.post("/webhooks/tradingview/not-the-secret", json=alert)
                assert response.status_code == 404
                assert table(store, s.signals) == []
                response = await http.post(hook, json=alert)
                assert response.status_code == 200, response.text
                (decision,) = response.json()["decisions"]
                assert (decision["account"], decision["action"], decision["quantity"]) == ("A1", "take", 1)
                order = await recv(nt8, "order.place")
                assert (order.symbol, order.side, order.quantity) == ("MNQ 12-26", "buy", 1)  # the alert's size caps
                assert str(order.bracket.stop) == "20980.00"
                (signal,) = table(store, s.signals)
                assert (signal.source, signal.id) == ("tradingview", decision["signal_id"])
                # TradingView sending the same alert again does nothing
                response = await http.post(hook, json=alert)
                assert (response.status_code, response.json()["status"]) == (200, "duplicate alert; nothing done")
                assert len(table(store, s.orders)) == 1
                # TradingView's default strategy message: position 0 is an exit (no position here: skipped)
                response = await http.post(
                    hook, content="order sell @ 1 filled on MNQ1!. New strategy position is 0", headers={}
                )
                assert response.json()["decisions"][0]["action"] == "skip"
                # refusals: 400 with the reason, recorded as alerts, nothing executed
                for body, words in (
                    ("{broken", "invalid JSON"),
                    ({**alert, "time": stamp(600)}, "stale alert"),
                    ({**alert, "ticker": "{{ticker}}"}, "placeholder"),
                    ("key=ct-very-secret; command=PLACE; instrument=NQ1!; action=HOLD;", "not BUY or SELL"),
                ):
                    kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
                    response = await http.post(hook, **kwargs)
                    assert response.status_code == 400 and words in response.json()["error"], response.text
                refused = [a for a in table(store, s.alerts) if a.kind == "webhook.refused"]
                assert len(refused) == 4
                assert all("ct-very-secret" not in (a.detail or "") + a.message for a in refused)
                assert len(table(store, s.orders)) == 1

    run(scenario())


def test_the_webhook_is_off_without_a_secret(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, ManualClock(NOW), ACCOUNTS) as (_url, _made, gateway, _store, _g):
            app = create_app(gateway.hub)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http:
                response = await http.post("/webhooks/tradingview/anything", json={"ticker": "NQ1!", "action": "buy"})
                assert response.status_code == 404

    run(scenario())


def test_a_pipeline_failure_answers_503_and_executes_nothing(tmp_path):
    signals = {"default_mode": "auto", "tradingview_secret": SECRET}

    async def scenario():
        async with running_hub(tmp_path, ManualClock(NOW), ACCOUNTS, signals) as (_url, _made, gateway, store, _g):

            async def broken(*_args, **_kwargs):
                raise RuntimeError("database is gone")

            gateway.pipeline.submit = broken
            app = create_app(gateway.hub)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http:
                response = await http.post(f"/webhooks/tradingview/{SECRET}", json={"ticker": "NQ1!", "action": "buy"})
            assert response.status_code == 503 and "nothing was executed" in response.json()["error"]
            assert table(store, s.orders) == []

    run(scenario())
