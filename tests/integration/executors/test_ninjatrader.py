"""The NinjaScript files compile against the faithful fake of NinjaTrader's API (warnings as errors); the archive holds them; the C# client
flattens when the hub stays away."""

from __future__ import annotations

import asyncio
import time
import zipfile
from datetime import date
from decimal import Decimal

from typer.testing import CliRunner

from enigma_apex.adapters import ninjascript
from enigma_apex.bench.venues import mono
from enigma_apex.bench.venues.harness import CSharpHarness
from enigma_apex.cli import app
from enigma_apex.domain.orders import OrderIntent, Side
from enigma_apex.domain.symbols import parse_symbol
from tests.integration.executors import csharp
from tests.integration.gatewaykit import running_hub

ROOT = csharp.ROOT
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))


def test_the_addon_indicator_and_strategy_compile_against_the_faithful_fake(tmp_path):
    csharp.mono_or_skip()
    fake = csharp.compile_cs(tmp_path / "NinjaTrader.Fake.dll", mono.fake_sources(ROOT), target="library",
                             refs=("System.Core.dll",))  # fmt: skip
    built = csharp.compile_cs(
        tmp_path / "EnigmaApex.NinjaScript.dll", ninjascript.sources(ROOT), target="library",
        refs=(str(fake), *mono.NINJASCRIPT_REFS),
    )  # fmt: skip
    assert built.stat().st_size > 0
    # the protocol client library uses no NinjaTrader type: it builds alone, without the fake
    library = sorted((ROOT / "AddOns" / "EnigmaApex").glob("*.cs"))
    csharp.compile_cs(tmp_path / "EnigmaApex.Protocol.dll", library, target="library")


def test_the_package_command_writes_the_import_archive(tmp_path):
    out = tmp_path / "EnigmaApex.zip"
    result = CliRunner().invoke(app, ["ninjatrader", "package", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert "<Version>" in archive.read("Info.xml").decode()
    assert {
        "AddOns/EnigmaApexRiskManager.cs", "Indicators/EnigmaApexPowerScore.cs", "Strategies/EnigmaApexAutoTrader.cs",
        "AddOns/EnigmaApex/HubConnection.cs", "AddOns/EnigmaApex/ExecutorSession.cs", "AddOns/EnigmaApex/Json.cs",
        "AddOns/EnigmaApex/Platform/AccountBroker.cs", "AddOns/EnigmaApex/Platform/SettingsWindow.cs",
    } <= names  # fmt: skip
    assert not any(n.startswith(("fake/", "tests/")) for n in names)


def test_the_csharp_client_flattens_after_the_hub_stays_away(tmp_path):
    async def scenario():
        accounts = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]
        async with running_hub(tmp_path, accounts=accounts, heartbeat_timeout_s=30) as (
            url,
            tokens,
            gateway,
            store,
            _g,
        ):
            csharp.mono_or_skip()
            harness = CSharpHarness(tmp_path, env={"ENIGMA_APEX_FLATTEN_AFTER_S": "1"})
            await harness.start(url, tokens["nt8"], {"A1": Decimal(50000)})
            try:
                await harness.quote(MNQ, Decimal("21000.00"), Decimal("21000.25"))
                await gateway.place_order(OrderIntent("k1", "A1", MNQ, Side.BUY, 1))
                deadline = time.monotonic() + 15
                while not harness.venue.positions("A1"):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                revoke_every_token(store)  # the hub refuses the executor from now on
                await gateway.executors["nt8"].close(1012, "test: hub going away")
                while not harness.flattens:
                    assert time.monotonic() < deadline + 15, harness.statuses
                    await asyncio.sleep(0.05)
                assert harness.flattens == ["A1"] and harness.venue.positions("A1") == []
                assert any(text.startswith("flattening") for text in harness.statuses)
            finally:
                await harness.stop()

    asyncio.run(scenario())


def revoke_every_token(store) -> None:
    """Through the hub's writer, as `token revoke` does (the rows stay sealed)."""
    from enigma_apex.adapters.store import tokens as token_store

    with store.engine.connect() as conn:
        ids = [t.token_id for t in token_store.list_tokens(conn)]
    store.writer.write(lambda ctx: [token_store.revoke_token(ctx, i) for i in ids])
