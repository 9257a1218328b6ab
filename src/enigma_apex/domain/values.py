"""Decimal value helpers for money, prices and quantities.

Money and prices are ``decimal.Decimal`` end to end. ``to_decimal`` is the one gate through which
outside numbers enter: it refuses floats' NaN/inf, booleans and non-numeric text, and converts floats
through their shortest ``repr`` so ``0.1`` becomes ``Decimal("0.1")`` and not its binary expansion.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import NewType

from enigma_apex.errors import InputError, PriceError

Money = NewType("Money", Decimal)
Price = NewType("Price", Decimal)
Quantity = NewType("Quantity", int)

ZERO = Decimal(0)
CENT = Decimal("0.01")


class Snap(Enum):
    """How to move a price onto the tick grid."""

    NEAREST = "nearest"  # round half to even tick
    DOWN = "down"  # toward minus infinity (e.g. a long's stop never ends up tighter than asked)
    UP = "up"  # toward plus infinity
    EXACT = "exact"  # refuse prices that are off the grid


def to_decimal(value: object, what: str = "value") -> Decimal:
    """Convert an outside number to a finite Decimal or raise ``InputError`` naming ``what``."""
    if isinstance(value, bool):
        raise InputError(f"{what}: expected a number, got a boolean", what)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise InputError(f"{what}: {value!r} is not a number", what) from None
    else:
        raise InputError(f"{what}: expected a number, got {type(value).__name__}", what)
    if not result.is_finite():
        raise InputError(f"{what}: {value!r} is not a finite number", what)
    return result


def money(value: object, what: str = "amount") -> Money:
    """A finite Decimal amount of US dollars (no rounding: fees can have sub-cent precision)."""
    return Money(to_decimal(value, what))


def round_cents(amount: Decimal) -> Money:
    """Round an amount to whole cents, half to even (for display and reports, never for rule maths)."""
    return Money(amount.quantize(CENT, rounding=ROUND_HALF_EVEN))


def snap_to_tick(price: Decimal, tick: Decimal, mode: Snap = Snap.NEAREST) -> Price:
    """Move ``price`` onto the grid of multiples of ``tick``.

    ``Snap.EXACT`` raises ``PriceError`` when the price is off the grid. The result keeps the tick's
    exponent when possible, so ``snap_to_tick(Decimal("4500.3"), Decimal("0.25"))`` is ``4500.25``.
    """
    if tick <= 0:
        raise ValueError("tick must be positive")
    if not price.is_finite():
        raise PriceError(f"price {price} is not finite")
    steps = price / tick
    if mode is Snap.EXACT:
        if steps != steps.to_integral_value():
            raise PriceError(f"price {price} is not a multiple of the tick {tick}")
        whole = steps.to_integral_value()
    elif mode is Snap.NEAREST:
        whole = steps.to_integral_value(rounding=ROUND_HALF_EVEN)
    elif mode is Snap.DOWN:
        whole = steps.to_integral_value(rounding=ROUND_FLOOR)
    else:
        whole = steps.to_integral_value(rounding=ROUND_CEILING)
    snapped = whole * tick
    exponent = tick.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < 0:
        snapped = snapped.quantize(Decimal(1).scaleb(exponent))
    return Price(snapped)


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    """True when ``price`` is an exact multiple of ``tick``."""
    steps = price / tick
    return steps == steps.to_integral_value()


def positive_price(value: object, tick: Decimal, what: str = "price") -> Price:
    """Parse an outside price: finite, strictly positive and exactly on the tick grid."""
    price = to_decimal(value, what)
    if price <= 0:
        raise PriceError(f"{what}: {price} is not a positive price", what)
    if not is_on_tick(price, tick):
        raise PriceError(f"{what}: {price} is not a multiple of the tick {tick}", what)
    return snap_to_tick(price, tick, Snap.EXACT)
