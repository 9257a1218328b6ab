"""TradingView webhooks over HTTP (ASGI) into the real pipeline and gateway: executed, refused, stale, repeated, hostile;
limit entries end to end; exits that arrive before their entry filled; a household that reverses together."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.store import schema as s
from enigma_apex.client import new_id, now
from enigma_apex.domain.clock import ManualClock
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, login, recv, run, running_hub
from tests.vendor_alerts import pickmytrade

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
SECRET = "tv-Secret-9f2c41d7"
HOOK = f"/webhooks/tradingview/{SECRET}"
ACCOUNTS = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8", "default_stop_ticks": 40}]
SIGNALS = {"default_mode": "auto", "tradingview_secret": SECRET}
NO_SCORING = {"groups": {"default": {"analyse": False}}, "sizing": {"base_risk_pct": 50}}


def stamp(seconds_ago: float = 1) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def table(store, t):
    with store.engine.connect() as conn:
        return conn.execute(select(t)).all()


def fill(order: m.OrderPlace, quantity: int | None = None, price: str = "21000.00") -> m.FillMsg:
    return m.FillMsg(
        id=new_id(), ts=now(), fill_id=new_id(), key=order.key, account=order.account, symbol=order.symbol,
        side=order.side, quantity=quantity or order.quantity, price=Decimal(price), executed_at=NOW,
    )  # fmt: skip


def update(order: m.OrderPlace, status: str, filled: int = 0) -> m.OrderUpdate:
    return m.OrderUpdate(
        id=new_id(), ts=now(), key=order.key, account=order.account, status=status, filled_quantity=filled
    )


async def quote(ws, last: str = "21000.00") -> None:
    """The executor reports a price (signals without one are sized from it); a pong means it was handled."""
    await ws.send(encode(m.MarketData(id=new_id(), ts=now(), symbol="MNQ 12-26", last=Decimal(last))))
    await ws.send(encode(m.Ping(id=new_id(), ts=now())))
    await recv(ws, "pong")


@asynccontextmanager
async def hub(tmp_path, clock=None, accounts=ACCOUNTS, signals=None, extra=None):
    clock = clock or ManualClock(NOW)
    async with running_hub(
        tmp_path, clock, accounts, {**SIGNALS, **(signals or {})}, {**NO_SCORING, **(extra or {})}
    ) as (
        url,
        made,
        gateway,
        store,
        _guardian,
    ):
        app = create_app(gateway.hub)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http:
            yield http, url, made, gateway, store, clock


async def post(http, body, path=HOOK):
    kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
    return await http.post(path, **kwargs)


def test_tradingview_alerts_are_executed_once_and_bad_ones_refused_and_recorded(tmp_path):
    async def scenario():
        async with hub(tmp_path) as (http, url, made, _g, store, _clock), connect(url) as nt8:
            await login(nt8, made["nt8"])
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
            response = await post(http, alert)
            assert response.status_code == 200, response.text
            (decision,) = response.json()["decisions"]
            assert (decision["account"], decision["action"], decision["quantity"]) == ("A1", "take", 1)
            order = await recv(nt8, "order.place")
            assert (order.symbol, order.side, order.quantity, order.order_type) == ("MNQ 12-26", "buy", 1, "market")
            assert str(order.bracket.stop) == "20980.00"
            (signal,) = table(store, s.signals)
            assert (signal.source, signal.id) == ("tradingview", decision["signal_id"])
            # TradingView sending the same alert again does nothing
            response = await post(http, alert)
            assert (response.status_code, response.json()["status"]) == (200, "duplicate alert; nothing done")
            assert len(table(store, s.orders)) == 1
            # the strategy exits before the entry filled: the entry is cancelled (issue: "no open position" before)
            response = await post(http, "order sell @ 1 filled on MNQ1!. New strategy position is 0")
            (exit_decision,) = response.json()["decisions"]
            assert exit_decision["action"] == "take" and "cancel 1 working entry" in exit_decision["reason"]
            cancel = await recv(nt8, "order.cancel")
            assert cancel.order_key == order.key
            # refusals: 400 with the reason, recorded as alerts, nothing executed
            for body, words in (
                ("{broken", "invalid JSON"),
                ({**alert, "time": stamp(600)}, "stale alert"),
                ({**alert, "time": stamp(-86400)}, "ahead of the hub's clock"),
                ({**alert, "ticker": "{{ticker}}"}, "placeholder"),
                ({**alert, "ticker": "MNQU2025"}, "expired"),
                ("key=ct-very-secret; command=PLACE; instrument=NQ1!; action=HOLD;", "not BUY or SELL"),
            ):
                response = await post(http, body)
                assert response.status_code == 400 and words in response.json()["error"], response.text
            refused = [a for a in table(store, s.alerts) if a.kind == "webhook.refused"]
            assert len(refused) == 6
            assert all("ct-very-secret" not in (a.detail or "") + a.message for a in refused)
            assert len(table(store, s.orders)) == 1 and len(table(store, s.signals)) == 2

    run(scenario())


def test_a_wrong_secret_answers_exactly_as_an_unknown_route_for_every_method(tmp_path):
    async def scenario():
        async with hub(tmp_path) as (http, _url, _made, _g, _store, _clock):
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"):
                wrong = await http.request(method, "/webhooks/tradingview/guess", content=b'{"ticker": "NQ1!"}')
                unknown = await http.request(method, "/webhooks/tradingviewx/guess", content=b'{"ticker": "NQ1!"}')
                assert wrong.status_code == unknown.status_code == 404, method
                assert wrong.headers.get("content-type") == unknown.headers.get("content-type"), method
                assert "allow" not in wrong.headers
                if method != "HEAD":
                    body, other = wrong.json(), unknown.json()
                    assert {**body, "instance": ""} == {**other, "instance": ""}, method
            # the right secret: only POST is a webhook
            assert (await http.get(HOOK)).status_code == 405

    run(scenario())


def test_the_body_limit_is_configurable_and_answers_413_with_the_size(tmp_path):
    async def scenario():
        async with hub(tmp_path) as (http, _url, _made, _g, store, _clock):
            response = await http.post(HOOK, content=b"x" * 1_048_576)
            assert response.status_code == 413
            assert "1,048,576 bytes" in response.json()["detail"] and "65,536-byte limit" in response.json()["detail"]

            async def chunks():  # no Content-Length: counted as it streams
                for _ in range(20):
                    yield b"y" * 4096

            response = await http.post(HOOK, content=chunks())
            assert response.status_code == 413 and "81,920 bytes" in response.json()["detail"]
            # PickMyTrade's template for 150 accounts (about 17 KB) fits the default
            body = pickmytrade("close", multiple_accounts=[
                {"token": f"tok{i:04d}xxxxxxxxxxxxxxxxxxxxxxx", "account_id": str(i), "risk_percentage": 0,
                 "quantity_multiplier": 1} for i in range(150)
            ])  # fmt: skip
            body["date"] = stamp()
            assert 15_000 < len(json.dumps(body)) < 65_536
            response = await post(http, body)
            assert response.status_code == 200, response.text
            (signal,) = table(store, s.signals)
            assert "tok0007" not in signal.raw and signal.raw.count("***") == 151
        async with hub(tmp_path / "small", signals={"webhook_max_body_bytes": 2048}) as (http, *_rest):
            response = await http.post(HOOK, content=b"z" * 4096)
            assert response.status_code == 413 and "2,048-byte limit" in response.json()["detail"]

    run(scenario())


def test_repeats_are_one_alert_within_a_rolling_window(tmp_path):
    clock = ManualClock(datetime(2026, 12, 1, 15, 0, 29, 500000, tzinfo=UTC))  # half a second before a 30 s boundary

    async def scenario():
        async with hub(tmp_path, clock) as (http, _url, _made, _g, store, _clock):
            alert = {"ticker": "MNQ1!", "action": "exit"}  # no time of its own
            assert (await post(http, alert)).json()["status"] == "decided"
            clock.advance(timedelta(seconds=1))  # across the boundary: still a repeat
            assert (await post(http, alert)).json()["status"] == "repeated alert; nothing done"
            clock.advance(timedelta(seconds=25))  # 26 s after the first, 25 after the last: a repeat, extends it
            assert (await post(http, alert)).json()["status"] == "repeated alert; nothing done"
            clock.advance(timedelta(seconds=29))  # 29 s after the last repeat
            assert (await post(http, alert)).json()["status"] == "repeated alert; nothing done"
            clock.advance(timedelta(seconds=31))
            assert (await post(http, alert)).json()["status"] == "decided"
            assert len(table(store, s.signals)) == 2
        # a restarted hub remembers the last stored one
        async with hub(tmp_path, clock) as (http, *_rest):
            clock.advance(timedelta(seconds=5))
            assert (await post(http, {"ticker": "MNQ1!", "action": "exit"})).json()["status"].startswith("repeated")

    run(scenario())


def test_secrets_are_never_stored_nor_served(tmp_path):
    async def scenario():
        async with hub(tmp_path) as (http, _url, made, _g, store, _clock):
            body = pickmytrade("close", date=stamp())
            assert (await post(http, body)).status_code == 200
            (signal,) = table(store, s.signals)
            assert "Ct8tPtD345345t3fty2EtYtCtVtVtUtL" not in signal.raw
            listed = await http.get("/api/v1/signals", headers={"Authorization": f"Bearer {made['dash']}"})
            assert listed.status_code == 200 and "Ct8tPtD345345t3fty2EtYtCtVtVtUtL" not in listed.text
            refused = await post(http, {**body, "data": "hold", "date": stamp(2)})
            assert refused.status_code == 400
            (alert,) = [a for a in table(store, s.alerts) if a.kind == "webhook.refused"]
            assert "Ct8tPtD345345t3fty2EtYtCtVtVtUtL" not in (alert.detail or "")

    run(scenario())


def test_limit_entries_travel_with_their_price_and_expire_when_not_filled(tmp_path):
    async def scenario():
        async with hub(tmp_path, signals={"entry_order_ttl_s": 120}) as (http, url, made, gateway, store, clock):
            async with connect(url) as nt8:
                await login(nt8, made["nt8"])
                body = {"ticker": "MNQ1!", "action": "buy", "orderType": "limit", "limitPrice": "20990.25",
                        "timeInForce": "gtc", "quantity": 1}  # fmt: skip
                response = await post(http, body)
                assert response.json()["decisions"][0]["action"] == "take", response.text
                order = await recv(nt8, "order.place")
                assert (order.order_type, order.limit_price, order.tif) == ("limit", Decimal("20990.25"), "gtc")
                await nt8.send(encode(m.Ack(id=new_id(), ts=now(), key=order.key, status="accepted")))
                await nt8.send(encode(update(order, "working")))
                await eventually(lambda: table(store, s.orders)[0].status == "working")
                await gateway.pipeline.expire_and_record()
                clock.advance(timedelta(seconds=121))
                await gateway.pipeline.expire_and_record()
                cancel = await recv(nt8, "order.cancel")
                assert cancel.order_key == order.key

    run(scenario())


def test_an_order_type_the_executor_cannot_place_is_refused_400(tmp_path):
    async def scenario():
        async with hub(tmp_path) as (http, url, made, _g, store, _clock), connect(url) as nt8:
            await nt8.send(
                encode(m.Hello(id=new_id(), ts=now(), token=made["nt8"], client="nt8", order_types=["market", "limit"]))
            )
            await recv(nt8, "welcome")
            body = {"ticker": "MNQ1!", "action": "buy", "orderType": "stop", "stopPrice": "21010.00", "quantity": 1}
            response = await post(http, body)
            assert response.status_code == 400
            assert "cannot place a stop order (it places: limit, market)" in response.json()["error"]
            assert table(store, s.signals) == []

    run(scenario())


def test_an_exit_right_after_an_entry_cancels_it_and_closes_what_filled(tmp_path):
    async def scenario():
        async with hub(tmp_path) as (http, url, made, gateway, _store, _clock), connect(url) as nt8:
            await login(nt8, made["nt8"])
            response = await post(
                http, {"ticker": "MNQ1!", "action": "buy", "quantity": 2, "price": "21000.00", "time": stamp(3)}
            )
            assert response.json()["decisions"][0]["quantity"] == 2, response.text
            entry = await recv(nt8, "order.place")
            await post(http, {"ticker": "MNQ1!", "action": "exit", "time": stamp(2)})
            cancel = await recv(nt8, "order.cancel")
            assert cancel.order_key == entry.key
            # the venue filled one contract before the cancel reached it, then cancelled the rest
            await nt8.send(encode(fill(entry, 1)))
            await nt8.send(encode(update(entry, "cancelled", 1)))
            close = await recv(nt8, "order.place")
            assert (close.side, close.quantity, close.purpose) == ("sell", 1, "exit")
            await nt8.send(encode(fill(close)))
            await nt8.send(encode(update(close, "filled", 1)))
            await eventually(lambda: gateway.guardian.book.positions["A1"] == {}, what="A1 flat")
            assert gateway.pipeline.waits == {}

    run(scenario())


def test_a_household_reversing_together_never_trips_the_hedging_guard(tmp_path):
    accounts = [
        {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8", "default_stop_ticks": 40},
        {"name": "A2", "profile": "apex4-intraday-eval-50k", "executor": "nt8", "default_stop_ticks": 40},
    ]

    async def scenario():
        async with hub(tmp_path, accounts=accounts) as (http, url, made, gateway, store, _clock):
            async with connect(url) as nt8:
                await login(nt8, made["nt8"])
                await quote(nt8)
                await post(http, "order buy @ 1 filled on MNQ1!. New strategy position is 1")
                entries = [await recv(nt8, "order.place") for _ in range(2)]
                for entry in entries:
                    await nt8.send(encode(fill(entry)))
                    await nt8.send(encode(update(entry, "filled", 1)))
                await eventually(lambda: all(gateway.guardian.book.positions.get(a) for a in ("A1", "A2")))
                response = await post(http, "order sell @ 2 filled on MNQ1!. New strategy position is -1")
                assert [d["action"] for d in response.json()["decisions"]] == ["take", "take"]
                closes = [await recv(nt8, "order.place") for _ in range(2)]
                assert {(c.account, c.side, c.quantity, c.purpose) for c in closes} == {
                    ("A1", "sell", 1, "exit"),
                    ("A2", "sell", 1, "exit"),
                }
                await nt8.send(encode(fill(closes[0])))  # A1 is flat; A2 is still long: A1 may not short yet
                await nt8.send(encode(update(closes[0], "filled", 1)))
                await nt8.send(encode(m.Ping(id=new_id(), ts=now())))
                await recv(nt8, "pong")
                assert len(table(store, s.orders)) == 4
                await nt8.send(encode(fill(closes[1])))
                await nt8.send(encode(update(closes[1], "filled", 1)))
                shorts = [await recv(nt8, "order.place") for _ in range(2)]
                assert {(o.account, o.side, o.quantity, o.purpose) for o in shorts} == {
                    ("A1", "sell", 1, "entry"),
                    ("A2", "sell", 1, "entry"),
                }
            with store.engine.connect() as conn:
                verdicts = conn.execute(select(s.decisions.c.verdicts)).scalars().all()
            assert not any("HEDGING" in v for v in verdicts)

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
    async def scenario():
        async with hub(tmp_path) as (http, _url, _made, gateway, store, _clock):

            async def broken(*_args, **_kwargs):
                raise RuntimeError("database is gone")

            gateway.pipeline.submit = broken
            response = await post(http, {"ticker": "NQ1!", "action": "buy"})
            assert response.status_code == 503 and "nothing was executed" in response.json()["error"]
            assert table(store, s.orders) == []

    run(scenario())
