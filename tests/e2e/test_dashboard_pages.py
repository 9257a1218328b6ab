"""Every dashboard page under Streamlit's AppTest, against a live hub (`up` as a process, paper broker and
paper account included). The dashboard reads the hub's HTTP API only."""

from __future__ import annotations

import os
from importlib import resources

import pytest
from streamlit.testing.v1 import AppTest

from tests.integration.hubproc import HubProcess, init_dir

SCRIPT = str(resources.files("enigma_apex.dashboard").joinpath("app.py"))


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dash-hub")
    config, tokens = init_dir(folder)
    hub = HubProcess(config)
    assert hub.printed(r"gateway.connected.*name=paper")
    old = os.environ.get("ENIGMA_APEX_HUB_URL")
    os.environ["ENIGMA_APEX_HUB_URL"] = hub.base
    try:
        yield hub, tokens
    finally:
        hub.stop()
        if old is None:
            os.environ.pop("ENIGMA_APEX_HUB_URL", None)
        else:
            os.environ["ENIGMA_APEX_HUB_URL"] = old


def page(tokens, name):
    at = AppTest.from_file(SCRIPT, default_timeout=30)
    at.session_state["token"] = tokens["dashboard"]
    at.run()
    at.sidebar.radio(key="page").set_value(name).run()
    assert not at.exception, at.exception
    assert at.title[0].value == name
    return at


def markdown(at):
    return "\n".join(m.value for m in at.markdown)


def test_sign_in_refuses_a_wrong_token_and_keeps_the_right_one(live_hub):
    _hub, tokens = live_hub
    at = AppTest.from_file(SCRIPT, default_timeout=30).run()
    at.text_input[0].input("eat_wrong")
    at.button[0].click().run()
    assert "not accepted" in at.error[0].value and "token" not in at.session_state
    at.text_input[0].input(tokens["dashboard"])
    at.button[0].click().run()
    assert at.session_state["token"] == tokens["dashboard"] and at.title[0].value == "Overview"


def test_overview_shows_every_account_with_its_distance_to_ruin(live_hub):
    _hub, tokens = live_hub
    at = page(tokens, "Overview")
    assert "PAPER-1" in markdown(at) and "ACTIVE" in markdown(at)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Distance to ruin"].startswith("$") and labels["Balance, all accounts"].startswith("$")


def test_account_page_shows_equity_threshold_and_fills(live_hub):
    _hub, tokens = live_hub
    at = page(tokens, "Account")
    assert at.selectbox(key="account_choice").value == "PAPER-1"
    assert {"Equity", "Threshold", "Distance to ruin", "State"} <= {m.label for m in at.metric}


def test_manual_entry_previews_per_account_then_sends(live_hub):
    _hub, tokens = live_hub
    at = page(tokens, "Manual entry")
    at.text_input(key="me_stop").input("1").run()  # a stop that cannot be right for a long: the preview says why
    assert at.warning or at.dataframe
    at.text_input(key="me_entry").input("21000").run()
    at.text_input(key="me_stop").input("20990").run()
    assert not at.exception
    preview = at.dataframe[0].value
    assert list(preview["account"]) == ["PAPER-1"]
    at.button(key="me_send").click().run()
    assert "PAPER-1" in at.success[0].value


def test_signals_page_lists_decisions_and_pending_approvals(live_hub):
    _hub, tokens = live_hub
    at = page(tokens, "Signals")
    assert any(s.value.startswith("Waiting for approval") for s in at.subheader)


def test_compliance_health_and_controls_pages_render(live_hub):
    _hub, tokens = live_hub
    compliance = page(tokens, "Compliance")
    assert list(compliance.dataframe[0].value["account"]) == ["PAPER-1"]
    health = page(tokens, "Health")
    assert {"Hub", "Uptime", "Committed writes", "API round trip"} <= {m.label for m in health.metric}
    controls = page(tokens, "Controls")
    assert controls.button(key="halt-PAPER-1") and controls.button(key="resume-PAPER-1")
    assert controls.text_input(key="set-hub.display_timezone").value == "America/New_York"


def test_the_emergency_stop_needs_a_confirmation_then_halts_every_account(live_hub):
    hub, tokens = live_hub
    at = page(tokens, "Health")
    at.button(key="stop_arm").click().run()
    assert "Confirm within 10 seconds" in at.warning[0].value
    at.button(key="stop_confirm").click().run()
    assert "Emergency stop sent" in at.error[0].value
    _status, body = hub.get("/api/v1/accounts", tokens["dashboard"])
    assert [a["state"] for a in body["accounts"]] == ["HALTED"]
    assert hub.post_json("/api/v1/resume/PAPER-1", {}, tokens["dashboard"])[0] == 200
