"""Security on the real hub core: who may do what (a test per role over every right), tokens bound to accounts
see only those accounts (HTTP and WebSocket), sign-in limits never lock out a valid token (HTTP 429 with
Retry-After, logged), /metrics off this machine needs a token, sessions end when their token expires, a webhook
is answered 2xx only once its alert is stored."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import structlog
from sqlalchemy import select
from websockets.asyncio.client import connect

from enigma_apex.adapters.http.app import create_app
from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store import tokens
from enigma_apex.bench.loopback_model import loopback_model
from enigma_apex.client import now
from enigma_apex.domain.clock import ManualClock
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.access import RIGHTS, ROLES
from enigma_apex.protocol.codec import encode
from tests.integration.gatewaykit import eventually, login, recv, run, running_hub, until_closed

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
ACCOUNTS = [
    {"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8", "group": "g1"},
    {"name": "A2", "profile": "topstep-combine-50k", "executor": "nt8", "group": "g2"},
]
REMOTE = ("203.0.113.7", 50_000)  # a client on another machine
SIGNAL = {"symbol": "MNQ", "side": "long", "entry": "21000", "stop": "20980", "group": "g1"}

# right -> a request that exercises it, and changes nothing another cell depends on
REQUESTS: dict[str, tuple[str, str, dict | None]] = {
    "read": ("GET", "/api/v1/accounts", None),
    "components": ("GET", "/api/v1/health/components", None),
    "metrics": ("GET", "/metrics", None),
    "config": ("GET", "/api/v1/config", None),
    "audit": ("GET", "/api/v1/audit", None),
    "settings": ("POST", "/api/v1/settings", {"changes": {"logging.level": "INFO"}}),
    "signal": ("POST", "/api/v1/signals/preview", SIGNAL),
    "approve": ("POST", "/api/v1/signals/not-waiting/approve", None),
    "control": ("POST", "/api/v1/resume/A1", None),
    "tokens": ("GET", "/api/v1/tokens", None),
    "maintenance": ("POST", "/api/v1/db/optimize", None),
}


def make_token(store, name: str, role: str, accounts: tuple[str, ...] = (), expires=None) -> str:
    return store.writer.write(
        lambda ctx: tokens.create_token(ctx, name=name, role=role, accounts=accounts, expires_at=expires)
    )[0]


def client(gateway, address=REMOTE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(gateway.hub), client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://hub")


def test_the_rights_table_is_the_one_the_docs_print():
    """docs/operations.md's "Who may do what" is this table: a role per column, a right per row."""
    from pathlib import Path

    text = Path(__file__).parents[2].joinpath("docs", "operations.md").read_text(encoding="utf-8")
    table = text[text.index("| right |") :].split("\n\n")[0].splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[1 : 1 + len(ROLES)] == list(ROLES)
    printed = {}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        right = cells[0].strip("`")
        marks = cells[1 : 1 + len(ROLES)]
        printed[right] = frozenset(role for role, cell in zip(ROLES, marks, strict=True) if cell == "yes")
    assert printed == RIGHTS


@pytest.mark.parametrize("role", ROLES)
def test_each_role_holds_exactly_its_rights_over_http(tmp_path, role):
    async def scenario():
        async with running_hub(tmp_path, ManualClock(NOW), ACCOUNTS, present=("nt8",)) as (*_, gateway, store, _g):
            token = make_token(store, "nt8" if role == "executor" else f"{role}-1", role)
            outcome = {}
            async with client(gateway) as http:
                for right, (method, path, body) in REQUESTS.items():
                    answer = await http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
                    assert answer.status_code not in (401, 429, 500), (right, answer.status_code, answer.text)
                    outcome[right] = answer.status_code != 403
            assert outcome == {right: role in holders for right, holders in RIGHTS.items()}

    run(scenario())


def test_a_token_bound_to_an_account_sees_and_acts_on_that_account_only(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, ManualClock(NOW), ACCOUNTS, present=("nt8",)) as (
            url,
            _made,
            gateway,
            store,
            guardian,
        ):
            phone = make_token(store, "phone", "mobile", ("A1",))
            board = make_token(store, "board", "dashboard", ("A1",))
            auth = {"Authorization": f"Bearer {phone}"}
            async with client(gateway) as http:
                accounts = (await http.get("/api/v1/accounts", headers=auth)).json()["accounts"]
                assert [a["account"] for a in accounts] == ["A1"]
                assert (await http.get("/api/v1/accounts/A2", headers=auth)).status_code == 404
                assert (await http.get("/api/v1/orders?account=A2", headers=auth)).status_code == 404
                assert (await http.post("/api/v1/resume/A2", headers=auth)).status_code == 404
                assert (await http.post("/api/v1/halt", json={"account": "A2"}, headers=auth)).status_code == 404
                other_group = {**SIGNAL, "group": "g2"}
                sent = await http.post(
                    "/api/v1/signals/preview", json=other_group, headers={"Authorization": f"Bearer {board}"}
                )
                assert sent.status_code == 403
                stopped = await http.post("/api/v1/flatten", json={"reason": "phone"}, headers=auth)  # "all": its own
                assert stopped.status_code == 200 and list(stopped.json()["accounts"]) == ["A1"]
            assert guardian.tracker("A2").trading_state()[0].value == "active"
            async with connect(url) as ws:
                welcome = await login(ws, phone)
                assert welcome.accounts == ["A1"]
                await ws.send(encode(m.Subscribe(id="s", ts=now(), topics=["risk"])))
                await recv(ws, "result")
                first = await recv(ws, "risk.update")
                assert first.account == "A1"
                await ws.send(encode(m.Halt(id="h", ts=now(), account="A2")))
                error = await recv(ws, "error")
                assert (error.code, error.ref) == ("UNKNOWN_ACCOUNT", "h")
                gateway.broadcast("risk", gateway.risk_message("A2"), ("risk", "A2"))  # not for this token
                await ws.send(encode(m.Ping(id="p", ts=now())))
                assert (await recv(ws)).type == "pong"  # nothing about A2 came before it

    run(scenario())


