"""`enigma-apex up` in paper mode with one Rithmic and one ProjectX account, each against its loopback venue: a
signal trades both, open P&L is marked as prices move, and an emergency stop leaves both venues flat."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from enigma_apex.bench.venues import projectx_server, rithmic_server
from enigma_apex.bench.venues.projectx_server import FakeProjectX
from enigma_apex.bench.venues.rithmic_server import FakeRithmic
from enigma_apex.domain.instruments import instrument
from enigma_apex.domain.symbols import front_contract
from enigma_apex.execution.sim import SimBroker
from tests.integration.hubproc import HubProcess, init_dir, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process handling in the test")
D = Decimal


class Venues:
    """Both loopback venues on an event loop of their own (the hub is another process)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.rithmic = FakeRithmic(SimBroker({"RIT-1": D(50000)}, id_prefix="RT"), ["RIT-1"])
        self.projectx = FakeProjectX(SimBroker({"PX-1": D(50000)}, id_prefix="PX"), {"PX-1": 4001})
        self.rithmic_url = self.run(self.rithmic.start())
        self.px_urls = self.run(self.projectx.start())

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def quote(self, bid: str, ask: str) -> None:
        contract = front_contract(instrument("MNQ"), datetime.now(UTC).date())
        self.run(self.rithmic.quote(contract, D(bid), D(ask)))
        self.run(self.projectx.quote(contract, D(bid), D(ask)))

    def close(self) -> None:
        self.run(self.rithmic.stop())
        self.run(self.projectx.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_up_trades_marks_and_flattens_rithmic_and_projectx_accounts(tmp_path):
    venues = Venues()
    try:
        venues.quote("21000.00", "21000.25")
        api, user_hub, market_hub = venues.px_urls
        extra = """
[[accounts]]
name = "RIT-1"
profile = "apex4-intraday-eval-50k"
executor = "rithmic"
group = "brokers"

[[accounts]]
name = "PX-1"
profile = "apex4-intraday-eval-50k"
executor = "projectx"
group = "brokers"
"""
        config, tokens = init_dir(tmp_path, extra)
        env = {
            "ENIGMA_APEX__RITHMIC__GATEWAY_URL": venues.rithmic_url, "ENIGMA_APEX__RITHMIC__SYSTEM_NAME": rithmic_server.SYSTEM,
            "ENIGMA_APEX__RITHMIC__USER": rithmic_server.USER, "ENIGMA_APEX__RITHMIC__PASSWORD": rithmic_server.PASSWORD,
            "ENIGMA_APEX__PROJECTX__USERNAME": projectx_server.USER, "ENIGMA_APEX__PROJECTX__API_URL": api,
            "ENIGMA_APEX__PROJECTX__USER_HUB_URL": user_hub, "ENIGMA_APEX__PROJECTX__MARKET_HUB_URL": market_hub,
            "ENIGMA_APEX__PROJECTX__API_KEY": projectx_server.API_KEY,
        }  # fmt: skip
        hub = HubProcess(config, env)
        token = tokens["dashboard"]
        try:
            assert hub.printed(r"rithmic\s+OK") and hub.printed(r"projectx\s+OK"), "".join(hub.output)
            signal = {"id": "brokers-1", "symbol": "MNQ", "side": "long", "entry": "21000.25", "stop": "20980.00",
                      "target": "21040.00", "quantity": 1, "group": "brokers"}  # fmt: skip
            status, body = hub.post_json("/api/v1/signals", signal, token)
            assert status in (200, 201, 202), body
            if body["decisions"][0]["action"] == "confirm":  # the group's mode asks for an approval
                approved = hub.post_json(f"/api/v1/signals/{body['signal_id']}/approve", {}, token)
                assert approved[0] == 200, approved
            wait_until(lambda: venues.rithmic.venue.positions("RIT-1") and venues.projectx.venue.positions("PX-1"),
                       timeout=60)  # fmt: skip
            venues.quote("20990.00", "20990.25")  # about 10 points against the longs

            def marked() -> bool:
                rows = {a["account"]: a for a in hub.get("/api/v1/accounts", token)[1]["accounts"]}
                return all(D(str(rows[n]["open_pnl"])) < 0 for n in ("RIT-1", "PX-1"))

            wait_until(marked, timeout=60)
            status, _ = hub.post_json("/api/v1/flatten", {"reason": "phone"}, token)
            assert status == 200
            wait_until(lambda: not venues.rithmic.venue.positions("RIT-1")
                       and not venues.projectx.venue.positions("PX-1"), timeout=60)  # fmt: skip
            assert not venues.rithmic.venue.working("RIT-1") and not venues.projectx.venue.working("PX-1")
        finally:
            hub.stop()
    finally:
        venues.close()
