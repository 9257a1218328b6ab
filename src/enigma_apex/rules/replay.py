"""Replay recorded events through a tracker: the `enigma-apex replay` engine (pure).

Input: JSON lines, one event each, times ISO-8601 with an offset, numbers as JSON numbers or decimal
strings::

    {"ts": "2026-11-23T10:00:00-05:00", "type": "mark", "balance": 50500, "open_pnl": "125.50"}
    {"ts": "...", "type": "payout", "amount": 1000}
    {"ts": "...", "type": "bootstrap", "peak": 51234.5}          # or "threshold", "balance"

The whole input is validated first; bad lines are reported with their line number and nothing is
replayed, so no line after a bad one is ever skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from enigma_apex.rules.tracker import AccountTracker, Snapshot

FIELDS = {
    "mark": ({"balance"}, {"open_pnl"}),
    "payout": ({"amount"}, set()),
    "bootstrap": (set(), {"peak", "threshold", "balance"}),
    "fill": (set(), set()),
}


@dataclass(frozen=True, slots=True)
class Event:
    line: int
    ts: datetime
    kind: str
    values: tuple[tuple[str, Decimal], ...]

    def get(self, name: str) -> Decimal | None:
        return dict(self.values).get(name)


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{name} must be a number or a decimal string")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name}: {value!r} is not finite")
    return number


def parse_line(text: str, line: int) -> Event:
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    kind = data.get("type")
    if kind not in FIELDS:
        raise ValueError(f"type must be one of {sorted(FIELDS)}, got {kind!r}")
    required, optional = FIELDS[kind]
    unknown = set(data) - required - optional - {"ts", "type"}
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)} for type {kind!r}")
    missing = required - set(data)
    if missing:
        raise ValueError(f"missing field(s) {sorted(missing)} for type {kind!r}")
    if kind == "bootstrap" and not set(data) & optional:
        raise ValueError("bootstrap needs peak, threshold or balance")
    raw_ts = data.get("ts")
    if not isinstance(raw_ts, str):
        raise ValueError("ts must be an ISO-8601 string with an offset")
    try:
        ts = datetime.fromisoformat(raw_ts)
    except ValueError:
        raise ValueError(f"ts: {raw_ts!r} is not ISO-8601") from None
    if ts.tzinfo is None:
        raise ValueError(f"ts: {raw_ts!r} has no UTC offset")
    values = tuple((name, _number(data[name], name)) for name in sorted((required | optional) & set(data)))
    if kind == "payout" and dict(values)["amount"] <= 0:
        raise ValueError("amount must be positive")
    return Event(line, ts, kind, values)


def parse_events(lines: Iterable[str]) -> tuple[list[Event], list[str]]:
    """Every event, or every problem as 'line N: …' (blank lines are ignored)."""
    events: list[Event] = []
    errors: list[str] = []
    last: datetime | None = None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            event = parse_line(text, number)
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if last is not None and event.ts < last:
            errors.append(f"line {number}: ts {event.ts.isoformat()} is earlier than the line before")
            continue
        last = event.ts
        events.append(event)
    return events, errors


def apply(tracker: AccountTracker, event: Event) -> None:
    if event.kind == "mark":
        tracker.mark(event.ts, event.get("balance") or Decimal(0), event.get("open_pnl") or Decimal(0))
    elif event.kind == "payout":
        tracker.payout(event.ts, event.get("amount") or Decimal(0))
    elif event.kind == "bootstrap":
        tracker.bootstrap(
            event.ts, peak=event.get("peak"), threshold=event.get("threshold"), balance=event.get("balance")
        )
    else:
        tracker.fill(event.ts)


def row(event_ts: datetime, snap: Snapshot) -> dict[str, Any]:
    """The `replay --json` output line for one event."""
    return {
        "ts": event_ts.isoformat(),
        "equity": _num(snap.equity),
        "balance": _num(snap.balance),
        "peak": _num(snap.peak),
        "threshold": _num(snap.threshold),
        "locked": snap.locked,
        "breached": snap.breached,
        "distance": _num(snap.distance),
        "state": snap.state.value.upper(),
        "max_contracts": snap.max_contracts,
        "dll_remaining": _num(snap.dll_remaining),
        "best_day_share": _num(snap.best_day_share),
    }


def _num(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def replay(tracker: AccountTracker, events: Iterable[Event]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        apply(tracker, event)
        out.append(row(event.ts, tracker.snapshot()))
    return out


def finish(tracker: AccountTracker) -> datetime | None:
    """Close the last session the events touched (a replay ends at its last event, often before that day's close;
    the day then counts as a trading day, its end-of-day figures apply). Returns the close applied, if any."""
    s = tracker.s
    if s.last_ts is None or s.session is None:
        return None
    close = tracker.calendar.close_of(tracker.calendar.session_of(s.last_ts))
    if close <= s.last_ts:
        return None
    tracker.mark(close + timedelta(seconds=1), s.balance, s.open_pnl)
    return close


def verdict(tracker: AccountTracker) -> dict[str, Any]:
    """The outcome of a replay and the rule that decided it: ``passed``, ``breached``, ``expired`` or ``running``."""
    snap, p = tracker.snapshot(), tracker.profile
    out: dict[str, Any] = {
        "trading_days": snap.trading_days,
        "min_trading_days": p.min_trading_days,
        "target": _num(p.target),
        "balance": _num(snap.balance),
        "threshold": _num(snap.threshold),
        "best_day_share": _num(snap.best_day_share),
        "consistency_limit": _num(snap.consistency_limit),
    }
    if snap.breached:
        when = tracker.s.breach_ts.isoformat() if tracker.s.breach_ts else "?"
        return {"result": "breached", "rule": f"TRAILING_THRESHOLD: equity touched the threshold at {when}", **out}
    if snap.expired:
        return {"result": "expired", "rule": f"TIME_LIMIT: {p.time_limit_days} days ran out before the pass", **out}
    if snap.passed:
        return {"result": "passed", "rule": _passed_by(tracker), **out}
    return {"result": "running", "rule": _missing(tracker), **out}


def _passed_by(tracker: AccountTracker) -> str:
    p, s = tracker.profile, tracker.s
    text = f"TARGET: balance {s.balance} reached {p.start + (p.target or 0)} with {s.trading_days} trading day(s)"
    return text + (f" (at least {p.min_trading_days})" if p.min_trading_days else "")


def _missing(tracker: AccountTracker) -> str:
    """What stands between the account and a pass (or, for a funded account, a payout)."""
    p, s = tracker.profile, tracker.s
    if p.phase != "eval" or p.target is None:
        eligible, reasons = tracker.payout_status()
        return "PAYOUT: eligible" if eligible else "PAYOUT: " + "; ".join(reasons)
    if s.balance < p.start + p.target:
        return f"TARGET: balance {s.balance} of {p.start + p.target}"
    if s.trading_days < p.min_trading_days:
        return f"MIN_TRADING_DAYS: {s.trading_days} of {p.min_trading_days}"
    required = tracker.required_profit()
    return f"CONSISTENCY: best day {tracker.best_day_share()} of the net; a net of {required} is needed"
