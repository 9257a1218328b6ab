"""The ruin price of an open position (pure): where the market would take the account to a line.

Given the dollars left before a line (the firm's threshold or daily loss limit: ruin; the guardian's flatten
buffer: its flatten) and a position of ``quantity`` contracts marked at ``mark``, the line is crossed when the
position has lost that room: at ``mark - room / (quantity x point value)`` for a long, ``+`` for a short. The
price is rounded to the tick on the near side (a tick early rather than late). The other positions of the account
are held at their marks: with several open, each price is the line for that position moving alone.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from enigma_apex.domain.values import ZERO


def ruin_price(mark: Decimal, quantity: int, point_value: Decimal, tick: Decimal, room: Decimal) -> Decimal | None:
    """None for a flat position; ``mark`` itself when no room is left."""
    if quantity == 0 or point_value <= 0 or tick <= 0:
        return None
    move = max(room, ZERO) / (abs(quantity) * point_value)
    if quantity > 0:
        return ((mark - move) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
    return ((mark + move) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


__all__ = ["ruin_price"]
