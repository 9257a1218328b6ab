"""Every dashboard page and state under Streamlit's AppTest, against a live hub (`up` as a process, the paper
broker, five accounts of three firms, signals in confirm mode). The dashboard reads the hub's HTTP API and its
gateway (the live feed)."""

from __future__ import annotations

import os
import re
from importlib import resources

import pytest
from streamlit.testing.v1 import AppTest

from enigma_apex.dashboard import words as w
from enigma_apex.dashboard.feed import LiveFeed
from tests.e2e.dashboard_kit import ACCOUNTS, last_price, send, start_hub, until_takeable
from tests.integration.hubproc import wait_until

SCRIPT = str(resources.files("enigma_apex.dashboard").joinpath("app.py"))
CODES = re.compile(r"\b(GATE_CLOSED|TOO_SMALL|ANALYST_REDUCE|TRADING_HALTED|REDUCING_ONLY|NO_ROOM)\b")


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory):
    hub, tokens, ws = start_hub(tmp_path_factory.mktemp("dash-hub"))
    saved = {k: os.environ.get(k) for k in ("ENIGMA_APEX_HUB_URL", "ENIGMA_APEX_HUB_WS")}
    os.environ["ENIGMA_APEX_HUB_URL"] = hub.base
    os.environ["ENIGMA_APEX_HUB_WS"] = ws
    try:
        yield hub, tokens
    finally:
        LiveFeed.close_all()  # the feeds the pages opened (Streamlit keeps them for the process's life)
        hub.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def page(tokens, name, **state):
    at = AppTest.from_file(SCRIPT, default_timeout=30)
    at.session_state["token"] = tokens["dashboard"]
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.sidebar.radio(key="page").set_value(name).run()
    assert not at.exception, at.exception
    assert at.title[0].value == name
    return at


def text(at) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.caption] + [e.value for e in at.error]
    parts += [str(x.value) for x in at.metric] + [s.value for s in at.subheader] + [i.value for i in at.info]
    for frame in at.dataframe:
        parts.append(frame.value.to_string())
    return "\n".join(parts)


def no_raw(at) -> None:
    """No raw codes, ids, hashes, JSON or UTC ISO stamps anywhere on the page."""
    shown = text(at)
    assert not CODES.search(shown), CODES.search(shown)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", shown), "a raw ISO time"
    assert "sig:" not in shown and "{'" not in shown and '{"' not in shown


def test_sign_in_refuses_a_wrong_token_and_keeps_the_right_one(live_hub):
    _hub, tokens = live_hub
    at = AppTest.from_file(SCRIPT, default_timeout=30).run()
    assert not at.exception, at.exception
    at.text_input[0].input("eat_wrong")
    at.button[0].click().run()
    assert "not accepted" in at.error[0].value and "token" not in at.session_state
    at.text_input[0].input(tokens["dashboard"])
    at.button[0].click().run()
    assert at.session_state["token"] == tokens["dashboard"] and at.title[0].value == "Overview"


def test_overview_shows_every_account_with_its_distance_to_ruin_sorted_by_danger(live_hub):
    hub, tokens = live_hub
    assert hub.post_json("/api/v1/halt", {"account": "MFFU-1", "reason": "test"}, tokens["dashboard"])[0] == 200
    try:

        def halted_first():  # the live feed hears of the halt within moments
            for live in list(LiveFeed._open):  # (and is asked again at once, on a machine too loaded to notice)
                live.poke()
            at = page(tokens, "Overview")
            html = "\n".join(m.value for m in at.markdown)
            rows = re.findall(r"data-account='([^']+)'", html)
            return (at, html, rows) if rows and rows[0] == "MFFU-1" else None

        at, html, rows = wait_until(halted_first, timeout=30)
        assert sorted(rows) == sorted(ACCOUNTS)
        assert html.count("Distance to ruin") == len(ACCOUNTS)
        # MFFU-1 never trades in this module (other tests here trade the others, in an order xdist chooses): its
        # card shows its whole drawdown left, as the API says
        mffu = hub.get("/api/v1/accounts/MFFU-1", tokens["dashboard"])[1]
        assert f"{w.money(mffu['distance'])}</b> <i>100%</i>" in html
        assert "Halted" in html and "updated" in html
        no_raw(at)
    finally:
        hub.post_json("/api/v1/resume/MFFU-1", {}, tokens["dashboard"])


