"""Calibrating the Enigma reader from a labelled screenshot's text (pure)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enigma_apex.config.models import _default_patterns
from enigma_apex.intake.algobox import EnigmaColour, compile_patterns, parse_reading
from enigma_apex.intake.calibration import LabelError, check, expected_values

DEFAULTS = _default_patterns()
GREEN = EnigmaColour.GREEN


def by_field(text, labels, patterns=DEFAULTS, colour=GREEN):
    return {c.field: c for c in check(text, colour, patterns, expected_values(labels))}


def test_fields_the_defaults_read_need_nothing():
    checks = by_field("ENIGMA MNQ LONG POWER 23 L3 MACVU BULL @ 21012.25",
                      {"power": "23", "confluence": "3", "macvu": "bull", "price": "21012.25", "direction": "long",
                       "symbol": "mnq"})  # fmt: skip
    assert all(c.ok and c.proposal is None for c in checks.values()), checks


def test_labels_the_defaults_do_not_know_get_patterns_that_read_this_panel_and_the_next():
    text = "ENIGMA NQ LONG Strength: 2O Conf=3 Trend UP Px 21012.5"
    checks = by_field(text, {"power": "20", "confluence": "3", "macvu": "up", "price": "21012.50"})
    assert {name: c.read for name, c in checks.items()} == dict.fromkeys(checks)  # the defaults read none of them
    proposed = {name: c.proposal for name, c in checks.items()}
    assert all(proposed.values()), checks
    patterns = compile_patterns({**DEFAULTS, **proposed})
    for panel, want in ((text, (20, 3, "up", "21012.5")), ("ENIGMA NQ SHORT STRENGTH 87 CONF 1 TREND DOWN PX 6012.75",
                                                          (87, 1, "down", "6012.75"))):  # fmt: skip
        reading = parse_reading(panel, GREEN if want[0] == 20 else EnigmaColour.RED, patterns)
        assert (reading.power, reading.confluence, reading.macvu, str(reading.price)) == want


def test_a_value_that_another_field_already_reads_is_not_taken_for_the_one_being_calibrated():
    checks = by_field("PWR 3 CONF 3", {"power": "3", "confluence": "3"})
    assert checks["power"].ok
    assert checks["confluence"].proposal is not None and "CONF" in checks["confluence"].note


def test_no_proposal_without_a_label_or_when_the_value_is_not_in_the_text():
    assert "not in the text" in by_field("ENIGMA LONG PWR 23", {"price": "21000"})["price"].note
    unlabelled = by_field("23 LONG", {"power": "23"})["power"]
    assert unlabelled.proposal is None and "no label" in unlabelled.note
    after_value = by_field("ENIGMA L3 42", {"power": "42"})["power"]
    assert after_value.proposal is None and "another value" in after_value.note


def test_direction_and_symbol_get_advice_not_patterns():
    checks = by_field("ENIGMA MNQ PWR 23", {"direction": "short", "symbol": "ES"})
    assert checks["direction"].proposal is None and "green (long)" in checks["direction"].note
    assert checks["symbol"].proposal is None and "ocr.symbol" in checks["symbol"].note


@pytest.mark.parametrize(
    ("labels", "word"),
    [({"power": "101"}, "0 to 100"), ({"confluence": "5"}, "1 to 4"), ({"price": "-3"}, "above zero"),
     ({"price": "NaN"}, "above zero"), ({"macvu": "sideways"}, "macvu"), ({"direction": "up"}, "long or short"),
     ({"colour": "green"}, "unknown field")],
)  # fmt: skip
def test_labels_that_no_panel_can_show_are_refused(labels, word):
    with pytest.raises(LabelError, match=word):
        expected_values(labels)


LABEL = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=8)


@given(label=LABEL, power=st.integers(0, 100), sep=st.sampled_from([" ", ": ", "=", ":", " = "]))
def test_any_word_label_in_front_of_the_power_gives_a_pattern_that_reads_it_back(label, power, sep):
    text = f"ENIGMA MNQ LONG {label}{sep}{power} L2 @ 21000.25"
    found = by_field(text, {"power": str(power)})["power"]
    if found.ok:  # the default pattern already reads it (a label such as PWR or PW)
        return
    assert found.proposal is not None, found
    assert re.compile(found.proposal).groups >= 1
    reading = parse_reading(text, GREEN, compile_patterns({**DEFAULTS, "power": found.proposal}))
    assert reading.power == power
