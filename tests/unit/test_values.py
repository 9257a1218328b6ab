from decimal import Decimal

import pytest

from enigma_apex.domain.values import Snap, is_on_tick, positive_price, round_cents, snap_to_tick, to_decimal
from enigma_apex.errors import InputError, PriceError


def test_floats_enter_through_their_shortest_repr():
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("4500.25") == Decimal("4500.25")
    assert to_decimal(3) == Decimal(3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "NaN", "Infinity", "abc", True, None, [1]])
def test_non_numbers_and_non_finite_values_are_refused(bad):
    with pytest.raises(InputError):
        to_decimal(bad, "price")


def test_error_names_the_field():
    with pytest.raises(InputError, match="stop"):
        to_decimal("x", "stop")


@pytest.mark.parametrize(
    ("price", "tick", "mode", "expected"),
    [
        ("4500.30", "0.25", Snap.NEAREST, "4500.25"),
        ("4500.40", "0.25", Snap.NEAREST, "4500.50"),
        ("4500.30", "0.25", Snap.UP, "4500.50"),
        ("4500.49", "0.25", Snap.DOWN, "4500.25"),
        ("110.01", "0.015625", Snap.NEAREST, "110.015625"),
        ("1.08437", "0.00005", Snap.NEAREST, "1.08435"),
    ],
)
def test_snap_to_tick(price, tick, mode, expected):
    assert snap_to_tick(Decimal(price), Decimal(tick), mode) == Decimal(expected)


def test_exact_snap_refuses_off_tick_prices():
    with pytest.raises(PriceError, match="tick"):
        snap_to_tick(Decimal("4500.30"), Decimal("0.25"), Snap.EXACT)


def test_positive_price_checks_sign_and_grid():
    assert positive_price("21000.50", Decimal("0.25")) == Decimal("21000.50")
    assert is_on_tick(Decimal("21000.75"), Decimal("0.25"))
    with pytest.raises(PriceError):
        positive_price("0", Decimal("0.25"))
    with pytest.raises(PriceError):
        positive_price("-5", Decimal("0.25"))
    with pytest.raises(PriceError):
        positive_price("21000.10", Decimal("0.25"))


def test_round_cents_half_even():
    assert round_cents(Decimal("1.005")) == Decimal("1.00")
    assert round_cents(Decimal("1.015")) == Decimal("1.02")
