"""The HTTP API's read models, controls, metrics and RFC 9457 errors, on a real hub core in-process."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import date
from decimal import Decimal

import httpx
import structlog

from enigma_apex.adapters.http.app import create_app
from enigma_apex.bench.venues.harness import PaperHarness
from enigma_apex.domain.orders import OrderIntent, Side
from enigma_apex.domain.symbols import parse_symbol
from tests.integration.gatewaykit import eventually, running_hub

MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))
ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"},
    {"name": "A2", "profile": "topstep-combine-50k", "executor": "nt8"},
]


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
                    assert "enigma_apex_stop_cascade_seconds_count 1.0" in text  # the halt above
                    assert 'enigma_apex_queue_depth{queue="database_writer"}' in text
                    assert 'enigma_apex_queue_depth{queue="deferred_reports"} 0.0' in text

                    # a manual signal: the pipeline, the pre-trade check and the scorer are measured
                    signal = {"symbol": "MNQ", "side": "long", "entry": "21000.25", "stop": "20990.00"}
                    sent = await http.post("/api/v1/signals", json=signal, headers=auth)
                    assert sent.status_code in (200, 201, 202), sent.text  # waits for approval (confirm mode)
                    preview = await http.post("/api/v1/signals/preview", json=signal, headers=auth)
                    assert preview.status_code == 200, preview.text
                    text = (await http.get("/metrics")).text
                    assert "enigma_apex_pipeline_seconds_count 1.0" in text
                    checks = re.search(r"^enigma_apex_pretrade_check_seconds_count (\S+)$", text, re.M)
                    assert checks and float(checks.group(1)) >= 2  # the preview checks each account (sizing too)
                    # the preview asks the analyst as the decision does (its answer is kept for the sending)
                    assert 'enigma_apex_ai_calls_total{source="scorer"} 2.0' in text
                    assert 'enigma_apex_ai_fallbacks_total{reason="disabled"} 2.0' in text
                    assert 'enigma_apex_verdicts_total{code="TRADING_HALTED"}' in text  # A1 is HALTED
                    assert 'enigma_apex_alerts_total{severity="critical",status="pending"}' in text

                    # errors the hub logged are in the database with their context, and served
                    from enigma_apex.adapters import logging as logs
                    from enigma_apex.adapters.store import repository

                    logs.configure(None, console="off")  # structlog through the standard library, as in the hub
                    buffer = logs.ErrorBuffer()
                    logger = logging.getLogger("enigma_apex.test")
                    logger.addHandler(buffer)
                    try:
                        structlog.get_logger("enigma_apex.test").error("broker.rejected", account="A2", code=7)
                        try:
                            raise ValueError("bad price")
                        except ValueError:
                            logger.exception("with a traceback")
                    finally:
                        logger.removeHandler(buffer)
                    rows = buffer.take()
                    assert [r["event"] for r in rows] == ["broker.rejected", "with a traceback"]
                    await gateway.store.writer.write_async(lambda ctx: repository.insert_errors(ctx, rows))
                    page = (await http.get("/api/v1/errors?limit=5", headers=auth)).json()["entries"]
                    assert page[1]["event"] == "broker.rejected" and page[1]["context"]["account"] == "A2"
                    assert page[1]["context"]["code"] == 7 and page[1]["level"] == "error"
                    assert "ValueError: bad price" in page[0]["context"]["exception"]

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
