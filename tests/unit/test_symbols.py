from datetime import date
from decimal import Decimal

import pytest

from enigma_apex.domain.instruments import INSTRUMENTS, instrument
from enigma_apex.domain.symbols import Contract, Notation, front_contract, parse_symbol, roll_date
from enigma_apex.errors import UnknownSymbolError

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    "text", ["MNQ 12-26", "MNQZ6", "MNQZ26", "MNQZ2026", "mnqz2026", " MNQ 12-26 ", "CME_MINI:MNQZ2026"]
)
def test_every_notation_of_the_december_2026_micro_nasdaq(text):
    assert parse_symbol(text, on=TODAY) == Contract("MNQ", 2026, 12)


def test_continuous_symbols_follow_the_roll_rule():
    assert parse_symbol("NQ1!", on=TODAY) == Contract("NQ", 2026, 12)
    assert parse_symbol("NQ2!", on=TODAY) == Contract("NQ", 2027, 3)
    assert parse_symbol("NQ", on=TODAY) == Contract("NQ", 2026, 12)


def test_equity_index_rolls_on_the_second_thursday_of_the_contract_month():
    assert roll_date(instrument("ES"), 2026, 12) == date(2026, 12, 10)
    assert parse_symbol("ES1!", on=date(2026, 12, 9)) == Contract("ES", 2026, 12)
    assert parse_symbol("ES1!", on=date(2026, 12, 10)) == Contract("ES", 2027, 3)


def test_crude_rolls_in_the_month_before_delivery():
    # CLZ26 rolls on 2026-11-12, so on the 23rd the front month is January 2027.
    assert parse_symbol("CL1!", on=TODAY) == Contract("CL", 2027, 1)
    assert parse_symbol("MCL1!", on=date(2026, 11, 11)) == Contract("MCL", 2026, 12)


def test_gold_rolls_before_first_notice():
    assert parse_symbol("GC1!", on=TODAY) == Contract("GC", 2026, 12)
    assert parse_symbol("GC1!", on=date(2026, 11, 25)) == Contract("GC", 2027, 2)


def test_one_digit_years_resolve_near_the_reference_date():
    assert parse_symbol("ESH7", on=TODAY) == Contract("ES", 2027, 3)
    assert parse_symbol("ESZ5", on=TODAY) == Contract("ES", 2025, 12)


def test_longest_root_wins():
    assert parse_symbol("SILH27", on=TODAY).root == "SIL"
    assert parse_symbol("SIH27", on=TODAY).root == "SI"
    assert parse_symbol("M2K1!", on=TODAY).root == "M2K"
    assert parse_symbol("6E 03-27", on=TODAY) == Contract("6E", 2027, 3)


def test_format_in_each_notation():
    c = Contract("NQ", 2026, 12)
    assert c.format(Notation.NINJATRADER) == "NQ 12-26"
    assert c.format(Notation.CME_SHORT) == "NQZ6"
    assert c.format(Notation.CME) == "NQZ26"
    assert c.format(Notation.CME_LONG) == "NQZ2026"


@pytest.mark.parametrize("text", ["XYZ1!", "FOOZ6", "", "MNQ", "MNQQ2026"])
def test_unknown_or_malformed_symbols_name_what_is_supported(text):
    if text == "MNQ":
        assert parse_symbol(text, on=TODAY).root == "MNQ"
        return
    with pytest.raises(UnknownSymbolError) as err:
        parse_symbol(text, on=TODAY)
    assert "MNQ" in str(err.value) or "empty" in str(err.value) or "no contract" in str(err.value)


def test_months_outside_the_cycle_are_refused():
    with pytest.raises(UnknownSymbolError, match="no contract in January"):
        parse_symbol("ESF27", on=TODAY)
    with pytest.raises(UnknownSymbolError, match="month 13"):
        parse_symbol("ES 13-26", on=TODAY)


def test_specs_hold_the_exchange_terms():
    assert instrument("ES").point_value == Decimal(50)
    assert instrument("MNQ").point_value == Decimal(2)
    assert instrument("ZN").point_value == Decimal(1000)
    assert instrument("ZB").point_value == Decimal(1000)
    assert instrument("SI").point_value == Decimal(5000)
    assert instrument("6E").point_value == Decimal(125000)
    assert instrument("MES").mini == "ES" and instrument("ES").micro == "MES"
    assert instrument("SIL").micro_ratio == 5
    required = {
        "ES",
        "MES",
        "NQ",
        "MNQ",
        "YM",
        "MYM",
        "RTY",
        "M2K",
        "CL",
        "MCL",
        "GC",
        "MGC",
        "SI",
        "SIL",
        "6E",
        "M6E",
        "ZN",
        "ZB",
    }
    assert required <= set(INSTRUMENTS)


def test_front_contract_offsets():
    spec = instrument("GC")
    assert [front_contract(spec, TODAY, i).month for i in range(3)] == [12, 2, 4]
