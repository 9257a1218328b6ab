"""Every key the configuration marks live, changed while the hub runs (through the settings API's path, or the file
and a reload for credentials), reaches the component that reads it; and the gateway's error limit, once raised,
really lets a connection send more bad frames."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from decimal import Decimal
from importlib import resources
from typing import Any

import tomlkit
from websockets.asyncio.client import connect

from enigma_apex import bootstrap
from enigma_apex.adapters.store import tokens
from enigma_apex.app.hub import settled_digest
from enigma_apex.client import now
from enigma_apex.config import loader
from enigma_apex.config.schema import KEYS
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode
from tests.integration.gatewaykit import eventually, hello, until_closed

NEWS = """[[event]]
at = 2026-12-09T14:00:00-05:00
title = "FOMC rate decision"
"""

# key -> the new value; every live key must have one (a new live key without a row fails the test)
NEW: dict[str, Any] = {
    "hub.display_timezone": "Europe/London",
    "gateway.heartbeat_timeout_s": 42.0,
    "gateway.max_errors_per_min": 77,
    "gateway.auth_failures_per_min": 7,
    "gateway.auth_failures_per_address_per_min": 70,
    "gateway.flatten_timeout_s": 12.0,
    "gateway.executor_grace_s": 30.0,
    "gateway.takeover_probe_s": 3.5,
    "database.backup_keep": 9,
    "telegram.chats": {"4242": "mobile"},
    "telegram.alerts": ["critical"],
    "backup.offsite": "s3://another-bucket/desk",
    "database.maintenance_at": "17:20",
    "logging.level": "WARNING",
    "guardian.warn_drawdown_pct": 40,
    "guardian.reducing_drawdown_pct": 70,
    "guardian.flatten_drawdown_pct": 85,
    "guardian.warn_dll_pct": 45,
    "guardian.reducing_dll_pct": 72,
    "guardian.flatten_dll_pct": 88,
    "guardian.flatten_before_close_min": 6,
    "guardian.no_new_entries_min": 11,
    "guardian.reducing_release_pct": 4,
    "sizing.kelly_multiplier": "0.25",
    "sizing.base_risk_pct": 4,
    "sizing.max_risk_per_trade_usd": 300,
    "sizing.min_trades_for_kelly": 40,
    "sizing.max_risk_pct_of_buffer": 20,
    "sizing.prior_win_rate": "0.45",
    "sizing.prior_payoff": "1.2",
    "sizing.prior_strength": 25,
    "sizing.ai_max_shift": "0.04",
    "sizing.power_buckets": [40, 60, 80],
    "ai.enabled": True,
    "ai.base_url": "http://127.0.0.1:9/v1",
    "ai.model": "other-model",
    "ai.api_key": "sk-live-test-1234",
    "ai.timeout_s": "1.2",
    "ai.failure_threshold": 4,
    "ai.cooldown_s": 45,
    "ai.reduce_factor": "0.4",
    "ai.take_score": 55,
    "ai.skip_score": 25,
    "ai.price_input_per_mtok": "0.5",
    "ai.price_output_per_mtok": "1.5",
    "ai.prompt_file": "PROMPT",
    "ai.recent_signals": 5,
    "signals.default_mode": "auto",
    "signals.confirm_timeout_s": 90,
    "signals.reversal_timeout_s": 40,
    "signals.tradingview_secret": "tv-live-secret-98765",
    "signals.webhook_max_age_s": 120,
    "signals.webhook_dedup_s": 20,
    "signals.webhook_max_future_s": 3,
    "signals.webhook_max_body_bytes": 32768,
    "signals.secret_fields": ["passcode"],
    "signals.entry_order_ttl_s": 600,
    "signals.webhook_group": "tv",
    "rules.news_calendar": "NEWS",
    "rules.commission_mini": "4.00",
    "rules.commission_micro": "1.20",
    "rules.slippage_ticks": 3,
    "alerts.info": ["json://127.0.0.1:9/info"],
    "alerts.warning": ["json://127.0.0.1:9/warning"],
    "alerts.critical": ["json://127.0.0.1:9/critical"],
}

POLICY = {
    "warn_drawdown_pct": "warn_dd_pct",
    "reducing_drawdown_pct": "reducing_dd_pct",
    "flatten_drawdown_pct": "flatten_dd_pct",
}


def seen(hub: Any, key: str) -> Any:
    """The value as the component that reads the key sees it now."""
    section, name = key.split(".", 1)
    service, gateway = hub.service, hub.gateway
    pipeline = gateway.pipeline
    guardian = service.guardian
    if section == "hub":
        return getattr(service.settings.hub, name)
    if section == "gateway":
        if name.startswith("auth_failures"):  # the sign-in guard the gateway and the HTTP API share
            guard = service.sign_ins
            return guard.per_token if name == "auth_failures_per_min" else guard.per_address
        return getattr(gateway.settings.gateway, name)
    if section == "telegram":  # the bot (it cannot reach its API here: it reads its settings all the same)
        return getattr(hub.telegram.cfg, name)
    if section == "backup":  # the daily job and /health read it
        assert service.backup_status()["offsite"] == hub.keeper.settings.backup.offsite
        return getattr(hub.keeper.settings.backup, name)
    if section == "database":
        if name == "backup_keep":
            assert service.store.keep == hub.keeper.settings.database.backup_keep
        return getattr(hub.keeper.settings.database, name)
    if section == "logging":
        return logging.getLevelName(logging.getLogger().getEffectiveLevel())
    if section == "guardian":
        tracker = next(iter(guardian.trackers.values()))
        return getattr(tracker.policy, POLICY.get(name, name))
    if section == "sizing":
        return getattr(pipeline.risk.settings.sizing, name)
    if section == "ai":
        value = getattr(pipeline.analyst.settings.ai, name)
        if name == "failure_threshold":
            assert pipeline.analyst.breaker.threshold == value
        return value
    if section == "signals":
        return getattr(pipeline.settings.signals, name)
    if section == "rules":
        if name == "news_calendar":
            assert [e.title for e in guardian.news.events] == ["FOMC rate decision"]
        return getattr(guardian.settings.rules, name)
    if section == "alerts":
        return getattr(hub.dispatcher.cfg, name)
    raise AssertionError(f"no reader known for {key}")


def plain(value: Any) -> Any:
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, Decimal):
        return value
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


async def _running(tmp_path):
    config = tmp_path / "enigma-apex.toml"
    data = tmp_path / "data"
    config.write_text(
        f'[hub]\ndata_dir = "{data.as_posix()}"\nuse_keyring = false\nallow_plaintext_secrets = true\n'
        "[http]\nport = 0\n[gateway]\nport = 0\n[dashboard]\nenabled = false\n[paper]\nenabled = false\n"
        '[telegram]\nenabled = true\ntoken = "1:unreachable"\napi_url = "http://127.0.0.1:9/bot"\n'
        '[telegram.chats]\n"1" = "observer"\n'
        '[[accounts]]\nname = "EXT-1"\nprofile = "apex4-intraday-eval-50k"\nexecutor = "ext"\n'
    )
    hub = bootstrap.build_hub(loader.load(config), lambda line: None)
    task = asyncio.create_task(hub.run(install_signals=False))
    await eventually(lambda: hub.keeper is not None and hub.dispatcher is not None, what="the hub running")
    return config, hub, task


def test_every_live_key_reaches_the_component_that_reads_it(tmp_path):
    live = sorted(k for k, info in KEYS.items() if info.reloadable)
    assert sorted(NEW) == live, "every live key needs a row in NEW (and a reader in seen())"
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(resources.files("enigma_apex.analysis").joinpath("prompt_v1.txt").read_text(encoding="utf-8"))
    news = tmp_path / "news.toml"
    news.write_text(NEWS)
    files = {"PROMPT": str(prompt), "NEWS": str(news)}

    async def scenario():
        config, hub, task = await _running(tmp_path)
        try:
            service = hub.service
            for key in live:
                value = files.get(NEW[key], NEW[key]) if isinstance(NEW[key], str) else NEW[key]
                if KEYS[key].secret:  # credentials are never taken over the API: the file and a reload
                    document = tomlkit.parse(config.read_text())
                    section, name = key.split(".", 1)
                    document.setdefault(section, tomlkit.table())[name] = value
                    config.write_text(tomlkit.dumps(document))
                    outcome = await asyncio.to_thread(service.reload_config, "test")
                    # the hub's file watcher may have seen the edit and applied it first: then this reload finds
                    # nothing left to apply, and the value below must still be the new one
                    took = [[key], []]
                else:
                    outcome = await asyncio.to_thread(service.update_settings, {key: value}, "test")
                    took = [[key]]  # the settings path holds the lock the watcher's reload needs
                assert outcome.ok and [c["key"] for c in outcome.applied] in took, (key, outcome)
                now = plain(seen(hub, key))
                want = value
                if key == "database.maintenance_at":
                    now, want = now.strftime("%H:%M"), value
                elif key in ("ai.prompt_file", "rules.news_calendar"):
                    now = str(now)
                elif isinstance(now, Decimal):
                    want = Decimal(str(value))
                assert now == want, (key, now, want)
        finally:
            hub.request_stop()
            assert await asyncio.wait_for(task, 60) == 0

    asyncio.run(scenario())


def test_a_file_caught_half_written_is_not_reloaded_until_it_reads_the_same_twice():
    whole = b'[hub]\ndisplay_timezone = "Europe/London"\n[sizing]\nkelly_multiplier = "0.25"\n'
    half = whole[: whole.index(b"[sizing]")]  # valid TOML: read alone, it would reset every sizing key
    known = hashlib.sha256(b"the running file").hexdigest()
    reads = iter([half, whole, whole, whole])

    async def scenario():
        assert await settled_digest(lambda: next(reads), known, 0) is None  # half, then whole: still being written
        assert await settled_digest(lambda: next(reads), known, 0) == hashlib.sha256(whole).hexdigest()
        assert await settled_digest(lambda: whole, hashlib.sha256(whole).hexdigest(), 0) is None  # unchanged

        def unreadable() -> bytes:
            raise PermissionError("locked by the editor")

        assert await settled_digest(unreadable, known, 0) is None

    asyncio.run(scenario())


def test_a_reload_finding_other_content_than_the_watcher_saw_applies_nothing_and_is_read_again(tmp_path):
    async def scenario():
        config, hub, task = await _running(tmp_path)
        try:
            service = hub.service
            before = service.settings.sizing.kelly_multiplier
            seen_settled = hashlib.sha256(b"the content the watcher saw").hexdigest()

            def edited_then_reloaded() -> tuple[Any, Decimal]:
                # the watcher saw the file settle, then an editor began writing it again before the reload read
                # it; the service's lock keeps the watcher's own reload of the edit from coming in between
                with service._lock:
                    config.write_text(config.read_text() + '[sizing]\nkelly_multiplier = "0.2"\n')
                    outcome = service.reload_config("file", seen_settled)
                    return outcome, pipeline_sizing(hub).kelly_multiplier

            outcome, running = await asyncio.to_thread(edited_then_reloaded)
            assert not outcome.ok and outcome.applied == [] and "changed while it was read" in outcome.problems[0]
            assert running == before
            # the watcher's next poll reads the file again and applies what it now holds
            await eventually(lambda: pipeline_sizing(hub).kelly_multiplier == Decimal("0.2"), what="the reload")
        finally:
            hub.request_stop()
            assert await asyncio.wait_for(task, 60) == 0

    asyncio.run(scenario())


def pipeline_sizing(hub: Any) -> Any:
    return hub.gateway.pipeline.risk.settings.sizing


def test_a_raised_error_limit_applies_to_the_next_connection(tmp_path):
    async def scenario():
        _config, hub, task = await _running(tmp_path)
        try:
            store = hub.service.store
            token = store.writer.write(lambda ctx: tokens.create_token(ctx, name="dash", role="dashboard"))[0]
            url = f"ws://127.0.0.1:{hub.ws_port}"
            outcome = await asyncio.to_thread(hub.service.update_settings, {"gateway.max_errors_per_min": 80}, "test")
            assert outcome.ok
            async with connect(url) as ws:
                await ws.send(hello(token))
                assert decode(await ws.recv()).type == "welcome"
                for i in range(60):  # twice the old limit of 30
                    await ws.send(f'{{"v": 1, "type": "nonsense", "id": "bad{i}"}}')
                errors = [decode(await ws.recv()) for _ in range(60)]
                assert all(e.type == "error" for e in errors)
                await ws.send(encode(m.Ping(id="still-here", ts=now())))
                assert decode(await ws.recv()).type == "pong"
                for i in range(25):  # past 80 now: closed, after the error frames it counted
                    await ws.send(f'{{"v": 1, "type": "nonsense", "id": "more{i}"}}')
                received, code = await until_closed(ws)
                assert code == 4008
                assert len(received) >= 21  # every error up to the limit came before the close
        finally:
            hub.request_stop()
            assert await asyncio.wait_for(task, 60) == 0

    asyncio.run(scenario())


def test_settings_sent_as_text_keep_their_toml_types_in_the_file(tmp_path):
    async def scenario():
        config, hub, task = await _running(tmp_path)
        try:
            changes = {
                "sizing.min_trades_for_kelly": "40",
                "sizing.kelly_multiplier": "0.3",
                "signals.default_mode": "alert",
            }
            outcome = await asyncio.to_thread(hub.service.update_settings, changes, "test")
            assert outcome.ok, outcome
            sizing = tomlkit.parse(config.read_text())["sizing"]
            assert sizing["min_trades_for_kelly"] == 40 and isinstance(sizing["min_trades_for_kelly"], int)
            assert isinstance(sizing["kelly_multiplier"], float) and str(sizing["kelly_multiplier"]) == "0.3"
            assert "min_trades_for_kelly = 40" in config.read_text()
            assert hub.service.settings.sizing.min_trades_for_kelly == 40
        finally:
            hub.request_stop()
            assert await asyncio.wait_for(task, 60) == 0

    asyncio.run(scenario())
