"""A hub for the dashboard tests: `up` as a process with five paper accounts of three firms, its clock started on
a Tuesday at 10:00 New York time (inside every firm's session), signals waiting for approval (confirm mode)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.hubproc import HubProcess, init_dir, wait_until

TUESDAY_10_ET = "2026-12-01T15:00:00+00:00"
ACCOUNTS = {
    "PAPER-1": "apex4-intraday-eval-50k",
    "TOPSTEP-1": "topstep-combine-50k",
    "MFFU-1": "mffu-rapid-eval-100k",
    "APEX-2": "apex4-eod-eval-100k",
    "TOPSTEP-2": "topstep-combine-100k",
}


def extra_accounts() -> str:
    return "".join(
        f'\n[[accounts]]\nname = "{name}"\nprofile = "{profile}"\nexecutor = "paper"\ngroup = "default"\n'
        f'household = "{name}"\n'
        for name, profile in ACCOUNTS.items()
        if name != "PAPER-1"
    )


def start_hub(
    folder: Path, env: dict[str, str] | None = None, *, all_active: bool = True
) -> tuple[HubProcess, dict[str, str], str]:
    """The hub, its tokens, and its gateway's address, once the paper broker is connected (and, ``all_active``,
    every account ACTIVE)."""
    config, tokens = init_dir(folder, extra_accounts())
    text = config.read_text().replace('household = "default"', 'household = "PAPER-1"', 1)
    # a calm market: an approval is sized at the price when it is clicked, and a signal's stop is set from the price
    # when it was sent; the default walk (NQ 22 % a year) can move MNQ 25 points while a loaded page catches up
    text = text.replace("\nvolatility = {}\n", "\nvolatility = {MNQ = 0.05}\n", 1)
    assert "volatility = {MNQ = 0.05}" in text
    config.write_text(text)
    hub = HubProcess(config, env={"ENIGMA_APEX_CLOCK_START": TUESDAY_10_ET, **(env or {})})
    ws = wait_until(lambda: re.search(r"NinjaTrader / WS\s+(ws://\S+)", "".join(hub.output)), timeout=30)
    wait_until(lambda: hub.printed(r"paper\s+OK.*connected"), timeout=30)

    def active() -> bool:
        _status, body = hub.get("/api/v1/accounts", tokens["dashboard"])
        accounts = body["accounts"]
        if not all_active:
            return len(accounts) == len(ACCOUNTS) and all(a["executor_connected"] for a in accounts)
        return all(a["state"] == "ACTIVE" for a in accounts) and len(accounts) == len(ACCOUNTS)

    try:
        wait_until(active, timeout=30)
    except AssertionError:
        states = {a["account"]: (a["state"], a["state_reason"]) for a in hub.get("/api/v1/accounts",
                  tokens["dashboard"])[1]["accounts"]}  # fmt: skip
        hub.stop()
        raise AssertionError(f"not every account is ACTIVE: {states}") from None
    return hub, tokens, ws.group(1)


def send(hub: HubProcess, token: str, **fields: str) -> dict:
    body = {"symbol": "MNQ", "side": "long", **fields}
    status, answer = hub.post_json("/api/v1/signals", body, token)
    assert status == 201, answer
    return dict(answer)


def until_takeable(hub: HubProcess, token: str, signal_id: str, accounts: list[str]) -> None:
    """Until approving the signal now would trade each of these accounts (what approving does is planned with the
    paper broker's prices, slow to arrive on a loaded machine)."""

    seen: list[object] = []

    def takeable() -> bool:
        _s, body = hub.get("/api/v1/approvals", token)
        mine = [a for a in body["approvals"] if a["signal_id"] == signal_id and a["account"] in accounts]
        seen[:] = [(a["account"], a["action"], a["quantity"], a.get("reason")) for a in mine]
        return {a["account"] for a in mine if a["action"] == "take" and a["quantity"] > 0} >= set(accounts)

    try:
        wait_until(takeable, timeout=30)
    except AssertionError:
        raise AssertionError(f"approving would not trade {accounts}: {seen}") from None


def last_price(hub: HubProcess, token: str) -> float:
    def price() -> float | None:
        _status, body = hub.get("/api/v1/market/MNQ", token)
        return float(body["last"]) if body.get("last") else None

    return float(wait_until(price, timeout=30))
