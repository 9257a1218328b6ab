"""Exposure is deliberate and configuration problems are caught before start: slow HTTP connections are closed,
binding off loopback warns (live mode refuses it without TLS), `config check` and `up` name what `up` needs
and is missing (exit 2, no traceback), and a taken dashboard port stops `up` with a clear message."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from enigma_apex.adapters.http import server as http_server
from enigma_apex.app.preflight import exposure_problems, exposure_warnings, live_problems
from enigma_apex.cli import app
from enigma_apex.config import loader
from enigma_apex.config.models import Settings
from tests.integration.hubproc import init_dir

ENV = {"ENIGMA_APEX__HUB__USE_KEYRING": "false"}


def closed_by_server(sock: socket.socket, within_s: float = 10.0) -> bool:
    """Whether the server closes the connection (reads until EOF, up to a deadline)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_connections_that_never_finish_their_headers_are_closed():
    api = FastAPI()

    @api.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    async def scenario():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            api, log_config=None, lifespan="off", http=http_server.protocol(0.3), timeout_keep_alive=0.3
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag
            await asyncio.sleep(0.01)
        port = sock.getsockname()[1]

        def clients() -> list[bool]:  # blocking sockets, off the server's event loop
            silent = socket.create_connection(("127.0.0.1", port))
            partial = socket.create_connection(("127.0.0.1", port))
            partial.sendall(b"GET /ping HTTP/1.1\r\nHost: hub\r\n")  # headers never finished
            fine = socket.create_connection(("127.0.0.1", port))
            fine.sendall(b"GET /ping HTTP/1.1\r\nHost: hub\r\n\r\n")
            fine.settimeout(5)
            answered = b"200 OK" in fine.recv(4096)  # a complete request is answered
            try:
                # the answered one too, once idle (keep-alive timeout)
                return [answered, *(closed_by_server(s) for s in (silent, partial, fine))]
            finally:
                for s in (silent, partial, fine):
                    s.close()

        try:
            assert await asyncio.to_thread(clients) == [True, True, True, True]
        finally:
            server.should_exit = True
            await task

    asyncio.run(scenario())


def test_binding_off_loopback_warns_and_live_mode_refuses_it_without_tls(tmp_path):
    exposed = Settings.model_validate({"http": {"host": "0.0.0.0"}, "gateway": {"host": "192.168.1.20"}})  # noqa: S104
    warnings = exposure_warnings(exposed)
    assert len(warnings) == 2 and "every network interface" in warnings[0] and "NOT encrypted" in warnings[0]
    live = exposed.model_copy(update={"hub": exposed.hub.model_copy(update={"mode": "live"})})
    problems = live_problems(live, [], time_now())
    assert len(exposure_problems(live)) == 2 and all(p in problems for p in exposure_problems(live))
    assert exposure_warnings(Settings()) == [] and exposure_problems(Settings()) == []


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def edit(config: Path, changes: dict[str, object], account: dict[str, str] | None = None) -> None:
    """Set dotted keys in the rendered configuration (comments kept), optionally add an account."""
    import tomlkit

    document = tomlkit.parse(config.read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, name = key.split(".")
        document[section][name] = value  # type: ignore[index]
    if account is not None:
        document["accounts"].append(account)  # type: ignore[union-attr]
    config.write_text(tomlkit.dumps(document), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "account", "expected"),
    [
        ({"rules.news_calendar": "missing-news.toml"}, None, "rules.news_calendar"),
        ({"gateway.tls_cert": "no-cert.pem", "gateway.tls_key": "no-key.pem"}, None, "gateway.tls_cert / tls_key"),
        ({"paper.replay_file": "missing-replay.csv"}, None, "paper.replay_file"),
        ({"ai.prompt_file": "missing-prompt.txt"}, None, "ai.prompt_file"),
        ({}, {"name": "PAPER-2", "profile": "apex4-intraday-eval-50k", "executor": "papre"}, "did you mean 'paper'"),
    ],
    ids=["news", "tls", "replay", "prompt", "executor"],
)
def test_config_check_and_up_name_what_up_needs_and_is_missing(tmp_path, changes, account, expected):
    config, _tokens = init_dir(tmp_path)
    edit(config, changes, account)
    checked = CliRunner().invoke(app, ["-c", str(config), "config", "check"], env=ENV)
    assert checked.exit_code == 2 and expected in checked.output, checked.output
    started = CliRunner().invoke(app, ["-c", str(config), "up"], env=ENV)
    assert started.exit_code == 2 and expected in started.output, started.output
    assert "Traceback" not in checked.output + started.output


def test_a_data_folder_under_a_file_is_a_configuration_problem(tmp_path):
    config, _tokens = init_dir(tmp_path / "home")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    text = config.read_text()
    assert 'data_dir = "data"' in text
    config.write_text(text.replace('data_dir = "data"', f'data_dir = "{(blocker / "data").as_posix()}"'))
    checked = CliRunner().invoke(app, ["-c", str(config), "config", "check"], env=ENV)
    assert checked.exit_code == 2 and "is a file, not a folder" in checked.output, checked.output
    started = CliRunner().invoke(app, ["-c", str(config), "up"], env=ENV)
    assert started.exit_code == 2 and "is a file, not a folder" in started.output
    assert "Traceback" not in started.output


def test_a_taken_dashboard_port_stops_up_with_a_clear_message(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        config, _tokens = init_dir(tmp_path)
        text = config.read_text().replace("port = 8501", f"port = {port}")
        assert f"port = {port}" in text
        config.write_text(text)
        loaded = loader.load(config, environ=ENV)
        assert loaded.settings.dashboard.port == port
        started = CliRunner().invoke(app, ["-c", str(config), "up"], env=ENV)
        assert started.exit_code == 2, started.output
        assert f"cannot bind 127.0.0.1:{port}" in started.output and "dashboard.port" in started.output
        assert "is up" not in started.output
    finally:
        holder.close()


def test_the_rendered_default_configuration_passes_config_check(tmp_path):
    config, _tokens = init_dir(tmp_path)
    checked = CliRunner().invoke(app, ["-c", str(config), "config", "check"], env=ENV)
    assert checked.exit_code == 0, checked.output
    assert Path(config).exists()


def test_gateway_connections_that_never_finish_their_handshake_are_closed(tmp_path):
    from tests.integration.gatewaykit import running_hub

    async def scenario():
        async with running_hub(tmp_path, handshake_timeout_s=0.3) as (url, *_):
            port = int(url.rsplit(":", 1)[1])

            def silent_and_partial() -> list[bool]:
                silent = socket.create_connection(("127.0.0.1", port))
                partial = socket.create_connection(("127.0.0.1", port))
                partial.sendall(b"GET / HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\n")
                try:
                    return [closed_by_server(s) for s in (silent, partial)]
                finally:
                    silent.close()
                    partial.close()

            assert await asyncio.to_thread(silent_and_partial) == [True, True]

    asyncio.run(scenario())
