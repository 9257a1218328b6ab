"""`enigma-apex up` as a real process: health, hot reload, clean stop, crash and restart."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys

import pytest
from typer.testing import CliRunner

from enigma_apex.adapters.clock import SHIFT_ENV
from enigma_apex.cli import app
from tests.integration.hubproc import IN_SESSION, HubProcess, init_dir, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals in the test"),
]


def audit_kinds(folder) -> list[str]:
    con = sqlite3.connect(folder / "data" / "enigma-apex.db")
    try:
        return [row[0] for row in con.execute("SELECT kind FROM audit_log ORDER BY id")]
    finally:
        con.close()


def verify(config) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["-c", str(config), "db", "verify"], env={"ENIGMA_APEX__HUB__USE_KEYRING": "false"}
    )
    return result.exit_code, result.output


def test_up_answers_health_and_version_and_stops_cleanly(tmp_path):
    config, _ = init_dir(tmp_path)
    hub = HubProcess(config)
    try:
        status, body = hub.get("/health")
        assert status == 200
        assert body["status"] == "ok" and body["database"]["ok"] and body["mode"] == "paper"
        assert body["uptime_s"] >= 0
        status, body = hub.get("/version")
        assert status == 200 and body["schema_revision"] == body["schema_latest"]
    finally:
        code = hub.stop(signal.SIGTERM)
    assert code == 0
    assert audit_kinds(tmp_path)[-1] == "hub.stopped"
    assert (tmp_path / "data" / "logs" / "enigma-apex.log").exists()
    assert verify(config)[0] == 0


def test_ctrl_c_stops_the_hub_cleanly(tmp_path):
    config, _ = init_dir(tmp_path)
    hub = HubProcess(config)
    assert hub.stop(signal.SIGINT) == 0
    assert "hub.stopped" in audit_kinds(tmp_path)


def test_hot_reload_applies_live_keys_refuses_restart_keys_and_records_both(tmp_path):
    config, tokens = init_dir(tmp_path)
    hub = HubProcess(config)
    try:
        text = config.read_text()
        config.write_text(
            text.replace("kelly_multiplier = 0.5", "kelly_multiplier = 0.25").replace(
                'sqlite_synchronous = "FULL"', 'sqlite_synchronous = "NORMAL"'
            )
        )
        hub.wait_for(r"sizing.kelly_multiplier = .*applied live")

        def changes():
            con = sqlite3.connect(tmp_path / "data" / "enigma-apex.db")
            try:
                return con.execute(
                    "SELECT key, old_value, new_value, applied FROM config_changes ORDER BY id"
                ).fetchall()
            finally:
                con.close()

        rows = wait_until(lambda: len(changes()) >= 2 and changes())
        assert ("sizing.kelly_multiplier", '"0.5"', '"0.25"', 1) in rows
        assert ("database.sqlite_synchronous", '"FULL"', '"NORMAL"', 0) in rows

        config.write_text(config.read_text().replace("[http]", "[http]\nbogus = 1"))
        hub.wait_for(r"config reload refused: http.bogus: unknown key")
        status, _ = hub.get("/health")
        assert status == 200  # a bad edit changes nothing and the hub keeps running

        assert hub.get("/api/v1/config/reload", method="POST")[0] == 401
        assert hub.get("/api/v1/config/reload", token="eat_wrong", method="POST")[0] == 401
        config.write_text(text.replace("kelly_multiplier = 0.5", "kelly_multiplier = 0.75"))
        status, body = hub.get("/api/v1/config/reload", token=tokens["local-admin"], method="POST")
        assert status == 200 and body["ok"]
        # The file watcher may have applied the edit first; either way the running value is now 0.75.
        applied = [c for c in body["applied"] if c["key"] == "sizing.kelly_multiplier"]
        assert applied == [{"key": "sizing.kelly_multiplier", "old": "0.25", "new": "0.75"}] or any(
            "sizing.kelly_multiplier = '0.75'" in line for line in hub.output
        )
        status, body = hub.get("/api/v1/config/reload", token=tokens["dashboard"], method="POST")
        assert status == 200 and body["applied"] == []
    finally:
        hub.stop()
    assert not any(token in "".join(hub.output) for token in tokens.values())


def test_sigkill_then_restart_loses_no_committed_row(tmp_path):
    config, _ = init_dir(tmp_path)
    hub = HubProcess(config)
    before = audit_kinds(tmp_path)
    assert "hub.started" in before
    hub.kill()  # SIGKILL: no shutdown code runs
    code, report = verify(config)
    assert code == 0, report
    hub = HubProcess(config)
    try:
        assert hub.get("/health")[0] == 200
    finally:
        hub.stop()
    after = audit_kinds(tmp_path)
    assert after[: len(before)] == before
    assert after.count("hub.started") == 2
    assert verify(config)[0] == 0


def test_a_busy_port_is_reported_and_the_process_exits(tmp_path):
    import socket

    config, _ = init_dir(tmp_path)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    config.write_text(config.read_text().replace("port = 0", f"port = {port}"))
    try:
        result = CliRunner().invoke(app, ["-c", str(config), "up"], env={"ENIGMA_APEX__HUB__USE_KEYRING": "false"})
    finally:
        blocker.close()
    assert result.exit_code == 1
    assert "cannot bind" in result.output + result.stderr, result.output + result.stderr


def test_live_mode_refuses_to_start_without_required_secrets(tmp_path):
    config, _ = init_dir(tmp_path, extra="")
    text = (
        config.read_text()
        .replace('mode = "paper"', 'mode = "live"')
        .replace("enabled = false", "enabled = true")
        .replace("http://127.0.0.1:11434/v1", "https://api.example.com/v1")
        .replace('executor = "paper"', 'executor = "ati"')  # live mode runs no paper broker
    )
    config.write_text(text)
    env = {"ENIGMA_APEX__HUB__USE_KEYRING": "false", "ENIGMA_APEX__TELEGRAM__ENABLED": "false"}  # not this test's
    result = CliRunner().invoke(app, ["-c", str(config), "up"], env=env)
    assert result.exit_code == 2
    assert "live mode refused" in result.output and "ai.api_key" in result.output, result.output
    assert "client token 'local-admin'" in result.output  # init's tokens were printed: revoke them for live


def test_http_emergency_stop_halts_every_account_and_the_cli_works_offline(tmp_path):
    env = {"ENIGMA_APEX__HUB__USE_KEYRING": "false"}
    config, tokens = init_dir(tmp_path)
    hub = HubProcess(config, env={"ENIGMA_APEX__PAPER__ENABLED": "false"})  # no executor: the halt waits for one
    try:
        assert hub.get("/api/v1/flatten", method="POST")[0] == 401
        status, body = hub.post_json("/api/v1/flatten", {"reason": "test"}, tokens["dashboard"])
        assert status == 200 and body["accounts"] == {"PAPER-1": "halted; executor not connected"}
        status, body = hub.post_json("/api/v1/flatten", {"accounts": ["NOPE"]}, tokens["dashboard"])
        assert status == 404
        # `enigma-apex resume` goes through the running hub (its control token): resumed, but still no new
        # entries, its executor has never connected
        resumed = CliRunner().invoke(app, ["-c", str(config), "resume", "PAPER-1"], env=env)
        assert resumed.exit_code == 0, resumed.output
        assert re.search(r"PAPER-1\s+REDUCING\s+executor paper has not connected", resumed.output), resumed.output
        status, body = hub.get("/api/v1/accounts/PAPER-1", tokens["dashboard"])
        assert body["state"] == "REDUCING" and "has not connected" in body["state_reason"]
        nothing = CliRunner().invoke(app, ["-c", str(config), "resume", "--all"], env=env)
        assert nothing.exit_code == 0 and "no account is HALTED" in nothing.output
        unknown = CliRunner().invoke(app, ["-c", str(config), "resume", "NOPE"], env=env)
        assert unknown.exit_code == 1 and "404" in unknown.output
    finally:
        hub.stop()
    result = CliRunner().invoke(app, ["-c", str(config), "flatten", "--all", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {  # stdout only: the guardian's warning is on stderr
        "state": "HALTED", "accounts": {"PAPER-1": "hub not running: flattened when its executor connects"}
    }  # fmt: skip
    status = CliRunner().invoke(app, ["-c", str(config), "account", "status", "--json"], env=env)
    assert '"state": "HALTED"' in status.output
    assert CliRunner().invoke(app, ["-c", str(config), "flatten"], env=env).exit_code == 2
    # with no hub running, `resume --all` writes the database itself; the halt is gone after it
    resumed = CliRunner().invoke(app, ["-c", str(config), "resume", "--all"], env=env)
    assert resumed.exit_code == 0 and re.search(r"PAPER-1\s+ACTIVE", resumed.output), resumed.output
    status = CliRunner().invoke(app, ["-c", str(config), "account", "status", "--json"], env=env)
    assert '"state": "ACTIVE"' in status.output
    assert CliRunner().invoke(app, ["-c", str(config), "resume"], env=env).exit_code == 2


def test_cli_signal_approve_reject_and_decisions_against_a_running_hub(tmp_path):
    env = {"ENIGMA_APEX__HUB__USE_KEYRING": "false", SHIFT_ENV: IN_SESSION.isoformat()}  # the hub's clock too
    config, tokens = init_dir(tmp_path)

    def cli(*args: str):
        return CliRunner().invoke(app, ["-c", str(config), *args], env=env)

    hub = HubProcess(config)
    try:
        dash = ("--token", tokens["dashboard"], "--url", hub.base)
        sent = cli(
            "signal",
            "--symbol",
            "MNQ",
            "--side",
            "long",
            "--entry",
            "21000",
            "--stop",
            "20980",
            "--key",
            "cli-1",
            "--json",
            *dash,
        )
        assert sent.exit_code == 0, sent.output
        outcome = json.loads(sent.output)
        assert [(d["account"], d["action"]) for d in outcome["decisions"]] == [("PAPER-1", "confirm")]
        again = cli(
            "signal",
            "--symbol",
            "MNQ",
            "--side",
            "long",
            "--entry",
            "21000",
            "--stop",
            "20980",
            "--key",
            "cli-1",
            *dash,
        )
        assert again.exit_code == 0 and "already received" in again.output
        approved = cli("approve", outcome["signal_id"], *dash)
        # the wall clock decides whether the session is open: taken or refused, but decided and recorded
        assert approved.exit_code == 0 and ("take" in approved.output or "refused" in approved.output)
        assert cli("reject", outcome["signal_id"], *dash).exit_code == 1  # no longer pending
        bad = cli("signal", "--symbol", "MNQ", "--side", "long", "--entry", "21000", "--stop", "21010", *dash)
        assert bad.exit_code == 1 and "wrong side" in bad.output
        assert cli("signal", "--symbol", "MNQ", "--side", "up", *dash).exit_code == 2
        assert cli("signal", "--symbol", "MNQ", "--side", "long", "--url", hub.base).exit_code == 2  # no token
    finally:
        hub.stop()
    listed = cli("decisions", "--json")
    record = json.loads(listed.output)
    assert [r["action"] for r in record][-1] == "confirm" and len(record) == 2
    assert record[0]["analysis"]["source"] == "scorer"
    text = cli("decisions", "--since", "1d")
    assert text.exit_code == 0 and "PAPER-1" in text.output and "scorer" in text.output, text.output
    assert re.search(r"2026-12-01 1\d:\d\d:\d\d EST", text.output), text.output  # hub.display_timezone
    assert cli("decisions", "--since", "yesterday").exit_code == 2


def test_the_screen_reader_starts_with_the_hub_and_a_missing_screen_is_reported_not_fatal(tmp_path):
    config, _tokens = init_dir(tmp_path)
    env = {"ENIGMA_APEX__OCR__ENABLED": "true", "ENIGMA_APEX__OCR__RATE_HZ": "20", "DISPLAY": ""}
    hub = HubProcess(config, env)
    try:
        assert hub.printed(r"ocr\s+OK\s+rapidocr")

        def alerted() -> bool:
            con = sqlite3.connect(tmp_path / "data" / "enigma-apex.db")
            try:
                rows = con.execute("SELECT message FROM alerts WHERE kind = 'ocr.health'").fetchall()
            finally:
                con.close()
            return any("enter signals by hand" in r[0] for r in rows)

        wait_until(alerted, timeout=30)
        assert hub.get("/health")[0] in (200, 503)
        assert hub.proc.poll() is None  # still running: manual entry keeps working
    finally:
        hub.stop()


def test_up_in_paper_mode_runs_the_paper_broker_as_an_executor_process(tmp_path):
    from sqlalchemy import create_engine, select

    from enigma_apex.adapters.store import schema

    config, tokens = init_dir(tmp_path)
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'enigma-apex.db'}")

    def acked() -> bool:
        with engine.connect() as conn:
            rows = conn.execute(select(schema.audit_log.c.kind, schema.audit_log.c.actor)).all()
        return ("flatten.ack", "paper") in {(kind, actor) for kind, actor in rows}

    hub = HubProcess(config)
    try:
        assert hub.printed(r"paper\s+OK\s+paper broker for PAPER-1 .*, connected")
        status, body = hub.post_json("/api/v1/flatten", {"accounts": ["PAPER-1"], "reason": "t"}, tokens["dashboard"])
        assert status == 200 and body["accounts"] == {"PAPER-1": "flatten sent"}
        wait_until(acked)  # the paper broker acknowledged the flatten
        assert (tmp_path / "data" / "paper-state.json").exists()
    finally:
        assert hub.stop() == 0
    with engine.connect() as conn:
        made = conn.execute(select(schema.client_tokens.c.name, schema.client_tokens.c.revoked_at)).all()
        alerts = conn.execute(select(schema.alerts.c.kind, schema.alerts.c.severity)).all()
        stopped = conn.execute(select(schema.audit_log.c.payload).where(schema.audit_log.c.kind == "executor.stopped"))
        stopped = [json.loads(p) for (p,) in stopped]
    engine.dispose()
    assert [revoked is not None for name, revoked in made if name == "paper"] == [True]  # revoked at stop
    # a planned stop is not an incident: the paper broker's leaving is recorded, without a critical alert
    assert ("executor.disconnected", "critical") not in alerts
    assert stopped == [{"executor": "paper", "accounts": ["PAPER-1"]}]


def test_live_settings_over_http_are_written_to_the_file_and_applied_and_secrets_stay_masked(tmp_path):
    config, tokens = init_dir(tmp_path)
    hub = HubProcess(config, env={"ENIGMA_APEX__TRADOVATE__PASSWORD": "hunter2-secret"})
    admin = tokens["local-admin"]
    try:
        status, body = hub.post_json("/api/v1/settings", {"changes": {"hub.display_timezone": "Europe/London"}}, admin)
        assert status == 200 and body["applied"][0]["key"] == "hub.display_timezone"
        status, shown = hub.get("/api/v1/config", admin)
        assert shown["values"]["hub.display_timezone"] == "Europe/London"
        assert shown["values"]["tradovate.password"] != "hunter2-secret"
        status, body = hub.post_json("/api/v1/settings", {"changes": {"gateway.port": 9999}}, admin)
        assert status == 422 and body["errors"][0]["pointer"] == "/body/changes/gateway.port"
        status, body = hub.post_json("/api/v1/settings", {"changes": {"tradovate.password": "x"}}, admin)
        assert status == 422 and "secret" in body["detail"]
        status, body = hub.post_json("/api/v1/settings", {"changes": {"hub.display_timezone": "Mars/Base"}}, admin)
        assert status == 422 and "unknown time zone" in body["detail"]
        assert hub.post_json("/api/v1/settings", {"changes": {}}, tokens["dashboard"])[0] == 422
        status, body = hub.post_json("/api/v1/settings", {"changes": {"hub.display_timezone": None}}, admin)
        assert status == 422 and "cannot be written" in body["detail"]
    finally:
        hub.stop()
    text = config.read_text()
    assert 'display_timezone = "Europe/London"' in text and "Mars" not in text
    assert "# " in text  # the file's comments survive the edit
    assert "hunter2" not in text


def test_demo_starts_three_paper_accounts_and_its_signals_are_decided(tmp_path):
    import subprocess

    from sqlalchemy import create_engine, func, select
    from sqlalchemy.exc import OperationalError

    from enigma_apex.adapters.store import schema

    env = {**os.environ, "ENIGMA_APEX__HUB__USE_KEYRING": "false", "ENIGMA_APEX__DASHBOARD__ENABLED": "false",
           "ENIGMA_APEX__HTTP__PORT": "0", "ENIGMA_APEX__GATEWAY__PORT": "0", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    folder = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "enigma_apex", "demo", str(folder), "--every-s", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    engine = create_engine(f"sqlite:///{folder / 'data' / 'enigma-apex.db'}")
    try:

        def decided() -> int:
            if not (folder / "data" / "enigma-apex.db").exists():
                return 0
            try:
                with engine.connect() as conn:
                    return int(conn.execute(select(func.count()).select_from(schema.decisions)).scalar() or 0)
            except OperationalError:  # the database is still being created
                return 0

        wait_until(lambda: decided() >= 6, timeout=60)  # two signals x three accounts, whatever the hour
        with engine.connect() as conn:
            accounts = sorted(r.id for r in conn.execute(select(schema.accounts.c.id)))
        assert accounts == ["DEMO-APEX-50K", "DEMO-MFFU-50K", "DEMO-TOPSTEP-50K"]
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
        assert "dashboard token (sign in with it): eat_" in output
        # a second run in the same folder: its signals are new ones, decided again (not duplicates of the first's)
        before = decided()
        proc = subprocess.Popen(
            [sys.executable, "-m", "enigma_apex", "demo", str(folder), "--every-s", "2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        wait_until(lambda: decided() >= before + 3, timeout=60)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
        engine.dispose()
    assert "signal.duplicate" not in output + (folder / "data" / "logs" / "enigma-apex.log").read_text()
    assert re.search(r"demo signal \d+: (long|short) MNQ, power \d+ -> DEMO-APEX-50K \w+ \d+", output), output
    written = (folder / "enigma-apex.toml").read_text()  # its own ports: it runs beside a hub started with `up`
    for section in ("http", "gateway", "dashboard"):
        assert re.search(rf"\[{section}\][^\[]*\nport = 0\n", written), section


def test_the_dashboard_on_any_free_port_keeps_its_own_lines_out_of_ups_status(tmp_path):
    import urllib.request

    config, _tokens = init_dir(tmp_path)
    hub = HubProcess(config, {"ENIGMA_APEX__DASHBOARD__ENABLED": "true", "ENIGMA_APEX__DASHBOARD__PORT": "0"})
    try:
        found = re.search(r"dashboard\s+OK\s+https?://127\.0\.0\.1:(\d+)", "".join(hub.output))
        assert found is not None, "".join(hub.output)
        port = int(found.group(1))
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as answer:
            assert answer.status == 200
        log = tmp_path / "data" / "logs" / "dashboard.log"
        wait_until(lambda: log.exists() and "Streamlit" in log.read_text(errors="replace"))
    finally:
        assert hub.stop() == 0
    printed = "".join(hub.output)
    assert "You can now view your Streamlit app" not in printed  # its banner is in its log file
    # The hub's own INFO lines and the paper broker's lines go to their log files, not between the status lines.
    assert re.search(r"logs\s+OK\s+\S+enigma-apex\.log \(shown here: warnings and errors\)", printed), printed
    assert "[info" not in printed and "paper: " not in printed, printed
    logs = tmp_path / "data" / "logs"
    assert "hub.started" in (logs / "enigma-apex.log").read_text()
    assert "connecting to ws://" in (logs / "paper.log").read_text()
