"""Calibrating the Enigma reader from a labelled screenshot (pure): the trader says what the panel shows
(``power=23``, ``price=21012.25`` …); each field read differently gets a proposed pattern built from the label
the panel prints in front of the value, proven on the same text before it is proposed.

A proposal is only made when it reads the expected value from this screenshot with the reader's own parser
(``algobox.parse_reading``); a value with no label in front of it (or another value there) gets a note instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from enigma_apex.intake.algobox import CONFUSIONS, MACVU, EnigmaColour, EnigmaReading, compile_patterns, parse_reading

FIELDS = ("direction", "power", "confluence", "macvu", "price", "symbol")
PROPOSED = ("power", "confluence", "macvu", "price")  # the fields whose value follows a label on the panel

# a digit, or a character the engine reads instead of one (upper case: the parser reads upper-cased text)
_DIGITISH = r"\d" + "".join(sorted(c for c in CONFUSIONS if c == c.upper()))

# Value groups tried in turn: the default pattern's, then one that also takes OCR's digit confusions
# (the parser turns O/D→0, I/|→1, S→5, B→8 back into digits inside numeric fields).
_VALUE_GROUPS: dict[str, tuple[str, ...]] = {
    "power": (r"(\d[\dO]{0,2})", rf"([{_DIGITISH}]{{1,3}})"),
    "confluence": (r"([1-4Il|])",),
    "macvu": (r"(BULL|BEAR|UP|DOWN|ON|OFF|FLAT)",),
    "price": (r"(\d[\dO]{1,5}(?:[.,]\s?[\dO]{1,2})?)", rf"([{_DIGITISH}]{{1,6}}(?:[.,]\s?[{_DIGITISH}]{{1,2}})?)"),
}
# each digit and what the engine may read instead in the upper-case text (the parser's own CONFUSIONS, reversed)
_CONFUSED = {
    digit: digit + "".join(c for c, d in CONFUSIONS.items() if d == digit and c == c.upper())
    for digit in set(CONFUSIONS.values())
}
_SEPARATORS = " :=\t"
_MAX_LABEL = 16


class LabelError(ValueError):
    """A label (``--expect``) that is not a value the panel can show; the message says which and why."""


@dataclass(frozen=True, slots=True)
class FieldCheck:
    field: str
    expected: str
    read: str | None
    proposal: str | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.read == self.expected

    def as_dict(self) -> dict[str, object]:
        return {
            "field": self.field,
            "expected": self.expected,
            "read": self.read,
            "ok": self.ok,
            "proposal": self.proposal,
            "note": self.note,
        }


def expected_values(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels in the reader's own terms (``power=023`` → ``23``, ``macvu=BULL`` → ``up``), or LabelError."""
    out: dict[str, str] = {}
    for name, raw in labels.items():
        value = raw.strip()
        if name not in FIELDS:
            raise LabelError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
        if name == "direction":
            if value.lower() not in ("long", "short"):
                raise LabelError(f"direction must be long or short, not {raw!r}")
            out[name] = value.lower()
        elif name in ("power", "confluence"):
            low, high = (0, 100) if name == "power" else (1, 4)
            if not value.isdigit() or not low <= int(value) <= high:
                raise LabelError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
            out[name] = str(int(value))
        elif name == "macvu":
            if value.upper() not in MACVU:
                raise LabelError(f"macvu must be one of {', '.join(MACVU)}, not {raw!r}")
            out[name] = MACVU[value.upper()]
        elif name == "price":
            try:
                price = Decimal(value)
            except InvalidOperation:
                raise LabelError(f"price must be a number, not {raw!r}") from None
            if not price.is_finite() or price <= 0:
                raise LabelError(f"price must be above zero, not {raw!r}")
            out[name] = _plain(price)
        else:
            out[name] = value.upper()
    return out


def _read(reading: EnigmaReading, name: str) -> str | None:
    value = getattr(reading, name)
    if value is None:
        return None
    return _plain(value) if isinstance(value, Decimal) else str(value)


def _plain(price: Decimal) -> str:
    return format(price.normalize(), "f")  # 21012.50 and 21012.5 are the same price


