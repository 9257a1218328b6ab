"""What the dashboard says, in words (pure): money, times in the user's zone, states, rule and sizing codes as
sentences, and the order of accounts by danger. No Streamlit here: the pages call these and tests check them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

PAGES = ("Overview", "Account", "Signals", "Journal", "Manual entry", "Compliance", "Health", "Controls")

# The rules' codes (rules/verdicts.py) and the sizer's (sizing/sizer.py) as a trader reads them.
CODES = {
    "TRAILING_THRESHOLD": "The trade could reach the drawdown threshold.",
    "DAILY_LOSS_LIMIT": "The trade could break the daily loss limit.",
    "MAX_CONTRACTS": "More contracts than the firm allows now.",
    "SESSION_CLOSED": "The session is closed (or about to close) for this account.",
    "NEWS_BLACKOUT": "A news blackout is on.",
    "HEDGING": "It would hedge against a position in another account.",
    "RISK_REWARD": "The stop is too far for the target (the firm's risk/reward rule).",
    "MAE_LIMIT": "The stop risks more than the firm's maximum adverse excursion per trade.",
    "CONSISTENCY": "It would break the consistency rule.",
    "TRADING_HALTED": "The account is halted.",
    "REDUCING_ONLY": "The account only closes positions now (REDUCING).",
    "NO_STOP": "The trade has no stop.",
    "BAD_STOP": "The stop is on the wrong side of the entry.",
    "NO_ROOM": "No room is left inside the guardian's buffers.",
    "NEGATIVE_EDGE": "The expected edge is not positive: no trade.",
    "GATE_CLOSED": "A firm rule refuses the trade.",
    "TOO_SMALL": "The risk allowed is smaller than one contract's risk to its stop.",
    "MULTIPLIER": "The account's multiplier rounds the size to zero.",
    "OK": "Sized within every rule.",
}
ACTIONS = {
    "take": "Trade",
    "confirm": "Waits for approval",
    "skip": "Skipped",
    "refused": "Refused",
    "rejected": "Rejected by you",
    "expired": "Approval expired",
    "alert": "Alert only",
}
STATES = {
    "ACTIVE": "Trading",
    "REDUCING": "Closing only",
    "HALTED": "Halted",
    "FAILED": "Rule broken",
}
STATE_COLOURS = {"ACTIVE": "#1e9e4a", "REDUCING": "#e0a100", "HALTED": "#d62728", "FAILED": "#7f0000"}


def dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any, *, sign: bool = False) -> str:
    """$1,234.50, -$80.00 (``sign``: +$12.00 for a gain); "–" for nothing."""
    amount = dec(value)
    if amount is None:
        return "–"
    if amount < 0:
        return f"-${-amount:,.2f}"
    return f"{'+' if sign and amount > 0 else ''}${amount:,.2f}"


def price(value: Any) -> str:
    amount = dec(value)
    return "–" if amount is None else f"{amount.normalize():,f}"


def pct(value: Any, digits: int = 0) -> str:
    amount = dec(value)
    return "–" if amount is None else f"{amount:.{digits}f}%"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "America/New_York")
    except (ValueError, KeyError):
        return ZoneInfo("America/New_York")


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def when(value: Any, tz: ZoneInfo, *, date: bool = False) -> str:
    """A time in the user's zone to the second ("14:03:07 EST"; ``date``: "Dec 01 14:03 EST")."""
    moment = parse_time(value)
    if moment is None:
        return "–"
    local = moment.astimezone(tz)
    return local.strftime("%b %d %H:%M %Z") if date else local.strftime("%H:%M:%S %Z")


def stamp(value: Any, tz: tzinfo) -> str:
    """A full time in the user's zone, for the command line: "2026-12-01 09:03:07 EST" (a time without a zone is
    UTC, as the database stores it); "–" for none."""
    moment = parse_time(value)
    if moment is None:
        return "–"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def data_size(size: int) -> str:
    """Bytes as people read them: 512 B, 48.2 KB, 3.1 MB, 1.20 GB."""
    if size < 1024:
        return f"{size} B"
    for unit, scale in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if size < scale * 1024 or unit == "GB":
            value = size / scale
            return f"{value:.2f} {unit}" if unit == "GB" else f"{value:.1f} {unit}"
    return f"{size} B"  # pragma: no cover - the loop always returns


def ago(seconds: float) -> str:
    if seconds < 2:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def code_sentence(code: str | None) -> str:
    if not code:
        return ""
    return CODES.get(code, code.replace("_", " ").capitalize() + ".")


