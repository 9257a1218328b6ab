"""The Enigma-Apex dashboard: every account's distance to ruin at a glance, one red button to flatten all.

Run with `enigma-apex dashboard` (or `up`, which starts it). It reads the hub's HTTP API only
(``ENIGMA_APEX_HUB_URL``), signs in with a hub token kept in the browser session, and refreshes its data
about once a second inside fragments, so what the user is typing is never lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from enigma_apex.dashboard.client import HubAPI, HubError

HUB_URL = os.environ.get("ENIGMA_APEX_HUB_URL", "http://127.0.0.1:8080")
REFRESH_S = float(os.environ.get("ENIGMA_APEX_DASHBOARD_REFRESH_S", "1.0"))
CONFIRM_WINDOW_S = 10.0  # the second click of the emergency stop must come within this
STATE_COLOURS = {"ACTIVE": "#1e9e4a", "REDUCING": "#e0a100", "HALTED": "#d62728", "FAILED": "#7f0000"}
# AlgoBox's colour code (integrations.md §5 [E1]): green bullish, blue stronger bullish, red bearish, pink
# stronger bearish, yellow neutral; "stronger" here = power at or above 20, the vendor's ideal power level.
ALGO_COLOURS = {"long": "#2ca02c", "long+": "#1f77b4", "short": "#d62728", "short+": "#e377c2", "other": "#e6c229"}
PAGES = ("Overview", "Account", "Signals", "Manual entry", "Compliance", "Health", "Controls")

CSS = """
<style>
div.stButton > button, div.stFormSubmitButton > button { min-height: 3rem; font-size: 1.05rem; }
div.st-key-stop_arm button, div.st-key-stop_confirm button {
  background: #d62728; color: white; border: 0; font-weight: 700; width: 100%; min-height: 3.4rem; }
div.st-key-stop_confirm button { background: #7f0000; }
.ea-card { border-radius: .6rem; padding: .6rem .9rem; margin-bottom: .6rem; border-left: .5rem solid; }
@media (max-width: 640px) { h1 { font-size: 1.6rem; } .block-container { padding: 3.75rem .6rem 1rem; } }
</style>
"""


def money(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "-"
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


@st.cache_resource(show_spinner=False)
def _client(base_url: str, token: str) -> HubAPI:
    return HubAPI(base_url, token)  # one connection pool per token, kept for the server's life


def api() -> HubAPI:
    return _client(HUB_URL, st.session_state["token"])


def guarded(render: Callable[[HubAPI], None]) -> None:
    """Run a page body; a hub that does not answer is a message, not a crash."""
    try:
        render(api())
    except HubError as exc:
        if exc.status == 401:
            st.session_state.pop("token", None)
            st.error("The hub refused the token (revoked or expired): sign in again.")
        else:
            st.error(f"The hub answered {exc.status or 'nothing'}: {exc.detail}")


# ---------------------------------------------------------------------- sign in
def sign_in() -> None:
    st.title("Enigma-Apex")
    with st.form("sign_in"):
        token = st.text_input(
            "Hub token", type="password", help="A dashboard, mobile or admin token (enigma-apex init)"
        )
        submitted = st.form_submit_button("Sign in", width="stretch")
    if submitted:
        try:
            with HubAPI(HUB_URL, token.strip()) as probe:
                probe.accounts()
        except HubError as exc:
            st.error("That token is not accepted." if exc.status in (401, 403) else f"The hub: {exc.detail}")
            return
        st.session_state["token"] = token.strip()
        st.rerun()


# ---------------------------------------------------------------------- emergency stop (every page)
def emergency_stop() -> None:
    armed = st.session_state.get("stop_armed_at")
    if armed is not None and time.monotonic() - armed > CONFIRM_WINDOW_S:
        st.session_state.pop("stop_armed_at", None)
        armed = None
    if armed is None:
        if st.button("EMERGENCY STOP — FLATTEN ALL", key="stop_arm", width="stretch"):
            st.session_state["stop_armed_at"] = time.monotonic()
            st.rerun()
        if "stop_result" in st.session_state:
            lines = ", ".join(f"{a}: {s}" for a, s in st.session_state["stop_result"].items())
            st.error(f"Emergency stop sent — {lines}. Resume accounts one by one under Controls.")
        return
    st.warning("Every account will be HALTED and flattened. Confirm within 10 seconds.")
    left, right = st.columns(2)
    confirm = left.button("CONFIRM — FLATTEN ALL ACCOUNTS", key="stop_confirm", width="stretch")
    if right.button("Cancel", key="stop_cancel", width="stretch"):
        st.session_state.pop("stop_armed_at", None)
        st.rerun()
    if confirm:
        st.session_state.pop("stop_armed_at", None)
        try:
            result = api().flatten_all("emergency stop from the dashboard")
        except HubError as exc:
            st.error(f"The emergency stop did not reach the hub: {exc.detail}. Use `enigma-apex flatten --all`.")
            return
        st.session_state["stop_result"] = result["accounts"]
        st.rerun()


# ---------------------------------------------------------------------- pages
def gauge(account: dict[str, Any]) -> go.Figure:
    used = float(account["drawdown_used_pct"])
    colour = STATE_COLOURS.get(account["state"], "#888888")
    figure = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=used,
            number={"suffix": "% used"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": colour},
                "steps": [
                    {"range": [0, 60], "color": "#eef6ee"},
                    {"range": [60, 85], "color": "#fff4d6"},
                    {"range": [85, 100], "color": "#fde2e2"},
                ],
            },
        )
    )
    figure.update_layout(height=170, margin={"l": 10, "r": 10, "t": 10, "b": 0})
    return figure


def overview(hub: HubAPI) -> None:
    accounts = hub.accounts()
    totals = {k: sum(Decimal(a[k]) for a in accounts) for k in ("balance", "open_pnl", "day_pnl")}
    c1, c2, c3 = st.columns(3)
    c1.metric("Balance, all accounts", money(totals["balance"]))
    c2.metric("Open P&L", money(totals["open_pnl"]))
    c3.metric("Day P&L", money(totals["day_pnl"]))
    for account in accounts:
        colour = STATE_COLOURS.get(account["state"], "#888")
        st.markdown(
            f"<div class='ea-card' style='border-color:{colour}' data-testid='account-row' "
            f"data-account='{account['account']}'><b>{account['account']}</b> · {account['profile']} · "
            f"<b style='color:{colour}'>{account['state']}</b> {account['state_reason']}</div>",
            unsafe_allow_html=True,
        )
        left, right = st.columns([3, 2])
        with left:
            a, b, c = st.columns(3)
            a.metric("Balance", money(account["balance"]), help="Cash balance")
            b.metric("Open P&L", money(account["open_pnl"]))
            c.metric("Day P&L", money(account["day_pnl"]))
            d, e, f = st.columns(3)
            d.metric("Distance to ruin", money(account["distance"]), help=f"Threshold {money(account['threshold'])}")
            e.metric("Contracts allowed", account["contracts_allowed"])
            f.metric("DLL room", money(account["dll_remaining"]) if account["dll_remaining"] is not None else "none")
            share = account.get("best_day_share")
            st.caption(
                f"Threshold {money(account['threshold'])}{' (locked)' if account['locked'] else ''} · "
                f"consistency share {share if share is not None else '-'} · "
                f"executor {account['executor']} {'connected' if account['executor_connected'] else 'NOT connected'}"
            )
        with right:
            st.plotly_chart(gauge(account), width="stretch", key=f"gauge-{account['account']}")


def account_page(hub: HubAPI) -> None:
    names = [a["account"] for a in hub.accounts()]
    if not names:
        st.info("No account is configured.")
        return
    name = st.selectbox("Account", names, key="account_choice")
    account = hub.account(name)
    a, b, c, d = st.columns(4)
    a.metric("Equity", money(account["equity"]))
    b.metric("Threshold", money(account["threshold"]), "locked" if account["locked"] else None)
    c.metric("Distance to ruin", money(account["distance"]))
    d.metric("State", account["state"])
    samples = hub.history(name)
    if samples:
        times = [s["ts"] for s in samples]
        figure = go.Figure()
        figure.add_scatter(x=times, y=[float(s["equity"]) for s in samples], name="equity", line={"color": "#1f77b4"})
        figure.add_scatter(x=times, y=[float(s["threshold"]) for s in samples], name="threshold",
                           line={"color": "#d62728", "dash": "dash"})  # fmt: skip
        locked = [float(s["threshold"]) if s["locked"] else None for s in samples]
        if any(v is not None for v in locked):
            figure.add_scatter(x=times, y=locked, name="lock", line={"color": "#7f7f7f", "width": 4})
        figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(figure, width="stretch", key="equity")
    else:
        st.caption("The equity curve starts with the hub's first samples (every 5 s).")
    st.subheader("Payout")
    eligible = account.get("payout_eligible")
    st.write("eligible" if eligible else "not yet eligible", "; ".join(account.get("payout_reasons") or []))
    st.subheader("Fills")
    st.dataframe(hub.fills(name, 100), width="stretch", hide_index=True)
    st.subheader("Rule verdicts that fired")
    fired = [
        {"at": d["at"], "action": d["action"], "code": v.get("code"), "reason": v.get("reason")}
        for d in hub.decisions(200, name)
        for v in d["verdicts"]
    ]
    st.dataframe(fired, width="stretch", hide_index=True)


def algo_colour(decision: dict[str, Any]) -> str:
    signal = decision["signal"]
    strong = (signal.get("power") or 0) >= 20
    if signal["direction"] in ("long", "short"):
        return ALGO_COLOURS[signal["direction"] + ("+" if strong else "")]
    return ALGO_COLOURS["other"]


def pending_approvals(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[tuple[str, str | None], dict[str, Any]] = {}
    for decision in decisions:  # newest first: the first seen per (signal, account) is the latest
        latest.setdefault((decision["signal"]["id"], decision["account"]), decision)
    return [d for d in latest.values() if d["action"] == "confirm"]


def signals_page(hub: HubAPI) -> None:
    decisions = hub.decisions(300)
    pending = pending_approvals(decisions)
    st.subheader(f"Waiting for approval ({len(pending)})")
    for decision in pending:
        signal = decision["signal"]
        st.write(f"**{signal['symbol']} {signal['direction']}** for {decision['account']} — entry {signal['entry']}, "
                 f"stop {signal['stop']}, score {decision['analysis'].get('score', '-')}")  # fmt: skip
        left, right = st.columns(2)
        if left.button("Approve", key=f"approve-{signal['id']}", width="stretch"):
            hub.decide(signal["id"], "approve")
            st.rerun()
        if right.button("Reject", key=f"reject-{signal['id']}", width="stretch"):
            hub.decide(signal["id"], "reject")
            st.rerun()
    seen: dict[str, dict[str, Any]] = {}
    for decision in reversed(decisions):
        seen[decision["signal"]["id"]] = decision
    stream = list(seen.values())
    if stream:
        st.subheader("AlgoBars: power and confluence by signal")
        times = [d["signal"]["received_at"] for d in stream]
        colours = [algo_colour(d) for d in stream]
        figure = go.Figure()
        figure.add_bar(x=times, y=[d["signal"].get("power") or 0 for d in stream], marker_color=colours, name="power")
        confluence = [(d["signal"].get("confluence") or 0) * 10 for d in stream]
        marker = {"color": colours, "size": 10, "symbol": "diamond"}
        figure.add_scatter(x=times, y=confluence, mode="markers", name="confluence x10", marker=marker)
        figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(figure, width="stretch", key="algobars")
    rows = [
        {
            "at": d["at"],
            "account": d["account"],
            "symbol": d["signal"]["symbol"],
            "side": d["signal"]["direction"],
            "power": d["signal"].get("power"),
            "confluence": d["signal"].get("confluence"),
            "AI score": d["analysis"].get("score"),
            "analyst": d["analysis"].get("source"),
            "decision": d["action"],
            "qty": d["quantity"],
        }
        for d in decisions
    ]
    st.subheader("Decisions")
    st.dataframe(rows, width="stretch", hide_index=True)


def manual_entry(hub: HubAPI) -> None:
    symbol = st.text_input("Symbol", "MNQ", key="me_symbol")
    side = st.radio("Side", ["long", "short", "exit"], horizontal=True, key="me_side")
    c1, c2, c3 = st.columns(3)
    entry = c1.text_input("Entry (empty: market)", key="me_entry")
    stop = c2.text_input("Stop", key="me_stop")
    target = c3.text_input("Target", key="me_target")
    group = st.text_input("Account group", "default", key="me_group")
    signal: dict[str, Any] = {"symbol": symbol.strip(), "side": side, "group": group.strip() or None}
    for name, text in (("entry", entry), ("stop", stop), ("target", target)):
        if text.strip():
            signal[name] = text.strip()
    st.subheader("Preview (nothing is sent)")
    try:
        preview = hub.preview(signal)
    except HubError as exc:
        st.warning(exc.detail)
        return
    st.dataframe(
        [
            {
                "account": p["account"],
                "action": p["action"],
                "quantity": p["quantity"],
                "symbol": p["symbol"],
                "reason": p["reason"],
            }
            for p in preview
        ],
        width="stretch",
        hide_index=True,
    )
    if st.button("Send signal", key="me_send", type="primary", width="stretch"):
        outcome = hub.send_signal(signal)
        st.success(", ".join(f"{d['account']}: {d['action']} {d['quantity']}" for d in outcome["decisions"]))


def compliance(hub: HubAPI) -> None:
    rows = [
        {
            "account": a["account"],
            "state": a["state"],
            "why": a["state_reason"],
            "distance": a["distance"],
            "threshold": a["threshold"],
            "locked": a["locked"],
            "DLL room": a["dll_remaining"],
            "contracts allowed": a["contracts_allowed"],
            "consistency ok": a["consistency_ok"],
            "payout eligible": a["payout_eligible"],
        }
        for a in hub.accounts()
    ]
    st.dataframe(rows, width="stretch", hide_index=True)
    st.subheader("Warnings and violations")
    st.dataframe(
        [a for a in hub.alerts(300) if a["severity"] in ("warning", "critical")],
        width="stretch",
        hide_index=True,
    )


def health(hub: HubAPI) -> None:
    started = time.perf_counter()
    status = hub.health()
    round_trip_ms = (time.perf_counter() - started) * 1000
    a, b, c, d = st.columns(4)
    a.metric("Hub", status["status"].upper())
    b.metric("Uptime", f"{status['uptime_s'] / 60:.0f} min")
    c.metric("Committed writes", status["database"]["committed_writes"])
    d.metric("API round trip", f"{round_trip_ms:.0f} ms", help="This dashboard -> the hub's /health -> back")
    detail = hub.components()
    st.write(
        "Connected clients:", detail["clients"] or "none", "· executors:", ", ".join(detail["executors"]) or "none"
    )
    now = datetime.now(UTC)
    rows = []
    for row in detail["components"]:
        age = (now - datetime.fromisoformat(row["ts"])).total_seconds()
        rows.append({"component": row["component"], "status": row["status"], "detail": row["detail"],
                     "last heard": f"{age:.0f} s ago"})  # fmt: skip
    st.dataframe(rows, width="stretch", hide_index=True)
    recent = hub.alerts(500)
    counts = {
        severity: sum(1 for a in recent if a["severity"] == severity) for severity in ("critical", "warning", "info")
    }
    st.write("Alerts (last 500): " + ", ".join(f"{n} {severity}" for severity, n in counts.items()))
    supervised = status.get("components", [])
    if supervised:
        st.subheader("Supervised components")
        st.dataframe(
            [{k: c[k] for k in ("name", "status", "restarts", "fallback", "detail")} for c in supervised],
            width="stretch",
            hide_index=True,
        )
    errors = hub.errors(20)
    st.subheader("Recent errors")
    if not errors:
        st.write("none")
    else:
        st.dataframe(
            [
                {"at": e["ts"], "where": e["logger"], "event": e["event"], "context": str(e["context"])[:300]}
                for e in errors
            ],
            width="stretch",
            hide_index=True,
        )


def controls(hub: HubAPI) -> None:
    for account in hub.accounts():
        left, mid, right = st.columns([2, 1, 1])
        left.write(f"**{account['account']}** — {account['state']} {account['state_reason']}")
        if mid.button("Halt", key=f"halt-{account['account']}", width="stretch"):
            hub.halt(account["account"], "halted from the dashboard")
            st.rerun()
        if right.button("Resume", key=f"resume-{account['account']}", width="stretch"):
            hub.resume(account["account"])
            st.rerun()


def settings_editor(hub: HubAPI) -> None:
    config = hub.config()
    st.subheader("Live settings")
    with st.form("settings"):
        edits = {key: st.text_input(key, str(config["values"][key]), key=f"set-{key}") for key in config["live"]}
        submitted = st.form_submit_button("Apply", width="stretch")
    if submitted:
        changes = {k: v for k, v in edits.items() if v != str(config["values"][k])}
        if not changes:
            st.info("Nothing changed.")
            return
        try:
            outcome = hub.update_settings(changes)
        except HubError as exc:
            st.error(exc.detail)
            return
        st.success("Applied: " + ", ".join(c["key"] for c in outcome["applied"]))


LIVE: dict[str, Callable[[HubAPI], None]] = {
    "Overview": overview,
    "Account": account_page,
    "Signals": signals_page,
    "Compliance": compliance,
    "Health": health,
    "Controls": controls,
}


def main() -> None:
    st.set_page_config(page_title="Enigma-Apex", page_icon="⚠️", layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    if "token" not in st.session_state:
        sign_in()
        return
    page = st.sidebar.radio("Page", PAGES, key="page")
    if st.sidebar.button("Sign out", key="sign_out"):
        st.session_state.clear()
        st.rerun()
    emergency_stop()
    st.title(page)
    if page == "Manual entry":
        guarded(manual_entry)  # no timed refresh: the preview follows the fields as they are typed
        return
    if page == "Controls":
        guarded(settings_editor)  # outside the refreshing fragment: typing is never interrupted

    @st.fragment(run_every=REFRESH_S)
    def live() -> None:
        guarded(LIVE[page])

    live()


main()
