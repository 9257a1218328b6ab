"""Parse and format futures symbols in every notation users send.

Accepted (case-insensitive, surrounding blanks ignored, a TradingView ``EXCHANGE:`` prefix stripped):

==========================  ===============  ==========================================
notation                    example          meaning
==========================  ===============  ==========================================
NinjaTrader                 ``MNQ 12-26``    root, space, MM-YY
CME / Tradovate (1 digit)   ``MNQZ6``        root, month code, last digit of the year
CME (2 digits)              ``MNQZ26``       root, month code, YY
CME (4 digits)              ``MNQZ2026``     root, month code, YYYY
TradingView continuous      ``MNQ1!``        n-th contract from the front (1 = front)
bare root                   ``MNQ``          the front contract
==========================  ===============  ==========================================

Continuous and bare symbols are resolved against a date the caller passes (the injected clock's
date), using each instrument's roll rule: the front contract is the first listed contract whose
roll date is after that date. A one-digit year is read as the year ending in that digit that is
closest to the reference date, from one year back to eight years ahead.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from enigma_apex.domain.instruments import (
    INSTRUMENTS,
    MONTH_CODES,
    InstrumentSpec,
    RollKind,
    instrument,
    supported_roots,
)
from enigma_apex.errors import UnknownSymbolError


class Notation(Enum):
    NINJATRADER = "ninjatrader"  # MNQ 12-26
    CME_SHORT = "cme_short"  # MNQZ6 (Tradovate)
    CME = "cme"  # MNQZ26
    CME_LONG = "cme_long"  # MNQZ2026 (TradingView's explicit contracts)


@dataclass(frozen=True, slots=True, order=True)
class Contract:
    """One listed contract: root and delivery month."""

    root: str
    year: int
    month: int

    @property
    def spec(self) -> InstrumentSpec:
        spec = INSTRUMENTS.get(self.root)
        return spec if spec is not None else instrument(self.root)

    @property
    def month_code(self) -> str:
        return MONTH_CODES[self.month - 1]

    def format(self, notation: Notation = Notation.NINJATRADER) -> str:
        return format_symbol(self, notation)

    def __str__(self) -> str:
        return format_symbol(self, Notation.NINJATRADER)


_ROOTS_LONGEST_FIRST: tuple[str, ...] = tuple(sorted(supported_roots(), key=len, reverse=True))
_NT_RE = re.compile(r"^(?P<root>[A-Z0-9]+)\s+(?P<mm>\d{2})-(?P<yy>\d{2})$")
_CONT_RE = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<n>[1-9])!$")
_CODE_RE = re.compile(r"^(?P<code>[FGHJKMNQUVXZ])(?P<year>\d{1}|\d{2}|\d{4})$")


def format_symbol(contract: Contract, notation: Notation = Notation.NINJATRADER) -> str:
    """Render a contract in the given notation."""
    if notation is Notation.NINJATRADER:
        return f"{contract.root} {contract.month:02d}-{contract.year % 100:02d}"
    code = contract.month_code
    if notation is Notation.CME_SHORT:
        return f"{contract.root}{code}{contract.year % 10}"
    if notation is Notation.CME:
        return f"{contract.root}{code}{contract.year % 100:02d}"
    return f"{contract.root}{code}{contract.year:04d}"


def parse_symbol(text: str, *, on: date) -> Contract:
    """Parse any supported notation into a ``Contract``; ``on`` resolves continuous and bare symbols."""
    raw = text
    cleaned = text.strip().upper()
    if ":" in cleaned:  # TradingView "CME_MINI:NQ1!"
        cleaned = cleaned.rsplit(":", 1)[1].strip()
    if not cleaned:
        raise UnknownSymbolError("empty symbol", "symbol")

    nt = _NT_RE.match(cleaned)
    if nt:
        spec = _spec_or_error(nt["root"], raw)
        return _checked(spec, 2000 + int(nt["yy"]), int(nt["mm"]), raw)

    cont = _CONT_RE.match(cleaned)
    if cont:
        spec = _spec_or_error(cont["root"], raw)
        return front_contract(spec, on, offset=int(cont["n"]) - 1)

    if cleaned in _ROOTS_LONGEST_FIRST:
        return front_contract(instrument(cleaned), on)

    for root in _ROOTS_LONGEST_FIRST:
        if cleaned.startswith(root):
            m = _CODE_RE.match(cleaned[len(root) :])
            if m:
                spec = instrument(root)
                month = MONTH_CODES.index(m["code"]) + 1
                digits = m["year"]
                if len(digits) == 4:
                    year = int(digits)
                elif len(digits) == 2:
                    year = 2000 + int(digits)
                else:
                    year = _year_from_digit(int(digits), on)
                return _checked(spec, year, month, raw)
    raise UnknownSymbolError(
        f"cannot read symbol {raw!r}: expected ROOT, ROOT 12-26, ROOTZ6, ROOTZ26, ROOTZ2026 or ROOT1! "
        f"with ROOT one of {', '.join(supported_roots())}",
        "symbol",
    )


def _spec_or_error(root: str, raw: str) -> InstrumentSpec:
    try:
        return instrument(root)
    except UnknownSymbolError:
        raise UnknownSymbolError(
            f"unknown instrument in symbol {raw!r}; supported roots: {', '.join(supported_roots())}",
            "symbol",
        ) from None


def _checked(spec: InstrumentSpec, year: int, month: int, raw: str) -> Contract:
    if not 1 <= month <= 12:
        raise UnknownSymbolError(f"symbol {raw!r}: month {month} does not exist", "symbol")
    if month not in spec.months:
        raise UnknownSymbolError(
            f"symbol {raw!r}: {spec.root} has no contract in {calendar.month_name[month]} "
            f"(listed months: {spec.month_codes()})",
            "symbol",
        )
    return Contract(spec.root, year, month)


def _year_from_digit(digit: int, on: date) -> int:
    candidates = [y for y in range(on.year - 1, on.year + 9) if y % 10 == digit]
    return candidates[0]


def roll_date(spec: InstrumentSpec, year: int, month: int) -> date:
    """The day trading moves from the (year, month) contract to the next one."""
    rule = spec.roll
    if rule.kind is RollKind.NTH_WEEKDAY:
        first = date(year, month, 1)
        shift = (rule.weekday - first.weekday()) % 7
        return first + timedelta(days=shift + 7 * (rule.n - 1))
    prior_year, prior_month = (year - 1, 12) if month == 1 else (year, month - 1)
    last = calendar.monthrange(prior_year, prior_month)[1]
    return date(prior_year, prior_month, min(rule.day, last))


def last_trade_date(contract: Contract) -> date:
    """The contract's last trading day (from its roll rule; see ``RollRule.last_trade_after_roll_days``)."""
    spec = contract.spec
    days = spec.roll.last_trade_after_roll_days
    if days is None:
        return date(contract.year, contract.month, calendar.monthrange(contract.year, contract.month)[1])
    return roll_date(spec, contract.year, contract.month) + timedelta(days=days)


def is_expired(contract: Contract, on: date) -> bool:
    """True once the contract's last trading day is past."""
    return last_trade_date(contract) < on


def front_contract(spec: InstrumentSpec, on: date, offset: int = 0) -> Contract:
    """The contract that is ``offset`` listings after the front contract on day ``on``."""
    if offset < 0:
        raise ValueError("offset must be >= 0")
    year, month = on.year, on.month
    found: list[Contract] = []
    while len(found) <= offset:
        if month in spec.months and roll_date(spec, year, month) > on:
            found.append(Contract(spec.root, year, month))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return found[offset]
