"""What the dashboard's cockpit asks of the hub, over the HTTP API and the gateway (ASGI, the real pipeline and
gateway): approvals per signal and account, the list of what waits with what approving it does now, closing one
position without halting, the market's bars, the kept equity curve, the journal, and bad requests refused with
nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.store import schema as s
from enigma_apex.app.views import EquityHistory
from enigma_apex.client import now
from enigma_apex.domain.clock import ManualClock
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, login, recv, run, running_hub

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8", "household": "A1"},
    {"name": "A2", "profile": "topstep-combine-50k", "executor": "nt8", "household": "A2"},
]
GOOD = {"symbol": "MNQ", "side": "long", "entry": "21000.00", "stop": "20980.00", "target": "21040.00"}


def rows(store, table):
    with store.engine.connect() as conn:
        return conn.execute(select(table)).all()


def test_each_account_of_a_waiting_signal_is_approved_or_rejected_on_its_own(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "confirm"}) as (url, made, g, store, _):
            app = create_app(g.hub)
            dash = {"Authorization": f"Bearer {made['dash']}"}
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http,
                connect(url) as nt8,
                connect(url) as phone,
            ):
                await login(nt8, made["nt8"])
                await login(phone, made["dash"])
                sent = (await http.post("/api/v1/signals", json=GOOD, headers=dash)).json()
                signal_id = sent["signal_id"]
                waiting = (await http.get("/api/v1/approvals", headers=dash)).json()["approvals"]
                assert {(a["account"], a["action"]) for a in waiting} == {("A1", "take"), ("A2", "take")}
                assert all(a["quantity"] >= 1 and a["signal_id"] == signal_id for a in waiting)
                # bad requests change nothing
                for body, status in (({"accounts": ["A9"]}, 409), ({"accounts": []}, 422), ({"who": "A1"}, 422)):
                    answer = await http.post(f"/api/v1/signals/{signal_id}/approve", json=body, headers=dash)
                    assert answer.status_code == status, answer.text
                assert len((await http.get("/api/v1/approvals", headers=dash)).json()["approvals"]) == 2
                # A1 alone
                one = await http.post(f"/api/v1/signals/{signal_id}/approve", json={"accounts": ["A1"]}, headers=dash)
                assert one.status_code == 200 and [d["account"] for d in one.json()["decisions"]] == ["A1"]
                assert (await recv(nt8, "order.place")).account == "A1"
                left = (await http.get("/api/v1/approvals", headers=dash)).json()["approvals"]
                assert [a["account"] for a in left] == ["A2"]
                again = await http.post(f"/api/v1/signals/{signal_id}/approve", json={"accounts": ["A1"]}, headers=dash)
                assert again.status_code == 409
                # A2 over the gateway, as a phone would: rejected
                await phone.send(encode(m.Reject(id="r1", ts=now(), signal_id=signal_id, accounts=["A2"])))
                decision = await recv(phone, "decision")
                assert (decision.account, decision.action) == ("A2", "rejected")
                assert (await http.get("/api/v1/approvals", headers=dash)).json()["approvals"] == []
                assert [r.account_id for r in rows(store, s.orders)] == ["A1"]

    run(scenario())


def test_a_position_closes_alone_and_the_market_bars_and_the_journal_follow(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "auto"}) as (url, made, g, _store, _):
            app = create_app(g.hub)
            dash = {"Authorization": f"Bearer {made['dash']}"}
            observer = {"Authorization": f"Bearer {made['obs']}"}
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http,
                connect(url) as nt8,
            ):
                await login(nt8, made["nt8"])
                for i, price in enumerate(("21000.00", "21004.00", "20996.00")):
                    tick = m.MarketData(id=f"q{i}", ts=NOW + timedelta(seconds=10 * i), symbol="MNQ 12-26",
                                        last=Decimal(price))  # fmt: skip
                    await nt8.send(encode(tick))
                bars = await eventually(
                    lambda: g.hub.market.bars.get("MNQ 12-26"), what="a bar built from the executor's prices"
                )
                market = (await http.get("/api/v1/market/MNQ", headers=dash)).json()
                assert market["last"] == "20996.00" and market["bars"][0]["high"] == "21004.00" and len(bars) == 1
                assert (await http.get("/api/v1/market/XYZ", headers=dash)).status_code == 404
                sent = (await http.post("/api/v1/signals", json={**GOOD, "note": "pullback"}, headers=dash)).json()
                placed = {}
                for _ in range(2):
                    order = await recv(nt8, "order.place")
                    placed[order.account] = order
                entry = placed["A1"]
                fill = m.FillMsg(id="f1", ts=now(), fill_id="F-1", key=entry.key, account="A1", symbol="MNQ 12-26",
                                 side="buy", quantity=entry.quantity, price=Decimal("21000.00"), commission=Decimal("0.50"),
                                 executed_at=NOW)  # fmt: skip
                await nt8.send(encode(fill))
                detail = await eventually(lambda: g.hub.guardian.book.positions.get("A1"), what="A1 holds the position")
                assert detail
                account = (await http.get("/api/v1/accounts/A1", headers=dash)).json()
                (position,) = account["positions"]
                assert (
                    Decimal(position["ruin_price"])
                    < Decimal(position["flatten_price"])
                    < Decimal(position["average_price"])
                )
                # refusals: unknown symbol, unknown account, a role that may not control
                bad = await http.post("/api/v1/positions/A1/close", json={"symbol": "XYZ"}, headers=dash)
                assert bad.status_code == 422
                assert (
                    await http.post("/api/v1/positions/A9/close", json={"symbol": "MNQ"}, headers=dash)
                ).status_code == 404
                denied = await http.post("/api/v1/positions/A1/close", json={"symbol": "MNQ"}, headers=observer)
                assert denied.status_code == 403
                # the guardian's book a moment behind the committed fill (its refresh runs after the fill's own
                # work): the pages already show the position, and Close closes what is recorded
                g.hub.guardian.book.positions["A1"] = {}
                closed = await http.post("/api/v1/positions/A1/close", json={"symbol": "MNQ"}, headers=dash)
                assert closed.status_code == 200, closed.text
                assert closed.json()["closing"] == entry.quantity
                exit_order = await recv(nt8, "order.place")
                assert (exit_order.account, exit_order.side, exit_order.purpose) == ("A1", "sell", "exit")
                assert exit_order.quantity == entry.quantity
                assert (await http.get("/api/v1/accounts/A1", headers=dash)).json()["state"] == "ACTIVE"
                close_fill = fill.model_copy(update={"id": "f2", "fill_id": "F-2", "key": exit_order.key,
                                                     "side": "sell", "price": Decimal("21010.00")})  # fmt: skip
                await nt8.send(encode(close_fill))

                async def closed_trade():
                    body = (await http.get("/api/v1/trades?account=A1", headers=dash)).json()
                    return [t for t in body["trades"] if t["closed"]]

                (trade,) = await eventually(closed_trade, what="the trade in the journal")
                assert (trade["source"], trade["setup"], trade["direction"]) == ("manual", "pullback", "long")
                assert Decimal(trade["gross"]) == Decimal(20) * entry.quantity  # 10 points x $2 a point
                assert trade["r"] is not None and Decimal(trade["r"]) > 0
                assert sent["signal_id"]

    run(scenario())


def test_the_equity_curve_is_kept_when_it_changes_and_read_back_over_any_range(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS) as (_url, _made, _g, store, guardian):
            history = EquityHistory(every_s=5, hours=1, keep_every_s=60)
            due = history.sample(guardian, ["A1"], NOW)
            assert len(due) == 1  # the first sample of a run is kept
            assert history.sample(guardian, ["A1"], NOW + timedelta(seconds=5)) == []  # nothing changed
            guardian.mark("A1", Decimal("50500"), Decimal(0))
            assert history.sample(guardian, ["A1"], NOW + timedelta(seconds=30)) == []  # changed, but too soon
            later = history.sample(guardian, ["A1"], NOW + timedelta(seconds=65))
            assert [r["equity"] for r in later] == [Decimal("50500")]
            from enigma_apex.adapters.store import repository

            store.writer.write(lambda ctx: repository.insert_equity_samples(ctx, due + later))
            restarted = EquityHistory()  # a new run: nothing in memory, the kept samples remain
            curve = restarted.of("A1", store)
            assert [c["equity"] for c in curve] == ["50000", "50500"]
            assert restarted.of("A1", store, since=NOW + timedelta(seconds=60))[0]["equity"] == "50500"

    run(scenario())
