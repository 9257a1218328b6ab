"""`enigma-apex up` killed with SIGKILL in the middle of a signal stream, with the paper broker connected, then
restarted; and the database locked by another process while the hub runs."""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from enigma_apex.adapters.clock import SHIFT_ENV
from tests.integration.hubproc import HubProcess, init_dir, wait_until
from tests.integration.test_up_process import verify

NEW_YORK = ZoneInfo("America/New_York")
TUESDAY_10_ET = datetime(2026, 12, 1, 10, 0, tzinfo=NEW_YORK)  # inside every firm's session, whatever CI's date


def paper_config(tmp_path):
    config, tokens = init_dir(tmp_path)
    text = config.read_text().replace('default_mode = "confirm"', 'default_mode = "auto"')
    text = text.replace('executor = "paper"\n', 'executor = "paper"\ndefault_stop_ticks = 40\n', 1)
    text += (
        '\n[[accounts]]\nname = "PAPER-2"\nprofile = "topstep-combine-50k"\nexecutor = "paper"\n'
        "default_stop_ticks = 40\n"
    )
    config.write_text(text)
    return config, tokens


def query(tmp_path, sql, *args):
    con = sqlite3.connect(tmp_path / "data" / "enigma-apex.db", timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def account(hub, token, name):
    status, body = hub.get(f"/api/v1/accounts/{name}", token)
    assert status == 200, body
    return body


def test_sigkill_mid_signal_stream_then_restart_loses_and_duplicates_nothing(tmp_path):
    config, tokens = paper_config(tmp_path)
    token = tokens["dashboard"]
    started = time.monotonic()
    hub = HubProcess(config, {SHIFT_ENV: TUESDAY_10_ET.isoformat()})
    acked: list[str] = []
    try:
        status, _ = hub.post_json("/api/v1/halt", {"account": "PAPER-2", "reason": "kept over a crash"}, token)
        assert status == 200

        def quotes_arrived() -> bool:  # the paper broker's market data reached the hub
            probe = {"symbol": "MNQ", "side": "long"}
            code, body = hub.post_json("/api/v1/signals/preview", probe, token)
            return code == 200 and body["accounts"][0]["action"] == "take"

        wait_until(quotes_arrived, timeout=30)
        stop = threading.Event()

        def stream() -> None:
            n = 0
            while not stop.is_set():
                signal = {"id": f"crash-{n}", "symbol": "MNQ", "side": ("long", "short")[n % 2], "power": 80}
                try:
                    code, body = hub.post_json("/api/v1/signals", signal, token)
                except (OSError, http.client.HTTPException):  # e.g. IncompleteRead: killed while answering
                    return  # the hub is gone: this signal was never acknowledged
                if code in (200, 201, 202):
                    acked.append(body["signal_id"])
                n += 1

        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        wait_until(lambda: len(acked) >= 25, timeout=60)
        peak_before = account(hub, token, "PAPER-1")["peak"]
    finally:
        hub.kill()  # SIGKILL in the middle of the stream: no shutdown code runs
        stop.set()
    sender.join(15)
    assert len(acked) >= 25
    code, report = verify(config)
    assert code == 0, report

    # the restarted hub's clock goes on from where the first one stopped
    restart_at = TUESDAY_10_ET + timedelta(seconds=time.monotonic() - started + 2)
    hub = HubProcess(config, {SHIFT_ENV: restart_at.isoformat()})
    try:
        assert hub.printed(r"paper\s+OK.*connected")

        def settled() -> bool:
            pending = query(tmp_path, "SELECT count(*) FROM orders WHERE status IN ('pending', 'accepted')")[0][0]
            return pending == 0

        try:
            wait_until(settled, timeout=60)
        except AssertionError:
            stuck = query(tmp_path, "SELECT * FROM orders WHERE status IN ('pending', 'accepted')")
            raise AssertionError(f"orders never settled: {stuck}") from None
        # every acknowledged signal has its decisions
        decided = {row[0] for row in query(tmp_path, "SELECT DISTINCT signal_id FROM decisions")}
        assert set(acked) <= decided
        # orders: at the venue once each (the paper broker's journal), fills recorded once each
        journal = (tmp_path / "data" / "paper-journal.jsonl").read_text().splitlines()
        placed = [json.loads(line)["k"] for line in journal if '"k"' in line]
        assert len(placed) == len(set(placed)) > 0

        def unrecorded() -> set[str]:  # the journal's fills are reported again after the connection: poll for them
            lines = (tmp_path / "data" / "paper-journal.jsonl").read_text().splitlines()
            venue_fills = {json.loads(json.loads(line)["e"])["fill_id"] for line in lines if '"fill_id' in line}
            return venue_fills - {row[0] for row in query(tmp_path, "SELECT fill_id FROM fills")}

        try:
            wait_until(lambda: not unrecorded(), timeout=30)
        except AssertionError:
            raise AssertionError(f"fills made at the venue never recorded: {sorted(unrecorded())}") from None
        stored_fills = [row[0] for row in query(tmp_path, "SELECT fill_id FROM fills")]
        assert len(stored_fills) == len(set(stored_fills))
        orders = query(tmp_path, "SELECT idempotency_key, status FROM orders")
        assert {key for key, _ in orders} <= set(placed) | {k for k, s in orders if s == "rejected"}
        # the hub's positions are the venue's
        state = json.loads((tmp_path / "data" / "paper-state.json").read_text())
        venue = {a: sum(int(p[1]) for p in v["positions"]) for a, v in state["accounts"].items()}

        def reconciled() -> bool:
            rows = query(tmp_path, "SELECT account_id, sum(quantity) FROM positions GROUP BY account_id")
            stored = {a: int(q) for a, q in rows}
            return all(stored.get(a, 0) == q for a, q in venue.items())

        wait_until(reconciled, timeout=30)
        # halts and peaks intact
        assert account(hub, token, "PAPER-2")["state"] == "HALTED"
        assert float(account(hub, token, "PAPER-1")["peak"]) >= float(peak_before)
    finally:
        assert hub.stop() == 0
    code, report = verify(config)
    assert code == 0, report


def test_a_database_locked_by_another_process_halts_every_account_and_nothing_unwritten_is_acknowledged(tmp_path):
    config, tokens = paper_config(tmp_path)
    token = tokens["dashboard"]
    hub = HubProcess(config, {SHIFT_ENV: TUESDAY_10_ET.isoformat()})
    try:
        _locked_then_released(tmp_path, hub, token)
    finally:
        assert hub.stop() == 0
    code, report = verify(config)
    assert code == 0, report


def _locked_then_released(tmp_path, hub, token):
    other = sqlite3.connect(tmp_path / "data" / "enigma-apex.db", timeout=1)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        signal = {"id": "locked-1", "symbol": "MNQ", "side": "long"}
        status, body = hub.post_json("/api/v1/signals", signal, token, timeout=60)
        assert status == 503 and "database" in body["detail"] and "Nothing was recorded" in body["detail"]
        hub.wait_for(r"database\s+DOWN\s+the database refuses writes", timeout=30)
        code, health = hub.get("/health")
        assert code == 503 and health["status"] == "down"
        states = {a["account"]: a["state"] for a in hub.get("/api/v1/accounts", token)[1]["accounts"]}
        assert states == {"PAPER-1": "HALTED", "PAPER-2": "HALTED"}
        refused = hub.post_json("/api/v1/resume/PAPER-1", {}, token, timeout=60)
        assert refused[0] == 503  # a resume cannot be recorded, so it does not happen
        assert hub.proc.poll() is None  # still running
    finally:
        other.rollback()
        other.close()
    hub.wait_for(r"database\s+OK\s+takes writes again", timeout=30)
    rows = query(tmp_path, "SELECT account_id, state FROM account_state ORDER BY account_id")
    assert rows == [("PAPER-1", "halted"), ("PAPER-2", "halted")]  # written on recovery: survives a restart
    assert query(tmp_path, "SELECT count(*) FROM signals WHERE id = 'locked-1'")[0][0] == 0
    assert query(tmp_path, "SELECT count(*) FROM alerts WHERE kind = 'database.recovered'")[0][0] == 1
    status, _ = hub.post_json("/api/v1/resume/PAPER-1", {}, token)
    assert status == 200
    assert hub.get("/health")[0] == 200