def test_one_signal_waits_per_account_and_each_is_approved_or_rejected_on_its_own(live_hub):
    hub, tokens = live_hub
    price = last_price(hub, tokens["dashboard"])
    sent = send(hub, tokens["dashboard"], stop=f"{price - 20:.2f}", target=f"{price + 40:.2f}")
    assert {d["action"] for d in sent["decisions"]} == {"confirm"}
    signal = sent["signal_id"]

    until_takeable(hub, tokens["dashboard"], signal, ["TOPSTEP-1"])
    at = page(tokens, "Signals")
    approve = f"approve-{signal}-TOPSTEP-1"

    def enabled() -> bool:  # the page's own copy catches up with the hub: fetched again at once, then shown
        if at.button(key=approve).disabled:
            for live in list(LiveFeed._open):
                live.poke()
            at.run()
        return not at.button(key=approve).disabled

    wait_until(enabled, timeout=30)
    for name in ACCOUNTS:  # one approve and one reject button per account: no duplicate keys
        assert at.button(key=f"approve-{signal}-{name}") and at.button(key=f"reject-{signal}-{name}")
    assert at.button(key=f"approve-all-{signal}")

    def clicked() -> bool:  # a click on a button the page's run just disabled again does nothing: click again
        if not enabled():  # (its copy fetched again, as above)
            return False
        at.button(key=approve).click().run()
        return bool(at.exception or at.success or at.error or at.warning or at.info)

    wait_until(clicked, timeout=30)
    assert not at.exception, at.exception
    assert at.success, [e.value for e in [*at.error, *at.warning, *at.info]]  # what the page said instead
    assert "TOPSTEP-1: trade" in at.success[0].value

    def waiting() -> set[str]:
        _s, body = hub.get("/api/v1/approvals", tokens["dashboard"])
        return {a["account"] for a in body["approvals"] if a["signal_id"] == signal}

    assert waiting() == set(ACCOUNTS) - {"TOPSTEP-1"}
    at.button(key=f"reject-{signal}-MFFU-1").click().run()
    assert waiting() == set(ACCOUNTS) - {"TOPSTEP-1", "MFFU-1"}
    at.button(key=f"approve-all-{signal}").click().run()
    assert not at.exception and waiting() == set()
    no_raw(at)
    wait_until(lambda: all(hub.get("/api/v1/accounts/" + n, tokens["dashboard"])[1]["positions"]
                           for n in ACCOUNTS if n != "MFFU-1"), timeout=30)  # fmt: skip


def test_a_signal_no_account_can_take_is_refused_at_once_with_the_reason(live_hub):
    hub, tokens = live_hub
    for name in ACCOUNTS:
        hub.post_json("/api/v1/halt", {"account": name, "reason": "test"}, tokens["dashboard"])
    try:
        price = last_price(hub, tokens["dashboard"])
        sent = send(hub, tokens["dashboard"], stop=f"{price - 20:.2f}")
        assert {d["action"] for d in sent["decisions"]} == {"refused"}
        _s, body = hub.get("/api/v1/approvals", tokens["dashboard"])
        assert not [a for a in body["approvals"] if a["signal_id"] == sent["signal_id"]]
        at = page(tokens, "Signals")
        assert "The account is halted" in text(at) or "halted" in text(at).lower()
        no_raw(at)
    finally:
        for name in ACCOUNTS:
            hub.post_json(f"/api/v1/resume/{name}", {}, tokens["dashboard"])


def test_the_account_page_shows_positions_with_ruin_prices_closes_one_and_halts_and_resumes(live_hub):
    hub, tokens = live_hub
    price = last_price(hub, tokens["dashboard"])
    sent = send(hub, tokens["dashboard"], stop=f"{price - 20:.2f}", target=f"{price + 40:.2f}")
    hub.post_json(f"/api/v1/signals/{sent['signal_id']}/approve", {"accounts": ["APEX-2"]}, tokens["dashboard"])
    wait_until(lambda: hub.get("/api/v1/accounts/APEX-2", tokens["dashboard"])[1]["positions"], timeout=30)
    at = page(tokens, "Account", account_choice="APEX-2")
    shown = text(at)
    assert "the guardian flattens at" in shown and "ends the account at" in shown
    assert {"Distance to ruin", "Equity", "Threshold", "DLL room"} <= {m.label for m in at.metric}
    assert "Profit" in shown or at.get("progress")
    symbol = hub.get("/api/v1/accounts/APEX-2", tokens["dashboard"])[1]["positions"][0]["symbol"]
    at.button(key=f"close-APEX-2-{symbol}").click().run()
    assert not at.exception, at.exception
    wait_until(lambda: not hub.get("/api/v1/accounts/APEX-2", tokens["dashboard"])[1]["positions"], timeout=30)
    at.button(key="halt-APEX-2").click().run()
    assert hub.get("/api/v1/accounts/APEX-2", tokens["dashboard"])[1]["state"] == "HALTED"
    at.run()
    at.button(key="resume-APEX-2").click().run()
    assert hub.get("/api/v1/accounts/APEX-2", tokens["dashboard"])[1]["state"] == "ACTIVE"
    no_raw(at)