def reason_sentence(reason: str) -> tuple[str, str | None]:
    """A decision's reason as a sentence, and the code it began with (for a tooltip). "TOO_SMALL: ..." reads
    as the code's sentence followed by the detail; a sizing line "kelly size 2 MNQ (OK)" keeps its words."""
    text = (reason or "").strip()
    head, _sep, rest = text.partition(":")
    if head.isupper() and head.replace("_", "").isalpha() and head in CODES:
        detail = rest.strip()
        return (f"{CODES[head]} {detail[0].upper() + detail[1:]}" if detail else CODES[head]), head
    text = text.replace("base_risk size", "base-risk size").replace("kelly size", "Kelly size")
    for code in CODES:
        if text.endswith(f"({code})"):
            text = text[: -len(code) - 2].strip()
            return text[0].upper() + text[1:], code
    return (text[0].upper() + text[1:] if text else ""), None


def verdict_lines(verdicts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each rule that limited or refused, as (sentence, code): the rule's own reason, or its code's sentence."""
    lines = []
    for verdict in verdicts or []:
        code = str(verdict.get("code") or "")
        reason = str(verdict.get("reason") or "").strip()
        lines.append((reason[0].upper() + reason[1:] if reason else code_sentence(code), code))
    return lines


def why(decision: dict[str, Any]) -> str:
    """The one line a decision is explained by: the rules that refused (their own sentences), else its reason."""
    lines = verdict_lines(decision.get("verdicts") or [])
    if lines and decision.get("action") in ("refused", "skip"):
        return " ".join(sentence if sentence.endswith(".") else sentence + "." for sentence, _code in lines)
    return reason_sentence(str(decision.get("reason") or ""))[0]


def danger(account: dict[str, Any]) -> tuple[int, Decimal]:
    """Sort key, most dangerous first: broken, halted, closing-only, then by the share of the drawdown used."""
    order = {"FAILED": 0, "HALTED": 1, "REDUCING": 2}.get(str(account.get("state")), 3)
    used = dec(account.get("drawdown_used_pct")) or Decimal(0)
    return order, -used


def distance_pct(account: dict[str, Any]) -> Decimal | None:
    """The distance to ruin as a share of the whole drawdown (100% = untouched)."""
    used = dec(account.get("drawdown_used_pct"))
    return None if used is None else max(Decimal(0), Decimal(100) - used)


def _arc_point(fraction: float, radius: float) -> tuple[float, float]:
    angle = math.pi * (1 - fraction)
    return 60 + radius * math.cos(angle), 62 - radius * math.sin(angle)


def _arc(start: float, end: float, colour: str, width: float = 11) -> str:
    (x0, y0), (x1, y1) = _arc_point(start, 46), _arc_point(end, 46)
    return (f"<path d='M{x0:.2f},{y0:.2f} A46,46 0 0 1 {x1:.2f},{y1:.2f}' fill='none' stroke='{colour}' "
            f"stroke-width='{width}'/>")  # fmt: skip


def gauge_svg(name: str, used_pct: Decimal | None, colour: str) -> str:
    """A half-circle gauge of the drawdown used (0-100%) as inline SVG: bands green to 60%, amber to 85%, red
    beyond; the value's arc in the state's colour; the figure and the account's name inside the box (nothing
    clips)."""
    used = max(0.0, min(100.0, float(used_pct or 0)))
    bands = _arc(0, 0.6, "#e3f1e3") + _arc(0.6, 0.85, "#fdf0c8") + _arc(0.85, 1, "#fbd5d5")
    value = _arc(0, max(used / 100, 0.004), colour, 7)
    label = escape(name)
    return (
        f"<svg viewBox='0 0 120 84' role='img' aria-label='{label}: {used:.0f}% of the drawdown used'>{bands}{value}"
        f"<text x='60' y='58' text-anchor='middle' font-size='15' font-weight='700'>{used:.0f}%</text>"
        f"<text x='60' y='80' text-anchor='middle' font-size='9' fill='#555'>{label[:22]}</text></svg>"
    )


def position_text(positions: dict[str, int] | None) -> str:
    if not positions:
        return "flat"
    return ", ".join(f"{'long' if q > 0 else 'short'} {abs(q)} {symbol}" for symbol, q in positions.items())


__all__ = [
    "ACTIONS",
    "CODES",
    "PAGES",
    "STATES",
    "STATE_COLOURS",
    "ago",
    "code_sentence",
    "danger",
    "distance_pct",
    "gauge_svg",
    "money",
    "pct",
    "position_text",
    "price",
    "reason_sentence",
    "verdict_lines",
    "when",
    "why",
    "zone",
]