def check(
    text: str, colour: EnigmaColour, patterns: Mapping[str, str], expected: Mapping[str, str]
) -> list[FieldCheck]:
    """Each labelled field: what the current patterns read, and, when that is not the label, a proposal."""
    compiled = compile_patterns(patterns)
    reading = parse_reading(text, colour, compiled)
    clean = " ".join(text.split()).upper()
    right = {name for name, want in expected.items() if _read(reading, name) == want}
    taken = []  # where the fields read right (or not labelled) stand: a proposal never takes their value
    for name, pattern in compiled.items():
        match = pattern.search(clean)
        if match is not None and (name in right or name not in expected):
            taken.append(match.span(1))
    out = []
    for name, want in expected.items():
        got = _read(reading, name)
        if got == want:
            out.append(FieldCheck(name, want, got))
        elif name in PROPOSED:
            proposal, note = _propose(name, want, clean, colour, patterns, taken)
            out.append(FieldCheck(name, want, got, proposal, note))
        elif name == "direction":
            out.append(FieldCheck(name, want, got, note=_direction_note(colour, reading)))
        else:
            note = "set ocr.symbol to the instrument traded (the panel's symbol is only used when it reads as one)"
            out.append(FieldCheck(name, want, got, note=note))
    return out


def _direction_note(colour: EnigmaColour, reading: EnigmaReading) -> str:
    if colour.direction is not None:
        return f"the panel's colour reads {colour.value} ({colour.direction}): check ocr.region covers the Enigma only"
    return reading.problem or "no colour and no LONG/SHORT/BUY/SELL word: check ocr.region"


def _digits(value: str) -> str:
    return "".join(f"[{_CONFUSED.get(d, d)}]" for d in value)


_BEFORE = rf"(?<![{_DIGITISH}.,])"  # a number on its own, not the end of a longer one
_AFTER = rf"(?![{_DIGITISH}]|[.,]\d)"


def _value_regex(name: str, want: str) -> str:
    """Where the expected value stands in the (upper-case) text, OCR's digit confusions allowed."""
    if name == "macvu":
        words = [word for word, meaning in MACVU.items() if meaning == want]
        return r"(?<![A-Z])(?:" + "|".join(words) + r")(?![A-Z])"
    if name == "price":
        whole, _, cents = want.partition(".")
        digits = _digits(whole)
        if cents:
            digits += r"[.,]\s?" + _digits(cents) + ("0?" if len(cents) == 1 else "")
        else:
            digits += r"(?:[.,]\s?[0OD]{1,2})?"
        return _BEFORE + digits + rf"(?![{_DIGITISH}])"
    return _BEFORE + _digits(want) + _AFTER


def _label_before(clean: str, start: int) -> str | None:
    """The label printed in front of a value: the word before it, its separators dropped ("PWR: 23" → "PWR")."""
    end = start
    while end > 0 and clean[end - 1] in _SEPARATORS:
        end -= 1
    begin = end
    while begin > 0 and clean[begin - 1] not in _SEPARATORS and end - begin < _MAX_LABEL:
        begin -= 1
    label = clean[begin:end]
    return label or None


def _label_regex(label: str) -> str:
    parts = ["[O0]" if char in "O0" else re.escape(char) for char in label]
    prefix = r"(?<![A-Z0-9])" if label[0].isalnum() else ""
    return prefix + "".join(parts) + r"\s*[:=]?\s*"


def _propose(
    name: str,
    want: str,
    clean: str,
    colour: EnigmaColour,
    patterns: Mapping[str, str],
    taken: list[tuple[int, int]],
) -> tuple[str | None, str]:
    found = [
        m for m in re.finditer(_value_regex(name, want), clean)
        if not any(m.start() < end and start < m.end() for start, end in taken)
    ]  # fmt: skip
    if not found:
        return None, f"{want} is not in the text the engine read ({clean!r}): check ocr.region and the engine"
    problems: list[str] = []
    for match in found:
        label = _label_before(clean, match.start())
        if label is None:
            problems.append(f"{want} at the start of the text has no label before it")
            continue
        if any(ch.isdigit() for ch in label):
            problems.append(f"{want} follows {label!r}, another value, not a label")
            continue
        for group in _VALUE_GROUPS[name]:
            candidate = _label_regex(label) + group
            reading = parse_reading(clean, colour, compile_patterns({**patterns, name: candidate}))
            if _read(reading, name) == want:
                return candidate, f"reads {want} after the label {label!r}"
        problems.append(f"a pattern after {label!r} does not read {want}")
    return None, "; ".join(problems) + ": write the pattern by hand (docs/signals.md, Screen reader)"
