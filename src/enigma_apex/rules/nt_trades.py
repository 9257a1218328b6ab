"""NinjaTrader 8 "Trades" performance export (CSV) -> tracker events (pure).

Columns used (NinjaTrader's own headers): ``Entry time``, ``Exit time``, ``Profit``, ``Commission``,
``MAE``, ``MFE``. NinjaTrader's ``Profit`` excludes commissions, so the net result of a trade is
Profit - Commission. Each trade becomes three marks: two at the entry time with the open P&L at
the trade's excursions, then the closed balance at the exit time. The export does not say which
excursion came first; the likely path is used: a winner dipped to its MAE before running to its MFE,
a loser ran to its MFE before falling to its MAE (the "winner turned loser" path, which is the one
that raises an intraday threshold before the loss is tested).

Money like ``$1,234.50`` or ``($50.00)``; times as NinjaTrader writes them
(``11/21/2026 9:31:05 AM`` or ISO), in the time zone given (the PC's, by default New York).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from enigma_apex.rules.replay import Event

REQUIRED = ("Entry time", "Exit time", "Profit")
TIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)


def money(text: str) -> Decimal:
    cleaned = text.strip().replace("$", "").replace(",", "").replace(" ", "")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    if cleaned in ("", "-"):
        return Decimal(0)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    return -value if negative else value


def moment(text: str, tz: ZoneInfo) -> datetime:
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    except ValueError:
        pass
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a time NinjaTrader writes")


def parse(text: str, start_balance: Decimal, tz: str = "America/New_York") -> tuple[list[Event], list[str]]:
    zone = ZoneInfo(tz)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        return [], [f"line 1: missing column(s) {missing}; found {headers}"]
    events: list[Event] = []
    errors: list[str] = []
    balance = start_balance
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "") for k, v in raw.items() if k is not None}
        try:
            entry, exit_ = moment(row["Entry time"], zone), moment(row["Exit time"], zone)
            profit = money(row["Profit"]) - money(row.get("Commission", "") or "0")
            mae, mfe = abs(money(row.get("MAE", "") or "0")), abs(money(row.get("MFE", "") or "0"))
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        rows.append((exit_, entry, profit, mae, mfe, number))
    rows.sort(key=lambda r: (r[0], r[5]))
    for exit_, entry, profit, mae, mfe, number in rows:
        entry = min(entry, exit_)
        excursions = (-mae, mfe) if profit >= 0 else (mfe, -mae)
        for open_pnl in excursions:
            events.append(Event(number, entry, "mark", (("balance", balance), ("open_pnl", open_pnl))))
        balance += profit
        events.append(Event(number, exit_, "mark", (("balance", balance), ("open_pnl", Decimal(0)))))
    events.sort(key=lambda e: e.ts)
    return events, errors
