"""Manual signals over the HTTP API (ASGI, real pipeline and gateway): confirm, approve, reject, the decision
record, and every bad request refused with a clear error and nothing stored."""

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
ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"},
    {"name": "A2", "profile": "apex4-intraday-eval-50k", "executor": "nt8"},
]
GOOD = {"symbol": "MNQ", "side": "long", "entry": "21000.00", "stop": "20980.00", "target": "21040.00"}


def count(store, table) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(table)).all())


def test_manual_signal_waits_for_approval_then_executes_and_the_record_shows_it(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "confirm"}) as (url, made, g, _store, _):
            app = create_app(g.hub)
            dash = {"Authorization": f"Bearer {made['dash']}"}
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http,
                connect(url) as nt8,
            ):
                await login(nt8, made["nt8"])
                response = await http.post("/api/v1/signals", json={**GOOD, "id": "manual-1"}, headers=dash)
                assert response.status_code == 201, response.text
                outcome = response.json()
                assert [d["action"] for d in outcome["decisions"]] == ["confirm", "confirm"]
                signal_id = outcome["signal_id"]
                # the same id again (a client retry) does nothing
                again = await http.post("/api/v1/signals", json={**GOOD, "id": "manual-1"}, headers=dash)
                assert (again.status_code, again.json()["duplicate"]) == (200, True)
                approved = await http.post(f"/api/v1/signals/{signal_id}/approve", headers=dash)
                assert approved.status_code == 200, approved.text
                assert {d["action"] for d in approved.json()["decisions"]} == {"take"}
                placed = {(await recv(nt8, "order.place")).account for _ in range(2)}
                assert placed == {"A1", "A2"}
                twice = await http.post(f"/api/v1/signals/{signal_id}/approve", headers=dash)
                assert twice.status_code == 409 and "not waiting" in twice.json()["detail"]
                # a second signal, rejected
                clock.advance(timedelta(seconds=5))
                second = (await http.post("/api/v1/signals", json=GOOD, headers=dash)).json()["signal_id"]
                clock.advance(timedelta(seconds=5))
                rejected = await http.post(f"/api/v1/signals/{second}/reject", headers=dash)
                assert {d["action"] for d in rejected.json()["decisions"]} == {"rejected"}
                # the decision record: newest first, with analysis, sizing and the orders
                record = (await http.get("/api/v1/decisions", headers=dash)).json()["decisions"]
                assert [r["action"] for r in record[:2]] == ["rejected", "rejected"]
                taken = [r for r in record if r["action"] == "take"]
                assert len(taken) == 2 and all(
                    r["orders"][0]["status"] == "pending" for r in taken
                )  # not acknowledged yet
                assert taken[0]["analysis"]["source"] == "scorer" and taken[0]["signal"]["source"] == "manual"
                assert taken[0]["sizing"]["quantity"] == taken[0]["quantity"]
                only_a1 = (await http.get("/api/v1/decisions?account=A1&limit=1", headers=dash)).json()
                assert [r["account"] for r in only_a1["decisions"]] == ["A1"]
                later = (NOW + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
                none = (await http.get(f"/api/v1/decisions?since={later}", headers=dash)).json()
                assert none["decisions"] == []

    run(scenario())


def test_bad_manual_signals_get_clear_errors_and_store_nothing(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "auto"}) as (_u, made, g, store, _):
            app = create_app(g.hub)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http:
                dash = {"Authorization": f"Bearer {made['dash']}"}
                cases = [
                    ({**GOOD, "size": 3}, dash, 422, "size"),  # unknown field
                    ({**GOOD, "entry": "abc"}, dash, 422, "entry"),
                    ({**GOOD, "entry": "-5"}, dash, 422, "entry"),
                    ({**GOOD, "stop": "21010.00"}, dash, 422, "wrong side"),
                    ({**GOOD, "entry": "21000.10"}, dash, 422, "tick"),
                    ({**GOOD, "symbol": "XYZ"}, dash, 422, "symbol"),
                    ({**GOOD, "side": "sideways"}, dash, 422, "side"),
                    (GOOD, {}, 401, "bearer"),
                    (GOOD, {"Authorization": f"Bearer {made['old']}"}, 401, "expired"),
                    (GOOD, {"Authorization": f"Bearer {made['obs']}"}, 403, "may not send signal"),
                ]
                for body, headers, status, words in cases:
                    response = await http.post("/api/v1/signals", json=body, headers=headers)
                    assert response.status_code == status, (body, response.text)
                    assert words in response.text, (words, response.text)
                raw = await http.post(
                    "/api/v1/signals", content=b"{not json", headers={**dash, "Content-Type": "application/json"}
                )
                assert raw.status_code == 422
                assert (await http.post("/api/v1/signals/nope/approve", headers=dash)).status_code == 409
                assert (await http.post("/api/v1/signals/nope/launch", headers=dash)).status_code == 404
                naive = await http.get("/api/v1/decisions?since=2026-12-01T10:00:00", headers=dash)
                assert naive.status_code == 422
                assert count(store, s.signals) == count(store, s.decisions) == count(store, s.orders) == 0

    run(scenario())
