"""The Enigma-Apex dashboard: every account's distance to ruin at a glance, approvals per account, positions and
orders with their close and cancel buttons, the journal, and one red button to flatten all.

Run with `enigma-apex dashboard` (or `up`, which starts it). It reads the hub's HTTP API
(``ENIGMA_APEX_HUB_URL``) and keeps one subscription to the hub's gateway (``ENIGMA_APEX_HUB_WS``) per signed-in
token (``feed.py``): the live parts of each page re-draw from that local copy several times a second, so the
hub's load does not grow with the browsers watching. Words, not codes: ``words.py``.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from html import escape
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from enigma_apex.dashboard import words as w
from enigma_apex.dashboard.client import HubAPI, HubError
from enigma_apex.dashboard.feed import LiveFeed, Snapshot

HUB_URL = os.environ.get("ENIGMA_APEX_HUB_URL", "http://127.0.0.1:8080")
HUB_WS = os.environ.get("ENIGMA_APEX_HUB_WS") or None
REFRESH_S = float(os.environ.get("ENIGMA_APEX_DASHBOARD_REFRESH_S", "0.25"))
STALE_S = 10.0  # data older than this is flagged
CONFIRM_WINDOW_S = 10.0  # the second click of the emergency stop must come within this
ALGO_COLOURS = {"long": "#2ca02c", "long+": "#1f77b4", "short": "#d62728", "short+": "#e377c2", "other": "#e6c229"}
PAGES = w.PAGES
HISTORY_RANGES = {"8 hours": timedelta(hours=8), "1 day": timedelta(days=1), "1 week": timedelta(days=7),
                  "30 days": timedelta(days=30), "all": None}  # fmt: skip

CSS = """
<style>
div.stButton > button, div.stFormSubmitButton > button, div.stDownloadButton > button { min-height: 2.75rem; }
div.st-key-stop_arm button, div.st-key-stop_confirm button {
  background: #d62728; color: white; border: 0; font-weight: 700; width: 100%; min-height: 3rem; }
div.st-key-stop_confirm button { background: #7f0000; }
.ea-rows { display: flex; flex-direction: column; gap: .3rem; }
.ea-row { border-left: .45rem solid; border-radius: .4rem; padding: .25rem .55rem; background: #f7f7f9;
  display: grid; grid-template-columns: 1.6fr 1fr 1fr .7fr; gap: 0 .5rem; align-items: baseline; }
.ea-row .name { font-weight: 700; grid-column: 1 / -1; display: flex; justify-content: space-between; gap: .5rem; }
.ea-row .name .pos { font-weight: 400; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ea-row .why { grid-column: 1 / -1; font-size: .75rem; color: #555; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.ea-row .cell { white-space: nowrap; }
.ea-row .cell small { color: #666; display: block; font-size: .66rem; line-height: 1.1; }
.ea-row .cell b { font-size: .95rem; }
.ea-row .cell i { font-style: normal; font-size: .75rem; color: #555; }
.ea-totals { display: flex; gap: 1rem; flex-wrap: wrap; font-size: .9rem; margin: .1rem 0 .3rem; }
.ea-stamp { color: #666; font-size: .75rem; }
.ea-gauges { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .4rem;
  margin-top: .6rem; }
.ea-gauges svg { width: 100%; height: auto; }
@media (max-width: 640px) {
  h1 { font-size: 1.25rem !important; padding: 0 !important; }
  .block-container { padding: 3rem .45rem 1rem !important; }
  .ea-row { font-size: .82rem; gap: 0 .35rem; }
  .ea-row .cell b { font-size: .85rem; }
  .ea-row .wide { display: none; }
  .ea-gauges { display: none; }
  div.st-key-stop_arm button { min-height: 2.6rem; }
}
</style>
"""


# ---------------------------------------------------------------------- the hub
@st.cache_resource(show_spinner=False)
def _client(base_url: str, token: str) -> HubAPI:
    return HubAPI(base_url, token)  # one connection pool per token, kept for the server's life


@st.cache_resource(show_spinner=False)
def _feed(base_url: str, ws_url: str | None, token: str) -> LiveFeed:
    return LiveFeed(HubAPI(base_url, token), ws_url, token, poll_s=max(REFRESH_S, 1.0))


def api() -> HubAPI:
    return _client(HUB_URL, st.session_state["token"])


def feed() -> LiveFeed:
    live = _feed(HUB_URL, HUB_WS, st.session_state["token"])
    if live.closed:  # closed under us (the process shutting down, a test): a new one
        _feed.clear()
        live = _feed(HUB_URL, HUB_WS, st.session_state["token"])
    return live


TZ_RECHECK_S = 60.0  # hub.display_timezone is a live setting: read again this often


def tz() -> Any:
    """The user's time zone (``hub.display_timezone``), read from the hub once a minute at most."""
    read_at = st.session_state.get("tz_read_at")
    if read_at is None or time.monotonic() - read_at > TZ_RECHECK_S:
        try:
            name = api().config()["values"].get("hub.display_timezone")
        except HubError:
            name = st.session_state.get("tz_name")  # keep what we had
        st.session_state["tz_name"] = name
        st.session_state["tz"] = w.zone(name)
        st.session_state["tz_read_at"] = time.monotonic()
    return st.session_state["tz"]


def guarded(render: Callable[[], None]) -> None:
    """Run a page body; a hub that does not answer is a message, not a crash."""
    try:
        render()
    except HubError as exc:
        if exc.status == 401:
            st.session_state.pop("token", None)
            st.error("The hub refused the token (revoked or expired): sign in again.")
        else:
            st.error(f"The hub answered {exc.status or 'nothing'}: {exc.detail}")


def freshness(snap: Snapshot) -> None:
    """The stamp under the title: when the data was fetched; a banner when the hub is unreachable or stale."""
    age = feed().stale_s()
    if snap.error is not None and (age is None or age > STALE_S):
        st.error(
            f"The hub is not answering ({snap.error.detail}). The figures below are from "
            f"{'before it stopped' if age is not None else 'nowhere yet'}"
            f"{f', {w.ago(age)}' if age is not None else ''}: do not trade on them. "
            "The emergency stop still tries the hub; `enigma-apex flatten --all` works from the hub's machine."
        )
    elif age is not None and age > STALE_S:
        st.warning(f"These figures are {w.ago(age)} old: the hub answers slowly.")
    live = "live" if snap.live else "polling"
    stamp = "never" if snap.fetched_at is None else w.when(datetime.fromtimestamp(snap.fetched_at, UTC), tz())
    st.markdown(f"<div class='ea-stamp' data-testid='freshness'>updated {stamp} · {live}</div>",
                unsafe_allow_html=True)  # fmt: skip


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
        st.session_state["stop_result"] = (time.time(), result["accounts"])
        feed().poke()
        st.rerun()


def stop_banner(accounts: list[dict[str, Any]], fetched_at: float | None) -> None:
    """The emergency stop's outcome, shown while an account it halted is still HALTED."""
    sent = st.session_state.get("stop_result")
    if sent is None:
        return
    at, result = sent
    halted = {a["account"] for a in accounts if a["state"] == "HALTED"}
    if accounts and fetched_at is not None and fetched_at > at and not halted & set(result):
        st.session_state.pop("stop_result", None)  # every account it halted has been resumed
        return
    lines = ", ".join(f"{a}: {s}" for a, s in result.items())
    st.error(f"Emergency stop sent — {lines}. Resume accounts one by one (Controls, or the account's page).")


# ---------------------------------------------------------------------- overview
def _cell(label: str, value: str, extra: str = "") -> str:
    return f"<div class='cell {extra}'><small>{escape(label)}</small><b>{escape(value)}</b></div>"


def account_row(a: dict[str, Any]) -> str:
    colour = w.STATE_COLOURS.get(a["state"], "#888")
    share = w.distance_pct(a)
    dll = w.money(a["dll_remaining"]) if a.get("dll_remaining") is not None else "none"
    cells = [
        f"<div class='cell ea-ruin'><small>Distance to ruin</small><b>{escape(w.money(a['distance']))}</b> "
        f"<i>{escape(w.pct(share))}</i></div>",
        _cell("Day P&L", w.money(a["day_pnl"], sign=True)),
        _cell("DLL room", dll),
        _cell("Contracts", str(a["contracts_allowed"])),
    ]
    state = escape(w.STATES.get(a["state"], a["state"]))
    head = (
        f"<div class='name'><span>{escape(a['account'])} <span style='color:{colour}'>{state}</span>"
        f" <small class='wide'>{escape(a['profile'])}</small></span>"
        f"<span class='pos'>{escape(w.position_text(a.get('open_positions')))}</span></div>"
    )
    reason = a.get("state_reason") if a["state"] != "ACTIVE" else ""
    why = f"<div class='why' title='{escape(reason or '')}'>{escape(reason or '')}</div>" if reason else ""
    return (
        f"<div class='ea-row' style='border-color:{colour}' data-testid='account-row' "
        f"data-account='{escape(a['account'])}'>{head}{why}{''.join(cells)}</div>"
    )


def overview() -> None:
    snap = feed().snapshot()
    freshness(snap)
    accounts = sorted(snap.accounts, key=w.danger)
    stop_banner(accounts, snap.fetched_at)
    if not accounts:
        st.info("No account yet." if snap.fetched_at else "Waiting for the hub…")
        return
    totals = {k: sum(w.dec(a[k]) or 0 for a in accounts) for k in ("balance", "open_pnl", "day_pnl")}
    waiting = len(snap.approvals)
    st.markdown(
        "<div class='ea-totals'>"
        f"<span>Balance <b>{w.money(totals['balance'])}</b></span>"
        f"<span>Open <b>{w.money(totals['open_pnl'], sign=True)}</b></span>"
        f"<span>Day <b>{w.money(totals['day_pnl'], sign=True)}</b></span>"
        + (f"<span style='color:#b35c00'><b>{waiting} waiting for approval</b></span>" if waiting else "")
        + "</div><div class='ea-rows'>"
        + "".join(account_row(a) for a in accounts)
        + "</div><div class='ea-gauges'>"
        + "".join(
            w.gauge_svg(a["account"], w.dec(a["drawdown_used_pct"]), w.STATE_COLOURS.get(a["state"], "#888"))
            for a in accounts
        )
        + "</div>",
        unsafe_allow_html=True,
    )


# ---------------------------------------------------------------------- account
def _fetch_detail(name: str, version: int) -> dict[str, Any]:
    """The account's page data, fetched again only when the live state changed (or every few seconds)."""
    memo = st.session_state.get("detail_memo")
    key = (name, version, int(time.time() // 5))
    if memo is None or memo[0] != key:
        memo = (key, api().account(name))
        st.session_state["detail_memo"] = memo
    return dict(memo[1])


HALT_HELP = "HALTED (no new orders, kept across restarts), every working order cancelled and every position closed"


def account_controls(account: dict[str, Any]) -> None:
    name = account["account"]
    if account["state"] == "HALTED":
        if st.button(f"Resume {name}", key=f"resume-{name}", width="stretch", type="primary"):
            act(partial(api().resume, name), f"{name} resumed")
    elif st.button(f"Halt and flatten {name}", key=f"halt-{name}", width="stretch", help=HALT_HELP):
        act(partial(api().halt, name, "halted from the dashboard"), f"{name} halted and flattened")


def act(call: Callable[[], Any], done: str) -> None:
    try:
        call()
    except HubError as exc:
        st.session_state["flash"] = ("error", f"Refused: {exc.detail}")
    else:
        st.session_state["flash"] = ("success", done)
    st.session_state.pop("detail_memo", None)
    feed().poke()
    st.rerun()


def flash() -> None:
    message = st.session_state.pop("flash", None)
    if message is not None:
        {"error": st.error, "warning": st.warning}.get(message[0], st.success)(message[1])


def account_page() -> None:
    snap = feed().snapshot()
    names = [a["account"] for a in sorted(snap.accounts, key=w.danger)]
    if not names:
        st.info("No account is configured.")
        return
    name = st.selectbox("Account", names, key="account_choice")
    flash()

    @st.fragment(run_every=REFRESH_S)
    def live() -> None:
        guarded(lambda: account_live(name))

    live()
    guarded(lambda: account_history(name))


def account_live(name: str) -> None:
    snap = feed().snapshot()
    freshness(snap)
    account = _fetch_detail(name, snap.version)
    zone = tz()
    colour = w.STATE_COLOURS.get(account["state"], "#888")
    st.markdown(
        f"<b style='color:{colour}'>{escape(w.STATES.get(account['state'], account['state']))}</b>"
        f" {escape(account.get('state_reason') or '')}",
        unsafe_allow_html=True,
    )
    account_controls(account)
    a, b, c = st.columns(3)
    a.metric("Distance to ruin", w.money(account["distance"]), help=f"Threshold {w.money(account['threshold'])}")
    b.metric("Equity", w.money(account["equity"]))
    c.metric("Day P&L", w.money(account["day_pnl"], sign=True))
    d, e, f = st.columns(3)
    d.metric("Threshold", w.money(account["threshold"]), "locked" if account["locked"] else None,
             delta_color="off")  # fmt: skip
    e.metric("DLL room", w.money(account["dll_remaining"]) if account.get("dll_remaining") is not None else "none")
    f.metric("Contracts allowed", account["contracts_allowed"])
    st.subheader("Open positions")
    positions = account.get("positions") or []
    if not positions:
        st.caption("Flat.")
    for p in positions:
        qty = int(p["quantity"])
        line = (
            f"**{'Long' if qty > 0 else 'Short'} {abs(qty)} {p['symbol']}** at {w.price(p['average_price'])}, "
            f"now {w.price(p['mark'])} ({w.money(p['open_pnl'], sign=True)}) · stop {w.price(p.get('stop'))}, "
            f"target {w.price(p.get('target'))} · the guardian flattens at "
            f"**{w.price(p['flatten_price'])}** · the firm's rule ends the account at **{w.price(p['ruin_price'])}**"
        )
        left, right = st.columns([4, 1])
        left.markdown(line)
        if right.button("Close", key=f"close-{name}-{p['symbol']}", width="stretch"):
            act(partial(api().close_position, name, p["symbol"]), f"closing {p['symbol']} in {name}")
    st.subheader("Working orders")
    orders = account.get("orders") or []
    if not orders:
        st.caption("None.")
    for o in orders:
        kind = o["order_type"] + (f" {w.price(o['limit_price'] or o['stop_price'])}" if o["order_type"] != "market"
                                  else "")  # fmt: skip
        left, right = st.columns([4, 1])
        left.markdown(
            f"{o['side'].capitalize()} {o['quantity'] - (o['filled_quantity'] or 0)} {o['symbol']} {kind} "
            f"({o['purpose']}, {o['status'].replace('_', ' ')}, since {w.when(o['created_at'], zone)})"
        )
        if right.button("Cancel", key=f"cancel-{o['idempotency_key']}", width="stretch"):
            act(partial(api().cancel, o["idempotency_key"]), f"cancel sent for the {o['symbol']} order")
    progress(account, zone)


def progress(account: dict[str, Any], zone: Any) -> None:
    p = account.get("progress") or {}
    st.subheader("Evaluation" if p.get("phase") == "eval" else "Funded account")
    if p.get("target") is not None:
        target = w.dec(p["target"]) or 1
        made = w.dec(p["profit"]) or 0
        done = max(0.0, min(1.0, float(made / target))) if target else 0.0
        st.progress(done, text=f"Profit {w.money(made, sign=True)} of the {w.money(target)} target · "
                    f"{w.money(p['target_left'])} to go")  # fmt: skip
    days = f"{account['trading_days']} trading days"
    if p.get("min_trading_days"):
        days += f" of the {p['min_trading_days']} needed"
    if account.get("evaluation_ends"):
        ends = w.parse_time(account["evaluation_ends"])
        if ends is not None:
            left = (ends - datetime.now(UTC)).days
            days += f" · {max(left, 0)} calendar days left (ends {w.when(ends, zone, date=True)})"
    st.write(days)
    share = w.dec(account.get("best_day_share"))
    if share is not None:
        limit = w.dec(account.get("consistency_limit"))
        room = account.get("consistency_room_today")
        text = f"Best day is {share * 100:.0f}% of the profit"
        if limit is not None:
            text += f" (the rule allows {limit * 100 if limit <= 1 else limit:.0f}%)"
        if room is not None:
            text += f" · today may still make {w.money(room)} within it"
        st.write(text)
    st.subheader("Payout")
    if account.get("payout_eligible"):
        st.success("Eligible for a payout" + (f", up to {w.money(account['payout_max'])}"
                                              if account.get("payout_max") else "") + ".")  # fmt: skip
    else:
        reasons = account.get("payout_reasons") or []
        st.write("Not yet eligible:" if reasons else "Not eligible in this phase.")
        for reason in reasons:
            st.markdown(f"- {reason[0].upper() + reason[1:]}")


def account_history(name: str) -> None:
    zone = tz()
    st.subheader("Equity, threshold and lock")
    span = st.radio("Range", list(HISTORY_RANGES), horizontal=True, key="history_range", index=1)
    delta = HISTORY_RANGES[span]
    since = None if delta is None else (datetime.now(UTC) - delta).isoformat()
    samples = api().history(name, since)
    if samples:
        times = [datetime.fromisoformat(s["ts"]).astimezone(zone) for s in samples]
        figure = go.Figure()
        figure.add_scatter(x=times, y=[float(s["equity"]) for s in samples], name="equity", line={"color": "#1f77b4"})
        figure.add_scatter(x=times, y=[float(s["threshold"]) for s in samples], name="threshold",
                           line={"color": "#d62728", "dash": "dash"})  # fmt: skip
        locked = [float(s["threshold"]) if s["locked"] else None for s in samples]
        if any(v is not None for v in locked):
            figure.add_scatter(x=times, y=locked, name="lock", line={"color": "#7f7f7f", "width": 4})
        figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(figure, width="stretch", key="equity")
    else:
        st.caption("The curve starts with the hub's first samples (every 5 s, kept when they change).")
    detail = api().account(name)
    for p in detail.get("positions") or []:
        chart(p, detail.get("orders") or [], zone)
    st.subheader("Trades")
    journal = api().trades(name)
    trades_table(journal["trades"][:50], zone)


def chart(position: dict[str, Any], orders: list[dict[str, Any]], zone: Any) -> None:
    market = api().market(position["symbol"], (datetime.now(UTC) - timedelta(hours=4)).isoformat())
    bars = market["bars"]
    if not bars:
        st.caption(f"No bars of {position['symbol']} yet (the executors' prices build them).")
        return
    figure = go.Figure(
        go.Candlestick(
            x=[datetime.fromisoformat(b["start"]).astimezone(zone) for b in bars],
            open=[float(b["open"]) for b in bars], high=[float(b["high"]) for b in bars],
            low=[float(b["low"]) for b in bars], close=[float(b["close"]) for b in bars], name=position["symbol"],
        )
    )  # fmt: skip
    lines = [("entry", position["average_price"], "#1f77b4"), ("stop", position.get("stop"), "#7f7f7f"),
             ("target", position.get("target"), "#1e9e4a"), ("guardian flattens", position["flatten_price"],
             "#e0a100"), ("ruin", position["ruin_price"], "#d62728")]  # fmt: skip
    for o in orders:
        if o["symbol"] == position["symbol"] and o["purpose"] != "entry":
            lines.append((f"{o['purpose']} {o['order_type']}", o["stop_price"] or o["limit_price"], "#7f7f7f"))
    for label, level, colour in lines:
        if level is not None:
            figure.add_hline(y=float(level), line={"color": colour, "dash": "dot"}, annotation_text=label)
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_rangeslider_visible=False)
    st.plotly_chart(figure, width="stretch", key=f"bars-{position['symbol']}")


def trades_table(trades: list[dict[str, Any]], zone: Any) -> None:
    if not trades:
        st.caption("No trade yet.")
        return
    st.dataframe([trade_row(t, zone) for t in trades], width="stretch", hide_index=True)


def trade_row(t: dict[str, Any], zone: Any) -> dict[str, Any]:
    return {
        "opened": w.when(t["opened"], zone, date=True),
        "closed": w.when(t["closed"], zone, date=True) if t["closed"] else "open",
        "account": t["account"],
        "trade": f"{t['direction']} {t['quantity']} {t['symbol']}",
        "entry": w.price(t["entry"]),
        "exit": w.price(t["exit"]),
        "P&L": w.money(t["net"], sign=True),
        "R": "–" if t["r"] is None else f"{float(t['r']):+.2f}R",
        "commission": w.money(t["commission"]),
        "MAE": w.money(t["mae"]),
        "MFE": w.money(t["mfe"]),
        "source": t["source"],
        "setup": t["setup"],
    }


# ---------------------------------------------------------------------- journal
def journal_page() -> None:
    zone = tz()
    names = ["all accounts", *[a["account"] for a in feed().snapshot().accounts]]
    choice = st.selectbox("Accounts", names, key="journal_account")
    data = api().trades(None if choice == "all accounts" else choice)
    summary = data["summary"]
    a, b, c, d = st.columns(4)
    a.metric("Trades", summary["trades"])
    b.metric("Net", w.money(summary["net"], sign=True))
    c.metric("Expectancy", w.money(summary["expectancy"], sign=True), help="Mean net P&L per closed trade")
    d.metric("Mean R", "–" if summary["mean_r"] is None else f"{float(summary['mean_r']):+.2f}R")
    rows = [trade_row(t, zone) for t in data["trades"]]
    if rows:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        st.download_button("Export trades (CSV)", out.getvalue(), "enigma-apex-trades.csv", "text/csv",
                           key="export")  # fmt: skip
    if data["daily"]:
        st.subheader("Daily P&L")
        days = sorted(data["daily"].items())
        colours = ["#1e9e4a" if float(v) >= 0 else "#d62728" for _d, v in days]
        figure = go.Figure(go.Bar(x=[d for d, _v in days], y=[float(v) for _d, v in days], marker_color=colours))
        figure.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"type": "category"})
        st.plotly_chart(figure, width="stretch", key="daily")
        calendar(days)
    if data["expectancy"]:
        st.subheader("Expectancy over time")
        curve = data["expectancy"]
        figure = go.Figure(go.Scatter(x=[datetime.fromisoformat(p["at"]).astimezone(zone) for p in curve],
                                      y=[float(p["expectancy"]) for p in curve], mode="lines+markers"))  # fmt: skip
        figure.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(figure, width="stretch", key="expectancy")
    for title, groups in (("By source", data["by_source"]), ("By setup", data["by_setup"])):
        if groups:
            st.subheader(title)
            st.dataframe([{"": k, "trades": v["trades"], "net": w.money(v["net"], sign=True),
                           "expectancy": w.money(v["expectancy"], sign=True),
                           "win rate": "–" if v["win_rate"] is None else f"{float(v['win_rate']):.0%}",
                           "mean R": "–" if v["mean_r"] is None else f"{float(v['mean_r']):+.2f}R"}
                          for k, v in groups.items()], width="stretch", hide_index=True)  # fmt: skip
    st.subheader("Trades")
    trades_table(data["trades"], zone)
    st.subheader("The guardian's record")
    refusals = api().guardian_record()
    if not refusals:
        st.caption("The guardian has refused nothing yet.")
    else:
        st.dataframe([{"at": w.when(r["at"], zone, date=True), "account": r["account"],
                       "signal": f"{r['direction']} {r['symbol']}", "why": " ".join(r["reasons"])[:200],
                       "what followed": r["outcome"],
                       "per contract": w.money(r["per_contract"], sign=True) if r["per_contract"] else "–"}
                      for r in refusals[:200]], width="stretch", hide_index=True)  # fmt: skip


def calendar(days: list[tuple[str, str]]) -> None:
    """A month grid of the daily P&L (weeks down, weekdays across)."""
    from datetime import date

    parsed = [(date.fromisoformat(d), float(v)) for d, v in days]
    first = parsed[0][0] - timedelta(days=parsed[0][0].weekday())
    weeks = (parsed[-1][0] - first).days // 7 + 1
    z: list[list[float | None]] = [[None] * 7 for _ in range(weeks)]
    text: list[list[str]] = [[""] * 7 for _ in range(weeks)]
    for day, value in parsed:
        row, col = (day - first).days // 7, day.weekday()
        z[row][col] = value
        text[row][col] = f"{day:%b %d}<br>{w.money(value, sign=True)}"
    figure = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", x=["Mon", "Tue", "Wed", "Thu", "Fri",
                                  "Sat", "Sun"], colorscale=[[0, "#d62728"], [0.5, "#f7f7f7"], [1, "#1e9e4a"]],
                                  zmid=0, showscale=False, hoverinfo="skip"))  # fmt: skip
    figure.update_layout(height=60 + 45 * weeks, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         yaxis={"visible": False, "autorange": "reversed"})  # fmt: skip
    st.plotly_chart(figure, width="stretch", key="calendar")


# ---------------------------------------------------------------------- signals
def algo_colour(decision: dict[str, Any]) -> str:
    signal = decision["signal"]
    strong = (signal.get("power") or 0) >= 20
    if signal["direction"] in ("long", "short"):
        return str(ALGO_COLOURS[signal["direction"] + ("+" if strong else "")])
    return ALGO_COLOURS["other"]


def approvals_block() -> None:
    snap = feed().snapshot()
    zone = tz()
    pending = snap.approvals
    st.subheader(f"Waiting for approval ({len(pending)})")
    by_signal: dict[str, list[dict[str, Any]]] = {}
    for item in pending:
        by_signal.setdefault(item["signal_id"], []).append(item)
    for signal_id, items in by_signal.items():
        first = items[0]
        with st.container(border=True, key=f"approval-{signal_id}"):
            st.markdown(
                f"**{first['direction'].capitalize()} {first['symbol']}** from {first['source']} · entry "
                f"{w.price(first['entry']) if first['entry'] else 'at market'} · stop {w.price(first['stop'])} · "
                f"target {w.price(first['target'])} · score {first['score'] if first['score'] is not None else '–'}"
                f" ({first['analyst']}) · expires {w.when(first['expires_at'], zone)}"
            )
            for item in items:
                account = item["account"]
                sentence, code = w.why(item), w.reason_sentence(item["reason"])[1]
                can = item["action"] == "take" and item["quantity"] > 0
                what = f"takes {item['quantity']}" if can else w.ACTIONS.get(item["action"], item["action"]).lower()
                left, mid, right = st.columns([3, 1, 1])
                left.markdown(f"**{account}** {what}: {sentence}", help=code)
                if mid.button("Approve", key=f"approve-{signal_id}-{account}", width="stretch", disabled=not can):
                    decide(signal_id, "approve", [account])
                if right.button("Reject", key=f"reject-{signal_id}-{account}", width="stretch"):
                    decide(signal_id, "reject", [account])
            if len(items) > 1:
                left, right = st.columns(2)
                if left.button(f"Approve all {len(items)}", key=f"approve-all-{signal_id}", width="stretch"):
                    decide(signal_id, "approve", None)
                if right.button(f"Reject all {len(items)}", key=f"reject-all-{signal_id}", width="stretch"):
                    decide(signal_id, "reject", None)


def decide(signal_id: str, verb: str, accounts: list[str] | None) -> None:
    try:
        outcome = api().decide(signal_id, verb, accounts)
    except HubError as exc:
        st.session_state["flash"] = ("warning" if exc.unknown else "error",
                                     f"{'Perhaps done' if exc.unknown else 'Not done'}: {exc.detail}")  # fmt: skip
    else:
        done = "; ".join(f"{d['account']}: {w.ACTIONS.get(d['action'], d['action']).lower()}"
                         f"{' ' + str(d['quantity']) if d['quantity'] else ''} — {w.why(d)}"
                         for d in outcome["decisions"])  # fmt: skip
        st.session_state["flash"] = ("success", done or "done")
    feed().poke()
    st.rerun()


def signals_page() -> None:
    flash()

    @st.fragment(run_every=REFRESH_S)
    def live() -> None:
        guarded(approvals_block)

    live()
    guarded(decisions_block)


def decisions_block() -> None:
    zone = tz()
    decisions = api().decisions(300)
    seen: dict[str, dict[str, Any]] = {}
    for decision in reversed(decisions):
        seen[decision["signal"]["id"]] = decision
    stream = list(seen.values())
    if stream:
        st.subheader("AlgoBars: power and confluence by signal")
        times = [datetime.fromisoformat(d["signal"]["received_at"]).astimezone(zone) for d in stream]
        colours = [algo_colour(d) for d in stream]
        figure = go.Figure()
        figure.add_bar(x=times, y=[d["signal"].get("power") or 0 for d in stream], marker_color=colours, name="power")
        confluence = [(d["signal"].get("confluence") or 0) * 10 for d in stream]
        marker = {"color": colours, "size": 10, "symbol": "diamond"}
        figure.add_scatter(x=times, y=confluence, mode="markers", name="confluence x10", marker=marker)
        figure.update_layout(height=240, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(figure, width="stretch", key="algobars")
    rows = [
        {
            "at": w.when(d["at"], zone),
            "account": d["account"] or "–",
            "signal": f"{d['signal']['direction']} {d['signal']['symbol']}",
            "entry": w.price(d["signal"]["entry"]) if d["signal"].get("entry") else "market",
            "stop": w.price(d["signal"].get("stop")),
            "score": d["analysis"].get("score", "–"),
            "decision": w.ACTIONS.get(d["action"], d["action"]),
            "qty": d["quantity"],
            "why": w.why(d),
        }
        for d in decisions
    ]
    st.subheader("Decisions")
    st.dataframe(rows, width="stretch", hide_index=True)


# ---------------------------------------------------------------------- manual entry
def manual_entry() -> None:
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
    st.subheader("What would happen now (nothing is sent)")
    try:
        preview = api().preview(signal)
    except HubError as exc:
        st.warning(exc.detail)
        return
    takes = [p for p in preview if p["action"] in ("take", "confirm") and p["quantity"] > 0]
    st.dataframe(
        [
            {
                "account": p["account"],
                "would": (f"{'wait for approval, then ' if p['mode'] == 'confirm' else ''}trade {p['quantity']}"
                          if p in takes else w.ACTIONS.get(p["action"], p["action"]).lower()),
                "contract": p["symbol"],
                "score": "–" if p["score"] is None else f"{p['score']} ({p['analyst']})",
                "why": w.why(p),
            }
            for p in preview
        ],
        width="stretch",
        hide_index=True,
    )  # fmt: skip
    if not takes and side != "exit":
        st.info("No account would trade this signal: it is not sent.")
        return
    if st.button("Send signal", key="me_send", type="primary", width="stretch"):
        outcome = api().send_signal(signal)
        st.success("; ".join(f"{d['account']}: {w.ACTIONS.get(d['action'], d['action']).lower()} "
                             f"{d['quantity'] or ''} — {w.why(d)}" for d in outcome["decisions"]))  # fmt: skip
        feed().poke()


# ---------------------------------------------------------------------- compliance
def compliance() -> None:
    zone = tz()
    snap = feed().snapshot()
    rows = []
    for a in sorted(snap.accounts, key=w.danger):
        share = w.dec(a.get("best_day_share"))
        rows.append(
            {
                "account": a["account"],
                "state": w.STATES.get(a["state"], a["state"]),
                "why": a["state_reason"] or "–",
                "distance to ruin": w.money(a["distance"]),
                "threshold": w.money(a["threshold"]) + (" (locked)" if a["locked"] else ""),
                "DLL room": w.money(a["dll_remaining"]) if a.get("dll_remaining") is not None else "no DLL",
                "contracts allowed": a["contracts_allowed"],
                "best day share": "–" if share is None else f"{share * 100:.0f}%",
                "consistency": {True: "met", False: "not met", None: "–"}[a.get("consistency_ok")],
                "payout": "eligible" if a.get("payout_eligible") else "not yet",
            }
        )
    st.dataframe(rows, width="stretch", hide_index=True)
    st.subheader("Warnings and violations")
    alerts = [a for a in api().alerts(300) if a["severity"] in ("warning", "critical")]
    if not alerts:
        st.caption("None.")
    else:
        st.dataframe([{"at": w.when(a["ts"], zone, date=True), "severity": a["severity"], "account": a["account_id"]
                       or "–", "what": a["message"]} for a in alerts], width="stretch", hide_index=True)  # fmt: skip


# ---------------------------------------------------------------------- health
def health() -> None:
    zone = tz()
    started = time.perf_counter()
    status = api().health()
    round_trip_ms = (time.perf_counter() - started) * 1000
    a, b, c, d = st.columns(4)
    a.metric("Hub", status["status"].upper())
    b.metric("Uptime", f"{status['uptime_s'] / 60:.0f} min")
    c.metric("Committed writes", status["database"]["committed_writes"])
    d.metric("API round trip", f"{round_trip_ms:.0f} ms", help="This dashboard -> the hub's /health -> back")
    detail = api().components()
    executors = ", ".join(detail["executors"]) or "none"
    st.write(f"Executors connected: {executors}. Clients connected: {len(detail['clients'] or [])}.")
    now = datetime.now(UTC)
    rows = [
        {"component": row["component"], "status": row["status"], "detail": row["detail"] or "–",
         "last heard": w.ago((now - datetime.fromisoformat(row["ts"])).total_seconds())}
        for row in detail["components"]
    ]  # fmt: skip
    st.dataframe(rows, width="stretch", hide_index=True)
    supervised = status.get("components", [])
    if supervised:
        st.subheader("Supervised components")
        st.dataframe(
            [{"component": c["name"], "status": c["status"], "restarts": c["restarts"],
              "running on": c["fallback"] or "itself", "detail": c["detail"] or "–"} for c in supervised],
            width="stretch", hide_index=True,
        )  # fmt: skip
    recent = api().alerts(500)
    counts = {s: sum(1 for a in recent if a["severity"] == s) for s in ("critical", "warning", "info")}
    st.write("Alerts (last 500): " + ", ".join(f"{n} {severity}" for severity, n in counts.items()))
    errors = api().errors(20)
    st.subheader("Recent errors")
    if not errors:
        st.caption("None.")
    else:
        st.dataframe([{"at": w.when(e["ts"], zone, date=True), "where": e["logger"], "what": e["event"]}
                      for e in errors], width="stretch", hide_index=True)  # fmt: skip


# ---------------------------------------------------------------------- controls
def controls() -> None:
    snap = feed().snapshot()
    for account in sorted(snap.accounts, key=w.danger):
        name = account["account"]
        colour = w.STATE_COLOURS.get(account["state"], "#888")
        left, mid = st.columns([3, 2])
        left.markdown(
            f"**{name}** <span style='color:{colour}'>{escape(w.STATES.get(account['state'], account['state']))}"
            f"</span> {escape(account['state_reason'] or '')}",
            unsafe_allow_html=True,
        )
        with mid:
            if account["state"] == "HALTED":
                if st.button("Resume", key=f"resume-{name}", width="stretch", type="primary"):
                    act(partial(api().resume, name), f"{name} resumed")
            elif st.button("Halt and flatten", key=f"halt-{name}", width="stretch", help=HALT_HELP):
                act(partial(api().halt, name, "halted from the dashboard"), f"{name} halted and flattened")


def settings_editor() -> None:
    config = api().config()
    secret = set(config.get("secret", []))
    live = [k for k in config["live"] if k not in secret]
    sections: dict[str, list[str]] = {}
    for key in live:
        sections.setdefault(key.split(".", 1)[0], []).append(key)
    st.subheader("Live settings")
    st.caption("Applied at once, no restart. Secrets are set with `enigma-apex secret set`, never here.")
    for section, keys in sorted(sections.items()):
        with st.expander(section, expanded=False), st.form(f"settings-{section}"):
            edits = {key: st.text_input(key.split(".", 1)[1], str(config["values"][key]), key=f"set-{key}",
                                        help=config.get("help", {}).get(key)) for key in keys}  # fmt: skip
            submitted = st.form_submit_button(f"Apply {section}", width="stretch")
        if submitted:
            changes = {k: v for k, v in edits.items() if v != str(config["values"][k])}
            if not changes:
                st.info("Nothing changed.")
                continue
            try:
                outcome = api().update_settings(changes)
            except HubError as exc:
                st.error(exc.detail)
                continue
            st.success("Applied: " + ", ".join(c["key"] for c in outcome["applied"]))


LIVE: dict[str, Callable[[], None]] = {"Overview": overview, "Compliance": compliance, "Controls": controls}
STILL: dict[str, Callable[[], None]] = {
    "Account": account_page,
    "Signals": signals_page,
    "Journal": journal_page,
    "Manual entry": manual_entry,
    "Health": health,
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
    live_feed = feed()
    first = live_feed.wait_first(5.0)
    if first.error is not None and first.error.status == 401:
        st.session_state.pop("token", None)
        st.error("The hub refused the token (revoked or expired): sign in again.")
        return
    emergency_stop()
    st.title(page)
    if page == "Controls":
        flash()
    if page in STILL:
        guarded(STILL[page])  # these pages refresh their own live parts; typing is never interrupted
        return

    @st.fragment(run_every=REFRESH_S)
    def live() -> None:
        guarded(LIVE[page])

    live()
    if page == "Controls":
        guarded(settings_editor)  # outside the refreshing fragment: typing is never interrupted


main()
