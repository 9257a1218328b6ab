"""ATI lines against golden lines built from NinjaTrader's documented templates (integrations.md §2.1)."""

from datetime import date
from decimal import Decimal

import pytest

from enigma_apex.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution import ati

NQ = parse_symbol("NQ 12-25", on=date(2025, 11, 1))
D = Decimal


@pytest.mark.parametrize(
    ("line", "golden"),
    [
        (ati.place("Sim101", NQ, Side.BUY, 1, OrderType.MARKET, order="ENQ-0001"), "PLACE;Sim101;NQ 12-25;BUY;1;MARKET;;;DAY;;ENQ-0001;;"),
        (
            ati.place("Sim101", NQ, Side.BUY, 1, OrderType.LIMIT, limit_price=D("21000.25"), order="ENQ-0002"),
            "PLACE;Sim101;NQ 12-25;BUY;1;LIMIT;21000.25;;DAY;;ENQ-0002;;",
        ),
        (
            ati.place("Sim101", NQ, Side.SELL, 1, OrderType.STOP, stop_price=D("20980.00"), tif=TimeInForce.GTC,
                      oco="OCO-7", order="SL-0002"),
            "PLACE;Sim101;NQ 12-25;SELL;1;STOP;;20980;GTC;OCO-7;SL-0002;;",
        ),
        (
            ati.place("Sim101", NQ, Side.BUY, 1, OrderType.MARKET, strategy="MyATM", strategy_id="ATM-0003"),
            "PLACE;Sim101;NQ 12-25;BUY;1;MARKET;;;DAY;;;MyATM;ATM-0003",
        ),
        (ati.change("SL-0002", stop_price=D("20990.00")), "CHANGE;;;;0;;0;20990;;;SL-0002;;"),
        (ati.cancel("SL-0002"), "CANCEL;;;;;;;;;;SL-0002;;"),
        (ati.close_position("Sim101", NQ), "CLOSEPOSITION;Sim101;NQ 12-25;;;;;;;;;;"),
        (ati.flatten_everything(), "FLATTENEVERYTHING;;;;;;;;;;;;"),
    ],
)  # fmt: skip
def test_lines_match_the_documented_templates_with_12_semicolons(line, golden):
    assert line == golden
    assert line.count(";") == 12
    assert ati.parse_line(line).command == golden.split(";")[0]


def test_prices_never_use_an_exponent_or_a_comma():
    assert ati.price_text(D("1E+4")) == "10000"
    assert ati.price_text(D("1.08005")) == "1.08005"
    assert ati.price_text(D("21000.50")) == "21000.5"


def test_order_ids_are_file_name_safe_and_lead_back_to_the_key():
    oid = ati.order_id("sig:7f3a9c:APEX-1:stop")
    assert ":" not in oid and ati.key_of(oid) == "sig:7f3a9c:APEX-1:stop"
    assert ati.key_of("ENQ-0001") is None


def test_a_field_with_a_semicolon_is_refused():
    with pytest.raises(ValueError, match="may not contain"):
        ati.place("Sim;101", NQ, Side.BUY, 1, OrderType.MARKET)


@pytest.mark.parametrize(
    ("text", "status", "filled", "average"),
    [
        ("Filled;2;21000.25", OrderStatus.FILLED, 2, D("21000.25")),
        ("PartFilled;1;21000", OrderStatus.PARTIALLY_FILLED, 1, D("21000")),
        ("Partially filled;1;21000", OrderStatus.PARTIALLY_FILLED, 1, D("21000")),
        ("Trigger pending;0;0", OrderStatus.WORKING, 0, None),
        ("CANCELLED;0;0", OrderStatus.CANCELLED, 0, None),
        ("Rejected;0;0\r\n", OrderStatus.REJECTED, 0, None),
    ],
)
def test_order_state_files_are_read_without_regard_to_case_or_spaces(text, status, filled, average):
    assert ati.parse_order_state(text) == ati.OrderState(status, filled, average)


@pytest.mark.parametrize("text", ["Filled;2", "Exploded;0;0", "Filled;two;0"])
def test_bad_order_state_files_are_refused(text):
    with pytest.raises(ValueError, match="order state"):
        ati.parse_order_state(text)


def test_position_files_give_a_signed_quantity_for_the_account():
    parsed = ati.parse_position("ES 0914 Globex_Sim101_Position.txt", "SHORT;3;1985.25")
    assert parsed == ati.PositionFile("ES 09-14", "Sim101", -3, D("1985.25"))
    assert ati.parse_position("MNQ 12-26 Globex_APEX_1-2_Position.txt", "FLAT;0;0").quantity == 0
    assert ati.position_file_name(NQ, "Sim101") == "NQ 1225 Globex_Sim101_Position.txt"