def test_http_sign_in_failures_are_logged_limited_with_retry_after_and_never_lock_out_a_valid_token(tmp_path):
    async def scenario():
        limits = {"auth_failures_per_min": 3}
        async with running_hub(tmp_path, ManualClock(NOW), ACCOUNTS, **limits) as (*_, gateway, store, _g):
            good = make_token(store, "board", "dashboard")
            async with client(gateway, ("127.0.0.1", 40_000)) as http:
                with structlog.testing.capture_logs() as logs:
                    codes = [
                        (
                            await http.get("/api/v1/accounts", headers={"Authorization": "Bearer eat_stale_1"})
                        ).status_code
                        for _ in range(5)
                    ]
                assert codes == [401, 401, 401, 429, 429]
                limited = await http.get("/api/v1/accounts", headers={"Authorization": "Bearer eat_stale_1"})
                assert 0 < int(limited.headers["Retry-After"]) <= 60
                assert [e["event"] for e in logs].count("http.auth_failed") == 3
                assert [e["event"] for e in logs].count("http.auth_rate_limited") == 1  # once, not every attempt
                ok = await http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {good}"})
                assert ok.status_code == 200

    run(scenario())


def test_metrics_off_this_machine_need_a_token(tmp_path):
    async def scenario():
        async with running_hub(tmp_path, ManualClock(NOW), ACCOUNTS) as (*_, gateway, store, _g):
            watcher = make_token(store, "grafana", "observer")
            sender = make_token(store, "tv", "signal")
            async with client(gateway, ("127.0.0.1", 40_001)) as local, client(gateway) as remote:
                assert (await local.get("/metrics")).status_code == 200
                proxied = await local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
                assert proxied.status_code == 401  # a reverse proxy on this machine: the client is elsewhere
                assert (await remote.get("/metrics")).status_code == 401
                answer = await remote.get("/metrics", headers={"Authorization": f"Bearer {watcher}"})
                assert answer.status_code == 200 and "enigma" in answer.text
                assert (await remote.get("/metrics", headers={"Authorization": f"Bearer {sender}"})).status_code == 403

    run(scenario())


def test_a_session_ends_when_its_token_expires(tmp_path):
    clock = ManualClock(NOW)

    async def scenario():
        async with running_hub(tmp_path, clock, ACCOUNTS) as (url, _made, _gateway, store, _g):
            short = make_token(store, "visitor", "observer", expires=NOW + timedelta(minutes=5))
            async with connect(url) as ws:
                await login(ws, short)
                clock.advance(timedelta(minutes=6))
                _received, code = await until_closed(ws, timeout=10)
                assert code == 4003

    run(scenario())


def test_a_webhook_is_answered_2xx_only_after_its_alert_is_stored(tmp_path):
    """A slow decision (the analyst waits on the model) is answered 202 once the signal is in the database; a
    database another process locks is answered 503 within one busy timeout, and nothing is stored."""
    secret = "tv-Secret-1a2b3c4d"
    alert = {"ticker": "MNQ1!", "action": "buy", "price": "21000", "stop": "20980"}

    async def scenario(model):
        ai = {
            "ai": {"enabled": True, "base_url": model.base_url, "model": "loopback", "timeout_s": "20"},
            "database": {"sqlite_busy_timeout_ms": 200},
        }
        signals = {"default_mode": "auto", "tradingview_secret": secret}
        accounts = [{**ACCOUNTS[0], "group": "default"}]
        async with running_hub(tmp_path, ManualClock(NOW), accounts, signals, ai, present=("nt8",)) as (
            *_,
            gateway,
            store,
            _g,
        ):
            async with client(gateway, ("127.0.0.1", 40_002)) as http:
                answer = await http.post(f"/webhooks/tradingview/{secret}", json=alert)
                assert answer.status_code == 202, answer.text
                signal_id = answer.json()["signal_id"]
                with store.engine.connect() as conn:
                    assert conn.execute(select(s.signals.c.id)).scalars().all() == [signal_id]
                    assert conn.execute(select(s.decisions.c.id)).all() == []  # still being decided
                model.release.set()

                def decided():
                    with store.engine.connect() as conn:
                        return conn.execute(select(s.decisions.c.signal_id)).scalars().all()

                assert await eventually(decided) == [signal_id]  # decided once, the signal stored once

                database = sqlite3.connect(store.sqlite_file, timeout=0.1)
                database.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
                try:
                    locked = await http.post(f"/webhooks/tradingview/{secret}", json={**alert, "price": "21001"})
                finally:
                    database.rollback()
                    database.close()
                assert locked.status_code == 503, locked.text
                with store.engine.connect() as conn:
                    assert len(conn.execute(select(s.signals.c.id)).all()) == 1  # nothing stored for it

    with loopback_model() as model:
        model.behaviour = "slow"
        run(scenario(model))
