"""The Enigma panel reading, pure: colour, fields from text, the stability filter."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from enigma_apex.config.models import OCRSection
from enigma_apex.intake.algobox import (
    EnigmaColour,
    EnigmaReading,
    StabilityFilter,
    colour_of,
    compile_patterns,
    parse_reading,
)

PATTERNS = compile_patterns(OCRSection().patterns)
BACKGROUND = (19, 23, 34)


def region(colour: tuple[int, int, int], ink_share: float = 0.1) -> np.ndarray:
    pixels = np.tile(np.array(BACKGROUND, dtype=np.uint8), (40, 200, 1))
    pixels.reshape(-1, 3)[: int(40 * 200 * ink_share)] = colour
    return pixels


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((240, 200, 40), EnigmaColour.YELLOW),
        ((38, 200, 90), EnigmaColour.GREEN),
        ((40, 120, 255), EnigmaColour.BLUE),
        ((235, 50, 50), EnigmaColour.RED),
        ((255, 100, 200), EnigmaColour.PINK),
        ((200, 200, 200), EnigmaColour.NONE),  # white text: no Enigma colour
    ],
)
def test_colour_of_each_enigma_colour(rgb, expected):
    assert colour_of(region(rgb)) is expected


def test_too_little_ink_is_no_colour_and_the_majority_wins():
    assert colour_of(region((235, 50, 50), ink_share=0.0005)) is EnigmaColour.NONE
    mixed = region((38, 200, 90), 0.2)
    mixed.reshape(-1, 3)[:200] = (235, 50, 50)  # a little red price-line over green ink
    assert colour_of(mixed) is EnigmaColour.GREEN


def test_fields_from_text_with_ocr_confusions_and_merged_tokens():
    r = parse_reading("ENIGMA MNQ LONG PWR 87 L3 MACVU BULL @ 21450.25", EnigmaColour.BLUE, PATTERNS)
    assert r.problem is None
    assert (r.direction, r.power, r.confluence, r.macvu, r.price, r.symbol) == (
        "long",
        87,
        3,
        "up",
        Decimal("21450.25"),
        "MNQ",
    )
    assert r.colour.strong
    merged = parse_reading("ENIGMA ES SHORT PWR8O LI MACVU:BEAR @12O61. 25", EnigmaColour.RED, PATTERNS)
    assert (merged.power, merged.confluence, merged.macvu, merged.price) == (80, 1, "down", Decimal("12061.25"))
    glued = parse_reading("ENIGMA NQ LONG PWR 84L3 MACVU BULL @ 100", EnigmaColour.GREEN, PATTERNS)
    assert glued.confluence == 3 and glued.price == Decimal(100)


@pytest.mark.parametrize(
    ("text", "power"),
    [("POWER 23", 23), ("PWR: 87", 87), ("Power=5", 5), ("PW 40", 40), ("P0WER 61", 61), ("PWR8O", 80)],
)
def test_the_default_power_pattern_takes_the_common_spellings(text, power):
    assert parse_reading(f"ENIGMA MNQ LONG {text} L2 MACVU BULL @ 21450.25", EnigmaColour.BLUE, PATTERNS).power == power


def test_direction_from_colour_or_word_and_conflicts_are_refused():
    assert parse_reading("PWR 50", EnigmaColour.GREEN, PATTERNS).direction == "long"
    assert parse_reading("ENIGMA SELL PWR 50", EnigmaColour.NONE, PATTERNS).direction == "short"
    conflict = parse_reading("ENIGMA LONG PWR 50", EnigmaColour.RED, PATTERNS)
    assert conflict.problem == "the colour says short but the text says long"
    assert parse_reading("ENIGMA WAIT PWR 50", EnigmaColour.YELLOW, PATTERNS).problem.startswith("neutral")
    assert parse_reading("", EnigmaColour.NONE, PATTERNS).problem == "no Enigma on screen"
    assert parse_reading("PWR 50", EnigmaColour.NONE, PATTERNS).problem.startswith("no direction")


def test_out_of_range_values_are_dropped_not_guessed():
    r = parse_reading("ENIGMA LONG PWR 187 L7 @ 0", EnigmaColour.GREEN, PATTERNS)
    assert (r.power, r.confluence, r.price) == (None, None, None)


def reading(power: int = 80, colour: EnigmaColour = EnigmaColour.GREEN) -> EnigmaReading:
    return parse_reading(f"ENIGMA MNQ LONG PWR {power} L2 @ 21000.00", colour, PATTERNS)


def test_stability_needs_consecutive_equal_frames_and_sends_each_enigma_once():
    f = StabilityFilter(frames=2)
    blank = parse_reading("", EnigmaColour.NONE, PATTERNS)
    out = [f.feed(x) for x in (reading(80), reading(81), reading(80), reading(80), reading(80), reading(80))]
    assert [o is not None for o in out] == [False, False, False, True, False, False]
    assert f.feed(blank) is None and f.feed(reading(80)) is None  # a one-frame flicker does not re-arm
    assert f.feed(reading(80)) is None
    assert f.feed(blank) is None and f.feed(blank) is None  # a stable blank panel re-arms
    assert f.feed(reading(80)) is None and f.feed(reading(80)) is not None
    assert f.feed(reading(90)) is None and f.feed(reading(90)) is not None  # a different Enigma


def test_one_frame_filter_sends_at_once():
    f = StabilityFilter(frames=1)
    assert f.feed(reading()) is not None and f.feed(reading()) is None


def test_bad_patterns_are_refused_by_the_config():
    with pytest.raises(ValueError, match="needs a group"):
        OCRSection(patterns={"power": "PWR"})
    with pytest.raises(ValueError, match="unknown pattern"):
        OCRSection(patterns={"volume": "(x)"})
    with pytest.raises(ValueError, match="does not compile"):
        OCRSection(patterns={"power": "(unclosed"})
