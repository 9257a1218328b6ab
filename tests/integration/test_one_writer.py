"""One writer: while a hub runs, only it writes its database. The CLI goes through it (tokens, bootstrap,
optimise), a second hub refuses before touching anything, and a revoked token's open session is closed."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from typer.testing import CliRunner
from websockets.asyncio.client import connect

from enigma_apex import bootstrap
from enigma_apex.adapters.instance import FolderBusyError, InstanceLock, holder
from enigma_apex.cli import app
from enigma_apex.config import loader
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode
from tests.integration.gatewaykit import hello, until_closed
from tests.integration.hubproc import HubProcess, init_dir

pytestmark = pytest.mark.slow
ENV = {"ENIGMA_APEX__HUB__USE_KEYRING": "false"}


def cli(config, *args):
    return CliRunner().invoke(app, ["-c", str(config), *args], env=ENV)


def starts(config) -> tuple[int, int]:
    """How many hubs started on this database (audit rows), and how many start-up backups exist."""
    data = config.parent / "data"
    with sqlite3.connect(data / "enigma-apex.db") as conn:
        started = int(conn.execute("SELECT COUNT(*) FROM audit_log WHERE kind = 'hub.started'").fetchone()[0])
    return started, len(list((data / "backups").glob("startup-*")))


def test_cli_writes_go_through_the_running_hub_which_keeps_writing(tmp_path):
    config, tokens = init_dir(tmp_path)
    hub = HubProcess(config)
    try:
        running = holder(config.parent / "data")
        assert running is not None and running.is_hub and running.pid == hub.proc.pid
        made = cli(config, "token", "create", "--role", "mobile", "--name", "phone", "--account", "PAPER-1")
        assert made.exit_code == 0, made.output
        phone_id, phone = made.output.split()[1], made.output.strip().splitlines()[-1]
        listed = json.loads(cli(config, "token", "list", "--json").output)
        assert {"id": phone_id, "accounts": ["PAPER-1"]}.items() <= {r["id"]: r for r in listed}[phone_id].items()
        boot = cli(config, "account", "bootstrap", "PAPER-1", "--peak", "50500", "--balance", "50400")
        assert boot.exit_code == 0 and "peak $50,500.00" in boot.output, boot.output
        optimised = cli(config, "db", "optimize")
        assert optimised.exit_code == 0 and "through the running hub" in optimised.output, optimised.output
        # the hub still writes: a signal is stored and decided, health says writable
        status, body = hub.post_json(
            "/api/v1/signals",
            {"id": "after-cli", "symbol": "MNQ", "side": "long", "entry": "21000", "stop": "20980"},
            tokens["dashboard"],
        )
        assert status == 201, body
        status, health = hub.get("/health")
        assert status == 200 and health["database"]["writable"] is True
        status, seen = hub.get("/api/v1/accounts", phone)  # the new token works, and sees its account only
        assert status == 200 and [a["account"] for a in seen["accounts"]] == ["PAPER-1"]
        # writes the hub refuses from the CLI while it runs
        assert cli(config, "db", "upgrade").exit_code == 1
        accept = cli(config, "db", "accept", "--reason", "x")
        assert accept.exit_code == 1 and "stop it first" in accept.output
        revoked = cli(config, "token", "revoke", phone_id)
        assert revoked.exit_code == 0, revoked.output
        assert hub.get("/api/v1/accounts", phone)[0] == 401  # the next HTTP call is refused
    finally:
        assert hub.stop() == 0
    verify = cli(config, "db", "verify")
    assert verify.exit_code == 0, verify.output  # chain, anchor and every sealed row as the hub left them


def test_a_second_hub_on_the_same_data_folder_refuses_before_touching_anything(tmp_path):
    config, _tokens = init_dir(tmp_path)
    hub = HubProcess(config)
    try:
        before = starts(config)
        second = cli(config, "up")
        assert second.exit_code == 2
        assert "already running" in second.output and f"pid {hub.proc.pid}" in second.output
        assert starts(config) == before == (1, before[1])  # nothing written, no backup taken
        with pytest.raises(FolderBusyError, match="already running"):  # in-process, the same refusal
            bootstrap.build_hub(loader.load(config, environ=ENV), lambda line: None)
        assert hub.proc.poll() is None  # the first hub runs on
    finally:
        assert hub.stop() == 0
    assert holder(config.parent / "data") is None  # released on exit


def test_a_command_writing_the_database_holds_the_folder_and_a_hub_waits_then_refuses(tmp_path):
    config, _tokens = init_dir(tmp_path)
    data = config.parent / "data"
    lock = InstanceLock(data).acquire("enigma-apex token create")
    try:
        found = holder(data)
        assert found is not None and not found.is_hub and found.what == "enigma-apex token create"
        refused = cli(config, "up")
        assert refused.exit_code == 2 and "another command is using" in refused.output
        assert cli(config, "token", "create", "--role", "observer", "--name", "x").exit_code == 1
    finally:
        lock.release()
    assert cli(config, "token", "create", "--role", "observer", "--name", "x").exit_code == 0


def test_revoking_a_token_closes_its_open_websocket_session(tmp_path):
    config, _tokens = init_dir(tmp_path)
    hub = HubProcess(config)
    try:
        made = cli(config, "token", "create", "--role", "mobile", "--name", "lost-phone")
        token_id, token = made.output.split()[1], made.output.strip().splitlines()[-1]
        ws_url = holder(config.parent / "data").ws

        async def scenario():
            async with connect(ws_url) as phone:
                await phone.send(hello(token))
                assert decode(await phone.recv()).type == "welcome"
                revoked = await asyncio.to_thread(cli, config, "token", "revoke", token_id)
                assert "1 open session(s) closed" in revoked.output, revoked.output
                _received, code = await until_closed(phone)
                assert code == 4003
            async with connect(ws_url) as again:  # and it cannot come back
                await again.send(hello(token))
                error = decode(await again.recv())
                assert isinstance(error, m.Error) and error.code == "AUTH_FAILED"

        asyncio.run(scenario())
    finally:
        assert hub.stop() == 0
    rows = json.loads(cli(config, "account", "status", "--json").output)
    assert [r["account"] for r in rows] == ["PAPER-1"]  # offline, the CLI reads the stored state itself
