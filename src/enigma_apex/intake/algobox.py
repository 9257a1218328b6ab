"""AlgoBox Enigma panel readings (pure): colour from pixels, fields from OCR text, and the two-frame stability
filter that turns a stream of screen readings into signals.

The Enigma's colour code (integrations.md §5): yellow neutral, green bullish, blue strong bullish, red
bearish, pink strong bearish. Direction comes from the colour and, when the panel prints one, the word
(LONG/SHORT/BUY/SELL); when both are present and disagree the reading is refused. Fields are read with the
configured regular expressions (group 1 = the value); OCR's usual digit confusions (O→0, I/l→1, S→5, B→8)
are undone inside numeric fields only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import Enum

import numpy as np
import numpy.typing as npt


class EnigmaColour(Enum):
    NONE = "none"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"
    RED = "red"
    PINK = "pink"

    @property
    def direction(self) -> str | None:
        return {"green": "long", "blue": "long", "red": "short", "pink": "short"}.get(self.value)

    @property
    def strong(self) -> bool:
        return self in (EnigmaColour.BLUE, EnigmaColour.PINK)


# Hue ranges in degrees (HSV) of the five colours; red wraps around 0.
_HUES: tuple[tuple[float, float, EnigmaColour], ...] = (
    (0, 15, EnigmaColour.RED),
    (15, 75, EnigmaColour.YELLOW),
    (75, 170, EnigmaColour.GREEN),
    (170, 265, EnigmaColour.BLUE),
    (265, 345, EnigmaColour.PINK),
    (345, 360, EnigmaColour.RED),
)
MIN_SATURATION = 0.35
MIN_VALUE = 0.35
MIN_SHARE = 0.002  # of the region's pixels: less coloured ink than this reads as no Enigma


def colour_of(pixels: npt.NDArray[np.uint8]) -> EnigmaColour:
    """The Enigma colour of an H x W x 3 RGB region: the hue most of its saturated, bright pixels share."""
    rgb = pixels.reshape(-1, 3).astype(np.float32) / 255.0
    high = rgb.max(axis=1)
    low = rgb.min(axis=1)
    chroma = high - low
    saturation = np.divide(chroma, high, out=np.zeros_like(high), where=high > 0)
    ink = (saturation >= MIN_SATURATION) & (high >= MIN_VALUE)
    if ink.sum() < max(1, MIN_SHARE * len(rgb)):
        return EnigmaColour.NONE
    r, g, b = rgb[ink, 0], rgb[ink, 1], rgb[ink, 2]
    c, h = chroma[ink], high[ink]
    hue = (
        np.where(
            h == r,
            ((g - b) / c) % 6,
            np.where(h == g, (b - r) / c + 2, (r - g) / c + 4),
        )
        * 60.0
    )
    votes: dict[EnigmaColour, int] = {}
    for start, end, colour in _HUES:
        votes[colour] = votes.get(colour, 0) + int(((hue >= start) & (hue < end)).sum())
    return max(votes, key=lambda k: votes[k])


@dataclass(frozen=True, slots=True)
class EnigmaReading:
    """What one frame shows. ``problem`` is set when the frame cannot become a signal (and says why)."""

    colour: EnigmaColour
    direction: str | None = None
    power: int | None = None
    confluence: int | None = None
    macvu: str | None = None
    price: Decimal | None = None
    symbol: str | None = None
    text: str = ""
    problem: str | None = None

    @property
    def key(self) -> tuple[object, ...]:
        """The fields that make two frames the same reading."""
        return (self.colour, self.direction, self.power, self.confluence, self.macvu, self.price, self.symbol)

    def as_dict(self) -> dict[str, object]:
        return {
            "colour": self.colour.value,
            "direction": self.direction,
            "strong": self.colour.strong,
            "power": self.power,
            "confluence": self.confluence,
            "macvu": self.macvu,
            "price": None if self.price is None else str(self.price),
            "symbol": self.symbol,
            "text": self.text,
            "problem": self.problem,
        }


CONFUSIONS = {"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1", "S": "5", "B": "8"}  # OCR's digit misreads
_DIGITS = str.maketrans({**CONFUSIONS, ",": "."})
_WORDS = {"LONG": "long", "BUY": "long", "SHORT": "short", "SELL": "short"}
MACVU = {  # the MACVU words a panel shows, and what each means
    "BULL": "up",
    "UP": "up",
    "ON": "up",
    "BEAR": "down",
    "DOWN": "down",
    "FLAT": "flat",
    "OFF": "flat",
}


def compile_patterns(patterns: Mapping[str, str]) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(pattern, re.IGNORECASE) for name, pattern in patterns.items()}


def _field(patterns: Mapping[str, re.Pattern[str]], name: str, text: str) -> str | None:
    pattern = patterns.get(name)
    match = pattern.search(text) if pattern is not None else None
    return match.group(1) if match else None


def _number(raw: str | None) -> str | None:
    return None if raw is None else "".join(raw.split()).translate(_DIGITS)


def parse_reading(text: str, colour: EnigmaColour, patterns: Mapping[str, re.Pattern[str]]) -> EnigmaReading:
    """The reading of one frame from its OCR text and colour."""
    clean = " ".join(text.split())
    upper = clean.upper()
    reading = EnigmaReading(colour, text=clean)
    if colour is EnigmaColour.NONE and not upper:
        return replace(reading, problem="no Enigma on screen")
    word = _field(patterns, "direction", upper)
    said = _WORDS.get(word.upper()) if word else None
    direction = colour.direction
    if said is not None and direction is not None and said != direction:
        return replace(reading, problem=f"the colour says {direction} but the text says {said}")
    direction = direction or said
    power_raw = _number(_field(patterns, "power", upper))
    confluence_raw = _number(_field(patterns, "confluence", upper))
    price_raw = _number(_field(patterns, "price", upper))
    macvu_raw = _field(patterns, "macvu", upper)
    symbol = _field(patterns, "symbol", upper)
    power = int(power_raw) if power_raw and power_raw.isdigit() else None
    confluence = int(confluence_raw) if confluence_raw and confluence_raw.isdigit() else None
    price: Decimal | None = None
    if price_raw:
        try:
            price = Decimal(price_raw)
        except InvalidOperation:
            price = None
    reading = replace(
        reading,
        direction=direction,
        power=power if power is not None and 0 <= power <= 100 else None,
        confluence=confluence if confluence is not None and 1 <= confluence <= 4 else None,
        macvu=MACVU.get(macvu_raw.upper()) if macvu_raw else None,
        price=price if price is not None and price > 0 else None,
        symbol=symbol.upper() if symbol else None,
    )
    if colour is EnigmaColour.YELLOW:
        return replace(reading, problem="neutral (yellow) Enigma: no direction")
    if reading.direction is None:
        return replace(reading, problem="no direction: neither the colour nor the text gives one")
    return reading


@dataclass
class StabilityFilter:
    """A reading becomes a signal once ``frames`` consecutive frames agree, and only once: the same Enigma
    staying on screen is one signal. A different reading (or a blank panel) held as long arms it again."""

    frames: int = 2
    _candidate: tuple[object, ...] | None = None
    _count: int = 0
    _emitted: tuple[object, ...] | None = None

    def feed(self, reading: EnigmaReading) -> EnigmaReading | None:
        key = reading.key if reading.problem is None else ("problem", reading.problem)
        if key == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = key, 1
        if self._count < self.frames:
            return None
        if reading.problem is not None:
            self._emitted = None  # a stable blank or neutral panel: the next Enigma is new
            return None
        if key == self._emitted:
            return None
        self._emitted = key
        return reading
