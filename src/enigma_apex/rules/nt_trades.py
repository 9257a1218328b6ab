"""NinjaTrader 8 "Trades" performance export (CSV) -> tracker events (pure).

The layout NinjaTrader writes (Trade Performance, Trades tab, Export): the header
``Trade number,Instrument,Account,Strategy,Market pos.,Qty,Entry price,Exit price,Entry time,Exit time,Entry name,
Exit name,Profit,Cum. net profit,Commission,Clearing Fee,Exchange Fee,IP Fee,NFA Fee,MAE,MFE,ETD,Bars,`` with a
trailing comma (older versions stop at ``Bars`` or earlier), often a UTF-8 byte-order mark, money as ``$1,234.50``,
``($50.00)``, ``-$18.98`` or ``90.00 $``, and dates in the PC's locale: ``11/23/2026 9:31:05 AM`` in the US,
``23/11/2026 09:31:05``, ``23-11-2026 09:31:05`` or ``23.11.2026 09:31:05`` in Europe.

``Profit`` is already net of commission: ``Cum. net profit`` is its running sum (a public export shows an NQ trade
of -0.75 point, -$15 gross, as ``Profit -$18.98``, ``Commission $3.98``; ../shared/research/sources_round2.md).
Columns used: ``Entry time``, ``Exit time``, ``Profit``, ``MAE``, ``MFE``.

Each trade becomes three marks: two at the entry time with the open P&L at the trade's excursions, then the closed
balance at the exit time. The export does not say which excursion came first; the likely path is used: a winner
dipped to its MAE before running to its MFE, a loser ran to its MFE before falling to its MAE (the "winner turned
loser" path, which is the one that raises an intraday threshold before the loss is tested).

Day-first or month-first: read from the file when any date has a field above 12 (``23/11``: day-first); a file whose
every date could be read either way is refused unless the order is given (``date_format`` "dmy" / "mdy" / "ymd", or
a ``strptime`` pattern). Dotted dates (``23.11.2026``) are always day-first.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from enigma_apex.rules.replay import Event

REQUIRED = ("Entry time", "Exit time", "Profit")
ORDERS = ("mdy", "dmy", "ymd")
TIME_FORMATS = ("%I:%M:%S %p", "%I:%M %p", "%H:%M:%S", "%H:%M", "%H:%M:%S.%f")
_DATE = re.compile(r"^(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})$")


class AmbiguousDatesError(ValueError):
    """Every date of the file reads both day-first and month-first."""


def money(text: str) -> Decimal:
    cleaned = text.strip().replace("$", "").replace(",", "").replace(" ", "").replace("\u00a0", "")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    if cleaned in ("", "-"):
        return Decimal(0)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    return -value if negative else value


def _split(text: str) -> tuple[str, str]:
    text = text.strip()
    if "T" in text and text[:4].isdigit():  # ISO 8601
        return text, ""
    date_part, _, time_part = text.partition(" ")
    return date_part, time_part.strip()


def date_order(values: list[str]) -> str:
    """The order of the file's dates ("mdy", "dmy" or "ymd"), read from the dates themselves."""
    first_big = second_big = dotted = False
    for value in values:
        date_part, _ = _split(value)
        match = _DATE.match(date_part)
        if match is None:
            continue
        a, sep, b, _year = match.groups()
        if len(a) == 4:
            return "ymd"
        dotted |= sep == "."
        first_big |= int(a) > 12
        second_big |= int(b) > 12
    if first_big and second_big:
        raise ValueError("the dates mix day-first and month-first forms")
    if first_big or dotted:
        return "dmy"
    if second_big:
        return "mdy"
    raise AmbiguousDatesError(
        "every date could be day-first or month-first (no day above 12); say which: --date-format dmy (day/month, "
        "e.g. European Windows) or --date-format mdy (month/day, US)"
    )


def moment(text: str, tz: ZoneInfo, order: str) -> datetime:
    """One NinjaTrader time in ``order`` ("mdy" / "dmy" / "ymd", or a ``strptime`` pattern)."""
    raw = text.strip()
    if "%" in order:
        try:
            return datetime.strptime(raw, order).replace(tzinfo=tz)
        except ValueError:
            raise ValueError(f"{raw!r} does not match --date-format {order!r}") from None
    date_part, time_part = _split(raw)
    if not time_part:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a time NinjaTrader writes") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    match = _DATE.match(date_part)
    if match is None:
        raise ValueError(f"{raw!r} is not a time NinjaTrader writes")
    a, b, c = int(match.group(1)), int(match.group(3)), int(match.group(4))
    year, month, day = {"mdy": (c, a, b), "dmy": (c, b, a), "ymd": (a, b, c)}[order]
    try:
        clock = _clock(time_part)
        return datetime.combine(date(year, month, day), clock, tz)
    except ValueError:
        raise ValueError(f"{raw!r} is not a valid {order} date and time") from None


def _clock(text: str) -> time:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text.upper(), fmt).time()  # noqa: DTZ007 - a time of day; the zone comes after
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a time of day")


def parse(
    text: str, start_balance: Decimal, tz: str = "America/New_York", date_format: str | None = None
) -> tuple[list[Event], list[str]]:
    """Events from an export, or the problems found (each with its line; nothing is replayed then)."""
    zone = ZoneInfo(tz)
    body = text.lstrip("\ufeff")
    delimiter = ";" if body.partition("\n")[0].count(";") > body.partition("\n")[0].count(",") else ","
    reader = csv.DictReader(io.StringIO(body), delimiter=delimiter)
    headers = [h.strip() for h in (reader.fieldnames or []) if h is not None and h.strip()]
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        return [], [f"line 1: missing column(s) {missing}; found {headers}"]
    raw_rows = []
    for number, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "") for k, v in raw.items() if k is not None}
        if not any(value.strip() for value in row.values()):
            continue  # a blank line (some exports end with one)
        raw_rows.append((number, row))
    order = date_format
    if order is None:
        try:
            order = date_order([r["Entry time"] for _, r in raw_rows] + [r["Exit time"] for _, r in raw_rows])
        except ValueError as exc:
            return [], [str(exc)]
    elif "%" not in order and order not in ORDERS:
        return [], [f"--date-format must be dmy, mdy, ymd or a strptime pattern, not {order!r}"]
    errors: list[str] = []
    rows = []
    for number, row in raw_rows:
        try:
            entry, exit_ = moment(row["Entry time"], zone, order), moment(row["Exit time"], zone, order)
            profit = money(row["Profit"])  # net of commission already
            mae, mfe = abs(money(row.get("MAE", "") or "0")), abs(money(row.get("MFE", "") or "0"))
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        rows.append((exit_, entry, profit, mae, mfe, number))
    if errors:
        return [], errors
    rows.sort(key=lambda r: (r[0], r[5]))
    events: list[Event] = []
    balance = start_balance
    for exit_, entry, profit, mae, mfe, number in rows:
        entry = min(entry, exit_)
        excursions = (-mae, mfe) if profit >= 0 else (mfe, -mae)
        for open_pnl in excursions:
            events.append(Event(number, entry, "mark", (("balance", balance), ("open_pnl", open_pnl))))
        balance += profit
        events.append(Event(number, exit_, "mark", (("balance", balance), ("open_pnl", Decimal(0)))))
    events.sort(key=lambda e: e.ts)
    return events, []
