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
from datetime import datetime
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