def test_the_journal_shows_trades_by_source_with_a_csv_export(live_hub):
    hub, tokens = live_hub
    price = last_price(hub, tokens["dashboard"])
    sent = send(hub, tokens["dashboard"], stop=f"{price - 20:.2f}", note="opening range")
    # MFFU-1 is flat (it rejected the approval test's signal): this trade is the note's alone
    hub.post_json(f"/api/v1/signals/{sent['signal_id']}/approve", {"accounts": ["MFFU-1"]}, tokens["dashboard"])
    wait_until(lambda: hub.get("/api/v1/accounts/MFFU-1", tokens["dashboard"])[1]["positions"], timeout=30)
    symbol = hub.get("/api/v1/accounts/MFFU-1", tokens["dashboard"])[1]["positions"][0]["symbol"]
    hub.post_json("/api/v1/positions/MFFU-1/close", {"symbol": symbol}, tokens["dashboard"])

    def closed() -> list:
        _s, body = hub.get("/api/v1/trades?account=MFFU-1", tokens["dashboard"])
        return [t for t in body["trades"] if t["closed"]]

    (trade,) = wait_until(closed, timeout=30)
    assert trade["source"] == "manual" and trade["setup"] == "opening range" and trade["r"] is not None
    at = page(tokens, "Journal")
    assert at.get("download_button") and "manual" in text(at)
    no_raw(at)


def test_compliance_health_and_controls_pages_render_without_secrets(live_hub):
    _hub, tokens = live_hub
    compliance = page(tokens, "Compliance")
    assert sorted(compliance.dataframe[0].value["account"]) == sorted(ACCOUNTS)
    no_raw(compliance)
    health = page(tokens, "Health")
    assert {"Hub", "Uptime", "Committed writes", "API round trip"} <= {m.label for m in health.metric}
    assert not health.get("json")
    controls = page(tokens, "Controls")
    assert controls.button(key="halt-PAPER-1")
    keys = {t.key for t in controls.text_input}
    assert "set-hub.display_timezone" in keys
    assert not {"set-ai.api_key", "set-signals.tradingview_secret", "set-database.password"} & keys, keys


def test_manual_entry_previews_what_will_happen_and_a_plain_manual_one_lot_is_taken(live_hub):
    hub, tokens = live_hub
    price = last_price(hub, tokens["dashboard"])
    at = page(tokens, "Manual entry")
    at.text_input(key="me_stop").input(f"{price - 8:.2f}").run()
    assert not at.exception, at.exception
    preview = at.dataframe[0].value
    assert sorted(preview["account"]) == sorted(ACCOUNTS)
    assert all(w.startswith("wait for approval, then trade") for w in preview["would"]), list(preview["would"])
    at.text_input(key="me_stop").input(f"{price + 8:.2f}").run()  # above a long's entry: refused, not sent
    assert at.warning or at.info


def test_a_hub_that_stops_answering_is_a_banner_not_a_traceback(live_hub, monkeypatch):
    _hub, tokens = live_hub
    monkeypatch.setenv("ENIGMA_APEX_HUB_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("ENIGMA_APEX_HUB_WS")
    at = AppTest.from_file(SCRIPT, default_timeout=30)
    at.session_state["token"] = tokens["dashboard"]
    at.run()
    assert not at.exception, at.exception
    assert any("not answering" in e.value for e in at.error)


def test_the_emergency_stop_needs_a_confirmation_then_halts_every_account(live_hub):
    hub, tokens = live_hub
    at = page(tokens, "Health")
    at.button(key="stop_arm").click().run()
    assert "Confirm within 10 seconds" in at.warning[0].value
    at.button(key="stop_confirm").click().run()
    _status, body = hub.get("/api/v1/accounts", tokens["dashboard"])
    assert {a["state"] for a in body["accounts"]} == {"HALTED"}
    overview = page(tokens, "Overview", stop_result=at.session_state["stop_result"])
    assert any("Emergency stop sent" in e.value for e in overview.error)
    for name in ACCOUNTS:
        assert hub.post_json(f"/api/v1/resume/{name}", {}, tokens["dashboard"])[0] == 200
    # the banner goes with the halts (once the live feed has heard of the resumes)
    wait_until(lambda: not any("Emergency stop sent" in e.value for e in overview.run().error), timeout=30)
