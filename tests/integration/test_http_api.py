"""The HTTP API's read models, controls, metrics and RFC 9457 errors, on a real hub core in-process."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import httpx

from enigma_apex.adapters.http.app import create_app
from enigma_apex.bench.venues.harness import PaperHarness
from enigma_apex.domain.orders import OrderIntent, Side
from enigma_apex.domain.symbols import parse_symbol
from tests.integration.gatewaykit import running_hub

MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))
ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"},
    {"name": "A2", "profile": "topstep-combine-50k", "executor": "nt8"},
]


async def eventually(check, timeout=15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_read_models_controls_metrics_and_problem_details(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS, heartbeat_timeout_s=30) as (
            url,
            tokens,
            gateway,
            _store,
            _g,
        ):
            app = create_app(gateway.hub)
            harness = PaperHarness(tmp_path)
            await harness.start(url, tokens["nt8"], {"A1": Decimal(50000), "A2": Decimal(50000)})
            auth = {"Authorization": f"Bearer {tokens['dash']}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
                try:
                    await harness.quote(MNQ, Decimal("21000.00"), Decimal("21000.25"))
                    await gateway.place_order(OrderIntent("k1", "A1", MNQ, Side.BUY, 2))

                    async def filled():
                        body = (await http.get("/api/v1/fills?account=A1", headers=auth)).json()
                        return len(body["fills"]) == 1

                    await eventually(filled)
                    accounts = (await http.get("/api/v1/accounts", headers=auth)).json()["accounts"]
                    a1 = next(a for a in accounts if a["account"] == "A1")
                    assert a1["state"] == "ACTIVE" and a1["executor_connected"] is True
                    assert Decimal(a1["distance"]) > 0 and a1["profile"] == "apex4-intraday-eval-50k"
                    one = (await http.get("/api/v1/accounts/A1", headers=auth)).json()
                    assert [(p["symbol"], p["quantity"]) for p in one["positions"]] == [("MNQ 12-26", 2)]
                    orders = (await http.get("/api/v1/orders?status=filled", headers=auth)).json()["orders"]
                    assert [o["idempotency_key"] for o in orders] == ["k1"]
                    positions = (await http.get("/api/v1/positions", headers=auth)).json()["positions"]
                    assert [(p["account_id"], p["quantity"]) for p in positions] == [("A1", 2)]

                    # halt one account: HALTED, flattened by its executor, recorded
                    halted = await http.post("/api/v1/halt", json={"account": "A1", "reason": "test"}, headers=auth)
                    assert halted.status_code == 200 and halted.json()["accounts"] == {"A1": "flatten sent"}

                    async def flat():
                        body = (await http.get("/api/v1/positions?account=A1", headers=auth)).json()
                        return body["positions"] == []

                    await eventually(flat)
                    accounts = (await http.get("/api/v1/accounts", headers=auth)).json()["accounts"]
                    assert {a["account"]: a["state"] for a in accounts} == {"A1": "HALTED", "A2": "ACTIVE"}

                    # the audit log pages back without gaps or repeats
                    first = (await http.get("/api/v1/audit?limit=3", headers=auth)).json()
                    second = (await http.get(f"/api/v1/audit?limit=3&before_id={first['next']}", headers=auth)).json()
                    ids = [e["id"] for e in first["entries"] + second["entries"]]
                    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6

                    config = (await http.get("/api/v1/config", headers=auth)).json()
                    assert "hub.display_timezone" in config["live"] and "gateway.port" not in config["live"]
                    assert config["values"]["gateway.port"] == 0
                    components = (await http.get("/api/v1/health/components", headers=auth)).json()
                    assert components["executors"] == ["nt8"] and components["clients"]["executor"] == 1

                    metrics = await http.get("/metrics")
                    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
                    text = metrics.text
                    assert 'enigma_apex_account_state{account="A1",state="HALTED"} 1.0' in text
                    assert 'enigma_apex_executor_connected{executor="nt8"} 1.0' in text
                    assert 'enigma_apex_orders_total{status="filled"}' in text

                    # errors are RFC 9457 problem details with the field at fault
                    missing = await http.get("/api/v1/accounts")
                    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
                    assert (
                        missing.json()["title"] == "Unauthorized" and missing.json()["instance"] == "/api/v1/accounts"
                    )
                    bad = await http.post("/api/v1/halt", json={"account": "A1", "extra": 1}, headers=auth)
                    body = bad.json()
                    assert bad.status_code == 422 and body["errors"][0]["pointer"] == "/body/extra"
                    unknown = await http.get("/api/v1/accounts/NOPE", headers=auth)
                    assert unknown.status_code == 404 and "NOPE" in unknown.json()["detail"]
                    observer = {"Authorization": f"Bearer {tokens['obs']}"}
                    refused = await http.post("/api/v1/halt", json={}, headers=observer)
                    assert refused.status_code == 403
                finally:
                    await harness.stop()

    asyncio.run(scenario())


def test_the_api_docs_are_served_without_internet(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, accounts=ACCOUNTS) as (_url, _tokens, gateway, _store, _g):
            transport = httpx.ASGITransport(app=create_app(gateway.hub))
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
                page = await http.get("/docs")
                assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
                assert "cdn" not in page.text.lower()
                script = await http.get("/docs-assets/swagger-ui-bundle.js")
                assert script.status_code == 200 and len(script.content) > 100_000
                schema = (await http.get("/openapi.json")).json()
                assert "/api/v1/accounts" in schema["paths"] and "/docs" not in schema["paths"]

    asyncio.run(scenario())
