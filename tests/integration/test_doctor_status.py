"""`enigma-apex doctor` finds what would stop trading and says how to fix it; `status` reports a running hub."""

from __future__ import annotations

import json
import re
import socket

from typer.testing import CliRunner

from enigma_apex.app import doctor
from enigma_apex.cli import app
from enigma_apex.config.models import Settings
from tests.integration.hubproc import HubProcess, init_dir

# the dashboard on any free port: another process on this machine may hold 8501 (no test depends on a fixed port)
ENV = {"ENIGMA_APEX__HUB__USE_KEYRING": "false", "ENIGMA_APEX__DASHBOARD__PORT": "0"}


def test_doctor_reports_a_busy_port_a_missing_ninjatrader_folder_and_their_fixes(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = Settings.model_validate(
            {
                "hub": {"data_dir": str(tmp_path / "data")},
                "http": {"port": port},
                "gateway": {"port": 0},
                "dashboard": {"enabled": False},
                "ati": {"folder": str(tmp_path / "NinjaTrader 8")},
                "accounts": [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "ati"}],
            }
        )
        checks = {c.name: c for c in doctor.run(settings, network=False)}
    assert checks["port http"].status == "fail" and "enigma-apex status" in checks["port http"].fix
    assert checks["NinjaTrader ATI"].status == "fail" and "Automated Trading Interface" in checks["NinjaTrader ATI"].fix
    assert checks["data folder"].status == "ok" and checks["time zones"].status == "ok"
    assert checks["port gateway"].status == "ok"


def test_a_port_whose_last_connection_lingers_in_time_wait_is_free_as_the_hub_would_bind_it(tmp_path):
    import os

    import pytest

    if os.name == "nt":
        pytest.skip("Windows: a connection in TIME_WAIT does not block a bind")
    with socket.socket() as server:  # a hub that served one connection, then stopped
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server closes first: its side of the connection stays in TIME_WAIT
        client.recv(1)  # the client sees the close
        client.close()
    with socket.socket() as plain:  # what the probe used to do: refused for about a minute
        with pytest.raises(OSError, match="in use"):
            plain.bind(("127.0.0.1", port))
    settings = Settings.model_validate(
        {"hub": {"data_dir": str(tmp_path / "data")}, "http": {"port": port}, "gateway": {"port": 0},
         "dashboard": {"enabled": False}}
    )  # fmt: skip
    checks = {c.name: c for c in doctor.run(settings, network=False)}
    assert checks["port http"].status == "ok", checks["port http"]


def test_doctor_passes_on_a_fresh_configuration_and_status_reports_the_running_hub(tmp_path):
    config, tokens = init_dir(tmp_path)

    def cli(*args):
        return CliRunner().invoke(app, ["-c", str(config), *args], env=ENV)

    checked = cli("doctor", "--offline")
    assert checked.exit_code == 0, checked.output
    assert re.search(r"^OK\s+configuration\s", checked.output, re.M) and "FAIL" not in checked.output, checked.output
    report = json.loads(cli("doctor", "--offline", "--json").output)
    assert {r["check"] for r in report} >= {"configuration", "database", "port http"}
    assert all(r["status"] in ("ok", "warn") for r in report), report
    down = cli("status", "--url", "http://127.0.0.1:9")
    assert down.exit_code == 1 and "not running" in down.output
    hub = HubProcess(config)
    try:
        up = cli("status", "--json", "--url", hub.base, "--token", tokens["dashboard"])
        assert up.exit_code == 0, up.output
        report = json.loads(up.output)
        assert report["health"]["status"] == "ok"
        assert [a["account"] for a in report["accounts"]] == ["PAPER-1"]
        assert {c["component"] for c in report["components"]["components"]} >= {"database", "http", "gateway"}
        text = cli("status", "--url", hub.base, "--token", tokens["dashboard"])
        assert "hub OK" in text.output and "PAPER-1" in text.output
        row = next(line for line in text.output.splitlines() if line.strip().startswith("PAPER-1"))
        assert "$2,000.00" in row and "flat" in row  # money with its currency, one line per account
    finally:
        hub.stop()
